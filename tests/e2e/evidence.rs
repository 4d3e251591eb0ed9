//! Evidence an auditor checks with their own tools: the SBOM (CycloneDX's validator, the
//! NTIA minimum elements, package URLs that name the digests upstream publishes, as
//! `skopeo inspect --raw` shows them) and the JSON Schemas of the report, the lock, the
//! trust policy and the receipt (the `jsonschema` validator, on real outputs).

use crate::common::evidence::{
    Sbom, assert_cyclonedx_valid, assert_invalid, assert_valid, upstream_raw, write_json,
};
use crate::common::scenario::{Scenario, trust_policy};
use crate::common::servers::Registry;

/// A bundle built at a fixed source date.
fn build(s: &Scenario) -> std::path::PathBuf {
    s.build_lock(&s.lock, "bundle", &[])
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .ok();
    s.path("bundle")
}

#[test]
fn the_sbom_names_upstream_digests_down_to_each_layer_with_the_ntia_elements() {
    let s = Scenario::new();
    let path = build(&s).join("report/sbom.cdx.json");
    assert_cyclonedx_valid(&path);
    let sbom = Sbom::read(&path);
    let meta = &sbom.doc["metadata"];
    assert_eq!(meta["timestamp"], "2023-11-14T22:13:20Z");
    assert!(
        meta["authors"][0]["name"]
            .as_str()
            .is_some_and(|a| a.starts_with("airlock "))
    );
    assert_eq!(meta["supplier"]["name"], "The Kubernetes Authors");
    let top = sbom.depends_on("bundle");
    for img in &s.images {
        // The upstream index digest, as the upstream registry serves it.
        let (digest, index) = upstream_raw(&s, &img.reference());
        let r = format!("image:registry.k8s.io/{}@{digest}", img.reference());
        let c = sbom.component(&r);
        let hex = digest.trim_start_matches("sha256:");
        assert!(
            c["purl"]
                .as_str()
                .unwrap()
                .contains(&format!("@sha256%3A{hex}?"))
        );
        assert!(c["supplier"]["name"].is_string() && top.contains(&r));
        // Each carried platform manifest below it, and below that its config and layers.
        for pm in sbom.depends_on(&r) {
            let d = pm.trim_start_matches("manifest:");
            assert!(
                index["manifests"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|m| m["digest"] == d)
            );
            let (_, manifest) = upstream_raw(&s, &format!("{}@{d}", img.repository));
            let mut want = vec![format!(
                "blob:{}",
                manifest["config"]["digest"].as_str().unwrap()
            )];
            want.extend(
                manifest["layers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| format!("blob:{}", l["digest"].as_str().unwrap())),
            );
            assert_eq!(sbom.depends_on(&pm), want, "{pm}");
        }
    }
    assert!(
        top.iter()
            .any(|r| r == "file:bin/v1.30.2/linux/amd64/kubeadm")
    );
}

#[test]
fn the_report_lock_policy_and_receipt_validate_against_their_schemas() {
    let s = Scenario::new();
    let bundle = build(&s);
    let report = bundle.join("report/change-report.json");
    assert_valid("change-report.schema.json", &report);
    let r = crate::common::read_json(&report);
    assert_eq!(r["generator"]["version"], env!("CARGO_PKG_VERSION"));
    // Reports `airlock report` wrote with a dump, a CVE feed and an earlier bundle.
    let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/report/testdata/demo");
    for dir in ["expected", "expected-since"] {
        assert_valid(
            "change-report.schema.json",
            &demo.join(dir).join("change-report.json"),
        );
    }
    // The lock is YAML: its data model is what the schema describes.
    let lock: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(&s.lock).unwrap()).unwrap();
    assert_valid("lock.schema.json", &write_json(&s.path("lock.json"), &lock));
    let policy = s.path("policy.json");
    std::fs::write(&policy, trust_policy(1, Some(&s.key), &[], 0)).unwrap();
    assert_valid("trust-policy.schema.json", &policy);
    // A real install's receipt.
    let (enclave, state) = (Registry::start(), s.path("state"));
    let out = s.install(
        &bundle,
        &enclave,
        &s.path("dest"),
        &["--state-dir", state.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_valid("receipt.schema.json", &state.join("receipts/000001.json"));
}

#[test]
fn the_schemas_refuse_a_wrong_field() {
    let s = Scenario::new();
    let bundle = build(&s);
    let mut r = crate::common::read_json(&bundle.join("report/change-report.json"));
    r["inventory"]["images"][0]["upstream_digest"] = "sha256:short".into();
    r["summary"]["surprise"] = true.into();
    let bad = write_json(&s.path("bad-report.json"), &r);
    assert_invalid(
        "change-report.schema.json",
        &bad,
        "/inventory/images/0/upstream_digest",
    );
    assert_invalid(
        "change-report.schema.json",
        &bad,
        "'surprise' was unexpected",
    );
    let mut p: serde_json::Value =
        serde_json::from_str(&trust_policy(1, Some(&s.key), &[], 0)).unwrap();
    p.as_object_mut().unwrap().remove("update");
    let bad = write_json(&s.path("bad-policy.json"), &p);
    assert_invalid(
        "trust-policy.schema.json",
        &bad,
        "'update' is a required property",
    );
    let receipt = serde_json::json!({"format": 1, "kind": "airlock-receipt", "index": 1,
        "previous_sha256": null, "outcome": "done", "bundle": "b", "started": "2026-12-06T10:00:00Z",
        "finished": "2026-12-06T10:00:01Z", "host": "h"});
    let bad = write_json(&s.path("bad-receipt.json"), &receipt);
    assert_invalid("receipt.schema.json", &bad, "/outcome");
}
