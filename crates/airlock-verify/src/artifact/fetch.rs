//! Fetch: pull a bundle artifact from a registry into a directory, verify it, and only
//! then give the directory its name.
//!
//! Files are written into a hidden temporary directory next to `--out`
//! (`.airlock-fetch-XXXXXX`), each hashed as it arrives and stopped the moment it passes
//! its descriptor's size. Then the directory is verified exactly as `verify` would
//! (signatures against the policy, the manifest, `SHA256SUMS`, every payload byte). Only a
//! bundle that verified is renamed to `--out` (never over an existing one); anything
//! else is removed, so no directory that looks like a bundle is left by a failed fetch.
//!
//! A registry may drip bytes forever: each read must bring data within the stall timeout,
//! and the whole transfer must finish within the overall timeout. A killed fetch cannot
//! remove its temporary directory, so each running fetch holds a lock on its own, and the
//! next fetch into the same parent removes those of ours that nobody holds.

use std::fs::File;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use super::ArtifactFile;
use crate::digest::{Hasher, Sha256Digest};
use crate::enclave_registry::{EnclaveRegistry, ManifestRef};
use crate::error::{Error, Result};
use crate::verify::{Policy, SignedBundle, VerifiedBundle};

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

/// How long a fetch may take.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    /// The whole transfer: the artifact manifest and every layer (not the verification).
    pub total: Duration,
    /// One read of a layer: a registry that sends nothing for this long is given up on.
    pub stall: Duration,
}

const TMP_PREFIX: &str = ".airlock-fetch-";

/// The private directory a fetch writes into, locked while this process lives (so the
/// next fetch can tell a killed run's directory from a live one) and removed when
/// dropped (fields drop in order: the directory goes before the lock is released).
struct FetchDir {
    tmp: tempfile::TempDir,
    _lock: File,
}

/// Where the artifact is.
#[derive(Debug, Clone)]
pub struct Source<'a> {
    /// The repository.
    pub repo: &'a str,
    /// Its tag or digest.
    pub reference: ManifestRef<'a>,
}

/// How a fetch reports progress: two phases, each with its own total, so a bar never
/// counts past the total it shows.
#[derive(Clone)]
pub struct Progress {
    /// A phase begins: `("fetch", bytes to download)`, then `("verify", payload tar
    /// bytes)`.
    pub on_phase: Arc<dyn Fn(&'static str, u64) + Send + Sync>,
    /// Bytes done in the current phase.
    pub on_bytes: Arc<dyn Fn(u64) + Send + Sync>,
}

/// Fetch `src` from `reg` into `out`, verify it against `policy`, and rename it into
/// place, reporting to `progress`.
pub async fn fetch(
    reg: &EnclaveRegistry,
    src: Source<'_>,
    out: &Path,
    policy: Policy,
    deadlines: Deadlines,
    progress: Progress,
) -> Result<FetchReport> {
    let reference = format!("{}/{}{}", reg.host(), src.repo, src.reference);
    if std::fs::symlink_metadata(out).is_ok() {
        return Err(Error::invalid(
            "--out",
            out.display(),
            "already exists; fetch never replaces a directory: name a new one",
        ));
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| Error::io("create directory", &parent, e))?;
    let transfer = transfer(reg, &src, &reference, &parent, deadlines, &progress);
    let (digest, need, dir) = tokio::time::timeout(deadlines.total, transfer)
        .await
        .map_err(|_| Error::Registry {
            target: reference.clone(),
            action: "fetch",
            reason: format!(
                "not finished after {} s (--timeout); nothing was written to {}",
                deadlines.total.as_secs(),
                out.display()
            ),
        })??;
    let verified = verify_dir(dir.tmp.path(), policy, progress)
        .await
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
    commit(dir, out)?;
    Ok(report)
}

/// Verify the downloaded directory exactly as `verify` would, on a blocking thread.
async fn verify_dir(dir: &Path, policy: Policy, progress: Progress) -> Result<VerifiedBundle> {
    let path = dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let signed = SignedBundle::open(&path, &policy)?;
        (progress.on_phase)("verify", signed.manifest().payload.tar_size);
        signed.verify(&*progress.on_bytes)
    })
    .await
    .map_err(|e| Error::Install {
        target: dir.display().to_string(),
        reason: format!("verification task: {e}"),
    })?
    .map_err(Error::from)
}

