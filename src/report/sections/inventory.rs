//! Section 2, scope and inventory: every image and file the bundle carries, the
//! component versions before and after, and what is new against earlier bundles.

use std::collections::{BTreeMap, BTreeSet};

use crate::manifest::{BundleManifest, FileRecord, ImageRecord, Role};
use crate::report::{Change, FileLine, ImageLine, Inputs, Inventory, PlatformManifest, SinceDiff};

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
        served_as: img.served_as,
        upstream_digest: img.source.digest.to_string(),
        platforms: img.platforms.iter().map(|p| p.to_string()).collect(),
        platform_manifests: img
            .manifests
            .iter()
            .map(|c| PlatformManifest {
                platform: c.platform.as_ref().map(|p| p.to_string()),
                digest: c.digest.to_string(),
            })
            .collect(),
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

#[cfg(test)]
mod tests {
    use super::super::fixture;
    use super::*;
    use crate::digest::Sha256Digest;

    fn inventory(m: &BundleManifest, since: &[(String, &BundleManifest)]) -> Inventory {
        build(&Inputs {
            manifest: Some(m),
            since: since.to_vec(),
            ..Default::default()
        })
    }

    #[test]
    fn lists_every_image_and_file_with_its_bytes() {
        let m = fixture::manifest();
        let inv = inventory(&m, &[]);
        let api = &inv.images[4];
        assert_eq!(api.name, "registry.k8s.io/kube-apiserver:v1.30.2");
        assert_eq!(api.role, Some(Role::Target));
        assert_eq!(api.digest, fixture::digest('b'));
        assert_eq!(api.platforms, ["linux/amd64"]);
        // The upstream index is served unchanged; its platform manifest keeps its digest.
        assert_eq!(api.served_as, crate::manifest::ServedAs::Index);
        assert_eq!(api.upstream_digest, fixture::digest('b'));
        assert_eq!(api.platform_manifests.len(), 1);
        assert_eq!(api.platform_manifests[0].digest, fixture::digest('8'));
        // Manifest 10, config 1, layer 90, served index 100.
        assert_eq!(api.bytes, 201);
        let f = &inv.files[0];
        assert_eq!(f.target, "bin/v1.30.2/linux/amd64/kubeadm");
        assert_eq!((f.size, f.sha256.as_str()), (1000, "4".repeat(64).as_str()));
        assert!(f.source.starts_with("https://dl.k8s.io/"));
        assert!(inv.since.is_none());
    }

    #[test]
    fn changes_pair_the_back_out_set_with_the_target_and_add_the_binaries() {
        let m = fixture::manifest();
        let changes: Vec<(String, Option<String>, Option<String>)> = inventory(&m, &[])
            .changes
            .into_iter()
            .map(|c| (c.component, c.from, c.to))
            .collect();
        let v = |s: &str| Some(s.to_string());
        assert_eq!(
            changes,
            [
                // Listed once, role target, with a back-out set: carried by both.
                ("coredns/coredns".into(), v("v1.11.1"), v("v1.11.1")),
                ("etcd".into(), v("3.5.10-0"), v("3.5.12-0")),
                ("kube-apiserver".into(), v("v1.29.6"), v("v1.30.2")),
                ("kubeadm".into(), v("v1.29.6"), v("v1.30.2")),
                ("kubectl".into(), v("v1.29.6"), v("v1.30.2")),
                ("kubelet".into(), v("v1.29.6"), v("v1.30.2")),
            ]
        );
    }

    #[test]
    fn since_counts_what_earlier_bundles_did_not_carry() {
        let m = fixture::manifest();
        let mut earlier = fixture::manifest();
        earlier.entries.remove(1); // the 4000-byte layer
        // CoreDNS served under another digest before; the other repositories are new.
        earlier.images.truncate(1);
        earlier.images[0].served.digest =
            Sha256Digest::parse(&fixture::digest('9')).expect("digest");
        let inv = inventory(&m, &[("e".repeat(64), &earlier)]);
        let s = inv.since.expect("compared");
        assert_eq!(s.bundles, ["e".repeat(64)]);
        assert_eq!((s.new_entries, s.new_bytes, s.carried_before), (1, 4000, 3));
        assert_eq!(
            s.images_changed,
            ["registry.k8s.io/coredns/coredns:v1.11.1"]
        );
    }

    #[test]
    fn a_subset_index_keeps_the_upstream_index_digest_beside_the_served_one() {
        let mut m = fixture::manifest();
        m.images[4].served_as = crate::manifest::ServedAs::SubsetIndex;
        m.images[4].served.digest = Sha256Digest::parse(&fixture::digest('9')).expect("digest");
        let line = &inventory(&m, &[]).images[4];
        assert_eq!(line.digest, fixture::digest('9'));
        assert_eq!(line.upstream_digest, fixture::digest('b'));
        assert_eq!(line.served_as, crate::manifest::ServedAs::SubsetIndex);
    }

    #[test]
    fn without_a_manifest_is_empty() {
        let inv = build(&Inputs::default());
        assert!(inv.images.is_empty() && inv.files.is_empty() && inv.changes.is_empty());
    }
}
