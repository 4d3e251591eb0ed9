//! The payload pass: stream the compressed tar once and check every byte against the
//! signed manifest.
//!
//! Consumers of entries (verify, install) get a [`VerifyingReader`] that reports a hash
//! mismatch as an error *instead of* end-of-file, so nothing can commit unverified bytes
//! by accident.

use std::io::{self, BufRead, Read};

use super::SignedBundle;
use crate::digest::{Hasher, Sha256Digest};
use crate::error::{Error, PayloadError as P, Result};
use crate::escape;
use crate::layout::{self, PAYLOAD_FILE};
use crate::manifest::{BundleManifest, Entry};
use crate::readahead::ReadAhead;
use crate::structure::StructureHasher;

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
    /// Every byte of the compressed file as well as every entry (verification): through
    /// the file's structure digest when the manifest has one (each byte is hashed once:
    /// raw blocks as entry content, the rest as structure; see [`crate::structure`]),
    /// else through the whole file's sha256.
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
/// structure digest or sha256) as they pass.
pub struct PayloadSource {
    inner: Box<dyn Read + Send>,
    digest: FileDigest,
    len: u64,
    expected_size: u64,
}

/// Which digest of the compressed file a pass computes, and the signed value it must
/// match.
enum FileDigest {
    None,
    Structure(StructureHasher, Sha256Digest),
    Whole(Hasher, Sha256Digest),
}

impl PayloadSource {
    /// Open the payload of `m` in `dir`, refusing a non-regular file or a wrong size
    /// before reading a byte.
    pub fn open(dir: &std::path::Path, m: &BundleManifest, check: Check) -> Result<Self> {
        Ok(PayloadSource {
            inner: crate::volumes::open_stream(dir, &m.payload)?,
            digest: match (check, m.payload.structure_sha256) {
                (Check::Entries, _) => FileDigest::None,
                (Check::Whole, Some(s)) => FileDigest::Structure(StructureHasher::new(), s),
                (Check::Whole, None) => FileDigest::Whole(Hasher::new(), m.payload.sha256),
            },
            len: 0,
            expected_size: m.payload.size,
        })
    }

    /// Read what is left and check the whole file's size (and sha256).
    pub fn finish(mut self) -> Result<()> {
        let fail = |reason: P| Error::rejected(PAYLOAD_FILE, reason);
        io::copy(&mut self, &mut io::sink()).map_err(|e| fail(stage("read", e)))?;
        if self.len != self.expected_size {
            return Err(fail(P::FileSize {
                found: self.len,
                declared: self.expected_size,
            }));
        }
        let (what, got, want) = match std::mem::replace(&mut self.digest, FileDigest::None) {
            FileDigest::None => return Ok(()),
            FileDigest::Structure(h, want) => ("structure digest", h.finish(), want),
            FileDigest::Whole(h, want) => ("sha256", h.finish().0, want),
        };
        if got != want {
            return Err(fail(P::FileDigest {
                what,
                found: got,
                declared: want,
            }));
        }
        Ok(())
    }
}

