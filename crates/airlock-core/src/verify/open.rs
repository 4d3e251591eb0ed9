//! Opening a bundle: signatures first, then the manifest, then `SHA256SUMS`.

use std::path::Path;

use super::{Policy, SignatureFile, SignedBundle};
use crate::digest::Sha256Digest;
use crate::error::{BundleError, Error, Result};
use crate::escape;
use crate::fsutil;
use crate::layout::{self, MANIFEST_FILE, SIGNATURES_DIR, SUMS_FILE};
use crate::manifest::{BundleManifest, MAX_MANIFEST_JSON_BYTES};
use crate::trust::timestamp::TIMESTAMP_MAX_BYTES;
use crate::trust::{MessageDigest, SIGNATURE_MAX_BYTES, TrustError};

/// Most signature files read.
pub const MAX_SIGNATURES: usize = 256;

pub(super) fn open(dir: &Path, policy: &Policy) -> Result<SignedBundle> {
    check_bundle_dir(dir)?;
    let bytes = read_bundle_file(dir, MANIFEST_FILE, MAX_MANIFEST_JSON_BYTES)?;
    let files = read_signatures(dir)?;
    let evaluation = policy.trust().evaluate_stamped(
        &MessageDigest::of_bytes(&bytes),
        &labelled(&files),
        &stamps(&files),
    );
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
    let tsa_time = evaluation.approved_by_tsa();
    let outside_window = check_window(&manifest, policy, tsa_time)?;
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
        tsa_time,
        clock: policy.now(),
        provenance: policy.trust().provenance(),
        provenance_trusted_root: policy.trust().provenance_trusted_root(),
    })
}

/// The change window: refuse a bundle before `not_before` or after `expires`, unless
/// the policy allows expired bundles (recovery), in which case say why it was outside.
///
/// `tsa_time` is the latest time a valid timestamp of a counted signature proves real
/// time had reached (docs/trust.md, "Timestamps"): approved after `expires` by TSA time is
/// refused whatever the enclave clock says, and the window is checked at the later of
/// the clock and that time (a clock behind it is provably behind).
fn check_window(
    m: &BundleManifest,
    policy: &Policy,
    tsa_time: Option<crate::time::Timestamp>,
) -> Result<Option<String>> {
    let clock = policy.now();
    let now = tsa_time.map_or(clock, |t| t.max(clock));
    let problem = match (m.not_before, m.expires, tsa_time) {
        (_, Some(exp), Some(t)) if t > exp => Some(format!(
            "expired at {exp}: approved at {t} by TSA time, after the window closed (enclave \
             clock {clock})"
        )),
        (Some(nb), _, _) if now < nb => Some(format!("not valid before {nb} (now {now})")),
        (_, Some(exp), _) if now > exp => Some(format!("expired at {exp} (now {now})")),
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
    let files = read_signatures(dir)?;
    Ok(policy.trust().evaluate_stamped(
        &MessageDigest::of_bytes(&bytes),
        &labelled(&files),
        &stamps(&files),
    ))
}

/// A bundle path that is missing, not a directory, or a directory with none of a
/// bundle's files is a typo, not an attack: invalid input (exit 4), said before anything
/// is read. A directory with some of them and not others is a damaged bundle (exit 3).
fn check_bundle_dir(dir: &Path) -> Result<()> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => check_holds_a_bundle(dir),
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

/// Some of a bundle's own names (`manifest.json`, `signatures/`, `SHA256SUMS`) must be
/// there; if none is, say so and name a directory below that holds a bundle, if any.
fn check_holds_a_bundle(dir: &Path) -> Result<()> {
    let exists = |name: &str| std::fs::symlink_metadata(dir.join(name)).is_ok();
    if [MANIFEST_FILE, SIGNATURES_DIR, SUMS_FILE]
        .iter()
        .any(|n| exists(n))
    {
        return Ok(());
    }
    let below: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join(MANIFEST_FILE).is_file())
        .map(|e| escape::Untrusted(&e.path().display().to_string()).to_string())
        .take(3)
        .collect();
    let hint = match below.as_slice() {
        [] => "give the bundle's own directory, the one holding manifest.json".to_string(),
        found => format!("did you mean {}?", found.join(" or ")),
    };
    Err(Error::invalid(
        "bundle directory",
        dir.display(),
        format!("holds no {MANIFEST_FILE}, {SIGNATURES_DIR}/ or {SUMS_FILE}: not a bundle; {hint}"),
    ))
}

/// Read a small file of the bundle; every failure is a verification failure naming it,
/// except a file this user may not read: that is the operator's to fix (exit 1), not a
/// sign of tampering.
fn read_bundle_file(dir: &Path, name: &str, limit: u64) -> Result<Vec<u8>> {
    fsutil::read_limited(&dir.join(name), limit, "bundle file").map_err(|e| {
        if let Error::Input { source, path, .. } = e {
            return not_permitted(source, &path, "read").unwrap_or_else(|source| {
                let reason = source.to_string();
                Error::rejected(name, BundleError::Unreadable { reason })
            });
        }
        let reason = match &e {
            Error::Invalid { reason, .. } => reason.clone(),
            other => crate::error::chain(other),
        };
        Error::rejected(name, BundleError::Unreadable { reason })
    })
}

