//! Helm release Secrets: where a chart's objects keep the API versions they were
//! installed with. A live `kubectl get` shows objects in the server's preferred version,
//! but Helm 3 stores each release (`sh.helm.release.v1.NAME.vN`, type
//! `helm.sh/release.v1`) as JSON whose `manifest` is the rendered YAML it applied: the
//! Secret's `data.release` is, inside the Secret's own base64, base64 text of the gzip of
//! that JSON (Helm's `pkg/storage/driver/util.go`, `encodeRelease`/`decodeRelease`; a
//! release that does not start with the gzip magic is read as plain JSON, as Helm does).
//!
//! The input is untrusted and compressed: the decompressed JSON is read through a bound
//! ([`MAX_RELEASE_JSON_BYTES`]) so a gzip bomb stops there, and the manifest is scanned
//! line by line for each document's `apiVersion`, `kind` and `metadata.name`/`namespace`
//! (what Helm renders from templates is YAML in block style; a document written otherwise
//! is skipped, not guessed).

use std::io::Read;

use base64::Engine;
use serde::Deserialize;

use crate::error::{Error, Result};

/// The Secret `type` Helm 3 gives release Secrets.
pub const RELEASE_SECRET_TYPE: &str = "helm.sh/release.v1";

/// Largest decompressed release JSON read. Helm keeps a release in one Secret (under
/// etcd's 1.5 MiB request limit), so its JSON is a few MiB at most even for charts with
/// large files; past this the release is refused as a likely gzip bomb.
pub const MAX_RELEASE_JSON_BYTES: u64 = 32 * 1024 * 1024;

/// One object of a release's manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestObject {
    /// `apiVersion` as the chart rendered it.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, when the template set one.
    pub namespace: Option<String>,
}

/// A decoded release: its identity and the objects its manifest holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// The release name.
    pub name: String,
    /// The namespace it was installed into (objects without their own go there).
    pub namespace: String,
    /// The revision.
    pub version: u64,
    /// Every object of the manifest.
    pub objects: Vec<ManifestObject>,
}

#[derive(Deserialize)]
struct RawRelease {
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    version: u64,
    #[serde(default)]
    manifest: String,
}

/// Decode a release Secret's `data.release` (as it appears in `kubectl get secret -o
/// json`: base64 of Helm's own base64). `origin` names the dump file in errors.
pub fn decode_secret_value(value: &str, origin: &str) -> Result<Release> {
    let bad = |reason: String| Error::invalid("Helm release Secret", origin, reason);
    let b64 = base64::engine::general_purpose::STANDARD;
    let inner = b64
        .decode(value.trim())
        .map_err(|e| bad(format!("data.release is not base64: {e}")))?;
    let packed = b64
        .decode(inner.trim_ascii())
        .map_err(|e| bad(format!("the release is not Helm's base64 text: {e}")))?;
    decode_release(&packed, origin)
}

/// Decode Helm's stored release bytes (gzip of JSON, or JSON), bounded.
pub fn decode_release(packed: &[u8], origin: &str) -> Result<Release> {
    let bad = |reason: String| Error::invalid("Helm release Secret", origin, reason);
    let mut json = Vec::new();
    let limit = MAX_RELEASE_JSON_BYTES + 1;
    let read = if packed.starts_with(&[0x1f, 0x8b, 0x08]) {
        flate2::read::GzDecoder::new(packed)
            .take(limit)
            .read_to_end(&mut json)
    } else {
        packed.take(limit).read_to_end(&mut json)
    };
    read.map_err(|e| bad(format!("the release does not decompress: {e}")))?;
    if json.len() as u64 > MAX_RELEASE_JSON_BYTES {
        return Err(bad(format!(
            "the release decompresses to more than {MAX_RELEASE_JSON_BYTES} bytes"
        )));
    }
    let raw: RawRelease = serde_json::from_slice(&json)
        .map_err(|e| bad(format!("the release is not Helm's release JSON: {e}")))?;
    Ok(Release {
        objects: manifest_objects(&raw.manifest),
        name: raw.name,
        namespace: raw.namespace,
        version: raw.version,
    })
}

/// The objects of a rendered manifest (YAML documents separated by `---` lines).
pub fn manifest_objects(manifest: &str) -> Vec<ManifestObject> {
    let mut out = Vec::new();
    let mut doc: Vec<&str> = Vec::new();
    for line in manifest.lines() {
        if line.starts_with("---") {
            out.extend(scan_document(&doc));
            doc.clear();
        } else {
            doc.push(line);
        }
    }
    out.extend(scan_document(&doc));
    out
}

