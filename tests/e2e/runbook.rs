//! The signed runbook (the lock's checklist) and what people read (the change report, the
//! terminal): values that come from charts, hop manifests and cluster dumps are data,
//! never shell syntax, HTML or terminal escapes. Issue 21, items 1 and 6.

use std::path::Path;

use crate::common::charts::chart_tgz;
use crate::common::images::sha256_hex;
use crate::common::scenario::{Scenario, assert_fails};
use crate::common::tree;
use crate::common::upstream::{Opts, Upstream};

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

/// What an attacker puts where a name goes: inline HTML a Markdown viewer would run, a
/// terminal title change, a screen clear, a table break.
const HOSTILE: &str = "<img src=x onerror=alert(1)>\u{1b}]0;pwned\u{7}\u{1b}[2J|`x`";

/// Safe on a terminal: no control character but the line feed (C1 included).
fn assert_no_controls(what: &str, text: &str) {
    let bad: Vec<char> = text
        .chars()
        .filter(|c| c.is_control() && *c != '\n')
        .collect();
    assert!(bad.is_empty(), "{what} holds control characters {bad:?}");
}

/// Safe on a terminal and in a Markdown viewer: no raw HTML tag from the inputs either.
fn assert_inert(what: &str, text: &str) {
    assert_no_controls(what, text);
    for tag in ["<img", "<script"] {
        assert!(!text.contains(tag), "{what} holds raw {tag}");
    }
}

/// Dumps of a cluster whose node, object and CVE text are hostile (as `kubectl -o json`
/// prints them), and the lock facts that make the report name them.
fn hostile_inputs(s: &Scenario) -> (std::path::PathBuf, std::path::PathBuf) {
    let mut lock = std::fs::read_to_string(&s.lock).unwrap();
    lock.push_str(
        "facts:\n  removed_apis:\n    - group_version: batch/v1beta1\n      kinds: [CronJob]\n      replacement: batch/v1\n      removed_in: \"1.25\"\n  kubelet_max_minors_older: 3\n  kube_proxy_max_minors_older: 3\n",
    );
    std::fs::write(&s.lock, lock).unwrap();
    let dumps = s.path("dumps");
    std::fs::create_dir_all(&dumps).unwrap();
    let node = |name: &str, v: &str| {
        serde_json::json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
            "status": {"nodeInfo": {"kubeletVersion": v, "kubeProxyVersion": v}}})
    };
    let files = [
        (
            "nodes",
            serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [
            node("cp-1", "v1.29.6"), node(&format!("old{HOSTILE}"), "v1.25.3")]}),
        ),
        (
            "resources",
            serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "batch/v1beta1", "kind": "CronJob",
             "metadata": {"name": format!("job{HOSTILE}"), "namespace": "shop"}}]}),
        ),
        (
            "version",
            serde_json::json!({"serverVersion": {"gitVersion": "v1.29.6"}}),
        ),
    ];
    for (name, v) in files {
        std::fs::write(dumps.join(format!("{name}.json")), v.to_string()).unwrap();
    }
    let feed = s.path("cve.json");
    let cve = serde_json::json!({"version": "https://jsonfeed.org/version/1.1", "items": [
        {"id": "CVE-2026-1001", "summary": format!("kubelet {HOSTILE}"),
         "content_text": format!("#### Fixed Versions\n- kubelet v1.30.1 {HOSTILE}\n")}]});
    std::fs::write(&feed, cve.to_string()).unwrap();
    (dumps, feed)
}

/// Issue 21 item 6: node names, object names and CVE feed text reach `change-report.md`
/// as text: HTML as entities (a viewer that renders inline HTML shows the tag), control
/// characters as `\u{..}` (so `cat change-report.md` runs no terminal escape), table
/// cells unbroken. The report's own output to the terminal is as clean.
#[test]
fn hostile_names_reach_the_markdown_report_as_text() {
    let s = Scenario::new();
    let (dumps, feed) = hostile_inputs(&s);
    let bundle = s.build("bundle", &[]);
    let out_dir = s.path("report");
    let out = s.report(&bundle, &dumps, &feed, &out_dir).ok();
    assert_no_controls("report stdout", &out.stdout());
    assert_no_controls("report stderr", &out.stderr());
    let md = std::fs::read_to_string(out_dir.join("change-report.md")).unwrap();
    assert_inert("change-report.md", &md);
    let shown = "&lt;img src=x onerror=alert(1)&gt;\\u{1b}\\]0;pwned\\u{7}\\u{1b}\\[2J\\|\\`x\\`";
    for (what, name) in [
        ("node", format!("old{shown}")),
        ("object", format!("job{shown}")),
        ("CVE summary", format!("kubelet {shown}")),
    ] {
        assert!(md.contains(&name), "the {what} is not shown escaped:\n{md}");
    }
    // Every table row still has its cells: the pipes in the names are escaped.
    for line in md
        .lines()
        .filter(|l| l.contains("pwned") && l.starts_with('|'))
    {
        let cells = line.replace("\\|", "").matches('|').count();
        assert!(cells >= 3, "a broken row: {line}");
    }
}

/// Issue 21 item 6: a chart's values.yaml key is untrusted; resolve's warning that quotes
/// it reaches the terminal escaped.
#[test]
fn resolve_warnings_quote_chart_values_escaped() {
    let u = Upstream::new(Opts::default());
    let values = format!(
        "{}:\n  image:\n    repository: example/app\n",
        serde_json::to_string(HOSTILE).unwrap()
    );
    let chart = chart_tgz(
        "app",
        &[
            ("Chart.yaml", b"apiVersion: v2\nname: app\nversion: 0.1.0\n"),
            ("values.yaml", values.as_bytes()),
        ],
    );
    let hop = hop_with_chart(&u.path("addons"), &chart);
    let out = u.resolve(&["--with", hop.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("values.yaml"),
        "no warning names the entry: {stderr}"
    );
    assert!(stderr.contains("\\u{1b}]0;pwned"), "{stderr}");
    assert_no_controls("resolve stderr", &stderr);
    assert_no_controls("resolve stdout", &String::from_utf8_lossy(&out.stdout));
}
