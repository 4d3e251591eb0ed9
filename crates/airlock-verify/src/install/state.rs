//! Airlock's own state below `--dest`: the `.airlock` directory and the install log in it.
//!
//! Resolved without following symbolic links: `DEST/.airlock` is opened with
//! `O_DIRECTORY | O_NOFOLLOW` relative to an open handle on `DEST`, and the log with
//! `O_NOFOLLOW` relative to that, so a planted link can redirect neither (SECURITY.md,
//! "state directory"). Bundle files can never name it (see `paths::is_reserved`).

use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};

use crate::error::{Error, Result};
use crate::paths::STATE_DIR;

/// File name of the append-only install log (one JSON object per line).
pub const LOG_FILE: &str = "install-log.jsonl";

/// An open handle on `DEST/.airlock`.
pub struct StateDir {
    fd: OwnedFd,
    path: PathBuf,
}

impl StateDir {
    /// Open (creating if needed) `dest/.airlock`, refusing a symlink or a non-directory.
    pub fn open(dest: &Path) -> Result<Self> {
        let path = dest.join(STATE_DIR);
        let dir = rustix::fs::open(
            dest,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::io("open destination directory", dest, e.into()))?;
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = match rustix::fs::openat(&dir, STATE_DIR, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => {
                rustix::fs::mkdirat(&dir, STATE_DIR, Mode::from_raw_mode(0o755))
                    .or_else(|e| {
                        if e == rustix::io::Errno::EXIST {
                            Ok(())
                        } else {
                            Err(e)
                        }
                    })
                    .map_err(|e| Error::io("create directory", &path, e.into()))?;
                rustix::fs::openat(&dir, STATE_DIR, flags, Mode::empty())
                    .map_err(|e| refuse(&path, e))?
            }
            Err(e) => return Err(refuse(&path, e)),
        };
        Ok(StateDir { fd, path })
    }

    /// `DEST/.airlock`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append one record as a JSON line to the install log and fsync it.
    pub fn append_log(&self, record: &impl serde::Serialize) -> Result<()> {
        let path = self.path.join(LOG_FILE);
        let mut line = serde_json::to_vec(record).map_err(|e| Error::Install {
            target: path.display().to_string(),
            reason: format!("cannot encode the record: {e}"),
        })?;
        line.push(b'\n');
        let fd = rustix::fs::openat(
            &self.fd,
            LOG_FILE,
            OFlags::WRONLY | OFlags::APPEND | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        )
        .map_err(|e| refuse(&path, e))?;
        let mut f = File::from(fd);
        let meta = f.metadata().map_err(|e| Error::io("inspect", &path, e))?;
        if !meta.is_file() {
            return Err(Error::UnsafePath {
                path: path.display().to_string(),
                reason: "the install log is not a regular file".into(),
            });
        }
        f.write_all(&line)
            .map_err(|e| Error::io("append to", &path, e))?;
        f.sync_all().map_err(|e| Error::io("sync", &path, e))
    }
}

fn refuse(path: &Path, e: rustix::io::Errno) -> Error {
    match e {
        rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR | rustix::io::Errno::MLINK => {
            Error::UnsafePath {
                path: path.display().to_string(),
                reason: "is a symbolic link or not a directory/regular file; airlock keeps \
                         its state only in a real directory below --dest and never follows \
                         links there"
                    .into(),
            }
        }
        e => Error::io("open", path, e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_symlinked_state_dir_and_log() {
        let dest = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dest.path().join(".airlock")).unwrap();
        assert!(StateDir::open(dest.path()).is_err());

        let dest = tempfile::tempdir().unwrap();
        std::fs::create_dir(dest.path().join(".airlock")).unwrap();
        let target = outside.path().join("victim");
        std::fs::write(&target, b"keep").unwrap();
        std::os::unix::fs::symlink(&target, dest.path().join(".airlock").join(LOG_FILE)).unwrap();
        let s = StateDir::open(dest.path()).unwrap();
        assert!(s.append_log(&serde_json::json!({"x": 1})).is_err());
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
    }

    #[test]
    fn appends_lines() {
        let dest = tempfile::tempdir().unwrap();
        let s = StateDir::open(dest.path()).unwrap();
        s.append_log(&serde_json::json!({"n": 1})).unwrap();
        s.append_log(&serde_json::json!({"n": 2})).unwrap();
        let text = std::fs::read_to_string(dest.path().join(".airlock").join(LOG_FILE)).unwrap();
        assert_eq!(text, "{\"n\":1}\n{\"n\":2}\n");
    }
}
