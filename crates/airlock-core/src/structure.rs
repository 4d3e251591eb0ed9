//! The structure digest of a payload: the sha256 of the compressed file with the contents
//! of its raw zstd blocks left out.
//!
//! Why: verifying a bundle used to hash every byte twice, once as part of the compressed
//! file's sha256 and once, decoded, as part of an entry's sha256. Most of a hop's bytes
//! are gzip layers, which zstd stores as *raw blocks*: the block's bytes are copied to the
//! output as they are. Those bytes are already bound by the entry hashes, so the
//! verifier hashes only the rest of the file here (frame and block headers, compressed
//! and RLE blocks, checksums, skippable frames; a few KiB per GiB of layers) and checks
//! the result against the signed `structure_sha256`.
//!
//! Why that still binds every byte of the file: the walker below is a deterministic
//! state machine whose next step depends only on the bytes it hashed so far (headers
//! decide where a raw block starts and how long it is; a raw block's content never
//! changes what comes after it). So a file whose hashed bytes equal the signed ones has
//! the builder's blocks at the builder's offsets, and differs from the builder's file at
//! most inside raw blocks. A raw block decodes to itself at an output offset fixed by
//! the blocks before it, and the verifier checks every byte of the decoded tar stream
//! (canonical headers, entry sha256s, zero padding, exact length). So the raw contents
//! are the builder's too, and the file is the one whose sha256 the manifest records.
//!
//! The walker never fails: bytes it cannot parse (a reserved block type, an unknown
//! magic) and everything after them are simply hashed, which can only make a mismatch
//! more likely. It allocates nothing and holds at most 14 header bytes.

use crate::digest::{Hasher, Sha256Digest};

/// zstd frame magic number (RFC 8878, 3.1.1).
const ZSTD_MAGIC: u32 = 0xFD2F_B528;
/// Skippable frames: 0x184D2A50 to 0x184D2A5F (RFC 8878, 3.1.2).
const SKIPPABLE_MAGIC: u32 = 0x184D_2A50;

/// Header bytes being collected, and what they are.
#[derive(Debug, Clone, Copy)]
enum Want {
    Magic,
    Descriptor,
    FrameRest { checksum: bool },
    SkippableSize,
    Block { checksum: bool },
}

/// What follows a span of content.
#[derive(Debug, Clone, Copy)]
enum Then {
    Block { checksum: bool },
    Checksum,
    Magic,
}

#[derive(Debug, Clone, Copy)]
enum State {
    /// Collecting `need` header bytes (hashed).
    Collect { want: Want, need: usize },
    /// Passing `left` bytes of content, hashed unless they are a raw block's.
    Span { left: u64, hashed: bool, then: Then },
    /// Not a structure the walker knows: hash everything from here on.
    Opaque,
}

/// Incremental structure digest: feed the compressed file in chunks of any size.
#[derive(Clone)]
pub struct StructureHasher {
    hasher: Hasher,
    state: State,
    header: [u8; 14],
    have: usize,
    raw: u64,
}

impl Default for StructureHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl StructureHasher {
    /// At the start of a file.
    pub fn new() -> Self {
        StructureHasher {
            hasher: Hasher::new(),
            state: State::Collect {
                want: Want::Magic,
                need: 4,
            },
            header: [0; 14],
            have: 0,
            raw: 0,
        }
    }

    /// The next bytes of the file.
    pub fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            match self.state {
                State::Opaque => {
                    self.hasher.update(data);
                    return;
                }
                State::Span { left, hashed, then } => {
                    let k = data.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    if hashed {
                        self.hasher.update(&data[..k]);
                    } else {
                        self.raw += k as u64;
                    }
                    data = &data[k..];
                    let left = left - k as u64;
                    self.state = if left == 0 {
                        after(then)
                    } else {
                        State::Span { left, hashed, then }
                    };
                }
                State::Collect { want, need } => {
                    let k = data.len().min(need - self.have);
                    self.header[self.have..self.have + k].copy_from_slice(&data[..k]);
                    self.hasher.update(&data[..k]);
                    self.have += k;
                    data = &data[k..];
                    if self.have == need {
                        self.have = 0;
                        self.state = decide(want, &self.header[..need]);
                    }
                }
            }
        }
    }

    /// Bytes left out of the digest so far (raw block contents).
    pub fn raw_bytes(&self) -> u64 {
        self.raw
    }

    /// The digest of everything but raw block contents.
    pub fn finish(self) -> Sha256Digest {
        self.hasher.finish().0
    }
}

/// The structure digest of a whole file held in memory (tests, small payloads).
pub fn of(bytes: &[u8]) -> Sha256Digest {
    let mut h = StructureHasher::new();
    h.update(bytes);
    h.finish()
}

/// The state after a span of content.
fn after(then: Then) -> State {
    match then {
        Then::Block { checksum } => State::Collect {
            want: Want::Block { checksum },
            need: 3,
        },
        Then::Checksum => span(4, true, Then::Magic),
        Then::Magic => State::Collect {
            want: Want::Magic,
            need: 4,
        },
    }
}

/// A span of `left` bytes; an empty one goes straight to what follows it.
fn span(left: u64, hashed: bool, then: Then) -> State {
    if left == 0 {
        after(then)
    } else {
        State::Span { left, hashed, then }
    }
}

fn le(bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .rev()
        .fold(0u32, |acc, &b| (acc << 8) | u32::from(b))
}

