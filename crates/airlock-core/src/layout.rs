//! The bundle layout: the one place that knows the names of a bundle's files and of the
//! entries inside its payload.
//!
//! ```text
//! BUNDLE/
//!   manifest.json                 signed list of everything (format 1)
//!   signatures/<KEYID>.minisig    one minisign-format signature per signer
//!   SHA256SUMS                    for `sha256sum -c`: manifest.json and the payload
//!   payload.tar.zst               zstd-compressed tar: an OCI image layout plus files/
//!   provenance/                   upstream Sigstore evidence, when resolve checked it
//! ```
//!
//! A bundle built with `--volume-size` has no `payload.tar.zst`: the same stream is cut
//! into `payload.tar.zst.001`, `payload.tar.zst.002`, ... (`cat` them in order), with
//! `--parity N` N recovery volumes `payload.parity.001`, ... beside them, and with
//! `--volume-dirs` each volume in its own `volume-NNN/` directory with a README.
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
/// The extension of a signature's RFC 3161 timestamp (`signatures/<KEYID>.tsr`, issue 24).
pub const TIMESTAMP_EXT: &str = "tsr";
/// File name of the checksum list for `sha256sum -c`.
pub const SUMS_FILE: &str = "SHA256SUMS";
/// File name of the payload.
pub const PAYLOAD_FILE: &str = "payload.tar.zst";

/// Most data volumes a payload may be cut into (and most parity volumes).
pub const MAX_VOLUMES: u32 = 9999;
/// Largest parity stripe (the memory a repair needs is stripe x volumes).
pub const MAX_PARITY_STRIPE: u64 = 16 * 1024 * 1024;
/// Prefix of a parity volume's name (`payload.parity.001`): not `payload.tar.zst.*`, so
/// `cat payload.tar.zst.*` never picks one up.
pub const PARITY_PREFIX: &str = "payload.parity";
/// Prefix of a volume directory (`volume-001/`, with `--volume-dirs`).
pub const VOLUME_DIR_PREFIX: &str = "volume-";
/// The file in each volume directory that explains the disc it is on.
pub const VOLUME_README: &str = "README.txt";

/// A payload volume: data volumes make the payload stream in order, parity volumes
/// rebuild lost ones. Numbers start at 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum VolumeName {
    /// `payload.tar.zst.NNN`.
    Data(u32),
    /// `payload.parity.NNN`.
    Parity(u32),
}

impl VolumeName {
    /// Parse a volume file name: a number of at least three digits (no more leading
    /// zeros than three digits need), 1 to [`MAX_VOLUMES`].
    pub fn parse(s: &str) -> Option<Self> {
        let (kind, num): (fn(u32) -> VolumeName, &str) = if let Some(n) = s
            .strip_prefix(PAYLOAD_FILE)
            .and_then(|r| r.strip_prefix('.'))
        {
            (VolumeName::Data, n)
        } else if let Some(n) = s
            .strip_prefix(PARITY_PREFIX)
            .and_then(|r| r.strip_prefix('.'))
        {
            (VolumeName::Parity, n)
        } else {
            return None;
        };
        let n = parse_volume_number(num)?;
        Some(kind(n))
    }

    /// The number (1-based).
    pub fn number(self) -> u32 {
        match self {
            VolumeName::Data(n) | VolumeName::Parity(n) => n,
        }
    }

    /// The directory `--volume-dirs` puts it in: data volume N in `volume-N`, parity
    /// volume P after the data volumes (`volume-(data+P)`).
    pub fn dir(self, data_volumes: u32) -> String {
        let n = match self {
            VolumeName::Data(n) => n,
            VolumeName::Parity(p) => data_volumes.saturating_add(p),
        };
        format!("{VOLUME_DIR_PREFIX}{n:03}")
    }
}

impl Serialize for VolumeName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for VolumeName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        VolumeName::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{} is not a volume name (payload.tar.zst.NNN, payload.parity.NNN)",
                crate::escape::Untrusted(&s)
            ))
        })
    }
}

