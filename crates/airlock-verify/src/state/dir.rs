//! The enclave's state directory (`DEST/.airlock` unless `--state-dir` names another):
//! the signed state file, the receipt log, and the enclave key when airlock made it.
//!
//! Every file in it is opened relative to an open handle on the directory, with
//! `O_NOFOLLOW`, and `DEST/.airlock` itself with `O_DIRECTORY | O_NOFOLLOW` relative to
//! `DEST`: a planted link can redirect nothing (SECURITY.md, "state directory"). Bundle
//! files can never name it (see `paths::is_reserved`). Files are replaced atomically: a
//! temporary name, fsync, rename, fsync of the directory.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};

use crate::error::{Error, Result};
use crate::paths::STATE_DIR;

/// An open handle on a state directory.
pub struct StateDir {
    fd: OwnedFd,
    path: PathBuf,
}

impl StateDir {
    /// Open (creating if needed) `dest/.airlock`, refusing a symlink or a non-directory.
    pub fn under_dest(dest: &Path) -> Result<Self> {
        let dir = rustix::fs::open(
            dest,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::io("open destination directory", dest, e.into()))?;
        let fd = open_subdir(&dir, STATE_DIR, &dest.join(STATE_DIR), true)?;
        Ok(StateDir {
            fd,
            path: dest.join(STATE_DIR),
        })
    }

