//! Files below `--dest` (package mirrors below `--packages-dir`): what is already in
//! place, whether the destination can take the rest, and placing verified content
//! atomically.

use std::path::{Path, PathBuf};

use crate::digest::HashingReader;
use crate::error::{Error, Result};
use crate::fsutil::create_parent_dirs;
use crate::layout::PACKAGES_DIR;
use crate::manifest::FileRecord;
use crate::paths::SafeRelPath;
use crate::verify::VerifyingReader;

/// Where files go: below `dest`, except package repository files (kinds `package` and
/// `package-metadata`, all below `packages/`), which go below `packages` when it is set,
/// without the `packages/` prefix.
#[derive(Debug, Clone)]
pub struct FileRoots {
    /// `--dest`.
    pub dest: PathBuf,
    /// `--packages-dir`.
    pub packages: Option<PathBuf>,
}

impl FileRoots {
    /// The directory a file goes under, and its path below it.
    pub fn locate(&self, f: &FileRecord) -> (&Path, SafeRelPath) {
        if let Some(dir) = &self.packages
            && f.kind.is_some_and(|k| k.is_package())
            && let Some(rest) = f
                .target
                .as_str()
                .strip_prefix(PACKAGES_DIR)
                .and_then(|r| r.strip_prefix('/'))
            && let Ok(rel) = SafeRelPath::new(rest)
        {
            return (dir, rel);
        }
        (&self.dest, f.target.clone())
    }

    /// The full path of a file.
    pub fn path(&self, f: &FileRecord) -> PathBuf {
        let (root, rel) = self.locate(f);
        rel.under(root)
    }

    /// The directory the package mirrors are below: `--packages-dir`, or `DEST/packages`.
    pub fn packages_root(&self) -> PathBuf {
        match &self.packages {
            Some(p) => p.clone(),
            None => self.dest.join(PACKAGES_DIR),
        }
    }
}

/// True if `path` already holds `f`: a regular file (not a link) with its size, mode and
/// sha256.
pub fn matches(path: &Path, f: &FileRecord) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return false;
    };
    if !meta.is_file() || meta.len() != f.size || meta.permissions().mode() & 0o7777 != f.mode.0 {
        return false;
    }
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let mut r = HashingReader::new(file);
    if std::io::copy(&mut r, &mut std::io::sink()).is_err() {
        return false;
    }
    r.finish().1 == f.sha256
}

/// Before anything is written: every directory on the way to each target must be a real
/// directory or missing (never a link, never a file), and no target may be a directory.
/// A destination that cannot take the bundle is refused whole, not found out half-way.
pub fn preflight(roots: &FileRoots, files: &[&FileRecord]) -> Result<()> {
    for f in files {
        let (dest, rel) = roots.locate(f);
        let comps: Vec<&str> = rel.components().collect();
        let mut p = dest.to_path_buf();
        for (i, c) in comps.iter().enumerate() {
            p.push(c);
            let last = i + 1 == comps.len();
            match std::fs::symlink_metadata(&p) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(e) => return Err(Error::io("inspect", &p, e)),
                Ok(m) if !last && !m.is_dir() => {
                    return Err(Error::from(airlock_core::Error::UnsafePath {
                        path: p.display().to_string(),
                        reason: format!(
                            "{} needs it to be a directory, but it is {} (links are never followed)",
                            f.target,
                            crate::fsutil::kind_of(m.file_type())
                        ),
                    }));
                }
                Ok(m) if last && m.is_dir() => {
                    return Err(Error::from(airlock_core::Error::UnsafePath {
                        path: p.display().to_string(),
                        reason: "the bundle installs a file here, but it is a directory".into(),
                    }));
                }
                Ok(_) => {}
            }
        }
    }
    Ok(())
}

