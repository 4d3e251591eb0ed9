//! Publish: push a verified bundle into a registry as an OCI artifact.
//!
//! Only what verified leaves: `manifest.json` and `payload.tar.zst` are uploaded with the
//! digests the signatures and the manifest fix (the registry refuses an upload whose
//! bytes do not hash to the digest given, so a file changed since verification fails the
//! publish), `SHA256SUMS` is the text the manifest implies (checked equal at open), and
//! signature files are the bytes that were read. Blobs the repository already holds are
//! not uploaded again, so publishing twice costs two requests per file.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::{ArtifactFile, EMPTY_CONFIG, HOP, MANIFEST_SHA256};
use crate::digest::Sha256Digest;
use crate::enclave_registry::{BlobSource, EnclaveRegistry, ManifestRef};
use crate::error::{Error, Result};
use crate::escape::Untrusted;
use crate::layout::{self, BundleFile};
use crate::oci::OCI_MANIFEST;
use crate::verify::VerifiedBundle;

/// What happened to one file.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PublishedFile {
    /// Its path in the bundle.
    pub file: String,
    /// Its digest.
    pub digest: String,
    /// Its size.
    pub size: u64,
    /// False when the repository already held it.
    pub uploaded: bool,
}

/// What `publish` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PublishReport {
    /// `HOST/REPO:TAG`.
    pub reference: String,
    /// The artifact manifest's digest (pin fleets to it with `fetch HOST/REPO@DIGEST`).
    pub digest: String,
    /// sha256 of the bundle's manifest.json.
    pub bundle_manifest_sha256: String,
    /// The files, in artifact order.
    pub files: Vec<PublishedFile>,
    /// Bytes uploaded.
    pub bytes_uploaded: u64,
    /// Signature files not published because their names cannot travel safely.
    pub skipped: Vec<String>,
}

/// One file to push, with where its bytes come from.
struct Source {
    file: BundleFile,
    digest: Sha256Digest,
    size: u64,
    bytes: Option<Bytes>,
}

