//! Parity volumes: Reed-Solomon recovery shards over the data volumes, stripe by stripe
//! (see [`crate::manifest::ParityScheme`]). Memory is one stripe of every volume, never a
//! whole volume: [`stripe_for`] keeps that under [`STRIPE_MEMORY`].

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;

use crate::digest::{Hasher, Sha256Digest};
use crate::manifest::{MAX_PARITY_STRIPE, VOLUME_HEAD_BYTES, stripe_lengths};

/// The memory budget of one stripe across all volumes. The Reed-Solomon coder needs
/// about twice this again for its work shards, so build and repair stay near the 64 MiB
/// the rest of airlock keeps to (measured: 256 MiB here cost 95 MiB peak for 9 volumes).
pub const STRIPE_MEMORY: u64 = 16 * 1024 * 1024;
/// The smallest stripe: 4,096 volumes still fit the budget.
pub const MIN_STRIPE: u64 = 4 * 1024;
/// The longest stripe: past 1 MiB longer stripes no longer speed the coder up.
pub const MAX_STRIPE: u64 = 1024 * 1024;

/// The stripe length for `data` data and `parity` parity volumes: as long as the memory
/// budget allows, between [`MIN_STRIPE`] and [`MAX_STRIPE`], a multiple of 64 bytes (the
/// coder's SIMD width). Depends only on the counts, so the same bundle always gets the
/// same parity bytes.
pub fn stripe_for(data: usize, parity: usize) -> u64 {
    let per = STRIPE_MEMORY / (data + parity).max(1) as u64;
    let s = per.clamp(MIN_STRIPE, MAX_STRIPE.min(MAX_PARITY_STRIPE));
    s & !63
}

/// Can this many data and parity volumes be coded?
pub fn supported(data: usize, parity: usize) -> bool {
    parity >= 1 && parity <= data && reed_solomon_simd::ReedSolomonEncoder::supports(data, parity)
}

/// A written volume: size, sha256 of the whole, sha256 of its head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Size in bytes.
    pub size: u64,
    /// sha256.
    pub sha256: Sha256Digest,
    /// sha256 of the first [`VOLUME_HEAD_BYTES`].
    pub head_sha256: Sha256Digest,
}

/// Hashes a volume (whole and head) while it is written.
pub struct VolumeHasher {
    whole: Hasher,
    head: Hasher,
}

impl Default for VolumeHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl VolumeHasher {
    /// A fresh hasher.
    pub fn new() -> Self {
        VolumeHasher {
            whole: Hasher::new(),
            head: Hasher::new(),
        }
    }
    /// Add bytes.
    pub fn update(&mut self, b: &[u8]) {
        let room = VOLUME_HEAD_BYTES.saturating_sub(self.head.len()) as usize;
        self.head.update(&b[..b.len().min(room)]);
        self.whole.update(b);
    }
    /// Bytes so far.
    pub fn len(&self) -> u64 {
        self.whole.len()
    }
    /// True before any byte.
    pub fn is_empty(&self) -> bool {
        self.whole.is_empty()
    }
    /// The result.
    pub fn finish(self) -> Written {
        let (head_sha256, _) = self.head.finish();
        let (sha256, size) = self.whole.finish();
        Written {
            size,
            sha256,
            head_sha256,
        }
    }
}

/// Read stripe `len` of a volume: `len` bytes, zero-padded past the volume's end.
fn read_shard(r: &mut impl Read, buf: &mut [u8]) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = r.read(&mut buf[filled..])?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    buf[filled..].fill(0);
    Ok(())
}

fn rs_err(e: reed_solomon_simd::Error) -> io::Error {
    io::Error::other(format!("reed-solomon: {e}"))
}

