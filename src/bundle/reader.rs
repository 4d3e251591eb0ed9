//! Verify: the enclave side's reading of a bundle.
//!
//! Order matters and is the security argument (see `SECURITY.md`):
//! 1. read `manifest.json` as bytes and check the signatures over exactly those bytes,
//!    before parsing anything;
//! 2. parse the now-trusted manifest strictly;
//! 3. stream the payload once: every tar entry must be the next one the manifest lists,
//!    a plain regular file with the listed name and size, and hash to the listed sha256;
//!    no entry missing, extra, duplicated or of another type; nothing after the end of
//!    the archive but zero padding; and the compressed file must hash to the listed
//!    sha256.
//!
//! Nothing here writes to disk. Consumers of entries (the installer) get a reader that
//! reports a hash mismatch as an error *instead of* end-of-file, so nothing can commit
//! unverified bytes by accident.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::bundle::manifest::{
    BundleManifest, Entry, MANIFEST_FILE, MAX_MANIFEST_JSON_BYTES, PAYLOAD_FILE, SIGNATURES_DIR,
    SUMS_FILE,
};
use crate::digest::{Hasher, HashingReader, Sha256Digest};
use crate::error::{Error, Result};
use crate::lock::read_limited;
use crate::trust::{PublicKey, VerifiedSignature};

/// Largest signature file read.
pub const MAX_SIGNATURE_BYTES: u64 = 4096;
/// Most signature files read.
pub const MAX_SIGNATURES: usize = 256;
/// zstd window limit when decoding (2^24 = 16 MiB; airlock writes at most 2^23).
pub const ZSTD_WINDOW_LOG_MAX: u32 = 24;

/// A bundle whose manifest signatures have been verified.
#[derive(Debug)]
pub struct OpenedBundle {
    /// The bundle directory.
    pub dir: PathBuf,
    /// The parsed manifest.
    pub manifest: BundleManifest,
    /// sha256 of `manifest.json`.
    pub manifest_sha256: Sha256Digest,
    /// The signatures that were accepted (distinct trusted keys).
    pub signatures: Vec<VerifiedSignature>,
    /// Signature files present but not counted, with the reason.
    pub rejected_signatures: Vec<(String, String)>,
}

/// Read and check the signatures, then parse the manifest. Reads nothing else.
pub fn open_verified(dir: &Path, trusted: &[PublicKey], threshold: usize) -> Result<OpenedBundle> {
    let mpath = dir.join(MANIFEST_FILE);
    let bytes = read_limited(&mpath, MAX_MANIFEST_JSON_BYTES, "bundle manifest")
        .map_err(|e| Error::verification(mpath.display(), e))?;
    let sig_dir = dir.join(SIGNATURES_DIR);
    let mut sigs: Vec<(String, String)> = Vec::new();
    let listing = std::fs::read_dir(&sig_dir).map_err(|e| {
        Error::verification(sig_dir.display(), format!("cannot list signatures: {e}"))
    })?;
    for ent in listing {
        let ent = ent.map_err(|e| Error::io("list", &sig_dir, e))?;
        let name = ent.file_name().to_string_lossy().to_string();
        let meta = std::fs::symlink_metadata(ent.path())
            .map_err(|e| Error::io("inspect", ent.path(), e))?;
        if !meta.is_file() || !name.ends_with(".minisig") {
            continue;
        }
        if sigs.len() >= MAX_SIGNATURES {
            return Err(Error::verification(
                sig_dir.display(),
                format!("more than {MAX_SIGNATURES} signature files"),
            ));
        }
        let text = read_limited(&ent.path(), MAX_SIGNATURE_BYTES, "signature file")
            .map_err(|e| Error::verification(ent.path().display(), e))?;
        let text = String::from_utf8(text).map_err(|_| {
            Error::verification(ent.path().display(), "signature file is not UTF-8")
        })?;
        sigs.push((format!("{SIGNATURES_DIR}/{name}"), text));
    }
    sigs.sort();
    if sigs.is_empty() {
        return Err(Error::verification(
            sig_dir.display(),
            "no signature files (*.minisig)",
        ));
    }
    let outcome = crate::trust::verify_threshold(trusted, &bytes, &sigs, threshold)?;
    let manifest = BundleManifest::parse_verified(&bytes)?;
    let manifest_sha256 = Sha256Digest::of(&bytes);
    check_sums_file(dir, &manifest, &manifest_sha256)?;
    Ok(OpenedBundle {
        dir: dir.to_path_buf(),
        manifest,
        manifest_sha256,
        signatures: outcome.valid,
        rejected_signatures: outcome
            .rejected
            .into_iter()
            .map(|(n, e)| (n, e.to_string()))
            .collect(),
    })
}

