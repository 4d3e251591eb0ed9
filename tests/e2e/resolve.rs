//! `airlock resolve` and `airlock plan` against a real registry seeded under the real
//! repository names (kube-apiserver, ..., coredns/coredns, pause) and a file server laid out
//! like dl.k8s.io and the GitHub release pages, reached through `--mirror`. A tiny catalog
//! (`--catalog`) keeps the number of artifacts small.

use crate::common::check::assert_contains;
use crate::common::cli::{self, Cli, ok};
use crate::common::images::{sha256_hex, write_file_tree};
use crate::common::scenario::assert_fails;
use crate::common::servers::Registry;
use crate::common::upstream::{CP, Opts, Upstream, lock_images};
use crate::common::{each, read_json};
use std::collections::BTreeMap;

#[test]
fn resolves_a_correct_hop_with_backout() {
    let u = Upstream::new(Opts::default());
    let out = u.resolve(&[]);
    ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_contains(
        &stderr,
        "v1.29.6 is not the newest patch of 1.29 (v1.29.15 is)",
    );
    assert!(stderr.contains("uncertain"), "{stderr}");

    let lock = u.lock();
    assert_eq!(lock["hop"]["from"], "v1.29.6");
    assert_eq!(lock["hop"]["to"], "v1.30.2");
    let images = lock_images(&lock);
    // (image, role) as upstream has it.
    let entry = |r: &str, role: &str| {
        (
            format!("registry.k8s.io/{r}"),
            (u.digest(r), role.to_string()),
        )
    };
    let mut expected = BTreeMap::new();
    for n in CP {
        let (to, from) = (format!("{n}:v1.30.2"), format!("{n}:v1.29.6"));
        expected.extend([entry(&to, "target"), entry(&from, "backout")]);
    }
    expected.extend([
        entry("etcd:3.5.15-0", "target"),
        entry("etcd:3.5.12-0", "backout"),
    ]);
    // Same name in from and to: listed once, as target.
    expected.extend([
        entry("coredns/coredns:v1.11.1", "target"),
        entry("pause:3.9", "target"),
    ]);
    assert_eq!(images, expected);

    // Every binary and tool, with the upstream sha256 and the documented target.
    let (urls, shas) = (each(&lock["files"], "url"), each(&lock["files"], "sha256"));
    let targets = each(&lock["files"], "target");
    let files: BTreeMap<&str, (&str, &str)> = urls
        .into_iter()
        .zip(shas.into_iter().zip(targets))
        .collect();
    assert_eq!(files.len(), 10, "{files:#?}");
    for (url, (sha, target)) in &files {
        assert_eq!(u.sums[*url], *sha, "{url}");
        assert!(
            url.contains("amd64"),
            "{url}: only linux/amd64 was asked for"
        );
        assert!(
            target.starts_with("bin/v1.30.2/linux/amd64/")
                || target.starts_with("bin/v1.29.6/linux/amd64/")
                || target.starts_with("tools/"),
            "{target}"
        );
    }
    assert_eq!(
        files["https://github.com/containernetworking/plugins/releases/download/v1.4.0/cni-plugins-linux-amd64-v1.4.0.tgz"].1,
        "tools/cni-plugins/v1.4.0/linux/amd64/cni-plugins-linux-amd64-v1.4.0.tgz"
    );
    assert_eq!(
        files["https://dl.k8s.io/release/v1.29.6/bin/linux/amd64/kubelet"].1,
        "bin/v1.29.6/linux/amd64/kubelet"
    );

    // The checklist: ordered steps with stable ids.
    let ids = each(&lock["checklist"], "id");
    for id in [
        "pre.version",
        "pre.snapshot",
        "cp1.apply",
        "cp.upgrade",
        "workers.drain",
    ]
    .into_iter()
    .chain([
        "cni.plugins",
        "post.versions",
        "backout.etcd-restore",
        "backout.binaries",
    ]) {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
    let removed = crate::common::find(&lock["checklist"], "id", "pre.removed-apis");
    assert_contains(
        removed["title"].as_str().unwrap(),
        "flowcontrol.apiserver.k8s.io/v1beta2",
    );
    assert!(lock["notes"].to_string().contains("back-out set included"));

    // No overwrite without --force; with --force the same lock again.
    let before = std::fs::read(u.path("hop.lock")).unwrap();
    let out = u.resolve(&[]);
    assert_fails(&out, 4, "already exists");
    ok(&u.resolve(&["--force"]));
    let after = std::fs::read(u.path("hop.lock")).unwrap();
    assert_eq!(after, before, "resolve is deterministic");
}

#[test]
fn refuses_skipped_minor_and_backward_hops_with_the_plan_command() {
    let work = crate::common::workdir();
    let run = |from: &str, to: &str| {
        let args = ["resolve", "--from", from, "--to", to, "--out", "hop.lock"];
        Cli::airlock().dir(work.path()).args(args).run()
    };
    let out = run("v1.27.16", "v1.30.2");
    assert_fails(&out, 4, "skips minor 1.28, 1.29");
    assert_fails(&out, 4, "airlock plan --from v1.27.16 --to v1.30.2");
    let out = run("v1.30.2", "v1.29.6");
    assert_fails(&out, 4, "kubeadm does not downgrade");
    assert_fails(&out, 4, "airlock plan --from v1.29.6 --to v1.30.2");
    assert_fails(&run("v1.30.99", "v1.31.0"), 4, "--catalog");
    assert_fails(&run("v1.30", "v1.31.0"), 2, "v1.MINOR.PATCH");
    assert!(
        !work.path().join("hop.lock").exists(),
        "no lock may be written"
    );
}

#[test]
fn a_tag_missing_upstream_names_the_image_and_writes_nothing() {
    let u = Upstream::new(Opts {
        skip: vec!["kube-scheduler:v1.30.2"],
        ..Default::default()
    });
    let out = u.resolve(&[]);
    assert_fails(&out, 1, "registry.k8s.io/kube-scheduler:v1.30.2");
    assert!(!u.path("hop.lock").exists(), "no half-written lock");
    assert!(
        std::fs::read_dir(u.work.path()).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".tmp")),
        "no temporary file left"
    );
}

