//! Cluster dumps as `kubectl ... -o json` prints them, with objects on removed APIs in
//! every place the check reads: the last-applied annotation, a Helm release Secret
//! (written the way Helm writes it: gzip of the release JSON, base64, inside the Secret's
//! own base64) and a saved `/metrics` scrape.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use serde_json::{Value, json};

/// A Helm 3 release Secret (`sh.helm.release.v1.NAME.vN`) whose manifest is `manifest`.
pub fn helm_release_secret(name: &str, ns: &str, version: u64, manifest: &str) -> Value {
    let release = json!({"name": name, "namespace": ns, "version": version,
        "info": {"status": "deployed"}, "chart": {"metadata": {"name": name}}, "manifest": manifest});
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(release.to_string().as_bytes()).expect("gzip");
    let b64 = base64::engine::general_purpose::STANDARD;
    let helm = b64.encode(gz.finish().expect("gzip"));
    json!({"apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
        "metadata": {"name": format!("sh.helm.release.v1.{name}.v{version}"), "namespace": ns,
                     "labels": {"owner": "helm", "name": name}},
        "data": {"release": b64.encode(helm)}})
}

/// An object, with a last-applied annotation naming `applied` when given.
pub fn object(api: &str, kind: &str, ns: &str, name: &str, applied: Option<&str>) -> Value {
    let mut o =
        json!({"apiVersion": api, "kind": kind, "metadata": {"name": name, "namespace": ns}});
    if let Some(a) = applied {
        let text = json!({"apiVersion": a, "kind": kind, "metadata": {"name": name}}).to_string();
        o["metadata"]["annotations"] =
            json!({"kubectl.kubernetes.io/last-applied-configuration": text});
    }
    o
}

/// One `apiserver_requested_deprecated_apis` sample line.
pub fn requested(group: &str, version: &str, resource: &str, removed: &str) -> String {
    format!(
        "apiserver_requested_deprecated_apis{{group=\"{group}\",removed_release=\"{removed}\",resource=\"{resource}\",subresource=\"\",version=\"{version}\"}} 1\n"
    )
}

/// Write `items` as a `kubectl get -o json` List to `dir/file`.
pub fn write_list(dir: &Path, file: &str, items: Vec<Value>) {
    std::fs::create_dir_all(dir).expect("dump dir");
    let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
    std::fs::write(dir.join(file), list.to_string()).expect("write dump");
}

/// `(object name, version used, source)` of every finding in a report's JSON.
pub fn findings(report: &Value) -> Vec<(String, String, String)> {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    report["apis"]["in_use"]["items"]
        .as_array()
        .expect("apis.in_use.items")
        .iter()
        .map(|f| (s(&f["object"]["name"]), s(&f["uses"]), s(&f["seen_in"])))
        .collect()
}