/// `001`..`9999`: digits only, at least three, and no leading zero beyond the padding.
fn parse_volume_number(s: &str) -> Option<u32> {
    if s.len() < 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u32 = s.parse().ok()?;
    ((1..=MAX_VOLUMES).contains(&n) && format!("{n:03}") == s).then_some(n)
}

impl fmt::Display for VolumeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VolumeName::Data(n) => write!(f, "{PAYLOAD_FILE}.{n:03}"),
            VolumeName::Parity(n) => write!(f, "{PARITY_PREFIX}.{n:03}"),
        }
    }
}

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

/// The lines of `SHA256SUMS`: the manifest, the payload (or its volumes, by their paths
/// relative to the bundle), the signed documents, then the carried provenance evidence,
/// in `sha256sum`'s format.
pub fn sums_lines(
    manifest: &Sha256Digest,
    payload: &[(String, Sha256Digest)],
    documents: &[(DocPath, Sha256Digest)],
    evidence: &[(String, Sha256Digest)],
) -> String {
    let mut items: Vec<(&str, &Sha256Digest)> = vec![(MANIFEST_FILE, manifest)];
    items.extend(payload.iter().map(|(p, d)| (p.as_str(), d)));
    items.extend(documents.iter().map(|(p, d)| (p.file_name(), d)));
    items.extend(evidence.iter().map(|(p, d)| (p.as_str(), d)));
    render_sums(&items)
}

/// The directory of the signed documents (the change report and the SBOM).
pub const REPORT_DIR: &str = "report";

/// The directory of the carried verifier (`airlock build --with-verifier`).
pub const VERIFIER_DIR: &str = "verifier";

/// The directory of the carried upstream evidence (issue 23): the Sigstore trusted root
/// resolve checked against, each Sigstore bundle document and each simple-signing payload,
/// named by their sha256 so two artifacts never collide and a name says what it holds.
pub const PROVENANCE_DIR: &str = "provenance";
/// The Sigstore trusted root the carried evidence was checked against at resolve.
pub const PROVENANCE_TRUSTED_ROOT: &str = "provenance/trusted_root.json";

/// `provenance/<sha256-hex>.sigstore.json`: a carried Sigstore bundle document.
pub fn provenance_bundle_file(sha256: &Sha256Digest) -> String {
    format!("{PROVENANCE_DIR}/{}.sigstore.json", sha256.hex())
}

/// `provenance/<sha256-hex>.payload.json`: a carried simple-signing payload.
pub fn provenance_payload_file(sha256: &Sha256Digest) -> String {
    format!("{PROVENANCE_DIR}/{}.payload.json", sha256.hex())
}

/// `provenance/<sha256-hex>.pub.pem`: a carried cosign public key (an add-on's keyed policy).
pub fn provenance_key_file(sha256: &Sha256Digest) -> String {
    format!("{PROVENANCE_DIR}/{}.pub.pem", sha256.hex())
}

/// A signed document beside the payload: the manifest lists its size and sha256, so the
/// signatures cover it and a change board can read it before anything is unpacked (or,
/// for the carried verifier, run: docs/manual-verify.md checks it with minisign and
/// sha256sum first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DocPath {
    /// `report/change-report.json`: the report's data (schema in docs/report.md).
    ReportJson,
    /// `report/change-report.md`.
    ReportMarkdown,
    /// `report/change-report.html`: one self-contained file.
    ReportHtml,
    /// `report/sbom.cdx.json`: CycloneDX 1.5.
    Sbom,
    /// `verifier/airlock-verify`: the static verifier the bundle carries.
    Verifier,
    /// `verifier/airlock-verify.deb`: the verifier's Debian package.
    VerifierPackage,
}

impl DocPath {
    /// Every document, in the order they are listed.
    pub const ALL: [DocPath; 6] = [
        DocPath::ReportJson,
        DocPath::ReportMarkdown,
        DocPath::ReportHtml,
        DocPath::Sbom,
        DocPath::Verifier,
        DocPath::VerifierPackage,
    ];

