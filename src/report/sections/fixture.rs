//! A small hop for the section tests, built in process: v1.29.6 to v1.30.2 with a
//! back-out set, an etcd change, CoreDNS carried by both versions, one binary and a
//! checklist of every phase; hop facts with one removed API; a two-node cluster dump.

use serde_json::json;

use crate::cluster::Dump;
use crate::lock::HopFacts;
use crate::manifest::BundleManifest;

/// `sha256:` and 64 hex digits made of `c`.
pub(super) fn digest(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

fn carried(c: char, media_type: &str, size: u64) -> serde_json::Value {
    json!({"digest": digest(c), "media_type": media_type, "size": size})
}

/// An image of one platform: its served index (100 bytes), one manifest (10), one
/// config (1) and one layer (`layer` bytes).
fn image(name: &str, role: Option<&str>, c: char, layer: u64) -> serde_json::Value {
    let index = carried(c, "application/vnd.oci.image.index.v1+json", 100);
    json!({
        "name": name, "role": role, "platforms": ["linux/amd64"],
        "source": index, "served_as": "index", "served": index,
        "manifests": [carried('8', "application/vnd.oci.image.manifest.v1+json", 10)],
        "blobs": [
            carried('c', "application/vnd.oci.image.config.v1+json", 1),
            carried('7', "application/vnd.oci.image.layer.v1.tar+gzip", layer),
        ],
    })
}

fn entry(path: &str, c: char, size: u64, media_type: &str) -> serde_json::Value {
    json!({"path": path, "size": size, "sha256": c.to_string().repeat(64), "media_type": media_type})
}

fn step(id: &str, phase: &str) -> serde_json::Value {
    json!({"id": id, "phase": phase, "title": format!("step {id}"), "commands": [format!("run {id}")]})
}

/// The hop's manifest.
pub(super) fn manifest() -> BundleManifest {
    let m = json!({
        "format": 1, "kind": "airlock-bundle",
        "hop": {"from": "v1.29.6", "to": "v1.30.2"},
        "not_before": "2026-12-01T08:00:00Z", "expires": "2026-12-04T08:00:00Z",
        "channel": "site-a", "sequence": 7,
        "lock_sha256": "0".repeat(64), "notes": [],
        "payload": {"file": "payload.tar.zst", "size": 5000, "sha256": "a".repeat(64), "tar_size": 6144},
        "entries": [
            entry("oci-layout", '1', 30, "application/vnd.oci.layout.header.v1+json"),
            entry(&format!("blobs/sha256/{}", "2".repeat(64)), '2', 4000, "application/vnd.oci.image.layer.v1.tar+gzip"),
            entry(&format!("blobs/sha256/{}", "3".repeat(64)), '3', 20, "application/vnd.oci.image.config.v1+json"),
            entry(&format!("files/sha256/{}", "4".repeat(64)), '4', 1000, "application/vnd.airlock.file.binary"),
        ],
        "images": [
            image("registry.k8s.io/coredns/coredns:v1.11.1", Some("target"), 'd', 50),
            image("registry.k8s.io/etcd:3.5.10-0", Some("current-etcd"), 'e', 60),
            image("registry.k8s.io/etcd:3.5.12-0", Some("target"), 'f', 70),
            image("registry.k8s.io/kube-apiserver:v1.29.6", Some("backout"), 'a', 80),
            image("registry.k8s.io/kube-apiserver:v1.30.2", Some("target"), 'b', 90),
        ],
        "files": [{
            "name": "kubeadm", "target": "bin/v1.30.2/linux/amd64/kubeadm", "mode": "0755",
            "sha256": "4".repeat(64), "size": 1000, "kind": "binary",
            "source": "https://dl.k8s.io/release/v1.30.2/bin/linux/amd64/kubeadm",
        }],
        "checklist": [
            step("pre.snapshot", "pre"), step("cp1.apply", "cp1"), step("post.nodes", "post"),
            step("workers.drain", "workers"), step("backout.restore", "backout"),
        ],
    });
    serde_json::from_value(m).expect("the fixture is a manifest")
}

/// The hop's facts: CronJob batch/v1beta1 removed, kubelet three minors behind at most,
/// one uncertain catalog value.
pub(super) fn facts() -> HopFacts {
    serde_json::from_value(json!({
        "removed_apis": [{"group_version": "batch/v1beta1", "kinds": ["CronJob"],
                          "replacement": "batch/v1", "removed_in": "1.25"}],
        "kubelet_max_minors_older": 3, "kube_proxy_max_minors_older": 3,
        "target_end_of_life": "2025-07-15",
        "uncertain": ["etcd pin of v1.30.2"],
    }))
    .expect("the fixture is hop facts")
}

/// Two nodes (one kubelet four minors behind the target) and a CronJob still applied as
/// batch/v1beta1.
pub(super) fn dump() -> Dump {
    let doc = json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "cp-1"},
         "status": {"nodeInfo": {"kubeletVersion": "v1.29.6", "kubeProxyVersion": "v1.29.6"}}},
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "worker-old"},
         "status": {"nodeInfo": {"kubeletVersion": "v1.26.3", "kubeProxyVersion": "v1.26.3"}}},
        {"apiVersion": "batch/v1beta1", "kind": "CronJob", "metadata": {"name": "nightly", "namespace": "shop"}},
    ]});
    let mut d = Dump::default();
    d.add_json_reader(doc.to_string().as_bytes(), "dump.json")
        .expect("the fixture is a dump");
    d
}
