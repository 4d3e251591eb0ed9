//! Helm charts for tests, built offline: a chart archive laid out as `helm package`
//! writes it (`NAME/Chart.yaml`, `NAME/values.yaml`, `NAME/templates/...`, gzip'd tar),
//! pushed into a real registry as an OCI artifact with Helm's media types through the
//! distribution API (blob uploads, then the manifest by tag, as `helm push` does), or
//! served as a chart repository (`index.yaml` beside the archives) by a file server.

use std::io::Write;
use std::path::Path;

use super::images::{sha256_digest, sha256_hex};
use super::servers::http_request;

/// Helm's config media type.
pub const HELM_CONFIG: &str = "application/vnd.cncf.helm.config.v1+json";
/// Helm's chart layer media type.
pub const HELM_CHART: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";

/// A chart archive: `files` are (path below `NAME/`, content), written in order with
/// fixed headers (mtime 0, mode 0644), gzip level 6: the same input gives the same bytes.
pub fn chart_tgz(name: &str, files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (rel, content) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_path(format!("{name}/{rel}"))
            .expect("chart entry path");
        h.set_cksum();
        b.append(&h, *content).expect("append chart entry");
    }
    let tar = b.into_inner().expect("finish chart tar");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    gz.write_all(&tar).expect("gzip chart");
    gz.finish().expect("finish gzip")
}

/// The config blob `helm push` writes: the Chart.yaml metadata as JSON.
pub fn chart_config(name: &str, version: &str, app_version: &str, kube_version: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "name": name,
        "version": version,
        "description": format!("{name} chart (airlock test)"),
        "apiVersion": "v2",
        "appVersion": app_version,
        "kubeVersion": kube_version,
        "type": "application",
    }))
    .expect("config json")
}

fn upload_blob(host: &str, repo: &str, bytes: &[u8]) -> String {
    let digest = sha256_digest(bytes);
    let start = http_request(
        host,
        "POST",
        &format!("/v2/{repo}/blobs/uploads/"),
        &[],
        &[],
    )
    .unwrap_or_else(|e| panic!("start upload: {e}"));
    assert_eq!(start.status, 202, "start upload: {}", start.text());
    let location = start
        .header("Location")
        .expect("upload location")
        .to_string();
    // The registry answers with an absolute URL; the client here sends paths.
    let path = match location.split_once("://") {
        Some((_, rest)) => rest
            .find('/')
            .map(|i| rest[i..].to_string())
            .unwrap_or_default(),
        None => location.clone(),
    };
    let sep = if path.contains('?') { '&' } else { '?' };
    let done = http_request(
        host,
        "PUT",
        &format!("{path}{sep}digest={digest}"),
        &[("Content-Type", "application/octet-stream")],
        bytes,
    )
    .unwrap_or_else(|e| panic!("finish upload: {e}"));
    assert_eq!(done.status, 201, "finish upload: {}", done.text());
    digest
}

/// Push `tgz` as `HOST/REPO:TAG` the way `helm push` lays it out: the config blob, the
/// chart layer, then an OCI image manifest naming them with Helm's media types. Returns
/// the manifest digest and its bytes.
pub fn push_chart(
    host: &str,
    repo: &str,
    tag: &str,
    config: &[u8],
    tgz: &[u8],
) -> (String, Vec<u8>) {
    let config_digest = upload_blob(host, repo, config);
    let layer_digest = upload_blob(host, repo, tgz);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": HELM_CONFIG, "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": HELM_CHART, "digest": layer_digest, "size": tgz.len()}],
        "annotations": {
            "org.opencontainers.image.title": repo.rsplit('/').next().unwrap_or(repo),
            "org.opencontainers.image.version": tag,
        },
    }))
    .expect("manifest json");
    let resp = http_request(
        host,
        "PUT",
        &format!("/v2/{repo}/manifests/{tag}"),
        &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
        &manifest,
    )
    .unwrap_or_else(|e| panic!("push manifest: {e}"));
    assert_eq!(resp.status, 201, "push manifest: {}", resp.text());
    let digest = sha256_digest(&manifest);
    assert_eq!(resp.header("Docker-Content-Digest"), Some(digest.as_str()));
    (digest, manifest)
}

/// Write a chart repository into `dir`: each (name, version, archive) as
/// `NAME-VERSION.tgz` and an `index.yaml` listing them with their sha256, as `helm repo
/// index` writes it (relative URLs). Returns the hex sha256 of each archive, in order.
pub fn chart_repo(dir: &Path, charts: &[(&str, &str, &[u8])]) -> Vec<String> {
    std::fs::create_dir_all(dir).expect("create repo dir");
    let mut index = String::from("apiVersion: v1\nentries:\n");
    let mut sums = Vec::new();
    let mut names: Vec<&str> = charts.iter().map(|c| c.0).collect();
    names.dedup();
    for name in names {
        index.push_str(&format!("  {name}:\n"));
        for (n, version, tgz) in charts.iter().filter(|c| c.0 == name) {
            let file = format!("{n}-{version}.tgz");
            std::fs::write(dir.join(&file), tgz).expect("write archive");
            let hex = sha256_hex(tgz);
            index.push_str(&format!(
                "  - apiVersion: v2\n    name: {n}\n    version: {version}\n    created: \"2026-11-20T10:00:00Z\"\n    digest: {hex}\n    urls:\n    - {file}\n"
            ));
            sums.push(hex);
        }
    }
    index.push_str("generated: \"2026-11-20T10:00:00Z\"\n");
    std::fs::write(dir.join("index.yaml"), index).expect("write index.yaml");
    sums
}