/// Write one verified entry to every target that wants its content: a temporary name in
/// the target's directory first, renamed only after the content verified.
pub fn place(roots: &FileRoots, list: &[FileRecord], r: &mut VerifyingReader<'_>) -> Result<()> {
    let Some((first, rest)) = list.split_first() else {
        return Ok(());
    };
    let mut verified = temp_beside(roots, first)?;
    std::io::copy(r, verified.as_file_mut()).map_err(|e| {
        if e.kind() == std::io::ErrorKind::InvalidData {
            Error::verification(format!("file {}", first.target), e)
        } else {
            Error::io("write", verified.path().to_path_buf(), e)
        }
    })?;
    // Several targets may share this content: the others get copies of the verified file.
    for f in rest {
        let mut copy = temp_beside(roots, f)?;
        let mut src = std::fs::File::open(verified.path())
            .map_err(|e| Error::io("open", verified.path().to_path_buf(), e))?;
        std::io::copy(&mut src, copy.as_file_mut())
            .map_err(|e| Error::io("write", copy.path().to_path_buf(), e))?;
        commit(roots, f, copy)?;
    }
    commit(roots, first, verified)
}

fn temp_beside(roots: &FileRoots, f: &FileRecord) -> Result<tempfile::NamedTempFile> {
    let (dest, rel) = roots.locate(f);
    let target = create_parent_dirs(dest, &rel)?;
    let dir = target.parent().unwrap_or(dest);
    tempfile::Builder::new()
        .prefix(".airlock-incoming-")
        .tempfile_in(dir)
        .map_err(|e| Error::io("create temporary file in", dir, e))
}

fn commit(roots: &FileRoots, f: &FileRecord, tmp: tempfile::NamedTempFile) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let target = roots.path(f);
    if let Ok(meta) = std::fs::symlink_metadata(&target)
        && meta.is_dir()
    {
        return Err(Error::Install {
            target: target.display().to_string(),
            reason: "is a directory".into(),
        });
    }
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io("sync", tmp.path().to_path_buf(), e))?;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(f.mode.0))
        .map_err(|e| Error::io("set permissions on", tmp.path().to_path_buf(), e))?;
    // rename() replaces a symlink at the target rather than following it.
    tmp.persist(&target)
        .map_err(|e| Error::io("rename into place", &target, e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Sha256Digest;
    use crate::manifest::Mode;
    use crate::paths::SafeRelPath;

    fn record(target: &str) -> FileRecord {
        FileRecord {
            name: "f".into(),
            target: SafeRelPath::new(target).unwrap(),
            mode: Mode(0o644),
            sha256: Sha256Digest::of(b""),
            size: 0,
            source: String::new(),
            kind: None,
        }
    }

    #[test]
    fn preflight_refuses_links_files_and_directories_in_the_way() {
        let dest = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dest.path().join("bin")).unwrap();
        std::fs::write(dest.path().join("file"), b"x").unwrap();
        std::fs::create_dir_all(dest.path().join("dir/sub")).unwrap();
        let roots = FileRoots {
            dest: dest.path().to_path_buf(),
            packages: None,
        };
        for bad in ["bin/kubeadm", "file/x", "dir/sub"] {
            let r = record(bad);
            assert!(preflight(&roots, &[&r]).is_err(), "{bad} accepted");
        }
        for ok in ["dir/new", "new/deeper/file", "file"] {
            let r = record(ok);
            preflight(&roots, &[&r]).unwrap();
        }
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    }

    #[test]
    fn packages_dir_relocates_only_package_files() {
        let roots = FileRoots {
            dest: "/d".into(),
            packages: Some("/p".into()),
        };
        let mut pkg = record("packages/v1.30/deb/InRelease");
        pkg.kind = Some(crate::manifest::FileKind::PackageMetadata);
        assert_eq!(roots.path(&pkg), Path::new("/p/v1.30/deb/InRelease"));
        let plain = record("packages/notes.txt");
        assert_eq!(roots.path(&plain), Path::new("/d/packages/notes.txt"));
        let no_dir = FileRoots {
            dest: "/d".into(),
            packages: None,
        };
        assert_eq!(
            no_dir.path(&pkg),
            Path::new("/d/packages/v1.30/deb/InRelease")
        );
        assert_eq!(no_dir.packages_root(), Path::new("/d/packages"));
    }
}
