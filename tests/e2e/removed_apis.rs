//! Every API removed since 1.16, found wherever a cluster still uses one: objects on
//! APIs removed in 1.16, 1.22, 1.25 and 1.26, in the last-applied annotation, in a Helm
//! release Secret and only in a metrics scrape, are flagged by `airlock report` and by
//! `airlock-verify preflight` with the source that found each; objects on current APIs
//! are not.

use crate::common::cluster_dump::{helm_release_secret, object, requested, write_list};
use crate::common::scenario::Scenario;

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

#[test]
fn the_report_and_preflight_flag_every_removed_api_with_its_source() {
    let s = Scenario::new();
    let bundle = bundle_with_every_removal(&s);
    let (dumps, out) = (s.path("dumps"), s.path("out"));
    let metrics = write_cluster(&dumps);
    let (d, m) = (dumps.to_str().unwrap(), metrics.to_str().unwrap());
    s.airlock_cli()
        .args([
            "report",
            bundle.to_str().unwrap(),
            "--cluster-dump",
            d,
            "--metrics",
            m,
        ])
        .args(["--format", "json", "--out", out.to_str().unwrap()])
        .ok();
    let report = crate::common::read_json(&out.join("change-report.json"));
    let found: Vec<(String, String, String)> = report["apis"]["in_use"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["object"]["name"].as_str().unwrap().into(),
                f["uses"].as_str().unwrap().into(),
                f["seen_in"].as_str().unwrap().into(),
            )
        })
        .collect();
    let want: Vec<(String, String, String)> = EXPECTED
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    assert_eq!(found, want);
    let run = s
        .on_bundle("preflight", &bundle)
        .args(["--cluster-dump", d, "--metrics", m, "--json"])
        .run();
    let v = run.json();
    let check = crate::common::find(&v["checks"], "id", "removed-apis");
    assert_eq!(check["status"], "fail");
    let detail = check["detail"].as_str().unwrap();
    for (name, uses, source) in EXPECTED {
        assert!(
            detail.contains(name)
                && detail.contains(uses)
                && detail.contains(&format!("found in {source}")),
            "{name}: {detail}"
        );
    }
    assert!(
        detail.contains("helm-release: prod/app revision 4")
            && !detail.contains("current")
            && !detail.contains("fine"),
        "{detail}"
    );
}
