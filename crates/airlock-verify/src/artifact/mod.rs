//! A bundle as an OCI artifact, so it can travel through a registry (and its replication)
//! to every site of a fleet: `publish` pushes it, `fetch` pulls it back into a directory
//! that verifies exactly as the original did.
//!
//! The artifact is an OCI image manifest with `artifactType`
//! `application/vnd.airlock.bundle.v1`, the empty config (`{}`,
//! `application/vnd.oci.empty.v1+json`), and one layer per bundle file, in bundle
//! order: `manifest.json`, each `signatures/*.minisig`, `SHA256SUMS`, `payload.tar.zst`
//! (or its volumes and parity volumes, one layer each).
//! Each layer's `org.opencontainers.image.title` annotation is the file's path in the
//! bundle (as `oras pull` expects) and its media type says which file it is.
//!
//! The registry is not trusted: a fetched artifact is only a way to get files. Its
//! manifest is parsed strictly, every title must be one of the names a bundle file can
//! have ([`BundleFile`]), every layer is checked against its digest and size while it is
//! written, and then the directory is verified like any other bundle.

pub mod fetch;
pub mod publish;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::escape::Untrusted;
use crate::image_ref::ImageRef;
use crate::layout::{BundleFile, DocPath, MAX_SUMS_BYTES};
use crate::manifest::MAX_MANIFEST_JSON_BYTES;
use crate::oci::OCI_MANIFEST;
use crate::trust::SIGNATURE_MAX_BYTES;
use crate::verify::MAX_SIGNATURES;

/// The artifact type of a bundle.
pub const ARTIFACT_TYPE: &str = "application/vnd.airlock.bundle.v1";
/// The OCI empty descriptor's media type, used as the config.
pub const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
/// The empty config's content.
pub const EMPTY_CONFIG: &[u8] = b"{}";
/// The annotation naming a layer's file.
pub const TITLE: &str = "org.opencontainers.image.title";
/// The annotation carrying the bundle's identity (sha256 of `manifest.json`).
pub const MANIFEST_SHA256: &str = "io.airlock.bundle.manifest-sha256";
/// The annotation carrying the hop, `FROM->TO`.
pub const HOP: &str = "io.airlock.bundle.hop";

/// The layer media type of a bundle file.
pub fn media_type(f: &BundleFile) -> &'static str {
    match f {
        BundleFile::Manifest => "application/vnd.airlock.bundle.manifest.v1+json",
        BundleFile::Signature(_) => "application/vnd.airlock.bundle.signature.v1",
        BundleFile::Timestamp(_) => "application/vnd.airlock.bundle.timestamp.v1",
        BundleFile::Sums => "application/vnd.airlock.bundle.sums.v1",
        BundleFile::Payload => "application/vnd.airlock.bundle.payload.v1.tar+zstd",
        BundleFile::Document(d) => d.media_type(),
        BundleFile::Evidence(_) => "application/vnd.airlock.bundle.provenance.v1+json",
        BundleFile::Volume(crate::layout::VolumeName::Data(_)) => {
            "application/vnd.airlock.bundle.payload-volume.v1"
        }
        BundleFile::Volume(crate::layout::VolumeName::Parity(_)) => {
            "application/vnd.airlock.bundle.parity-volume.v1"
        }
    }
}

/// The largest a signed document (report, SBOM) fetched before verification may be.
pub const MAX_DOCUMENT_BYTES: u64 = 256 << 20;

/// The largest a bundle file may be (the limits the verifier reads them with).
pub fn max_size(f: &BundleFile) -> u64 {
    match f {
        BundleFile::Manifest => MAX_MANIFEST_JSON_BYTES,
        BundleFile::Signature(_) => SIGNATURE_MAX_BYTES as u64,
        BundleFile::Timestamp(_) => crate::trust::timestamp::TIMESTAMP_MAX_BYTES as u64,
        BundleFile::Sums => MAX_SUMS_BYTES,
        BundleFile::Payload => u64::MAX,
        BundleFile::Document(_) => MAX_DOCUMENT_BYTES,
        // A trusted root is the largest evidence file.
        BundleFile::Evidence(_) => airlock_provenance::MAX_TRUSTED_ROOT as u64,
        BundleFile::Volume(_) => crate::media::size::MAX_VOLUME_SIZE,
    }
}

