//! Free disk space, checked before anything is written (zarf #1473: temp dirs fill up).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::fsutil::free_space;
use crate::layout::PayloadPath;
use crate::manifest::{BundleManifest, FileRecord};

/// Files go to `dest`; blobs wait in the spool, at most `uploads` of them at once
/// (counted as the largest ones, to be safe). Sums saturate: a need too big to count is
/// too big for any disk.
pub fn check(
    dest: &Path,
    spool: &Path,
    uploads: usize,
    files: &[&FileRecord],
    to_upload: &BTreeMap<Sha256Digest, Vec<String>>,
    m: &BundleManifest,
) -> Result<()> {
    let file_bytes = files.iter().fold(0u64, |a, f| a.saturating_add(f.size));
    let mut sizes: Vec<u64> = to_upload
        .keys()
        .filter_map(|d| m.entry(&PayloadPath::Blob(*d)).map(|e| e.size))
        .collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    let spool_bytes = sizes
        .iter()
        .take(uploads.max(1))
        .fold(0u64, |a, s| a.saturating_add(*s));
    match shortfall(
        file_bytes,
        spool_bytes,
        free_space(dest)?,
        free_space(spool)?,
    ) {
        None => Ok(()),
        Some((on_dest, need, have)) => {
            let place: PathBuf = if on_dest { dest.into() } else { spool.into() };
            Err(Error::Install {
                target: place.display().to_string(),
                reason: format!(
                    "needs {need} bytes free, has {have} (free some space, or choose another --spool/--dest)"
                ),
            })
        }
    }
}

/// Which filesystem is short, if any: `(is it dest's, bytes needed, bytes free)`.
/// `dest` and `spool` are (free bytes, device id); on one device the needs add up.
fn shortfall(
    file_bytes: u64,
    spool_bytes: u64,
    dest: (u64, u64),
    spool: (u64, u64),
) -> Option<(bool, u64, u64)> {
    if dest.1 == spool.1 {
        let need = file_bytes.saturating_add(spool_bytes);
        return (need > dest.0).then_some((true, need, dest.0));
    }
    if file_bytes > dest.0 {
        return Some((true, file_bytes, dest.0));
    }
    (spool_bytes > spool.0).then_some((false, spool_bytes, spool.0))
}

#[cfg(test)]
mod tests {
    use super::shortfall;

    #[test]
    fn needs_add_up_on_one_filesystem() {
        assert_eq!(
            shortfall(60, 50, (100, 1), (100, 1)),
            Some((true, 110, 100))
        );
        assert_eq!(shortfall(60, 50, (100, 1), (100, 2)), None);
        assert_eq!(
            shortfall(160, 0, (100, 1), (100, 2)),
            Some((true, 160, 100))
        );
        assert_eq!(
            shortfall(0, 150, (100, 1), (100, 2)),
            Some((false, 150, 100))
        );
        assert_eq!(
            shortfall(u64::MAX, u64::MAX, (100, 1), (100, 1)),
            Some((true, u64::MAX, 100))
        );
    }
}
