//! The parts of the OCI image and distribution specs airlock reads: media types,
//! descriptors, manifests and indexes (Docker's v2 schema 2 equivalents included).
//!
//! Manifests are kept as the exact bytes upstream served (their digest is their identity);
//! these types are only a read-only view used to walk from an index to its layers.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::digest::Sha256Digest;
use crate::error::{Error, Result};

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

/// An OCI platform: `os/architecture[/variant]`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Platform {
    /// `linux`
    pub os: String,
    /// `amd64`, `arm64`, ...
    pub architecture: String,
    /// `v8`, `v7`, ...
    pub variant: Option<String>,
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}
impl fmt::Debug for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
/// Text that is not `os/architecture[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("platform {found:?}: expected os/architecture[/variant], e.g. linux/amd64")]
pub struct PlatformError {
    /// The text given.
    pub found: String,
}

impl FromStr for Platform {
    type Err = PlatformError;
    fn from_str(s: &str) -> std::result::Result<Self, PlatformError> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok = |p: &str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        };
        if !(2..=3).contains(&parts.len()) || !parts.iter().all(|p| ok(p)) {
            return Err(PlatformError {
                found: s.to_owned(),
            });
        }
        Ok(Platform {
            os: parts[0].into(),
            architecture: parts[1].into(),
            variant: parts.get(2).map(|v| v.to_string()),
        })
    }
}
impl Serialize for Platform {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
impl<'de> Deserialize<'de> for Platform {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// True when `have` satisfies `want` (a wanted platform without a variant accepts any).
pub fn platform_matches(want: &Platform, have: &Platform) -> bool {
    want.os == have.os
        && want.architecture == have.architecture
        && (want.variant.is_none() || want.variant == have.variant)
}

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
        let bad = |reason: String| Error::invalid("image manifest", what, reason);
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
    Sha256Digest::parse(&d.digest).map_err(|e| {
        Error::invalid(
            "image manifest",
            what,
            format!("descriptor digest: {e} (only sha256 is supported)"),
        )
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_index_and_manifest() {
        let idx = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad","size":10,"platform":{"os":"linux","architecture":"amd64"}}]}"#;
        let doc = ManifestDoc::parse(idx, "t", None).unwrap();
        assert!(matches!(doc, ManifestDoc::Index { ref manifests, .. } if manifests.len() == 1));
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
