//! The content-addressed local cache: every blob and file airlock has fetched, stored
//! under `blobs/sha256/<hex>`.
//!
//! A rebuild of the same lock reads everything from here, so it is fast and works offline.
//! Content enters only through [`Store::put_stream`], [`Store::put_bytes`] or
//! [`Store::put_file`], which hash while writing to a temporary name and rename into place
//! only when the digest matches: a crash or a lying upstream never leaves a wrong blob
//! under a right name. Entries that were already in the cache are hashed again when they
//! are packed into a bundle, which catches disk corruption since; entries this process
//! has just hashed on their way in are not hashed a second time
//! ([`Store::checked_since_open`]).
//!
//! A cold build fetches and packs at once: the fetch announces what is on its way
//! ([`Store::expect`]) and packing waits for each entry as it reaches it
//! ([`Store::wait_for`]), so the two overlap instead of running one after the other.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use bytes::Bytes;
use futures::{Stream, StreamExt};

use crate::digest::{Hasher, Sha256Digest};
use crate::error::{Error, Result};

/// The cache directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    /// Digests (and lengths) this process hashed on their way into the cache, shared by
    /// clones.
    checked: Arc<Mutex<HashMap<Sha256Digest, u64>>>,
    /// What a running fetch will still put in, shared by clones.
    incoming: Arc<Incoming>,
}

/// Content on its way into the store while a bundle is packed from it.
#[derive(Debug, Default)]
struct Incoming {
    state: Mutex<IncomingState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct IncomingState {
    /// Announced and not yet committed.
    expected: HashSet<Sha256Digest>,
    phase: Phase,
}

/// Where the fetch that feeds packing is.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No fetch announced anything: everything is already in the store.
    #[default]
    Idle,
    /// Downloads are running.
    Fetching,
    /// The fetch finished and every check after it passed.
    Done,
    /// The fetch failed (or was abandoned); what did not arrive never will.
    Failed,
}

impl Incoming {
    fn lock(&self) -> MutexGuard<'_, IncomingState> {
        // The state is a set and a flag, consistent after every statement: a panic
        // elsewhere cannot leave it half-updated.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The state, once `waiting` no longer holds of it.
    fn wait_while(
        &self,
        mut waiting: impl FnMut(&IncomingState) -> bool,
    ) -> MutexGuard<'_, IncomingState> {
        let s = self.lock();
        self.changed
            .wait_while(s, |s| waiting(s))
            .unwrap_or_else(|p| p.into_inner())
    }

    fn arrived(&self, digest: &Sha256Digest) {
        let mut s = self.lock();
        if s.expected.remove(digest) {
            self.changed.notify_all();
        }
    }

    fn settle(&self, phase: Phase) {
        let mut s = self.lock();
        if s.phase == Phase::Fetching {
            s.phase = phase;
            self.changed.notify_all();
        }
    }
}

/// A fetch in progress, from [`Store::expect`]. [`Fetching::finish`] says how it ended;
/// dropped without it (an error path, a panic), it counts as failed, so nothing waits
/// forever.
#[must_use = "a fetch that is never finished counts as failed"]
pub struct Fetching {
    incoming: Arc<Incoming>,
}

impl Fetching {
    /// The fetch is over: `ok` if everything arrived and every check after it passed.
    pub fn finish(self, ok: bool) {
        self.incoming
            .settle(if ok { Phase::Done } else { Phase::Failed });
    }
}

impl Drop for Fetching {
    fn drop(&mut self) {
        self.incoming.settle(Phase::Failed);
    }
}

/// How long an untouched download must lie in `tmp/` before a later run removes it. A
/// download in progress (another build on the same cache) writes to its file all the
/// time; one that has not been written for an hour was left by a run that was killed
/// (Ctrl-C ends the process before the temporary file's own cleanup runs).
const STALE_INCOMING: std::time::Duration = std::time::Duration::from_secs(3600);