/// Push `bundle` as `repo:tag` into `reg`, then read the tag back.
pub async fn publish(
    bundle: &VerifiedBundle,
    reg: &EnclaveRegistry,
    repo: &str,
    tag: &str,
    on_progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<PublishReport> {
    let (sources, skipped) = sources(bundle);
    let config = Bytes::from_static(EMPTY_CONFIG);
    let size = config.len() as u64;
    upload_missing(
        reg,
        repo,
        &Sha256Digest::of(&config),
        BlobSource::Memory(&config),
        size,
    )
    .await?;
    let mut files = Vec::new();
    let mut bytes_uploaded = 0;
    for s in &sources {
        let path = match &s.file {
            BundleFile::Volume(v) => {
                let data = bundle.manifest().payload.volumes.len() as u32;
                crate::media::volumes::locate(bundle.dir(), *v, data)
                    .unwrap_or_else(|| bundle.dir().join(v.to_string()))
            }
            f => bundle.dir().join(f.to_string()),
        };
        let source = match &s.bytes {
            Some(b) => BlobSource::Memory(b),
            None => BlobSource::File(&path),
        };
        let uploaded = upload_missing(reg, repo, &s.digest, source, s.size).await?;
        if uploaded {
            bytes_uploaded += s.size;
        }
        on_progress(s.size);
        files.push(PublishedFile {
            file: s.file.to_string(),
            digest: s.digest.to_string(),
            size: s.size,
            uploaded,
        });
    }
    let listed: Vec<ArtifactFile> = sources
        .iter()
        .map(|s| ArtifactFile {
            file: s.file.clone(),
            digest: s.digest,
            size: s.size,
        })
        .collect();
    let manifest = Bytes::from(super::manifest_bytes(&listed, annotations(bundle)));
    let digest = Sha256Digest::of(&manifest);
    reg.put_manifest(repo, ManifestRef::Tag(tag), manifest, OCI_MANIFEST)
        .await?;
    let now = reg.manifest_digest(repo, ManifestRef::Tag(tag)).await?;
    if now != Some(digest) {
        return Err(Error::Registry {
            target: format!("{}/{repo}:{tag}", reg.host()),
            action: "read back",
            reason: format!(
                "after the push the registry serves {} instead of {digest}",
                now.map(|d| d.to_string())
                    .unwrap_or_else(|| "nothing".into())
            ),
        });
    }
    Ok(PublishReport {
        reference: format!("{}/{repo}:{tag}", reg.host()),
        digest: digest.to_string(),
        bundle_manifest_sha256: bundle.manifest_sha256().hex(),
        files,
        bytes_uploaded,
        skipped,
    })
}

/// The bundle's files in bundle order, each with the digest verification fixed.
fn sources(bundle: &VerifiedBundle) -> (Vec<Source>, Vec<String>) {
    let m = bundle.manifest();
    let mut out = vec![Source {
        file: BundleFile::Manifest,
        digest: *bundle.manifest_sha256(),
        size: bundle.manifest_size(),
        bytes: None,
    }];
    let mut skipped = Vec::new();
    for f in bundle.signature_files() {
        match BundleFile::signature(&f.name) {
            Some(file) => {
                out.push(Source {
                    file,
                    digest: Sha256Digest::of(f.text.as_bytes()),
                    size: f.text.len() as u64,
                    bytes: Some(Bytes::from(f.text.clone())),
                });
                // Its timestamp travels with it, as the bytes verification read.
                let stem = f
                    .name
                    .strip_suffix(layout::SIGNATURE_EXT)
                    .unwrap_or_default();
                let tsr = BundleFile::timestamp(&format!("{stem}{}", layout::TIMESTAMP_EXT));
                if let (Some(bytes), Some(file)) = (&f.timestamp, tsr) {
                    out.push(Source {
                        file,
                        digest: Sha256Digest::of(bytes),
                        size: bytes.len() as u64,
                        bytes: Some(Bytes::from(bytes.clone())),
                    });
                }
            }
            None => {
                let shown = Untrusted(&layout::signature_path(&f.name)).to_string();
                tracing::warn!(
                    "{shown}: not published (a name of letters, digits, _ and - travels)"
                );
                skipped.push(shown);
            }
        }
    }
    // A published bundle's volumes travel flat (one layer each).
    let sums = Bytes::from(m.sums_text(bundle.manifest_sha256(), false));
    out.push(Source {
        file: BundleFile::Sums,
        digest: Sha256Digest::of(&sums),
        size: sums.len() as u64,
        bytes: Some(sums),
    });
    if m.payload.volumes.is_empty() {
        out.push(Source {
            file: BundleFile::Payload,
            digest: m.payload.sha256,
            size: m.payload.size,
            bytes: None,
        });
    }
    out.extend(m.payload.all_volumes().map(|v| Source {
        file: BundleFile::Volume(v.file),
        digest: v.sha256,
        size: v.size,
        bytes: None,
    }));
    out.extend(m.documents.iter().map(|d| Source {
        file: BundleFile::Document(d.path),
        digest: d.sha256,
        size: d.size,
        bytes: None,
    }));
    for (path, e) in m.provenance.iter().flat_map(|p| p.files()) {
        // The manifest's own names always parse; one that did not would not travel.
        if let Some(file) = BundleFile::parse(&path) {
            out.push(Source {
                file,
                digest: e.sha256,
                size: e.size,
                bytes: None,
            });
        }
    }
    (out, skipped)
}

fn annotations(bundle: &VerifiedBundle) -> BTreeMap<String, String> {
    let mut a = BTreeMap::from([(MANIFEST_SHA256.to_string(), bundle.manifest_sha256().hex())]);
    if let Some(h) = &bundle.manifest().hop {
        a.insert(HOP.into(), format!("{}->{}", h.from, h.to));
    }
    a
}

/// Upload unless the repository already holds the blob; true when uploaded.
async fn upload_missing(
    reg: &EnclaveRegistry,
    repo: &str,
    digest: &Sha256Digest,
    source: BlobSource<'_>,
    size: u64,
) -> Result<bool> {
    if reg.blob_exists(repo, digest).await? {
        return Ok(false);
    }
    reg.upload(repo, digest, source, size, None).await?;
    Ok(true)
}
