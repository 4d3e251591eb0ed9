//! What goes into the payload, and in which order: every blob and file once, keyed by
//! payload path, then ordered so the stream compresses well and reads back the same on
//! any machine.
//!
//! The order is fixed before any content is read: the layout files, content that
//! compresses, then already-compressed content, each sorted by path, where "already
//! compressed" is what the media type or file name says ([`Class::expected`]). A cold
//! build can therefore fetch in payload order and pack while it fetches. The content's
//! first bytes still decide the zstd frame each entry goes in ([`Class::of_head`]), so a
//! media type that lies costs compression, never correctness.

use std::collections::{BTreeMap, HashMap};

use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::layout::PayloadPath;
use crate::lock::{Lock, LockedFile};
use crate::manifest::{FileKind, FileRecord};
use crate::upstream_fetch::ImagePlan;
use crate::upstream_store::Store;

/// Whether content still compresses. Already-compressed content (gzip layers, packages,
/// chart archives) goes after the rest, stored in zstd frames of raw blocks, so it is not
/// squeezed again for nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    /// Compresses: JSON, tar layers, binaries.
    Compresses,
    /// Already compressed.
    Compressed,
}

impl Class {
    /// What an entry is expected to be before its bytes are read, from its media type
    /// (`...tar+gzip`, `...tar.gzip`, `...+zstd`) or, for a file, its kind and name. This
    /// decides the payload order.
    pub fn expected(media_type: &str, file: Option<&LockedFile>) -> Class {
        const SUFFIXES: [&str; 10] = [
            ".gz", ".tgz", ".zst", ".xz", ".bz2", ".zip", ".deb", ".rpm", ".gzip", ".zstd",
        ];
        let compressed = match file {
            Some(f) => {
                let name = f.target.as_str().to_ascii_lowercase();
                f.kind == Some(FileKind::Package) || SUFFIXES.iter().any(|s| name.ends_with(s))
            }
            None => ["gzip", "zstd", "+xz", ".xz"]
                .iter()
                .any(|s| media_type.ends_with(s)),
        };
        if compressed {
            Class::Compressed
        } else {
            Class::Compresses
        }
    }

    /// What the content's first bytes say: the magic numbers of compressed formats. This
    /// decides the zstd frame an entry goes in.
    pub fn of_head(head: &[u8]) -> Class {
        if looks_compressed(head) {
            Class::Compressed
        } else {
            Class::Compresses
        }
    }
}

/// Bytes [`Class::of_head`] looks at.
pub const HEAD_BYTES: usize = 8;

/// One entry to write.
pub struct PendingEntry {
    /// Its payload path.
    pub path: PayloadPath,
    /// Size in bytes.
    pub size: u64,
    /// sha256 of the content.
    pub sha256: Sha256Digest,
    /// Media type for the manifest.
    pub media_type: String,
    /// What it is expected to be (its place in the order).
    pub class: Class,
    /// Where the bytes come from.
    pub source: Source,
}

/// Where an entry goes in the payload: the layout files first (`oci-layout` before
/// `index.json`), then by class, then by path.
fn order_key(inline: bool, path: &PayloadPath, class: Class) -> (bool, bool, Class, PayloadPath) {
    (!inline, *path != PayloadPath::OciLayout, class, *path)
}

/// Where an entry's bytes come from.
pub enum Source {
    /// The content store, by sha256.
    Store,
    /// Bytes airlock wrote itself (the OCI layout files).
    Inline(Vec<u8>),
}

/// The entries of a bundle, collected once each.
#[derive(Default)]
pub struct Collected {
    pending: BTreeMap<PayloadPath, PendingEntry>,
    /// The file records, sorted by target.
    pub files: Vec<FileRecord>,
}

impl Collected {
    fn add(&mut self, e: PendingEntry) -> Result<()> {
        if let Some(prev) = self.pending.get(&e.path) {
            if prev.size != e.size {
                return Err(Error::invalid(
                    "lock file",
                    "images",
                    format!(
                        "{} is named with two sizes ({} and {})",
                        e.sha256, prev.size, e.size
                    ),
                ));
            }
            return Ok(());
        }
        self.pending.insert(e.path, e);
        Ok(())
    }

