//! One-way deltas: leave out of a bundle every blob and file that earlier bundles,
//! already delivered, carried (`airlock build --since`), or that a signed enclave
//! inventory says the enclave holds (`airlock build --have`).
//!
//! Image manifests are always carried (they are small, and install pushes them from the
//! payload); configs, layers and files are left out. The manifest records the bases by
//! the sha256 of their `manifest.json` (or of the inventory) and every omitted path with
//! its size and the base that carried it, so install can check the enclave holds each
//! one and name the bases it lacks.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::entries::Collected;
use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::layout::{MANIFEST_FILE, PayloadPath};
use crate::manifest::{
    BaseKind, BundleManifest, Delta, DeltaBase, MAX_MANIFEST_JSON_BYTES, Omitted,
};

/// What the bases carried.
#[derive(Debug, Clone, Default)]
pub struct DeltaPlan {
    /// The bases, in the order given.
    pub bases: Vec<DeltaBase>,
    /// Content-addressed paths a base carried (or the enclave holds), with the first
    /// base's index.
    pub carried: BTreeMap<PayloadPath, usize>,
}

impl DeltaPlan {
    /// Add an earlier bundle: its directory or its `manifest.json`. Everything it carried
    /// counts, and what it left out itself (its bases carried that).
    pub fn add_bundle(&mut self, path: &Path) -> Result<()> {
        let file: PathBuf = if path.is_dir() {
            path.join(MANIFEST_FILE)
        } else {
            path.to_path_buf()
        };
        let bytes =
            crate::fsutil::read_limited(&file, MAX_MANIFEST_JSON_BYTES, "base bundle manifest")?;
        let m = BundleManifest::parse_verified(&bytes)
            .map_err(|e| Error::invalid("base bundle", file.display(), crate::error::chain(&e)))?;
        let idx = self.bases.len();
        self.bases.push(DeltaBase {
            kind: BaseKind::Bundle,
            sha256: Sha256Digest::of(&bytes),
            hop: m.hop.clone(),
        });
        let omitted = m
            .delta
            .iter()
            .flat_map(|d| d.omitted.iter().map(|o| o.path));
        for p in m.entries.iter().map(|e| e.path).chain(omitted) {
            if p.digest().is_some() {
                self.carried.entry(p).or_insert(idx);
            }
        }
        Ok(())
    }

    /// Add what a verified enclave inventory lists.
    pub fn add_inventory(
        &mut self,
        sha256: Sha256Digest,
        paths: impl IntoIterator<Item = PayloadPath>,
    ) {
        let idx = self.bases.len();
        self.bases.push(DeltaBase {
            kind: BaseKind::Inventory,
            sha256,
            hop: None,
        });
        for p in paths {
            self.carried.entry(p).or_insert(idx);
        }
    }

    /// Leave out of `c` what the bases carried (manifests stay) and say what was left
    /// out.
    pub fn apply(&self, c: &mut Collected) -> Delta {
        let left = c.leave_out(|e| {
            !crate::oci::is_manifest_type(&e.media_type) && self.carried.contains_key(&e.path)
        });
        let omitted = left
            .into_iter()
            .filter_map(|e| {
                self.carried.get(&e.path).map(|&base| Omitted {
                    path: e.path,
                    size: e.size,
                    base,
                })
            })
            .collect();
        Delta {
            bases: self.bases.clone(),
            omitted,
        }
    }
}
