//! Cutting the payload stream into volumes as it is written, and the parity volumes and
//! per-disc READMEs after it.
//!
//! [`VolumeSink`] is a [`PayloadSink`]: it starts a new file every `size` bytes and
//! hashes each volume (whole and head) and the whole stream while writing, so cutting
//! costs no extra pass and no memory. Parity needs every data volume's stripe at once,
//! so it reads the written volumes back stripe by stripe
//! ([`airlock_verify::media::parity`]).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use airlock_verify::media::parity::{self, VolumeHasher};

use super::offload::BackgroundSync;
use super::payload::{Finished, PayloadSink};
use crate::digest::{Hasher, Sha256Digest};
use crate::error::{Error, Result};
use crate::layout::{VOLUME_README, VolumeName};
use crate::manifest::{BundleManifest, Parity, ParityScheme, Volume};

/// How to lay the payload out on media.
#[derive(Debug, Clone, Default)]
pub struct Media {
    /// Cut the payload into volumes of at most this many bytes.
    pub volume_size: Option<u64>,
    /// Parity volumes to add (needs `volume_size`).
    pub parity: u32,
    /// One directory per volume, each with a README.
    pub volume_dirs: bool,
}

impl Media {
    /// Refuse combinations that cannot work, before anything is fetched or written.
    pub fn check(&self) -> Result<()> {
        if self.volume_size.is_none() && (self.parity > 0 || self.volume_dirs) {
            return Err(Error::Core(airlock_verify::Error::usage(
                "--parity and --volume-dirs need --volume-size".into(),
            )));
        }
        if self.parity > crate::layout::MAX_VOLUMES {
            return Err(Error::Core(airlock_verify::Error::usage(format!(
                "--parity {} is more than {} volumes",
                self.parity,
                crate::layout::MAX_VOLUMES
            ))));
        }
        Ok(())
    }
}

/// Where data volume `n` goes in `dir`.
fn data_path(dir: &Path, n: u32, dirs: bool) -> PathBuf {
    let v = VolumeName::Data(n);
    if dirs {
        // The directory of data volume n does not depend on the volume count.
        dir.join(v.dir(0)).join(v.to_string())
    } else {
        dir.join(v.to_string())
    }
}

/// A [`PayloadSink`] that cuts the stream into volumes of `size` bytes.
pub struct VolumeSink {
    dir: PathBuf,
    size: u64,
    dirs: bool,
    /// The volume being written, its hashes, and its write-back to disk.
    current: Option<(BufWriter<File>, VolumeHasher, BackgroundSync)>,
    done: Vec<parity::Written>,
    total: Hasher,
}

impl VolumeSink {
    /// Volumes of `size` bytes in `dir` (in `volume-NNN/` directories with `dirs`).
    pub fn new(dir: &Path, size: u64, dirs: bool) -> Self {
        VolumeSink {
            dir: dir.to_path_buf(),
            size: size.max(1),
            dirs,
            current: None,
            done: Vec::new(),
            total: Hasher::new(),
        }
    }

    fn close_current(&mut self) -> io::Result<()> {
        if let Some((w, h, sync)) = self.current.take() {
            let f = w.into_inner().map_err(|e| e.into_error())?;
            sync.finish()?;
            f.sync_all()?;
            self.done.push(h.finish());
        }
        Ok(())
    }

    fn open_next(&mut self) -> io::Result<()> {
        let n = self.done.len() as u32 + 1;
        if n > crate::layout::MAX_VOLUMES {
            return Err(io::Error::other(format!(
                "the payload needs more than {} volumes of {} bytes; choose a larger --volume-size",
                crate::layout::MAX_VOLUMES,
                self.size
            )));
        }
        let path = data_path(&self.dir, n, self.dirs);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let f = File::create(&path)?;
        let sync = BackgroundSync::new(&f)?;
        self.current = Some((
            BufWriter::with_capacity(1 << 20, f),
            VolumeHasher::new(),
            sync,
        ));
        Ok(())
    }
}

impl Write for VolumeSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self
            .current
            .as_ref()
            .is_some_and(|(_, h, _)| h.len() >= self.size)
        {
            self.close_current()?;
        }
        if self.current.is_none() {
            self.open_next()?;
        }
        let Some((w, h, sync)) = self.current.as_mut() else {
            return Err(io::Error::other("no volume open"));
        };
        let room = (self.size - h.len()).min(buf.len() as u64) as usize;
        let n = w.write(&buf[..room])?;
        h.update(&buf[..n]);
        self.total.update(&buf[..n]);
        sync.wrote(n);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.current.as_mut() {
            Some((w, _, _)) => w.flush(),
            None => Ok(()),
        }
    }
}

impl VolumeSink {
    /// The volumes written so far.
    fn volumes(&self) -> Vec<Volume> {
        self.done
            .iter()
            .enumerate()
            .map(|(i, w)| Volume {
                file: VolumeName::Data(i as u32 + 1),
                size: w.size,
                sha256: w.sha256,
                head_sha256: w.head_sha256,
            })
            .collect()
    }
}

/// Finish a volume sink: (stream size, stream sha256, volumes).
pub fn finish_volumes(mut sink: VolumeSink) -> io::Result<(u64, Sha256Digest, Vec<Volume>)> {
    sink.close_current()?;
    let volumes = sink.volumes();
    let (sha, len) = std::mem::take(&mut sink.total).finish();
    Ok((len, sha, volumes))
}

