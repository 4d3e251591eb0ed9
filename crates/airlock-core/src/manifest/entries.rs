//! Entries, the payload's table of contents. Guarantees: every path is listed once, a
//! content-addressed name is its content's sha256, and `payload.tar_size` is exactly what
//! the entries make (so a reader can stop the moment the decoded stream passes it). The
//! other sections look up the blobs and files they name in the [`Contents`] it returns.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::delta::{self, Omitted};
use crate::digest::{Sha256Digest, bare_hex};
use crate::error::{Checked, FormatError};
use crate::layout::PayloadPath;

/// One payload entry (a regular file in the tar stream).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Path inside the payload.
    pub path: PayloadPath,
    /// Size in bytes.
    pub size: u64,
    /// sha256 of the content.
    #[serde(with = "bare_hex")]
    pub sha256: Sha256Digest,
    /// Media type (OCI media type for image content; a file kind otherwise).
    pub media_type: String,
}

/// The checked entries by path, and what a delta leaves out: where the other sections
/// find the blobs and files they name.
pub(crate) struct Contents<'a> {
    entries: BTreeMap<PayloadPath, &'a Entry>,
    omitted: &'a [Omitted],
}

/// Entries: each path once, content-addressed names match their sha256, and the tar size
/// is exactly what these entries make.
pub(crate) fn check<'a>(
    entries: &'a [Entry],
    tar_size: u64,
    omitted: &'a [Omitted],
) -> Checked<Contents<'a>> {
    let mut seen = BTreeMap::new();
    for e in entries {
        if let Some(d) = e.path.digest()
            && d != e.sha256
        {
            return Err(FormatError::EntryName { path: e.path });
        }
        if seen.insert(e.path, e).is_some() {
            return Err(FormatError::EntryTwice { path: e.path });
        }
    }
    let expected =
        tar_size_of(entries.iter().map(|e| e.size)).ok_or(FormatError::EntrySizesOverflow)?;
    if expected != tar_size {
        return Err(FormatError::TarSize {
            declared: tar_size,
            found: expected,
        });
    }
    Ok(Contents {
        entries: seen,
        omitted,
    })
}

impl<'a> Contents<'a> {
    /// The payload entry of a carried blob or manifest, with its size checked.
    pub(crate) fn blob(&self, digest: Sha256Digest, size: u64) -> Checked<&'a Entry> {
        let e = self
            .entries
            .get(&PayloadPath::Blob(digest))
            .ok_or(FormatError::NotInPayload)?;
        if e.size != size {
            return Err(FormatError::Size {
                declared: size,
                found: e.size,
            });
        }
        Ok(e)
    }

    /// A blob or file is a payload entry of its size, or (in a delta) omitted with it.
    pub(crate) fn carried_or_omitted(&self, path: &PayloadPath, size: u64) -> Checked {
        let listed = match self.entries.get(path) {
            Some(e) => e.size,
            None => delta::find(self.omitted, path)
                .map(|o| o.size)
                .ok_or(FormatError::NotInPayload)?,
        };
        if listed != size {
            return Err(FormatError::Size {
                declared: size,
                found: listed,
            });
        }
        Ok(())
    }

    /// True if the payload holds `path`.
    pub(crate) fn holds(&self, path: &PayloadPath) -> bool {
        self.entries.contains_key(path)
    }
}

/// The size of the tar stream airlock writes for entries of these sizes: a 512-byte
/// header and the content padded to 512 bytes per entry, then two zero blocks. `None` on
/// overflow.
pub fn tar_size_of(sizes: impl IntoIterator<Item = u64>) -> Option<u64> {
    let mut total: u64 = 1024;
    for s in sizes {
        let padded = s.checked_add(511)? / 512 * 512;
        total = total.checked_add(512)?.checked_add(padded)?;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tar_size_matches_the_tar_crate() {
        let sizes = [0u64, 1, 511, 512, 513, 4096];
        let mut b = tar::Builder::new(Vec::new());
        for (i, s) in sizes.iter().enumerate() {
            let mut h = tar::Header::new_ustar();
            h.set_size(*s);
            h.set_path(format!("f{i}")).unwrap();
            h.set_cksum();
            b.append(&h, &vec![0u8; *s as usize][..]).unwrap();
        }
        let bytes = b.into_inner().unwrap();
        assert_eq!(tar_size_of(sizes), Some(bytes.len() as u64));
        assert_eq!(tar_size_of([u64::MAX]), None);
    }
}
