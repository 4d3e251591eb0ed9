//! Free disk space, checked before anything is written (zarf #1473: temp dirs fill up).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::files::FileRoots;
use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::fsutil::free_space;
use crate::layout::PayloadPath;
use crate::manifest::{BundleManifest, FileRecord};

/// Files go below `--dest` (package mirrors below `--packages-dir`); blobs wait in the
/// spool, at most `uploads` of them at once (counted as the largest ones, to be safe).
/// Sums saturate: a need too big to count is too big for any disk.
pub fn check(
    roots: &FileRoots,
    spool: &Path,
    uploads: usize,
    files: &[&FileRecord],
    to_upload: &BTreeMap<Sha256Digest, Vec<String>>,
    m: &BundleManifest,
) -> Result<()> {
    let mut per_root: BTreeMap<PathBuf, u64> = BTreeMap::new();
    per_root.insert(roots.dest.clone(), 0);
    for f in files {
        let (root, _) = roots.locate(f);
        let n = per_root.entry(root.to_path_buf()).or_insert(0);
        *n = n.saturating_add(f.size);
    }
    let mut sizes: Vec<u64> = to_upload
        .keys()
        .filter_map(|d| m.entry(&PayloadPath::Blob(*d)).map(|e| e.size))
        .collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    let spool_bytes = sizes
        .iter()
        .take(uploads.max(1))
        .fold(0u64, |a, s| a.saturating_add(*s));
    let mut needs = Vec::new();
    for (root, bytes) in per_root {
        let (free, dev) = free_space(&root)?;
        needs.push((root, bytes, free, dev));
    }
    let (free, dev) = free_space(spool)?;
    needs.push((spool.to_path_buf(), spool_bytes, free, dev));
    match shortfall(&needs) {
        None => Ok(()),
        Some((place, need, have)) => Err(Error::Install {
            target: place.display().to_string(),
            reason: format!(
                "needs {need} bytes free, has {have} (free some space, or choose another --spool/--dest/--packages-dir)"
            ),
        }),
    }
}

/// Which filesystem is short, if any: `(a path on it, bytes needed, bytes free)`. Each
/// need is `(path, bytes, free bytes, device id)`; needs on one device add up.
fn shortfall(needs: &[(PathBuf, u64, u64, u64)]) -> Option<(PathBuf, u64, u64)> {
    let mut by_dev: BTreeMap<u64, (PathBuf, u64, u64)> = BTreeMap::new();
    for (path, bytes, free, dev) in needs {
        let e = by_dev
            .entry(*dev)
            .or_insert_with(|| (path.clone(), 0, *free));
        e.1 = e.1.saturating_add(*bytes);
    }
    by_dev.into_values().find(|(_, need, free)| need > free)
}

#[cfg(test)]
mod tests {
    use super::shortfall;
    use std::path::PathBuf;

    fn n(p: &str, bytes: u64, free: u64, dev: u64) -> (PathBuf, u64, u64, u64) {
        (p.into(), bytes, free, dev)
    }

    #[test]
    fn needs_add_up_on_one_filesystem() {
        assert_eq!(
            shortfall(&[n("d", 60, 100, 1), n("s", 50, 100, 1)]),
            Some(("d".into(), 110, 100))
        );
        assert_eq!(shortfall(&[n("d", 60, 100, 1), n("s", 50, 100, 2)]), None);
        assert_eq!(
            shortfall(&[n("d", 160, 100, 1), n("s", 0, 100, 2)]),
            Some(("d".into(), 160, 100))
        );
        assert_eq!(
            shortfall(&[n("d", 0, 100, 1), n("s", 150, 100, 2)]),
            Some(("s".into(), 150, 100))
        );
        assert_eq!(
            shortfall(&[
                n("d", u64::MAX, 100, 1),
                n("p", 1, 100, 1),
                n("s", u64::MAX, 100, 1)
            ]),
            Some(("d".into(), u64::MAX, 100))
        );
        assert_eq!(
            shortfall(&[n("d", 10, 100, 1), n("p", 95, 100, 3), n("s", 0, 100, 1)]),
            None
        );
    }
}
