//! The change-management report, the SBOM and preflight (issue 10): the report is in the
//! bundle under its signatures; `airlock report` renders it again with a cluster dump,
//! the CVE feed and the policy; the SBOM validates with the CycloneDX project's own
//! validator; the HTML loads in headless Chromium with no external request; preflight
//! judges sample cluster dumps inside the enclave and records the result.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::cli::ok;
use crate::common::each;
use crate::common::scenario::{Scenario, assert_fails, sh_ok};

/// The scenario's lock plus the hop facts resolve would record: removed APIs as the
/// catalog lists them (here: CronJob batch/v1beta1, FlowSchema v1beta3, HPA v2beta2).
fn lock_with_facts(s: &Scenario) {
    let mut text = std::fs::read_to_string(&s.lock).unwrap();
    text.push_str(
        r#"facts:
  removed_apis:
    - group_version: batch/v1beta1
      kinds: [CronJob]
      replacement: batch/v1
      removed_in: "1.25"
    - group_version: flowcontrol.apiserver.k8s.io/v1beta3
      kinds: [FlowSchema, PriorityLevelConfiguration]
      replacement: flowcontrol.apiserver.k8s.io/v1
      removed_in: "1.32"
    - group_version: autoscaling/v2beta2
      kinds: [HorizontalPodAutoscaler]
      replacement: autoscaling/v2
      removed_in: "1.26"
  kubelet_max_minors_older: 3
  kube_proxy_max_minors_older: 3
  target_end_of_life: "2025-07-15"
"#,
    );
    std::fs::write(&s.lock, text).unwrap();
}

/// Realistic dumps of a 1.29 cluster, written as `kubectl ... -o json` prints them.
fn write_dumps(dir: &Path, server: &str, image_repository: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let last_applied = |api: &str, kind: &str| {
        serde_json::json!({"kubectl.kubernetes.io/last-applied-configuration":
            format!("{{\"apiVersion\":\"{api}\",\"kind\":\"{kind}\",\"metadata\":{{\"name\":\"x\"}}}}")})
    };
    let resources = serde_json::json!({
        "apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}},
            {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly", "namespace": "shop",
              "annotations": last_applied("batch/v1beta1", "CronJob")}},
            {"apiVersion": "flowcontrol.apiserver.k8s.io/v1beta3", "kind": "FlowSchema", "metadata": {"name": "batch-jobs"}},
            {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web", "namespace": "shop",
              "annotations": last_applied("autoscaling/v2beta2", "HorizontalPodAutoscaler")}},
            {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "fine", "namespace": "ops"}}
        ]
    });
    let nodes = serde_json::json!({
        "apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "cp-1"},
              "status": {"nodeInfo": {"kubeletVersion": "v1.29.6", "kubeProxyVersion": "v1.29.6"}}},
            {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "worker-old"},
              "status": {"nodeInfo": {"kubeletVersion": "v1.26.3", "kubeProxyVersion": "v1.26.3"}}}
        ]
    });
    let kubeadm = serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kubeadm-config", "namespace": "kube-system"},
        "data": {"ClusterConfiguration": format!("apiVersion: kubeadm.k8s.io/v1beta3\nimageRepository: {image_repository}\nkubernetesVersion: {server}\n")}
    });
    let version = serde_json::json!({"clientVersion": {"gitVersion": server}, "serverVersion": {"gitVersion": server}});
    for (name, v) in [
        ("resources", resources),
        ("nodes", nodes),
        ("kubeadm-config", kubeadm),
        ("version", version),
    ] {
        std::fs::write(
            dir.join(format!("{name}.json")),
            serde_json::to_vec_pretty(&v).unwrap(),
        )
        .unwrap();
    }
}

fn cve_feed(path: &Path) {
    let feed = serde_json::json!({
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Kubernetes Vulnerability Announcements - CVE Feed",
        "items": [
            {"id": "CVE-2026-1001", "url": "https://github.com/kubernetes/kubernetes/issues/1", "summary": "kubelet path traversal",
             "content_text": "#### Affected Versions\n- kubelet v1.29.0 - v1.29.9\n#### Fixed Versions\n- kubelet v1.29.10\n- kubelet v1.30.1\n"},
            {"id": "CVE-2026-1002", "summary": "apiserver DoS", "content_text": "Fixed in v1.29.2"},
            {"id": "CVE-2026-1003", "summary": "no version text", "content_text": "See the announcement."}
        ]
    });
    std::fs::write(path, serde_json::to_vec(&feed).unwrap()).unwrap();
}

