//! Uploads blobs while the payload pass goes on.
//!
//! The pass writes each needed blob to a spool file (checked by the [`VerifyingReader`]
//! as it is written) and moves on; up to `uploads` spooled blobs upload concurrently, then
//! are mounted into the other repositories that need them and deleted. The tar stream is
//! strictly sequential, so without the spool one slow upload would hold up everything
//! behind it.
//!
//! Each spool directory holds a `lock` file locked for the life of the install. An
//! install killed with `kill -9` leaves its spool behind; the next one finds spools whose
//! lock it can take (their owner is gone) and removes them.

use std::path::Path;
use std::sync::Arc;

use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::layout::PayloadPath;
use crate::registry::{EnclaveRegistry, Mount};
use crate::verify::VerifyingReader;

const SPOOL_PREFIX: &str = "airlock-spool-";
const LOCK_FILE: &str = "lock";

/// Remove spool directories under `base` left by installs that were killed. Returns how
/// many were removed.
pub fn remove_stale_spools(base: &Path) -> usize {
    let Ok(listing) = std::fs::read_dir(base) else {
        return 0;
    };
    let mut removed = 0;
    for ent in listing.flatten() {
        let name = ent.file_name();
        let is_spool = name.to_str().is_some_and(|n| n.starts_with(SPOOL_PREFIX));
        let is_dir = ent.file_type().is_ok_and(|t| t.is_dir());
        if !is_spool || !is_dir {
            continue;
        }
        let dir = ent.path();
        let Ok(lock) = std::fs::File::open(dir.join(LOCK_FILE)) else {
            continue; // not ours, or being created right now
        };
        // The owner holds an exclusive lock until it exits; if we can take it, it is gone.
        if rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_ok()
            && std::fs::remove_dir_all(&dir).is_ok()
        {
            tracing::info!(
                "removed the spool {} of an interrupted install",
                dir.display()
            );
            removed += 1;
        }
    }
    removed
}

/// Concurrent blob uploads from a spool directory.
pub struct Uploader {
    handle: tokio::runtime::Handle,
    reg: Arc<EnclaveRegistry>,
    spool: tempfile::TempDir,
    _lock: std::fs::File,
    slots: Arc<tokio::sync::Semaphore>,
    tasks: Vec<tokio::task::JoinHandle<Result<usize>>>,
    /// Mounts made by uploads already joined.
    mounted: usize,
}

impl Uploader {
    /// A spool under `base` and room for `uploads` concurrent uploads.
    pub fn new(
        handle: tokio::runtime::Handle,
        reg: Arc<EnclaveRegistry>,
        base: &Path,
        uploads: usize,
    ) -> Result<Self> {
        let spool = tempfile::Builder::new()
            .prefix(SPOOL_PREFIX)
            .tempdir_in(base)
            .map_err(|e| Error::io("create spool directory in", base, e))?;
        let lock_path = spool.path().join(LOCK_FILE);
        let lock =
            std::fs::File::create(&lock_path).map_err(|e| Error::io("create", &lock_path, e))?;
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive)
            .map_err(|e| Error::io("lock", &lock_path, e.into()))?;
        Ok(Uploader {
            handle,
            reg,
            spool,
            _lock: lock,
            slots: Arc::new(tokio::sync::Semaphore::new(uploads.max(1))),
            tasks: Vec::new(),
            mounted: 0,
        })
    }

    /// Spool one verified blob and start its upload into `repos[0]`, then mounts into the
    /// rest.
    pub fn submit(
        &mut self,
        digest: Sha256Digest,
        size: u64,
        repos: Vec<String>,
        r: &mut VerifyingReader<'_>,
    ) -> Result<()> {
        let permit = self
            .handle
            .block_on(self.slots.clone().acquire_owned())
            .map_err(|e| self.internal(e))?;
        // Fail early if an upload already failed.
        while let Some(i) = self.tasks.iter().position(|t| t.is_finished()) {
            let t = self.tasks.swap_remove(i);
            self.mounted += self.join(t)?;
        }
        let path = self.spool.path().join(digest.hex());
        let mut f = std::fs::File::create(&path).map_err(|e| Error::io("create", &path, e))?;
        std::io::copy(r, &mut f).map_err(|e| {
            if e.kind() == std::io::ErrorKind::InvalidData {
                Error::verification(PayloadPath::Blob(digest).to_string(), e)
            } else {
                Error::io("write", &path, e)
            }
        })?;
        drop(f);
        let reg = self.reg.clone();
        self.tasks.push(self.handle.spawn(async move {
            let _permit = permit;
            let mounted = upload_one(&reg, &digest, &path, size, &repos).await;
            let _ = tokio::fs::remove_file(&path).await;
            mounted
        }));
        Ok(())
    }

    fn internal(&self, e: impl std::fmt::Display) -> Error {
        Error::Install {
            target: self.reg.host().to_string(),
            reason: format!("upload task: {e}"),
        }
    }

    fn join(&self, t: tokio::task::JoinHandle<Result<usize>>) -> Result<usize> {
        self.handle.block_on(t).map_err(|e| self.internal(e))?
    }

    /// Wait for every upload; returns how many mounts were made.
    pub fn finish(mut self) -> Result<usize> {
        for t in std::mem::take(&mut self.tasks) {
            self.mounted += self.join(t)?;
        }
        Ok(self.mounted)
    }
}

impl Drop for Uploader {
    fn drop(&mut self) {
        // The pass failed: stop uploads still running before the spool goes away.
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Upload into the first repository, then link into the others; a registry that will not
/// mount gets the blob uploaded again (into the session it opened, if it did).
async fn upload_one(
    reg: &EnclaveRegistry,
    digest: &Sha256Digest,
    path: &Path,
    size: u64,
    repos: &[String],
) -> Result<usize> {
    let Some((first, others)) = repos.split_first() else {
        return Ok(0);
    };
    reg.upload_blob(first, digest, path, size, None).await?;
    let mut mounted = 0;
    for other in others {
        match reg.mount_blob(other, first, digest).await? {
            Mount::Linked => mounted += 1,
            Mount::Session(url) => {
                tracing::info!("{other}: mount of {digest} not done by the registry; uploading");
                reg.upload_blob(other, digest, path, size, Some(url))
                    .await?;
            }
            Mount::Refused => {
                tracing::info!("{other}: mount of {digest} refused; uploading");
                reg.upload_blob(other, digest, path, size, None).await?;
            }
        }
    }
    Ok(mounted)
}
