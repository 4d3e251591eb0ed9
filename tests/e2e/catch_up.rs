//! Catch-up bundles whose workers skip minors (issue 26): `airlock plan --workers skip
//! --build --one-bundle` on the test upstream against the conservative catch-up bundle.

use std::collections::BTreeMap;

use crate::common::cli::{self, Cli};
use crate::common::cluster_dump::write_list;
use crate::common::evidence::{assert_valid, yaml_as_json};
use crate::common::servers::Registry;
use crate::common::upstream::{Opts, Upstream};
use crate::common::{each, read_json};

/// The test catalog with kubeadm's kubelet skew stated (not uncertain) for both minors.
fn catalog_with_kubeadm_facts(u: &Upstream) -> std::path::PathBuf {
    let text = std::fs::read_to_string(u.catalog_129_6()).expect("read test catalog");
    let facts = "    kubeadm: { kubelet_max_minors_older: 3, kubelet_too_old_is: skippable, upgrade_node_checks_version: false, node_kubeadm_max_minors_newer: 1, source: [t] }\n";
    let mut out = String::new();
    for line in text.lines() {
        out.push_str(line);
        out.push('\n');
        if line.starts_with("  - minor: \"1.") {
            out.push_str(facts);
        }
    }
    let path = u.path("catalog-skew.yaml");
    std::fs::write(&path, out).expect("write catalog");
    path
}