#[test]
fn missing_or_malformed_checksum_files_fail_clearly() {
    let u = Upstream::new(Opts::default());
    let sum = u
        .www
        .join("dl/release/v1.30.2/bin/linux/amd64/kubectl.sha256");
    std::fs::remove_file(&sum).unwrap();
    let out = u.resolve(&[]);
    assert_fails(
        &out,
        1,
        "https://dl.k8s.io/release/v1.30.2/bin/linux/amd64/kubectl.sha256",
    );
    assert_fails(&out, 1, "404");
    std::fs::write(&sum, "not a checksum\n").unwrap();
    assert_fails(&u.resolve(&[]), 1, "malformed checksum file");
    assert!(!u.path("hop.lock").exists());
}

#[test]
fn a_checksum_mismatch_fails_the_build_naming_the_url() {
    let u = Upstream::new(Opts::default());
    ok(&u.resolve(&["--no-backout"]));
    // Upstream content changes after the checksum was published.
    std::fs::write(
        u.www.join("dl/release/v1.30.2/bin/linux/amd64/kubelet"),
        b"tampered",
    )
    .unwrap();
    let (_key, out) = u.keygen_and_build();
    assert_fails(
        &out,
        5,
        "https://dl.k8s.io/release/v1.30.2/bin/linux/amd64/kubelet",
    );
    assert_fails(&out, 5, "sha256 mismatch");
}