    /// Its path in the bundle directory.
    pub fn file_name(self) -> &'static str {
        match self {
            DocPath::ReportJson => "report/change-report.json",
            DocPath::ReportMarkdown => "report/change-report.md",
            DocPath::ReportHtml => "report/change-report.html",
            DocPath::Sbom => "report/sbom.cdx.json",
            DocPath::Verifier => "verifier/airlock-verify",
            DocPath::VerifierPackage => "verifier/airlock-verify.deb",
        }
    }

    /// Its media type.
    pub fn media_type(self) -> &'static str {
        match self {
            DocPath::ReportJson => "application/vnd.airlock.change-report.v1+json",
            DocPath::ReportMarkdown => "text/markdown",
            DocPath::ReportHtml => "text/html",
            DocPath::Sbom => "application/vnd.cyclonedx+json",
            DocPath::Verifier => "application/x-executable",
            DocPath::VerifierPackage => "application/vnd.debian.binary-package",
        }
    }
}

impl fmt::Display for DocPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.file_name())
    }
}

impl Serialize for DocPath {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.file_name())
    }
}

impl<'de> Deserialize<'de> for DocPath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        DocPath::ALL
            .into_iter()
            .find(|p| p.file_name() == s)
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "{} is not a document airlock writes",
                    crate::escape::Untrusted(&s)
                ))
            })
    }
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
    canonical_tar_header(&path.to_string(), size)
}

/// The canonical header for any name (payload entries, and the archives `export`
/// writes): ustar, mode 0644, owner 0, mtime 0, a regular file.
pub fn canonical_tar_header(name: &str, size: u64) -> std::io::Result<tar::Header> {
    let mut h = tar::Header::new_ustar();
    h.set_path(name)?;
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

/// Longest signature file name accepted when a bundle travels as files outside its
/// directory (`publish`, `fetch`).
pub const MAX_SIGNATURE_NAME: usize = 128;

/// One file of a bundle directory, by its path relative to the bundle. Used where a
/// bundle's files travel one by one (an OCI artifact in a registry): the only names such
/// a file may have, so a name from outside can never become another path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BundleFile {
    /// `manifest.json`.
    Manifest,
    /// `signatures/<NAME>.minisig`; the name is letters, digits, `_` and `-` only.
    Signature(String),
    /// `signatures/<NAME>.tsr`: the RFC 3161 timestamp of `<NAME>.minisig` (issue 24).
    Timestamp(String),
    /// `SHA256SUMS`.
    Sums,
    /// `payload.tar.zst`.
    Payload,
    /// `report/...`: a signed document.
    Document(DocPath),
    /// `payload.tar.zst.NNN` or `payload.parity.NNN` (always flat: a fetched bundle has
    /// no volume directories).
    Volume(VolumeName),
    /// `provenance/NAME`: a carried evidence file; the name is `trusted_root.json` or
    /// 64 lower-case hex digits and `.sigstore.json`, `.payload.json` or `.pub.pem`.
    Evidence(String),
}

impl BundleFile {
    /// Parse a path relative to the bundle; `None` for anything else.
    pub fn parse(rel: &str) -> Option<Self> {
        match rel {
            MANIFEST_FILE => Some(BundleFile::Manifest),
            SUMS_FILE => Some(BundleFile::Sums),
            PAYLOAD_FILE => Some(BundleFile::Payload),
            _ if rel.starts_with("payload.") => VolumeName::parse(rel).map(BundleFile::Volume),
            _ if rel.starts_with(PROVENANCE_DIR) => rel
                .strip_prefix(PROVENANCE_DIR)?
                .strip_prefix('/')
                .filter(|n| valid_evidence_name(n))
                .map(|n| BundleFile::Evidence(n.to_string())),
            _ if rel.starts_with(REPORT_DIR) || rel.starts_with(VERIFIER_DIR) => DocPath::ALL
                .into_iter()
                .find(|d| d.file_name() == rel)
                .map(BundleFile::Document),
            _ => {
                let name = rel.strip_prefix(SIGNATURES_DIR)?.strip_prefix('/')?;
                BundleFile::signature(name).or_else(|| BundleFile::timestamp(name))
            }
        }
    }

    /// The signature file `name` (`KEYID.minisig`), if it is a name that may travel.
    pub fn signature(name: &str) -> Option<Self> {
        valid_signature_name(name).then(|| BundleFile::Signature(name.to_string()))
    }