/// `SHA256SUMS` is for people with `sha256sum -c`; it is not signed, so it can only be
/// checked against the signed manifest. A copy that disagrees means someone edited it.
fn check_sums_file(dir: &Path, m: &BundleManifest, manifest_sha: &Sha256Digest) -> Result<()> {
    let path = dir.join(SUMS_FILE);
    let text = read_limited(&path, 64 * 1024, "SHA256SUMS")
        .map_err(|e| Error::verification(path.display(), e))?;
    let expected = format!(
        "{}  {MANIFEST_FILE}\n{}  {PAYLOAD_FILE}\n",
        manifest_sha.hex(),
        m.payload.sha256.hex()
    );
    if text != expected.as_bytes() {
        return Err(Error::verification(
            path.display(),
            "does not match the signed manifest",
        ));
    }
    Ok(())
}

/// A reader over one payload entry that hashes as it goes and, at the end of the entry,
/// returns an `InvalidData` error instead of end-of-file when the content does not match
/// the manifest.
pub struct VerifyingReader<'a> {
    inner: &'a mut dyn Read,
    hasher: Hasher,
    expected: &'a Entry,
    verified: bool,
}

impl VerifyingReader<'_> {
    /// True once the whole entry was read and matched.
    pub fn is_verified(&self) -> bool {
        self.verified
    }
}

impl Read for VerifyingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.verified {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.hasher.update(&buf[..n]);
            if self.hasher.len() > self.expected.size {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "entry longer than the manifest says",
                ));
            }
            return Ok(n);
        }
        let (got, len) = std::mem::take(&mut self.hasher).finish();
        if len != self.expected.size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "size {len} differs from the manifest's {}",
                    self.expected.size
                ),
            ));
        }
        if got != self.expected.sha256 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "sha256 mismatch (manifest {}, content {})",
                    self.expected.sha256.hex(),
                    got.hex()
                ),
            ));
        }
        self.verified = true;
        Ok(0)
    }
}

/// What the payload walk saw.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WalkSummary {
    /// Entries checked.
    pub entries: usize,
    /// Uncompressed bytes checked.
    pub bytes: u64,
}

struct CountingReader<R> {
    inner: R,
    n: u64,
}
impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.n += k as u64;
        Ok(k)
    }
}

