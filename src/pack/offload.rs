//! A [`PayloadSink`] wrapper that hands the compressed bytes to a thread of their own.
//!
//! The sink hashes every payload byte (the whole-file sha256 that `SHA256SUMS` and the
//! manifest record) and writes it. On the packing thread that pass ran after tar and
//! zstd for each buffer, one after the other; on a thread of its own it runs beside them,
//! so a build on two cores takes about one SHA-256 pass less wall time. The bytes, their
//! order and their hashes are the same either way.
//!
//! Memory is bounded: at most [`DEPTH`] buffers of [`CHUNK`] bytes wait in the channel,
//! and buffers are reused, so the wrapper never holds more than `(DEPTH + 2) * CHUNK`.

use std::io::{self, Write};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::thread::JoinHandle;

use super::payload::{Finished, PayloadSink};

/// Bytes per hand-over: large enough that the channel costs nothing per byte.
const CHUNK: usize = 1 << 20;
/// Buffers that may wait for the sink thread.
const DEPTH: usize = 4;

/// Writes into `S` on another thread; [`PayloadSink::finish`] waits for it.
pub struct Offload<S: PayloadSink + 'static> {
    buf: Vec<u8>,
    to_sink: Option<SyncSender<Vec<u8>>>,
    spare: Receiver<Vec<u8>>,
    worker: Option<JoinHandle<io::Result<S>>>,
}

impl<S: PayloadSink + 'static> Offload<S> {
    /// Start the sink thread.
    pub fn new(mut sink: S) -> io::Result<Self> {
        let (to_sink, from_main) = sync_channel::<Vec<u8>>(DEPTH);
        let (give_back, spare) = sync_channel::<Vec<u8>>(DEPTH + 2);
        let worker = std::thread::Builder::new()
            .name("payload-sink".into())
            .spawn(move || {
                for mut buf in from_main {
                    sink.write_all(&buf)?;
                    buf.clear();
                    // The packing side may have stopped taking spares; then drop it.
                    let _ = give_back.try_send(buf);
                }
                Ok(sink)
            })?;
        Ok(Offload {
            buf: Vec::with_capacity(CHUNK),
            to_sink: Some(to_sink),
            spare,
            worker: Some(worker),
        })
    }

    /// The sink thread's error, once it has stopped taking buffers.
    fn worker_error(&mut self) -> io::Error {
        self.to_sink = None;
        match self.worker.take().map(JoinHandle::join) {
            Some(Ok(Err(e))) => e,
            Some(Err(panic)) => std::panic::resume_unwind(panic),
            _ => io::Error::other("payload sink stopped"),
        }
    }

    /// Hand the current buffer over (if it holds anything) and take a spare one.
    fn hand_over(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let next = match self.spare.try_recv() {
            Ok(b) => b,
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => Vec::with_capacity(CHUNK),
        };
        let full = std::mem::replace(&mut self.buf, next);
        let sent = match &self.to_sink {
            Some(tx) => tx.send(full).is_ok(),
            None => false,
        };
        if sent {
            Ok(())
        } else {
            Err(self.worker_error())
        }
    }
}

impl<S: PayloadSink + 'static> Write for Offload<S> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.buf.len();
        let n = data.len().min(room);
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.hand_over()?;
        }
        Ok(n)
    }

    /// Hands the buffer over without waiting: durability comes from `finish`'s sync.
    fn flush(&mut self) -> io::Result<()> {
        self.hand_over()
    }
}

impl<S: PayloadSink + 'static> PayloadSink for Offload<S> {
    fn finish(mut self) -> io::Result<Finished> {
        self.hand_over()?;
        self.to_sink = None; // ends the worker's loop
        let sink = match self.worker.take().map(JoinHandle::join) {
            Some(Ok(r)) => r?,
            Some(Err(panic)) => std::panic::resume_unwind(panic),
            None => return Err(io::Error::other("payload sink stopped")),
        };
        sink.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Sha256Digest;

    /// Collects what it is given, failing after `fail_after` bytes when set.
    struct Collect {
        bytes: Vec<u8>,
        fail_after: Option<usize>,
    }
    impl Write for Collect {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            if self
                .fail_after
                .is_some_and(|n| self.bytes.len() + b.len() > n)
            {
                return Err(io::Error::other("disk full"));
            }
            self.bytes.extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    impl PayloadSink for Collect {
        fn finish(self) -> io::Result<Finished> {
            Ok(Finished {
                size: self.bytes.len() as u64,
                sha256: Sha256Digest::of(&self.bytes),
                volumes: Vec::new(),
            })
        }
    }

    #[test]
    fn the_sink_gets_every_byte_in_order() {
        let data: Vec<u8> = (0..5 * CHUNK + 12_345).map(|i| (i % 251) as u8).collect();
        let mut w = Offload::new(Collect {
            bytes: Vec::new(),
            fail_after: None,
        })
        .unwrap();
        // Odd write sizes, and a flush in the middle, cross every buffer boundary.
        for (i, piece) in data.chunks(300_007).enumerate() {
            w.write_all(piece).unwrap();
            if i == 3 {
                w.flush().unwrap();
            }
        }
        let f = w.finish().unwrap();
        assert_eq!(f.size, data.len() as u64);
        assert_eq!(f.sha256, Sha256Digest::of(&data));
    }

    #[test]
    fn a_failing_sink_fails_the_writer() {
        let mut w = Offload::new(Collect {
            bytes: Vec::new(),
            fail_after: Some(2 * CHUNK),
        })
        .unwrap();
        let data = vec![1u8; 10 * CHUNK];
        let err = w
            .write_all(&data)
            .and_then(|()| w.flush())
            .err()
            .or_else(|| w.finish().err())
            .expect("the sink's error comes back");
        assert!(err.to_string().contains("disk full"), "{err}");
    }
}
