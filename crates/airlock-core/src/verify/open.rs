//! Opening a bundle: signatures first, then the manifest, then `SHA256SUMS`.

use std::path::Path;

use super::{Policy, SignatureFile, SignedBundle};
use crate::digest::Sha256Digest;
use crate::error::{BundleError, Error, Result};
use crate::escape;
use crate::fsutil;
use crate::layout::{self, MANIFEST_FILE, SIGNATURES_DIR, SUMS_FILE};
use crate::manifest::{BundleManifest, MAX_MANIFEST_JSON_BYTES};
use crate::trust::{MessageDigest, SIGNATURE_MAX_BYTES, TrustError};

/// Most signature files read.
pub const MAX_SIGNATURES: usize = 256;

pub(super) fn open(dir: &Path, policy: &Policy) -> Result<SignedBundle> {
    check_bundle_dir(dir)?;
    let bytes = read_bundle_file(dir, MANIFEST_FILE, MAX_MANIFEST_JSON_BYTES)?;
    let files = read_signatures(dir)?;
    let evaluation = policy
        .trust()
        .evaluate(&MessageDigest::of_bytes(&bytes), &labelled(&files));
    if !evaluation.satisfied() {
        return Err(TrustError::PolicyNotMet {
            missing: evaluation.missing().join(", "),
            details: evaluation.explain(),
        }
        .into());
    }
    let manifest = BundleManifest::parse_verified(&bytes)?;
    let manifest_sha256 = Sha256Digest::of(&bytes);
    check_sums_file(dir, &manifest, &manifest_sha256)?;
    let outside_window = check_window(&manifest, policy)?;
    let (version, sha) = (policy.trust().version(), policy.trust().sha256().copied());
    Ok(SignedBundle {
        dir: dir.to_path_buf(),
        manifest,
        manifest_sha256,
        manifest_size: bytes.len() as u64,
        signature_files: files,
        evaluation,
        policy_version: version,
        policy_sha256: sha,
        outside_window,
    })
}

/// The change window: refuse a bundle before `not_before` or after `expires`, unless
/// the policy allows expired bundles (recovery), in which case say why it was outside.
fn check_window(m: &BundleManifest, policy: &Policy) -> Result<Option<String>> {
    let now = policy.now();
    let problem = match (m.not_before, m.expires) {
        (Some(nb), _) if now < nb => Some(format!("not valid before {nb} (now {now})")),
        (_, Some(exp)) if now > exp => Some(format!("expired at {exp} (now {now})")),
        _ => None,
    };
    match problem {
        None => Ok(None),
        Some(p) if policy.allow_expired => {
            tracing::warn!("--allow-expired: the bundle is {p}; accepted and recorded");
            Ok(Some(p))
        }
        Some(problem) => Err(Error::rejected(
            MANIFEST_FILE,
            BundleError::OutsideWindow { problem },
        )),
    }
}

/// Evaluate a bundle's signatures against a policy without requiring it to be met (for
/// listings: who signed, what is still needed).
pub fn evaluate(dir: &Path, policy: &Policy) -> Result<crate::trust::policy::Evaluation> {
    check_bundle_dir(dir)?;
    let bytes = read_bundle_file(dir, MANIFEST_FILE, MAX_MANIFEST_JSON_BYTES)?;
    let sigs = read_signature_pairs(dir)?;
    Ok(policy
        .trust()
        .evaluate(&MessageDigest::of_bytes(&bytes), &sigs))
}

/// A bundle path that is missing or not a directory is a typo, not an attack: invalid
/// input (exit 4), said before anything is read.
fn check_bundle_dir(dir: &Path) -> Result<()> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(m) => Err(Error::invalid(
            "bundle directory",
            dir.display(),
            format!(
                "is {}, not a directory; give the bundle's directory",
                if m.is_file() {
                    "a regular file"
                } else {
                    fsutil::kind_of(m.file_type())
                }
            ),
        )),
        Err(source) => Err(Error::Input {
            what: "bundle directory",
            path: dir.to_path_buf(),
            source,
        }),
    }
}