impl Read for PayloadSource {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        match &mut self.digest {
            FileDigest::None => {}
            FileDigest::Structure(h, _) => h.update(&buf[..n]),
            FileDigest::Whole(h, _) => h.update(&buf[..n]),
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
    let fail = |reason: P| Error::rejected(PAYLOAD_FILE, reason);
    let source = PayloadSource::open(bundle.dir(), m, check)?;
    let reading =
        ReadAhead::spawn(source, 1 << 20, 4).map_err(|e| fail(stage("start reader thread", e)))?;
    // The decoder reads the read-ahead chunks in place (BufRead): no extra copy.
    let mut decoder =
        zstd::stream::read::Decoder::with_buffer(reading).map_err(|e| fail(stage("zstd", e)))?;
    decoder
        .window_log_max(ZSTD_WINDOW_LOG_MAX)
        .map_err(|e| fail(stage("zstd", e)))?;
    let limited = Limited {
        inner: decoder,
        n: 0,
        limit: m.payload.tar_size,
    };
    ReadAhead::spawn(limited, 256 * 1024, 8).map_err(|e| fail(stage("start decoder thread", e)))
}

/// Stream the payload once, checking every entry, and hand each entry's verified content
/// to `visit`. `visit` must read through the [`VerifyingReader`]; whatever it leaves
/// unread is read and checked afterwards.
///
/// The tar stream is read here rather than by a tar library: every header must be the
/// canonical one for the next manifest entry, so the layout is known in advance, and
/// every byte of the stream is checked — headers byte for byte, content by sha256, the
/// padding after each entry and the end-of-archive blocks as zeros, and the length as the
/// signed `tar_size`. That is what lets [`crate::structure`] leave raw blocks out of the
/// file's digest.
pub(super) fn walk<E: VisitError>(
    bundle: &SignedBundle,
    check: Check,
    visit: &mut dyn FnMut(&Entry, &mut VerifyingReader<'_>) -> Result<(), E>,
    on_progress: &dyn Fn(u64),
) -> Result<WalkSummary, E> {
    let m = bundle.manifest();
    let fail = |reason: P| E::from(Error::rejected(PAYLOAD_FILE, reason));
    let mut stream = decode(bundle, check)?;
    let mut header = [0u8; BLOCK];
    let mut bytes = 0u64;
    for (idx, expected) in m.entries.iter().enumerate() {
        let missing = || {
            fail(P::EntryMissing {
                path: expected.path,
                after: idx,
                entries: m.entries.len(),
            })
        };
        match read_block(&mut stream, &mut header) {
            Ok(true) => {}
            Ok(false) => return Err(missing()),
            Err(e) => {
                let reason = e.to_string();
                return Err(fail(P::TarRead { after: idx, reason }));
            }
        }
        if header.iter().all(|&b| b == 0) {
            // The end-of-archive marker, early.
            return Err(missing());
        }
        check_header(m, expected, &header)?;
        let e_fail = |reason: P| {
            E::from(Error::rejected(
                format!("{PAYLOAD_FILE} entry {}", expected.path),
                reason,
            ))
        };
        {
            let mut content = (&mut stream).take(expected.size);
            let mut vr = VerifyingReader {
                inner: &mut content,
                hasher: Hasher::new(),
                expected,
                verified: false,
            };
            visit(expected, &mut vr).map_err(|e| match e.as_core() {
                // The reader found bytes that differ from the manifest: the bundle is bad.
                Some(Error::Io { source, .. }) if source.kind() == io::ErrorKind::InvalidData => {
                    e_fail(P::Stream {
                        reason: source.to_string(),
                    })
                }
                _ => e,
            })?;
            vr.drain()?;
        }
        let pad = padding(expected.size);
        match read_zeros(&mut stream, pad) {
            Ok(true) => {}
            Ok(false) => return Err(e_fail(P::Padding)),
            Err(e) => return Err(e_fail(stage("padding", e))),
        }
        bytes += expected.size;
        on_progress(expected.size);
    }
    // An entry the manifest does not list, where the end-of-archive marker belongs.
    match read_block(&mut stream, &mut header) {
        Ok(true) if header.iter().any(|&b| b != 0) => {
            let name = tar::Header::from_byte_slice(&header)
                .path_bytes()
                .into_owned();
            let name = escape::bytes(&name).to_string();
            return Err(fail(P::ExtraEntry { name }));
        }
        Ok(true) => {}
        Ok(false) => return Err(fail(P::NoEndMarker)),
        Err(e) => {
            let reason = e.to_string();
            return Err(fail(P::TarReadEnd { reason }));
        }
    }
    finish(stream)?;
    Ok(WalkSummary {
        entries: m.entries.len(),
        bytes,
    })
}

/// What a payload visitor may return: the core's error, or a caller's own that wraps it
/// (the enclave's, whose visitors upload and write files). The walk looks at the core
/// error, when there is one, to tell a reader that found changed bytes from any other
/// failure.
pub trait VisitError: From<Error> {
    /// The core error this is, if it is one (not looking under context layers).
    fn as_core(&self) -> Option<&Error>;
}

impl VisitError for Error {
    fn as_core(&self) -> Option<&Error> {
        Some(self)
    }
}

/// A reason from a failed stage of the pass.
fn stage(stage: &'static str, e: impl std::fmt::Display) -> P {
    P::Stage {
        stage,
        reason: e.to_string(),
    }
}

/// Tar block size.
const BLOCK: usize = 512;

/// Zero bytes after an entry of `size` bytes, up to the next block.
fn padding(size: u64) -> u64 {
    (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64
}

/// Read one whole block; `false` when the stream ends before it.
fn read_block(r: &mut impl Read, block: &mut [u8; BLOCK]) -> io::Result<bool> {
    match r.read_exact(block) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

/// Read `n` bytes (less than a block) and tell whether they were all there and zero.
fn read_zeros(r: &mut impl Read, n: u64) -> io::Result<bool> {
    let mut buf = [0u8; BLOCK];
    let want = &mut buf[..usize::try_from(n).unwrap_or(BLOCK).min(BLOCK)];
    match r.read_exact(want) {
        Ok(()) => Ok(want.iter().all(|&b| b == 0)),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

/// The header must be exactly the one airlock writes for this entry: the expected name
/// and size, a regular file, fixed mode, owner and time. Checking all 512 bytes leaves no
/// field (a link target, a device number, a PAX or GNU extension type) for a tar reader
/// elsewhere to interpret differently.
fn check_header(m: &BundleManifest, expected: &Entry, raw: &[u8; BLOCK]) -> Result<()> {
    let want = layout::tar_header(&expected.path, expected.size).map_err(|e| {
        let (path, reason) = (expected.path, e.to_string());
        Error::rejected(PAYLOAD_FILE, P::HeaderFor { path, reason })
    })?;
    if raw[..] == want.as_bytes()[..] {
        return Ok(());
    }
    // What is wrong, for the message; the bytes were refused already.
    let got = tar::Header::from_byte_slice(raw);
    // Error::rejected escapes the artifact name once.
    let name = String::from_utf8_lossy(&got.path_bytes()).into_owned();
    let e_fail = |reason: P| Error::rejected(format!("{PAYLOAD_FILE} entry {name}"), reason);
    if got.entry_type() != tar::EntryType::Regular {
        let found = format!("{:?}", got.entry_type());
        return Err(e_fail(P::EntryType { found }));
    }
    if got.path_bytes().as_ref() != expected.path.to_string().as_bytes() {
        let listed = m
            .entries
            .iter()
            .any(|e| e.path.to_string().as_bytes() == got.path_bytes().as_ref());
        let expected = expected.path;
        return Err(e_fail(if listed {
            P::EntryOrder { expected }
        } else {
            P::EntryUnlisted { expected }
        }));
    }
    match got.size() {
        Ok(found) if found != expected.size => Err(e_fail(P::EntrySize {
            found,
            declared: expected.size,
        })),
        _ => Err(e_fail(P::EntryHeader)),
    }
}

/// After the end-of-archive marker only zero padding may follow (and the stream may not
/// exceed `tar_size`, which [`Limited`] enforces); then the compressed file must end with
/// the right size and digest.
fn finish(mut decoded: ReadAhead<Decoded>) -> Result<()> {
    let fail = |reason: P| Error::rejected(PAYLOAD_FILE, reason);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = decoded
            .read(&mut buf)
            .map_err(|e| fail(stage("after the archive", e)))?;
        if n == 0 {
            break;
        }
        if buf[..n].iter().any(|&b| b != 0) {
            return Err(fail(P::DataAfterArchive));
        }
    }
    let limited = decoded
        .into_inner()
        .map_err(|e| fail(stage("decoder thread", e)))?;
    if limited.n != limited.limit {
        return Err(fail(P::TarSize {
            found: limited.n,
            declared: limited.limit,
        }));
    }
    let mut rest = limited.inner.finish();
    // Anything after the last zstd frame still counts towards the file's size and digest.
    io::copy(&mut rest, &mut io::sink()).map_err(|e| {
        fail(P::Stream {
            reason: e.to_string(),
        })
    })?;
    rest.into_inner()
        .map_err(|e| fail(stage("reader thread", e)))?
        .finish()
}

/// A reader over one payload entry that hashes as it goes and, at the end of the entry,
/// returns an `InvalidData` error instead of end-of-file when the content does not match
/// the manifest.
pub struct VerifyingReader<'a> {
    inner: &'a mut dyn BufRead,
    hasher: Hasher,
    expected: &'a Entry,
    verified: bool,
}

impl VerifyingReader<'_> {
    /// True once the whole entry was read and matched.
    pub fn is_verified(&self) -> bool {
        self.verified
    }

    /// Read the rest of the entry, checking it. Hashes the decoder's chunks in place:
    /// for `verify` this is where every entry byte goes, and a copy into a read buffer
    /// first would cost one more pass over the payload.
    pub fn drain(&mut self) -> Result<()> {
        let path = self.expected.path;
        let fail = |e: io::Error| {
            let reason = P::Stream {
                reason: e.to_string(),
            };
            Error::rejected(format!("{PAYLOAD_FILE} entry {path}"), reason)
        };
        while !self.verified {
            let chunk = self.inner.fill_buf().map_err(fail)?;
            let n = chunk.len();
            if n == 0 {
                self.check_end().map_err(fail)?;
                break;
            }
            self.hasher.update(chunk);
            self.inner.consume(n);
            self.check_length().map_err(fail)?;
        }
        Ok(())
    }

    fn check_length(&self) -> io::Result<()> {
        if self.hasher.len() > self.expected.size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "entry longer than the manifest says",
            ));
        }
        Ok(())
    }

