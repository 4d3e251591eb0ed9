//! Spool directories: private temporary folders where verified payload entries wait on
//! disk, content-addressed (`SPOOL/sha256/<hex>`). `install` keeps a blob there while it
//! uploads; `serve` keeps every blob it serves there for as long as it runs.
//!
//! An entry is written to a temporary name through the [`VerifyingReader`] and renamed to
//! its digest only after the reader confirmed the digest, so a file under its digest name
//! always holds exactly those bytes.
//!
//! Each spool holds a `lock` file locked for its whole life. A process killed with
//! `kill -9` leaves its spool behind; the next one finds spools whose lock it can take
//! (their owner is gone) and removes them. A spool is made under another name and renamed
//! to `airlock-spool-*` only once its lock is held: a spool being made has no lock yet,
//! and another process cleaning up must not take it for a dead one.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::layout::PayloadPath;
use crate::verify::VerifyingReader;

const SPOOL_PREFIX: &str = "airlock-spool-";
/// What a spool is called while it is made (not matched by [`remove_stale`]).
const MAKING_PREFIX: &str = "airlock-making-spool-";
const LOCK_FILE: &str = "lock";
const BLOBS_DIR: &str = "sha256";

/// Remove spool directories under `base` left by processes that were killed. Returns how
/// many were removed.
///
/// `base` is often a shared temporary directory, so anything in it may be planted: only
/// directories the current user owns are looked at, and their `lock` is opened as every
/// input is (without blocking, without following a link, a regular file only), so a FIFO
/// there cannot hang `install` or `serve`.
pub fn remove_stale(base: &Path) -> usize {
    let Ok(listing) = std::fs::read_dir(base) else {
        return 0;
    };
    let me = rustix::process::geteuid().as_raw();
    let mut removed = 0;
    for ent in listing.flatten() {
        let name = ent.file_name();
        let is_spool = name.to_str().is_some_and(|n| n.starts_with(SPOOL_PREFIX));
        // DirEntry::metadata does not follow a link: a link to a directory is skipped.
        let ours = ent
            .metadata()
            .is_ok_and(|m| m.is_dir() && std::os::unix::fs::MetadataExt::uid(&m) == me);
        if is_spool && ours && remove_if_stale(&ent.path(), me) {
            removed += 1;
        }
    }
    removed
}

/// Remove one spool directory if its owner is gone (its lock can be taken).
fn remove_if_stale(dir: &Path, me: u32) -> bool {
    let path = dir.join(LOCK_FILE);
    let lock = match crate::fsutil::open_regular_nofollow_io(&path) {
        Ok(f) => f,
        Err(e) => {
            // Being created right now, or planted: not a spool to remove.
            tracing::debug!("left {} alone: {e}", dir.display());
            return false;
        }
    };
    if !lock
        .metadata()
        .is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == me)
    {
        return false;
    }
    // The owner holds an exclusive lock until it exits; if we can take it, it is gone.
    if rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_err()
        || std::fs::remove_dir_all(dir).is_err()
    {
        return false;
    }
    tracing::info!("removed the spool {} of an interrupted run", dir.display());
    true
}

/// A locked, private (mode 0700) spool directory, removed when dropped.
pub struct Spool {
    dir: SpoolDir,
    _lock: File,
}

/// The spool's directory, removed when dropped unless kept.
struct SpoolDir {
    path: PathBuf,
    keep: bool,
}

impl SpoolDir {
    /// Leave the directory on disk (as a killed process would); its path.
    #[cfg(test)]
    fn keep(mut self) -> PathBuf {
        self.keep = true;
        self.path.clone()
    }
}

impl Drop for SpoolDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

