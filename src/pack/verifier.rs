//! The verifier a bundle carries (`airlock build --with-verifier`): the static
//! `airlock-verify` (scripts/reproducible-verifier.sh) and, if given, its Debian package,
//! copied beside the payload as signed documents. The enclave checks them with minisign
//! and sha256sum before running them (docs/manual-verify.md), then has a verifier for
//! this and later bundles.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use crate::digest::{HashingWriter, Sha256Digest};
use crate::error::{Error, Result};
use crate::layout::{DocPath, VERIFIER_DIR};
use crate::manifest::Document;

/// What to carry.
#[derive(Debug, Clone)]
pub struct Carried {
    /// The verifier binary (an ELF executable).
    pub binary: PathBuf,
    /// Its Debian package (`airlock-verify_*.deb`), if any.
    pub package: Option<PathBuf>,
}

/// The first bytes of an ELF file, and of a Debian package (an `ar` archive whose first
/// member is `debian-binary`, deb(5)).
const ELF_MAGIC: &[u8] = b"\x7fELF";
const DEB_MAGIC: &[u8] = b"!<arch>\ndebian-binary";

impl Carried {
    /// Check before any download that the files are there and are what they claim (a
    /// wrong path found after an hour of fetching wastes the hour).
    pub fn check(&self) -> Result<()> {
        for (path, doc) in self.files() {
            check_magic(path, doc)?;
        }
        Ok(())
    }

    fn files(&self) -> impl Iterator<Item = (&Path, DocPath)> {
        std::iter::once((self.binary.as_path(), DocPath::Verifier)).chain(
            self.package
                .as_deref()
                .map(|p| (p, DocPath::VerifierPackage)),
        )
    }

    /// Copy the files into the bundle directory `dir` (streamed, hashed on the way) and
    /// return their manifest entries.
    pub fn write(&self, dir: &Path) -> Result<Vec<Document>> {
        let sub = dir.join(VERIFIER_DIR);
        std::fs::create_dir_all(&sub).map_err(|e| Error::io("create directory", &sub, e))?;
        self.files()
            .map(|(path, doc)| {
                check_magic(path, doc)?;
                let (sha256, size) = copy(path, &dir.join(doc.file_name()), doc)?;
                Ok(Document {
                    path: doc,
                    size,
                    sha256,
                    media_type: doc.media_type().to_string(),
                })
            })
            .collect()
    }
}

/// Refuse a file that does not start as its kind must (a script or a tarball given as
/// the verifier would only fail inside the air gap).
fn check_magic(path: &Path, doc: DocPath) -> Result<()> {
    let (magic, kind) = match doc {
        DocPath::VerifierPackage => (DEB_MAGIC, "a Debian package (deb(5))"),
        _ => (ELF_MAGIC, "an ELF executable"),
    };
    let what = "--with-verifier file";
    let mut head = vec![0u8; magic.len()];
    crate::fsutil::open_regular(path, what)?
        .read_exact(&mut head)
        .map_err(|e| Error::invalid(what, path.display(), format!("not {kind}: {e}")))?;
    if head != magic {
        return Err(Error::invalid(what, path.display(), format!("not {kind}")));
    }
    Ok(())
}

/// Copy `from` to `to` as an executable (the binary) or plain file, returning its
/// sha256 and size.
fn copy(from: &Path, to: &Path, doc: DocPath) -> Result<(Sha256Digest, u64)> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut src = crate::fsutil::open_regular(from, "--with-verifier file")?;
    let mode = if doc == DocPath::Verifier {
        0o755
    } else {
        0o644
    };
    let dst = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(to)
        .map_err(|e| Error::io("create", to, e))?;
    let mut w = HashingWriter::new(dst);
    std::io::copy(&mut src, &mut w).map_err(|e| Error::io("copy", from, e))?;
    let (mut dst, sha256, size) = w.finish();
    dst.flush().map_err(|e| Error::io("write", to, e))?;
    dst.sync_all().map_err(|e| Error::io("sync", to, e))?;
    Ok((sha256, size))
}
