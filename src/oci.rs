//! The parts of the OCI image and distribution specs airlock reads: media types,
//! descriptors, manifests and indexes (Docker's v2 schema 2 equivalents included).
//!
//! Manifests are kept as the exact bytes upstream served (their digest is their identity);
//! these types are only a read-only view used to walk from an index to its layers.

use serde::Deserialize;

use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::lock::Platform;

/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Docker manifest list (v2 schema 2).
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image manifest (v2 schema 2).
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// The media types airlock accepts when pulling a manifest by digest.
pub const ACCEPTED_MANIFEST_TYPES: &[&str] =
    &[OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST];
/// Largest manifest accepted (the distribution spec suggests registries accept at least 4 MiB).
pub const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;

/// True for index and list media types.
pub fn is_index_type(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_LIST
}

/// True for any manifest or index media type.
pub fn is_manifest_type(media_type: &str) -> bool {
    ACCEPTED_MANIFEST_TYPES.contains(&media_type)
}

/// A content descriptor.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    pub media_type: String,
    /// Its digest.
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
    /// For index entries: the platform.
    #[serde(default)]
    pub platform: Option<PlatformJson>,
}

/// The platform object of an index entry.
#[derive(Debug, Clone, Deserialize)]
pub struct PlatformJson {
    /// `linux`
    pub os: String,
    /// `amd64`
    pub architecture: String,
    /// `v8`
    #[serde(default)]
    pub variant: Option<String>,
}

impl PlatformJson {
    /// As airlock's [`Platform`].
    pub fn to_platform(&self) -> Platform {
        Platform {
            os: self.os.clone(),
            architecture: self.architecture.clone(),
            variant: self.variant.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDoc {
    schema_version: Option<u32>,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
}

/// A parsed manifest or index.
#[derive(Debug, Clone)]
pub enum ManifestDoc {
    /// An image index / manifest list.
    Index {
        /// Its media type.
        media_type: String,
        /// The platform manifests (and anything else) it lists.
        manifests: Vec<Descriptor>,
    },
    /// A single-platform image manifest.
    Image {
        /// Its media type.
        media_type: String,
        /// The config blob.
        config: Descriptor,
        /// The layers.
        layers: Vec<Descriptor>,
    },
}

impl ManifestDoc {
    /// Parse manifest bytes; `what` names them in errors. `hint` is the media type the
    /// registry or parent descriptor declared, used when the document omits `mediaType`.
    pub fn parse(bytes: &[u8], what: &str, hint: Option<&str>) -> Result<Self> {
        let bad = |reason: String| Error::Registry {
            reference: what.to_string(),
            reason,
        };
        let raw: RawDoc = serde_json::from_slice(bytes)
            .map_err(|e| bad(format!("manifest is not valid JSON: {e}")))?;
        if raw.schema_version != Some(2) {
            return Err(bad(format!(
                "schemaVersion {:?} is not supported (only 2; Docker schema 1 is obsolete)",
                raw.schema_version
            )));
        }
        let media_type = match (&raw.media_type, hint) {
            (Some(m), Some(h)) if is_manifest_type(h) && m != h => {
                return Err(bad(format!("mediaType {m} differs from the declared {h}")));
            }
            (Some(m), _) => m.clone(),
            (None, Some(h)) if is_manifest_type(h) => h.to_string(),
            (None, _) if raw.manifests.is_some() => OCI_INDEX.to_string(),
            (None, _) => OCI_MANIFEST.to_string(),
        };
        if is_index_type(&media_type) {
            let manifests = raw
                .manifests
                .ok_or_else(|| bad("index without a manifests list".into()))?;
            for m in &manifests {
                check_descriptor(m, what)?;
            }
            Ok(ManifestDoc::Index {
                media_type,
                manifests,
            })
        } else if media_type == OCI_MANIFEST || media_type == DOCKER_MANIFEST {
            let config = raw
                .config
                .ok_or_else(|| bad("manifest without a config".into()))?;
            let layers = raw.layers.unwrap_or_default();
            check_descriptor(&config, what)?;
            for l in &layers {
                check_descriptor(l, what)?;
            }
            Ok(ManifestDoc::Image {
                media_type,
                config,
                layers,
            })
        } else {
            Err(bad(format!("unsupported manifest media type {media_type}")))
        }
    }

    /// The document's media type.
    pub fn media_type(&self) -> &str {
        match self {
            ManifestDoc::Index { media_type, .. } | ManifestDoc::Image { media_type, .. } => {
                media_type
            }
        }
    }
}

fn check_descriptor(d: &Descriptor, what: &str) -> Result<()> {
    Sha256Digest::parse(&d.digest).map_err(|e| Error::Registry {
        reference: what.to_string(),
        reason: format!("descriptor digest: {e} (only sha256 is supported)"),
    })?;
    Ok(())
}

/// Build an index that lists only `keep` of `original`'s manifests: used when a bundle
/// carries some platforms of a multi-platform image, because a registry refuses an index
/// whose children it does not hold. Deterministic: the entries keep their original order
/// and bytes; keys are sorted; no whitespace. An annotation names the upstream index.
pub fn subset_index(
    original: &[u8],
    source_digest: &Sha256Digest,
    keep: &[Sha256Digest],
) -> Result<Vec<u8>> {
    let mut v: serde_json::Value =
        serde_json::from_slice(original).map_err(|e| Error::Registry {
            reference: source_digest.to_string(),
            reason: format!("index is not valid JSON: {e}"),
        })?;
    let obj = v.as_object_mut().ok_or_else(|| Error::Registry {
        reference: source_digest.to_string(),
        reason: "index is not a JSON object".into(),
    })?;
    if let Some(serde_json::Value::Array(list)) = obj.get_mut("manifests") {
        list.retain(|m| {
            m.get("digest")
                .and_then(|d| d.as_str())
                .and_then(|d| Sha256Digest::parse(d).ok())
                .is_some_and(|d| keep.contains(&d))
        });
    }
    let ann = obj
        .entry("annotations")
        .or_insert_with(|| serde_json::Value::Object(Default::default()));
    if let Some(a) = ann.as_object_mut() {
        a.insert(
            "io.airlock.subset-of".into(),
            serde_json::Value::String(source_digest.to_string()),
        );
    }
    // serde_json's map is ordered by key, so this output is canonical.
    serde_json::to_vec(&v).map_err(|e| Error::Registry {
        reference: source_digest.to_string(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_index_and_manifest() {
        let idx = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad","size":10,"platform":{"os":"linux","architecture":"amd64"}}]}"#;
        let doc = ManifestDoc::parse(idx, "t", None).unwrap();
        assert!(matches!(doc, ManifestDoc::Index { ref manifests, .. } if manifests.len() == 1));
        let sub = subset_index(idx, &Sha256Digest::of(idx), &[]).unwrap();
        let again = ManifestDoc::parse(&sub, "t", None).unwrap();
        assert!(matches!(again, ManifestDoc::Index { ref manifests, .. } if manifests.is_empty()));
        assert_eq!(sub, subset_index(idx, &Sha256Digest::of(idx), &[]).unwrap());
    }

    #[test]
    fn rejects_schema1_and_bad_digests() {
        assert!(ManifestDoc::parse(br#"{"schemaVersion":1}"#, "t", None).is_err());
        let m = br#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"md5:00","size":1},"layers":[]}"#;
        assert!(ManifestDoc::parse(m, "t", None).is_err());
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = ManifestDoc::parse(&bytes, "p", None);
        }
    }
}
