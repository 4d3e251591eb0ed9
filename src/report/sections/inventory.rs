//! Section 2, scope and inventory: every image and file the bundle carries, the
//! component versions before and after, and what is new against earlier bundles.

use std::collections::{BTreeMap, BTreeSet};

use crate::manifest::{BundleManifest, FileRecord, ImageRecord, Role};
use crate::report::{Change, FileLine, ImageLine, Inputs, Inventory, SinceDiff};

/// The inventory of `i`'s bundle (empty without a manifest).
pub(crate) fn build(i: &Inputs<'_>) -> Inventory {
    let Some(m) = i.manifest else {
        return Inventory {
            images: vec![],
            files: vec![],
            changes: vec![],
            since: None,
        };
    };
    Inventory {
        images: m.images.iter().map(image_line).collect(),
        files: m.files.iter().map(file_line).collect(),
        changes: changes(m),
        since: since(m, &i.since),
    }
}

/// One image; its bytes are its manifests', its blobs' and the served manifest's.
fn image_line(img: &ImageRecord) -> ImageLine {
    ImageLine {
        name: img.name.to_string(),
        role: img.role,
        digest: img.served.digest.to_string(),
        platforms: img.platforms.iter().map(|p| p.to_string()).collect(),
        bytes: img
            .manifests
            .iter()
            .chain(&img.blobs)
            .map(|c| c.size)
            .sum::<u64>()
            + img.served.size,
    }
}

fn file_line(f: &FileRecord) -> FileLine {
    FileLine {
        target: f.target.to_string(),
        kind: f.kind,
        sha256: f.sha256.hex(),
        size: f.size,
        source: f.source.clone(),
    }
}

/// Component versions: the target's images against the back-out set's, by repository;
/// binaries by the version directory of their target.
fn changes(m: &BundleManifest) -> Vec<Change> {
    let mut by_repo: BTreeMap<String, (Option<String>, Option<String>)> = BTreeMap::new();
    for img in &m.images {
        let tag = img
            .name
            .tag
            .clone()
            .unwrap_or_else(|| img.served.digest.to_string());
        let e = by_repo.entry(img.name.repository.clone()).or_default();
        match img.role {
            Some(Role::Backout) | Some(Role::CurrentEtcd) => e.0 = Some(tag),
            _ => e.1 = Some(tag),
        }
    }
    if let Some(h) = &m.hop {
        for (_, (from, to)) in by_repo.iter_mut() {
            // Carried by both versions (listed once, role target): unchanged.
            if from.is_none() && m.images.iter().any(|i| i.role == Some(Role::Backout)) {
                *from = to.clone();
            }
        }
        for name in ["kubeadm", "kubelet", "kubectl"] {
            by_repo.insert(name.to_string(), (Some(h.from.clone()), Some(h.to.clone())));
        }
    }
    by_repo
        .into_iter()
        .map(|(component, (from, to))| Change {
            component,
            from,
            to,
        })
        .collect()
}

/// `m` against the earlier bundles (`--since`): (manifest sha256, manifest) each.
fn since(m: &BundleManifest, earlier: &[(String, &BundleManifest)]) -> Option<SinceDiff> {
    if earlier.is_empty() {
        return None;
    }
    let before: BTreeSet<_> = earlier
        .iter()
        .flat_map(|(_, s)| s.entries.iter().map(|e| e.sha256))
        .collect();
    let new: Vec<_> = m
        .entries
        .iter()
        .filter(|e| !before.contains(&e.sha256))
        .collect();
    let old_served: BTreeMap<String, String> = earlier
        .iter()
        .flat_map(|(_, s)| {
            s.images
                .iter()
                .map(|img| (img.name.repository.clone(), img.served.digest.to_string()))
        })
        .collect();
    Some(SinceDiff {
        bundles: earlier.iter().map(|(d, _)| d.clone()).collect(),
        new_entries: new.len(),
        new_bytes: new.iter().map(|e| e.size).sum(),
        carried_before: m.entries.len() - new.len(),
        images_changed: m
            .images
            .iter()
            .filter(|img| {
                old_served
                    .get(&img.name.repository)
                    .is_some_and(|d| d != &img.served.digest.to_string())
            })
            .map(|img| img.name.to_string())
            .collect(),
    })
}
