//! Opening and reading input files safely.
//!
//! Every file airlock reads as input (bundle files, keys, policies, locks) may be hostile
//! or simply wrong: a FIFO would block a reader forever, `/dev/zero` never ends, and a huge
//! file would be read into memory. So files are opened without blocking, checked through
//! the open handle (not the path, which could change in between) to be regular files, and
//! small files are read with a limit enforced before anything is parsed.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::paths::SafeRelPath;

/// What kind of file a metadata value describes, in words.
pub fn kind_of(ft: std::fs::FileType) -> &'static str {
    if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

/// Open `path` for reading, refusing anything that is not a regular file. `O_NONBLOCK`
/// makes opening a FIFO return at once instead of waiting for a writer; the type is then
/// checked on the handle. (Symbolic links to regular files are followed: reading through
/// one cannot write anywhere.)
pub fn open_regular(path: &Path, what: &'static str) -> Result<File> {
    open_regular_io(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidInput => Error::invalid(what, path.display(), e),
        _ => Error::Input {
            what,
            path: path.to_path_buf(),
            source: e,
        },
    })
}

/// [`open_regular`] with a plain I/O error (`InvalidInput` for a file of the wrong type),
/// for callers with their own error type.
pub fn open_regular_io(path: &Path) -> std::io::Result<File> {
    open_regular_flags(path, rustix::fs::OFlags::empty())
}

/// [`open_regular_io`] that also refuses a symbolic link at `path` (`O_NOFOLLOW`), for
/// files in places others can write (a shared temporary directory).
pub fn open_regular_nofollow_io(path: &Path) -> std::io::Result<File> {
    open_regular_flags(path, rustix::fs::OFlags::NOFOLLOW)
}

fn open_regular_flags(path: &Path, extra: rustix::fs::OFlags) -> std::io::Result<File> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags((rustix::fs::OFlags::NONBLOCK | extra).bits() as i32)
        .open(path)?;
    let ft = file.metadata()?.file_type();
    if !ft.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("is {}, not a regular file", kind_of(ft)),
        ));
    }
    // Regular files ignore O_NONBLOCK, but clear it so nothing downstream is surprised.
    rustix::fs::fcntl_setfl(&file, rustix::fs::OFlags::empty())?;
    Ok(file)
}

/// Read a whole small file of at most `limit` bytes; a larger one is refused without
/// reading it all, and a non-regular one without reading it at all.
pub fn read_limited(path: &Path, limit: u64, what: &'static str) -> Result<Vec<u8>> {
    let file = open_regular(path, what)?;
    let size = file
        .metadata()
        .map_err(|e| Error::io("inspect", path, e))?
        .len();
    if size > limit {
        return Err(too_large(path, what, size, limit));
    }
    let mut buf = Vec::with_capacity(size as usize);
    file.take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io("read", path, e))?;
    // The file may have grown since the size check.
    if buf.len() as u64 > limit {
        return Err(too_large(path, what, buf.len() as u64, limit));
    }
    Ok(buf)
}

/// Open a file of at most `limit` bytes to read it as a stream (for files too large to
/// hold whole, parsed as they are read); the reader stops at `limit` even if the file
/// grows meanwhile.
pub fn open_limited(path: &Path, limit: u64, what: &'static str) -> Result<std::io::Take<File>> {
    let file = open_regular(path, what)?;
    let size = file
        .metadata()
        .map_err(|e| Error::io("inspect", path, e))?
        .len();
    if size > limit {
        return Err(too_large(path, what, size, limit));
    }
    Ok(file.take(limit))
}

/// Read a small UTF-8 text file (see [`read_limited`]).
pub fn read_text(path: &Path, limit: u64, what: &'static str) -> Result<String> {
    let bytes = read_limited(path, limit, what)?;
    String::from_utf8(bytes).map_err(|_| Error::invalid(what, path.display(), "is not UTF-8"))
}

fn too_large(path: &Path, what: &'static str, size: u64, limit: u64) -> Error {
    Error::invalid(
        what,
        path.display(),
        format!("{size} bytes is more than the {limit}-byte limit; not read"),
    )
}

/// Write `bytes` to `path` atomically: a temporary file in the same directory, fsynced,
/// then renamed over the target, then the directory fsynced. A reader sees the old file
/// or the new one, never half of one; a crash leaves at most a stray temporary file.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".airlock-tmp-")
        .tempfile_in(dir)
        .map_err(|e| Error::io("create temporary file in", dir, e))?;
    tmp.write_all(bytes)
        .and_then(|_| {
            tmp.as_file()
                .set_permissions(std::fs::Permissions::from_mode(mode))
        })
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| Error::io("write", tmp.path().to_path_buf(), e))?;
    tmp.persist(path)
        .map_err(|e| Error::io("rename into place", path, e.error))?;
    sync_dir(dir)
}

