//! Inputs shared by this crate's tests and the fuzz targets (`fuzz/`): deterministic
//! bytes and payloads shaped like airlock's. Not built into the verifier.

use std::io::Write;

use crate::digest::Sha256Digest;
use crate::layout::{self, PAYLOAD_FILE, PayloadPath};
use crate::manifest::{BUNDLE_FORMAT, BundleManifest, Entry, ManifestKind, PayloadInfo};

/// Deterministic pseudo-random bytes (xorshift): incompressible, so zstd stores them as
/// raw blocks, like the gzip layers of real images.
pub fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A manifest with nothing in it, to fill.
pub fn empty_manifest() -> BundleManifest {
    BundleManifest {
        format: BUNDLE_FORMAT,
        kind: ManifestKind::AirlockBundle,
        hop: None,
        not_before: None,
        expires: None,
        channel: None,
        sequence: None,
        lock_sha256: Sha256Digest::of(b""),
        catalog: None,
        notes: vec![],
        payload: PayloadInfo {
            file: PAYLOAD_FILE.into(),
            size: 0,
            sha256: Sha256Digest::of(b""),
            tar_size: 1024,
            structure_sha256: None,
            volumes: vec![],
            parity: None,
        },
        entries: vec![],
        images: vec![],
        files: vec![],
        checklist: None,
        package_repositories: vec![],
        documents: vec![],
        delta: None,
        provenance: None,
        schedule: None,
    }
}

/// A payload of `entries` with canonical headers, each entry in its own zstd frame at
/// the given level (with its checksum, as airlock writes), and the manifest that
/// describes it, structure digest included.
pub fn payload(entries: &[(PayloadPath, Vec<u8>, i32)]) -> (Vec<u8>, BundleManifest) {
    let mut tar_bytes = Vec::new();
    let mut cuts = vec![0];
    {
        let mut b = tar::Builder::new(&mut tar_bytes);
        for (p, c, _) in entries {
            let h = layout::tar_header(p, c.len() as u64).expect("header");
            b.append(&h, &c[..]).expect("append");
            cuts.push(b.get_ref().len());
        }
        b.finish().expect("finish");
    }
    // The end-of-archive blocks go into the last frame.
    if let Some(last) = cuts.last_mut() {
        *last = tar_bytes.len();
    }
    let mut compressed = Vec::new();
    for (w, (_, _, level)) in cuts.windows(2).zip(entries) {
        let mut e = zstd::stream::write::Encoder::new(Vec::new(), *level).expect("encoder");
        e.include_checksum(true).expect("checksum");
        e.write_all(&tar_bytes[w[0]..w[1]]).expect("write");
        compressed.extend(e.finish().expect("finish"));
    }
    let mut m = empty_manifest();
    m.entries = entries
        .iter()
        .map(|(p, c, _)| Entry {
            path: *p,
            size: c.len() as u64,
            sha256: Sha256Digest::of(c),
            media_type: "application/octet-stream".into(),
        })
        .collect();
    m.payload.size = compressed.len() as u64;
    m.payload.sha256 = Sha256Digest::of(&compressed);
    m.payload.tar_size = tar_bytes.len() as u64;
    m.payload.structure_sha256 = Some(crate::structure::of(&compressed));
    (compressed, m)
}
