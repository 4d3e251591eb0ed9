//! Payload volumes on disk: where each one is, whether each one is the volume the
//! manifest signed, and the reader that chains the data volumes back into the payload
//! stream.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::digest::{Hasher, Sha256Digest};
use crate::error::{BundleError, Error, Result};
use crate::layout::VolumeName;
use crate::manifest::{PayloadInfo, VOLUME_HEAD_BYTES, Volume};

/// Where volume `v` of a payload with `data` data volumes is: flat in the bundle, or in
/// its `volume-NNN/` directory (`--volume-dirs`, or discs copied back one directory
/// each). `None` when neither exists.
pub fn locate(dir: &Path, v: VolumeName, data: u32) -> Option<PathBuf> {
    [
        dir.join(v.to_string()),
        dir.join(v.dir(data)).join(v.to_string()),
    ]
    .into_iter()
    .find(|p| std::fs::symlink_metadata(p).is_ok())
}

/// Where a rebuilt volume goes: where it was, else its directory when the bundle uses
/// volume directories, else flat.
pub fn target_path(dir: &Path, v: VolumeName, data: u32) -> PathBuf {
    if let Some(p) = locate(dir, v, data) {
        return p;
    }
    let vdir = dir.join(v.dir(data));
    // symlink_metadata: a volume directory that is a link is never a place to write.
    if std::fs::symlink_metadata(&vdir).is_ok_and(|m| m.is_dir()) {
        vdir.join(v.to_string())
    } else {
        dir.join(v.to_string())
    }
}

/// What is wrong with one volume.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "problem")]
pub enum Problem {
    /// No file.
    Missing,
    /// Not a regular file (a link, a directory, ...).
    NotRegular {
        /// What it is.
        kind: String,
    },
    /// Its `volume-NNN/` directory is a symbolic link: what is behind it is not the
    /// bundle's, and `repair` must not write through it.
    LinkedDirectory {
        /// The directory, relative to the bundle.
        dir: String,
    },
    /// Shorter than signed; its start is this volume's.
    Truncated {
        /// Its size.
        size: u64,
    },
    /// Longer than signed; its start is this volume's.
    Extended {
        /// Its size.
        size: u64,
    },
    /// The right size and start, other bytes differ.
    Corrupt,
    /// It is (or starts like) another volume of this bundle.
    OutOfOrder {
        /// The volume it holds.
        holds: VolumeName,
    },
    /// Its start matches no volume of this bundle.
    Foreign,
    /// It could not be read.
    Unreadable {
        /// The error.
        error: String,
    },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Missing => f.write_str("is missing"),
            Problem::NotRegular { kind } => write!(f, "is {kind}, not a regular file"),
            Problem::LinkedDirectory { dir } => write!(
                f,
                "is in {dir}/, which is a symbolic link, not a directory of the bundle"
            ),
            Problem::Truncated { size } => write!(f, "is truncated ({size} bytes)"),
            Problem::Extended { size } => write!(f, "is longer than signed ({size} bytes)"),
            Problem::Corrupt => f.write_str("is corrupt (its sha256 differs from the signed one)"),
            Problem::OutOfOrder { holds } => {
                write!(f, "is out of order: the file holds {holds}")
            }
            Problem::Foreign => f.write_str(
                "is not a volume of this bundle (from another bundle, or damaged in its first 64 KiB)",
            ),
            Problem::Unreadable { error } => write!(f, "cannot be read: {error}"),
        }
    }
}

/// One volume as found on disk.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VolumeStatus {
    /// Which volume.
    pub volume: VolumeName,
    /// Its path relative to the bundle (where it was looked for).
    pub path: String,
    /// What is wrong, if anything.
    #[serde(flatten)]
    pub problem: Option<Problem>,
}

/// How much of a volume [`check_all`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// Every byte of every volume (repair, and the full damage report).
    Whole,
    /// Size and first [`VOLUME_HEAD_BYTES`] of each data volume, every byte of each
    /// parity volume: enough to name a volume that is missing, truncated, extended,
    /// out of order or from another bundle. Damage further in is caught, by name, when
    /// the payload stream passes through the volume ([`VolumeChain`]), so `verify`
    /// reads each data volume once.
    Quick,
}

