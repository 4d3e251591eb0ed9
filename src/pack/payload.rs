//! Writing the payload stream: tar entries with canonical headers, through zstd frames,
//! into a [`PayloadSink`].
//!
//! Compressible content and already-compressed content go in separate zstd frames: the
//! first compressed at `--level`, the second stored in raw blocks so gzip layers cost no
//! compression CPU (mindthegap #37; `StoredFrame`). A new frame starts wherever the
//! content's class changes ([`Class::of_head`]). zstd runs with
//! at least one worker thread and a fixed job size: its output then does not depend on
//! the number of workers, so any machine writes the same bytes.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::entries::{Class, HEAD_BYTES, PendingEntry, Source};
use super::offload::{BackgroundHasher, BackgroundSync};
use super::stored::StoredFrame;
use crate::digest::{HashingReader, Sha256Digest};
use crate::error::{Error, Result};
use crate::layout;
use crate::manifest::Entry;
use crate::upstream_store::Store;
use airlock_verify::structure::StructureHasher;

/// zstd multi-threaded job size. zstd's default grows with the window (8 MiB at level 3)
/// and its input buffer holds `workers + 3` jobs, so the default cost 40+ MiB; 2 MiB jobs
/// keep the build under 64 MiB. A constant, never derived from the thread count: the job
/// size changes the output bytes, the number of workers does not.
pub const ZSTD_JOB_SIZE: u32 = 2 * 1024 * 1024;

/// Where the compressed payload bytes go: one file ([`FileSink`]) or volumes
/// ([`super::volumes::VolumeSink`]).
pub trait PayloadSink: Write + Send {
    /// Flush and sync everything; returns the size and sha256 of all bytes written.
    fn finish(self) -> io::Result<Finished>;
}

/// What a sink wrote.
pub struct Finished {
    /// Bytes written.
    pub size: u64,
    /// Their sha256.
    pub sha256: Sha256Digest,
    /// The volumes they were cut into (empty for one file).
    pub volumes: Vec<crate::manifest::Volume>,
}

/// One payload file, hashed as it is written and written out to disk as it grows (each
/// on a thread of its own: `BackgroundHasher`, `BackgroundSync`). Bytes gather in a
/// buffer of `offload::CHUNK` bytes, which is written to the file
/// and then handed, whole, to the hashing thread.
pub struct FileSink {
    file: File,
    buf: Vec<u8>,
    hasher: BackgroundHasher,
    sync: BackgroundSync,
}

impl FileSink {
    /// Create `path`.
    pub fn create(path: &Path) -> Result<Self> {
        let file = File::create(path).map_err(|e| Error::io("create", path, e))?;
        let hasher = BackgroundHasher::new().map_err(|e| Error::io("hash", path, e))?;
        Ok(FileSink {
            sync: BackgroundSync::new(&file).map_err(|e| Error::io("open", path, e))?,
            buf: hasher.spare(),
            hasher,
            file,
        })
    }

    fn write_buffer(&mut self) -> io::Result<()> {
        self.file.write_all(&self.buf)?;
        self.sync.wrote(self.buf.len());
        let next = self.hasher.spare();
        self.hasher.hash(std::mem::replace(&mut self.buf, next));
        Ok(())
    }
}

impl Write for FileSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = self.buf.capacity() - self.buf.len();
        let n = buf.len().min(room);
        self.buf.extend_from_slice(&buf[..n]);
        if self.buf.len() == self.buf.capacity() {
            self.write_buffer()?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.write_buffer()
    }
}

impl PayloadSink for FileSink {
    fn finish(mut self) -> io::Result<Finished> {
        self.write_buffer()?;
        let (sha256, size) = self.hasher.finish();
        let file = self.file;
        self.sync.finish()?;
        file.sync_all()?;
        Ok(Finished {
            size,
            sha256,
            volumes: Vec::new(),
        })
    }
}