    /// Remove the stored entries `carried` picks (a delta's base already carried them)
    /// and return them, in path order.
    pub fn leave_out(
        &mut self,
        mut carried: impl FnMut(&PendingEntry) -> bool,
    ) -> Vec<PendingEntry> {
        let paths: Vec<PayloadPath> = self
            .pending
            .values()
            .filter(|e| matches!(e.source, Source::Store) && carried(e))
            .map(|e| e.path)
            .collect();
        paths
            .iter()
            .filter_map(|p| self.pending.remove(p))
            .collect()
    }

    /// The entries in payload order (`order_key`).
    pub fn into_order(self) -> Vec<PendingEntry> {
        let mut all: Vec<PendingEntry> = self.pending.into_values().collect();
        all.sort_by_key(|e| order_key(matches!(e.source, Source::Inline(_)), &e.path, e.class));
        all
    }
}

/// The content of the bundle for `lock`, by sha256, in payload order: what a cold build
/// fetches first so that packing, which follows this order, seldom waits. Knows no sizes,
/// so it can run before anything is downloaded.
pub fn fetch_order(lock: &Lock, plans: &[ImagePlan]) -> Vec<Sha256Digest> {
    let mut keyed: HashMap<Sha256Digest, (bool, bool, Class, PayloadPath)> = HashMap::new();
    for p in plans {
        for item in carried(p) {
            let path = PayloadPath::Blob(item.digest);
            let key = order_key(false, &path, Class::expected(&item.media_type, None));
            keyed.entry(item.digest).or_insert(key);
        }
    }
    for f in &lock.files {
        let path = PayloadPath::File(f.sha256);
        let key = order_key(false, &path, Class::expected("", Some(f)));
        keyed.entry(f.sha256).or_insert(key);
    }
    let mut order: Vec<_> = keyed.into_iter().collect();
    order.sort_by_key(|(_, key)| *key);
    order.into_iter().map(|(d, _)| d).collect()
}

/// What an image puts in the payload: the upstream manifest or index, what the enclave
/// serves, the platform manifests, the configs and layers (with repeats).
fn carried(p: &ImagePlan) -> impl Iterator<Item = &crate::manifest::Carried> {
    [&p.source, &p.served]
        .into_iter()
        .chain(p.manifests.iter())
        .chain(p.blobs.iter())
}

/// Every entry of the bundle for `lock`: the OCI layout files, every image's manifests
/// and blobs, and every file. A file whose size the lock does not give is looked up in
/// the store, after waiting for it if a fetch is bringing it.
pub fn collect(lock: &Lock, sorted: &[&ImagePlan], store: &Store) -> Result<Collected> {
    let mut c = Collected::default();
    let layout = br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec();
    c.add(inline(
        PayloadPath::OciLayout,
        layout,
        "application/vnd.oci.layout.header.v1+json",
    ))?;
    c.add(inline(
        PayloadPath::OciIndex,
        layout_index(sorted),
        crate::oci::OCI_INDEX,
    ))?;
    for p in sorted {
        for item in carried(p) {
            c.add(PendingEntry {
                path: PayloadPath::Blob(item.digest),
                size: item.size,
                sha256: item.digest,
                media_type: item.media_type.clone(),
                class: Class::expected(&item.media_type, None),
                source: Source::Store,
            })?;
        }
    }
    for f in &lock.files {
        let size = match f.size {
            // The store holds exactly this many bytes: it refuses any other length.
            Some(size) => size,
            None => {
                store.wait_for(&f.sha256)?;
                let path = store.path(&f.sha256);
                std::fs::metadata(&path)
                    .map_err(|e| Error::io("inspect cache entry", &path, e))?
                    .len()
            }
        };
        let kind = f.kind.unwrap_or(FileKind::File);
        c.add(PendingEntry {
            path: PayloadPath::File(f.sha256),
            size,
            sha256: f.sha256,
            media_type: kind.media_type(),
            class: Class::expected("", Some(f)),
            source: Source::Store,
        })?;
        c.files.push(FileRecord {
            name: f.name.clone(),
            target: f.target.clone(),
            mode: f.mode,
            sha256: f.sha256,
            size,
            source: f.source.describe(),
            kind: f.kind,
        });
    }
    c.files.sort_by(|a, b| a.target.cmp(&b.target));
    Ok(c)
}

fn inline(path: PayloadPath, bytes: Vec<u8>, media_type: &str) -> PendingEntry {
    PendingEntry {
        path,
        size: bytes.len() as u64,
        sha256: Sha256Digest::of(&bytes),
        media_type: media_type.to_string(),
        class: Class::Compresses,
        source: Source::Inline(bytes),
    }
}