/// `Ok(error)` for a permission error (an I/O error with what to do), else the error back.
fn not_permitted(
    e: std::io::Error,
    path: &Path,
    action: &'static str,
) -> std::result::Result<Error, std::io::Error> {
    if e.kind() != std::io::ErrorKind::PermissionDenied {
        return Err(e);
    }
    Ok(Error::io(action, path, e).context(
        "cannot read the bundle as this user (run as a user who can, or fix the copy's permissions)",
    ))
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

/// Each signature's timestamp, keyed by the signature's label (as [`labelled`] gives it).
fn stamps(files: &[SignatureFile]) -> std::collections::BTreeMap<String, Vec<u8>> {
    files
        .iter()
        .filter_map(|f| {
            let rel = layout::signature_path(&f.name);
            let label = escape::Untrusted(&rel).to_string();
            f.timestamp.clone().map(|t| (label, t))
        })
        .collect()
}

/// `signatures/<STEM>.tsr` beside `<STEM>.minisig`, if there is one: a regular file of at
/// most [`TIMESTAMP_MAX_BYTES`], read as bytes (DER).
fn read_timestamp(dir: &Path, minisig: &str) -> Result<Option<Vec<u8>>> {
    let Some(stem) = minisig.strip_suffix(layout::SIGNATURE_EXT) else {
        return Ok(None);
    };
    let name = format!("{stem}{}", layout::TIMESTAMP_EXT);
    let rel = layout::signature_path(&name);
    match std::fs::symlink_metadata(dir.join(&rel)) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("inspect", dir.join(&rel), e)),
        Ok(meta) if !meta.is_file() => {
            let kind = fsutil::kind_of(meta.file_type());
            Err(Error::rejected(&rel, BundleError::NotRegular { kind }))
        }
        Ok(_) => read_bundle_file(dir, &rel, TIMESTAMP_MAX_BYTES as u64).map(Some),
    }
}

/// Every `signatures/*.minisig` regular file, sorted by name, each with its `.tsr`.
fn read_signatures(dir: &Path) -> Result<Vec<SignatureFile>> {
    let sig_dir = dir.join(SIGNATURES_DIR);
    let listing = std::fs::read_dir(&sig_dir).map_err(|e| {
        not_permitted(e, &sig_dir, "list").unwrap_or_else(|e| {
            let reason = e.to_string();
            Error::rejected(SIGNATURES_DIR, BundleError::SignaturesUnlisted { reason })
        })
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
        let timestamp = read_timestamp(dir, name)?;
        sigs.push(SignatureFile {
            name: name.to_string(),
            text,
            timestamp,
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
    // Volumes may sit flat or one directory each (`--volume-dirs`); both lists are the
    // signed manifest's, so either is accepted.
    let flat = m.sums_text(manifest_sha, false);
    let dirs = m.sums_text(manifest_sha, true);
    if text != flat.as_bytes() && text != dirs.as_bytes() {
        return Err(Error::rejected(SUMS_FILE, BundleError::SumsMismatch));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_without_any_bundle_file_is_a_wrong_path_and_one_with_some_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let inner = dir.path().join("airlock-v1.36.4-to-v1.37.1");
        std::fs::create_dir(&inner).unwrap();
        // Empty, the folder is not a bundle (exit 4), with nothing below to suggest.
        let e = check_bundle_dir(&inner).unwrap_err();
        assert_eq!(e.exit_code(), 4, "{e}");
        assert!(
            e.to_string().contains("the one holding manifest.json"),
            "{e}"
        );
        // With a manifest, the folder above names it.
        std::fs::write(inner.join(MANIFEST_FILE), b"{}").unwrap();
        let e = check_bundle_dir(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains(&format!("did you mean {}?", inner.display())),
            "{e}"
        );
        // Any one of a bundle's names makes it a (possibly damaged) bundle, checked on.
        check_bundle_dir(&inner).unwrap();
        std::fs::remove_file(inner.join(MANIFEST_FILE)).unwrap();
        std::fs::write(inner.join(SUMS_FILE), b"").unwrap();
        check_bundle_dir(&inner).unwrap();
        let e = read_bundle_file(&inner, MANIFEST_FILE, 10).unwrap_err();
        assert_eq!(e.exit_code(), 3, "{e}");
    }

    /// Tests run as root in CI, where no file is unreadable: the mapping is checked on the
    /// error itself.
    #[test]
    fn a_permission_error_is_the_operators_and_other_errors_stay_as_they_were() {
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let e = not_permitted(denied, Path::new("b/manifest.json"), "read").unwrap();
        assert_eq!(e.exit_code(), 1, "{e}");
        let text = crate::error::chain(&e);
        assert!(
            text.contains("as this user") && text.contains("b/manifest.json"),
            "{text}"
        );
        let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
        let back = not_permitted(missing, Path::new("x"), "read").unwrap_err();
        assert_eq!(back.kind(), std::io::ErrorKind::NotFound);
    }
}