/// One frame of the payload: zstd for content that compresses, raw blocks for content
/// that is already compressed ([`StoredFrame`]).
enum Frame<S: Write> {
    Zstd(zstd::stream::write::Encoder<'static, S>),
    Stored(StoredFrame<S>),
}

/// A writer that feeds one frame at a time and starts a new one, of the kind the next
/// entry's content needs, between tar entries.
struct FrameWriter<S: Write> {
    current: Option<Frame<S>>,
    level: i32,
    threads: u32,
}

impl<S: Write> FrameWriter<S> {
    fn frame(inner: S, class: Class, level: i32, threads: u32) -> io::Result<Frame<S>> {
        if class == Class::Compressed {
            return Ok(Frame::Stored(StoredFrame::new(inner)?));
        }
        let mut e = zstd::stream::write::Encoder::new(inner, level)?;
        e.multithread(threads.max(1))?;
        e.set_parameter(zstd::stream::raw::CParameter::JobSize(ZSTD_JOB_SIZE))?;
        e.include_checksum(true)?;
        Ok(Frame::Zstd(e))
    }

    /// Start with a zstd frame at `level`.
    fn new(sink: S, level: i32, threads: u32) -> io::Result<Self> {
        Ok(FrameWriter {
            current: Some(Self::frame(sink, Class::Compresses, level, threads)?),
            level,
            threads,
        })
    }

    fn end_current(&mut self) -> io::Result<S> {
        match self.current.take() {
            Some(Frame::Zstd(e)) => e.finish(),
            Some(Frame::Stored(f)) => f.finish(),
            None => Err(io::Error::other("payload writer already finished")),
        }
    }

    /// End the current frame and start one for content of `class`.
    fn new_frame(&mut self, class: Class) -> io::Result<()> {
        let inner = self.end_current()?;
        self.current = Some(Self::frame(inner, class, self.level, self.threads)?);
        Ok(())
    }

    fn finish(mut self) -> io::Result<S> {
        self.end_current()
    }
}

impl<S: Write> Write for FrameWriter<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.current.as_mut() {
            Some(Frame::Zstd(e)) => e.write(buf),
            Some(Frame::Stored(f)) => f.write(buf),
            None => Err(io::Error::other("payload writer already finished")),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self.current.as_mut() {
            Some(Frame::Zstd(e)) => e.flush(),
            Some(Frame::Stored(f)) => f.flush(),
            None => Ok(()),
        }
    }
}

/// A pass-through that computes the structure digest of the compressed bytes on their
/// way into the sink: the verifier's own walker, so both sides agree by construction.
struct Structured<S> {
    inner: S,
    walker: StructureHasher,
}

impl<S> Structured<S> {
    fn new(inner: S) -> Self {
        Structured {
            inner,
            walker: StructureHasher::new(),
        }
    }
}

impl<S: Write> Write for Structured<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.walker.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A counting pass-through: the tar size for the manifest, and the length of a cache
/// entry copied without hashing.
struct Counting<W> {
    inner: W,
    n: u64,
}
impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.n += k as u64;
        Ok(k)
    }
}
impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let k = self.inner.write(buf)?;
        self.n += k as u64;
        Ok(k)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// How to compress.
pub struct Compression {
    /// zstd level for compressible content.
    pub level: i32,
    /// zstd worker threads (at least 1).
    pub threads: u32,
}

/// What the payload pass wrote.
pub struct Written {
    /// The entries, in payload order.
    pub entries: Vec<Entry>,
    /// The tar stream's size.
    pub tar_size: u64,
    /// The compressed size.
    pub size: u64,
    /// The compressed bytes' sha256.
    pub sha256: Sha256Digest,
    /// Their structure digest ([`airlock_verify::structure`]).
    pub structure_sha256: Sha256Digest,
    /// The volumes, when the sink cut them.
    pub volumes: Vec<crate::manifest::Volume>,
}

