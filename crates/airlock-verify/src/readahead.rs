//! A reader whose source runs on its own thread, a few chunks ahead.
//!
//! Verification is a chain of CPU-bound stages (read and hash the compressed file, zstd
//! decode, tar parse and hash every entry). `ReadAhead` splits that chain across two
//! cores the way `zstd -dc | openssl dgst` splits it across two processes, with a bounded
//! queue so memory stays at `depth` chunks whatever the stream size.

use std::io::{self, Read};
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;

/// Reads `R` on a background thread.
pub struct ReadAhead<R> {
    rx: Option<Receiver<io::Result<Vec<u8>>>>,
    cur: Vec<u8>,
    pos: usize,
    handle: Option<JoinHandle<R>>,
}

impl<R: Read + Send + 'static> ReadAhead<R> {
    /// Start reading `inner` in chunks of `chunk` bytes, at most `depth` chunks ahead.
    pub fn spawn(mut inner: R, chunk: usize, depth: usize) -> io::Result<Self> {
        let (tx, rx) = sync_channel(depth.max(1));
        let handle = std::thread::Builder::new()
            .name("airlock-readahead".into())
            .spawn(move || {
                loop {
                    let mut buf = vec![0u8; chunk];
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

impl<R> Read for ReadAhead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.cur.len() {
            let Some(rx) = &self.rx else { return Ok(0) };
            match rx.recv() {
                Ok(Ok(v)) => {
                    self.cur = v;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0), // the thread finished: end of stream
            }
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
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