/// target -> size of the files a bundle manifest lists.
fn files_of(bundle: &std::path::Path) -> BTreeMap<String, u64> {
    let m = read_json(&bundle.join("manifest.json"));
    m["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["target"].as_str().unwrap().to_string(),
                f["size"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn skipping_workers_leaves_out_their_skipped_versions_and_orders_the_phases() {
    let u = Upstream::new(Opts {
        versions: vec!["v1.29.3"],
        ..Opts::default()
    });
    let catalog = catalog_with_kubeadm_facts(&u);
    let key = u.keygen("plan");
    let hop = ("v1.29.3", "v1.30.2");
    let platforms = ["--platform", "linux/amd64,linux/arm64"];
    // Control plane amd64, workers amd64 and arm64: the conservative bundle carries both
    // architectures for every version.
    let started = std::time::Instant::now();
    let every = u
        .plan_build(hop, &key, &u.path("every"), &catalog)
        .args(["--one-bundle", "--arch", "amd64,arm64"])
        .args(platforms)
        .args(u.net_args())
        .ok()
        .json();
    let every_secs = started.elapsed().as_secs_f64();
    let started = std::time::Instant::now();
    let skip = u
        .plan_build(hop, &key, &u.path("skip"), &catalog)
        .args(["--one-bundle", "--workers", "skip", "--arch", "amd64"])
        .args(["--worker-arch", "arm64"])
        .args(platforms)
        .args(u.net_args())
        .ok()
        .json();
    let skip_secs = started.elapsed().as_secs_f64();
    assert_eq!(skip["drains"]["per_worker"], 1);
    assert_eq!(skip["drains"]["per_worker_every_minor"], 2);
    let name = "airlock-v1.29.3-to-v1.30.2";
    let (every_dir, skip_dir) = (u.path("every").join(name), u.path("skip").join(name));
    let (every_files, skip_files) = (files_of(&every_dir), files_of(&skip_dir));
    // What is left out: exactly the arm64 binaries of the versions workers skip (v1.29.6)
    // or only leave (v1.29.3, whose back-out comes from the bundle that brought it).
    let left_out: BTreeMap<&String, &u64> = every_files
        .iter()
        .filter(|(t, _)| !skip_files.contains_key(*t))
        .collect();
    let mut want: Vec<String> = Vec::new();
    for v in ["v1.29.3", "v1.29.6"] {
        for b in ["kubeadm", "kubectl", "kubelet"] {
            want.push(format!("bin/{v}/linux/arm64/{b}"));
        }
    }
    let got: Vec<String> = left_out.keys().map(|t| t.to_string()).collect();
    assert_eq!(got, want);
    assert!(skip_files.keys().all(|t| every_files.contains_key(t)));
    assert!(skip_files.contains_key("bin/v1.30.2/linux/arm64/kubelet"));
    assert!(skip_files.contains_key("bin/v1.29.6/linux/amd64/kubelet"));
    let payload =
        |b: &serde_json::Value| b["one_bundle"]["bundle"]["payload_size"].as_u64().unwrap();
    let (every_size, skip_size) = (payload(&every), payload(&skip));
    let left_bytes: u64 = left_out.values().copied().sum();
    // BENCHMARKS.md quotes these figures.
    eprintln!(
        "catch-up v1.29.3 -> v1.30.2: every-minor {every_size} bytes in {every_secs:.1} s; \
         workers skip {skip_size} bytes in {skip_secs:.1} s; left out {} files, {left_bytes} bytes",
        left_out.len()
    );
    // Random file bytes do not compress; each left-out file also takes its tar header.
    let saved = every_size - skip_size;
    assert!(
        saved >= left_bytes && saved <= left_bytes + 16 * 1024,
        "saved {saved} bytes, left out {left_bytes}"
    );

    // Every node of both architectures (no --worker-arch): control-plane nodes need every
    // version's binaries, so the skipping bundle carries the same files; it saves drains.
    let same = u
        .plan_build(hop, &key, &u.path("same"), &catalog)
        .args(["--one-bundle", "--workers", "skip", "--arch", "amd64,arm64"])
        .args(platforms)
        .args(u.net_args())
        .ok()
        .json();
    assert_eq!(files_of(&u.path("same").join(name)), every_files);
    eprintln!(
        "one architecture for all nodes: workers skip {} bytes",
        payload(&same)
    );

    // The signed manifest carries the schedule; the runbook goes phase by phase.
    let manifest = read_json(&skip_dir.join("manifest.json"));
    let phases = manifest["schedule"]["phases"].as_array().unwrap();
    assert_eq!(phases.len(), 2);
    assert!(phases[0].get("workers").is_none());
    assert_eq!(phases[1]["workers"], "v1.30.2");
    let ids = each(&manifest["checklist"], "id");
    let pos = |id: &str| {
        ids.iter()
            .position(|i| *i == id)
            .unwrap_or_else(|| panic!("{id}: {ids:?}"))
    };
    assert!(pos("phase1.pre.schedule-skew") < pos("phase1.cp1.apply"));
    assert!(pos("phase1.workers.stay") < pos("phase1.post.stop-and-verify"));
    assert!(pos("phase1.post.stop-and-verify") < pos("phase2.pre.schedule-skew"));
    assert!(pos("phase2.pre.schedule-skew") < pos("phase2.cp1.apply"));
    assert!(pos("phase2.cp1.apply") < pos("phase2.workers.drain"));
    assert!(
        ids.iter()
            .all(|i| !i.starts_with("phase1.workers.") || *i == "phase1.workers.stay")
    );
    for n in [1, 2] {
        pos(&format!("phase{n}.backout.workers"));
        pos(&format!("phase{n}.backout.etcd-restore"));
    }
    let unique: std::collections::BTreeSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len());
    // As for hop checklists: no empty step, no placeholder, and every command is shell
    // that bash parses.
    for st in manifest["checklist"].as_array().unwrap() {
        let cmds: Vec<&str> = st["commands"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        assert!(!cmds.is_empty(), "{st}");
        let script = u.path("step.sh");
        std::fs::write(&script, cmds.join("\n")).unwrap();
        let out = std::process::Command::new("bash")
            .arg("-n")
            .arg(&script)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            st["id"],
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(cmds.iter().all(|c| !c.contains("YOUR_")), "{st}");
    }
    let skew = manifest["checklist"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "phase2.pre.schedule-skew")
        .unwrap()
        .to_string();
    assert!(
        skew.contains("airlock-verify plan") && skew.contains("${AIRLOCK_BUNDLE:?"),
        "{skew}"
    );

    // The change report pictures the schedule and counts the drains saved.
    let report = read_json(&skip_dir.join("report/change-report.json"));
    assert_eq!(report["schedule"]["drains_per_worker"], 1);
    assert_eq!(report["schedule"]["drains_saved_per_worker"], 1);
    let html = std::fs::read_to_string(skip_dir.join("report/change-report.html")).unwrap();
    assert!(html.contains("aria-label=\"control plane and worker versions over the phases\""));
    assert!(html.contains("Drains per worker: 1 (one minor at a time: 2"));
    assert_valid(
        "change-report.schema.json",
        &skip_dir.join("report/change-report.json"),
    );
    assert_valid(
        "lock.schema.json",
        &yaml_as_json(&u.path("skip").join(format!("{name}.lock"))),
    );

    // Verifies and installs inside.
    let v = Cli::verify()
        .arg("verify")
        .arg(&skip_dir)
        .args(["--trust", &cli::pub_of(&key), "--json"])
        .ok()
        .json();
    assert_eq!(v["verified"], true);
    let enclave = Registry::start();
    let dest = u.path("dest");
    Cli::verify()
        .env("DOCKER_CONFIG", u.path("no-docker-config"))
        .arg("install")
        .arg(&skip_dir)
        .args(["--trust", &cli::pub_of(&key), "--registry", &enclave.host()])
        .args(["--insecure", "--dest"])
        .arg(&dest)
        .args(["--json", "--quiet"])
        .ok();
    assert!(dest.join("bin/v1.30.2/linux/arm64/kubelet").exists());
    assert!(!dest.join("bin/v1.29.6/linux/arm64/kubelet").exists());

    enclave_plan_at_each_phase(&u, &key, &skip_dir);
}

/// `kubectl get nodes -o json` of one control-plane node and two workers.
fn nodes(dir: &std::path::Path, cp: &str, workers: [&str; 2]) -> std::path::PathBuf {
    let node = |name: &str, v: &str, cp: bool| {
        let labels = if cp {
            serde_json::json!({"node-role.kubernetes.io/control-plane": ""})
        } else {
            serde_json::json!({"kubernetes.io/os": "linux"})
        };
        serde_json::json!({"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": labels},
            "status": {"nodeInfo": {"kubeletVersion": v, "kubeProxyVersion": ""}}})
    };
    let items = vec![
        node("cp-0", cp, true),
        node("worker-0", workers[0], false),
        node("worker-1", workers[1], false),
    ];
    let file = format!("nodes-{cp}-{}-{}.json", workers[0], workers[1]);
    write_list(dir, &file, items);
    dir.join(file)
}

/// `airlock-verify plan` inside, with dumps at each phase of the v1.29.3 -> v1.30.2 schedule.
fn enclave_plan_at_each_phase(u: &Upstream, key: &std::path::Path, bundle: &std::path::Path) {
    let dir = u.path("dumps");
    std::fs::create_dir_all(&dir).unwrap();
    let plan = |dump: &std::path::Path| {
        Cli::verify()
            .arg("plan")
            .arg(bundle)
            .args(["--trust", &cli::pub_of(key), "--cluster-dump"])
            .arg(dump)
    };
    let next = |cp: &str, w: [&str; 2]| {
        plan(&nodes(&dir, cp, w)).arg("--json").ok().json()["next"].clone()
    };
    let n = next("v1.29.3", ["v1.29.3", "v1.29.3"]);
    assert_eq!(
        (n["next"].as_str(), n["phase"]["n"].as_u64()),
        (Some("phase"), Some(1))
    );
    let n = next("v1.29.6", ["v1.29.3", "v1.29.3"]);
    assert_eq!(
        (n["next"].as_str(), n["phase"]["n"].as_u64()),
        (Some("phase"), Some(2))
    );
    assert_eq!(n["phase"]["workers"], "v1.30.2");
    let n = next("v1.30.2", ["v1.30.2", "v1.29.3"]);
    assert_eq!(n["next"], "workers");
    assert_eq!(n["behind"], serde_json::json!(["worker-1 (v1.29.3)"]));
    let n = next("v1.30.2", ["v1.30.2", "v1.30.2"]);
    assert_eq!(n["next"], "done");
    // Phase 2 takes the control plane to 1.30, so kubelets must be 1.27 or newer.
    plan(&nodes(&dir, "v1.29.6", ["v1.29.3", "v1.26.15"])).fails(
        1,
        "phase 2 moves the control plane to v1.30.2, which needs every kubelet and kube-proxy at 1.27 or newer; too old: worker-1 (kubelet v1.26.15)",
    );
    plan(&nodes(&dir, "v1.28.0", ["v1.28.0", "v1.28.0"])).fails(
        1,
        "control plane runs v1.28.0, which no phase of this schedule starts or ends at",
    );
}

#[test]
fn a_skipping_plan_on_uncertain_facts_is_refused_by_name() {
    let u = Upstream::new(Opts::default());
    // The test catalog states no kubeadm skew at all.
    u.cli()
        .args([
            "plan",
            "--from",
            "v1.29.6",
            "--to",
            "v1.30.2",
            "--workers",
            "skip",
        ])
        .arg("--catalog")
        .arg(&u.catalog)
        .fails(4, "minor 1.29 has no kubeadm skew facts");
}
