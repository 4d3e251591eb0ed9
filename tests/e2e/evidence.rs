//! Evidence an auditor checks with their own tools: the SBOM (CycloneDX's validator, the
//! NTIA minimum elements, package URLs that name the digests upstream publishes, as
//! `skopeo inspect --raw` shows them) and the JSON Schemas of the report, the lock, the
//! trust policy and the receipt (the `jsonschema` validator, on real outputs).

use std::path::{Path, PathBuf};

use crate::common::evidence::{
    Sbom, assert_cyclonedx_valid, assert_invalid, assert_valid, install_receipt, listed_manifests,
    upstream_blob_refs, upstream_raw, write_json, yaml_as_json,
};
use crate::common::images::{sha256_hex, write_file_tree};
use crate::common::scenario::{Scenario, trust_policy};
use crate::common::upstream::{Opts, Upstream, catalog_text};

/// A bundle built at a fixed source date.
fn build(s: &Scenario) -> PathBuf {
    let cli = s.build_lock(&s.lock, "bundle", &[]);
    cli.env("SOURCE_DATE_EPOCH", "1700000000").ok();
    s.path("bundle")
}

#[test]
fn the_sbom_names_upstream_digests_down_to_each_layer_with_the_ntia_elements() {
    let s = Scenario::new();
    let path = build(&s).join("report/sbom.cdx.json");
    assert_cyclonedx_valid(&path);
    let sbom = Sbom::read(&path);
    sbom.assert_ntia_metadata("2023-11-14T22:13:20Z");
    let top = sbom.depends_on("bundle");
    assert!(top.contains(&"file:bin/v1.30.2/linux/amd64/kubeadm".to_string()));
    for img in &s.images {
        // The index digest the upstream registry serves, in the purl (pause is carried
        // as a subset index: the enclave serves another digest).
        let (digest, index) = upstream_raw(&s, &img.reference());
        let r = format!("image:registry.k8s.io/{}@{digest}", img.reference());
        let hex = digest.trim_start_matches("sha256:");
        assert!(sbom.purl(&r).contains(&format!("@sha256%3A{hex}?")));
        assert!(top.contains(&r), "{r} is not below the bundle");
        // Its platform manifests, each upstream's, and below each its config and layers.
        for pm in sbom.depends_on(&r) {
            let d = pm.trim_start_matches("manifest:");
            assert!(listed_manifests(&index).iter().any(|m| m == d), "{pm}");
            assert!(sbom.purl(&pm).contains("?arch="), "{pm}");
            let blobs = upstream_blob_refs(&s, &img.repository, d);
            assert_eq!(sbom.depends_on(&pm), blobs, "{pm}");
        }
    }
}

/// Reports `airlock report` wrote with a cluster dump, a CVE feed and an earlier bundle
/// (the byte-identity fixtures of src/report/byte_identity.rs).
fn rerendered_reports() -> Vec<PathBuf> {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/report/testdata/demo");
    ["expected", "expected-since"]
        .iter()
        .map(|d| demo.join(d).join("change-report.json"))
        .collect()
}

#[test]
fn the_report_lock_policy_and_receipt_validate_against_their_schemas() {
    let s = Scenario::new();
    let bundle = build(&s);
    let report = bundle.join("report/change-report.json");
    assert_valid("change-report.schema.json", &report);
    let r = crate::common::read_json(&report);
    assert_eq!(r["generator"]["version"], env!("CARGO_PKG_VERSION"));
    for rerendered in rerendered_reports() {
        assert_valid("change-report.schema.json", &rerendered);
    }
    assert_valid("lock.schema.json", &yaml_as_json(&s.lock));
    let policy = s.path("policy.json");
    std::fs::write(&policy, trust_policy(1, Some(&s.key), &[], 0)).unwrap();
    assert_valid("trust-policy.schema.json", &policy);
    assert_valid("receipt.schema.json", &install_receipt(&s, &bundle));
}

#[test]
fn the_schemas_refuse_a_wrong_field() {
    let work = crate::common::workdir();
    let bad = |name: &str, v: &serde_json::Value| write_json(&work.path().join(name), v);
    let mut r = crate::common::read_json(&rerendered_reports()[0]);
    r["inventory"]["images"][0]["upstream_digest"] = "sha256:short".into();
    r["summary"]["surprise"] = true.into();
    let report = bad("report.json", &r);
    let schema = "change-report.schema.json";
    assert_invalid(schema, &report, "/inventory/images/0/upstream_digest");
    assert_invalid(schema, &report, "'surprise' was unexpected");
    let key = work.path().join("keys/k");
    crate::common::cli::keygen(&key);
    let mut p: serde_json::Value =
        serde_json::from_str(&trust_policy(1, Some(&key), &[], 0)).unwrap();
    p.as_object_mut().unwrap().remove("update");
    let policy = bad("policy.json", &p);
    assert_invalid(
        "trust-policy.schema.json",
        &policy,
        "'update' is a required property",
    );
    let receipt = serde_json::json!({"format": 1, "kind": "airlock-receipt", "index": 1,
        "previous_sha256": null, "outcome": "done", "bundle": "b", "host": "h",
        "started": "2026-12-06T10:00:00Z", "finished": "2026-12-06T10:00:01Z"});
    assert_invalid(
        "receipt.schema.json",
        &bad("receipt.json", &receipt),
        "/outcome",
    );
}

/// Resolve v1.29.6 -> v1.30.2 with the Calico example add-on (its manifest served as
/// upstream would) and a catalog dated as real ones are (the fixture's says "test").
fn resolve_with_calico(u: &Upstream) {
    let dated = catalog_text().replace("\"test\"", "\"2026.12.06\"");
    std::fs::write(&u.catalog, dated).unwrap();
    let calico = include_bytes!("../../manifests/examples/addons/calico.yaml");
    let at = "rawgh/projectcalico/calico/v3.28.1/manifests/calico.yaml";
    write_file_tree(&u.www, &[(at, calico)]);
    let example = include_str!("../../manifests/examples/cni-calico.yaml");
    let m = u.path("cni-calico.yaml");
    std::fs::write(&m, example.replace(&"0".repeat(64), &sha256_hex(calico))).unwrap();
    let raw = format!("https://raw.githubusercontent.com={}/rawgh", u.files.url());
    let with = ["--with", m.to_str().unwrap(), "--mirror", &raw];
    crate::common::cli::ok(&u.resolve(&with));
}

#[test]
fn a_resolved_hop_with_an_add_on_validates_and_its_sbom_is_dated_by_the_catalog() {
    let images = vec![
        "calico/node:v3.28.1",
        "calico/cni:v3.28.1",
        "calico/kube-controllers:v3.28.1",
    ];
    let u = Upstream::new(Opts {
        extra: images,
        ..Default::default()
    });
    resolve_with_calico(&u);
    assert_valid("lock.schema.json", &yaml_as_json(&u.path("hop.lock")));
    let (_, built) = u.keygen_and_build();
    crate::common::cli::ok(&built);
    let report = u.path("bundle/report/change-report.json");
    assert_valid("change-report.schema.json", &report);
    let r = crate::common::read_json(&report);
    assert!(!r["runbook"].as_array().unwrap().is_empty() && r["addons"][0]["name"] == "calico");
    let sbom = u.path("bundle/report/sbom.cdx.json");
    assert_cyclonedx_valid(&sbom);
    // No SOURCE_DATE_EPOCH: the catalog's date.
    Sbom::read(&sbom).assert_ntia_metadata("2026-12-06T00:00:00Z");
}
