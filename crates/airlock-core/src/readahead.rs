//! A reader whose source runs on its own thread, a few chunks ahead.
//!
//! Verification is a chain of CPU-bound stages (read and hash the compressed file, zstd
//! decode, tar parse and hash every entry). `ReadAhead` splits that chain across two
//! cores the way `zstd -dc | openssl dgst` splits it across two processes, with a bounded
//! queue so memory stays at `depth` chunks whatever the stream size.
//!
//! Chunks go back to the producer once read, so the stream costs no allocation or
//! zeroing per chunk, and [`BufRead`] lets a consumer (the zstd decoder) read straight
//! from the chunk instead of through one more buffer.

use std::io::{self, BufRead, Read};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

/// Reads `R` on a background thread.
pub struct ReadAhead<R> {
    rx: Option<Receiver<io::Result<Vec<u8>>>>,
    /// Chunks handed back to the producer for reuse.
    spare: SyncSender<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
    handle: Option<JoinHandle<R>>,
}

impl<R: Read + Send + 'static> ReadAhead<R> {
    /// Start reading `inner` in chunks of `chunk` bytes, at most `depth` chunks ahead.
    pub fn spawn(mut inner: R, chunk: usize, depth: usize) -> io::Result<Self> {
        let depth = depth.max(1);
        let (tx, rx) = sync_channel(depth);
        // Room for every chunk that can be in flight: the queue, the one being read and
        // the one being filled.
        let (spare, returned) = sync_channel::<Vec<u8>>(depth + 2);
        let handle = std::thread::Builder::new()
            .name("airlock-readahead".into())
            .spawn(move || {
                loop {
                    let mut buf = returned.try_recv().unwrap_or_default();
                    // A returned chunk keeps its length; only a short tail is zeroed again.
                    buf.resize(chunk, 0);
                    match inner.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            buf.truncate(n);
                            if tx.send(Ok(buf)).is_err() {
                                break; // the consumer stopped early
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            break;
                        }
                    }
                }
                inner
            })?;
        Ok(ReadAhead {
            rx: Some(rx),
            spare,
            cur: Vec::new(),
            pos: 0,
            handle: Some(handle),
        })
    }

    /// Wait for the background thread and get the source back (after end of stream).
    pub fn into_inner(mut self) -> io::Result<R> {
        self.rx = None; // unblocks the thread if it was still sending
        self.handle
            .take()
            .ok_or_else(|| io::Error::other("read-ahead thread already joined"))?
            .join()
            .map_err(|_| io::Error::other("read-ahead thread panicked"))
    }
}

impl<R> BufRead for ReadAhead<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos == self.cur.len() {
            let Some(rx) = &self.rx else { return Ok(&[]) };
            match rx.recv() {
                Ok(Ok(v)) => {
                    let used = std::mem::replace(&mut self.cur, v);
                    self.pos = 0;
                    if used.capacity() > 0 {
                        // Full only if the producer stopped; then the chunk is just dropped.
                        let _ = self.spare.try_send(used);
                    }
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(&[]), // the thread finished: end of stream
            }
        }
        Ok(&self.cur[self.pos..])
    }

    fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.cur.len());
    }
}

impl<R> Read for ReadAhead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = buf.len().min(avail.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_bytes_through_in_order_and_returns_the_source() {
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut r = ReadAhead::spawn(io::Cursor::new(data.clone()), 4096, 3).unwrap();
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
        let cursor = r.into_inner().unwrap();
        assert_eq!(cursor.position(), 1_000_000);
    }

    /// Short reads from the source leave chunks of different lengths; reused chunks
    /// must never carry bytes of an earlier, longer chunk.
    #[test]
    fn reused_chunks_carry_no_stale_bytes() {
        struct Uneven {
            data: Vec<u8>,
            pos: usize,
            step: usize,
        }
        impl Read for Uneven {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.step = self.step % 7 + 1;
                let n = buf
                    .len()
                    .min(self.step * 300)
                    .min(self.data.len() - self.pos);
                buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
                self.pos += n;
                Ok(n)
            }
        }
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 253) as u8).collect();
        let src = Uneven {
            data: data.clone(),
            pos: 0,
            step: 0,
        };
        let mut r = ReadAhead::spawn(src, 1000, 2).unwrap();
        let mut out = Vec::new();
        // Through BufRead, as the zstd decoder reads it.
        loop {
            let buf = r.fill_buf().unwrap();
            if buf.is_empty() {
                break;
            }
            let take = buf.len().min(333);
            out.extend_from_slice(&buf[..take]);
            r.consume(take);
        }
        assert_eq!(out, data);
    }

    #[test]
    fn propagates_errors() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::InvalidData, "broken"))
            }
        }
        let mut r = ReadAhead::spawn(Failing, 16, 1).unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(
            r.read(&mut buf).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    }
}
