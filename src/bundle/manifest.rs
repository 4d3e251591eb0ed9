//! The bundle manifest: the signed list of everything in a bundle.
//!
//! It is written once, deterministically (fixed field order, sorted lists, no timestamps),
//! signed as exact bytes, and parsed only after a signature over those bytes has been
//! verified. The reader is strict: an unknown `format` or an unknown field is an error,
//! because a verifier that ignored a field it does not understand (say `expires`) would
//! be weaker than the signer intended.

use serde::{Deserialize, Serialize};

use crate::digest::{Sha256Digest, bare_hex};
use crate::error::{Error, Result};
use crate::fetch::{Carried, ServedAs};
use crate::image_ref::ImageRef;
use crate::lock::{Hop, Mode, Platform};
use crate::paths::SafeRelPath;

/// The manifest format this version writes and reads.
pub const BUNDLE_FORMAT: u32 = 1;
/// File name of the manifest inside a bundle directory.
pub const MANIFEST_FILE: &str = "manifest.json";
/// File name of the payload inside a bundle directory.
pub const PAYLOAD_FILE: &str = "payload.tar.zst";
/// File name of the checksum list inside a bundle directory.
pub const SUMS_FILE: &str = "SHA256SUMS";
/// Directory of signature files (`<key id>.minisig`) inside a bundle directory.
pub const SIGNATURES_DIR: &str = "signatures";
/// Largest manifest accepted.
pub const MAX_MANIFEST_JSON_BYTES: u64 = 64 * 1024 * 1024;

/// The signed description of a bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleManifest {
    /// Must be [`BUNDLE_FORMAT`].
    pub format: u32,
    /// Always `airlock-bundle`.
    pub kind: String,
    /// The hop, when the lock was for one.
    pub hop: Option<Hop>,
    /// sha256 of the lock file this bundle was built from.
    #[serde(with = "bare_hex")]
    pub lock_sha256: Sha256Digest,
    /// Notes carried from the lock.
    pub notes: Vec<String>,
    /// The compressed payload file.
    pub payload: PayloadInfo,
    /// Every payload entry, in payload order.
    pub entries: Vec<Entry>,
    /// The images, sorted by name.
    pub images: Vec<ImageRecord>,
    /// The files, sorted by target.
    pub files: Vec<FileRecord>,
    /// The upgrade checklist from the lock, if any.
    pub checklist: Option<serde_json::Value>,
}

/// The payload file's identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayloadInfo {
    /// File name in the bundle directory (always [`PAYLOAD_FILE`] in format 1).
    pub file: String,
    /// Compressed size in bytes.
    pub size: u64,
    /// sha256 of the compressed file.
    #[serde(with = "bare_hex")]
    pub sha256: Sha256Digest,
    /// Size of the tar stream inside, in bytes.
    pub tar_size: u64,
}

/// One payload entry (a regular file in the tar stream).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Path inside the payload.
    pub path: SafeRelPath,
    /// Size in bytes.
    pub size: u64,
    /// sha256 of the content.
    #[serde(with = "bare_hex")]
    pub sha256: Sha256Digest,
    /// Media type (OCI media type for image content; a file kind otherwise).
    pub media_type: String,
}

/// One image and how the enclave will serve it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageRecord {
    /// Canonical upstream reference.
    pub name: ImageRef,
    /// Why it is in the hop.
    pub role: Option<String>,
    /// Platforms carried.
    pub platforms: Vec<Platform>,
    /// The upstream manifest or index the lock pinned.
    pub source: Carried,
    /// How the enclave serves it (see `docs/bundle-format.md`).
    pub served_as: ServedAs,
    /// The manifest or index the enclave's tag will point to.
    pub served: Carried,
    /// Platform manifests carried.
    pub manifests: Vec<Carried>,
    /// Configs and layers.
    pub blobs: Vec<Carried>,
}

