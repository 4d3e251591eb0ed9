//! Uploads blobs while the payload pass goes on.
//!
//! The pass writes each needed blob to a spool file (checked by the [`VerifyingReader`]
//! as it is written) and moves on; up to `uploads` spooled blobs upload concurrently, then
//! are mounted into the other repositories that need them and deleted. The tar stream is
//! strictly sequential, so without the spool one slow upload would hold up everything
//! behind it.
//!
//! The spool (see [`crate::spool`]) is locked for the life of the install, so a later
//! install can tell a killed one's spool from a running one's and remove it.

use std::path::Path;
use std::sync::Arc;

use crate::digest::Sha256Digest;
use crate::enclave_registry::{EnclaveRegistry, Mount};
use crate::error::{Error, Result};
use crate::spool::Spool;
use crate::verify::VerifyingReader;

/// Remove spool directories under `base` left by installs (or servers) that were killed.
/// Returns how many were removed.
pub fn remove_stale_spools(base: &Path) -> usize {
    crate::spool::remove_stale(base)
}

/// Concurrent blob uploads from a spool directory.
pub struct Uploader {
    handle: tokio::runtime::Handle,
    reg: Arc<EnclaveRegistry>,
    spool: Spool,
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
        let spool = Spool::create(base)?;
        Ok(Uploader {
            handle,
            reg,
            spool,
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
        let path = self.spool.store(digest, r)?;
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
