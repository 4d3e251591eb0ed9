//! Two-step hops (issue 27): `airlock resolve --two-step` against the real test upstream
//! writes a step-1 lock (the hop, the control plane emulating the from-minor) and a step-2
//! lock with no image or file; both build, and step 2's bundle verifies and installs.

use crate::common::check::assert_contains;
use crate::common::cli::{self, Cli, ok};
use crate::common::cluster_dump::{object, write_list};
use crate::common::evidence::{assert_valid, write_json};
use crate::common::scenario::assert_fails;
use crate::common::servers::Registry;
use crate::common::upstream::{Opts, Upstream, catalog_text};
use crate::common::{each, find, read_json};

/// The test catalog with compatibility facts on 1.30 that offer emulating 1.29 (test
/// data, like every value of the tiny catalog).
fn offering_catalog() -> String {
    catalog_text().replace(
        "    removed_apis:\n      - {",
        "    compatibility:\n      emulated_version_flag: true\n      emulated_version: { min: \"1.29\", max: \"1.30\" }\n      min_compatibility_flag: false\n      components: [kube-apiserver, kube-controller-manager, kube-scheduler]\n      two_step: offered\n      source: [t]\n    removed_apis:\n      - {",
    )
}

fn lock(u: &Upstream, name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(u.path(name)).expect("read lock");
    serde_saphyr::from_str(&text).expect("lock is YAML")
}

#[test]
fn a_target_without_the_facts_refuses_the_mode_and_writes_nothing() {
    let u = Upstream::new(Opts::default());
    let out = u.resolve(&["--two-step"]);
    assert_fails(
        &out,
        4,
        "no compatibility-version facts for 1.30 (not established)",
    );
    assert_fails(&out, 4, "without --two-step");
    for name in ["hop.lock", "hop.step1.lock", "hop.step2.lock"] {
        assert!(!u.path(name).exists(), "{name} written");
    }
    // plan says the same, per hop, and still lists the hop.
    let text = Cli::airlock()
        .args(["plan", "--from", "v1.29.6", "--to", "v1.30.2", "--two-step"])
        .arg("--catalog")
        .arg(&u.catalog)
        .ok()
        .stdout();
    assert_contains(&text, "two-step: not offered:");
    assert_contains(&text, "no compatibility-version facts for 1.30");
}

#[test]
fn resolve_writes_two_locks_and_step2_builds_verifies_and_installs_with_nothing_in_it() {
    let u = Upstream::new(Opts::default());
    std::fs::write(&u.catalog, offering_catalog()).unwrap();
    let plan = Cli::airlock()
        .args([
            "plan",
            "--from",
            "v1.29.15",
            "--to",
            "v1.30.2",
            "--two-step",
        ])
        .arg("--catalog")
        .arg(&u.catalog)
        .ok()
        .stdout();
    assert_contains(&plan, "(minor, two steps)");
    assert_contains(&plan, "--emulated-version=1.29");
    assert_contains(&plan, "APIs removed: flowcontrol.apiserver.k8s.io/v1beta2");

    ok(&u.resolve(&["--two-step"]));
    assert!(!u.path("hop.lock").exists());
    let (one, two) = (lock(&u, "hop.step1.lock"), lock(&u, "hop.step2.lock"));
    assert_eq!(one["two_step"]["step"], 1);
    assert_eq!(two["two_step"]["step"], 2);
    assert_eq!(two["two_step"]["emulated_version"], "1.29");
    assert!(!one["images"].as_array().unwrap().is_empty());
    assert_eq!(two["images"], serde_json::json!([]));
    assert_eq!(two["files"], serde_json::json!([]));
    assert_eq!(two["hop"]["from"], "v1.30.2");
    let patches = find(&one["checklist"], "id", "pre.emulation-patches");
    let text = patches["commands"].to_string();
    for c in [
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
    ] {
        assert_contains(&text, &format!("{c}+json.json"));
    }
    assert!(
        !text.contains("kube-proxy") && !text.contains("kubelet"),
        "{text}"
    );
    let ids = each(&two["checklist"], "id");
    for id in [
        "pre.removed-apis",
        "cp1.kube-apiserver",
        "post.emulation",
        "backout.emulation",
    ] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }

    let key = u.keygen("k");
    u.build("hop.step1.lock", "bundle-step1", &[]).ok();
    u.build("hop.step2.lock", "bundle", &[]).ok();
    let manifest = read_json(&u.path("bundle/manifest.json"));
    assert_eq!(manifest["images"], serde_json::json!([]));
    assert_eq!(manifest["files"], serde_json::json!([]));
    let ids = each(&manifest["checklist"], "id");
    assert!(ids.contains(&"cp.kube-scheduler"), "{ids:?}");
    let step1 = read_json(&u.path("bundle-step1/manifest.json"));
    assert!(!step1["images"].as_array().unwrap().is_empty());
    for (lock, n) in [(&one, 1), (&two, 2)] {
        let json = write_json(&u.path(&format!("step{n}.lock.json")), lock);
        assert_valid("lock.schema.json", &json);
    }
    for dir in ["bundle-step1", "bundle"] {
        let report = u.path(&format!("{dir}/report/change-report.json"));
        assert_valid("change-report.schema.json", &report);
    }
    reports_place_the_removed_apis_in_step2(&u);
    preflight_checks_each_removal_against_its_step(&u, &key);
    let v = u.verify(&key, &["--json"]).ok().json();
    assert_eq!(v["verified"], true);
    let enclave = Registry::start();
    let dest = u.path("dest");
    u.install(&key, &enclave, &dest).ok().json();
    // Nothing was pushed: the enclave registry holds no repository.
    let catalog = enclave.get("/v2/_catalog").text();
    assert!(!catalog.contains("kube-apiserver"), "{catalog}");
}

