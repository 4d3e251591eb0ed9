//! SHA-256 on a thread of its own, for the payload file's whole-file digest.
//!
//! Every payload byte is hashed for the sha256 that `SHA256SUMS` and the manifest record.
//! On the packing thread that pass ran after tar and zstd for each buffer, one after the
//! other; on a thread of its own it runs beside them, so a build on two cores spends about
//! one SHA-256 pass less wall time. The file is still written by the packing thread: only
//! a copy of the bytes crosses over, and the digest is the same either way.
//!
//! Memory is bounded: at most [`DEPTH`] buffers of [`CHUNK`] bytes wait in the channel,
//! and a new buffer is made only when no used one has come back, so there are never more
//! than `DEPTH + 3` (the one being filled, the one being handed over, the one being
//! hashed, and the channel's).

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use crate::digest::{Hasher, Sha256Digest};

/// Bytes per hand-over: large enough that the channel costs nothing per byte (a few
/// thousand hand-overs per GiB), small enough that the buffers stay under 2 MiB.
const CHUNK: usize = 256 << 10;
/// Buffers that may wait for the hashing thread.
const DEPTH: usize = 4;

/// A [`Hasher`] fed from this thread and run on another.
pub struct BackgroundHasher {
    buf: Vec<u8>,
    to_worker: Option<SyncSender<Vec<u8>>>,
    spare: Receiver<Vec<u8>>,
    worker: Option<JoinHandle<Hasher>>,
}

impl BackgroundHasher {
    /// Start the hashing thread.
    pub fn new() -> std::io::Result<Self> {
        let (to_worker, from_main) = sync_channel::<Vec<u8>>(DEPTH);
        let (give_back, spare) = sync_channel::<Vec<u8>>(DEPTH + 3);
        let worker = std::thread::Builder::new()
            .name("payload-sha256".into())
            .spawn(move || {
                let mut hasher = Hasher::new();
                for mut buf in from_main {
                    hasher.update(&buf);
                    buf.clear();
                    // Never blocks: there are never more buffers than the channel holds.
                    let _ = give_back.try_send(buf);
                }
                hasher
            })?;
        Ok(BackgroundHasher {
            buf: Vec::with_capacity(CHUNK),
            to_worker: Some(to_worker),
            spare,
            worker: Some(worker),
        })
    }

    /// Feed bytes.
    pub fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let n = data.len().min(CHUNK - self.buf.len());
            self.buf.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.buf.len() == CHUNK {
                self.hand_over();
            }
        }
    }

    fn hand_over(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let next = self
            .spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(CHUNK));
        let full = std::mem::replace(&mut self.buf, next);
        let sent = self
            .to_worker
            .as_ref()
            .is_some_and(|tx| tx.send(full).is_ok());
        if !sent {
            // The worker only stops by panicking (hashing cannot fail): pass it on.
            self.join();
        }
    }

    fn join(&mut self) -> Hasher {
        self.to_worker = None; // ends the worker's loop
        match self.worker.take().map(JoinHandle::join) {
            Some(Ok(h)) => h,
            Some(Err(panic)) => std::panic::resume_unwind(panic),
            None => unreachable!("the hashing thread is joined once, by finish"),
        }
    }

    /// Wait for the hashing thread; the digest and the byte count.
    pub fn finish(mut self) -> (Sha256Digest, u64) {
        self.hand_over();
        self.join().finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_is_that_of_every_byte_in_order() {
        let data: Vec<u8> = (0..7 * CHUNK + 12_345).map(|i| (i % 251) as u8).collect();
        let mut h = BackgroundHasher::new().unwrap();
        // Odd piece sizes cross every buffer boundary, and some pieces span several.
        for piece in data.chunks(300_007).chain(std::iter::once(&[][..])) {
            h.update(piece);
        }
        assert_eq!(h.finish(), (Sha256Digest::of(&data), data.len() as u64));
        assert_eq!(
            BackgroundHasher::new().unwrap().finish(),
            (Sha256Digest::of(b""), 0)
        );
    }
}