    /// The timestamp file `name` (`KEYID.tsr`), if it is a name that may travel.
    pub fn timestamp(name: &str) -> Option<Self> {
        valid_timestamp_name(name).then(|| BundleFile::Timestamp(name.to_string()))
    }
}

impl fmt::Display for BundleFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BundleFile::Manifest => f.write_str(MANIFEST_FILE),
            BundleFile::Signature(n) | BundleFile::Timestamp(n) => {
                write!(f, "{SIGNATURES_DIR}/{n}")
            }
            BundleFile::Sums => f.write_str(SUMS_FILE),
            BundleFile::Payload => f.write_str(PAYLOAD_FILE),
            BundleFile::Document(d) => f.write_str(d.file_name()),
            BundleFile::Volume(v) => v.fmt(f),
            BundleFile::Evidence(n) => write!(f, "{PROVENANCE_DIR}/{n}"),
        }
    }
}

/// `STEM.minisig` with a stem of ASCII letters, digits, `_` and `-` (airlock writes
/// `<KEYID>.minisig`): nothing that could be a path, an option or a hidden file.
pub fn valid_signature_name(name: &str) -> bool {
    valid_name_with(name, SIGNATURE_EXT)
}

/// An evidence file's name in `provenance/`: `trusted_root.json`, or a sha256 in lower-case
/// hex with `.sigstore.json`, `.payload.json` or `.pub.pem` (what [`provenance_bundle_file`],
/// [`provenance_payload_file`] and [`provenance_key_file`] write).
pub fn valid_evidence_name(name: &str) -> bool {
    let hex = name
        .strip_suffix(".sigstore.json")
        .or_else(|| name.strip_suffix(".payload.json"))
        .or_else(|| name.strip_suffix(".pub.pem"));
    name == "trusted_root.json"
        || hex.is_some_and(|h| {
            h.len() == 64
                && h.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

/// `STEM.tsr` with a stem as [`valid_signature_name`] allows.
pub fn valid_timestamp_name(name: &str) -> bool {
    valid_name_with(name, TIMESTAMP_EXT)
}

fn valid_name_with(name: &str, ext: &str) -> bool {
    let Some(stem) = name.strip_suffix(ext).and_then(|s| s.strip_suffix('.')) else {
        return false;
    };
    name.len() <= MAX_SIGNATURE_NAME
        && !stem.is_empty()
        && !stem.starts_with('-')
        && stem
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
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

/// What a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileKind {
    /// A Kubernetes binary (kubeadm, kubelet, kubectl).
    Binary,
    /// A tool archive (crictl, CNI plugins).
    Tool,
    /// A Kubernetes manifest to apply.
    Manifest,
    /// A Helm chart archive.
    Chart,
    /// A document for people.
    Document,
    /// Anything else.
    File,
    /// A `.deb` or `.rpm` from a package repository.
    Package,
    /// A package repository's signed metadata (`InRelease`, `Packages`, `repomd.xml`, ...),
    /// exactly as upstream served it.
    PackageMetadata,
}

impl FileKind {
    /// The name used in files, media types and output.
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Binary => "binary",
            FileKind::Tool => "tool",
            FileKind::Manifest => "manifest",
            FileKind::Chart => "chart",
            FileKind::Document => "document",
            FileKind::File => "file",
            FileKind::Package => "package",
            FileKind::PackageMetadata => "package-metadata",
        }
    }

    /// True for the kinds that make up a package repository mirror (below
    /// [`crate::layout::PACKAGES_DIR`]).
    pub fn is_package(self) -> bool {
        matches!(self, FileKind::Package | FileKind::PackageMetadata)
    }

    /// The payload media type of a file of this kind.
    pub fn media_type(self) -> String {
        format!("application/vnd.airlock.file.{}", self.as_str())
    }
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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
        let text = sums_lines(&m, &[(PAYLOAD_FILE.to_string(), p)], &[], &[]);
        assert_eq!(
            text,
            format!("{}  manifest.json\n{}  payload.tar.zst\n", m.hex(), p.hex())
        );
    }

    #[test]
    fn bundle_file_names_are_a_closed_set() {
        for ok in [
            "manifest.json",
            "SHA256SUMS",
            "payload.tar.zst",
            "signatures/ABCDEF0123456789.minisig",
            "signatures/release_key-2.minisig",
            "signatures/ABCDEF0123456789.tsr",
            "payload.tar.zst.001",
            "payload.tar.zst.9999",
            "payload.parity.002",
            "provenance/trusted_root.json",
            "provenance/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.sigstore.json",
            "provenance/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.payload.json",
            "provenance/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.pub.pem",
        ] {
            let f = BundleFile::parse(ok).unwrap_or_else(|| panic!("{ok}"));
            assert_eq!(f.to_string(), ok);
        }
        for bad in [
            "",
            "signatures/",
            "signatures/.minisig",
            "signatures/../manifest.json",
            "signatures/a/b.minisig",
            "signatures/-x.minisig",
            "signatures/a.b.minisig",
            "signatures/a.minisig/",
            "signatures/\u{202e}a.minisig",
            "signatures/.tsr",
            "signatures/-x.tsr",
            "signatures/a.b.tsr",
            "signatures/a.tsr.minisig.tsr",
            "/manifest.json",
            "./manifest.json",
            "SHA256SUMS/",
            "payload.tar.zst.1",
            "payload.tar.zst.000",
            "payload.tar.zst.0001",
            "payload.tar.zst.10000",
            "payload.parity.01",
            "payload.tar.zst.+12",
            "provenance/",
            "provenance/../manifest.json",
            "provenance/x.sigstore.json",
            "provenance/0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF.sigstore.json",
            "provenance/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.json",
            "provenance/a/trusted_root.json",
            "provenancetrusted_root.json",
        ] {
            assert_eq!(BundleFile::parse(bad), None, "{bad}");
        }
        let long = format!("signatures/{}.minisig", "a".repeat(MAX_SIGNATURE_NAME));
        assert_eq!(BundleFile::parse(&long), None);
        let long = format!("signatures/{}.tsr", "a".repeat(MAX_SIGNATURE_NAME));
        assert_eq!(BundleFile::parse(&long), None);
        assert_eq!(
            BundleFile::parse("signatures/K.tsr"),
            Some(BundleFile::Timestamp("K.tsr".into()))
        );
    }

    #[test]
    fn canonical_header_is_the_payload_header() {
        let d = Sha256Digest::of(b"x");
        let p = PayloadPath::Blob(d);
        assert_eq!(
            tar_header(&p, 7).unwrap().as_bytes(),
            canonical_tar_header(&p.to_string(), 7).unwrap().as_bytes()
        );
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics_and_round_trips(s in "\\PC{0,80}") {
            if let Some(p) = PayloadPath::parse(&s) {
                proptest::prop_assert_eq!(p.to_string(), s);
            }
        }

        #[test]
        fn volume_names_round_trip(s in "payload\\.(tar\\.zst|parity)\\.[0-9+-]{0,6}|\\PC{0,30}") {
            if let Some(v) = VolumeName::parse(&s) {
                proptest::prop_assert_eq!(v.to_string(), s);
                proptest::prop_assert!((1..=MAX_VOLUMES).contains(&v.number()));
            }
        }

        #[test]
        fn every_volume_number_round_trips(n in 1u32..=MAX_VOLUMES, parity in proptest::bool::ANY) {
            let v = if parity { VolumeName::Parity(n) } else { VolumeName::Data(n) };
            proptest::prop_assert_eq!(VolumeName::parse(&v.to_string()), Some(v));
        }

        #[test]
        fn bundle_file_parse_round_trips_and_stays_below_the_bundle(s in "\\PC{0,80}") {
            if let Some(f) = BundleFile::parse(&s) {
                proptest::prop_assert_eq!(f.to_string(), s.clone());
                proptest::prop_assert!(!s.contains(".."));
                proptest::prop_assert!(!s.starts_with('/'));
                proptest::prop_assert!(s.matches('/').count() <= 1);
            }
        }
    }
}