/// Read a small file of the bundle; every failure is a verification failure naming it.
fn read_bundle_file(dir: &Path, name: &str, limit: u64) -> Result<Vec<u8>> {
    fsutil::read_limited(&dir.join(name), limit, "bundle file").map_err(|e| {
        let reason = match &e {
            Error::Input { source, .. } => source.to_string(),
            Error::Invalid { reason, .. } => reason.clone(),
            other => crate::error::chain(other),
        };
        Error::rejected(name, BundleError::Unreadable { reason })
    })
}

/// Every signature file as (its path inside the bundle, printable; its text): what the
/// trust policy evaluates and listings show.
pub fn read_signature_pairs(dir: &Path) -> Result<Vec<(String, String)>> {
    Ok(labelled(&read_signatures(dir)?))
}

fn labelled(files: &[SignatureFile]) -> Vec<(String, String)> {
    files
        .iter()
        .map(|f| {
            let rel = layout::signature_path(&f.name);
            (escape::Untrusted(&rel).to_string(), f.text.clone())
        })
        .collect()
}

/// Every `signatures/*.minisig` regular file, sorted by name.
fn read_signatures(dir: &Path) -> Result<Vec<SignatureFile>> {
    let sig_dir = dir.join(SIGNATURES_DIR);
    let listing = std::fs::read_dir(&sig_dir).map_err(|e| {
        let reason = e.to_string();
        Error::rejected(SIGNATURES_DIR, BundleError::SignaturesUnlisted { reason })
    })?;
    let mut sigs: Vec<SignatureFile> = Vec::new();
    for ent in listing {
        let ent = ent.map_err(|e| Error::io("list", &sig_dir, e))?;
        let name = ent.file_name();
        let Some(name) = name.to_str().filter(|n| {
            n.strip_suffix(layout::SIGNATURE_EXT)
                .is_some_and(|s| s.ends_with('.'))
        }) else {
            continue;
        };
        let rel = layout::signature_path(name);
        let meta = std::fs::symlink_metadata(ent.path())
            .map_err(|e| Error::io("inspect", ent.path(), e))?;
        if !meta.is_file() {
            let kind = fsutil::kind_of(meta.file_type());
            return Err(Error::rejected(&rel, BundleError::NotRegular { kind }));
        }
        if sigs.len() >= MAX_SIGNATURES {
            let max = MAX_SIGNATURES;
            return Err(Error::rejected(
                SIGNATURES_DIR,
                BundleError::TooManySignatures { max },
            ));
        }
        let text = read_bundle_file(dir, &rel, SIGNATURE_MAX_BYTES as u64)?;
        let text = String::from_utf8(text)
            .map_err(|_| Error::rejected(&rel, BundleError::SignatureNotUtf8))?;
        sigs.push(SignatureFile {
            name: name.to_string(),
            text,
        });
    }
    sigs.sort_by(|a, b| a.name.cmp(&b.name));
    if sigs.is_empty() {
        return Err(Error::rejected(SIGNATURES_DIR, BundleError::NoSignatures));
    }
    Ok(sigs)
}

/// `SHA256SUMS` is for people with `sha256sum -c`; it is not signed, so it can only be
/// checked against the signed manifest. A copy that disagrees means someone edited it.
fn check_sums_file(dir: &Path, m: &BundleManifest, manifest_sha: &Sha256Digest) -> Result<()> {
    let text = read_bundle_file(dir, SUMS_FILE, layout::MAX_SUMS_BYTES)?;
    let docs: Vec<_> = m.documents.iter().map(|d| (d.path, d.sha256)).collect();
    // Volumes may sit flat or one directory each (`--volume-dirs`); both lists are the
    // signed manifest's, so either is accepted.
    let flat = layout::sums_lines(manifest_sha, &m.payload.sums_items(false), &docs);
    let dirs = layout::sums_lines(manifest_sha, &m.payload.sums_items(true), &docs);
    if text != flat.as_bytes() && text != dirs.as_bytes() {
        return Err(Error::rejected(SUMS_FILE, BundleError::SumsMismatch));
    }
    Ok(())
}