    /// Open (creating if needed) a state directory the operator named (`--state-dir`).
    pub fn at(path: &Path) -> Result<Self> {
        std::fs::create_dir_all(path).map_err(|e| Error::io("create directory", path, e))?;
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::io("open state directory", path, e.into()))?;
        Ok(StateDir {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// Open an existing state directory without creating anything (read-only commands:
    /// `log`, `state show`): `--state-dir DIR`, or `DEST/.airlock`. `None` when there is
    /// none.
    pub fn existing(state_dir: Option<&Path>, dest: Option<&Path>) -> Result<Option<Self>> {
        let (opened, path) = match (state_dir, dest) {
            (Some(d), _) => (open_dir(d, "open state directory"), d.to_path_buf()),
            // DEST/.airlock is opened relative to DEST, never through a link.
            (None, Some(dest)) => {
                let path = dest.join(STATE_DIR);
                let fd = open_dir(dest, "open destination directory")
                    .and_then(|p| open_subdir(&p, STATE_DIR, &path, false));
                (fd, path)
            }
            (None, None) => {
                return Err(Error::usage("give --dest DIR or --state-dir DIR".into()));
            }
        };
        match opened {
            Ok(fd) => Ok(Some(StateDir { fd, path })),
            Err(Error::Core(airlock_core::Error::Io { source, .. }))
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Whether `name` exists (as anything) in this directory.
    pub fn has(&self, name: &str) -> Result<bool> {
        match rustix::fs::statat(&self.fd, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW) {
            Ok(_) => Ok(true),
            Err(rustix::io::Errno::NOENT) => Ok(false),
            Err(e) => Err(Error::io("inspect", self.path.join(name), e.into())),
        }
    }

    /// Remove the file `name` (never through a link: the name itself goes).
    pub fn remove(&self, name: &str) -> Result<()> {
        rustix::fs::unlinkat(&self.fd, name, rustix::fs::AtFlags::empty())
            .map_err(|e| Error::io("remove", self.path.join(name), e.into()))?;
        rustix::fs::fsync(&self.fd).map_err(|e| Error::io("sync directory", &self.path, e.into()))
    }

    /// Refuse an output directory (`what`, e.g. `--packages-dir`) that lies inside this
    /// state directory, or a `--packages-dir` that holds it: what is written there would
    /// land among the state's files and corrupt the log. Compared after resolving links
    /// and `..`.
    pub fn refuse_overlap(&self, what: &str, out: &Path) -> Result<()> {
        let state =
            std::fs::canonicalize(&self.path).map_err(|e| Error::io("resolve", &self.path, e))?;
        let out_real = resolved(out)?;
        let problem = if out_real.starts_with(&state) {
            "is inside"
        } else if what == "--packages-dir" && state.starts_with(&out_real) {
            // The mirrors' paths come from the bundle and may name anything below it;
            // DEST's bundle paths can never name DEST/.airlock, and a spool writes only
            // its own `airlock-spool-*` directories.
            "holds"
        } else {
            return Ok(());
        };
        Err(Error::from(airlock_core::Error::UnsafePath {
            path: out.display().to_string(),
            reason: format!(
                "{what} {problem} the state directory {}; keep what airlock installs apart \
                 from its state and receipts: choose another directory",
                self.path.display()
            ),
        }))
    }

    /// Hold the directory's lock for as long as this handle lives: exclusive for a
    /// writer (install, recover), shared for a reader (log). Two installs into one state
    /// directory then take turns instead of both appending receipt N+1; the second says
    /// it is waiting.
    pub fn lock(&self, exclusive: bool) -> Result<()> {
        use rustix::fs::FlockOperation as Op;
        let (now, wait) = if exclusive {
            (Op::NonBlockingLockExclusive, Op::LockExclusive)
        } else {
            (Op::NonBlockingLockShared, Op::LockShared)
        };
        match rustix::fs::flock(&self.fd, now) {
            Ok(()) => Ok(()),
            Err(rustix::io::Errno::WOULDBLOCK) => {
                eprintln!(
                    "waiting: another airlock-verify is using the state directory {}",
                    self.path.display()
                );
                rustix::fs::flock(&self.fd, wait)
                    .map_err(|e| Error::io("lock state directory", &self.path, e.into()))
            }
            Err(e) => Err(Error::io("lock state directory", &self.path, e.into())),
        }
    }

    /// The directory's path, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A subdirectory (created if needed), opened the same way.
    pub fn subdir(&self, name: &str) -> Result<StateDir> {
        let path = self.path.join(name);
        let fd = open_subdir(&self.fd, name, &path, true)?;
        Ok(StateDir { fd, path })
    }

    /// A subdirectory if it exists.
    pub fn existing_subdir(&self, name: &str) -> Result<Option<StateDir>> {
        let path = self.path.join(name);
        match open_subdir(&self.fd, name, &path, false) {
            Ok(fd) => Ok(Some(StateDir { fd, path })),
            Err(Error::Core(airlock_core::Error::Io { source, .. }))
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Read a regular file of at most `limit` bytes; `None` if it does not exist.
    pub fn read(&self, name: &str, limit: u64) -> Result<Option<Vec<u8>>> {
        let path = self.path.join(name);
        let fd = match rustix::fs::openat(
            &self.fd,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => return Ok(None),
            Err(rustix::io::Errno::LOOP) => return Err(changed(&path, "is a symbolic link")),
            Err(e) => return Err(refuse(&path, e)),
        };
        let f = File::from(fd);
        let meta = f.metadata().map_err(|e| Error::io("inspect", &path, e))?;
        if !meta.is_file() {
            let kind = crate::fsutil::kind_of(meta.file_type());
            return Err(changed(&path, &format!("is {kind}, not a regular file")));
        }
        let mut buf = Vec::new();
        f.take(limit.saturating_add(1))
            .read_to_end(&mut buf)
            .map_err(|e| Error::io("read", &path, e))?;
        if buf.len() as u64 > limit {
            return Err(changed(&path, &format!("is larger than {limit} bytes")));
        }
        Ok(Some(buf))
    }

    /// Create `name` with `bytes`; refuses to replace an existing file.
    pub fn create_new(&self, name: &str, bytes: &[u8], mode: u32) -> Result<()> {
        self.write(name, bytes, mode, false)
    }

    /// Write `name` atomically (replacing any existing file).
    pub fn replace(&self, name: &str, bytes: &[u8], mode: u32) -> Result<()> {
        self.write(name, bytes, mode, true)
    }

    fn write(&self, name: &str, bytes: &[u8], mode: u32, replace: bool) -> Result<()> {
        let path = self.path.join(name);
        let tmp = format!(".{name}.tmp-{}", std::process::id());
        let _ = rustix::fs::unlinkat(&self.fd, &tmp, rustix::fs::AtFlags::empty());
        let fd = rustix::fs::openat(
            &self.fd,
            &tmp,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(mode),
        )
        .map_err(|e| refuse(&path, e))?;
        let mut f = File::from(fd);
        if let Err(e) = f.write_all(bytes).and_then(|_| f.sync_all()) {
            // A full disk must not leave a half-written temporary behind in the log.
            drop(f);
            let _ = rustix::fs::unlinkat(&self.fd, &tmp, rustix::fs::AtFlags::empty());
            return Err(Error::io("write", &path, e));
        }
        drop(f);
        let renamed = if replace {
            rustix::fs::renameat(&self.fd, &tmp, &self.fd, name)
        } else {
            rustix::fs::renameat_with(
                &self.fd,
                &tmp,
                &self.fd,
                name,
                rustix::fs::RenameFlags::NOREPLACE,
            )
        };
        if let Err(e) = renamed {
            let _ = rustix::fs::unlinkat(&self.fd, &tmp, rustix::fs::AtFlags::empty());
            return Err(match e {
                rustix::io::Errno::EXIST => {
                    Error::from(airlock_core::Error::AlreadyExists { path })
                }
                e => Error::io("rename into place", &path, e.into()),
            });
        }
        rustix::fs::fsync(&self.fd).map_err(|e| Error::io("sync directory", &self.path, e.into()))
    }

    /// The names of the regular entries, sorted.
    pub fn list(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let rd = std::fs::read_dir(&self.path).map_err(|e| Error::io("list", &self.path, e))?;
        for e in rd {
            let e = e.map_err(|e| Error::io("list", &self.path, e))?;
            if let Some(n) = e.file_name().to_str() {
                out.push(n.to_string());
            }
        }
        out.sort();
        Ok(out)
    }
}

/// `p` with links and `..` resolved as the kernel would once it exists: each component
/// in turn, so a `..` after a link goes up from the link's target, and one after a name
/// that does not exist yet (which no link can be) just drops that name.
fn resolved(p: &Path) -> Result<PathBuf> {
    use std::path::Component;
    let abs = std::path::absolute(p).map_err(|e| Error::io("resolve", p, e))?;
    let mut real = PathBuf::from("/");
    for c in abs.components() {
        match c {
            Component::Normal(n) => {
                let next = real.join(n);
                real = std::fs::canonicalize(&next).unwrap_or(next);
            }
            Component::ParentDir => {
                real.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    Ok(real)
}

fn open_dir(path: &Path, action: &'static str) -> Result<OwnedFd> {
    rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io(action, path, e.into()))
}

fn open_subdir(parent: &OwnedFd, name: &str, path: &Path, create: bool) -> Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    match rustix::fs::openat(parent, name, flags, Mode::empty()) {
        Ok(fd) => Ok(fd),
        Err(rustix::io::Errno::NOENT) if create => {
            rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o755))
                .or_else(|e| {
                    if e == rustix::io::Errno::EXIST {
                        Ok(())
                    } else {
                        Err(e)
                    }
                })
                .map_err(|e| Error::io("create directory", path, e.into()))?;
            rustix::fs::openat(parent, name, flags, Mode::empty()).map_err(|e| refuse(path, e))
        }
        Err(rustix::io::Errno::NOENT) => Err(Error::io(
            "open",
            path,
            std::io::Error::from(std::io::ErrorKind::NotFound),
        )),
        Err(e) => Err(refuse(path, e)),
    }
}

/// A file of the enclave's own state that airlock never writes this way (a link, a
/// FIFO, too large): it was changed outside airlock, so the state fails its checks.
fn changed(path: &Path, what: &str) -> Error {
    Error::record_check(
        format!("state file {}", path.display()),
        format!("{what}, which airlock never writes: it was changed outside airlock"),
    )
}

fn refuse(path: &Path, e: rustix::io::Errno) -> Error {
    match e {
        rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR | rustix::io::Errno::MLINK => {
            Error::from(airlock_core::Error::UnsafePath {
                path: path.display().to_string(),
                reason: "is a symbolic link or not a directory/regular file; airlock keeps \
                         its state only in real directories and files and never follows \
                         links there"
                    .into(),
            })
        }
        e => Error::io("open", path, e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_symlinked_state_dir_and_files() {
        let dest = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dest.path().join(".airlock")).unwrap();
        assert!(StateDir::under_dest(dest.path()).is_err());

        let dest = tempfile::tempdir().unwrap();
        std::fs::create_dir(dest.path().join(".airlock")).unwrap();
        let target = outside.path().join("victim");
        std::fs::write(&target, b"keep").unwrap();
        std::os::unix::fs::symlink(&target, dest.path().join(".airlock").join("state.json"))
            .unwrap();
        let s = StateDir::under_dest(dest.path()).unwrap();
        assert_eq!(s.read("state.json", 100).unwrap_err().exit_code(), 3);
        // Replacing renames over the link itself; the target is never written.
        s.replace("state.json", b"new", 0o644).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
        std::os::unix::fs::symlink(
            outside.path(),
            dest.path().join(".airlock").join("receipts"),
        )
        .unwrap();
        assert!(s.subdir("receipts").is_err());
    }

    #[test]
    fn create_new_never_replaces() {
        let d = tempfile::tempdir().unwrap();
        let s = StateDir::at(d.path()).unwrap();
        s.create_new("a", b"1", 0o644).unwrap();
        assert!(matches!(
            s.create_new("a", b"2", 0o644),
            Err(Error::Core(airlock_core::Error::AlreadyExists { .. }))
        ));
        assert_eq!(s.read("a", 10).unwrap().unwrap(), b"1");
        s.replace("a", b"3", 0o644).unwrap();
        assert_eq!(s.read("a", 10).unwrap().unwrap(), b"3");
        assert_eq!(s.list().unwrap(), vec!["a"]);
    }

    /// A state file grown past its bound, or a FIFO planted under a receipt's name, was
    /// changed outside airlock: the state fails its checks (exit 3), as for a bad signature.
    #[test]
    fn a_state_file_airlock_would_never_write_fails_the_checks() {
        let d = tempfile::tempdir().unwrap();
        let s = StateDir::at(d.path()).unwrap();
        s.create_new("big", &[b'x'; 11], 0o644).unwrap();
        let e = s.read("big", 10).unwrap_err();
        assert_eq!(e.exit_code(), 3, "{e}");
        assert!(e.to_string().contains("larger than 10 bytes"), "{e}");
        rustix::fs::mknodat(
            &s.fd,
            "fifo",
            rustix::fs::FileType::Fifo,
            Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        let e = s.read("fifo", 10).unwrap_err();
        assert_eq!(e.exit_code(), 3, "{e}");
        assert!(e.to_string().contains("changed outside airlock"), "{e}");
    }
}