/// Compute `outputs.len()` parity volumes over the data volume files `inputs` (all but
/// the last of the first one's size), with stripes of `stripe` bytes.
pub fn encode(
    inputs: &[PathBuf],
    first_size: u64,
    stripe: u64,
    outputs: &[PathBuf],
    on_progress: &dyn Fn(u64),
) -> io::Result<Vec<Written>> {
    let (k, n) = (inputs.len(), outputs.len());
    let mut readers: Vec<io::BufReader<File>> = inputs
        .iter()
        .map(|p| File::open(p).map(io::BufReader::new))
        .collect::<io::Result<_>>()?;
    let mut writers: Vec<(io::BufWriter<File>, VolumeHasher)> = outputs
        .iter()
        .map(|p| Ok((io::BufWriter::new(File::create(p)?), VolumeHasher::new())))
        .collect::<io::Result<_>>()?;
    let mut shards: Vec<Vec<u8>> = vec![Vec::new(); k];
    for len in stripe_lengths(first_size, stripe) {
        for (r, s) in readers.iter_mut().zip(shards.iter_mut()) {
            s.resize(len as usize, 0);
            read_shard(r, s)?;
        }
        let recovery = reed_solomon_simd::encode(k, n, &shards).map_err(rs_err)?;
        for ((w, h), shard) in writers.iter_mut().zip(&recovery) {
            w.write_all(shard)?;
            h.update(shard);
        }
        on_progress(len * k as u64);
    }
    let mut out = Vec::new();
    for (w, h) in writers {
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        out.push(h.finish());
    }
    Ok(out)
}

/// A volume to read from or rebuild in [`rebuild`].
pub enum Shard {
    /// A good volume, read from this file.
    Good(PathBuf),
    /// A lost one, written to this file, which the caller created exclusively (so no
    /// link planted at its name is followed) and renames into place.
    Lost {
        /// Where to write it.
        file: File,
        /// Its signed size.
        size: u64,
    },
}

