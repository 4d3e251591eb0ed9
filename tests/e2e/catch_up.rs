//! Catch-up bundles whose workers skip minors (issue 26): `airlock plan --workers skip
//! --build --one-bundle` on the test upstream against the conservative catch-up bundle.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::common::check::served_digest;
use crate::common::cli::{self, Cli};
use crate::common::cluster_dump::write_list;
use crate::common::evidence::{assert_valid, yaml_as_json};
use crate::common::scenario::sh_ok;
use crate::common::servers::Registry;
use crate::common::upstream::{Opts, Upstream, with_minor_facts};
use crate::common::{each, read_json};

/// The test catalog with the skew policy's and kubeadm's limits stated (not uncertain)
/// for both minors.
fn catalog_with_kubeadm_facts(u: &Upstream) -> PathBuf {
    let text = std::fs::read_to_string(u.catalog_129_6()).expect("read test catalog");
    let path = u.path("catalog-skew.yaml");
    std::fs::write(&path, with_minor_facts(&text)).expect("write catalog");
    path
}

/// target -> size of the files a bundle manifest lists.
pub(crate) fn files_of(bundle: &std::path::Path) -> BTreeMap<String, u64> {
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
    // What is left out: exactly the arm64 binaries and tools of the version workers skip
    // (v1.29.6); those of v1.29.3, which they leave, stay for the landing's back-out.
    let left_out = left_out(&every_files, &skip_files);
    let catalog_json = read_json(&yaml_as_json(&catalog));
    worker_arch_left_out(&catalog_json, &skip["schedule"], &left_out, &every_files);
    let got: Vec<&str> = left_out.keys().map(|t| t.as_str()).collect();
    for b in ["kubeadm", "kubectl", "kubelet"] {
        assert!(skip_files.contains_key(&format!("bin/v1.29.3/linux/arm64/{b}")));
        assert!(got.contains(&format!("bin/v1.29.6/linux/arm64/{b}").as_str()));
    }
    assert!(skip_files.keys().all(|t| every_files.contains_key(t)));
    assert!(skip_files.contains_key("bin/v1.30.2/linux/arm64/kubelet"));
    assert!(skip_files.contains_key("bin/v1.29.6/linux/amd64/kubelet"));
    let payload =
        |b: &serde_json::Value| b["one_bundle"]["bundle"]["payload_size"].as_u64().unwrap();
    let (every_size, skip_size) = (payload(&every), payload(&skip));
    let left_bytes: u64 = left_out.values().sum();
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
    assert_runbook_shape(&u, &manifest);
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

/// The structural checks every catch-up runbook passes, as hop checklists do: ids
/// unique, no empty step, no placeholder, and every step's commands shell that bash parses.
fn assert_runbook_shape(u: &Upstream, manifest: &serde_json::Value) {
    let ids = each(&manifest["checklist"], "id");
    let unique: std::collections::BTreeSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");
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

/// `airlock-verify plan` refuses, the control plane at `cp_before` (one phase before the
/// `landing` phase) and workers at `from`, a kube-proxy or a kubelet older than the
/// landing phase's floor. `plan(dump)`: the command for a dump.
fn enclave_plan_refusals(
    plan: &dyn Fn(&Path) -> Cli,
    dir: &Path,
    cp_before: &str,
    landing: &serde_json::Value,
    from: &str,
) {
    let cpv = landing["control_plane"].as_str().unwrap();
    // kube-proxy runs the control plane's version (a DaemonSet): one a minor below the
    // landing phase's floor is refused by its image, though every kubelet is in range.
    let floor = landing["kubelet_floor_minor"].as_u64().unwrap();
    let proxy_dir = dir.join("kube-proxy-old");
    let proxy = format!("registry.k8s.io/kube-proxy:v1.{}.0", floor - 1);
    let ds = serde_json::json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
        "spec": {"template": {"spec": {"containers": [{"name": "kube-proxy", "image": proxy}]}}}});
    write_list(&proxy_dir, "kube-proxy.json", vec![ds]);
    std::fs::copy(
        nodes(dir, cp_before, [from, from]),
        proxy_dir.join("nodes.json"),
    )
    .unwrap();
    plan(&proxy_dir).fails(
        1,
        &format!("too old: kube-system/kube-proxy DaemonSet ({proxy})"),
    );
    // A worker one minor older than the landing phase's floor is refused by name.
    let old = format!("v1.{}.0", floor - 1);
    plan(&nodes(dir, cp_before, [from, old.as_str()])).fails(
        1,
        &format!(
            "phase {} moves the control plane to {cpv}, which needs every kubelet and kube-proxy at 1.{floor} or newer; too old: worker-1 (kubelet {old})",
            landing["n"]
        ),
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

/// `vMAJOR.MINOR.PATCH` -> MINOR.
pub(crate) fn minor_of(v: &str) -> u32 {
    v.trim_start_matches("v1.")
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or_else(|| panic!("{v} is not v1.MINOR.PATCH"))
}

/// The catalog's limits for an API server of minor `m`: how many minors a kubelet may lag
/// (the policy's kubelet and kube-proxy limits and kubeadm's), and how many minors newer
/// than a node's last kubeadm the kubeadm upgrading it may be.
fn limits_of(catalog: &serde_json::Value, m: u32) -> (u32, u32) {
    let entry = catalog["minors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["minor"] == format!("1.{m}"))
        .unwrap_or_else(|| panic!("1.{m} not in the catalog"));
    let n = |v: &serde_json::Value| v.as_u64().unwrap() as u32;
    let (skew, kubeadm) = (&entry["skew"], &entry["kubeadm"]);
    let kubelet = n(&skew["kubelet_max_minors_older"])
        .min(n(&skew["kube_proxy_max_minors_older"]))
        .min(n(&skew["kube_proxy_max_minors_from_kubelet"]))
        .min(n(&kubeadm["kubelet_max_minors_older"]));
    (kubelet, n(&kubeadm["node_kubeadm_max_minors_newer"]))
}

/// Walk `schedule` through every intermediate state and check each against the catalog:
/// the control plane one minor per phase; after its step, no kubelet (nor kube-proxy,
/// which runs the control plane's version) newer than it or further behind than the
/// limit; the kubeadm of each worker step at most the node limit ahead of the kubeadm that
/// last upgraded the worker; a landing only where the next step would break the limit.
/// Returns the workers' landings and kubeadm-only steps.
fn check_schedule(
    catalog: &serde_json::Value,
    schedule: &serde_json::Value,
    skipping: bool,
) -> (usize, usize) {
    let phases = schedule["phases"].as_array().unwrap();
    let from = schedule["from"].as_str().unwrap();
    let (mut workers, mut kubeadm) = (minor_of(from), minor_of(from));
    let mut cp = from.to_string();
    let (mut landings, mut kubeadm_only) = (0, 0);
    for (i, p) in phases.iter().enumerate() {
        let s = |k: &str| p[k].as_str().unwrap_or_else(|| panic!("{k}: {p}"));
        assert_eq!(s("control_plane_from"), cp, "{p}");
        let (before, after) = (
            minor_of(s("control_plane_from")),
            minor_of(s("control_plane")),
        );
        assert!(after <= before + 1, "control plane skips a minor: {p}");
        let (kubelet_limit, node_kubeadm) = limits_of(catalog, after);
        // The every-minor plan may ask more (its workers never lag), never less.
        let floor = p["kubelet_floor_minor"].as_u64().unwrap() as u32;
        assert!(floor >= after - kubelet_limit && workers >= floor, "{p}");
        // Control plane moved, workers not yet.
        assert!(workers <= after && after - workers <= kubelet_limit, "{p}");
        let lands = p.get("workers").and_then(|w| w.as_str());
        let kubeadm_step = p.get("workers_kubeadm").and_then(|w| w.as_str());
        if lands.is_some() || kubeadm_step.is_some() {
            assert!(after - kubeadm <= node_kubeadm, "{p}");
            kubeadm = after;
        }
        if let Some(w) = lands {
            assert_eq!(
                w,
                s("control_plane"),
                "workers land on the control plane's version"
            );
            landings += 1;
            if let Some(next) = phases.get(i + 1).filter(|_| skipping) {
                // Landing early would waste a drain: the next step must need it.
                let next_cp = minor_of(next["control_plane"].as_str().unwrap());
                assert!(next_cp - workers > limits_of(catalog, next_cp).0, "{p}");
            }
            workers = minor_of(w);
        }
        if let Some(k) = kubeadm_step {
            assert!(lands.is_none(), "{p}");
            assert_eq!(k, s("control_plane"), "{p}");
            kubeadm_only += 1;
        }
        assert_eq!(minor_of(s("workers_after")), workers, "{p}");
        cp = s("control_plane").to_string();
    }
    assert_eq!(workers, minor_of(&cp), "every node ends at the target");
    (landings, kubeadm_only)
}

/// The files of the bundles' file list not in the other's, with their sizes.
fn left_out(every: &BTreeMap<String, u64>, skip: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    every
        .iter()
        .filter(|(t, _)| !skip.contains_key(*t))
        .map(|(t, s)| (t.clone(), *s))
        .collect()
}

/// 1.29 -> 1.33 with workers three minors behind before their first drain: the schedule,
/// the runbook's kubeadm-only steps, what the worker-only architecture leaves out, verify,
/// install and `airlock-verify plan` inside; build sizes and times for BENCHMARKS.md.
#[test]
fn four_minors_keep_workers_three_behind_with_kubeadm_only_steps_and_install() {
    let u = Upstream::new(Opts {
        later_minors: true,
        ..Opts::default()
    });
    let catalog_path = u.catalog_129_6();
    let catalog = read_json(&yaml_as_json(&catalog_path));
    let key = u.keygen("plan");
    let target = crate::common::upstream::LATER_MINORS[2].0;
    let hop = ("v1.29.6", target);
    let (every, skip) = build_both(&u, &key, &catalog_path, hop);
    let name = format!("airlock-v1.29.6-to-{target}");
    let (every_dir, skip_dir) = (u.path("every").join(&name), u.path("skip").join(&name));
    let (every_files, skip_files) = (files_of(&every_dir), files_of(&skip_dir));
    let gone = left_out(&every_files, &skip_files);
    let payload =
        |b: &serde_json::Value| b["one_bundle"]["bundle"]["payload_size"].as_u64().unwrap();
    let (saved, gone_bytes) = (payload(&every) - payload(&skip), gone.values().sum::<u64>());
    eprintln!("left out {} files, {gone_bytes} bytes", gone.len());
    // Random file bytes do not compress; each left-out file also takes its tar header.
    assert!(
        saved >= gone_bytes && saved <= gone_bytes + 16 * 1024 * gone.len() as u64,
        "saved {saved} bytes, left out {gone_bytes}"
    );
    let sched = &skip["schedule"];
    let phases = sched["phases"].as_array().unwrap();
    let (landings, kubeadm_only, every_landings) =
        schedule_against_conservative(&u, &catalog_path, &catalog, hop, &skip);
    let limit = limits_of(&catalog, minor_of(target)).0;
    // Workers are three minors behind when the first landing phase starts.
    let first = phases.iter().find(|p| p.get("workers").is_some()).unwrap();
    let lag = minor_of(first["control_plane"].as_str().unwrap()) - 29;
    assert_eq!(lag, limit, "{first}");

    let manifest = read_json(&skip_dir.join("manifest.json"));
    assert_eq!(&manifest["schedule"], sched);
    skipping_runbook(&manifest, sched);
    assert_runbook_shape(&u, &manifest);
    assert_runbook_shape(&u, &read_json(&every_dir.join("manifest.json")));
    worker_arch_left_out(&catalog, sched, &gone, &every_files);
    kubeadm_backouts_are_carried(&manifest, sched, &skip_files);
    report_counts(&skip_dir, landings, every_landings - landings, kubeadm_only);
    let lock = u.path("skip").join(format!("{name}.lock"));
    assert_valid("lock.schema.json", &yaml_as_json(&lock));

    // Verifies (and sha256sum agrees) and installs into a fresh enclave registry.
    let v = Cli::verify()
        .arg("verify")
        .arg(&skip_dir)
        .args(["--trust", &cli::pub_of(&key), "--json"])
        .ok()
        .json();
    assert_eq!(v["verified"], true);
    sh_ok("sha256sum --quiet -c SHA256SUMS", &skip_dir);
    installs_what_it_lists(&u, &key, &skip_dir, &manifest);
    enclave_plan_four_minors(&u, &key, &skip_dir, sched);
}

/// Builds the conservative and the skipping catch-up bundle of `hop` (control plane
/// amd64, workers amd64 and arm64) twice each, into every/, skip/, every2/ and skip2/,
/// and prints sizes and times for BENCHMARKS.md; the first build of each.
fn build_both(
    u: &Upstream,
    key: &Path,
    catalog_path: &Path,
    hop: (&str, &str),
) -> (serde_json::Value, serde_json::Value) {
    let platforms = ["--platform", "linux/amd64,linux/arm64"];
    let build = |dir: &str, extra: &[&str]| {
        let started = std::time::Instant::now();
        let out = u
            .plan_build(hop, key, &u.path(dir), catalog_path)
            .args(["--one-bundle"])
            .args(extra)
            .args(platforms)
            .args(u.net_args())
            .ok()
            .json();
        (out, started.elapsed().as_secs_f64())
    };
    // Control plane amd64; workers amd64 and arm64. Two runs each (the first of all
    // fills the upstream cache).
    let every_args = ["--arch", "amd64,arm64"];
    let skip_args = [
        "--workers",
        "skip",
        "--arch",
        "amd64",
        "--worker-arch",
        "arm64",
    ];
    let (every, every_secs) = build("every", &every_args);
    let (skip, skip_secs) = build("skip", &skip_args);
    let (every2, every2_secs) = build("every2", &every_args);
    let (skip2, skip2_secs) = build("skip2", &skip_args);
    let payload =
        |b: &serde_json::Value| b["one_bundle"]["bundle"]["payload_size"].as_u64().unwrap();
    assert_eq!(payload(&every), payload(&every2));
    assert_eq!(payload(&skip), payload(&skip2));
    // BENCHMARKS.md quotes these figures.
    eprintln!(
        "catch-up {} -> {} (test upstream): every-minor {} bytes in {every_secs:.1} s \
         and {every2_secs:.1} s; workers skip {} bytes in {skip_secs:.1} s and {skip2_secs:.1} s",
        hop.0,
        hop.1,
        payload(&every),
        payload(&skip),
    );
    (every, skip)
}

/// The skipping schedule of `skip` (a build's JSON) against the conservative plan of the
/// same range and the catalog's limits, and the plan's table; returns the workers'
/// landings and kubeadm-only steps, and the conservative plan's landings.
fn schedule_against_conservative(
    u: &Upstream,
    catalog_path: &Path,
    catalog: &serde_json::Value,
    hop: (&str, &str),
    skip: &serde_json::Value,
) -> (usize, usize, usize) {
    // The schedule against the conservative plan of the same range.
    let conservative = u
        .cli()
        .args(["plan", "--from", hop.0, "--to", hop.1, "--json"])
        .args(["--workers", "every-minor", "--catalog"])
        .arg(catalog_path)
        .ok()
        .json();
    let sched = &skip["schedule"];
    let phases = sched["phases"].as_array().unwrap();
    let hops = conservative["hops"].as_array().unwrap();
    assert_eq!(phases.len(), hops.len());
    for (p, h) in phases.iter().zip(hops) {
        assert_eq!(
            (&p["control_plane_from"], &p["control_plane"]),
            (&h["from"], &h["to"])
        );
    }
    let (landings, kubeadm_only) = check_schedule(catalog, sched, true);
    for p in phases {
        let after = minor_of(p["control_plane"].as_str().unwrap());
        assert_eq!(
            p["kubelet_floor_minor"],
            after - limits_of(catalog, after).0
        );
    }
    let (every_landings, every_kubeadm) = check_schedule(catalog, &conservative["schedule"], false);
    assert_eq!((every_landings, every_kubeadm), (hops.len(), 0));
    // Fewest drains the limit allows: one per `limit` minors.
    let span = minor_of(hop.1) - 29;
    let limit = limits_of(catalog, minor_of(hop.1)).0;
    assert_eq!(landings as u32, span.div_ceil(limit));
    assert!(landings < every_landings);
    let drains = &skip["drains"];
    assert_eq!(drains["per_worker"], landings);
    assert_eq!(drains["kubeadm_only_steps_per_worker"], kubeadm_only);
    assert_eq!(drains["per_worker_every_minor"], every_landings);
    assert_eq!(conservative["drains"]["per_worker"], every_landings);
    // The plan's table marks the kubeadm-only phases and counts the drains.
    let text = u
        .cli()
        .args(["plan", "--from", hop.0, "--to", hop.1, "--workers", "skip"])
        .arg("--catalog")
        .arg(catalog_path)
        .ok()
        .stdout();
    let marked = text
        .matches(&format!("stay at {} (kubeadm*)", hop.0))
        .count();
    assert_eq!(marked, kubeadm_only, "{text}");
    let drains_line = format!("drains per worker: {landings} (every-minor plan: {every_landings})");
    assert!(text.contains(&drains_line), "{text}");
    (landings, kubeadm_only, every_landings)
}

/// The change report counts the drains, those saved, and the kubeadm-only steps, and
/// validates against its schema.
fn report_counts(bundle: &Path, landings: usize, saved: usize, kubeadm_only: usize) {
    // The change report pictures it and counts drains and kubeadm-only steps.
    let report = read_json(&bundle.join("report/change-report.json"));
    assert_eq!(report["schedule"]["drains_per_worker"], landings);
    assert_eq!(report["schedule"]["drains_saved_per_worker"], saved);
    let note = report["schedule"]["note"].as_str().unwrap();
    let kubeadm_note = format!("in {kubeadm_only} phase(s) where workers stay");
    assert!(note.contains(&kubeadm_note), "{note}");
    assert_valid(
        "change-report.schema.json",
        &bundle.join("report/change-report.json"),
    );
}

/// The runbook: in phases where workers stay, `workers.stay` and (where the schedule
/// says) `workers.kubeadm` with that phase's kubeadm, nothing else of the workers; in
/// landing phases the hop's worker steps.
fn skipping_runbook(manifest: &serde_json::Value, sched: &serde_json::Value) {
    let steps = manifest["checklist"].as_array().unwrap();
    let ids = each(&manifest["checklist"], "id");
    let get = |id: &str| {
        steps
            .iter()
            .find(|s| s["id"] == id)
            .unwrap_or_else(|| panic!("{id}: {ids:?}"))
    };
    let pos = |id: &str| ids.iter().position(|i| *i == id).unwrap();
    let mut before = sched["from"].as_str().unwrap().to_string();
    for p in sched["phases"].as_array().unwrap() {
        let n = p["n"].as_u64().unwrap();
        let workers: Vec<&str> = ids
            .iter()
            .copied()
            .filter(|i| i.starts_with(&format!("phase{n}.workers.")))
            .collect();
        assert!(pos(&format!("phase{n}.pre.schedule-skew")) < pos(&format!("phase{n}.cp1.apply")));
        match (p.get("workers"), p.get("workers_kubeadm")) {
            (None, Some(k)) => {
                let at = |id: &str| (get(id), pos(id));
                kubeadm_only_phase(n, &before, k, &workers, at);
            }
            (None, None) => assert_eq!(workers, [format!("phase{n}.workers.stay")]),
            (Some(_), _) => {}
        }
        // Where workers stay they keep their tools (the bundle may not carry this minor's
        // for their architecture) and still report their version after the phase.
        let stays = p.get("workers").is_none();
        let cni = get(&format!("phase{n}.cni.plugins"))["title"].to_string();
        assert_eq!(cni.contains("Control-plane nodes only"), stays, "{cni}");
        let post = get(&format!("phase{n}.post.versions"))["check"].to_string();
        assert_eq!(
            post.contains(&format!("every worker reports {before}")),
            stays,
            "{post}"
        );
        if let Some(w) = p.get("workers") {
            assert!(!workers.contains(&format!("phase{n}.workers.stay").as_str()));
            for s in ["kubeadm", "drain", "kubelet", "uncordon"] {
                let st = get(&format!("phase{n}.workers.{s}"));
                assert!(pos(&format!("phase{n}.cp1.apply")) < pos(st["id"].as_str().unwrap()));
            }
            let jumps = minor_of(w.as_str().unwrap()) - minor_of(&before) > 1;
            assert_eq!(
                workers.contains(&format!("phase{n}.workers.jump").as_str()),
                jumps
            );
            before = w.as_str().unwrap().to_string();
        }
        get(&format!("phase{n}.backout.workers"));
    }
}

/// A phase where workers stay but take the phase's kubeadm: `workers.stay` says so, then
/// `workers.kubeadm` installs that kubeadm and runs `kubeadm upgrade node`, after the
/// control plane's apply, without a drain or a kubelet. `at(id)`: the step and its place.
fn kubeadm_only_phase<'a>(
    n: u64,
    before: &str,
    k: &serde_json::Value,
    workers: &[&str],
    at: impl Fn(&str) -> (&'a serde_json::Value, usize),
) {
    let get = |id: &str| at(id).0;
    let pos = |id: &str| at(id).1;
    let cp = k.as_str().unwrap();
    let stay = get(&format!("phase{n}.workers.stay"));
    let kubeadm = get(&format!("phase{n}.workers.kubeadm"));
    assert_eq!(
        workers,
        [
            stay["id"].as_str().unwrap(),
            kubeadm["id"].as_str().unwrap()
        ]
    );
    let title = stay["title"].as_str().unwrap();
    assert!(
        title.contains(&format!("Workers stay at {before}")),
        "{title}"
    );
    assert!(
        title.contains(&format!("kubeadm {}", k.as_str().unwrap())),
        "{title}"
    );
    let text = kubeadm["commands"].to_string();
    assert!(text.contains(&format!("bin/{cp}/linux/")), "{text}");
    assert!(text.contains("kubeadm upgrade node"), "{text}");
    assert!(
        !text.contains("drain") && !text.contains("kubelet"),
        "{text}"
    );
    assert!(
        kubeadm["title"]
            .as_str()
            .unwrap()
            .contains("no drain, kubelet unchanged"),
        "{kubeadm}"
    );
    assert!(pos(&format!("phase{n}.cp1.apply")) < pos(&format!("phase{n}.workers.kubeadm")));
}

/// The worker-only architecture's files left out are exactly those of the versions workers
/// neither land on nor take kubeadm from: every binary of the others, the kubeadm of
/// kubeadm-only versions kept, and what the workers' back-outs reinstall; tools of the
/// minors workers land on kept.
fn worker_arch_left_out(
    catalog: &serde_json::Value,
    sched: &serde_json::Value,
    gone: &BTreeMap<String, u64>,
    every: &BTreeMap<String, u64>,
) {
    let phases = sched["phases"].as_array().unwrap();
    let field = |k: &str| -> Vec<String> {
        phases
            .iter()
            .filter_map(|p| p.get(k).and_then(|v| v.as_str()).map(String::from))
            .collect()
    };
    let (lands, kubeadm_only) = (field("workers"), field("workers_kubeadm"));
    // What the workers' back-outs reinstall: after a kubeadm-only step the kubeadm they ran
    // before it (the starting version, or the last landing or kubeadm-only step); after a
    // landing also the kubelet and kubectl they ran before it.
    let (mut backout_kubeadm, mut backout_kubelet) = (Vec::new(), Vec::new());
    let from = sched["from"].as_str().unwrap().to_string();
    let (mut kubeadm_cur, mut kubelet_cur) = (from.clone(), from);
    for p in phases {
        let (w, k) = (p.get("workers"), p.get("workers_kubeadm"));
        let (w, k) = (w.and_then(|v| v.as_str()), k.and_then(|v| v.as_str()));
        if w.is_some() || k.is_some() {
            backout_kubeadm.push(kubeadm_cur.clone());
        }
        if let Some(v) = w {
            backout_kubelet.push(kubelet_cur.clone());
            kubelet_cur = v.to_string();
        }
        if let Some(v) = w.or(k) {
            kubeadm_cur = v.to_string();
        }
    }
    let landing_minors: Vec<String> = lands.iter().map(|v| format!("1.{}", minor_of(v))).collect();
    let tools_kept: Vec<String> = catalog["minors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| landing_minors.iter().any(|l| m["minor"] == l.as_str()))
        .flat_map(|m| m["tools"].as_array().unwrap().iter())
        .map(|t| {
            format!(
                "tools/{}/{}/",
                t["name"].as_str().unwrap(),
                t["version"].as_str().unwrap()
            )
        })
        .collect();
    let want: Vec<&String> = every
        .keys()
        .filter(|t| t.contains("/linux/arm64/"))
        .filter(|t| match t.strip_prefix("bin/") {
            Some(rest) => {
                let v = rest.split('/').next().unwrap().to_string();
                let needed = lands.contains(&v)
                    || (t.ends_with("/kubeadm")
                        && (kubeadm_only.contains(&v) || backout_kubeadm.contains(&v)))
                    || ((t.ends_with("/kubelet") || t.ends_with("/kubectl"))
                        && backout_kubelet.contains(&v));
                !needed
            }
            None => !tools_kept.iter().any(|k| t.starts_with(k.as_str())),
        })
        .collect();
    let got: Vec<&String> = gone.keys().collect();
    assert_eq!(got, want);
    assert!(!got.is_empty());
}

/// Each kubeadm-only step's back-out names the kubeadm the workers ran before it, and the
/// bundle carries that kubeadm for the worker-only architecture too.
fn kubeadm_backouts_are_carried(
    manifest: &serde_json::Value,
    sched: &serde_json::Value,
    files: &BTreeMap<String, u64>,
) {
    let mut before = sched["from"].as_str().unwrap().to_string();
    let mut checked = 0;
    for p in sched["phases"].as_array().unwrap() {
        let (w, k) = (p["workers"].as_str(), p["workers_kubeadm"].as_str());
        if let (None, Some(_)) = (w, k) {
            let id = format!("phase{}.backout.workers", p["n"]);
            let step = manifest["checklist"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["id"] == id.as_str())
                .unwrap_or_else(|| panic!("no step {id}"));
            let title = step["title"].as_str().unwrap();
            assert!(
                title.contains(&format!("reinstall kubeadm {before} ")),
                "{title}"
            );
            for arch in ["amd64", "arm64"] {
                let f = format!("bin/{before}/linux/{arch}/kubeadm");
                assert!(files.contains_key(&f), "{id}: the bundle lacks {f}");
            }
            checked += 1;
        }
        if let Some(v) = w.or(k) {
            before = v.to_string();
        }
    }
    assert!(checked > 0, "no kubeadm-only phase in {sched}");
}

/// `airlock-verify install` into a fresh registry: every image the manifest lists is
/// served under its upstream digest (read with skopeo), every file is the upstream's bytes
/// (sha256sum).
fn installs_what_it_lists(u: &Upstream, key: &Path, bundle: &Path, manifest: &serde_json::Value) {
    let enclave = Registry::start();
    let dest = u.path("dest");
    Cli::verify()
        .env("DOCKER_CONFIG", u.path("no-docker-config"))
        .arg("install")
        .arg(bundle)
        .args(["--trust", &cli::pub_of(key), "--registry", &enclave.host()])
        .args(["--insecure", "--dest"])
        .arg(&dest)
        .args(["--json", "--quiet"])
        .ok();
    let names = each(&manifest["images"], "name");
    assert!(names.len() > 10, "{names:?}");
    for name in names {
        let r = name.split_once('/').map_or(name, |(_, r)| r);
        let served = served_digest(&format!("{}/{r}", enclave.host()), None);
        assert_eq!(served, u.digest(r), "{name}");
    }
    for (target, _) in files_of(bundle) {
        let Some(url) = upstream_url(&target) else {
            continue;
        };
        let out = sh_ok(&format!("sha256sum {target}"), &dest);
        let sum = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            sum.split_whitespace().next(),
            Some(u.sums[&url].as_str()),
            "{target}"
        );
    }
}

/// The upstream URL of a release binary or tool archive from its bundle target.
fn upstream_url(target: &str) -> Option<String> {
    if let Some(rest) = target.strip_prefix("bin/") {
        let rest = rest.replacen("/linux/", "/bin/linux/", 1);
        return Some(format!("https://dl.k8s.io/release/{rest}"));
    }
    let rest = target.strip_prefix("tools/")?;
    let parts: Vec<&str> = rest.split('/').collect();
    let (name, version, file) = (parts[0], parts[1], parts.last()?);
    let repo = match name {
        "crictl" => "kubernetes-sigs/cri-tools",
        "cni-plugins" => "containernetworking/plugins",
        _ => return None,
    };
    Some(format!(
        "https://github.com/{repo}/releases/download/{version}/{file}"
    ))
}

/// `airlock-verify plan` inside with dumps at two phases of the schedule, one mid-phase,
/// one at the end, and one with a kubelet older than the next step allows.
fn enclave_plan_four_minors(u: &Upstream, key: &Path, bundle: &Path, sched: &serde_json::Value) {
    let dir = u.path("dumps4");
    std::fs::create_dir_all(&dir).unwrap();
    let plan = |dump: &Path| {
        Cli::verify()
            .arg("plan")
            .arg(bundle)
            .args(["--trust", &cli::pub_of(key), "--cluster-dump"])
            .arg(dump)
    };
    let next = |cp: &str, w: [&str; 2]| {
        plan(&nodes(&dir, cp, w)).arg("--json").ok().json()["next"].clone()
    };
    let phases = sched["phases"].as_array().unwrap();
    let from = sched["from"].as_str().unwrap();
    let v = |p: &serde_json::Value, k: &str| p[k].as_str().unwrap().to_string();
    let first_landing = phases
        .iter()
        .position(|p| p.get("workers").is_some())
        .unwrap();
    assert!(first_landing >= 2, "{sched}");
    // Workers still at the start, the control plane one phase before their first landing:
    // the landing phase is next, with the workers as far behind as the skew allows.
    let before = &phases[first_landing - 1];
    let n = next(&v(before, "control_plane"), [from, from]);
    assert_eq!(n["next"], "phase");
    assert_eq!(n["phase"], phases[first_landing]);
    // One phase earlier: a phase where workers stay and take kubeadm only.
    let earlier = &phases[first_landing - 2];
    let n = next(&v(earlier, "control_plane"), [from, from]);
    assert_eq!(n["phase"], *before);
    assert_eq!(n["phase"]["workers_kubeadm"], before["control_plane"]);
    let text = plan(&nodes(&dir, &v(earlier, "control_plane"), [from, from]))
        .ok()
        .stdout();
    assert!(text.contains("take kubeadm"), "{text}");
    // The landing phase's control plane done, one worker moved: the other is named.
    let landing = &phases[first_landing];
    let (lv, cpv) = (v(landing, "workers"), v(landing, "control_plane"));
    let lv = lv.as_str();
    let n = next(&cpv, [lv, from]);
    assert_eq!(n["next"], "workers");
    assert_eq!(
        n["behind"],
        serde_json::json!([format!("worker-1 ({from})")])
    );
    let n = next(&cpv, [lv, lv]);
    assert_eq!(n["phase"], phases[first_landing + 1]);
    let last = v(phases.last().unwrap(), "control_plane");
    assert_eq!(next(&last, [last.as_str(), last.as_str()])["next"], "done");
    let cp_before = v(before, "control_plane");
    enclave_plan_refusals(&plan, &dir, &cp_before, landing, from);
}

/// `--worker-packages` names a `--packages` format and leaves one for the control plane,
/// and `--worker-arch` an architecture (exit 4, an option value); both need `--workers
/// skip` (exit 2, usage); each refusal names the option, before anything is written.
#[test]
fn worker_only_options_are_refused_by_name_before_anything_is_written() {
    let u = Upstream::new(Opts::default());
    let key = u.keygen("plan");
    let out = u.path("out");
    let pgp = u.path("Release.key");
    std::fs::write(&pgp, "not read: the options are refused first").unwrap();
    let catalog = catalog_with_kubeadm_facts(&u);
    let plan = |extra: &[&str]| {
        u.plan_build(("v1.29.6", "v1.30.2"), &key, &out, &catalog)
            .arg("--one-bundle")
            .args(extra)
            .args(u.net_args())
    };
    let pkgs = ["--package-key", pgp.to_str().unwrap()];
    // (command line, exit code, what stderr says); each with --package-key after --packages.
    let skip = "--workers skip";
    for (line, code, says) in [
        (
            format!("{skip} --packages deb --worker-packages rpm"),
            4,
            "--worker-packages: rpm is not among --packages",
        ),
        (
            format!("{skip} --packages deb --worker-packages deb"),
            4,
            "--worker-packages: names every --packages format",
        ),
        (
            format!("{skip} --worker-arch ARM64"),
            4,
            "--worker-arch: \"ARM64\" is not an architecture name",
        ),
        (
            "--packages deb,rpm --worker-packages rpm".to_string(),
            2,
            "--worker-packages is for --workers skip",
        ),
    ] {
        let extra: Vec<&str> = line.split(' ').collect();
        let mut args = extra.clone();
        if extra.contains(&"--packages") {
            args.extend(pkgs);
        }
        plan(&args).fails(code, says);
        assert!(!out.exists(), "{extra:?} wrote {}", out.display());
    }
}