/// One bundle file as a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactFile {
    /// Which file.
    pub file: BundleFile,
    /// Its sha256.
    pub digest: Sha256Digest,
    /// Its size.
    pub size: u64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Manifest {
    schema_version: u32,
    media_type: String,
    artifact_type: String,
    config: Descriptor,
    layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Descriptor {
    media_type: String,
    digest: Sha256Digest,
    size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    data: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

/// The empty config descriptor (with its content inline, as the image spec suggests).
fn empty_config() -> Descriptor {
    Descriptor {
        media_type: EMPTY_MEDIA_TYPE.into(),
        digest: Sha256Digest::of(EMPTY_CONFIG),
        size: EMPTY_CONFIG.len() as u64,
        data: Some("e30=".into()),
        annotations: BTreeMap::new(),
    }
}

/// The artifact manifest for `files` (in bundle order), compact JSON: the same bundle
/// always gives the same bytes, and so the same digest.
pub fn manifest_bytes(files: &[ArtifactFile], annotations: BTreeMap<String, String>) -> Vec<u8> {
    let layers = files
        .iter()
        .map(|f| Descriptor {
            media_type: media_type(&f.file).into(),
            digest: f.digest,
            size: f.size,
            data: None,
            annotations: BTreeMap::from([(TITLE.to_string(), f.file.to_string())]),
        })
        .collect();
    let m = Manifest {
        schema_version: 2,
        media_type: OCI_MANIFEST.into(),
        artifact_type: ARTIFACT_TYPE.into(),
        config: empty_config(),
        layers,
        annotations,
    };
    // Serializing strings and numbers cannot fail.
    serde_json::to_vec(&m).unwrap_or_default()
}

/// Parse an artifact manifest from a registry (`what` names it in errors) into the files
/// it carries. Refuses anything that is not exactly a bundle: another artifact type,
/// unknown fields, a title that is not a bundle file name, a media type that does not
/// match the title, a size over the verifier's limit, a file twice or missing.
pub fn parse_manifest(bytes: &[u8], what: &str) -> Result<Vec<ArtifactFile>> {
    let bad = |reason: String| Error::invalid("bundle artifact", what, reason);
    let m: Manifest = serde_json::from_slice(bytes)
        .map_err(|e| bad(format!("not an airlock bundle artifact: {e}")))?;
    if m.schema_version != 2 || m.media_type != OCI_MANIFEST {
        return Err(bad(format!(
            "schemaVersion {} / mediaType {} is not an OCI image manifest",
            m.schema_version,
            Untrusted(&m.media_type)
        )));
    }
    if m.artifact_type != ARTIFACT_TYPE || m.config.media_type != EMPTY_MEDIA_TYPE {
        return Err(bad(format!(
            "artifactType {} is not {ARTIFACT_TYPE}",
            Untrusted(&m.artifact_type)
        )));
    }
    if m.layers.len() > MAX_SIGNATURES + 3 + DocPath::ALL.len() {
        return Err(bad(format!(
            "{} layers is more than a bundle has",
            m.layers.len()
        )));
    }
    let mut files = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, l) in m.layers.iter().enumerate() {
        let title = l.annotations.get(TITLE).map(String::as_str).unwrap_or("");
        let file = BundleFile::parse(title).ok_or_else(|| {
            bad(format!(
                "layer {i}: title {:?} is not a bundle file name",
                Untrusted(title)
            ))
        })?;
        if l.media_type != media_type(&file) {
            return Err(bad(format!(
                "layer {i} ({file}): media type {} is not {}",
                Untrusted(&l.media_type),
                media_type(&file)
            )));
        }
        if l.size > max_size(&file) {
            return Err(bad(format!(
                "layer {i} ({file}): {} bytes is more than the {}-byte limit",
                l.size,
                max_size(&file)
            )));
        }
        if !seen.insert(file.clone()) {
            return Err(bad(format!("{file} is in the artifact twice")));
        }
        files.push(ArtifactFile {
            file,
            digest: l.digest,
            size: l.size,
        });
    }
    for needed in [BundleFile::Manifest, BundleFile::Sums] {
        if !seen.contains(&needed) {
            return Err(bad(format!("has no {needed}")));
        }
    }
    // The payload travels as one file or as volumes (the first data volume at least);
    // which volumes the manifest needs is checked when the fetched bundle is verified.
    let first = BundleFile::Volume(crate::layout::VolumeName::Data(1));
    if !seen.contains(&BundleFile::Payload) && !seen.contains(&first) {
        return Err(bad(format!(
            "has no {} and no {first}",
            BundleFile::Payload
        )));
    }
    if !files
        .iter()
        .any(|f| matches!(f.file, BundleFile::Signature(_)))
    {
        return Err(bad("has no signature".into()));
    }
    Ok(files)
}

/// Parse `HOST[:PORT]/REPO[:TAG|@sha256:...]`, with the registry host written out (no
/// Docker Hub default: a fleet's registry is always named).
pub fn parse_target(s: &str, option: &'static str) -> Result<ImageRef> {
    let r = ImageRef::parse(s).map_err(|e| Error::invalid("option", option, e))?;
    if !s.starts_with(&format!("{}/", r.registry)) {
        return Err(Error::invalid(
            "option",
            option,
            format!(
                "{} names no registry; write HOST:PORT/REPO:TAG",
                Untrusted(s)
            ),
        ));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> Vec<ArtifactFile> {
        let f = |file: BundleFile, content: &[u8]| ArtifactFile {
            file,
            digest: Sha256Digest::of(content),
            size: content.len() as u64,
        };
        vec![
            f(BundleFile::Manifest, b"{}"),
            f(BundleFile::signature("ABC.minisig").unwrap(), b"sig"),
            f(BundleFile::Sums, b"sums"),
            f(BundleFile::Payload, b"payload"),
        ]
    }

    #[test]
    fn round_trips_and_is_deterministic() {
        let a = manifest_bytes(&files(), BTreeMap::new());
        assert_eq!(a, manifest_bytes(&files(), BTreeMap::new()));
        assert_eq!(parse_manifest(&a, "t").unwrap(), files());
        let v: serde_json::Value = serde_json::from_slice(&a).unwrap();
        assert_eq!(v["artifactType"], ARTIFACT_TYPE);
        assert_eq!(v["config"]["digest"], Sha256Digest::of(b"{}").to_string());
        assert_eq!(
            v["layers"][1]["annotations"][TITLE],
            "signatures/ABC.minisig"
        );
    }

    #[test]
    fn refuses_what_is_not_exactly_a_bundle() {
        let good = String::from_utf8(manifest_bytes(&files(), BTreeMap::new())).unwrap();
        let cases = [
            good.replace("signatures/ABC.minisig", "../../etc/cron.d/x"),
            good.replace("signatures/ABC.minisig", "signatures/../manifest.json"),
            good.replace("\"SHA256SUMS\"", "\"manifest.json\""),
            good.replace(ARTIFACT_TYPE, "application/vnd.other"),
            good.replace("application/vnd.airlock.bundle.sums.v1", "text/plain"),
            good.replace("\"layers\":[", "\"extra\":1,\"layers\":["),
            good.replace("\"SHA256SUMS\"", "\"signatures/B.minisig\""),
        ];
        for (i, c) in cases.iter().enumerate() {
            assert!(parse_manifest(c.as_bytes(), "t").is_err(), "case {i}: {c}");
        }
        let mut big = files();
        big[0].size = MAX_MANIFEST_JSON_BYTES + 1;
        assert!(parse_manifest(&manifest_bytes(&big, BTreeMap::new()), "t").is_err());
        let unsigned: Vec<_> = files()
            .into_iter()
            .filter(|f| !matches!(f.file, BundleFile::Signature(_)))
            .collect();
        let e = parse_manifest(&manifest_bytes(&unsigned, BTreeMap::new()), "t").unwrap_err();
        assert!(e.to_string().contains("no signature"), "{e}");
    }

    #[test]
    fn targets_name_their_registry() {
        let r = parse_target("127.0.0.1:5000/airlock/hop:v1", "--registry").unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "airlock/hop");
        assert!(parse_target("airlock/hop:v1", "--registry").is_err());
        assert!(parse_target("hop:v1", "--registry").is_err());
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            let _ = parse_manifest(&bytes, "p");
        }
    }
}