/// What the collected header bytes announce.
fn decide(want: Want, h: &[u8]) -> State {
    match want {
        Want::Magic => match le(h) {
            ZSTD_MAGIC => State::Collect {
                want: Want::Descriptor,
                need: 1,
            },
            m if m & 0xFFFF_FFF0 == SKIPPABLE_MAGIC => State::Collect {
                want: Want::SkippableSize,
                need: 4,
            },
            _ => State::Opaque,
        },
        Want::Descriptor => {
            // Frame_Header_Descriptor (RFC 8878, 3.1.1.1.1).
            let d = h[0];
            let single_segment = d & 0x20 != 0;
            let checksum = d & 0x04 != 0;
            let window = usize::from(!single_segment);
            let dict_id = [0, 1, 2, 4][usize::from(d & 3)];
            let content_size = match d >> 6 {
                0 => usize::from(single_segment),
                1 => 2,
                2 => 4,
                _ => 8,
            };
            match window + dict_id + content_size {
                0 => after(Then::Block { checksum }),
                need => State::Collect {
                    want: Want::FrameRest { checksum },
                    need,
                },
            }
        }
        Want::FrameRest { checksum } => after(Then::Block { checksum }),
        Want::SkippableSize => span(u64::from(le(h)), true, Then::Magic),
        Want::Block { checksum } => {
            // Block_Header (RFC 8878, 3.1.1.2): Last_Block, Block_Type, Block_Size.
            let b = le(h);
            let next = match (b & 1 != 0, checksum) {
                (false, _) => Then::Block { checksum },
                (true, true) => Then::Checksum,
                (true, false) => Then::Magic,
            };
            let size = u64::from(b >> 3);
            match (b >> 1) & 3 {
                0 => span(size, false, next),
                1 => span(1, true, next),
                2 => span(size, true, next),
                _ => State::Opaque,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn noise(n: usize, seed: u64) -> Vec<u8> {
        crate::testdata::noise(seed, n)
    }

    fn frame(data: &[u8], level: i32, checksum: bool) -> Vec<u8> {
        let mut e = zstd::stream::write::Encoder::new(Vec::new(), level).expect("encoder");
        e.include_checksum(checksum).expect("checksum");
        std::io::Write::write_all(&mut e, data).expect("write");
        e.finish().expect("finish")
    }

    #[test]
    fn raw_block_contents_are_left_out_and_nothing_else() {
        let data = noise(300_000, 7);
        let z = frame(&data, 1, true);
        let mut h = StructureHasher::new();
        h.update(&z);
        // Incompressible input: every input byte sits in a raw block.
        assert_eq!(h.raw_bytes(), data.len() as u64);
        // Changing a raw block's content does not change the digest...
        let mut other = z.clone();
        let i = z.len() / 2;
        other[i] ^= 0xFF;
        assert_eq!(of(&z), of(&other));
        // ...but any header, compressed block or checksum byte does.
        let compressible = frame(&vec![b'a'; 200_000], 3, true);
        for i in 0..compressible.len() {
            let mut c = compressible.clone();
            c[i] ^= 1;
            assert_ne!(
                of(&c),
                of(&compressible),
                "flip at {i} left the digest alone"
            );
        }
    }

    #[test]
    fn the_window_descriptor_is_covered() {
        // The byte after the descriptor of a multi-segment frame: a flip there can leave
        // the decoded output of raw blocks unchanged, so it must change the digest.
        let z = frame(&noise(10_000, 3), 1, false);
        assert_eq!(z[4] & 0x20, 0, "expected a window descriptor");
        let mut c = z.clone();
        c[5] ^= 1;
        assert_ne!(of(&z), of(&c));
    }

    #[test]
    fn unknown_magic_hashes_the_rest() {
        let mut h = StructureHasher::new();
        h.update(b"not zstd at all, and then some more bytes");
        assert_eq!(h.raw_bytes(), 0);
        assert_eq!(
            h.finish(),
            Sha256Digest::of(b"not zstd at all, and then some more bytes")
        );
    }

    #[test]
    fn skippable_frames_are_hashed() {
        let mut s = vec![0x50, 0x2A, 0x4D, 0x18, 3, 0, 0, 0, 1, 2, 3];
        s.extend(frame(&noise(5000, 9), 1, true));
        let mut c = s.clone();
        c[9] ^= 1;
        assert_ne!(of(&s), of(&c));
    }

    proptest! {
        /// Any way of cutting the file into chunks gives the same digest.
        #[test]
        fn chunking_does_not_matter(
            seed in any::<u64>(),
            len in 0usize..200_000,
            cuts in proptest::collection::vec(any::<usize>(), 0..20),
        ) {
            let mut data = noise(len, seed);
            data.extend(std::iter::repeat_n(b'z', len / 3));
            let z = [frame(&data, 1, true), frame(&data, 3, false)].concat();
            let mut points: Vec<usize> = cuts.iter().map(|c| c % (z.len() + 1)).collect();
            points.sort_unstable();
            let mut h = StructureHasher::new();
            let mut from = 0;
            for p in points.into_iter().chain([z.len()]) {
                h.update(&z[from..p]);
                from = p;
            }
            prop_assert_eq!(h.finish(), of(&z));
        }

        /// Arbitrary input never panics, and its digest is stable.
        #[test]
        fn arbitrary_input_is_total(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
            prop_assert_eq!(of(&bytes), of(&bytes));
        }
    }
}
