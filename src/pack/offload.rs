//! Work on the payload file that runs beside tar and zstd, on threads of its own: its
//! whole-file SHA-256 ([`BackgroundHasher`]) and its write-back to disk
//! ([`BackgroundSync`]).
//!
//! Every payload byte is hashed for the sha256 that `SHA256SUMS` and the manifest record.
//! On the packing thread that pass ran after tar and zstd for each buffer, one after the
//! other; on a thread of its own it runs beside them, so a build on two cores spends about
//! one SHA-256 pass less wall time. The file is still written by the packing thread (see
//! BENCHMARKS.md, third round, for why): each buffer is written to the file and then
//! handed to the hashing thread whole, without a copy, and comes back to be filled again.
//!
//! Memory is bounded: at most [`DEPTH`] buffers of [`CHUNK`] bytes wait in the channel,
//! and a new buffer is made only when no used one has come back, so there are never more
//! than `DEPTH + 3` (the one being filled, the one being handed over, the one being
//! hashed, and the channel's).

use std::fs::File;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use crate::digest::{Hasher, Sha256Digest};

/// Bytes per hand-over: large enough that the channel and the write system call cost
/// nothing per byte (a few thousand per GiB), small enough that the buffers stay under
/// 2 MiB.
pub const CHUNK: usize = 256 << 10;
/// Buffers that may wait for the hashing thread.
const DEPTH: usize = 4;

/// A [`Hasher`] fed whole buffers from this thread and run on another.
pub struct BackgroundHasher {
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
            to_worker: Some(to_worker),
            spare,
            worker: Some(worker),
        })
    }

    /// An empty buffer of [`CHUNK`] bytes' capacity to fill: one the thread has hashed, or
    /// a new one.
    pub fn spare(&self) -> Vec<u8> {
        self.spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(CHUNK))
    }

    /// Hash `full`'s bytes next, on the thread (the buffer comes back through
    /// [`BackgroundHasher::spare`]).
    pub fn hash(&mut self, full: Vec<u8>) {
        if full.is_empty() {
            return;
        }
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
        self.join().finish()
    }
}

/// Bytes written between two requests to write the file out.
const SYNC_EVERY: u64 = 64 << 20;

/// Writes the payload file out to disk while it is still being written.
///
/// The build ends with an `fsync` of the payload, so that a bundle is never renamed into
/// place before its bytes are on disk. Left to the end, that `fsync` waited for the whole
/// file (about 0.4 s per GiB on this machine, with nothing else to do). Here a thread
/// calls `fdatasync` after every [`SYNC_EVERY`] bytes, while packing goes on, so the final
/// `fsync` waits only for the last stretch. The thread waits on the disk, not the CPU; a
/// request that comes while it is still syncing is dropped, since the next sync covers
/// it. An I/O error it meets is returned by [`BackgroundSync::finish`].
pub struct BackgroundSync {
    wake: Option<SyncSender<()>>,
    worker: Option<JoinHandle<std::io::Result<()>>>,
    since: u64,
    every: u64,
}

impl BackgroundSync {
    /// Start the thread, on a second handle of `file`.
    pub fn new(file: &File) -> std::io::Result<Self> {
        Self::every(file, SYNC_EVERY)
    }

    fn every(file: &File, every: u64) -> std::io::Result<Self> {
        let file = file.try_clone()?;
        let (wake, woken) = sync_channel::<()>(1);
        let worker = std::thread::Builder::new()
            .name("payload-sync".into())
            .spawn(move || {
                for () in woken {
                    file.sync_data()?;
                }
                Ok(())
            })?;
        Ok(BackgroundSync {
            wake: Some(wake),
            worker: Some(worker),
            since: 0,
            every,
        })
    }

    /// `n` more bytes were written to the file.
    pub fn wrote(&mut self, n: usize) {
        self.since += n as u64;
        if self.since >= self.every {
            self.since = 0;
            if let Some(wake) = &self.wake {
                // Full: a sync is running or asked for already. Gone: it failed, and
                // `finish` says how.
                let _ = wake.try_send(());
            }
        }
    }

    /// Stop the thread; the first I/O error it met, if any.
    pub fn finish(mut self) -> std::io::Result<()> {
        self.wake = None;
        match self.worker.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(panic)) => std::panic::resume_unwind(panic),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_is_that_of_every_byte_in_order() {
        let data: Vec<u8> = (0..7 * CHUNK + 12_345).map(|i| (i % 251) as u8).collect();
        let mut h = BackgroundHasher::new().unwrap();
        // Buffers of odd sizes, some larger than a chunk, and an empty one.
        for piece in data.chunks(300_007).chain(std::iter::once(&[][..])) {
            let mut buf = h.spare();
            assert!(buf.is_empty() && buf.capacity() >= CHUNK);
            buf.extend_from_slice(piece);
            h.hash(buf);
        }
        assert_eq!(h.finish(), (Sha256Digest::of(&data), data.len() as u64));
        assert_eq!(
            BackgroundHasher::new().unwrap().finish(),
            (Sha256Digest::of(b""), 0)
        );
    }

    #[test]
    fn syncing_beside_the_writes_neither_blocks_them_nor_changes_the_file() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("payload");
        let mut file = File::create(&path).unwrap();
        // A request every 4 KiB: far more than the thread serves, so most are dropped.
        let mut sync = BackgroundSync::every(&file, 4096).unwrap();
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        for piece in data.chunks(1000) {
            file.write_all(piece).unwrap();
            sync.wrote(piece.len());
        }
        sync.finish().unwrap();
        file.sync_all().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), data);
    }
}
