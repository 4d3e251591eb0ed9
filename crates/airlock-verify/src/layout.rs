//! The bundle layout: the one place that knows the names of a bundle's files and of the
//! entries inside its payload.
//!
//! ```text
//! BUNDLE/
//!   manifest.json                 signed list of everything (format 1)
//!   signatures/<KEYID>.minisig    one minisign-format signature per signer
//!   SHA256SUMS                    for `sha256sum -c`: manifest.json and the payload
//!   payload.tar.zst               zstd-compressed tar: an OCI image layout plus files/
//! ```
//!
//! A new section (a report, an SBOM, a second payload volume) is a new [`Section`] and, if
//! it is checksummed, a line in [`sums_lines`]; readers and writers take names from here.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::digest::Sha256Digest;

/// File name of the signed manifest.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Directory of signature files.
pub const SIGNATURES_DIR: &str = "signatures";
/// Extension of a signature file (`<KEYID>.minisig`).
pub const SIGNATURE_EXT: &str = "minisig";
/// File name of the checksum list for `sha256sum -c`.
pub const SUMS_FILE: &str = "SHA256SUMS";
/// File name of the payload.
pub const PAYLOAD_FILE: &str = "payload.tar.zst";

/// The directory, below `--dest`, that holds package repository mirrors
/// (`packages/v1.30/deb/...`); `airlock-verify install --packages-dir` relocates it.
pub const PACKAGES_DIR: &str = "packages";

/// Largest `SHA256SUMS` read (a few lines).
pub const MAX_SUMS_BYTES: u64 = 64 * 1024;

/// The top-level parts of a bundle directory, in the order they are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// `payload.tar.zst`: written first, because the manifest records its digest.
    Payload,
    /// `manifest.json`: the signed description of everything else.
    Manifest,
    /// `SHA256SUMS`: the digests of the manifest and the payload.
    Sums,
    /// `signatures/`: one file per signer, added at build time or later.
    Signatures,
}

impl Section {
    /// Every section.
    pub const ALL: [Section; 4] = [
        Section::Payload,
        Section::Manifest,
        Section::Sums,
        Section::Signatures,
    ];

    /// Its name in the bundle directory.
    pub fn file_name(self) -> &'static str {
        match self {
            Section::Payload => PAYLOAD_FILE,
            Section::Manifest => MANIFEST_FILE,
            Section::Sums => SUMS_FILE,
            Section::Signatures => SIGNATURES_DIR,
        }
    }
}

/// The name of the signature file for a key id (as text, e.g. `A1B2...`).
pub fn signature_file(key_id: &str) -> String {
    format!("{key_id}.{SIGNATURE_EXT}")
}

/// The path of a signature file relative to the bundle, as shown to people.
pub fn signature_path(file_name: &str) -> String {
    format!("{SIGNATURES_DIR}/{file_name}")
}

/// The lines of `SHA256SUMS`: the manifest, then the payload, in `sha256sum`'s format.
pub fn sums_lines(manifest: &Sha256Digest, payload: &Sha256Digest) -> String {
    render_sums(&[(MANIFEST_FILE, manifest), (PAYLOAD_FILE, payload)])
}

/// `sha256sum` text for `(name, digest)` pairs, in the given order.
pub fn render_sums(items: &[(&str, &Sha256Digest)]) -> String {
    items
        .iter()
        .map(|(name, d)| format!("{}  {name}\n", d.hex()))
        .collect()
}

/// The tar header of a payload entry. Writers use it and readers compare every header
/// byte for byte against it: plain ustar, mode 0644, uid/gid 0, no user or group names,
/// mtime 0, a regular file.
pub fn tar_header(path: &PayloadPath, size: u64) -> std::io::Result<tar::Header> {
    let mut h = tar::Header::new_ustar();
    h.set_path(path.to_string())?;
    h.set_size(size);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_username("")?;
    h.set_groupname("")?;
    h.set_cksum();
    Ok(h)
}

/// A path inside the payload: the only shapes a payload entry may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PayloadPath {
    /// `oci-layout`: the OCI image layout marker.
    OciLayout,
    /// `index.json`: the OCI image layout's index of the images.
    OciIndex,
    /// `blobs/sha256/<hex>`: an image manifest, config or layer.
    Blob(Sha256Digest),
    /// `files/sha256/<hex>`: a file to install under `--dest`.
    File(Sha256Digest),
}

const BLOBS: &str = "blobs/sha256/";
const FILES: &str = "files/sha256/";

impl PayloadPath {
    /// Parse a payload path; `None` for anything that is not one of the allowed shapes.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "oci-layout" => Some(PayloadPath::OciLayout),
            "index.json" => Some(PayloadPath::OciIndex),
            _ => {
                if let Some(hex) = s.strip_prefix(BLOBS) {
                    Sha256Digest::from_hex(hex).ok().map(PayloadPath::Blob)
                } else if let Some(hex) = s.strip_prefix(FILES) {
                    Sha256Digest::from_hex(hex).ok().map(PayloadPath::File)
                } else {
                    None
                }
            }
        }
    }

    /// The digest a content-addressed path names.
    pub fn digest(&self) -> Option<Sha256Digest> {
        match self {
            PayloadPath::Blob(d) | PayloadPath::File(d) => Some(*d),
            _ => None,
        }
    }
}

impl fmt::Display for PayloadPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PayloadPath::OciLayout => f.write_str("oci-layout"),
            PayloadPath::OciIndex => f.write_str("index.json"),
            PayloadPath::Blob(d) => write!(f, "{BLOBS}{}", d.hex()),
            PayloadPath::File(d) => write!(f, "{FILES}{}", d.hex()),
        }
    }
}

impl Serialize for PayloadPath {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PayloadPath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        PayloadPath::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{} is not an allowed payload path (oci-layout, index.json, \
                 blobs/sha256/<hex>, files/sha256/<hex>)",
                crate::escape::Untrusted(&s)
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_paths_round_trip() {
        let d = Sha256Digest::of(b"x");
        for p in [
            PayloadPath::OciLayout,
            PayloadPath::OciIndex,
            PayloadPath::Blob(d),
            PayloadPath::File(d),
        ] {
            assert_eq!(PayloadPath::parse(&p.to_string()), Some(p));
        }
        for bad in [
            "",
            "blobs/sha256/",
            "blobs/sha512/00",
            "files/sha256/ABC",
            "../index.json",
            "index.json/",
            "blobs/sha256/../../x",
        ] {
            assert_eq!(PayloadPath::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn sums_are_sha256sum_format() {
        let m = Sha256Digest::of(b"m");
        let p = Sha256Digest::of(b"p");
        let text = sums_lines(&m, &p);
        assert_eq!(
            text,
            format!("{}  manifest.json\n{}  payload.tar.zst\n", m.hex(), p.hex())
        );
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics_and_round_trips(s in "\\PC{0,80}") {
            if let Some(p) = PayloadPath::parse(&s) {
                proptest::prop_assert_eq!(p.to_string(), s);
            }
        }
    }
}