/// Write the `pending` entries, in the order given, into `sink`, streaming content from
/// the store (waiting for what a running fetch still brings: [`Store::wait_for`]) and
/// checking it again on the way.
pub fn write<S: PayloadSink>(
    sink: S,
    sink_name: &Path,
    pending: Vec<PendingEntry>,
    store: &Store,
    c: &Compression,
    on_progress: &dyn Fn(u64),
) -> Result<Written> {
    let io_err = |e: io::Error| Error::io("write", sink_name, e);
    let fw = FrameWriter::new(Structured::new(sink), c.level, c.threads).map_err(io_err)?;
    let mut builder = tar::Builder::new(Counting { inner: fw, n: 0 });
    builder.mode(tar::HeaderMode::Deterministic);
    let mut frame = Class::Compresses;
    let mut entries = Vec::with_capacity(pending.len());
    for e in pending {
        let h = layout::tar_header(&e.path, e.size).map_err(io_err)?;
        let content = match &e.source {
            Source::Inline(bytes) => Content::Inline(bytes),
            Source::Store => {
                store.wait_for(&e.sha256)?;
                Content::Cached(CacheEntry::open(store, &e)?)
            }
        };
        let class = match &content {
            Content::Inline(_) => Class::Compresses,
            Content::Cached(c) => Class::of_head(&c.head),
        };
        if class != frame {
            let fw = &mut builder.get_mut().inner;
            fw.new_frame(class).map_err(io_err)?;
            frame = class;
        }
        match content {
            Content::Inline(bytes) => builder.append(&h, bytes).map_err(io_err)?,
            Content::Cached(c) => c.append(&mut builder, &h, &e, store, io_err)?,
        }
        on_progress(e.size);
        entries.push(Entry {
            path: e.path,
            size: e.size,
            sha256: e.sha256,
            media_type: e.media_type,
        });
    }
    let counting = builder.into_inner().map_err(io_err)?;
    let tar_size = counting.n;
    let structured = counting.inner.finish().map_err(io_err)?;
    let structure_sha256 = structured.walker.finish();
    let f = structured.inner.finish().map_err(io_err)?;
    Ok(Written {
        entries,
        tar_size,
        size: f.size,
        sha256: f.sha256,
        structure_sha256,
        volumes: f.volumes,
    })
}

/// An entry's bytes: in memory, or a cache entry opened with its first bytes read.
enum Content<'a> {
    Inline(&'a [u8]),
    Cached(CacheEntry),
}

/// A cache entry opened for packing, its first bytes already read to choose its frame.
struct CacheEntry {
    src: PathBuf,
    file: File,
    head: Vec<u8>,
}

impl CacheEntry {
    fn open(store: &Store, e: &PendingEntry) -> Result<Self> {
        let src = store.path(&e.sha256);
        let mut file = File::open(&src).map_err(|er| Error::io("open cache entry", &src, er))?;
        let mut head = Vec::with_capacity(HEAD_BYTES);
        (&mut file)
            .take(HEAD_BYTES.min(e.size as usize) as u64)
            .read_to_end(&mut head)
            .map_err(|er| Error::io("read", &src, er))?;
        Ok(CacheEntry { src, file, head })
    }

    /// Stream the entry into the archive. An entry from an earlier run is hashed again
    /// (disk corruption since); one this process hashed on its way in, still of the length
    /// it had then, is only counted ([`Store::checked_since_open`]). Either way a cache
    /// entry that shrank, which would corrupt the tar, is caught.
    fn append<W: Write>(
        self,
        builder: &mut tar::Builder<W>,
        h: &tar::Header,
        e: &PendingEntry,
        store: &Store,
        io_err: impl Fn(io::Error) -> Error,
    ) -> Result<()> {
        let CacheEntry { src, file, head } = self;
        // The file's length now must also be the length hashed: a cache entry that grew
        // since is hashed again like one from an earlier run.
        let same_length = file.metadata().is_ok_and(|m| m.len() == e.size);
        let rest = e.size.saturating_sub(head.len() as u64);
        let content = io::Cursor::new(head).chain(file.take(rest));
        let (got, n) = if same_length && store.checked_since_open(&e.sha256, e.size) {
            let mut reader = Counting {
                inner: content,
                n: 0,
            };
            builder.append(h, &mut reader).map_err(io_err)?;
            (e.sha256, reader.n)
        } else {
            let mut reader = HashingReader::new(content);
            builder.append(h, &mut reader).map_err(io_err)?;
            let (_, got, n) = reader.finish();
            (got, n)
        };
        check_copied(&src, e, got, n)
    }
}

fn check_copied(src: &Path, e: &PendingEntry, got: Sha256Digest, n: u64) -> Result<()> {
    if n != e.size || got != e.sha256 {
        return Err(Error::digest_mismatch(
            format!("cache entry {}", src.display()),
            e.sha256,
            if n != e.size {
                format!("{n} bytes instead of {}", e.size)
            } else {
                got.to_string()
            },
        ));
    }
    Ok(())
}
