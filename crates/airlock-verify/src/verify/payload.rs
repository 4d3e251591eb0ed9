//! The payload pass: stream the compressed tar once and check every byte against the
//! signed manifest.
//!
//! Consumers of entries (verify, install) get a [`VerifyingReader`] that reports a hash
//! mismatch as an error *instead of* end-of-file, so nothing can commit unverified bytes
//! by accident.

use std::io::{self, Read};

use super::SignedBundle;
use crate::digest::{Hasher, Sha256Digest};
use crate::error::{Error, Result};
use crate::escape;
use crate::layout::{self, PAYLOAD_FILE};
use crate::manifest::{BundleManifest, Entry};
use crate::readahead::ReadAhead;

/// zstd window limit when decoding (2^24 = 16 MiB; airlock writes at most 2^23).
pub const ZSTD_WINDOW_LOG_MAX: u32 = 24;

/// What the payload walk saw.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WalkSummary {
    /// Entries checked.
    pub entries: usize,
    /// Uncompressed bytes checked.
    pub bytes: u64,
}

/// How much of the payload a walk checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Everything: the compressed file's sha256 as well as every entry (verification).
    Whole,
    /// Every entry's header, size and sha256, and the tar stream's length, but not the
    /// compressed file's own sha256. Only for a second pass over a bundle whose whole
    /// check already passed: every byte a consumer gets is still an entry checked
    /// against the signed manifest, so a file swapped between the passes still installs
    /// nothing wrong, and one SHA-256 pass over the compressed bytes is saved.
    Entries,
}

/// The compressed payload bytes, read from the bundle's payload file (or its data
/// volumes, chained) and checked against the manifest's size (and, for [`Check::Whole`],
/// sha256) as they pass.
pub struct PayloadSource {
    inner: Box<dyn Read + Send>,
    hasher: Option<Hasher>,
    len: u64,
    expected_size: u64,
    expected_sha256: Sha256Digest,
}

impl PayloadSource {
    /// Open the payload of `m` in `dir`, refusing a non-regular file or a wrong size
    /// before reading a byte.
    pub fn open(dir: &std::path::Path, m: &BundleManifest, check: Check) -> Result<Self> {
        Ok(PayloadSource {
            inner: crate::media::volumes::open_stream(dir, &m.payload)?,
            hasher: (check == Check::Whole).then(Hasher::new),
            len: 0,
            expected_size: m.payload.size,
            expected_sha256: m.payload.sha256,
        })
    }

    /// Read what is left and check the whole file's size (and sha256).
    pub fn finish(mut self) -> Result<()> {
        let fail = |reason: String| Error::verification(PAYLOAD_FILE, reason);
        io::copy(&mut self, &mut io::sink()).map_err(|e| fail(format!("read: {e}")))?;
        if self.len != self.expected_size {
            return Err(fail(format!(
                "{} bytes long, the manifest says {}",
                self.len, self.expected_size
            )));
        }
        if let Some(hasher) = self.hasher.take() {
            let (digest, _) = hasher.finish();
            if digest != self.expected_sha256 {
                return Err(fail(format!(
                    "sha256 {} differs from the manifest's {}",
                    digest.hex(),
                    self.expected_sha256.hex()
                )));
            }
        }
        Ok(())
    }
}

impl Read for PayloadSource {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..n]);
        }
        self.len += n as u64;
        Ok(n)
    }
}

/// Counts the decoded tar stream and fails the moment it passes the signed `tar_size`:
/// a payload that decompresses to more than was signed (a zstd bomb after the archive)
/// costs at most one chunk of work, not hours.
struct Limited<R> {
    inner: R,
    n: u64,
    limit: u64,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let room = self.limit - self.n;
        if room == 0 {
            // Everything signed has been passed on; one more byte means the stream is
            // longer than signed.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "tar stream is longer than the manifest's tar_size of {} bytes",
                        self.limit
                    ),
                )),
            };
        }
        let want = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let k = self.inner.read(&mut buf[..want])?;
        self.n += k as u64;
        Ok(k)
    }
}

type Decoded = Limited<zstd::stream::read::Decoder<'static, ReadAhead<PayloadSource>>>;

/// Start the three stages, each on its own thread, like `cat | zstd -dc | tar` but in one
/// process: read and hash the compressed file; decode (stopping at `tar_size`); parse the
/// tar stream and hash every entry (the caller's thread). Bounded queues keep memory flat.
fn decode(bundle: &SignedBundle, check: Check) -> Result<ReadAhead<Decoded>> {
    let m = bundle.manifest();
    let fail = |reason: String| Error::verification(PAYLOAD_FILE, reason);
    let source = PayloadSource::open(bundle.dir(), m, check)?;
    let reading = ReadAhead::spawn(source, 1 << 20, 4)
        .map_err(|e| fail(format!("start reader thread: {e}")))?;
    // The decoder reads the read-ahead chunks in place (BufRead): no extra copy.
    let mut decoder = zstd::stream::read::Decoder::with_buffer(reading)
        .map_err(|e| fail(format!("zstd: {e}")))?;
    decoder
        .window_log_max(ZSTD_WINDOW_LOG_MAX)
        .map_err(|e| fail(format!("zstd: {e}")))?;
    let limited = Limited {
        inner: decoder,
        n: 0,
        limit: m.payload.tar_size,
    };
    ReadAhead::spawn(limited, 256 * 1024, 8).map_err(|e| fail(format!("start decoder thread: {e}")))
}