/// Write `bytes` to a new file at `path`, which must not exist: `O_CREAT|O_EXCL|O_NOFOLLOW`
/// refuses a file or a symbolic link already at the name (`AlreadyExists`), so nothing is
/// replaced and no link is written through. A failed write removes the file again.
pub fn write_new(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)?;
    if let Err(e) = file.write_all(bytes).and_then(|_| file.sync_all()) {
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    Ok(())
}

/// Bytes available to an unprivileged writer on the filesystem holding `path`, and that
/// filesystem's device id (to tell whether two paths share it).
pub fn free_space(path: &Path) -> Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let st = rustix::fs::statvfs(path)
        .map_err(|e| Error::io("inspect free space of", path, e.into()))?;
    let meta = std::fs::metadata(path).map_err(|e| Error::io("inspect", path, e))?;
    Ok((st.f_bavail.saturating_mul(st.f_frsize), meta.dev()))
}

/// Fail with the numbers when the filesystem holding `dir` has less than `need` bytes
/// free (zarf #1473: temporary folders fill up half-way through).
pub fn require_free(dir: &Path, need: u64, what: &str) -> Result<()> {
    let (have, _) = free_space(dir)?;
    if have < need {
        return Err(Error::Io {
            action: "use",
            path: dir.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                format!("{what} needs {need} bytes free, has {have}"),
            ),
        });
    }
    Ok(())
}

/// fsync a directory so a rename in it survives a power loss.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("sync directory", dir, e))
}

/// Create every missing directory from `base` down to `target`'s parent, refusing to pass
/// through anything that is not a real directory (a symlink planted in the destination
/// tree would otherwise redirect the write outside it).
pub fn create_parent_dirs(base: &Path, target: &SafeRelPath) -> Result<PathBuf> {
    let mut dir = base.to_path_buf();
    let comps: Vec<&str> = target.components().collect();
    for comp in &comps[..comps.len() - 1] {
        dir.push(comp);
        match std::fs::symlink_metadata(&dir) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(Error::UnsafePath {
                    path: dir.display().to_string(),
                    reason: "exists and is not a directory (symlinks are not followed)".into(),
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir(&dir).map_err(|e| Error::io("create directory", &dir, e))?;
            }
            Err(e) => return Err(Error::io("inspect", &dir, e)),
        }
    }
    Ok(target.under(base))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_fifo_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("fifo");
        rustix::fs::mkfifoat(rustix::fs::CWD, &p, rustix::fs::Mode::from_raw_mode(0o600)).unwrap();
        let e = read_limited(&p, 10, "test file").unwrap_err();
        assert!(e.to_string().contains("FIFO"), "{e}");
    }

    #[test]
    fn refuses_devices_and_directories_and_big_files() {
        let e = read_limited(Path::new("/dev/zero"), 10, "key").unwrap_err();
        assert!(e.to_string().contains("character device"), "{e}");
        let e = read_limited(Path::new("/"), 10, "key").unwrap_err();
        assert!(e.to_string().contains("directory") || e.to_string().contains("open"));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big");
        std::fs::write(&p, [0u8; 11]).unwrap();
        let e = read_limited(&p, 10, "key").unwrap_err();
        assert!(
            e.to_string()
                .contains("11 bytes is more than the 10-byte limit"),
            "{e}"
        );
        std::fs::write(&p, [0u8; 10]).unwrap();
        assert_eq!(read_limited(&p, 10, "key").unwrap().len(), 10);
    }

    #[test]
    fn write_new_replaces_nothing_and_follows_no_link() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        for p in [&victim, &link] {
            let e = write_new(p, b"new", 0o644).unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists, "{e}");
        }
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        let fresh = dir.path().join("fresh");
        write_new(&fresh, b"new", 0o644).unwrap();
        assert_eq!(std::fs::read(&fresh).unwrap(), b"new");
    }

    #[test]
    fn atomic_write_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        write_atomic(&p, b"one", 0o600).unwrap();
        write_atomic(&p, b"two", 0o600).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn refuses_symlinked_parent() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("bin")).unwrap();
        let p = SafeRelPath::new("bin/kubeadm").unwrap();
        assert!(create_parent_dirs(dir.path(), &p).is_err());
        let q = SafeRelPath::new("etc/k/x").unwrap();
        let full = create_parent_dirs(dir.path(), &q).unwrap();
        assert!(full.starts_with(dir.path()));
        assert!(dir.path().join("etc/k").is_dir());
    }
}
