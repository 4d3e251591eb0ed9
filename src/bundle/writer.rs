//! Pack: store + plans -> a bundle directory.
//!
//! Reproducibility rules (tested in `tests/e2e/reproducible.rs`):
//! - entries in a fixed order: `oci-layout`, `index.json`, then content that compresses
//!   sorted by path, then already-compressed content (gzip/zstd/xz layers and archives)
//!   sorted by path;
//! - plain ustar headers: mode 0644, uid/gid 0, no user or group names, mtime 0;
//! - zstd with at least one worker thread, whose output does not depend on the number of
//!   workers; compressible content and already-compressed content go in separate zstd
//!   frames, the second at a fast level so gzip layers cost little CPU;
//! - the manifest is serialized with a fixed field order and sorted lists, and ed25519
//!   signatures are deterministic.
//!
//! Everything is written into a temporary directory beside the output and renamed into
//! place at the end, so an interrupted build never leaves a bundle that looks complete.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::bundle::manifest::{
    BUNDLE_FORMAT, BundleManifest, Entry, FileRecord, ImageRecord, MANIFEST_FILE, PAYLOAD_FILE,
    PayloadInfo, SIGNATURES_DIR, SUMS_FILE, blob_path, file_path,
};
use crate::digest::{HashingReader, HashingWriter, Sha256Digest};
use crate::error::{Error, Result};
use crate::fetch::ImagePlan;
use crate::lock::Lock;
use crate::paths::SafeRelPath;
use crate::store::Store;
use crate::trust::SecretKey;

/// zstd level used for already-compressed content (`--fast=1`).
pub const PRECOMPRESSED_LEVEL: i32 = -1;

/// zstd multi-threaded job size. zstd's default grows with the window (8 MiB at level 3)
/// and its input buffer holds `workers + 3` jobs, so the default cost 40+ MiB; 2 MiB jobs
/// keep the build under 64 MiB. A constant, never derived from the thread count: the job
/// size changes the output bytes, the number of workers does not.
pub const ZSTD_JOB_SIZE: u32 = 2 * 1024 * 1024;

/// Options for [`write_bundle`].
pub struct WriteOptions<'a> {
    /// zstd level for compressible content (1..=19).
    pub level: i32,
    /// zstd worker threads (at least 1; the output is the same for any value >= 1).
    pub threads: u32,
    /// Replace an existing output directory.
    pub force: bool,
    /// Keys that sign the manifest (one signature file each).
    pub keys: &'a [SecretKey],
    /// Called with payload bytes written, for a progress bar.
    pub on_progress: &'a dyn Fn(u64),
}

/// What was written.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WriteSummary {
    /// The bundle directory.
    pub dir: PathBuf,
    /// sha256 of `manifest.json`.
    pub manifest_sha256: String,
    /// Payload size in bytes.
    pub payload_size: u64,
    /// sha256 of the payload.
    pub payload_sha256: String,
    /// Uncompressed tar size.
    pub tar_size: u64,
    /// Number of payload entries.
    pub entries: usize,
    /// Signature files written.
    pub signatures: Vec<String>,
}

struct PendingEntry {
    path: SafeRelPath,
    size: u64,
    sha256: Sha256Digest,
    media_type: String,
    source: Source,
}

enum Source {
    Store,
    Inline(Vec<u8>),
}

/// True if the content starts with the magic bytes of a compressed format.
fn looks_compressed(head: &[u8]) -> bool {
    head.starts_with(&[0x1f, 0x8b]) // gzip
        || head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) // zstd
        || head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) // xz
        || head.starts_with(b"BZh") // bzip2
        || head.starts_with(b"PK\x03\x04") // zip
}

fn sniff(store: &Store, d: &Sha256Digest) -> Result<bool> {
    let path = store.path(d);
    let mut f = File::open(&path).map_err(|e| Error::io("open cache entry", &path, e))?;
    let mut head = [0u8; 6];
    let mut n = 0;
    while n < head.len() {
        let k = f
            .read(&mut head[n..])
            .map_err(|e| Error::io("read", &path, e))?;
        if k == 0 {
            break;
        }
        n += k;
    }
    Ok(looks_compressed(&head[..n]))
}

/// A writer that feeds one zstd frame at a time and can start a new frame with other
/// parameters between tar entries.
struct FrameWriter {
    current: Option<zstd::stream::write::Encoder<'static, HashingWriter<BufWriter<File>>>>,
    threads: u32,
}

