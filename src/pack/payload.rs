//! Writing the payload stream: tar entries with canonical headers, through zstd frames,
//! into a [`PayloadSink`].
//!
//! Compressible content and already-compressed content go in separate zstd frames, the
//! second at a fast level so gzip layers cost little CPU (mindthegap #37). zstd runs with
//! at least one worker thread and a fixed job size: its output then does not depend on
//! the number of workers, so any machine writes the same bytes.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use super::entries::{PendingEntry, Source};
use super::offload::BackgroundHasher;
use crate::digest::{HashingReader, Sha256Digest};
use crate::error::{Error, Result};
use crate::layout;
use crate::manifest::Entry;
use crate::store::Store;
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

/// One payload file, hashed as it is written (on a thread of its own:
/// [`BackgroundHasher`]).
pub struct FileSink {
    file: BufWriter<File>,
    hasher: BackgroundHasher,
}

impl FileSink {
    /// Create `path`.
    pub fn create(path: &Path) -> Result<Self> {
        let f = File::create(path).map_err(|e| Error::io("create", path, e))?;
        Ok(FileSink {
            file: BufWriter::with_capacity(1 << 20, f),
            hasher: BackgroundHasher::new().map_err(|e| Error::io("hash", path, e))?,
        })
    }
}

impl Write for FileSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl PayloadSink for FileSink {
    fn finish(self) -> io::Result<Finished> {
        let (sha256, size) = self.hasher.finish();
        let file = self.file.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(Finished {
            size,
            sha256,
            volumes: Vec::new(),
        })
    }
}

/// A writer that feeds one zstd frame at a time and can start a new frame with other
/// parameters between tar entries.
struct FrameWriter<S: Write> {
    current: Option<zstd::stream::write::Encoder<'static, S>>,
    threads: u32,
}

impl<S: Write> FrameWriter<S> {
    fn encoder(
        inner: S,
        level: i32,
        threads: u32,
    ) -> io::Result<zstd::stream::write::Encoder<'static, S>> {
        let mut e = zstd::stream::write::Encoder::new(inner, level)?;
        e.multithread(threads.max(1))?;
        e.set_parameter(zstd::stream::raw::CParameter::JobSize(ZSTD_JOB_SIZE))?;
        e.include_checksum(true)?;
        Ok(e)
    }

    fn new(sink: S, level: i32, threads: u32) -> io::Result<Self> {
        Ok(FrameWriter {
            current: Some(Self::encoder(sink, level, threads)?),
            threads,
        })
    }

    fn enc(&mut self) -> io::Result<&mut zstd::stream::write::Encoder<'static, S>> {
        self.current
            .as_mut()
            .ok_or_else(|| io::Error::other("payload writer already finished"))
    }

    /// End the current frame and start another at `level`.
    fn new_frame(&mut self, level: i32) -> io::Result<()> {
        let enc = self
            .current
            .take()
            .ok_or_else(|| io::Error::other("payload writer finished"))?;
        let inner = enc.finish()?;
        self.current = Some(Self::encoder(inner, level, self.threads)?);
        Ok(())
    }

    fn finish(mut self) -> io::Result<S> {
        self.current
            .take()
            .ok_or_else(|| io::Error::other("payload writer finished"))?
            .finish()
    }
}

impl<S: Write> Write for FrameWriter<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.enc()?.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.enc()?.flush()
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

/// Write `groups` of entries (each group `Some(level)` starts a new zstd frame at that
/// level) into `sink`, streaming content from the store and checking it again on the way.
pub fn write<S: PayloadSink>(
    sink: S,
    sink_name: &Path,
    groups: Vec<(Option<i32>, Vec<PendingEntry>)>,
    store: &Store,
    c: &Compression,
    on_progress: &dyn Fn(u64),
) -> Result<Written> {
    let io_err = |e: io::Error| Error::io("write", sink_name, e);
    let fw = FrameWriter::new(Structured::new(sink), c.level, c.threads).map_err(io_err)?;
    let mut builder = tar::Builder::new(Counting { inner: fw, n: 0 });
    builder.mode(tar::HeaderMode::Deterministic);
    let mut entries = Vec::new();
    for (level, group) in groups {
        if group.is_empty() {
            continue;
        }
        if let Some(l) = level {
            builder.get_mut().inner.new_frame(l).map_err(io_err)?;
        }
        for e in group {
            let h = layout::tar_header(&e.path, e.size).map_err(io_err)?;
            match &e.source {
                Source::Inline(bytes) => builder.append(&h, &bytes[..]).map_err(io_err)?,
                Source::Store => append_from_store(&mut builder, &h, &e, store, io_err)?,
            }
            on_progress(e.size);
            entries.push(Entry {
                path: e.path,
                size: e.size,
                sha256: e.sha256,
                media_type: e.media_type,
            });
        }
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

/// Stream one cache entry into the archive. An entry from an earlier run is hashed again
/// (disk corruption since); one this process hashed on its way in, still of the length it
/// had then, is only counted ([`Store::checked_since_open`]). Either way a cache entry
/// that shrank, which would corrupt the tar, is caught.
fn append_from_store<W: Write>(
    builder: &mut tar::Builder<W>,
    h: &tar::Header,
    e: &PendingEntry,
    store: &Store,
    io_err: impl Fn(io::Error) -> Error,
) -> Result<()> {
    let src: PathBuf = store.path(&e.sha256);
    let f = File::open(&src).map_err(|er| Error::io("open cache entry", &src, er))?;
    // The file's length now must also be the length hashed: a cache entry that grew since
    // is hashed again like one from an earlier run.
    let same_length = f.metadata().is_ok_and(|m| m.len() == e.size);
    let (got, n) = if same_length && store.checked_since_open(&e.sha256, e.size) {
        let mut reader = Counting {
            inner: f.take(e.size),
            n: 0,
        };
        builder.append(h, &mut reader).map_err(io_err)?;
        (e.sha256, reader.n)
    } else {
        let mut reader = HashingReader::new(f.take(e.size));
        builder.append(h, &mut reader).map_err(io_err)?;
        let (_, got, n) = reader.finish();
        (got, n)
    };
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