/// One file to install under `--dest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRecord {
    /// Short label.
    pub name: String,
    /// Where it goes below `--dest`.
    pub target: SafeRelPath,
    /// Permission bits.
    pub mode: Mode,
    /// sha256 of the content (the payload entry is `files/sha256/<this>`).
    #[serde(with = "bare_hex")]
    pub sha256: Sha256Digest,
    /// Size in bytes.
    pub size: u64,
    /// Where it came from (URL or local file name), for the report.
    pub source: String,
    /// What it is.
    pub kind: Option<String>,
}

/// Payload path for an image blob (manifests, configs, layers).
pub fn blob_path(d: &Sha256Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

/// Payload path for a file.
pub fn file_path(d: &Sha256Digest) -> String {
    format!("files/sha256/{}", d.hex())
}

impl BundleManifest {
    /// Deterministic JSON bytes (pretty-printed so a change board can read and diff it).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("manifest serializes");
        v.push(b'\n');
        v
    }

    /// Parse bytes whose signature has already been verified, and check their consistency.
    pub fn parse_verified(bytes: &[u8]) -> Result<Self> {
        #[derive(Deserialize)]
        struct Probe {
            format: Option<serde_json::Value>,
        }
        let bad = |r: String| Error::verification(MANIFEST_FILE, r);
        let probe: Probe =
            serde_json::from_slice(bytes).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        match probe.format {
            Some(serde_json::Value::Number(n)) if n.as_u64() == Some(BUNDLE_FORMAT as u64) => {}
            other => {
                return Err(bad(format!(
                    "format {:?} is not supported (this airlock-verify reads format {BUNDLE_FORMAT}); \
                     use an airlock-verify at least as new as the airlock that built the bundle",
                    other
                )));
            }
        }
        let m: BundleManifest = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        m.validate()?;
        Ok(m)
    }

    /// Internal consistency: entry names are the allowed shapes and match their hashes,
    /// entries are sorted-unique in payload order, images and files only name entries that
    /// exist.
    pub fn validate(&self) -> Result<()> {
        let bad = |r: String| Error::verification(MANIFEST_FILE, r);
        if self.kind != "airlock-bundle" {
            return Err(bad(format!("kind {:?} is not airlock-bundle", self.kind)));
        }
        if self.payload.file != PAYLOAD_FILE {
            return Err(bad(format!(
                "payload file {:?} is not {PAYLOAD_FILE}",
                self.payload.file
            )));
        }
        let mut seen = std::collections::BTreeSet::new();
        for e in &self.entries {
            let p = e.path.as_str();
            let ok = match p {
                "oci-layout" | "index.json" => true,
                _ => {
                    let hex = p
                        .strip_prefix("blobs/sha256/")
                        .or_else(|| p.strip_prefix("files/sha256/"));
                    match hex {
                        Some(h) => {
                            if Sha256Digest::from_hex(h).ok() != Some(e.sha256) {
                                return Err(bad(format!(
                                    "entry {p}: name does not match its sha256"
                                )));
                            }
                            true
                        }
                        None => false,
                    }
                }
            };
            if !ok {
                return Err(bad(format!("entry {p}: not an allowed payload path")));
            }
            if !seen.insert(p) {
                return Err(bad(format!("entry {p} is listed twice")));
            }
        }
        let has = |path: &str| seen.contains(path);
        for img in &self.images {
            for c in img
                .manifests
                .iter()
                .chain(img.blobs.iter())
                .chain([&img.served, &img.source])
            {
                if !has(&blob_path(&c.digest)) {
                    return Err(bad(format!(
                        "image {} needs {} which is not in the payload",
                        img.name, c.digest
                    )));
                }
            }
        }
        for f in &self.files {
            if !has(&file_path(&f.sha256)) {
                return Err(bad(format!("file {} has no payload entry", f.target)));
            }
        }
        Ok(())
    }

    /// The entry for a payload path.
    pub fn entry(&self, path: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.path.as_str() == path)
    }
}