/// Stream the payload once, checking every entry, and hand each entry's verified content
/// to `visit`. `visit` must read through the [`VerifyingReader`]; whatever it leaves
/// unread is read and checked afterwards.
pub(super) fn walk(
    bundle: &SignedBundle,
    check: Check,
    visit: &mut dyn FnMut(&Entry, &mut VerifyingReader<'_>) -> Result<()>,
    on_progress: &dyn Fn(u64),
) -> Result<WalkSummary> {
    let m = bundle.manifest();
    let fail = |reason: String| Error::verification(PAYLOAD_FILE, reason);
    let mut archive = tar::Archive::new(decode(bundle, check)?);
    let mut idx = 0usize;
    let mut bytes = 0u64;
    {
        // Raw: GNU long-name and PAX records come back as entries of their own (and are
        // refused below as non-regular) instead of being applied silently.
        let entries = archive
            .entries()
            .map_err(|e| fail(format!("tar: {e}")))?
            .raw(true);
        for item in entries {
            let mut entry =
                item.map_err(|e| fail(format!("tar stream after {idx} entries: {e}")))?;
            let Some(expected) = m.entries.get(idx) else {
                let name = escape::bytes(&entry.path_bytes());
                return Err(fail(format!(
                    "entry {name} is not in the manifest (extra entry)"
                )));
            };
            check_header(m, expected, entry.header())?;
            let mut vr = VerifyingReader {
                inner: &mut entry,
                hasher: Hasher::new(),
                expected,
                verified: false,
            };
            let e_fail = |reason: String| {
                Error::verification(format!("{PAYLOAD_FILE} entry {}", expected.path), reason)
            };
            visit(expected, &mut vr).map_err(|e| match e {
                Error::Io { source, .. } if source.kind() == io::ErrorKind::InvalidData => {
                    e_fail(source.to_string())
                }
                other => other,
            })?;
            vr.drain()?;
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
    finish(archive.into_inner())?;
    Ok(WalkSummary {
        entries: idx,
        bytes,
    })
}

/// The header must be exactly the one airlock writes for this entry: the expected name
/// and size, a regular file, fixed mode, owner and time. Checking all 512 bytes leaves no
/// field (a link target, a device number, a PAX or GNU extension type) for a tar reader
/// elsewhere to interpret differently.
fn check_header(m: &BundleManifest, expected: &Entry, got: &tar::Header) -> Result<()> {
    let want = layout::tar_header(&expected.path, expected.size).map_err(|e| {
        Error::verification(PAYLOAD_FILE, format!("header for {}: {e}", expected.path))
    })?;
    if got.as_bytes() == want.as_bytes() {
        return Ok(());
    }
    // Error::verification escapes the artifact name once.
    let name = String::from_utf8_lossy(&got.path_bytes()).into_owned();
    let e_fail =
        |reason: String| Error::verification(format!("{PAYLOAD_FILE} entry {name}"), reason);
    if got.entry_type() != tar::EntryType::Regular {
        return Err(e_fail(format!(
            "type {:?} is not a regular file (links, devices, directories and extension \
             headers are refused)",
            got.entry_type()
        )));
    }
    if got.path_bytes().as_ref() != expected.path.to_string().as_bytes() {
        let listed = m
            .entries
            .iter()
            .any(|e| e.path.to_string().as_bytes() == got.path_bytes().as_ref());
        return Err(e_fail(if listed {
            format!(
                "out of order or duplicated; expected {} here",
                expected.path
            )
        } else {
            format!("is not in the manifest; expected {} here", expected.path)
        }));
    }
    match got.size() {
        Ok(s) if s != expected.size => Err(e_fail(format!(
            "size {s} differs from the manifest's {}",
            expected.size
        ))),
        _ => Err(e_fail(
            "header is not the canonical one airlock writes (mode, owner, time or format differ)"
                .into(),
        )),
    }
}

/// After the end-of-archive marker only zero padding may follow (and the stream may not
/// exceed `tar_size`, which [`Limited`] enforces); then the compressed file must end with
/// the right size and sha256.
fn finish(mut decoded: ReadAhead<Decoded>) -> Result<()> {
    let fail = |reason: String| Error::verification(PAYLOAD_FILE, reason);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = decoded
            .read(&mut buf)
            .map_err(|e| fail(format!("after the archive: {e}")))?;
        if n == 0 {
            break;
        }
        if buf[..n].iter().any(|&b| b != 0) {
            return Err(fail("data after the end of the tar archive".into()));
        }
    }
    let limited = decoded
        .into_inner()
        .map_err(|e| fail(format!("decoder thread: {e}")))?;
    if limited.n != limited.limit {
        return Err(fail(format!(
            "tar stream is {} bytes, the manifest says {}",
            limited.n, limited.limit
        )));
    }
    let mut rest = limited.inner.finish();
    // Anything after the last zstd frame still counts towards the file's size and hash.
    io::copy(&mut rest, &mut io::sink()).map_err(|e| fail(e.to_string()))?;
    rest.into_inner()
        .map_err(|e| fail(format!("reader thread: {e}")))?
        .finish()
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

    /// Read the rest of the entry, checking it.
    pub fn drain(&mut self) -> Result<()> {
        let path = self.expected.path;
        io::copy(self, &mut io::sink())
            .map_err(|e| Error::verification(format!("{PAYLOAD_FILE} entry {path}"), e))?;
        if !self.verified {
            return Err(Error::verification(
                format!("{PAYLOAD_FILE} entry {path}"),
                "was not read to the end",
            ));
        }
        Ok(())
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