    /// At the end of the entry: its size and sha256 must be the manifest's.
    fn check_end(&mut self) -> io::Result<()> {
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
            self.check_length()?;
            return Ok(n);
        }
        self.check_end()?;
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Rejection;
    use crate::layout::PayloadPath;

    /// A payload shaped like airlock's: a compressed frame of small entries, a frame of
    /// incompressible content (raw blocks), and another compressed frame.
    fn payload() -> (Vec<u8>, BundleManifest) {
        let layer = crate::testdata::noise(7, 300_000);
        let script = b"#!/bin/sh\necho kubeadm\n".repeat(200);
        crate::testdata::payload(&[
            (
                PayloadPath::OciLayout,
                br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
                3,
            ),
            (PayloadPath::Blob(Sha256Digest::of(&layer)), layer, -1),
            (PayloadPath::File(Sha256Digest::of(&script)), script, 3),
        ])
    }

    fn walk_bytes(bytes: &[u8], m: &BundleManifest) -> Result<WalkSummary> {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(PAYLOAD_FILE), bytes).expect("write");
        super::super::fuzz_walk(dir.path(), m.clone())
    }

    #[test]
    fn every_byte_of_the_file_is_bound_though_raw_blocks_are_hashed_once() {
        let (good, m) = payload();
        walk_bytes(&good, &m).expect("the payload as written verifies");
        let mut h = StructureHasher::new();
        h.update(&good);
        assert!(h.raw_bytes() >= 300_000, "the noise went into raw blocks");
        // Every byte of the structure (headers, window descriptors, compressed blocks,
        // checksums), and a sample of raw-block bytes: a flip of any is refused.
        let whole = crate::structure::of(&good);
        let mut c = good.clone();
        let structural: Vec<usize> = (0..good.len())
            .filter(|&i| {
                c[i] ^= 1;
                let changed = crate::structure::of(&c) != whole;
                c[i] ^= 1;
                changed
            })
            .collect();
        assert!(
            structural.len() < 4000,
            "{} structure bytes",
            structural.len()
        );
        let sample = (0..good.len()).step_by(997);
        for i in structural.into_iter().chain(sample) {
            let bit = i % 8;
            c[i] ^= 1 << bit;
            assert!(
                walk_bytes(&c, &m).is_err(),
                "bit {bit} of byte {i} flipped, not refused"
            );
            c[i] ^= 1 << bit;
        }
    }

    #[test]
    fn bundles_without_a_structure_digest_are_checked_against_the_whole_sha256() {
        let (good, mut m) = payload();
        m.payload.structure_sha256 = None;
        walk_bytes(&good, &m).expect("verifies");
        m.payload.sha256 = Sha256Digest::of(b"other");
        let e = walk_bytes(&good, &m).expect_err("wrong sha256");
        let reason = e.rejection().cloned();
        let declared = m.payload.sha256;
        assert!(
            matches!(reason, Some(Rejection::Payload(P::FileDigest { what: "sha256", declared: d, .. })) if d == declared),
            "{e}"
        );
    }

    #[test]
    fn non_zero_padding_after_an_entry_is_refused() {
        // The tar padding is not part of any entry's hash; with the structure digest in
        // place of the whole file's sha256 it must be checked on its own.
        let (good, m) = payload();
        let mut tar_bytes = zstd::decode_all(&good[..]).expect("decode");
        let end_of_first = 512 + m.entries[0].size as usize;
        tar_bytes[end_of_first] = b'!';
        let z = zstd::encode_all(&tar_bytes[..], 3).expect("encode");
        let mut m2 = m.clone();
        m2.payload.size = z.len() as u64;
        m2.payload.sha256 = Sha256Digest::of(&z);
        m2.payload.structure_sha256 = Some(crate::structure::of(&z));
        let e = walk_bytes(&z, &m2).expect_err("padding");
        let reason = e.rejection().cloned();
        assert_eq!(reason, Some(Rejection::Payload(P::Padding)), "{e}");
    }
}
