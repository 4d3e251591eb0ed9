//! Fetch: pull a bundle artifact from a registry into a directory, verify it, and only
//! then give the directory its name.
//!
//! Files are written into a hidden temporary directory next to `--out`
//! (`.airlock-fetch-XXXXXX`), each hashed as it arrives and stopped the moment it passes
//! its descriptor's size. Then the directory is verified exactly as `verify` would
//! (signatures against the policy, the manifest, `SHA256SUMS`, every payload byte). Only a
//! bundle that verified is renamed to `--out` (never over an existing one); anything
//! else is removed, so no directory that looks like a bundle is left by a failed fetch.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::io::AsyncWriteExt;

use super::ArtifactFile;
use crate::digest::{Hasher, Sha256Digest};
use crate::error::{Error, Result};
use crate::layout::{REPORT_DIR, SIGNATURES_DIR};
use crate::registry::{EnclaveRegistry, ManifestRef};
use crate::verify::{Policy, SignedBundle};

/// What `fetch` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FetchReport {
    /// `HOST/REPO:TAG` or `HOST/REPO@DIGEST`.
    pub reference: String,
    /// The artifact manifest's digest.
    pub digest: String,
    /// The bundle directory written.
    pub dir: PathBuf,
    /// sha256 of the bundle's manifest.json.
    pub bundle_manifest_sha256: String,
    /// Key ids whose signatures counted.
    pub signed_by: Vec<String>,
    /// Bytes downloaded.
    pub bytes: u64,
}

/// Where the artifact is.
#[derive(Debug, Clone)]
pub struct Source<'a> {
    /// The repository.
    pub repo: &'a str,
    /// Its tag or digest.
    pub reference: ManifestRef<'a>,
}

/// Fetch `src` from `reg` into `out`, verify it against `policy`, and rename it into
/// place. `on_progress` counts downloaded bytes, then verified bytes.
pub async fn fetch(
    reg: &EnclaveRegistry,
    src: Source<'_>,
    out: &Path,
    policy: Policy,
    on_progress: Arc<dyn Fn(u64) + Send + Sync>,
) -> Result<FetchReport> {
    let reference = format!("{}/{}{}", reg.host(), src.repo, src.reference);
    if std::fs::symlink_metadata(out).is_ok() {
        return Err(Error::AlreadyExists {
            path: out.to_path_buf(),
        });
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| Error::io("create directory", &parent, e))?;
    let (digest, files) = read_artifact(reg, &src, &reference).await?;
    let need = files.iter().fold(0u64, |a, f| a.saturating_add(f.size));
    crate::fsutil::require_free(&parent, need, "the fetched bundle")?;
    // Private until verified: nobody else can add or change a file in between.
    let tmp = tempfile::Builder::new()
        .prefix(".airlock-fetch-")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir_in(&parent)
        .map_err(|e| Error::io("create temporary directory in", &parent, e))?;
    for sub in [SIGNATURES_DIR, REPORT_DIR] {
        let d = tmp.path().join(sub);
        std::fs::create_dir(&d).map_err(|e| Error::io("create directory", &d, e))?;
    }
    for f in &files {
        download(reg, src.repo, f, tmp.path(), &*on_progress).await?;
    }
    let dir = tmp.path().to_path_buf();
    let progress = on_progress.clone();
    let verified =
        tokio::task::spawn_blocking(move || SignedBundle::open(&dir, &policy)?.verify(&*progress))
            .await
            .map_err(|e| Error::Install {
                target: reference.clone(),
                reason: format!("verification task: {e}"),
            })?
            .map_err(|e| {
                e.context(format!(
                    "{reference} does not verify; nothing was written to {}",
                    out.display()
                ))
            })?;
    let report = FetchReport {
        reference,
        digest: digest.to_string(),
        dir: out.to_path_buf(),
        bundle_manifest_sha256: verified.manifest_sha256().hex(),
        signed_by: verified
            .evaluation()
            .counted
            .iter()
            .map(|s| s.key_id.clone())
            .collect(),
        bytes: need,
    };
    commit(tmp, out)?;
    Ok(report)
}

/// The artifact manifest (by tag, or by digest, which it must then hash to) and the
/// files it lists.
async fn read_artifact(
    reg: &EnclaveRegistry,
    src: &Source<'_>,
    reference: &str,
) -> Result<(Sha256Digest, Vec<ArtifactFile>)> {
    let bytes = reg
        .get_manifest(src.repo, src.reference)
        .await?
        .ok_or_else(|| Error::Registry {
            target: reference.to_string(),
            action: "read bundle artifact",
            reason: "not found".into(),
        })?;
    let digest = Sha256Digest::of(&bytes);
    if let ManifestRef::Digest(want) = src.reference
        && *want != digest
    {
        return Err(Error::DigestMismatch {
            artifact: reference.to_string(),
            expected: want.to_string(),
            actual: digest.to_string(),
        });
    }
    Ok((digest, super::parse_manifest(&bytes, reference)?))
}

/// Stream one layer into `dir/<its bundle path>`, hashing as it goes; more bytes than its
/// descriptor says, or other bytes, fail at once.
async fn download(
    reg: &EnclaveRegistry,
    repo: &str,
    f: &ArtifactFile,
    dir: &Path,
    on_progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<()> {
    // The name is one of the closed set of bundle paths (`BundleFile`), never free text.
    let path = dir.join(f.file.to_string());
    let what = format!("{}/{repo}@{} ({})", reg.host(), f.digest, f.file);
    let mut stream = reg
        .get_blob(repo, &f.digest)
        .await?
        .ok_or_else(|| Error::Registry {
            target: what.clone(),
            action: "read blob",
            reason: "not found".into(),
        })?;
    let mut out = tokio::fs::File::create(&path)
        .await
        .map_err(|e| Error::io("create", &path, e))?;
    let mut hasher = Hasher::new();
    while let Some(chunk) = stream.chunk().await? {
        if hasher.len().saturating_add(chunk.len() as u64) > f.size {
            return Err(Error::DigestMismatch {
                artifact: what,
                expected: format!("{} ({} bytes)", f.digest, f.size),
                actual: "more bytes than that".into(),
            });
        }
        hasher.update(&chunk);
        out.write_all(&chunk)
            .await
            .map_err(|e| Error::io("write", &path, e))?;
        on_progress(chunk.len() as u64);
    }
    out.sync_all()
        .await
        .map_err(|e| Error::io("write", &path, e))?;
    let (got, len) = hasher.finish();
    if got != f.digest || len != f.size {
        return Err(Error::DigestMismatch {
            artifact: what,
            expected: format!("{} ({} bytes)", f.digest, f.size),
            actual: format!("{got} ({len} bytes)"),
        });
    }
    Ok(())
}

/// Give the verified directory its name: readable like a bundle `build` writes, renamed
/// without replacing anything that appeared at `out` meanwhile.
fn commit(tmp: tempfile::TempDir, out: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755))
        .map_err(|e| Error::io("set permissions of", tmp.path(), e))?;
    rustix::fs::renameat_with(
        rustix::fs::CWD,
        tmp.path(),
        rustix::fs::CWD,
        out,
        rustix::fs::RenameFlags::NOREPLACE,
    )
    .map_err(|e| match e {
        rustix::io::Errno::EXIST => Error::AlreadyExists {
            path: out.to_path_buf(),
        },
        e => Error::io("rename into place", out, e.into()),
    })?;
    // Renamed: nothing is left to remove.
    let _ = tmp.keep();
    // The bundle is in place; a failed directory sync only weakens crash safety.
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        let _ = crate::fsutil::sync_dir(parent);
    }
    Ok(())
}