impl Spool {
    /// A fresh spool under `base`: made and locked under a name [`remove_stale`] does not
    /// look at, then renamed (never over an existing name) to `airlock-spool-*`.
    pub fn create(base: &Path) -> Result<Self> {
        use std::os::unix::fs::PermissionsExt;
        let making = tempfile::Builder::new()
            .prefix(MAKING_PREFIX)
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir_in(base)
            .map_err(|e| Error::io("create spool directory in", base, e))?;
        let lock_path = making.path().join(LOCK_FILE);
        let lock = File::create(&lock_path).map_err(|e| Error::io("create", &lock_path, e))?;
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive)
            .map_err(|e| Error::io("lock", &lock_path, e.into()))?;
        let blobs = making.path().join(BLOBS_DIR);
        std::fs::create_dir(&blobs).map_err(|e| Error::io("create directory", &blobs, e))?;
        let suffix = making
            .path()
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix(MAKING_PREFIX))
            .unwrap_or_default()
            .to_string();
        let path = base.join(format!("{SPOOL_PREFIX}{suffix}"));
        rustix::fs::renameat_with(
            rustix::fs::CWD,
            making.path(),
            rustix::fs::CWD,
            &path,
            rustix::fs::RenameFlags::NOREPLACE,
        )
        .map_err(|e| Error::io("rename spool directory to", &path, e.into()))?;
        // Renamed: `making` names nothing now, and the spool removes itself when dropped.
        let _ = making.keep();
        Ok(Spool {
            dir: SpoolDir { path, keep: false },
            _lock: lock,
        })
    }

    /// The spool directory.
    pub fn path(&self) -> &Path {
        &self.dir.path
    }

    /// Where the entry with this digest is (or would be) kept. The name is made from the
    /// parsed digest only, never from a string from outside.
    pub fn blob_path(&self, digest: &Sha256Digest) -> PathBuf {
        self.dir.path.join(BLOBS_DIR).join(digest.hex())
    }

    /// Copy one payload entry into the spool through its verifying reader, and rename it
    /// to its digest only once the reader confirmed size and sha256. Returns its path.
    pub fn store(&self, digest: Sha256Digest, r: &mut VerifyingReader<'_>) -> Result<PathBuf> {
        let path = self.blob_path(&digest);
        let tmp = path.with_file_name(format!(".{}.partial", digest.hex()));
        let write = |e: std::io::Error| {
            if e.kind() == std::io::ErrorKind::InvalidData {
                Error::verification(PayloadPath::Blob(digest).to_string(), e)
            } else {
                Error::io("write", &tmp, e)
            }
        };
        let file = File::create(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
        let mut out = BufWriter::with_capacity(256 * 1024, file);
        let copied = std::io::copy(r, &mut out).and_then(|_| out.flush());
        if let Err(e) = copied {
            let _ = std::fs::remove_file(&tmp);
            return Err(write(e));
        }
        drop(out);
        if !r.is_verified() {
            let _ = std::fs::remove_file(&tmp);
            return Err(Error::verification(
                PayloadPath::Blob(digest).to_string(),
                "was not read to the end",
            ));
        }
        std::fs::rename(&tmp, &path).map_err(|e| Error::io("rename into place", &path, e))?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_spools_are_removed_and_live_ones_kept() {
        let base = tempfile::tempdir().unwrap();
        let live = Spool::create(base.path()).unwrap();
        let dead = Spool::create(base.path()).unwrap();
        let dead_path = dead.path().to_path_buf();
        // Simulate a killed owner: keep the directory, release the lock.
        let kept = dead.dir.keep();
        drop(dead._lock);
        assert_eq!(kept, dead_path);
        assert_eq!(remove_stale(base.path()), 1);
        assert!(!dead_path.exists());
        assert!(live.path().is_dir());
        let live_path = live.path().to_path_buf();
        drop(live);
        assert!(!live_path.exists(), "a spool is removed when dropped");
    }

    #[test]
    fn a_planted_fifo_or_link_as_a_lock_is_skipped_without_blocking() {
        let base = tempfile::tempdir().unwrap();
        let fifo = base.path().join(format!("{SPOOL_PREFIX}fifo"));
        std::fs::create_dir(&fifo).unwrap();
        let mode = rustix::fs::Mode::from_raw_mode(0o600);
        rustix::fs::mkfifoat(rustix::fs::CWD, fifo.join(LOCK_FILE), mode).unwrap();
        let link = base.path().join(format!("{SPOOL_PREFIX}link"));
        std::fs::create_dir(&link).unwrap();
        let elsewhere = base.path().join("elsewhere");
        std::fs::write(&elsewhere, b"").unwrap();
        std::os::unix::fs::symlink(&elsewhere, link.join(LOCK_FILE)).unwrap();
        assert_eq!(remove_stale(base.path()), 0);
        assert!(fifo.is_dir() && link.is_dir());
    }

    #[test]
    fn a_spool_being_made_is_never_taken_for_a_dead_one() {
        // Before, a spool's lock file existed unlocked for a moment: a cleanup running in
        // another install at that moment removed the new spool under its maker.
        let base = tempfile::tempdir().unwrap();
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        remove_stale(base.path());
                    }
                });
            }
            for _ in 0..2000 {
                let spool = Spool::create(base.path()).expect("a spool is made");
                assert!(spool.path().join(BLOBS_DIR).is_dir());
                assert!(
                    spool
                        .path()
                        .file_name()
                        .unwrap()
                        .to_str()
                        .unwrap()
                        .starts_with(SPOOL_PREFIX)
                );
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        });
        assert_eq!(
            std::fs::read_dir(base.path()).unwrap().count(),
            0,
            "every spool removed itself"
        );
    }

    #[test]
    fn spool_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let base = tempfile::tempdir().unwrap();
        let s = Spool::create(base.path()).unwrap();
        let mode = std::fs::metadata(s.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }
}
