//! The upstream evidence a bundle carries (issue 23): when resolve checked signatures, the
//! trusted root and every Sigstore bundle document, payload and add-on cosign key it kept
//! in the content cache are copied under `provenance/`, and the manifest's provenance
//! section lists every checked artifact (Kubernetes' and add-ons') with the policy and
//! facts the lock recorded.

use std::path::Path;

use airlock_provenance::{MAX_BUNDLE, MAX_TRUSTED_ROOT};

use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::layout::{
    PROVENANCE_DIR, PROVENANCE_TRUSTED_ROOT, provenance_bundle_file, provenance_key_file,
    provenance_payload_file,
};
use crate::lock::{Lock, ProvenanceStatus};
use crate::manifest::{ArtifactEvidence, ArtifactKind, Evidence, Provenance, SignatureEvidence};
use crate::upstream_store::Store;

/// Copy the evidence of a `checked` lock into `dir/provenance/` and describe it; `None`
/// for a lock whose provenance was not checked (or that has no provenance section).
pub fn write(dir: &Path, lock: &Lock, store: &Store) -> Result<Option<Provenance>> {
    let Some(p) = lock.provenance.as_ref() else {
        return Ok(None);
    };
    let (ProvenanceStatus::Checked, Some(root)) = (p.status, p.trusted_root_sha256) else {
        return Ok(None);
    };
    let out = dir.join(PROVENANCE_DIR);
    std::fs::create_dir_all(&out).map_err(|e| Error::io("create directory", &out, e))?;
    let trusted_root = copy(dir, store, &root, PROVENANCE_TRUSTED_ROOT, MAX_TRUSTED_ROOT)?;
    let mut artifacts = Vec::with_capacity(p.artifacts.len());
    for a in &p.artifacts {
        let signature = match &a.signature {
            None => None,
            Some(s) => {
                let bundle_file = provenance_bundle_file(&s.bundle_sha256);
                let payload = match &s.payload_sha256 {
                    Some(d) => Some(copy(
                        dir,
                        store,
                        d,
                        &provenance_payload_file(d),
                        MAX_BUNDLE,
                    )?),
                    None => None,
                };
                let key = match &s.key_sha256 {
                    Some(d) => Some(copy(dir, store, d, &provenance_key_file(d), MAX_KEY)?),
                    None => None,
                };
                Some(SignatureEvidence {
                    source: Some(s.source),
                    identity: s.identity.clone(),
                    issuer: s.issuer.clone(),
                    log_index: s.log_index,
                    integrated_time: s.integrated_time,
                    bundle: copy(dir, store, &s.bundle_sha256, &bundle_file, MAX_BUNDLE)?,
                    payload,
                    key,
                })
            }
        };
        // The lock names images by reference and files by URL; the two never look alike.
        let kind = if lock.images.iter().any(|i| i.name.to_string() == a.artifact) {
            ArtifactKind::Image
        } else {
            ArtifactKind::File
        };
        artifacts.push(ArtifactEvidence {
            artifact: a.artifact.clone(),
            kind,
            digest: a.digest,
            signature,
            unsigned_exception: a.unsigned_exception.clone(),
        });
    }
    Ok(Some(Provenance {
        trusted_root,
        artifacts,
    }))
}

/// The largest cosign public key carried (as resolve reads it).
const MAX_KEY: usize = 64 * 1024;

/// Copy one cached file (checked against its sha256 on the way) to `dir/name`.
fn copy(
    dir: &Path,
    store: &Store,
    sha256: &Sha256Digest,
    name: &str,
    limit: usize,
) -> Result<Evidence> {
    let bytes = store.read_verified(sha256, limit as u64)?;
    super::write_file(&dir.join(name), &bytes)?;
    Ok(Evidence {
        size: bytes.len() as u64,
        sha256: *sha256,
    })
}