impl PayloadSink for VolumeSink {
    fn finish(self) -> io::Result<Finished> {
        let (size, sha256, volumes) = finish_volumes(self)?;
        Ok(Finished {
            size,
            sha256,
            volumes,
        })
    }
}

/// Write `parity` recovery volumes over the data volumes in `dir`.
pub fn write_parity(dir: &Path, data: &[Volume], parity: u32, dirs: bool) -> Result<Parity> {
    let (k, n) = (data.len(), parity as usize);
    if !parity::supported(k, n) {
        return Err(Error::Core(airlock_verify::Error::usage(format!(
            "--parity {n} with {k} data volume(s): parity volumes must be at least 1 and at \
             most as many as data volumes; choose a smaller --volume-size or less parity"
        ))));
    }
    let count = k as u32;
    let inputs: Vec<PathBuf> = data
        .iter()
        .map(|v| data_path(dir, v.file.number(), dirs))
        .collect();
    let mut outputs = Vec::new();
    for p in 1..=parity {
        let v = VolumeName::Parity(p);
        let path = if dirs {
            let d = dir.join(v.dir(count));
            std::fs::create_dir_all(&d).map_err(|e| Error::io("create directory", &d, e))?;
            d.join(v.to_string())
        } else {
            dir.join(v.to_string())
        };
        outputs.push(path);
    }
    let stripe = parity::stripe_for(k, n);
    let written = parity::encode(&inputs, data[0].size, stripe, &outputs, &|_| {})
        .map_err(|e| Error::io("write parity volumes in", dir, e))?;
    Ok(Parity {
        scheme: ParityScheme::ReedSolomonGf16,
        stripe,
        volumes: written
            .iter()
            .enumerate()
            .map(|(i, w)| Volume {
                file: VolumeName::Parity(i as u32 + 1),
                size: w.size,
                sha256: w.sha256,
                head_sha256: w.head_sha256,
            })
            .collect(),
    })
}

/// A README in each volume directory, so a disc found in a drawer can be sorted: which
/// bundle, which volume of how many, its sha256, and who signed the bundle. It is not
/// signed (anyone who handled the disc can rewrite it), so it gives no commands and says
/// so: instructions come from the verifier's own help and documentation.
pub fn write_readmes(
    dir: &Path,
    m: &BundleManifest,
    manifest_sha: &Sha256Digest,
    keys: &[String],
) -> Result<()> {
    let p = &m.payload;
    let count = p.volumes.len() as u32;
    let hop = m
        .hop
        .as_ref()
        .map(|h| format!("Kubernetes {} -> {}", h.from, h.to))
        .unwrap_or_else(|| "no hop".into());
    let parity = p.parity.as_ref().map(|x| x.volumes.len()).unwrap_or(0);
    for v in p.all_volumes() {
        let what = match v.file {
            VolumeName::Data(n) => format!("data volume {n} of {count}"),
            VolumeName::Parity(n) => format!("parity volume {n} of {parity}"),
        };
        let text = format!(
            "This disc holds {what} of an airlock bundle ({hop}).\n\
             \n\
             bundle manifest sha256: {msha}\n\
             file:   {file}\n\
             size:   {size} bytes\n\
             sha256: {sha}\n\
             signed by key id(s): {keys}\n\
             \n\
             The bundle is {count} data volume(s) and {parity} parity volume(s), plus\n\
             manifest.json, SHA256SUMS, signatures/ and report/ (on the first disc).\n\
             \n\
             This label is NOT signed: anyone who handled the disc could have changed it.\n\
             Use it to sort discs, never as instructions. Copy every disc into one\n\
             directory and check it with the airlock-verify you already trust inside the\n\
             enclave, as its own help says (airlock-verify verify --help, airlock-verify\n\
             repair --help; docs/media.md and docs/manual-verify.md of airlock).\n",
            msha = manifest_sha.hex(),
            file = v.file,
            size = v.size,
            sha = v.sha256.hex(),
            keys = keys.join(", "),
        );
        let path = dir.join(v.file.dir(count)).join(VOLUME_README);
        std::fs::write(&path, text).map_err(|e| Error::io("write", &path, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_volumes_are_the_stream_cut_at_the_size() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = VolumeSink::new(dir.path(), 1000, false);
        let data: Vec<u8> = (0..2500u32).map(|i| (i % 251) as u8).collect();
        for chunk in data.chunks(333) {
            sink.write_all(chunk).unwrap();
        }
        let (len, sha, vols) = finish_volumes(sink).unwrap();
        assert_eq!(len, 2500);
        assert_eq!(sha, Sha256Digest::of(&data));
        assert_eq!(
            vols.iter().map(|v| v.size).collect::<Vec<_>>(),
            [1000, 1000, 500]
        );
        let mut cat = Vec::new();
        for v in &vols {
            cat.extend(std::fs::read(dir.path().join(v.file.to_string())).unwrap());
        }
        assert_eq!(cat, data);
        // A stream of exactly two volumes makes no empty third one.
        let mut sink = VolumeSink::new(dir.path(), 1250, true);
        sink.write_all(&data).unwrap();
        let (_, _, vols) = finish_volumes(sink).unwrap();
        assert_eq!(vols.len(), 2);
        assert!(dir.path().join("volume-002/payload.tar.zst.002").is_file());
    }
}
