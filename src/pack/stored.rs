//! A zstd frame that stores its content in raw blocks, for content that is already
//! compressed (gzip layers, packages, chart archives).
//!
//! zstd at its fastest level still copied every byte into its job buffers, looked for
//! matches it never found in random-looking data, and copied the bytes out again as raw
//! blocks: about 0.4 s of CPU per GiB, a sixth of a cold build, for output of the same
//! size. A frame of raw blocks is what it produced anyway, written here with one copy and
//! an XXH64 for the frame checksum. Any zstd decoder reads it (RFC 8878, section 3.1.1).

use std::io::{self, Write};

use xxhash_rust::xxh64::Xxh64;

/// Bytes per raw block: zstd's largest block (`Block_Maximum_Size`).
const BLOCK: usize = 128 << 10;

/// zstd's magic number.
const MAGIC: u32 = 0xFD2F_B528;

/// Frame header descriptor: no content size (the frame is written as a stream), not
/// single-segment, a content checksum, no dictionary.
const DESCRIPTOR: u8 = 0b0000_0100;

/// Window descriptor: exponent 7, mantissa 0, a window of 2^(10+7) = 128 KiB. Raw blocks
/// refer to nothing before them; the window only has to hold one block.
const WINDOW: u8 = 7 << 3;

/// Block type of a raw block (bits 1-2 of the block header).
const RAW: u32 = 0;

/// A frame being written: every byte given to [`Write::write`] goes out unchanged in raw
/// blocks of [`BLOCK`] bytes (the last one shorter, possibly empty).
pub struct StoredFrame<W: Write> {
    inner: W,
    block: Vec<u8>,
    checksum: Xxh64,
}

impl<W: Write> StoredFrame<W> {
    /// Start a frame on `inner` (writes its header).
    pub fn new(mut inner: W) -> io::Result<Self> {
        inner.write_all(&MAGIC.to_le_bytes())?;
        inner.write_all(&[DESCRIPTOR, WINDOW])?;
        Ok(StoredFrame {
            inner,
            block: Vec::with_capacity(BLOCK),
            checksum: Xxh64::new(0),
        })
    }

    fn block_header(&mut self, len: usize, last: bool) -> io::Result<()> {
        let header = ((len as u32) << 3) | (RAW << 1) | u32::from(last);
        self.inner.write_all(&header.to_le_bytes()[..3])
    }

    fn emit_buffered(&mut self, last: bool) -> io::Result<()> {
        self.block_header(self.block.len(), last)?;
        self.inner.write_all(&self.block)?;
        self.block.clear();
        Ok(())
    }

    /// End the frame: the last block and the checksum (the low 32 bits of the content's
    /// XXH64). Returns the writer it was started on.
    pub fn finish(mut self) -> io::Result<W> {
        self.emit_buffered(true)?;
        let sum = self.checksum.digest() as u32;
        self.inner.write_all(&sum.to_le_bytes())?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for StoredFrame<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // A whole block's worth with nothing buffered goes straight through, uncopied.
        // Never as the last block: `finish` writes that, so a frame always ends the same
        // way whatever the sizes of the writes.
        let n = if self.block.is_empty() && buf.len() > BLOCK {
            self.block_header(BLOCK, false)?;
            self.inner.write_all(&buf[..BLOCK])?;
            BLOCK
        } else {
            let n = buf.len().min(BLOCK - self.block.len());
            self.block.extend_from_slice(&buf[..n]);
            if self.block.len() == BLOCK {
                self.emit_buffered(false)?;
            }
            n
        };
        self.checksum.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(content: &[u8], piece: usize) -> Vec<u8> {
        let mut f = StoredFrame::new(Vec::new()).unwrap();
        for p in content.chunks(piece.max(1)) {
            f.write_all(p).unwrap();
        }
        f.finish().unwrap()
    }

    #[test]
    fn zstd_reads_back_every_size_and_the_bytes_do_not_depend_on_the_writes() {
        for size in [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK, 3 * BLOCK + 17] {
            let content: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
            let frame = stored(&content, 4096);
            assert_eq!(zstd::decode_all(&frame[..]).unwrap(), content, "{size}");
            // Raw blocks: the frame is the content plus 6 header bytes, 3 per block and
            // 4 of checksum.
            let blocks = size / BLOCK + 1;
            assert_eq!(frame.len(), size + 6 + 3 * blocks + 4, "{size}");
            for piece in [1, 1000, BLOCK, BLOCK + 5, size] {
                assert_eq!(
                    stored(&content, piece),
                    frame,
                    "{size} in pieces of {piece}"
                );
            }
        }
    }

    #[test]
    fn a_damaged_frame_is_refused_by_zstd() {
        let content: Vec<u8> = (0..BLOCK + 100).map(|i| (i % 7) as u8).collect();
        let frame = stored(&content, 999);
        // A content byte: only the checksum can tell.
        let mut bad = frame.clone();
        bad[6 + 3 + 10] ^= 1;
        assert!(zstd::decode_all(&bad[..]).is_err());
        // The checksum itself.
        let mut bad = frame.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0x80;
        assert!(zstd::decode_all(&bad[..]).is_err());
    }
}
