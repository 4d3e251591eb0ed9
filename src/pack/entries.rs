//! What goes into the payload, and in which order: every blob and file once, keyed by
//! payload path, then grouped so the stream compresses well and reads back the same on
//! any machine.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;

use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::fetch::ImagePlan;
use crate::layout::PayloadPath;
use crate::lock::Lock;
use crate::manifest::{FileKind, FileRecord};
use crate::store::Store;

/// zstd level used for already-compressed content (`--fast=1`): its own frames, so
/// gzip layers are not squeezed again for nothing.
pub const PRECOMPRESSED_LEVEL: i32 = -1;

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
    /// Where the bytes come from.
    pub source: Source,
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

    /// Groups in payload order, each with the zstd level that starts its frame (`None`:
    /// continue the current frame): the layout files, compressible content sorted by path,
    /// then already-compressed content sorted by path in a fast frame.
    pub fn into_groups(
        self,
        store: &Store,
        level: i32,
    ) -> Result<Vec<(Option<i32>, Vec<PendingEntry>)>> {
        let mut first = Vec::new();
        let mut compressible = Vec::new();
        let mut precompressed = Vec::new();
        for (_, e) in self.pending {
            match e.source {
                Source::Inline(_) => first.push(e),
                Source::Store if sniff(store, &e.sha256)? => precompressed.push(e),
                Source::Store => compressible.push(e),
            }
        }
        // "oci-layout" before "index.json".
        first.sort_by_key(|e| e.path != PayloadPath::OciLayout);
        Ok(vec![
            (None, first),
            (None, compressible),
            (Some(PRECOMPRESSED_LEVEL.min(level)), precompressed),
        ])
    }
}

/// Every entry of the bundle for `lock`: the OCI layout files, every image's manifests
/// and blobs, and every file.
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
        let items = [&p.source, &p.served]
            .into_iter()
            .chain(p.manifests.iter())
            .chain(p.blobs.iter());
        for item in items {
            c.add(PendingEntry {
                path: PayloadPath::Blob(item.digest),
                size: item.size,
                sha256: item.digest,
                media_type: item.media_type.clone(),
                source: Source::Store,
            })?;
        }
    }
    for f in &lock.files {
        let path = store.path(&f.sha256);
        let size = std::fs::metadata(&path)
            .map_err(|e| Error::io("inspect cache entry", &path, e))?
            .len();
        let kind = f.kind.unwrap_or(FileKind::File);
        c.add(PendingEntry {
            path: PayloadPath::File(f.sha256),
            size,
            sha256: f.sha256,
            media_type: kind.media_type(),
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

fn sniff(store: &Store, d: &Sha256Digest) -> Result<bool> {
    let path = store.path(d);
    let mut f = File::open(&path).map_err(|e| Error::io("open cache entry", &path, e))?;
    let mut head = [0u8; 8];
    let mut n = 0;
    while n < head.len() {
        let k = f
            .read(&mut head[n..])
            .map_err(|e| Error::io("read", &path, e))?;
        if k == 0 {
            break;
        }
        n += k;
    }
    Ok(looks_compressed(&head[..n]))
}