/// Stream the payload once, checking every entry, and hand each entry's verified content
/// to `visit`. `visit` must read through the [`VerifyingReader`]; whatever it leaves
/// unread is read and checked afterwards.
pub fn walk_payload(
    bundle: &OpenedBundle,
    visit: &mut dyn FnMut(&Entry, &mut VerifyingReader<'_>) -> Result<()>,
    on_progress: &dyn Fn(u64),
) -> Result<WalkSummary> {
    let m = &bundle.manifest;
    let path = bundle.dir.join(&m.payload.file);
    let label = PAYLOAD_FILE;
    let fail = |reason: String| Error::verification(label, reason);
    let file = File::open(&path).map_err(|e| fail(format!("cannot open: {e}")))?;
    let actual_size = file.metadata().map_err(|e| fail(e.to_string()))?.len();
    if actual_size != m.payload.size {
        return Err(fail(format!(
            "size {actual_size} bytes differs from the manifest's {} (truncated or extended)",
            m.payload.size
        )));
    }
    // Three stages, each on its own thread, like `cat | zstd -dc | sha256sum` but in one
    // process: read and hash the compressed file; decode; parse the tar stream and hash
    // every entry (this thread). Bounded queues keep memory flat.
    let hashing = crate::readahead::ReadAhead::spawn(HashingReader::new(file), 1 << 20, 4)
        .map_err(|e| fail(format!("start reader thread: {e}")))?;
    let mut decoder =
        zstd::stream::read::Decoder::with_buffer(BufReader::with_capacity(1 << 17, hashing))
            .map_err(|e| fail(format!("zstd: {e}")))?;
    decoder
        .window_log_max(ZSTD_WINDOW_LOG_MAX)
        .map_err(|e| fail(format!("zstd: {e}")))?;
    let ahead = crate::readahead::ReadAhead::spawn(decoder, 256 * 1024, 8)
        .map_err(|e| fail(format!("start decoder thread: {e}")))?;
    let counting = CountingReader { inner: ahead, n: 0 };
    let mut archive = tar::Archive::new(counting);
    let mut idx = 0usize;
    let mut bytes = 0u64;
    {
        let entries = archive.entries().map_err(|e| fail(format!("tar: {e}")))?;
        for item in entries {
            let mut entry =
                item.map_err(|e| fail(format!("tar stream after {idx} entries: {e}")))?;
            let name = String::from_utf8_lossy(&entry.path_bytes()).to_string();
            let Some(expected) = m.entries.get(idx) else {
                return Err(fail(format!(
                    "entry {name:?} is not in the manifest (extra entry)"
                )));
            };
            let e_fail =
                |reason: String| Error::verification(format!("{label} entry {name}"), reason);
            let header = entry.header();
            if header.entry_type().as_byte() != b'0' {
                return Err(e_fail(format!(
                    "type {:?} is not a regular file (links, devices and directories are refused)",
                    header.entry_type()
                )));
            }
            if header.path_bytes().as_ref() != entry.path_bytes().as_ref() {
                return Err(e_fail(
                    "uses a long-name extension; airlock payloads never do".into(),
                ));
            }
            let header_size = header.size().map_err(|e| e_fail(e.to_string()))?;
            if entry
                .pax_extensions()
                .map_err(|e| e_fail(e.to_string()))?
                .is_some()
            {
                return Err(e_fail(
                    "has PAX extended headers; airlock payloads never do".into(),
                ));
            }
            if name != expected.path.as_str() {
                let listed = m.entries.iter().any(|e| e.path.as_str() == name);
                return Err(e_fail(if listed {
                    format!(
                        "out of order or duplicated; expected {} here",
                        expected.path
                    )
                } else {
                    format!("is not in the manifest; expected {} here", expected.path)
                }));
            }
            if header_size != expected.size || entry.size() != expected.size {
                return Err(e_fail(format!(
                    "size {header_size} differs from the manifest's {}",
                    expected.size
                )));
            }
            let mut vr = VerifyingReader {
                inner: &mut entry,
                hasher: Hasher::new(),
                expected,
                verified: false,
            };
            visit(expected, &mut vr).map_err(|e| match e {
                Error::Io { source, .. } if source.kind() == io::ErrorKind::InvalidData => {
                    e_fail(source.to_string())
                }
                other => other,
            })?;
            io::copy(&mut vr, &mut io::sink()).map_err(|e| e_fail(e.to_string()))?;
            if !vr.is_verified() {
                return Err(e_fail("was not read to the end".into()));
            }
            bytes += expected.size;
            on_progress(expected.size);
            idx += 1;
        }
    }
    if idx < m.entries.len() {
        return Err(fail(format!(
            "entry {} is missing (payload ends after {idx} of {} entries)",
            m.entries[idx].path,
            m.entries.len()
        )));
    }
    // After the end-of-archive marker only zero padding may follow.
    let mut counting = archive.into_inner();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = counting
            .read(&mut buf)
            .map_err(|e| fail(format!("zstd after the archive: {e}")))?;
        if n == 0 {
            break;
        }
        if buf[..n].iter().any(|&b| b != 0) {
            return Err(fail("data after the end of the tar archive".into()));
        }
    }
    if counting.n != m.payload.tar_size {
        return Err(fail(format!(
            "tar stream is {} bytes, the manifest says {}",
            counting.n, m.payload.tar_size
        )));
    }
    let decoder = counting
        .inner
        .into_inner()
        .map_err(|e| fail(format!("decoder thread: {e}")))?;
    let mut rest = decoder.finish().into_inner();
    // Anything after the last zstd frame still counts towards the file's hash.
    io::copy(&mut rest, &mut io::sink()).map_err(|e| fail(e.to_string()))?;
    let hashing = rest
        .into_inner()
        .map_err(|e| fail(format!("reader thread: {e}")))?;
    let (_, digest, len) = hashing.finish();
    if len != m.payload.size || digest != m.payload.sha256 {
        return Err(fail(format!(
            "sha256 {} differs from the manifest's {}",
            digest.hex(),
            m.payload.sha256.hex()
        )));
    }
    Ok(WalkSummary {
        entries: idx,
        bytes,
    })
}

/// Verify a bundle completely without installing anything.
pub fn verify(bundle: &OpenedBundle, on_progress: &dyn Fn(u64)) -> Result<WalkSummary> {
    walk_payload(
        bundle,
        &mut |_, r| {
            io::copy(r, &mut io::sink()).map_err(|e| Error::io("verify", PAYLOAD_FILE, e))?;
            Ok(())
        },
        on_progress,
    )
}