/// Read every volume, data and parity, and say which are not the signed ones (with
/// [`Depth::Quick`], which are not the signed ones as far as size and start show).
/// Memory stays flat; `on_progress` gets the bytes read.
pub fn check_all(
    dir: &Path,
    p: &PayloadInfo,
    depth: Depth,
    on_progress: &dyn Fn(u64),
) -> Vec<VolumeStatus> {
    let data = p.volumes.len() as u32;
    let all: Vec<&Volume> = p.all_volumes().collect();
    all.iter()
        .enumerate()
        .map(|(i, v)| {
            let path = locate(dir, v.file, data);
            let rel = path
                .as_ref()
                .and_then(|p| p.strip_prefix(dir).ok())
                .map(|r| r.display().to_string())
                .unwrap_or_else(|| v.file.to_string());
            let vdir = v.file.dir(data);
            let linked = std::fs::symlink_metadata(dir.join(&vdir))
                .is_ok_and(|m| m.file_type().is_symlink());
            let problem = match &path {
                _ if linked => Some(Problem::LinkedDirectory { dir: vdir }),
                None => Some(Problem::Missing),
                Some(path) => {
                    // all_volumes lists the data volumes first, then parity.
                    let is_parity = i >= p.volumes.len();
                    let whole = depth == Depth::Whole || is_parity;
                    check_one(path, v, &all, whole, on_progress)
                }
            };
            VolumeStatus {
                volume: v.file,
                path: rel,
                problem,
            }
        })
        .collect()
}

/// The one error for a list of statuses with problems: every damaged volume by name.
pub fn damage_error(statuses: &[VolumeStatus]) -> Option<Error> {
    let damaged: Vec<String> = statuses
        .iter()
        .filter_map(|s| s.problem.as_ref().map(|p| format!("{} {p}", s.path)))
        .collect();
    if damaged.is_empty() {
        return None;
    }
    let total = statuses.len();
    // Reed-Solomon rebuilds as many lost volumes, data or parity, as there are parity
    // volumes.
    let parity = statuses
        .iter()
        .filter(|s| matches!(s.volume, VolumeName::Parity(_)))
        .count();
    let repairable = damaged.len() <= parity;
    Some(Error::rejected(
        "payload volumes",
        BundleError::VolumesDamaged {
            damaged,
            total,
            repairable,
        },
    ))
}

fn check_one(
    path: &Path,
    v: &Volume,
    all: &[&Volume],
    whole_file: bool,
    on_progress: &dyn Fn(u64),
) -> Option<Problem> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) => {
            return Some(Problem::Unreadable {
                error: e.to_string(),
            });
        }
    };
    if !meta.is_file() {
        return Some(Problem::NotRegular {
            kind: crate::fsutil::kind_of(meta.file_type()).to_string(),
        });
    }
    let hashed = if whole_file {
        hash_volume(path, on_progress).map(|(h, w, s)| (h, Some(w), s))
    } else {
        hash_head(path, on_progress).map(|(h, s)| (h, None, s))
    };
    let (head, whole, size) = match hashed {
        Ok(h) => h,
        Err(e) => {
            return Some(Problem::Unreadable {
                error: e.to_string(),
            });
        }
    };
    match whole {
        Some(w) if size == v.size && w == v.sha256 => return None,
        None if size == v.size && head == v.head_sha256 => return None,
        _ => {}
    }
    if let Some(other) = all.iter().find(|o| {
        o.file != v.file
            && o.size == size
            && match whole {
                Some(w) => o.sha256 == w,
                None => o.head_sha256 == head,
            }
    }) {
        return Some(Problem::OutOfOrder { holds: other.file });
    }
    let head_len = size.min(VOLUME_HEAD_BYTES);
    let own_head_len = v.size.min(VOLUME_HEAD_BYTES);
    if head_len == own_head_len && head == v.head_sha256 {
        return Some(match size.cmp(&v.size) {
            std::cmp::Ordering::Less => Problem::Truncated { size },
            std::cmp::Ordering::Greater => Problem::Extended { size },
            std::cmp::Ordering::Equal => Problem::Corrupt,
        });
    }
    if let Some(other) = all.iter().find(|o| {
        o.file != v.file && o.size.min(VOLUME_HEAD_BYTES) == head_len && o.head_sha256 == head
    }) {
        return Some(Problem::OutOfOrder { holds: other.file });
    }
    if size < own_head_len {
        // Too short to compare its start: say what can be said.
        return Some(Problem::Truncated { size });
    }
    Some(Problem::Foreign)
}