/// The OCI image layout `index.json`: one entry per image, pointing at what the enclave
/// serves, named by the canonical reference so `skopeo copy oci:DIR:NAME` finds it.
fn layout_index(plans: &[&ImagePlan]) -> Vec<u8> {
    let manifests: Vec<serde_json::Value> = plans
        .iter()
        .map(|p| {
            let mut ann = serde_json::Map::new();
            ann.insert("io.airlock.image".into(), p.locked.name.to_string().into());
            if p.locked.name.tag.is_some() {
                let mut named = p.locked.name.clone();
                named.digest = None;
                ann.insert(
                    "org.opencontainers.image.ref.name".into(),
                    named.to_string().into(),
                );
            }
            serde_json::json!({
                "mediaType": p.served.media_type,
                "digest": p.served.digest.to_string(),
                "size": p.served.size,
                "annotations": ann,
            })
        })
        .collect();
    let v = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": crate::oci::OCI_INDEX,
        "manifests": manifests,
    });
    // A `Value` of strings and numbers always serializes.
    serde_json::to_vec(&v).unwrap_or_default()
}

/// True if the content starts with the magic bytes of a compressed format.
fn looks_compressed(head: &[u8]) -> bool {
    head.starts_with(&[0x1f, 0x8b]) // gzip
        || head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) // zstd
        || head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) // xz
        || head.starts_with(b"BZh") // bzip2
        || head.starts_with(b"PK\x03\x04") // zip
        || head.starts_with(b"!<arch>\n") // .deb (ar of compressed tars)
        || head.starts_with(&[0xed, 0xab, 0xee, 0xdb]) // .rpm (compressed payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expected_class_follows_media_types_and_file_names() {
        for (mt, class) in [
            (
                "application/vnd.oci.image.layer.v1.tar+gzip",
                Class::Compressed,
            ),
            (
                "application/vnd.docker.image.rootfs.diff.tar.gzip",
                Class::Compressed,
            ),
            (
                "application/vnd.oci.image.layer.v1.tar+zstd",
                Class::Compressed,
            ),
            (
                "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
                Class::Compressed,
            ),
            ("application/vnd.oci.image.layer.v1.tar", Class::Compresses),
            (
                "application/vnd.oci.image.config.v1+json",
                Class::Compresses,
            ),
            (
                "application/vnd.oci.image.manifest.v1+json",
                Class::Compresses,
            ),
        ] {
            assert_eq!(Class::expected(mt, None), class, "{mt}");
        }
        let file = |target: &str, kind| LockedFile {
            name: "f".into(),
            source: crate::lock::FileSource::Path("f".into()),
            sha256: Sha256Digest::of(b"f"),
            size: None,
            target: crate::paths::SafeRelPath::new(target).unwrap(),
            mode: crate::manifest::Mode(0o644),
            kind,
        };
        for (f, class) in [
            (
                file("bin/kubeadm", Some(FileKind::Binary)),
                Class::Compresses,
            ),
            (
                file("tools/crictl.tar.gz", Some(FileKind::Tool)),
                Class::Compressed,
            ),
            (file("charts/cilium-1.18.0.TGZ", None), Class::Compressed),
            (
                file("pkgs/kubeadm", Some(FileKind::Package)),
                Class::Compressed,
            ),
            (
                file("manifests/calico.yaml", Some(FileKind::Manifest)),
                Class::Compresses,
            ),
        ] {
            assert_eq!(
                Class::expected("", Some(&f)),
                class,
                "{}",
                f.target.as_str()
            );
        }
    }

    #[test]
    fn compressed_formats_are_known_by_their_first_bytes() {
        assert_eq!(Class::of_head(&[0x1f, 0x8b, 8, 0]), Class::Compressed);
        assert_eq!(Class::of_head(&[0x28, 0xb5, 0x2f, 0xfd]), Class::Compressed);
        assert_eq!(Class::of_head(b"!<arch>\ndebian"), Class::Compressed);
        assert_eq!(Class::of_head(b"{\"a\":1}"), Class::Compresses);
        assert_eq!(Class::of_head(&[0x1f]), Class::Compresses);
        assert_eq!(Class::of_head(&[]), Class::Compresses);
    }
}