/// Read the artifact and download its files into a new private directory in `parent`
/// (removed if this future is dropped: on error or when the deadline passes).
async fn transfer(
    reg: &EnclaveRegistry,
    src: &Source<'_>,
    reference: &str,
    parent: &Path,
    deadlines: Deadlines,
    progress: &Progress,
) -> Result<(Sha256Digest, u64, FetchDir)> {
    // First, so that what killed runs left is gone before the free-space check.
    let dir = create_dir(parent)?;
    remove_stale(parent, &dir);
    let (digest, files) = read_artifact(reg, src, reference).await?;
    let need = files.iter().fold(0u64, |a, f| a.saturating_add(f.size));
    (progress.on_phase)("fetch", need);
    crate::fsutil::require_free(parent, need, "the fetched bundle")?;
    // The directories the bundle's files are in, and only those: a bundle without a
    // verifier or evidence gets no empty `verifier/` or `provenance/`. Every bundle path
    // is one directory deep at most (`BundleFile`).
    let subdirs: std::collections::BTreeSet<String> = files
        .iter()
        .filter_map(|f| Some(f.file.to_string().split_once('/')?.0.to_string()))
        .collect();
    for sub in subdirs {
        let d = dir.tmp.path().join(sub);
        std::fs::create_dir(&d).map_err(|e| Error::io("create directory", &d, e))?;
    }
    for f in &files {
        download(
            reg,
            src.repo,
            f,
            dir.tmp.path(),
            deadlines.stall,
            &*progress.on_bytes,
        )
        .await?;
    }
    Ok((digest, need, dir))
}

/// A new private (mode 0700: nobody else can add or change a file before verification)
/// and locked temporary directory in `parent`.
fn create_dir(parent: &Path) -> Result<FetchDir> {
    let tmp = tempfile::Builder::new()
        .prefix(TMP_PREFIX)
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir_in(parent)
        .map_err(|e| Error::io("create temporary directory in", parent, e))?;
    let lock = open_dir(tmp.path()).map_err(|e| Error::io("open", tmp.path(), e))?;
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive)
        .map_err(|e| Error::io("lock", tmp.path(), e.into()))?;
    Ok(FetchDir { tmp, _lock: lock })
}

/// Open a directory without following a link and without blocking (a FIFO planted under
/// the name is refused, not waited on).
fn open_dir(path: &Path) -> std::io::Result<File> {
    let flags = rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::NOFOLLOW;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags((flags | rustix::fs::OFlags::NONBLOCK).bits() as i32)
        .open(path)
}

/// Remove the temporary directories of killed fetches in `parent`: those owned by the
/// owner of `ours` (this process's user) that no live fetch holds locked. Best effort:
/// what cannot be removed is left, and never stops this fetch.
fn remove_stale(parent: &Path, ours: &FetchDir) -> usize {
    let (Ok(listing), Ok(me)) = (std::fs::read_dir(parent), ours._lock.metadata()) else {
        return 0;
    };
    let mut removed = 0;
    for ent in listing.flatten() {
        let dir = ent.path();
        let named = ent
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(TMP_PREFIX));
        if !named || dir == ours.tmp.path() {
            continue;
        }
        let Ok(fd) = open_dir(&dir) else { continue };
        let mine = fd.metadata().is_ok_and(|m| m.uid() == me.uid());
        // A live fetch holds its lock until it exits; if we can take it, the owner is gone.
        let free =
            || rustix::fs::flock(&fd, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_ok();
        if mine && free() && std::fs::remove_dir_all(&dir).is_ok() {
            tracing::info!("removed {} of an interrupted fetch", dir.display());
            removed += 1;
        }
    }
    removed
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
        return Err(Error::from(airlock_core::Error::DigestMismatch {
            artifact: reference.to_string(),
            expected: want.to_string(),
            actual: digest.to_string(),
        }));
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
    stall: Duration,
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
    let stalled = || Error::Registry {
        target: what.clone(),
        action: "read blob",
        reason: format!(
            "no data for {} s (--stall-timeout); is the registry overloaded?",
            stall.as_secs()
        ),
    };
    while let Some(chunk) = tokio::time::timeout(stall, stream.chunk())
        .await
        .map_err(|_| stalled())??
    {
        if hasher.len().saturating_add(chunk.len() as u64) > f.size {
            return Err(Error::from(airlock_core::Error::DigestMismatch {
                artifact: what,
                expected: format!("{} ({} bytes)", f.digest, f.size),
                actual: "more bytes than that".into(),
            }));
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
        return Err(Error::from(airlock_core::Error::DigestMismatch {
            artifact: what,
            expected: format!("{} ({} bytes)", f.digest, f.size),
            actual: format!("{got} ({len} bytes)"),
        }));
    }
    Ok(())
}

/// Give the verified directory its name: readable like a bundle `build` writes, renamed
/// without replacing anything that appeared at `out` meanwhile.
fn commit(dir: FetchDir, out: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let FetchDir { tmp, _lock } = dir;
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
        rustix::io::Errno::EXIST => Error::invalid(
            "--out",
            out.display(),
            "appeared while fetching; fetch never replaces a directory: name a new one",
        ),
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