/// A plain scalar or a quoted one, without a trailing comment.
fn scalar(raw: &str) -> Option<String> {
    let v = raw.trim();
    let v = match v.as_bytes().first() {
        Some(b'"') | Some(b'\'') => {
            let q = v.as_bytes()[0] as char;
            let end = v[1..].find(q)?;
            &v[1..1 + end]
        }
        _ => v.split(" #").next().unwrap_or("").trim(),
    };
    (!v.is_empty()).then(|| v.to_string())
}

/// `apiVersion`, `kind` and `metadata.name`/`namespace` of one block-style document.
fn scan_document(lines: &[&str]) -> Option<ManifestObject> {
    let (mut api, mut kind, mut name, mut ns) = (None, None, None, None);
    let mut in_meta = false;
    let mut meta_indent: Option<usize> = None;
    for line in lines {
        let body = line.trim_start();
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        let indent = line.len() - body.len();
        if indent == 0 {
            in_meta = body.trim_end() == "metadata:";
            if let Some(r) = body.strip_prefix("apiVersion:") {
                api = scalar(r);
            } else if let Some(r) = body.strip_prefix("kind:") {
                kind = scalar(r);
            }
            continue;
        }
        if !in_meta {
            continue;
        }
        // Only metadata's own keys: the first indented key sets the level.
        let level = *meta_indent.get_or_insert(indent);
        if indent != level {
            continue;
        }
        if let Some(r) = body.strip_prefix("name:") {
            name = scalar(r);
        } else if let Some(r) = body.strip_prefix("namespace:") {
            ns = scalar(r);
        }
    }
    Some(ManifestObject {
        api_version: api?,
        kind: kind?,
        name: name.unwrap_or_default(),
        namespace: ns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A release as Helm's `encodeRelease` writes it, then as the Secret's data shows it.
    fn secret_value(release: &serde_json::Value) -> String {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(release.to_string().as_bytes()).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD;
        b64.encode(b64.encode(gz.finish().unwrap()))
    }

    #[test]
    fn a_release_secret_gives_its_manifests_objects() {
        let manifest = "---\n# Source: app/templates/cron.yaml\napiVersion: batch/v1beta1\nkind: CronJob\n\
            metadata:\n  name: \"nightly\" # comment\n  labels:\n    name: not-this\n  namespace: jobs\n\
            spec:\n  schedule: '@daily'\n---\n# Source: app/templates/svc.yaml\napiVersion: v1\nkind: Service\n\
            metadata:\n  name: web\n---\n\n";
        let v = secret_value(&serde_json::json!({
            "name": "app", "namespace": "prod", "version": 3, "manifest": manifest,
            "chart": {"metadata": {"name": "app"}}
        }));
        let r = decode_secret_value(&v, "secrets.json").unwrap();
        assert_eq!(
            (r.name.as_str(), r.namespace.as_str(), r.version),
            ("app", "prod", 3)
        );
        assert_eq!(
            r.objects,
            vec![
                ManifestObject {
                    api_version: "batch/v1beta1".into(),
                    kind: "CronJob".into(),
                    name: "nightly".into(),
                    namespace: Some("jobs".into()),
                },
                ManifestObject {
                    api_version: "v1".into(),
                    kind: "Service".into(),
                    name: "web".into(),
                    namespace: None,
                },
            ]
        );
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_bound() {
        // 40 MiB of zeros compress to about 40 KiB.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1024 * 1024];
        for _ in 0..40 {
            gz.write_all(&zeros).unwrap();
        }
        let packed = gz.finish().unwrap();
        assert!(packed.len() < 1024 * 1024);
        let e = decode_release(&packed, "bomb.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("bomb.json") && e.contains("more than"), "{e}");
        let e = decode_secret_value("%%%", "x.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not base64"), "{e}");
    }

    proptest::proptest! {
        #[test]
        fn decoding_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400),
                                 text in "\\PC{0,300}") {
            let _ = decode_release(&bytes, "p");
            let _ = decode_secret_value(&text, "p");
            let _ = manifest_objects(&text);
        }

        /// Whatever a scanned document names, it comes from that document's lines.
        #[test]
        fn scanned_values_are_taken_from_the_text(name in "[a-z0-9-]{1,20}", gv in "[a-z./0-9]{1,20}") {
            let m = format!("apiVersion: {gv}\nkind: K\nmetadata:\n  name: {name}\n");
            let o = manifest_objects(&m);
            proptest::prop_assert_eq!(o.len(), 1);
            proptest::prop_assert_eq!(&o[0].name, &name);
            proptest::prop_assert_eq!(&o[0].api_version, &gv);
        }
    }
}