/// Remove `incoming-*` files in `dir` not modified for `age`; best effort, since a cache
/// that cannot be tidied still works.
fn sweep_stale_incoming(dir: &Path, age: std::time::Duration) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let stale = e.file_name().to_string_lossy().starts_with("incoming-")
            && e.metadata().is_ok_and(|m| {
                m.is_file()
                    && m.modified()
                        .is_ok_and(|t| t.elapsed().is_ok_and(|d| d >= age))
            });
        if stale {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

impl Store {
    /// Open (and create) a store rooted at `root`; downloads killed runs left behind
    /// are removed.
    pub fn open(root: &Path) -> Result<Self> {
        for sub in ["blobs/sha256", "tmp"] {
            let d = root.join(sub);
            std::fs::create_dir_all(&d).map_err(|e| Error::io("create directory", &d, e))?;
        }
        sweep_stale_incoming(&root.join("tmp"), STALE_INCOMING);
        Ok(Store {
            root: root.to_path_buf(),
            checked: Arc::default(),
            incoming: Arc::default(),
        })
    }

    /// The default location: `$AIRLOCK_CACHE`, else `$XDG_CACHE_HOME/airlock`, else
    /// `~/.cache/airlock`.
    pub fn default_root() -> PathBuf {
        if let Some(p) = std::env::var_os("AIRLOCK_CACHE") {
            return PathBuf::from(p);
        }
        if let Some(p) = std::env::var_os("XDG_CACHE_HOME") {
            return PathBuf::from(p).join("airlock");
        }
        match std::env::var_os("HOME") {
            Some(h) => PathBuf::from(h).join(".cache/airlock"),
            None => PathBuf::from(".airlock-cache"),
        }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a blob lives (whether or not it is there yet).
    pub fn path(&self, digest: &Sha256Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    /// True if the blob is present (and, when `size` is given, has that size).
    pub fn has(&self, digest: &Sha256Digest, size: Option<u64>) -> bool {
        match std::fs::symlink_metadata(self.path(digest)) {
            Ok(m) => m.is_file() && size.is_none_or(|s| s == m.len()),
            Err(_) => false,
        }
    }

    /// True if this process put `digest` into the cache itself, `size` bytes long,
    /// hashing it on the way in (moments ago, in a cold build). Packing then copies it
    /// without a second SHA-256 pass, counting its bytes against `size`; entries from
    /// earlier runs are hashed again, since disks and other processes may have changed
    /// them. The enclave checks every byte whichever way it went.
    pub fn checked_since_open(&self, digest: &Sha256Digest, size: u64) -> bool {
        self.checked
            .lock()
            .map(|set| set.get(digest) == Some(&size))
            .unwrap_or(false)
    }

    /// Announce that a fetch is about to put `digests` in, so that packing can start at
    /// once and wait for each of them ([`Store::wait_for`], [`Store::wait_settled`]).
    pub fn expect(&self, digests: impl IntoIterator<Item = Sha256Digest>) -> Fetching {
        let mut s = self.incoming.lock();
        s.expected = digests.into_iter().collect();
        s.phase = Phase::Fetching;
        Fetching {
            incoming: self.incoming.clone(),
        }
    }

    /// Wait until `digest` is in the store, if a running fetch announced it; returns at
    /// once for anything else. Fails if the fetch ended without it.
    pub fn wait_for(&self, digest: &Sha256Digest) -> Result<()> {
        let s = self
            .incoming
            .wait_while(|s| s.phase == Phase::Fetching && s.expected.contains(digest));
        if s.phase == Phase::Failed && s.expected.contains(digest) {
            return Err(Error::Upstream {
                reference: digest.to_string(),
                reason: "the fetch stopped before it arrived".into(),
            });
        }
        Ok(())
    }

    /// Wait until the announced fetch is over; fails if it failed. Nothing is signed
    /// before this returns, so a bundle never outlives a fetch that went wrong.
    pub fn wait_settled(&self) -> Result<()> {
        let s = self.incoming.wait_while(|s| s.phase == Phase::Fetching);
        if s.phase == Phase::Failed {
            return Err(Error::Upstream {
                reference: "upstream".into(),
                reason: "the fetch failed".into(),
            });
        }
        Ok(())
    }

    fn temp_file(&self) -> Result<tempfile::NamedTempFile> {
        let dir = self.root.join("tmp");
        tempfile::Builder::new()
            .prefix("incoming-")
            .tempfile_in(&dir)
            .map_err(|e| Error::io("create temporary file in", &dir, e))
    }

    fn commit(
        &self,
        tmp: tempfile::NamedTempFile,
        artifact: &str,
        expected: &Sha256Digest,
        hasher: Hasher,
        expected_size: Option<u64>,
    ) -> Result<u64> {
        let (actual, len) = hasher.finish();
        if let Some(s) = expected_size
            && s != len
        {
            return Err(Error::SizeMismatch {
                artifact: artifact.to_string(),
                expected: s,
                actual: len,
            });
        }
        if &actual != expected {
            return Err(Error::digest_mismatch(
                artifact.to_string(),
                expected.to_string(),
                actual.to_string(),
            ));
        }
        let dest = self.path(expected);
        tmp.persist(&dest)
            .map_err(|e| Error::io("rename into cache", &dest, e.error))?;
        if let Ok(mut set) = self.checked.lock() {
            set.insert(actual, len);
        }
        self.incoming.arrived(&actual);
        Ok(len)
    }

    /// Store a byte stream that must hash to `expected` (and be `expected_size` long, when
    /// given: a longer stream is cut off as soon as it passes the size, so a hostile
    /// upstream cannot fill the disk).
    pub async fn put_stream<S>(
        &self,
        mut stream: S,
        artifact: &str,
        expected: &Sha256Digest,
        expected_size: Option<u64>,
        mut on_progress: impl FnMut(u64),
    ) -> Result<u64>
    where
        S: Stream<Item = Result<Bytes>> + Unpin,
    {
        let tmp = self.temp_file()?;
        let tmp_path = tmp.path().to_path_buf();
        let std_file = tmp.reopen().map_err(|e| Error::io("open", &tmp_path, e))?;
        let mut file = Batches::new(std_file);
        let mut hasher = Hasher::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            hasher.update(&chunk);
            if let Some(s) = expected_size
                && hasher.len() > s
            {
                return Err(Error::SizeMismatch {
                    artifact: artifact.to_string(),
                    expected: s,
                    actual: hasher.len(),
                });
            }
            on_progress(chunk.len() as u64);
            file.push(chunk)
                .await
                .map_err(|e| Error::io("write", &tmp_path, e))?;
        }
        file.finish()
            .await
            .map_err(|e| Error::io("write", &tmp_path, e))?;
        self.commit(tmp, artifact, expected, hasher, expected_size)
    }

    /// Store bytes already in memory (manifests).
    pub fn put_bytes(&self, bytes: &[u8], artifact: &str, expected: &Sha256Digest) -> Result<()> {
        let mut tmp = self.temp_file()?;
        let mut hasher = Hasher::new();
        hasher.update(bytes);
        tmp.write_all(bytes)
            .map_err(|e| Error::io("write", tmp.path(), e))?;
        self.commit(tmp, artifact, expected, hasher, None)?;
        Ok(())
    }

    /// Copy a local file into the store, hashing while copying.
    pub fn put_file(
        &self,
        src: &Path,
        expected: &Sha256Digest,
        expected_size: Option<u64>,
    ) -> Result<u64> {
        let mut input = std::fs::File::open(src).map_err(|e| Error::io("open", src, e))?;
        let mut tmp = self.temp_file()?;
        let mut hasher = Hasher::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = input
                .read(&mut buf)
                .map_err(|e| Error::io("read", src, e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            tmp.write_all(&buf[..n])
                .map_err(|e| Error::io("write", tmp.path(), e))?;
        }
        self.commit(
            tmp,
            &src.display().to_string(),
            expected,
            hasher,
            expected_size,
        )
    }

    /// Read a small blob (a manifest), checking its digest and a size limit.
    pub fn read_verified(&self, digest: &Sha256Digest, limit: u64) -> Result<Vec<u8>> {
        let path = self.path(digest);
        let bytes = crate::fsutil::read_limited(&path, limit, "cached manifest")?;
        let actual = Sha256Digest::of(&bytes);
        if &actual != digest {
            return Err(Error::digest_mismatch(
                format!("cache entry {}", path.display()),
                digest.to_string(),
                actual.to_string(),
            ));
        }
        Ok(bytes)
    }
}

/// Received chunks written to a file a batch at a time, on tokio's blocking threads. The
/// chunks are handed over as they came off the socket, without a copy: `tokio::fs`
/// behind a `BufWriter` copied every byte twice before the kernel's own copy.
struct Batches {
    file: Option<std::fs::File>,
    batch: Vec<Bytes>,
    len: usize,
}

/// Bytes gathered before a write: a system call per MiB.
const BATCH_BYTES: usize = 1 << 20;

impl Batches {
    fn new(file: std::fs::File) -> Self {
        Batches {
            file: Some(file),
            batch: Vec::new(),
            len: 0,
        }
    }

    async fn push(&mut self, chunk: Bytes) -> std::io::Result<()> {
        self.len += chunk.len();
        self.batch.push(chunk);
        if self.len >= BATCH_BYTES {
            self.write().await?;
        }
        Ok(())
    }

    async fn finish(mut self) -> std::io::Result<()> {
        self.write().await
    }

    async fn write(&mut self) -> std::io::Result<()> {
        let batch = std::mem::take(&mut self.batch);
        self.len = 0;
        let Some(mut file) = self.file.take() else {
            return Err(std::io::Error::other("an earlier write failed"));
        };
        let file = tokio::task::spawn_blocking(move || {
            write_all_vectored(&mut file, &batch)?;
            Ok::<_, std::io::Error>(file)
        })
        .await
        .map_err(std::io::Error::other)??;
        self.file = Some(file);
        Ok(())
    }
}

/// Write every byte of `chunks`, in order, with as few system calls as the kernel allows.
fn write_all_vectored(file: &mut std::fs::File, chunks: &[Bytes]) -> std::io::Result<()> {
    let mut slices: Vec<std::io::IoSlice<'_>> =
        chunks.iter().map(|c| std::io::IoSlice::new(c)).collect();
    let mut rest = &mut slices[..];
    while !rest.is_empty() {
        match file.write_vectored(rest) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => std::io::IoSlice::advance_slices(&mut rest, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A download a killed run left is removed by a later run; one being written (or
    /// anything else in tmp/) stays.
    #[test]
    fn stale_downloads_are_swept_and_fresh_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&tmp).unwrap();
        for name in ["incoming-old", "incoming-new", "other"] {
            std::fs::write(tmp.join(name), b"x").unwrap();
        }
        let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
        for name in ["incoming-old", "other"] {
            let f = std::fs::File::options()
                .write(true)
                .open(tmp.join(name))
                .unwrap();
            f.set_modified(hour_ago).unwrap();
        }
        Store::open(dir.path()).unwrap();
        let mut left: Vec<_> = std::fs::read_dir(&tmp)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["incoming-new", "other"]);
    }

    #[tokio::test]
    async fn put_stream_checks_digest_and_size() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let data = Bytes::from(vec![1u8; 5000]);
        let d = Sha256Digest::of(&data);
        let chunks = || futures::stream::iter(vec![Ok::<_, Error>(data.clone())]);
        store
            .put_stream(chunks(), "blob", &d, Some(5000), |_| {})
            .await
            .unwrap();
        assert!(store.has(&d, Some(5000)));
        // Wrong digest: nothing lands under the claimed name.
        let wrong = Sha256Digest::of(b"other");
        let e = store
            .put_stream(chunks(), "blob", &wrong, None, |_| {})
            .await
            .unwrap_err();
        assert_eq!(e.exit_code(), 5, "{e}");
        assert!(!store.has(&wrong, None));
        // Too long: cut off.
        let e = store
            .put_stream(chunks(), "blob", &d, Some(10), |_| {})
            .await
            .unwrap_err();
        assert!(matches!(e, Error::SizeMismatch { .. }));
        // No temporary files left behind.
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0
        );
    }

    #[test]
    fn packing_waits_for_what_a_fetch_announced_and_no_longer_once_it_failed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (a, b) = (Sha256Digest::of(b"a"), Sha256Digest::of(b"b"));
        // Nothing announced: nothing to wait for.
        store.wait_for(&a).unwrap();
        store.wait_settled().unwrap();
        let fetching = store.expect([a, b]);
        std::thread::scope(|s| {
            let waiter = s.spawn(|| {
                store.wait_for(&a).unwrap();
                assert!(
                    store.has(&a, Some(1)),
                    "woken before the entry was in place"
                );
                store.wait_for(&b)
            });
            std::thread::sleep(std::time::Duration::from_millis(50));
            store.put_bytes(b"a", "a", &a).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(50));
            // `b` never comes: the fetch fails, and the waiter is told so.
            drop(fetching);
            let e = waiter.join().unwrap().unwrap_err();
            assert!(e.to_string().contains("fetch stopped"), "{e}");
        });
        assert!(store.wait_settled().is_err());
        // A later fetch that ends well settles well.
        store.expect([b]).finish(true);
        store.wait_settled().unwrap();
    }

    #[test]
    fn batched_writes_keep_every_byte_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..4 * BATCH_BYTES + 777)
            .map(|i| (i % 241) as u8)
            .collect();
        // Empty chunks, odd sizes, and chunks larger than a batch; the rest in one.
        let mut chunks = Vec::new();
        let mut at = 0;
        for n in [0, 1, 4095, BATCH_BYTES + 3, 0, 65_536, 2 * BATCH_BYTES] {
            chunks.push(Bytes::copy_from_slice(&data[at..at + n]));
            at += n;
        }
        chunks.push(Bytes::copy_from_slice(&data[at..]));
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let mut b = Batches::new(std::fs::File::create(&path).unwrap());
            for c in chunks {
                b.push(c).await.unwrap();
            }
            b.finish().await.unwrap();
        });
        assert_eq!(std::fs::read(&path).unwrap(), data);
    }

    #[test]
    fn read_verified_catches_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let d = Sha256Digest::of(b"{}");
        store.put_bytes(b"{}", "m", &d).unwrap();
        assert_eq!(store.read_verified(&d, 10).unwrap(), b"{}");
        std::fs::write(store.path(&d), b"[]").unwrap();
        assert!(store.read_verified(&d, 10).is_err());
    }
}
