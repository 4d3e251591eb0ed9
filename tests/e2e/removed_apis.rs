//! Every API removed since 1.16, found wherever a cluster still uses one: objects on
//! APIs removed in 1.16, 1.22, 1.25 and 1.26, in the last-applied annotation, in a Helm
//! release Secret and only in a metrics scrape, are flagged by `airlock report` and by
//! `airlock-verify preflight` with the source that found each; objects on current APIs
//! are not.

use crate::common::cluster_dump::{findings, helm_release_secret, object, requested, write_list};
use crate::common::scenario::Scenario;
use std::path::Path;

/// A bundle whose facts list every removal up to its target, from the built-in catalog.
fn bundle_with_every_removal(s: &Scenario) -> std::path::PathBuf {
    let catalog = airlock::catalog::Catalog::builtin().unwrap();
    let removed = catalog.removed_apis_up_to(&"v1.30.2".parse().unwrap());
    let facts = serde_json::json!({"removed_apis": removed, "kubelet_max_minors_older": 3,
        "kube_proxy_max_minors_older": 3});
    let lock = std::fs::read_to_string(&s.lock).unwrap();
    std::fs::write(&s.lock, format!("{lock}facts: {facts}\n")).unwrap();
    s.build("bundle", &[])
}

/// Dumps of a cluster with objects on removed and on current APIs; returns the metrics file.
fn write_cluster(dir: &std::path::Path) -> std::path::PathBuf {
    write_list(
        dir,
        "objects.json",
        vec![
            object(
                "apps/v1",
                "Deployment",
                "shop",
                "legacy",
                Some("extensions/v1beta1"),
            ), // 1.16
            object(
                "networking.k8s.io/v1",
                "Ingress",
                "shop",
                "front",
                Some("extensions/v1beta1"),
            ), // 1.22
            object("apps/v1", "Deployment", "shop", "current", Some("apps/v1")),
            object("batch/v1", "CronJob", "ops", "fine", None),
        ],
    );
    let manifest = "---\n# Source: app/templates/cron.yaml\napiVersion: batch/v1beta1\nkind: CronJob\nmetadata:\n  name: nightly\n\
        ---\napiVersion: autoscaling/v2beta2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: api\n\
        ---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\n";
    write_list(
        dir,
        "helm-releases.json",
        vec![helm_release_secret("app", "prod", 4, manifest)],
    );
    let metrics = dir.join("metrics.txt");
    let text = requested(
        "flowcontrol.apiserver.k8s.io",
        "v1beta1",
        "flowschemas",
        "1.26",
    ) + &requested("", "v1", "pods", "");
    std::fs::write(&metrics, text).unwrap();
    metrics
}

/// What is found, in the order the dump files are read (by name).
const EXPECTED: [(&str, &str, &str); 5] = [
    ("nightly", "batch/v1beta1", "helm-release"),
    ("api", "autoscaling/v2beta2", "helm-release"),
    ("legacy", "extensions/v1beta1", "last-applied-configuration"),
    ("front", "extensions/v1beta1", "last-applied-configuration"),
    (
        "flowschemas (requested by a client)",
        "flowcontrol.apiserver.k8s.io/v1beta1",
        "metrics",
    ),
];

/// `airlock report --format json` with `inputs`: its findings.
fn report_findings(s: &Scenario, bundle: &Path, inputs: &[&str]) -> Vec<(String, String, String)> {
    let out = s.path("out");
    let (b, o) = (bundle.to_str().unwrap(), out.to_str().unwrap());
    s.airlock_cli()
        .args(["report", b])
        .args(inputs)
        .args(["--format", "json", "--out", o])
        .ok();
    findings(&crate::common::read_json(&out.join("change-report.json")))
}

/// `airlock-verify preflight --json` with `inputs`: the removed-apis check's status and detail.
fn preflight_removed(s: &Scenario, bundle: &Path, inputs: &[&str]) -> (String, String) {
    let v = s
        .on_bundle("preflight", bundle)
        .args(inputs)
        .arg("--json")
        .run()
        .json();
    let check = crate::common::find(&v["checks"], "id", "removed-apis");
    (
        check["status"].as_str().unwrap().into(),
        check["detail"].as_str().unwrap().into(),
    )
}

#[test]
fn the_report_and_preflight_flag_every_removed_api_with_its_source() {
    let s = Scenario::new();
    let bundle = bundle_with_every_removal(&s);
    let dumps = s.path("dumps");
    let metrics = write_cluster(&dumps);
    let inputs = [
        "--cluster-dump",
        dumps.to_str().unwrap(),
        "--metrics",
        metrics.to_str().unwrap(),
    ];
    let want: Vec<(String, String, String)> = EXPECTED
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    assert_eq!(report_findings(&s, &bundle, &inputs), want);
    let (status, detail) = preflight_removed(&s, &bundle, &inputs);
    assert_eq!(status, "fail");
    for (name, uses, source) in EXPECTED {
        let line = format!("{name} uses {uses} (removed in ");
        assert!(
            detail.contains(&line) && detail.contains(&format!("found in {source}")),
            "{detail}"
        );
    }
    assert!(
        detail.contains("found in helm-release: prod/app revision 4"),
        "{detail}"
    );
    assert!(
        !detail.contains("/current") && !detail.contains("/fine") && !detail.contains(" web"),
        "{detail}"
    );
}