fn python() -> String {
    std::env::var("AIRLOCK_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

#[test]
fn the_bundle_carries_a_signed_report_and_a_valid_sbom() {
    let s = Scenario::new();
    lock_with_facts(&s);
    let start = airlock::time::Timestamp::now().plus(-3600).to_string();
    let window = format!("{}Z/72h", &start[..16]);
    let bundle = s.build("bundle", &["--window", &window]);
    for f in [
        "change-report.json",
        "change-report.md",
        "change-report.html",
        "sbom.cdx.json",
    ] {
        assert!(bundle.join("report").join(f).is_file(), "{f} missing");
    }
    // Listed in SHA256SUMS, covered by the signatures, checked by verify.
    let out = sh_ok("sha256sum -c SHA256SUMS", &bundle);
    assert!(String::from_utf8_lossy(&out.stdout).contains("report/change-report.html: OK"));
    ok(&s.verify(&bundle));
    let html = bundle.join("report/change-report.html");
    let mut bytes = std::fs::read(&html).unwrap();
    bytes[200] ^= 1;
    std::fs::write(&html, &bytes).unwrap();
    assert_fails(
        &s.verify(&bundle),
        3,
        "report/change-report.html: does not match",
    );
    bytes[200] ^= 1;
    std::fs::write(&html, &bytes).unwrap();

    // The SBOM validates with the CycloneDX project's own validator.
    let validator = r#"
import json, sys
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
data = open(sys.argv[1]).read()
err = JsonStrictValidator(SchemaVersion.from_version(json.loads(data)["specVersion"])).validate_str(data)
print("valid" if err is None else repr(err))
sys.exit(0 if err is None else 1)
"#;
    let out = Command::new(python())
        .args(["-c", validator])
        .arg(bundle.join("report/sbom.cdx.json"))
        .output()
        .expect("run the CycloneDX validator (scripts/test.sh installs it)");
    ok(&out);
    let sbom = crate::common::read_json(&bundle.join("report/sbom.cdx.json"));
    let purls: Vec<&str> = sbom["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["purl"].as_str())
        .collect();
    assert!(
        purls
            .iter()
            .any(|p| p.starts_with("pkg:oci/kube-apiserver@sha256%3A")),
        "{purls:?}"
    );

    // The report says what it could not evaluate, and carries the runbook and back-out.
    let r = crate::common::read_json(&bundle.join("report/change-report.json"));
    assert_eq!(r["summary"]["not_before"], format!("{}:00Z", &start[..16]));
    assert_eq!(r["apis"]["in_use"]["evaluated"], false);
    assert_eq!(r["cves"]["evaluated"], false);
    // This lock was written by hand, without a checklist: the report says so.
    assert_eq!(r["runbook"].as_array().unwrap().len(), 0);
    let md = std::fs::read_to_string(bundle.join("report/change-report.md")).unwrap();
    assert!(md.contains("No runbook"), "{md}");
    assert_eq!(r["apis"]["removed"].as_array().unwrap().len(), 3);
}

#[test]
fn report_with_a_cluster_dump_cves_and_approvals_is_deterministic_and_renders() {
    let s = Scenario::new();
    lock_with_facts(&s);
    let bundle = s.build("bundle", &[]);
    let dumps = s.path("dumps");
    write_dumps(&dumps, "v1.29.6", "registry.enclave:5000/k8s");
    let feed = s.path("cve.json");
    cve_feed(&feed);
    let render = |out: &str| -> PathBuf {
        let o = s.path(out);
        s.report(&bundle, &dumps, &feed, &o).ok();
        o
    };
    let a = render("out-a");
    let b = render("out-b");
    let read = |dir: &Path, f: &str| std::fs::read(dir.join(f)).unwrap();
    for f in [
        "change-report.json",
        "change-report.md",
        "change-report.html",
        "sbom.cdx.json",
    ] {
        assert_eq!(read(&a, f), read(&b, f), "{f} differs");
    }
    let r = crate::common::read_json(&a.join("change-report.json"));
    let items = r["apis"]["in_use"]["items"].as_array().unwrap();
    let in_use: Vec<String> = items
        .iter()
        .map(|f| {
            format!(
                "{} {}",
                f["object"]["name"].as_str().unwrap(),
                f["uses"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        in_use,
        vec![
            "nightly batch/v1beta1",
            "batch-jobs flowcontrol.apiserver.k8s.io/v1beta3",
            "web autoscaling/v2beta2"
        ]
    );
    let risks = each(&r["risks"], "id");
    assert!(risks.contains(&"apis.removed-in-use"), "{risks:?}");
    assert!(risks.contains(&"skew.kubelet"), "{risks:?}");
    let (ids, statuses) = (
        each(&r["cves"]["items"], "id"),
        each(&r["cves"]["items"], "status"),
    );
    let cves: Vec<(&str, &str)> = ids.into_iter().zip(statuses).collect();
    assert_eq!(
        cves,
        vec![
            ("CVE-2026-1001", "fixed-by-hop"),
            ("CVE-2026-1002", "already-fixed"),
            ("CVE-2026-1003", "versions-unreadable")
        ]
    );
    let md = std::fs::read_to_string(a.join("change-report.md")).unwrap();
    for section in [
        "## 1. Summary",
        "## 3. Removed APIs",
        "## 7. Back-out plan",
        "## 10. Verification",
    ] {
        assert!(md.contains(section), "{section}");
    }

    // Headless Chromium loads the HTML with no request other than the file itself.
    let html = a.join("change-report.html");
    let netlog = s.path("net.json");
    let shot = s.path("report.png");
    let headless = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
    ];
    let quiet = [
        "--disable-quic",
        "--no-first-run",
        "--disable-component-update",
        "--disable-sync",
    ];
    let out = Command::new("chromium")
        .args(headless)
        .args(quiet)
        .arg("--window-size=1280,6000")
        .arg(format!("--user-data-dir={}", s.path("chrome").display()))
        .arg(format!("--log-net-log={}", netlog.display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("run chromium (scripts/test.sh installs it)");
    ok(&out);
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 10_000,
        "no screenshot"
    );
    let requests = page_requests(&netlog);
    assert!(requests.is_empty(), "the page made requests: {requests:?}");
    let dom = Command::new("chromium")
        .args(headless)
        .arg("--dump-dom")
        .arg(format!("--user-data-dir={}", s.path("chrome2").display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap();
    ok(&dom);
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains("10. Verification"), "the page did not render");
    assert!(dom.contains("<svg"), "the page did not render");
    // Keep a copy to look at.
    let _ = std::fs::copy(
        &shot,
        std::env::temp_dir().join("airlock-report-screenshot.png"),
    );
}

/// URLs the page itself asked for, from Chromium's net log: requests whose initiator is
/// an origin (the browser's own background requests have none), other than file URLs.
fn page_requests(netlog: &Path) -> Vec<String> {
    let log = crate::common::read_json(netlog);
    let start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"].clone();
    log["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == start_job)
        .filter(|e| e["params"]["initiator"] != "not an origin")
        .filter_map(|e| e["params"]["url"].as_str())
        .filter(|u| !u.starts_with("file://"))
        .map(str::to_string)
        .collect()
}

#[test]
fn preflight_judges_the_cluster_inside_the_enclave() {
    let s = Scenario::new();
    lock_with_facts(&s);
    let bundle = s.build("bundle", &[]);
    let dumps = s.path("dumps");
    write_dumps(&dumps, "v1.29.6", "registry.enclave:5000/k8s");
    let state = s.path("state");
    let run = |dumps: &Path, registry: &str| {
        s.on_bundle("preflight", &bundle)
            .args([
                "--cluster-dump",
                dumps.to_str().unwrap(),
                "--dest",
                s.path("dest").to_str().unwrap(),
                "--registry",
                registry,
                "--prefix",
                "k8s",
                "--state-dir",
                state.to_str().unwrap(),
                "--json",
            ])
            .run()
    };
    let out = run(&dumps, "registry.enclave:5000");
    crate::common::scenario::assert_code(&out, 1);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let status = |id: &str| {
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap()["status"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(status("version"), "pass");
    assert_eq!(status("skew"), "fail"); // worker-old runs v1.26.3
    assert_eq!(status("removed-apis"), "fail");
    assert_eq!(status("disk"), "pass");
    assert_eq!(status("image-repository"), "pass");
    let out = run(&dumps, "other.registry:5000");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v.to_string().contains("kubeadm would pull from elsewhere"));
    // A dump from another cluster version.
    let other = s.path("dumps-1.27");
    write_dumps(&other, "v1.27.3", "registry.enclave:5000/k8s");
    let v: serde_json::Value =
        serde_json::from_slice(&run(&other, "registry.enclave:5000").stdout).unwrap();
    assert!(
        v.to_string().contains("but the bundle hops from v1.29.6"),
        "{v}"
    );
    // Every run is in the receipt log.
    let log = s.run_verify(&["log", "--state-dir", state.to_str().unwrap(), "--json"]);
    ok(&log);
    let l: serde_json::Value = serde_json::from_slice(&log.stdout).unwrap();
    assert_eq!(l["receipts"], 3);
    // Bad input: a dump that is not JSON, a CVE feed of the wrong shape.
    let bad = s.path("bad.json");
    std::fs::write(&bad, "apiVersion: v1\nkind: List\n").unwrap();
    assert_fails(&run(&bad, "registry.enclave:5000"), 4, "not JSON");
    let feed = s.path("feed.json");
    std::fs::write(&feed, r#"{"items": 3}"#).unwrap();
    let out = s.run_airlock(&[
        "report",
        bundle.to_str().unwrap(),
        "--cve-feed",
        feed.to_str().unwrap(),
        "--out",
        s.path("r").to_str().unwrap(),
    ]);
    assert_fails(&out, 4, "CVE feed");
}