/// (sha256 of the first [`VOLUME_HEAD_BYTES`], sha256 of all, size) in one read.
pub fn hash_volume(
    path: &Path,
    on_progress: &dyn Fn(u64),
) -> io::Result<(Sha256Digest, Sha256Digest, u64)> {
    let mut f = crate::fsutil::open_regular_io(path)?;
    let mut head = Hasher::new();
    let mut whole = Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let room = VOLUME_HEAD_BYTES.saturating_sub(head.len()) as usize;
        head.update(&buf[..n.min(room)]);
        whole.update(&buf[..n]);
        on_progress(n as u64);
    }
    let (h, _) = head.finish();
    let (w, len) = whole.finish();
    Ok((h, w, len))
}

/// (sha256 of the first [`VOLUME_HEAD_BYTES`], size): the head read, the size taken
/// from the open handle.
fn hash_head(path: &Path, on_progress: &dyn Fn(u64)) -> io::Result<(Sha256Digest, u64)> {
    let f = crate::fsutil::open_regular_io(path)?;
    let size = f.metadata()?.len();
    let mut head = Hasher::new();
    let mut buf = vec![0u8; VOLUME_HEAD_BYTES as usize];
    let mut r = f.take(VOLUME_HEAD_BYTES);
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.update(&buf[..n]);
        on_progress(n as u64);
    }
    Ok((head.finish().0, size))
}

/// The data volumes read one after another: the payload stream. Each volume's size is
/// checked when it is opened and its sha256 when it ends, so a volume changed after the
/// per-volume check is still caught, by name.
pub struct VolumeChain {
    dir: PathBuf,
    volumes: Vec<Volume>,
    next: usize,
    current: Option<(File, Hasher, usize)>,
}

impl VolumeChain {
    /// The data volumes of `p` in `dir`.
    pub fn new(dir: &Path, p: &PayloadInfo) -> Self {
        VolumeChain {
            dir: dir.to_path_buf(),
            volumes: p.volumes.clone(),
            next: 0,
            current: None,
        }
    }

    fn open_next(&mut self) -> io::Result<bool> {
        let Some(v) = self.volumes.get(self.next) else {
            return Ok(false);
        };
        let data = self.volumes.len() as u32;
        let path = locate(&self.dir, v.file, data).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("volume {} is missing", v.file),
            )
        })?;
        let f = crate::fsutil::open_regular_io(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("volume {}: {e}", v.file)))?;
        let size = f.metadata()?.len();
        if size != v.size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "volume {} is {size} bytes, the manifest says {}",
                    v.file, v.size
                ),
            ));
        }
        self.current = Some((f, Hasher::new(), self.next));
        self.next += 1;
        Ok(true)
    }
}

impl Read for VolumeChain {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.current.is_none() && !self.open_next()? {
                return Ok(0);
            }
            let Some((f, hasher, idx)) = self.current.as_mut() else {
                return Ok(0);
            };
            let v = &self.volumes[*idx];
            let room = v.size.saturating_sub(hasher.len());
            let want = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
            let n = if want == 0 {
                0
            } else {
                f.read(&mut buf[..want])?
            };
            if n > 0 {
                hasher.update(&buf[..n]);
                return Ok(n);
            }
            let (f_hasher, idx) = match self.current.take() {
                Some((_, h, i)) => (h, i),
                None => return Ok(0),
            };
            let v = &self.volumes[idx];
            let (got, len) = f_hasher.finish();
            if len != v.size || got != v.sha256 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "volume {} changed since it was checked (sha256 {})",
                        v.file,
                        got.hex()
                    ),
                ));
            }
        }
    }
}

/// Open the payload stream of `p` in `dir`: the one payload file, or the data volumes
/// chained.
pub fn open_stream(dir: &Path, p: &PayloadInfo) -> Result<Box<dyn Read + Send>> {
    if !p.volumes.is_empty() {
        return Ok(Box::new(VolumeChain::new(dir, p)));
    }
    let fail = |reason: BundleError| Error::rejected(crate::layout::PAYLOAD_FILE, reason);
    let unreadable = |e: std::io::Error| {
        fail(BundleError::Unreadable {
            reason: e.to_string(),
        })
    };
    let path = dir.join(crate::layout::PAYLOAD_FILE);
    let file = crate::fsutil::open_regular_io(&path).map_err(unreadable)?;
    let size = file.metadata().map_err(unreadable)?.len();
    if size != p.size {
        return Err(fail(BundleError::PayloadSize {
            found: size,
            declared: p.size,
        }));
    }
    Ok(Box::new(file))
}