#[test]
fn an_index_without_a_requested_platform_is_refused() {
    let u = Upstream::new(Opts {
        amd64_only: vec!["etcd:3.5.15-0"],
        ..Default::default()
    });
    let out = u.resolve(&["--platform", "linux/amd64,linux/arm64"]);
    assert_fails(&out, 1, "registry.k8s.io/etcd:3.5.15-0");
    assert_fails(&out, 1, "no linux/arm64 manifest");
    assert!(!u.path("hop.lock").exists());
    // With amd64 only it resolves; mirrors and insecure hosts from a config file this time.
    let h = u.registry.host();
    let f = u.files.url();
    let config = u.path("airlock.yaml");
    std::fs::write(
        &config,
        format!("mirrors:\n  registry.k8s.io: \"{h}\"\n  https://dl.k8s.io: {f}/dl\n  https://github.com: {f}/gh\ninsecure_registries: [\"{h}\"]\n"),
    )
    .unwrap();
    let args: Vec<String> = [
        "resolve",
        "--from",
        "v1.29.6",
        "--to",
        "v1.30.2",
        "--out",
        "hop.lock",
        "--platform",
        "linux/amd64",
        "--no-provenance",
        "--catalog",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([
        u.catalog.display().to_string(),
        "--config".into(),
        config.display().to_string(),
    ])
    .collect();
    ok(&u.airlock(&args).output().unwrap());
    assert!(u.lock()["files"].to_string().contains("amd64"));
}

#[test]
fn a_hop_manifest_adds_images_files_documents_and_charts() {
    let u = Upstream::new(Opts {
        extra: vec!["calico/node:v3.28.1"],
        ..Default::default()
    });
    let calico = b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: calico}\n";
    write_file_tree(&u.www, &[("raw/calico/v3.28.1/calico.yaml", calico)]);
    let dir = u.path("addons");
    std::fs::create_dir_all(dir.join("charts")).unwrap();
    let chart = crate::common::charts::chart_tgz(
        "csi",
        &[("Chart.yaml", b"apiVersion: v2\nname: csi\nversion: 0.1.0\n")],
    );
    std::fs::write(dir.join("charts/csi-0.1.0.tgz"), &chart).unwrap();
    std::fs::write(
        dir.join("storageclass.yaml"),
        b"apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: nfs}\nprovisioner: nfs.csi.k8s.io\n",
    )
    .unwrap();
    let manifest = format!(
        r#"format: 1
kind: airlock-hop-manifest
name: test-addons
images:
  - name: docker.io/calico/node:v3.28.1
files:
  - url: https://raw.example.com/calico/v3.28.1/calico.yaml
    sha256: {calico_sha}
    kind: manifest
    target: addons/calico/calico.yaml
documents:
  - path: storageclass.yaml
charts:
  - path: charts/csi-0.1.0.tgz
    sha256: {chart_sha}
"#,
        calico_sha = sha256_hex(calico),
        chart_sha = sha256_hex(&chart),
    );
    let mpath = dir.join("hop.yaml");
    std::fs::write(&mpath, &manifest).unwrap();
    ok(&u.resolve(&["--with", mpath.to_str().unwrap()]));
    let lock = u.lock();
    let images = lock_images(&lock);
    assert_eq!(
        images["docker.io/calico/node:v3.28.1"],
        (u.digest("calico/node:v3.28.1"), "addon".to_string())
    );
    let files = lock["files"].as_array().unwrap();
    let by_target = |t: &str| {
        files
            .iter()
            .find(|f| f["target"] == t)
            .unwrap_or_else(|| panic!("{t} missing"))
    };
    assert_eq!(
        by_target("addons/calico/calico.yaml")["url"],
        "https://raw.example.com/calico/v3.28.1/calico.yaml"
    );
    let c = by_target("charts/csi-0.1.0.tgz");
    assert_eq!(c["sha256"], sha256_hex(&chart));
    assert_eq!(
        c["path"], "addons/charts/csi-0.1.0.tgz",
        "paths are relative to the lock's directory"
    );
    assert_eq!(c["kind"], "chart");
    assert_eq!(by_target("manifests/storageclass.yaml")["kind"], "manifest");
    let cni = crate::common::find(&lock["checklist"], "id", "cni.upgrade");
    assert!(
        cni["commands"]
            .to_string()
            .contains("addons/calico/calico.yaml"),
        "{cni}"
    );

    // A local file that does not match its pinned sha256 is refused.
    std::fs::write(dir.join("charts/csi-0.1.0.tgz"), b"changed").unwrap();
    let out = u.resolve(&["--with", mpath.to_str().unwrap(), "--force"]);
    assert_fails(&out, 5, "csi-0.1.0.tgz");
    // A malformed hop manifest names the file.
    std::fs::write(
        &mpath,
        "format: 1\nkind: airlock-hop-manifest\nimages: [{name: x, oops: 1}]\n",
    )
    .unwrap();
    assert_fails(
        &u.resolve(&["--with", mpath.to_str().unwrap(), "--force"]),
        4,
        "hop.yaml",
    );
}

