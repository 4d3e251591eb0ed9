//! The delta: what a bundle built on earlier ones rests on and leaves out. Guarantees: a
//! delta names at least one base; its omitted paths are sorted, unique, content-addressed,
//! name a base it lists, and are not also in the payload.

use serde::{Deserialize, Serialize};

use super::identity::Hop;
use crate::digest::{Sha256Digest, bare_hex};
use crate::error::{Checked, FormatError};
use crate::layout::PayloadPath;

/// What a delta bundle rests on and leaves out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delta {
    /// The bundles (or enclave inventories) it builds on, in the order given.
    pub bases: Vec<DeltaBase>,
    /// Blobs and files a base carried, left out of this payload, sorted by path. Install
    /// requires the enclave to hold each one already.
    pub omitted: Vec<Omitted>,
}

/// One base of a delta.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeltaBase {
    /// A bundle or an enclave inventory.
    pub kind: BaseKind,
    /// sha256 of the base's `manifest.json` (or of the inventory file).
    #[serde(with = "bare_hex")]
    pub sha256: Sha256Digest,
    /// The base bundle's hop, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hop: Option<Hop>,
}

/// What a delta base is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BaseKind {
    /// An earlier bundle (`airlock build --since`).
    Bundle,
    /// A signed inventory of an enclave (`airlock build --have`).
    Inventory,
}

/// A blob or file left out of a delta's payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Omitted {
    /// Its payload path (`blobs/sha256/..` or `files/sha256/..`).
    pub path: PayloadPath,
    /// Size in bytes.
    pub size: u64,
    /// Index into [`Delta::bases`] of the first base that carried it.
    pub base: usize,
}

/// The omitted record of `path` (`omitted` is sorted by path, as [`check`] requires).
pub(crate) fn find<'a>(omitted: &'a [Omitted], path: &PayloadPath) -> Option<&'a Omitted> {
    omitted
        .binary_search_by(|o| o.path.cmp(path))
        .ok()
        .map(|i| &omitted[i])
}

/// The delta's rules; `carried` says whether the payload holds a path.
pub(crate) fn check(delta: &Delta, carried: impl Fn(&PayloadPath) -> bool) -> Checked {
    if delta.bases.is_empty() {
        return Err(FormatError::DeltaWithoutBases);
    }
    for w in delta.omitted.windows(2) {
        if w[0].path >= w[1].path {
            return Err(FormatError::OmittedOrder { path: w[1].path });
        }
    }
    for o in &delta.omitted {
        if o.path.digest().is_none() {
            return Err(FormatError::OmittedNotAddressed { path: o.path });
        }
        if o.base >= delta.bases.len() {
            return Err(FormatError::OmittedBase {
                path: o.path,
                base: o.base,
                bases: delta.bases.len(),
            });
        }
        if carried(&o.path) {
            return Err(FormatError::OmittedAndCarried { path: o.path });
        }
    }
    Ok(())
}