impl FrameWriter {
    fn encoder(
        inner: HashingWriter<BufWriter<File>>,
        level: i32,
        threads: u32,
    ) -> io::Result<zstd::stream::write::Encoder<'static, HashingWriter<BufWriter<File>>>> {
        let mut e = zstd::stream::write::Encoder::new(inner, level)?;
        e.multithread(threads.max(1))?;
        e.set_parameter(zstd::stream::raw::CParameter::JobSize(ZSTD_JOB_SIZE))?;
        e.include_checksum(true)?;
        Ok(e)
    }

    fn new(file: File, level: i32, threads: u32) -> io::Result<Self> {
        let inner = HashingWriter::new(BufWriter::with_capacity(1 << 20, file));
        Ok(FrameWriter {
            current: Some(Self::encoder(inner, level, threads)?),
            threads,
        })
    }

    fn enc(
        &mut self,
    ) -> io::Result<&mut zstd::stream::write::Encoder<'static, HashingWriter<BufWriter<File>>>>
    {
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

    fn finish(mut self) -> io::Result<(File, Sha256Digest, u64)> {
        let enc = self
            .current
            .take()
            .ok_or_else(|| io::Error::other("payload writer finished"))?;
        let hw = enc.finish()?;
        let (buf, digest, len) = hw.finish();
        let file = buf.into_inner().map_err(|e| e.into_error())?;
        Ok((file, digest, len))
    }
}

impl Write for FrameWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.enc()?.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.enc()?.flush()
    }
}

/// A counting pass-through so the manifest can record the tar size.
struct Counting<W> {
    inner: W,
    n: u64,
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

fn header(path: &str, size: u64) -> Result<tar::Header> {
    let mut h = tar::Header::new_ustar();
    h.set_path(path)
        .map_err(|e| Error::invalid("payload path", path, e))?;
    h.set_size(size);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_username("")
        .map_err(|e| Error::invalid("payload path", path, e))?;
    h.set_groupname("")
        .map_err(|e| Error::invalid("payload path", path, e))?;
    h.set_cksum();
    Ok(h)
}

/// The OCI image layout `index.json`: one entry per image, pointing at what the enclave
/// serves, named by the canonical reference so `skopeo copy oci:DIR:NAME` finds it.
fn layout_index(plans: &[&ImagePlan]) -> Vec<u8> {
    let manifests: Vec<serde_json::Value> = plans
        .iter()
        .map(|p| {
            let mut ann = serde_json::Map::new();
            ann.insert("io.airlock.image".into(), p.locked.name.to_string().into());
            if p.locked.name.tag.is_some() {
                let mut named = p.locked.name.clone();
                named.digest = None;
                ann.insert(
                    "org.opencontainers.image.ref.name".into(),
                    named.to_string().into(),
                );
            }
            serde_json::json!({
                "mediaType": p.served.media_type,
                "digest": p.served.digest.to_string(),
                "size": p.served.size,
                "annotations": ann,
            })
        })
        .collect();
    let v = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": crate::oci::OCI_INDEX,
        "manifests": manifests,
    });
    serde_json::to_vec(&v).expect("index serializes")
}