/// Rebuild the lost volumes among `data` then `parity` from the good ones. Returns
/// (index into data ++ parity, what was written) for each lost one.
pub fn rebuild(
    data: &[Shard],
    parity: &[Shard],
    first_size: u64,
    stripe: u64,
    on_progress: &dyn Fn(u64),
) -> io::Result<Vec<(usize, Written)>> {
    let (k, n) = (data.len(), parity.len());
    let all: Vec<&Shard> = data.iter().chain(parity).collect();
    let mut readers: Vec<Option<io::BufReader<File>>> = Vec::new();
    let mut writers: Vec<Option<(io::BufWriter<File>, VolumeHasher, u64)>> = Vec::new();
    for s in &all {
        match s {
            Shard::Good(p) => {
                // Checked as a regular file before; a FIFO swapped in since must not hang us.
                let f = crate::fsutil::open_regular_io(p)?;
                readers.push(Some(io::BufReader::new(f)));
                writers.push(None);
            }
            Shard::Lost { file, size } => {
                readers.push(None);
                let w = io::BufWriter::new(file.try_clone()?);
                writers.push(Some((w, VolumeHasher::new(), *size)));
            }
        }
    }
    let good_data = (0..k).filter(|&i| readers[i].is_some()).count();
    // Decoding needs exactly k shards: every good data volume and enough parity.
    let parity_used: Vec<usize> = (k..k + n)
        .filter(|&i| readers[i].is_some())
        .take(k - good_data)
        .collect();
    if good_data + parity_used.len() < k {
        return Err(io::Error::other(format!(
            "{} volumes lost, parity rebuilds at most {n}",
            k + n - readers.iter().filter(|r| r.is_some()).count()
        )));
    }
    let mut bufs: Vec<Vec<u8>> = vec![Vec::new(); k + n];
    for len in stripe_lengths(first_size, stripe) {
        for (i, r) in readers.iter_mut().enumerate() {
            if let Some(r) = r {
                bufs[i].resize(len as usize, 0);
                read_shard(r, &mut bufs[i])?;
            }
        }
        if good_data < k {
            let originals = (0..k)
                .filter(|&i| readers[i].is_some())
                .map(|i| (i, &bufs[i]));
            let recovery = parity_used.iter().map(|&i| (i - k, &bufs[i]));
            let restored = reed_solomon_simd::decode(k, n, originals, recovery).map_err(rs_err)?;
            for (i, shard) in restored {
                bufs[i] = shard;
            }
        }
        if (k..k + n).any(|i| writers[i].is_some()) {
            let recovery = reed_solomon_simd::encode(k, n, &bufs[..k]).map_err(rs_err)?;
            for (j, shard) in recovery.into_iter().enumerate() {
                bufs[k + j] = shard;
            }
        }
        for (i, w) in writers.iter_mut().enumerate() {
            if let Some((w, h, size)) = w {
                // Data volumes end where they end; the stripe's zero padding is not theirs.
                let room = size.saturating_sub(h.len()).min(len) as usize;
                let bytes = &bufs[i][..room];
                w.write_all(bytes)?;
                h.update(bytes);
            }
        }
        on_progress(len * k as u64);
    }
    let mut out = Vec::new();
    for (i, w) in writers.into_iter().enumerate() {
        if let Some((w, h, _)) = w {
            let f = w.into_inner().map_err(|e| e.into_error())?;
            f.sync_all()?;
            out.push((i, h.finish()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(path: &std::path::Path, bytes: &[u8]) {
        std::fs::write(path, bytes).unwrap();
    }

    #[test]
    fn any_lost_volumes_up_to_the_parity_count_come_back() {
        let dir = tempfile::tempdir().unwrap();
        let sizes = [300_001usize, 300_001, 300_001, 17];
        let mut paths = Vec::new();
        let mut contents = Vec::new();
        for (i, s) in sizes.iter().enumerate() {
            let bytes: Vec<u8> = (0..*s).map(|j| ((j * 31 + i * 7) % 251) as u8).collect();
            let p = dir.path().join(format!("d{i}"));
            put(&p, &bytes);
            paths.push(p);
            contents.push(bytes);
        }
        let stripe = 100_000;
        let par: Vec<PathBuf> = (0..2).map(|i| dir.path().join(format!("p{i}"))).collect();
        let written = encode(&paths, sizes[0] as u64, stripe, &par, &|_| {}).unwrap();
        let want_len: u64 = stripe_lengths(sizes[0] as u64, stripe).sum();
        assert!(written.iter().all(|w| w.size == want_len));
        // Lose data volume 1 and parity volume 0; rebuild both.
        let lost_d = dir.path().join("d1.new");
        let lost_p = dir.path().join("p0.new");
        let data = vec![
            Shard::Good(paths[0].clone()),
            Shard::Lost {
                file: File::create(&lost_d).unwrap(),
                size: sizes[1] as u64,
            },
            Shard::Good(paths[2].clone()),
            Shard::Good(paths[3].clone()),
        ];
        let parity = vec![
            Shard::Lost {
                file: File::create(&lost_p).unwrap(),
                size: want_len,
            },
            Shard::Good(par[1].clone()),
        ];
        let out = rebuild(&data, &parity, sizes[0] as u64, stripe, &|_| {}).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(std::fs::read(&lost_d).unwrap(), contents[1]);
        assert_eq!(
            std::fs::read(&lost_p).unwrap(),
            std::fs::read(&par[0]).unwrap()
        );
        // The last, short volume comes back at its own length.
        let last = dir.path().join("d3.new");
        let data = vec![
            Shard::Good(paths[0].clone()),
            Shard::Good(paths[1].clone()),
            Shard::Good(paths[2].clone()),
            Shard::Lost {
                file: File::create(&last).unwrap(),
                size: 17,
            },
        ];
        let parity = vec![Shard::Good(par[0].clone()), Shard::Good(par[1].clone())];
        rebuild(&data, &parity, sizes[0] as u64, stripe, &|_| {}).unwrap();
        assert_eq!(std::fs::read(&last).unwrap(), contents[3]);
    }

    #[test]
    fn stripes_fit_the_memory_budget() {
        for (d, p) in [(1, 1), (10, 2), (1000, 10), (4000, 96), (9999, 9999)] {
            let s = stripe_for(d, p);
            assert!(s.is_multiple_of(64) && (MIN_STRIPE..=MAX_STRIPE).contains(&s));
            if d + p <= 4096 {
                assert!(s * (d + p) as u64 <= STRIPE_MEMORY, "{d}+{p}: {s}");
            }
        }
        assert!(!supported(3, 4));
        assert!(supported(1, 1));
    }
}