/// Step 1's report lists the target's own removals apart, as step 2's; step 2's report
/// lists them as removed now.
fn reports_place_the_removed_apis_in_step2(u: &Upstream) {
    let v1beta2 = "flowcontrol.apiserver.k8s.io/v1beta2";
    let one = read_json(&u.path("bundle-step1/report/change-report.json"));
    let two = read_json(&u.path("bundle/report/change-report.json"));
    assert!(!each(&one["apis"]["removed"], "group_version").contains(&v1beta2));
    assert_eq!(
        each(&one["apis"]["due_in_step2"], "group_version"),
        [v1beta2]
    );
    assert_contains(
        one["apis"]["two_step"].as_str().unwrap(),
        "Step 1 of a two-step hop",
    );
    assert!(each(&two["apis"]["removed"], "group_version").contains(&v1beta2));
    assert!(two["apis"].get("due_in_step2").is_none());
    assert_contains(
        two["apis"]["two_step"].as_str().unwrap(),
        "Step 2 of a two-step hop",
    );
    let md = std::fs::read_to_string(u.path("bundle-step1/report/change-report.md")).unwrap();
    assert_contains(&md, "Removed in step 2, not in this step");
}

/// A FlowSchema on the API 1.30 removes: step 1's preflight names it for step 2 and does
/// not fail on it; step 2's fails on it. A control plane that emulates takes step 2 only.
fn preflight_checks_each_removal_against_its_step(u: &Upstream, key: &std::path::Path) {
    let dumps = u.path("dumps");
    write_list(
        &dumps,
        "objects.json",
        vec![object(
            "flowcontrol.apiserver.k8s.io/v1beta2",
            "FlowSchema",
            "",
            "fs-old",
            None,
        )],
    );
    // kubeadm's static kube-apiserver Pod as step 1 leaves it.
    let pod = serde_json::json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "kube-apiserver-cp1", "namespace": "kube-system"},
        "spec": {"containers": [{"name": "kube-apiserver", "image": "registry.k8s.io/kube-apiserver:v1.30.2",
            "command": ["kube-apiserver", "--emulated-version=1.29"]}]}});
    write_list(&dumps, "control-plane-pods.json", vec![pod]);
    let run = |bundle: &str| {
        let v = Cli::verify()
            .arg("preflight")
            .arg(u.path(bundle))
            .args(["--trust", &cli::pub_of(key), "--cluster-dump"])
            .arg(&dumps)
            .arg("--json")
            .run()
            .json();
        let c = find(&v["checks"], "id", "removed-apis").clone();
        let e = find(&v["checks"], "id", "emulation")["status"].clone();
        let want = if bundle == "bundle" { "pass" } else { "fail" };
        assert_eq!(e, want, "{bundle}: {v}");
        (
            c["status"].as_str().unwrap().to_string(),
            c["detail"].as_str().unwrap().to_string(),
        )
    };
    // The tiny catalog removes nothing before 1.30, so step 1 has nothing to fail on
    // (not evaluated); the point is that the 1.30 removal does not fail it.
    let (status, detail) = run("bundle-step1");
    assert_ne!(status, "fail", "{detail}");
    assert_contains(&detail, "step 2 of this two-step hop");
    assert_contains(&detail, "to move before step 2: FlowSchema");
    let (status, detail) = run("bundle");
    assert_eq!(status, "fail", "{detail}");
    assert_contains(&detail, "fs-old");
}

#[test]
fn plan_build_builds_both_steps_of_a_two_step_hop() {
    let u = Upstream::new(Opts::default());
    // v1.29.6 as the newest 1.29 patch: one minor hop, offered as two steps.
    let catalog = u.path("catalog-two-step.yaml");
    let text = offering_catalog().replace("latest_patch: 15", "latest_patch: 6");
    std::fs::write(&catalog, text).unwrap();
    let key = u.keygen("plan");
    let out_dir = u.path("hops");
    let plan = u.plan_build(("v1.29.6", "v1.30.2"), &key, &out_dir, &catalog);
    let v = plan.arg("--two-step").args(u.net_args()).ok().json();
    assert_eq!(each(&v["hops"], "lock").len(), 2, "{v}");
    let name = out_dir.join("airlock-v1.29.6-to-v1.30.2");
    let step = |n: u32| {
        read_json(&name.with_file_name(format!("airlock-v1.29.6-to-v1.30.2-step{n}/manifest.json")))
    };
    assert!(!step(1)["images"].as_array().unwrap().is_empty());
    assert_eq!(step(2)["images"], serde_json::json!([]));
    assert_eq!(step(2)["files"], serde_json::json!([]));
    for n in [1, 2] {
        let bundle = name.with_file_name(format!("airlock-v1.29.6-to-v1.30.2-step{n}"));
        let out = Cli::verify()
            .arg("verify")
            .arg(&bundle)
            .args(["--trust", &cli::pub_of(&key), "--json"])
            .ok()
            .json();
        assert_eq!(out["verified"], true, "step {n}");
    }
}