/// Write a bundle for `lock` into `out`.
pub fn write_bundle(
    lock: &Lock,
    lock_bytes: &[u8],
    plans: &[ImagePlan],
    store: &Store,
    out: &Path,
    opts: &WriteOptions<'_>,
) -> Result<WriteSummary> {
    if opts.keys.is_empty() {
        return Err(Error::invalid(
            "build options",
            "--key",
            "at least one signing key is needed",
        ));
    }
    if out.exists() && !opts.force {
        return Err(Error::AlreadyExists {
            path: out.to_path_buf(),
        });
    }
    let mut sorted: Vec<&ImagePlan> = plans.iter().collect();
    sorted.sort_by_key(|p| p.locked.name.to_string());

    // Collect every entry once, keyed by payload path.
    let mut pending: BTreeMap<String, PendingEntry> = BTreeMap::new();
    let mut add = |path: String,
                   size: u64,
                   sha256: Sha256Digest,
                   media_type: &str,
                   source: Source|
     -> Result<()> {
        if let Some(prev) = pending.get(&path) {
            if prev.size != size {
                return Err(Error::invalid(
                    "lock file",
                    "images",
                    format!(
                        "{sha256} is named with two sizes ({} and {size})",
                        prev.size
                    ),
                ));
            }
            return Ok(());
        }
        pending.insert(
            path.clone(),
            PendingEntry {
                path: SafeRelPath::new(&path)?,
                size,
                sha256,
                media_type: media_type.to_string(),
                source,
            },
        );
        Ok(())
    };
    let layout = br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec();
    add(
        "oci-layout".into(),
        layout.len() as u64,
        Sha256Digest::of(&layout),
        "application/vnd.oci.layout.header.v1+json",
        Source::Inline(layout),
    )?;
    let index = layout_index(&sorted);
    add(
        "index.json".into(),
        index.len() as u64,
        Sha256Digest::of(&index),
        crate::oci::OCI_INDEX,
        Source::Inline(index),
    )?;
    for p in &sorted {
        let items = std::iter::once(&p.source)
            .chain(std::iter::once(&p.served))
            .chain(p.manifests.iter())
            .chain(p.blobs.iter());
        for c in items {
            add(
                blob_path(&c.digest),
                c.size,
                c.digest,
                &c.media_type,
                Source::Store,
            )?;
        }
    }
    let mut files: Vec<FileRecord> = Vec::new();
    for f in &lock.files {
        let path = store.path(&f.sha256);
        let size = std::fs::metadata(&path)
            .map_err(|e| Error::io("inspect cache entry", &path, e))?
            .len();
        let kind = f.kind.clone().unwrap_or_else(|| "file".into());
        add(
            file_path(&f.sha256),
            size,
            f.sha256,
            &format!("application/vnd.airlock.file.{kind}"),
            Source::Store,
        )?;
        files.push(FileRecord {
            name: f.name.clone(),
            target: f.target.clone(),
            mode: f.mode,
            sha256: f.sha256,
            size,
            source: f
                .url
                .clone()
                .or_else(|| f.path.as_ref().map(|p| p.display().to_string()))
                .unwrap_or_default(),
            kind: f.kind.clone(),
        });
    }
    files.sort_by(|a, b| a.target.cmp(&b.target));

    // Order: layout files, compressible content, then already-compressed content.
    let mut first: Vec<PendingEntry> = Vec::new();
    let mut compressible: Vec<PendingEntry> = Vec::new();
    let mut precompressed: Vec<PendingEntry> = Vec::new();
    for (_, e) in pending {
        match (&e.source, e.path.as_str()) {
            (Source::Inline(_), _) => first.push(e),
            (Source::Store, _) => {
                if sniff(store, &e.sha256)? {
                    precompressed.push(e)
                } else {
                    compressible.push(e)
                }
            }
        }
    }
    first.sort_by(|a, b| b.path.cmp(&a.path)); // "oci-layout" before "index.json"

    // Temporary directory beside the output, renamed at the end.
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| Error::io("create directory", parent, e))?;
    let name = out.file_name().and_then(|n| n.to_str()).unwrap_or("bundle");
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}.partial-"))
        .tempdir_in(parent)
        .map_err(|e| Error::io("create temporary directory in", parent, e))?;

    let payload_path = tmp.path().join(PAYLOAD_FILE);
    let file = File::create(&payload_path).map_err(|e| Error::io("create", &payload_path, e))?;
    let io_err = |e: io::Error| Error::io("write", &payload_path, e);
    let fw = FrameWriter::new(file, opts.level, opts.threads).map_err(io_err)?;
    let mut builder = tar::Builder::new(Counting { inner: fw, n: 0 });
    builder.mode(tar::HeaderMode::Deterministic);
    let mut entries = Vec::new();
    let groups: [(Option<i32>, Vec<PendingEntry>); 3] = [
        (None, first),
        (None, compressible),
        (Some(PRECOMPRESSED_LEVEL.min(opts.level)), precompressed),
    ];
    for (level, group) in groups {
        if group.is_empty() {
            continue;
        }
        if let Some(l) = level {
            builder.get_mut().inner.new_frame(l).map_err(io_err)?;
        }
        for e in group {
            let h = header(e.path.as_str(), e.size)?;
            match &e.source {
                Source::Inline(bytes) => builder.append(&h, &bytes[..]).map_err(io_err)?,
                Source::Store => {
                    let src = store.path(&e.sha256);
                    let f =
                        File::open(&src).map_err(|er| Error::io("open cache entry", &src, er))?;
                    let mut reader = HashingReader::new(f.take(e.size));
                    builder.append(&h, &mut reader).map_err(io_err)?;
                    let (_, got, n) = reader.finish();
                    // The store was checked on the way in; this catches disk corruption
                    // since, and a cache entry that shrank (which would corrupt the tar).
                    if n != e.size || got != e.sha256 {
                        return Err(Error::DigestMismatch {
                            artifact: format!("cache entry {}", src.display()),
                            expected: e.sha256.to_string(),
                            actual: if n != e.size {
                                format!("{n} bytes instead of {}", e.size)
                            } else {
                                got.to_string()
                            },
                        });
                    }
                }
            }
            (opts.on_progress)(e.size);
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
    let (file, payload_sha256, payload_size) = counting.inner.finish().map_err(io_err)?;
    file.sync_all().map_err(io_err)?;
    drop(file);

    let images: Vec<ImageRecord> = sorted
        .iter()
        .map(|p| ImageRecord {
            name: p.locked.name.clone(),
            role: p.locked.role.clone(),
            platforms: p.locked.platforms.clone(),
            source: p.source.clone(),
            served_as: p.served_as,
            served: p.served.clone(),
            manifests: p.manifests.clone(),
            blobs: p.blobs.clone(),
        })
        .collect();
    let manifest = BundleManifest {
        format: BUNDLE_FORMAT,
        kind: "airlock-bundle".into(),
        hop: lock.hop.clone(),
        lock_sha256: Sha256Digest::of(lock_bytes),
        notes: lock.notes.clone(),
        payload: PayloadInfo {
            file: PAYLOAD_FILE.into(),
            size: payload_size,
            sha256: payload_sha256,
            tar_size,
        },
        entries,
        images,
        files,
        checklist: lock.checklist.clone(),
    };
    manifest.validate()?;
    let manifest_bytes = manifest.to_bytes();
    let manifest_sha = Sha256Digest::of(&manifest_bytes);
    write_file(&tmp.path().join(MANIFEST_FILE), &manifest_bytes)?;
    let sums = format!(
        "{}  {MANIFEST_FILE}\n{}  {PAYLOAD_FILE}\n",
        manifest_sha.hex(),
        payload_sha256.hex()
    );
    write_file(&tmp.path().join(SUMS_FILE), sums.as_bytes())?;
    let sig_dir = tmp.path().join(SIGNATURES_DIR);
    std::fs::create_dir(&sig_dir).map_err(|e| Error::io("create directory", &sig_dir, e))?;
    let comment = trusted_comment(&manifest, &manifest_sha);
    let mut signatures = Vec::new();
    for key in opts.keys {
        let sig = crate::trust::sign(key, &manifest_bytes, &comment)?;
        let name = format!("{}.minisig", key.key_id());
        write_file(&sig_dir.join(&name), sig.as_bytes())?;
        signatures.push(format!("{SIGNATURES_DIR}/{name}"));
    }
    signatures.sort();

    // Make the temporary directory the output.
    let tmp_path = tmp.keep();
    set_dir_mode(&tmp_path)?;
    if out.exists() {
        let old = parent.join(format!(".{name}.replaced-{}", std::process::id()));
        std::fs::rename(out, &old).map_err(|e| Error::io("move aside", out, e))?;
        std::fs::rename(&tmp_path, out).map_err(|e| Error::io("rename into place", out, e))?;
        std::fs::remove_dir_all(&old).map_err(|e| Error::io("remove", &old, e))?;
    } else {
        std::fs::rename(&tmp_path, out).map_err(|e| Error::io("rename into place", out, e))?;
    }
    Ok(WriteSummary {
        dir: out.to_path_buf(),
        manifest_sha256: manifest_sha.hex(),
        payload_size,
        payload_sha256: payload_sha256.hex(),
        tar_size,
        entries: manifest.entries.len(),
        signatures,
    })
}

/// The trusted comment every airlock signature carries: what was signed, in words a
/// person running `minisign -V` can check.
pub fn trusted_comment(m: &BundleManifest, manifest_sha: &Sha256Digest) -> String {
    let hop = m
        .hop
        .as_ref()
        .map(|h| format!("{}->{}", h.from, h.to))
        .unwrap_or_else(|| "none".into());
    format!(
        "airlock-bundle format={} hop={} manifest_sha256={} payload_sha256={}",
        m.format,
        hop,
        manifest_sha.hex(),
        m.payload.sha256.hex()
    )
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = File::create(path).map_err(|e| Error::io("create", path, e))?;
    f.write_all(bytes)
        .map_err(|e| Error::io("write", path, e))?;
    f.sync_all().map_err(|e| Error::io("sync", path, e))
}

fn set_dir_mode(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    // tempdir creates 0700; a bundle directory is meant to be read by others.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| Error::io("set permissions on", dir, e))
}
