//! The signed runbook (the lock's checklist) and what people read (the change report, the
//! terminal): values that come from charts, hop manifests and cluster dumps are data,
//! never shell syntax, HTML or terminal escapes. Issue 21, items 1 and 6.

use std::path::Path;

use crate::common::charts::chart_tgz;
use crate::common::images::sha256_hex;
use crate::common::scenario::assert_fails;
use crate::common::tree;
use crate::resolve::{Opts, Upstream};

/// A hop manifest that carries one chart archive from a local file, pinned by sha256.
fn hop_with_chart(dir: &Path, chart: &[u8]) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.join("charts")).unwrap();
    std::fs::write(dir.join("charts/chart.tgz"), chart).unwrap();
    let manifest = format!(
        "format: 1\nkind: airlock-hop-manifest\nname: cni\ncharts:\n  - path: charts/chart.tgz\n    sha256: {}\n",
        sha256_hex(chart)
    );
    let path = dir.join("hop.yaml");
    std::fs::write(&path, manifest).unwrap();
    path
}

/// Issue 21 item 1: a chart named `evil;touch${IFS}pwned;#`, pinned by sha256, used to go
/// into step `cni.upgrade` as `helm upgrade --install evil;touch${IFS}pwned;# ...`. Resolve
/// now refuses the name by Helm's own rule (exit 4), names the chart and the rule, and
/// writes no lock; nothing appears in the working tree.
#[test]
fn a_chart_named_like_a_shell_command_is_refused_at_resolve() {
    let u = Upstream::new(Opts::default());
    let name = "evil;touch${IFS}pwned;#";
    let chart_yaml = format!("apiVersion: v2\nname: '{name}'\nversion: 0.1.0\n");
    let chart = chart_tgz(name, &[("Chart.yaml", chart_yaml.as_bytes())]);
    let hop = hop_with_chart(&u.path("addons"), &chart);
    let before = tree(u.work.path());

    let out = u.resolve(&["--with", hop.to_str().unwrap()]);
    assert_fails(&out, 4, "is not a valid Helm chart name");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(name), "the name is shown: {stderr}");
    assert!(
        stderr.contains("A-Z a-z 0-9 . _ -"),
        "the rule is named: {stderr}"
    );
    assert!(!u.path("hop.lock").exists(), "no lock is written");
    let after = tree(u.work.path());
    let added: Vec<_> = after.keys().filter(|k| !before.contains_key(*k)).collect();
    assert!(
        added.iter().all(|k| k.starts_with("cache")),
        "resolve wrote outside its cache: {added:?}"
    );
    assert!(!after.keys().any(|k| k.contains("pwned")));
}