#[test]
fn plans_three_hops_through_the_newest_patches() {
    let v = Cli::airlock()
        .args(["plan", "--from", "v1.27.16", "--to", "v1.30.2", "--json"])
        .ok()
        .json();
    let hops: Vec<(String, String)> = v["hops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["from"].as_str().unwrap().into(),
                h["to"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        hops,
        [
            ("v1.27.16", "v1.28.15"),
            ("v1.28.15", "v1.29.15"),
            ("v1.29.15", "v1.30.2")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    let text = Cli::airlock()
        .args(["plan", "--from", "v1.29.6", "--to", "v1.30.2"])
        .ok()
        .stdout();
    assert!(text.contains("1. v1.29.6 -> v1.29.15 (patch)"), "{text}");
    assert!(text.contains("2. v1.29.15 -> v1.30.2 (minor)"), "{text}");
}

#[test]
fn resolve_build_install_end_to_end() {
    let u = Upstream::new(Opts::default());
    ok(&u.resolve(&[]));
    let (key, out) = u.keygen_and_build();
    ok(&out);
    // The change report in the bundle carries the resolved runbook and back-out plan, in
    // the air-gap form: images pre-pulled from the enclave registry, etcd tools run from
    // the etcd image.
    let report = crate::common::read_json(&u.path("bundle/report/change-report.json"));
    let ids = |k: &str| -> Vec<String> {
        report[k]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|s| s["id"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert!(ids("runbook").contains(&"cp1.apply".to_string()));
    assert!(ids("runbook").contains(&"pre.images".to_string()));
    assert!(ids("validation").contains(&"post.etcd".to_string()));
    let backout: Vec<String> = report["backout"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    assert!(backout.contains(&"backout.etcd-restore".to_string()));
    let text = report.to_string();
    assert!(
        text.contains("AIRLOCK_REGISTRY") && text.contains("crictl exec"),
        "{text}"
    );
    assert!(!text.contains("\\\"etcdutl snapshot restore"));

    let enclave = Registry::start();
    let dest = u.path("dest");
    u.install(&key, &enclave, &dest).ok().json();
    let installed =
        |rel: &str| std::fs::read(dest.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    assert_eq!(
        sha256_hex(&installed("bin/v1.30.2/linux/amd64/kubeadm")),
        u.sums["https://dl.k8s.io/release/v1.30.2/bin/linux/amd64/kubeadm"]
    );
    assert_eq!(
        sha256_hex(&installed("bin/v1.29.6/linux/amd64/kubelet")),
        u.sums["https://dl.k8s.io/release/v1.29.6/bin/linux/amd64/kubelet"]
    );
    installed("tools/crictl/v1.30.0/linux/amd64/crictl-v1.30.0-linux-amd64.tar.gz");
    // Images are in the enclave registry under their repository names, tags kept.
    let resp = enclave.get("/v2/kube-apiserver/tags/list");
    assert_eq!(resp.status, 200);
    let tags = resp.text();
    assert!(
        tags.contains("v1.30.2") && tags.contains("v1.29.6"),
        "{tags}"
    );
}

#[test]
fn plan_build_resolves_and_builds_each_hop_in_order() {
    let u = Upstream::new(Opts::default());
    // With v1.29.6 as the newest 1.29 patch, v1.29.6 -> v1.30.2 is one minor hop.
    let catalog = u.catalog_129_6();
    let key = u.keygen("plan");
    let out_dir = u.path("hops");
    let plan = u.plan_build(("v1.29.6", "v1.30.2"), &key, &out_dir, &catalog);
    plan.args(u.net_args()).ok();
    let bundle = out_dir.join("airlock-v1.29.6-to-v1.30.2");
    assert!(out_dir.join("airlock-v1.29.6-to-v1.30.2.lock").is_file());
    let v = Cli::verify()
        .arg("verify")
        .arg(&bundle)
        .args(["--trust", &cli::pub_of(&key), "--json"])
        .ok()
        .json();
    assert_eq!(v["verified"], true);
    assert_eq!(v["hop"]["to"], "v1.30.2");
    // The bundle carries the resolved images: the target apiserver among them.
    let manifest = read_json(&bundle.join("manifest.json"));
    let names = each(&manifest["images"], "name");
    assert!(
        names.contains(&"registry.k8s.io/kube-apiserver:v1.30.2"),
        "{names:?}"
    );
}

#[test]
fn plan_one_bundle_carries_every_hop_once_with_a_stop_between() {
    let u = Upstream::new(Opts {
        versions: vec!["v1.29.3"],
        ..Opts::default()
    });
    // v1.29.3 -> v1.29.6 (patch) -> v1.30.2 (minor) with v1.29.6 the newest 1.29 patch.
    let catalog = u.catalog_129_6();
    let key = u.keygen("plan");
    let plan = |out_dir: &str, extra: &[&str]| {
        let hop = ("v1.29.3", "v1.30.2");
        let cmd = u.plan_build(hop, &key, &u.path(out_dir), &catalog);
        cmd.args(extra).args(u.net_args()).ok().json()
    };
    let separate = plan("hops", &[]);
    let one = plan("one", &["--one-bundle"]);
    let payload = |b: &serde_json::Value| b["payload_size"].as_u64().unwrap();
    let sum: u64 = separate["hops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| payload(&h["bundle"]))
        .sum();
    let catchup = payload(&one["one_bundle"]["bundle"]);
    // BENCHMARKS.md quotes these figures.
    eprintln!("catch-up payload {catchup} bytes; separate hop payloads {sum} bytes");
    assert!(
        catchup < sum,
        "catch-up {catchup} bytes is not below the hops' {sum}"
    );
    let bundle = u.path("one/airlock-v1.29.3-to-v1.30.2");
    assert!(!u.path("one/airlock-v1.29.3-to-v1.29.6").exists());
    let v = Cli::verify()
        .arg("verify")
        .arg(&bundle)
        .args(["--trust", &cli::pub_of(&key), "--json"])
        .ok()
        .json();
    assert_eq!(v["hop"]["from"], "v1.29.3");
    assert_eq!(v["hop"]["to"], "v1.30.2");
    let manifest = read_json(&bundle.join("manifest.json"));
    let ids = each(&manifest["checklist"], "id");
    let stop = ids
        .iter()
        .position(|i| *i == "hop1.post.stop-and-verify")
        .expect("a stop between the hops");
    assert!(
        ids[..stop].iter().all(|i| i.starts_with("hop1.")),
        "{ids:?}"
    );
    assert!(
        ids[stop + 1..].iter().all(|i| i.starts_with("hop2.")),
        "{ids:?}"
    );
    assert!(ids.len() > stop + 1);
    // Each blob once: the same pause and coredns of both hops are one entry each.
    let entries = each(&manifest["entries"], "path");
    let unique: std::collections::BTreeSet<_> = entries.iter().collect();
    assert_eq!(unique.len(), entries.len());
    let names = each(&manifest["images"], "name");
    for want in [
        "registry.k8s.io/kube-apiserver:v1.29.6",
        "registry.k8s.io/kube-apiserver:v1.30.2",
    ] {
        assert!(names.contains(&want), "{names:?}");
    }
}
