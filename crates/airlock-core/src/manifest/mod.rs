//! The bundle manifest: the signed list of everything in a bundle.
//!
//! It is written once, deterministically (fixed field order, sorted lists, no timestamps),
//! signed as exact bytes, and parsed only after a signature over those bytes has been
//! verified. The reader is strict: an unknown `format` or an unknown field is an error,
//! because a verifier that ignored a field it does not understand (say `expires`) would
//! be weaker than the signer intended.
//!
//! A signature proves who wrote the manifest, not that it makes sense: a key holder (or a
//! bug) can sign a manifest whose parts disagree. So every reader runs [`BundleManifest::
//! check_consistency`], which refuses any manifest where something said twice is said
//! differently (see `SECURITY.md`, "manifest consistency").

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::digest::{Sha256Digest, bare_hex};
use crate::error::{Error, Result};
use crate::escape::Untrusted;
use crate::image_ref::ImageRef;
use crate::layout::{MANIFEST_FILE, PayloadPath};
use crate::oci::Platform;
use crate::paths::SafeRelPath;

mod reason;
pub use reason::FormatError;

/// What each consistency check returns.
type Checked<T = ()> = std::result::Result<T, FormatError>;

/// The manifest format this version writes and reads.
pub const BUNDLE_FORMAT: u32 = 1;
/// Largest manifest accepted. A real hop's manifest is tens of kilobytes; it costs about
/// 630 bytes per blob (its entry and its place in an image's blob list), so 16 MiB holds
/// some 25,000 blobs (2,000 images of 10 blobs made 12.6 MB; `BENCHMARKS.md`). `airlock
/// build` refuses to sign a larger one.
pub const MAX_MANIFEST_JSON_BYTES: u64 = 16 * 1024 * 1024;

/// The signed description of a bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleManifest {
    /// Must be [`BUNDLE_FORMAT`].
    pub format: u32,
    /// Always `airlock-bundle`.
    pub kind: ManifestKind,
    /// The hop, when the lock was for one.
    pub hop: Option<Hop>,
    /// The start of the change window: not valid before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<crate::time::Timestamp>,
    /// The end of the change window: not valid after this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<crate::time::Timestamp>,
    /// The cluster or site this bundle is for; sequences count per channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// This bundle's place in its channel's order; an enclave never installs a lower one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u64>,
    /// sha256 of the lock file this bundle was built from.
    #[serde(with = "bare_hex")]
    pub lock_sha256: Sha256Digest,
    /// The version catalog the lock was resolved with (absent in bundles of locks that do
    /// not record one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<CatalogIdentity>,
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
    pub checklist: Option<Vec<Step>>,
    /// Package repositories of which the files of kind `package` and `package-metadata`
    /// make a partial mirror (absent in bundles without packages).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub package_repositories: Vec<PackageRepository>,
    /// Signed documents beside the payload (the change report, the SBOM).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub documents: Vec<Document>,
    /// A one-way delta: the earlier bundles this one builds on and what it leaves out
    /// because they carried it (absent in full bundles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<Delta>,
}

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

/// A signed document of the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    /// Its path in the bundle directory.
    pub path: crate::layout::DocPath,
    /// Size in bytes.
    pub size: u64,
    /// sha256 of the content.
    #[serde(with = "bare_hex")]
    pub sha256: Sha256Digest,
    /// Media type.
    pub media_type: String,
}

/// The document kind tag of a bundle manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ManifestKind {
    /// `airlock-bundle`
    #[serde(rename = "airlock-bundle")]
    AirlockBundle,
}

/// One Kubernetes version step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hop {
    /// The version the cluster runs now, e.g. `v1.29.6`.
    pub from: String,
    /// The version the hop goes to, e.g. `v1.30.2`.
    pub to: String,
}

/// Which version catalog a hop was resolved with: its data version and the sha256 of the
/// exact catalog bytes, so a reviewer can tell which facts the bundle rests on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogIdentity {
    /// The catalog's `catalog_version`, e.g. `2026.11.25`.
    pub version: String,
    /// sha256 of the catalog file's bytes.
    #[serde(with = "bare_hex")]
    pub sha256: Sha256Digest,
}

/// The payload file's identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayloadInfo {
    /// File name in the bundle directory (always [`crate::layout::PAYLOAD_FILE`] in
    /// format 1).
    pub file: String,
    /// Compressed size in bytes.
    pub size: u64,
    /// sha256 of the compressed file.
    #[serde(with = "bare_hex")]
    pub sha256: Sha256Digest,
    /// Size of the tar stream inside, in bytes.
    pub tar_size: u64,
    /// sha256 of the compressed file without the contents of its raw zstd blocks
    /// ([`crate::structure`]). With the entries' sha256s it binds every byte of the file,
    /// so verification hashes each byte once instead of twice. Bundles written before
    /// it have none and are checked against `sha256`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::digest::bare_hex_opt"
    )]
    pub structure_sha256: Option<Sha256Digest>,
    /// When the payload is cut into volumes (`--volume-size`): the volumes, in stream
    /// order. Empty for a payload in one file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    /// Recovery volumes over the data volumes (`--parity`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parity: Option<Parity>,
}

/// Bytes of a volume's start that [`Volume::head_sha256`] covers.
pub const VOLUME_HEAD_BYTES: u64 = 64 * 1024;

/// One payload volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Volume {
    /// Its file name (`payload.tar.zst.001`, `payload.parity.001`).
    pub file: crate::layout::VolumeName,
    /// Size in bytes.
    pub size: u64,
    /// sha256 of the whole volume.
    #[serde(with = "bare_hex")]
    pub sha256: Sha256Digest,
    /// sha256 of its first [`VOLUME_HEAD_BYTES`] (or all of it, if smaller): a volume
    /// whose start matches but whole does not is damaged; one whose start matches another
    /// volume is out of order; one whose start matches none is from another bundle.
    #[serde(with = "bare_hex")]
    pub head_sha256: Sha256Digest,
}

/// How parity volumes are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ParityScheme {
    /// Reed-Solomon over GF(2^16) (the Leopard-RS construction of the
    /// `reed-solomon-simd` crate), stripe by stripe: data volume `i`'s bytes
    /// `[k*stripe, (k+1)*stripe)`, zero-padded, are original shard `i` of stripe `k`;
    /// the parity volumes hold the recovery shards of each stripe in turn. The last
    /// stripe is as long as the first data volume's rest, rounded up to an even length.
    ReedSolomonGf16,
}

/// The recovery volumes of a payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Parity {
    /// The code.
    pub scheme: ParityScheme,
    /// Stripe length in bytes (even).
    pub stripe: u64,
    /// The parity volumes.
    pub volumes: Vec<Volume>,
}

/// Largest parity stripe (the memory a repair needs is stripe x volumes).
pub const MAX_PARITY_STRIPE: u64 = 16 * 1024 * 1024;

impl PayloadInfo {
    /// Every volume, data then parity.
    pub fn all_volumes(&self) -> impl Iterator<Item = &Volume> {
        self.volumes
            .iter()
            .chain(self.parity.iter().flat_map(|p| p.volumes.iter()))
    }

    /// The payload's files with their sha256, as `SHA256SUMS` lists them: the one
    /// payload file, or every volume (in its `volume-NNN/` directory with `dirs`).
    pub fn sums_items(&self, dirs: bool) -> Vec<(String, Sha256Digest)> {
        if self.volumes.is_empty() {
            return vec![(self.file.clone(), self.sha256)];
        }
        let n = self.volumes.len() as u32;
        self.all_volumes()
            .map(|v| {
                let name = if dirs {
                    format!("{}/{}", v.file.dir(n), v.file)
                } else {
                    v.file.to_string()
                };
                (name, v.sha256)
            })
            .collect()
    }

    /// The parity stripe sizes, in order: the first data volume's size cut into
    /// `stripe`-byte pieces, the last rounded up to even.
    pub fn stripes(&self) -> Vec<u64> {
        let (Some(first), Some(p)) = (self.volumes.first(), &self.parity) else {
            return Vec::new();
        };
        stripe_lengths(first.size, p.stripe)
    }
}

/// `len` cut into `stripe`-byte pieces, the last rounded up to even.
pub fn stripe_lengths(len: u64, stripe: u64) -> Vec<u64> {
    let mut out = Vec::new();
    let mut off = 0;
    while off < len && stripe > 0 {
        let k = stripe.min(len - off);
        out.push(k + (k & 1));
        off += k;
    }
    out
}

/// One payload entry (a regular file in the tar stream).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Path inside the payload.
    pub path: PayloadPath,
    /// Size in bytes.
    pub size: u64,
    /// sha256 of the content.
    #[serde(with = "bare_hex")]
    pub sha256: Sha256Digest,
    /// Media type (OCI media type for image content; a file kind otherwise).
    pub media_type: String,
}

/// How the enclave will serve an image, and so which digest its tag will point to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServedAs {
    /// The upstream index, unchanged: every platform it lists is carried, so the upstream
    /// index digest works in the enclave.
    Index,
    /// Some platforms of the upstream index are carried. A registry refuses an index whose
    /// children it does not hold, so airlock writes an index of the carried platforms: a
    /// new digest. Platform manifest digests are unchanged.
    SubsetIndex,
    /// The upstream reference was a single-platform manifest, carried unchanged.
    Manifest,
}

/// A manifest or blob carried for an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Carried {
    /// Digest.
    pub digest: Sha256Digest,
    /// Media type.
    pub media_type: String,
    /// Size in bytes.
    pub size: u64,
    /// For platform manifests: the platform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

/// Why an image is in the hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Needed by the version the hop goes to.
    Target,
    /// Needed only by the version the hop starts from (the back-out set).
    Backout,
    /// The etcd the cluster keeps running because kubeadm never downgrades etcd.
    CurrentEtcd,
    /// From a hop manifest.
    Addon,
    /// A Helm chart from a hop manifest, carried as an OCI artifact (no platforms).
    Chart,
}

impl Role {
    /// The name used in files and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Target => "target",
            Role::Backout => "backout",
            Role::CurrentEtcd => "current-etcd",
            Role::Addon => "addon",
            Role::Chart => "chart",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One image and how the enclave will serve it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageRecord {
    /// Canonical upstream reference.
    pub name: ImageRef,
    /// Why it is in the hop.
    pub role: Option<Role>,
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
    pub kind: Option<FileKind>,
}

/// Unix permission bits; written as an octal string. Only `0o777` bits are allowed, and
/// never write permission for others: a bundle installs no setuid, setgid or sticky file
/// and nothing any local user could replace.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mode(pub u32);

impl fmt::Debug for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}
impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}
impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let v = u32::from_str_radix(s, 8)
            .map_err(|_| format!("mode {:?} is not octal", Untrusted(s)))?;
        if v & !0o777 != 0 {
            return Err(format!(
                "mode {s:?}: only permission bits (0777) are allowed, not setuid/setgid/sticky"
            ));
        }
        if v & 0o002 != 0 {
            return Err(format!(
                "mode {s:?}: files writable by every user are not installed (use 0755 or 0644)"
            ));
        }
        Ok(Mode(v))
    }
}
impl Serialize for Mode {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
impl<'de> Deserialize<'de> for Mode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The package format of a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PackageFormat {
    /// Debian packages, read by apt (`InRelease`, `Packages`, `.deb`).
    Deb,
    /// RPM packages, read by dnf and yum (`repodata/repomd.xml`, `.rpm`).
    Rpm,
}

impl PackageFormat {
    /// `deb` or `rpm`.
    pub fn as_str(self) -> &'static str {
        match self {
            PackageFormat::Deb => "deb",
            PackageFormat::Rpm => "rpm",
        }
    }
}

impl fmt::Display for PackageFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PackageFormat {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "deb" => Ok(PackageFormat::Deb),
            "rpm" => Ok(PackageFormat::Rpm),
            _ => Err(format!(
                "package format {:?}: expected deb or rpm",
                Untrusted(s)
            )),
        }
    }
}

/// A package repository the bundle carries a partial mirror of: its signed metadata as
/// upstream served it, and the packages the hop needs, laid out under `dir` as upstream
/// lays them out under `source`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageRepository {
    /// `deb` or `rpm`.
    pub format: PackageFormat,
    /// The upstream repository URL (ends with `/`).
    pub source: String,
    /// Where the mirror goes: `packages/v1.30/deb` (below `--dest`, or relocated by
    /// `--packages-dir`).
    pub dir: SafeRelPath,
    /// Fingerprint (upper-case hex) of the OpenPGP key that verified the metadata when
    /// the hop was resolved; the nodes check the same signature with the key they hold.
    pub signed_by: String,
    /// The packages carried, sorted by name, version and architecture.
    pub packages: Vec<CarriedPackage>,
}

/// One package in a [`PackageRepository`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarriedPackage {
    /// Package name (`kubeadm`).
    pub name: String,
    /// The repository's own version string (`1.30.2-1.1`, `1.30.2-150500.1.1`).
    pub version: String,
    /// The package architecture (`amd64`, `x86_64`).
    pub arch: String,
    /// Why it is carried (`target` or `backout`).
    pub role: Role,
    /// Its file target (a file of kind `package`).
    pub target: SafeRelPath,
}

/// True if `s` may be shown in a package manager command unquoted-safe: package names,
/// versions and architectures use only `A-Z a-z 0-9 . + ~ : _ -`, start with an
/// alphanumeric, and are at most 128 bytes.
pub fn is_package_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'~' | b':' | b'_' | b'-')
        })
}

/// One checklist step of the upgrade runbook.
///
/// The fields are declared in alphabetical order because format 1 has always written them
/// that way (the checklist began as untyped JSON); the signed bytes must not change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// How to tell the step worked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
    /// Shell commands, in order.
    #[serde(default)]
    pub commands: Vec<String>,
    /// Stable id, `phase.name`.
    pub id: String,
    /// The phase the step belongs to.
    pub phase: Phase,
    /// What to do.
    pub title: String,
}

/// The phases of a hop, in the order they are carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Before the change window: backups, pre-pulls, checks.
    Pre,
    /// The first control-plane node.
    Cp1,
    /// The other control-plane nodes.
    Cp,
    /// The CNI, after the control planes.
    Cni,
    /// Worker nodes.
    Workers,
    /// After the upgrade: validation.
    Post,
    /// The back-out plan.
    Backout,
}

impl Phase {
    /// The id prefix (`pre`, `cp1`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pre => "pre",
            Phase::Cp1 => "cp1",
            Phase::Cp => "cp",
            Phase::Cni => "cni",
            Phase::Workers => "workers",
            Phase::Post => "post",
            Phase::Backout => "backout",
        }
    }
}

impl BundleManifest {
    /// Deterministic JSON bytes (pretty-printed so a change board can read and diff it).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        // Writing to a Vec cannot fail, and neither can serializing these types (every
        // map key is a string).
        let _ = self.write_to(&mut v);
        v
    }

    /// Write the same bytes as [`Self::to_bytes`] to `w` as they are made: a manifest of
    /// thousands of images is megabytes, and the builder need not hold it twice.
    pub fn write_to(&self, mut w: impl std::io::Write) -> std::io::Result<()> {
        serde_json::to_writer_pretty(&mut w, self)?;
        w.write_all(b"\n")
    }

    /// Parse bytes whose signature has already been verified, and check their consistency.
    pub fn parse_verified(bytes: &[u8]) -> Result<Self> {
        let bad = |r: String| Error::verification(MANIFEST_FILE, r);
        let text = std::str::from_utf8(bytes).map_err(|_| bad("is not UTF-8 JSON".to_string()))?;
        let m: BundleManifest = crate::versioned::parse::<crate::versioned::Json, _>(
            text,
            BUNDLE_FORMAT,
            "bundle manifest",
            MANIFEST_FILE,
        )
        .map_err(|e| match e {
            Error::Invalid { reason, .. } => bad(reason),
            other => other,
        })?;
        m.check_consistency()?;
        Ok(m)
    }

    /// The entry for a payload path.
    pub fn entry(&self, path: &PayloadPath) -> Option<&Entry> {
        self.entries.iter().find(|e| &e.path == path)
    }

    /// Everything that must agree with everything else (see the module comment). Run by
    /// the writer before signing and by every reader after the signature check.
    pub fn check_consistency(&self) -> Result<()> {
        self.consistency()
            .map_err(|reason| Error::format(MANIFEST_FILE, reason))
    }

    /// [`Self::check_consistency`]'s checks, one section at a time.
    fn consistency(&self) -> Checked {
        if self.payload.file != crate::layout::PAYLOAD_FILE {
            return Err(FormatError::PayloadFile {
                found: self.payload.file.clone(),
            });
        }
        self.check_volumes()?;
        let entries = self.check_entries()?;
        self.check_images(&entries)?;
        self.check_files(&entries)?;
        self.check_packages()?;
        self.check_checklist()?;
        self.check_validity()?;
        self.check_delta()?;
        self.check_documents()
    }

    /// Documents: each once, with its path's media type.
    fn check_documents(&self) -> Checked {
        let mut docs = BTreeSet::new();
        for d in &self.documents {
            if !docs.insert(d.path) {
                return Err(FormatError::DocumentTwice { path: d.path });
            }
            if d.media_type != d.path.media_type() {
                return Err(FormatError::DocumentMediaType {
                    path: d.path,
                    found: d.media_type.clone(),
                });
            }
        }
        Ok(())
    }

    /// Entries: each path once, content-addressed names match their sha256, and the tar
    /// size is exactly what these entries make (so a reader can stop the moment the
    /// decoded stream passes it).
    fn check_entries(&self) -> Checked<BTreeMap<PayloadPath, &Entry>> {
        let mut seen = BTreeMap::new();
        for e in &self.entries {
            if let Some(d) = e.path.digest()
                && d != e.sha256
            {
                return Err(FormatError::EntryName { path: e.path });
            }
            if seen.insert(e.path, e).is_some() {
                return Err(FormatError::EntryTwice { path: e.path });
            }
        }
        let expected = tar_size_of(self.entries.iter().map(|e| e.size))
            .ok_or(FormatError::EntrySizesOverflow)?;
        if expected != self.payload.tar_size {
            return Err(FormatError::TarSize {
                declared: self.payload.tar_size,
                found: expected,
            });
        }
        Ok(seen)
    }

    fn check_images(&self, entries: &BTreeMap<PayloadPath, &Entry>) -> Checked {
        let mut names = BTreeSet::new();
        for img in &self.images {
            let name = img.name.to_string();
            if !names.insert(name.clone()) {
                return Err(FormatError::ImageTwice { name });
            }
            let what = |c: &Carried, reason| FormatError::ImageCarried {
                image: name.clone(),
                digest: c.digest,
                reason: Box::new(reason),
            };
            let manifests = img.manifests.iter().chain([&img.served, &img.source]);
            for c in manifests {
                let e = carried_entry(entries, c).map_err(|r| what(c, r))?;
                if !crate::oci::is_manifest_type(&c.media_type) || e.media_type != c.media_type {
                    let found = e.media_type.clone();
                    let declared = c.media_type.clone();
                    return Err(what(c, FormatError::ManifestMediaType { declared, found }));
                }
            }
            for c in &img.blobs {
                self.carried_or_omitted(entries, &PayloadPath::Blob(c.digest), c.size)
                    .map_err(|r| what(c, r))?;
            }
            check_served_as(img).map_err(|reason| FormatError::ServedAs {
                image: name.clone(),
                reason,
            })?;
        }
        Ok(())
    }

    fn check_files(&self, entries: &BTreeMap<PayloadPath, &Entry>) -> Checked {
        let mut targets: BTreeSet<&str> = BTreeSet::new();
        for f in &self.files {
            let t = f.target.as_str();
            self.carried_or_omitted(entries, &PayloadPath::File(f.sha256), f.size)
                .map_err(|r| FormatError::FileCarried {
                    target: t.to_owned(),
                    reason: Box::new(r),
                })?;
            if crate::paths::is_reserved(&f.target) {
                return Err(FormatError::FileReserved {
                    target: t.to_owned(),
                });
            }
            if !targets.insert(t) {
                return Err(FormatError::FileTwice {
                    target: t.to_owned(),
                });
            }
        }
        // A target that is also a directory other targets need cannot be installed.
        for t in &targets {
            let prefix = format!("{t}/");
            if let Some(other) = targets.range(prefix.as_str()..).next()
                && other.starts_with(&prefix)
            {
                return Err(FormatError::FileIsDirectory {
                    target: (*t).to_owned(),
                    other: (*other).to_owned(),
                });
            }
        }
        Ok(())
    }

    /// A blob or file is a payload entry of its size, or (in a delta) omitted with it.
    fn carried_or_omitted(
        &self,
        entries: &BTreeMap<PayloadPath, &Entry>,
        path: &PayloadPath,
        size: u64,
    ) -> Checked {
        let listed = match entries.get(path) {
            Some(e) => e.size,
            None => self
                .omitted(path)
                .map(|o| o.size)
                .ok_or(FormatError::NotInPayload)?,
        };
        if listed != size {
            return Err(FormatError::Size {
                declared: size,
                found: listed,
            });
        }
        Ok(())
    }

    /// The omitted record of a path, in a delta.
    pub fn omitted(&self, path: &PayloadPath) -> Option<&Omitted> {
        let d = self.delta.as_ref()?;
        d.omitted
            .binary_search_by(|o| o.path.cmp(path))
            .ok()
            .map(|i| &d.omitted[i])
    }

    /// Volumes: named in order, sizes adding up to the payload, all but the last the
    /// same size; parity volumes as long as the stripes of the first data volume. A
    /// delta: bases named, omitted paths sorted, unique, content-addressed and not also
    /// in the payload.
    fn check_volumes(&self) -> Checked {
        use crate::layout::{MAX_VOLUMES, VolumeName};
        let p = &self.payload;
        if p.volumes.is_empty() {
            return match p.parity {
                Some(_) => Err(FormatError::ParityWithoutData),
                None => Ok(()),
            };
        }
        if p.volumes.len() > MAX_VOLUMES as usize {
            return Err(FormatError::TooManyVolumes);
        }
        let mut total: u64 = 0;
        for (i, v) in p.volumes.iter().enumerate() {
            if v.file != VolumeName::Data(i as u32 + 1) {
                return Err(FormatError::VolumeName {
                    index: i + 1,
                    found: v.file,
                });
            }
            if v.size == 0 || (i + 1 < p.volumes.len() && v.size != p.volumes[0].size) {
                return Err(FormatError::VolumeSize {
                    volume: v.file,
                    size: v.size,
                    first: p.volumes[0].size,
                });
            }
            total = total
                .checked_add(v.size)
                .ok_or(FormatError::VolumeSizesOverflow)?;
        }
        if p.volumes.last().map(|v| v.size) > Some(p.volumes[0].size) {
            return Err(FormatError::LastVolumeLarger);
        }
        if total != p.size {
            return Err(FormatError::VolumesTotal {
                found: total,
                declared: p.size,
            });
        }
        let Some(par) = &p.parity else {
            return Ok(());
        };
        if par.stripe == 0 || !par.stripe.is_multiple_of(2) || par.stripe > MAX_PARITY_STRIPE {
            return Err(FormatError::ParityStripe { stripe: par.stripe });
        }
        if par.volumes.is_empty() || par.volumes.len() > p.volumes.len() {
            return Err(FormatError::ParityCount {
                parity: par.volumes.len(),
                data: p.volumes.len(),
            });
        }
        let want: u64 = p.stripes().iter().sum();
        for (i, v) in par.volumes.iter().enumerate() {
            if v.file != VolumeName::Parity(i as u32 + 1) || v.size != want {
                return Err(FormatError::ParityVolume {
                    index: i + 1,
                    size: v.size,
                    want,
                });
            }
        }
        Ok(())
    }

    fn check_delta(&self) -> Checked {
        let Some(d) = &self.delta else {
            return Ok(());
        };
        if d.bases.is_empty() {
            return Err(FormatError::DeltaWithoutBases);
        }
        for w in d.omitted.windows(2) {
            if w[0].path >= w[1].path {
                return Err(FormatError::OmittedOrder { path: w[1].path });
            }
        }
        for o in &d.omitted {
            if o.path.digest().is_none() {
                return Err(FormatError::OmittedNotAddressed { path: o.path });
            }
            if o.base >= d.bases.len() {
                return Err(FormatError::OmittedBase {
                    path: o.path,
                    base: o.base,
                    bases: d.bases.len(),
                });
            }
            if self.entry(&o.path).is_some() {
                return Err(FormatError::OmittedAndCarried { path: o.path });
            }
        }
        Ok(())
    }

    fn check_validity(&self) -> Checked {
        if let (Some(nb), Some(exp)) = (self.not_before, self.expires)
            && exp <= nb
        {
            return Err(FormatError::Window {
                not_before: nb,
                expires: exp,
            });
        }
        if self.sequence.is_some() != self.channel.is_some() {
            return Err(FormatError::ChannelWithoutSequence);
        }
        if let Some(ch) = &self.channel
            && !valid_channel(ch)
        {
            return Err(FormatError::Channel {
                channel: ch.clone(),
            });
        }
        Ok(())
    }

    /// Package files live below a repository's `dir`, inside `packages/`, so
    /// `--packages-dir` moves exactly them; each carried package names one of them.
    fn check_packages(&self) -> Checked {
        check_package_repositories(
            &self.package_repositories,
            self.files.iter().map(|f| (&f.target, f.kind)),
        )
    }

    fn check_checklist(&self) -> Checked {
        let mut ids = BTreeSet::new();
        for s in self.checklist.iter().flatten() {
            if !ids.insert(s.id.as_str()) {
                return Err(FormatError::StepTwice { id: s.id.clone() });
            }
        }
        Ok(())
    }
}

/// A channel name: 1-64 of `A-Z a-z 0-9 . _ -`.
pub fn valid_channel(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The rules for package repositories and the files that mirror them, shared by the
/// manifest and the lock: every file of kind `package` or `package-metadata` is below
/// exactly one repository's `dir`; every `dir` is below [`crate::layout::PACKAGES_DIR`],
/// unique and not below another; every carried package is a `package` file of its
/// repository; names, versions and architectures are [`is_package_token`]s.
pub fn check_package_repositories<'a>(
    repos: &[PackageRepository],
    files: impl Iterator<Item = (&'a SafeRelPath, Option<FileKind>)>,
) -> Checked {
    let below = |t: &SafeRelPath, dir: &SafeRelPath| {
        t.as_str()
            .strip_prefix(dir.as_str())
            .is_some_and(|r| r.starts_with('/'))
    };
    let mut dirs: BTreeSet<&str> = BTreeSet::new();
    for r in repos {
        let d = &r.dir;
        if d.components().next() != Some(crate::layout::PACKAGES_DIR) || !d.as_str().contains('/') {
            return Err(FormatError::RepositoryDir { dir: d.clone() });
        }
        if !dirs.insert(d.as_str()) {
            return Err(FormatError::RepositoryTwice { dir: d.clone() });
        }
        if !(r.source.starts_with("https://") || r.source.starts_with("http://"))
            || r.source
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(FormatError::RepositorySource {
                dir: d.clone(),
                url: r.source.clone(),
            });
        }
        if r.signed_by.is_empty() || !r.signed_by.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(FormatError::RepositorySignedBy {
                dir: d.clone(),
                signed_by: r.signed_by.clone(),
            });
        }
    }
    for a in &dirs {
        if dirs
            .iter()
            .any(|b| b != a && b.starts_with(&format!("{a}/")))
        {
            return Err(FormatError::RepositoryNested {
                dir: (*a).to_owned(),
            });
        }
    }
    let mut package_files: BTreeSet<&SafeRelPath> = BTreeSet::new();
    for (target, kind) in files {
        let Some(kind) = kind.filter(|k| k.is_package()) else {
            continue;
        };
        if !repos.iter().any(|r| below(target, &r.dir)) {
            let target = target.clone();
            return Err(FormatError::PackageFileOutside { target, kind });
        }
        if kind == FileKind::Package {
            package_files.insert(target);
        }
    }
    for r in repos {
        for p in &r.packages {
            for tok in [&p.name, &p.version, &p.arch] {
                if !is_package_token(tok) {
                    return Err(FormatError::PackageToken {
                        dir: r.dir.clone(),
                        token: tok.clone(),
                    });
                }
            }
            if !below(&p.target, &r.dir) || !package_files.contains(&p.target) {
                return Err(FormatError::PackageWithoutFile {
                    dir: r.dir.clone(),
                    name: p.name.clone(),
                    version: p.version.clone(),
                    target: p.target.clone(),
                });
            }
        }
    }
    Ok(())
}

/// The payload entry of a carried blob or manifest, with its size checked.
fn carried_entry<'a>(
    entries: &BTreeMap<PayloadPath, &'a Entry>,
    c: &Carried,
) -> Checked<&'a Entry> {
    let e = entries
        .get(&PayloadPath::Blob(c.digest))
        .ok_or(FormatError::NotInPayload)?;
    if e.size != c.size {
        return Err(FormatError::Size {
            declared: c.size,
            found: e.size,
        });
    }
    Ok(e)
}

/// `served_as` must describe what `served` and `source` are.
fn check_served_as(img: &ImageRecord) -> std::result::Result<(), &'static str> {
    let is_index = crate::oci::is_index_type(&img.source.media_type);
    match img.served_as {
        ServedAs::Index if img.served != img.source || !is_index => {
            Err("served-as index, but the served index is not the upstream index")
        }
        ServedAs::SubsetIndex
            if img.served.digest == img.source.digest
                || !is_index
                || !crate::oci::is_index_type(&img.served.media_type) =>
        {
            Err("served-as subset-index, but no subset index of an upstream index is served")
        }
        ServedAs::Manifest if img.served != img.source || is_index => {
            Err("served-as manifest, but the served manifest is not the upstream one")
        }
        _ => Ok(()),
    }
}

/// The size of the tar stream airlock writes for entries of these sizes: a 512-byte
/// header and the content padded to 512 bytes per entry, then two zero blocks. `None` on
/// overflow.
pub fn tar_size_of(sizes: impl IntoIterator<Item = u64>) -> Option<u64> {
    let mut total: u64 = 1024;
    for s in sizes {
        let padded = s.checked_add(511)? / 512 * 512;
        total = total.checked_add(512)?.checked_add(padded)?;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tar_size_matches_the_tar_crate() {
        let sizes = [0u64, 1, 511, 512, 513, 4096];
        let mut b = tar::Builder::new(Vec::new());
        for (i, s) in sizes.iter().enumerate() {
            let mut h = tar::Header::new_ustar();
            h.set_size(*s);
            h.set_path(format!("f{i}")).unwrap();
            h.set_cksum();
            b.append(&h, &vec![0u8; *s as usize][..]).unwrap();
        }
        let bytes = b.into_inner().unwrap();
        assert_eq!(tar_size_of(sizes), Some(bytes.len() as u64));
        assert_eq!(tar_size_of([u64::MAX]), None);
    }

    #[test]
    fn package_repositories_must_hold_their_files() {
        let p = |s: &str| SafeRelPath::new(s).unwrap();
        let repo = |dir: &str| PackageRepository {
            format: PackageFormat::Deb,
            source: "https://pkgs.k8s.io/core:/stable:/v1.30/deb/".into(),
            dir: p(dir),
            signed_by: "ABCDEF".into(),
            packages: vec![CarriedPackage {
                name: "kubeadm".into(),
                version: "1.30.2-1.1".into(),
                arch: "amd64".into(),
                role: Role::Target,
                target: p(&format!("{dir}/amd64/kubeadm.deb")),
            }],
        };
        let files = |list: &[(&str, FileKind)]| -> Vec<(SafeRelPath, Option<FileKind>)> {
            list.iter().map(|(t, k)| (p(t), Some(*k))).collect()
        };
        let check = |repos: &[PackageRepository], f: &[(SafeRelPath, Option<FileKind>)]| {
            check_package_repositories(repos, f.iter().map(|(t, k)| (t, *k)))
        };
        let good = files(&[
            ("packages/v1.30/deb/InRelease", FileKind::PackageMetadata),
            ("packages/v1.30/deb/amd64/kubeadm.deb", FileKind::Package),
            ("bin/kubeadm", FileKind::Binary),
        ]);
        assert_eq!(check(&[repo("packages/v1.30/deb")], &good), Ok(()));
        // A package file outside every repository.
        let stray = files(&[("bin/x.deb", FileKind::Package)]);
        assert!(check(&[repo("packages/v1.30/deb")], &stray).is_err());
        // A carried package without its file.
        assert!(check(&[repo("packages/v1.30/deb")], &good[..1]).is_err());
        // A repository outside packages/, twice, or inside another.
        assert!(check(&[repo("bin/v1.30")], &[]).is_err());
        assert!(check(&[repo("packages/a"), repo("packages/a")], &[]).is_err());
        let mut nested = vec![repo("packages/a"), repo("packages/a/b")];
        nested.iter_mut().for_each(|r| r.packages.clear());
        assert!(check(&nested, &[]).is_err());
        // A version that would not be a plain token in a command.
        let mut r = repo("packages/v1.30/deb");
        r.packages[0].version = "1.30.2'; rm -rf /".into();
        let (dir, token) = (r.dir.clone(), r.packages[0].version.clone());
        let e = check(&[r], &good).unwrap_err();
        assert_eq!(e, FormatError::PackageToken { dir, token });
        assert!(
            e.to_string()
                .ends_with("is not a package name, version or architecture")
        );
        let mut r = repo("packages/v1.30/deb");
        r.source = "ftp://x".into();
        assert!(check(&[r], &good).is_err());
    }

    proptest::proptest! {
        #[test]
        fn package_tokens_never_hold_shell_characters(s in "\\PC{0,40}") {
            if is_package_token(&s) {
                proptest::prop_assert!(!s.contains(['\'', '"', ' ', ';', '$', '`', '/', '\\', '*']));
            }
        }
    }

    fn empty() -> BundleManifest {
        crate::testdata::empty_manifest()
    }

    fn vol(v: crate::layout::VolumeName, size: u64) -> Volume {
        Volume {
            file: v,
            size,
            sha256: Sha256Digest::of(b"v"),
            head_sha256: Sha256Digest::of(b"h"),
        }
    }

    #[test]
    fn volumes_must_add_up_and_be_named_in_order() {
        use crate::layout::VolumeName::{Data, Parity as P};
        let mut m = empty();
        m.payload.size = 250;
        m.payload.volumes = vec![vol(Data(1), 100), vol(Data(2), 100), vol(Data(3), 50)];
        m.check_consistency().unwrap();
        use FormatError as F;
        fn with(m: &BundleManifest, f: &dyn Fn(&mut BundleManifest)) -> FormatError {
            let mut x = m.clone();
            f(&mut x);
            let e = x.check_consistency().unwrap_err();
            assert_eq!(e.exit_code(), 3, "{e}");
            e.format_error().expect("a format error").clone()
        }
        let (found, declared) = (250, 251);
        let e = with(&m, &|x| x.payload.size = 251);
        assert_eq!(e, F::VolumesTotal { found, declared });
        assert_eq!(
            e.to_string(),
            "volumes add up to 250 bytes, the payload is 251"
        );
        let found = Data(2);
        let e = with(&m, &|x| x.payload.volumes.swap(0, 1));
        assert_eq!(e, F::VolumeName { index: 1, found });
        let (volume, size, first) = (Data(2), 99, 100);
        let e = with(&m, &|x| x.payload.volumes[1].size = 99);
        assert_eq!(
            e,
            F::VolumeSize {
                volume,
                size,
                first
            }
        );
        let (volume, size) = (Data(3), 0);
        let e = with(&m, &|x| x.payload.volumes[2].size = 0);
        assert_eq!(
            e,
            F::VolumeSize {
                volume,
                size,
                first
            }
        );
        // Parity: as long as the stripes of the first volume, at most one per data volume.
        m.payload.parity = Some(Parity {
            scheme: ParityScheme::ReedSolomonGf16,
            stripe: 64,
            volumes: vec![vol(P(1), 100)],
        });
        m.check_consistency().unwrap();
        let e = with(&m, &|x| {
            x.payload.parity.as_mut().unwrap().volumes[0].size = 128
        });
        let (size, want) = (128, 100);
        assert_eq!(
            e,
            F::ParityVolume {
                index: 1,
                size,
                want
            }
        );
        let e = with(&m, &|x| x.payload.parity.as_mut().unwrap().stripe = 63);
        assert_eq!(e, F::ParityStripe { stripe: 63 });
        let e = with(&m, &|x| {
            let p = x.payload.parity.as_mut().unwrap();
            p.volumes = (1..=4).map(|i| vol(P(i), 100)).collect();
        });
        assert_eq!(e, F::ParityCount { parity: 4, data: 3 });
        assert_eq!(stripe_lengths(101, 50), [50, 50, 2]);
    }

    #[test]
    fn a_delta_names_its_bases_and_omits_only_what_it_does_not_carry() {
        let mut m = empty();
        let d = Sha256Digest::of(b"layer");
        m.delta = Some(Delta {
            bases: vec![DeltaBase {
                kind: BaseKind::Bundle,
                sha256: Sha256Digest::of(b"base"),
                hop: None,
            }],
            omitted: vec![Omitted {
                path: PayloadPath::Blob(d),
                size: 5,
                base: 0,
            }],
        });
        m.check_consistency().unwrap();
        let mut bad = m.clone();
        bad.delta.as_mut().unwrap().omitted[0].base = 1;
        let reason =
            |m: &BundleManifest| m.check_consistency().unwrap_err().format_error().cloned();
        let path = PayloadPath::Blob(d);
        let want = FormatError::OmittedBase {
            path,
            base: 1,
            bases: 1,
        };
        assert_eq!(reason(&bad), Some(want));
        let mut bad = m.clone();
        bad.delta.as_mut().unwrap().bases.clear();
        assert_eq!(reason(&bad), Some(FormatError::DeltaWithoutBases));
        let mut bad = m.clone();
        let path = PayloadPath::OciIndex;
        bad.delta.as_mut().unwrap().omitted[0].path = path;
        assert_eq!(
            reason(&bad),
            Some(FormatError::OmittedNotAddressed { path })
        );
        // Without a delta nothing may be left out: a blob must be in the payload.
        let mut full = empty();
        full.files = vec![FileRecord {
            name: "x".into(),
            target: SafeRelPath::new("bin/x").unwrap(),
            mode: Mode(0o755),
            sha256: d,
            size: 5,
            source: "x".into(),
            kind: None,
        }];
        let target = "bin/x".to_owned();
        let not_there = Box::new(FormatError::NotInPayload);
        let want = FormatError::FileCarried {
            target,
            reason: not_there,
        };
        assert_eq!(reason(&full), Some(want));
        let text = full.check_consistency().unwrap_err().to_string();
        assert!(text.ends_with("file bin/x: not in the payload"), "{text}");
        let mut delta = m.clone();
        delta.files = full.files.clone();
        delta.delta.as_mut().unwrap().omitted[0].path = PayloadPath::File(d);
        delta.check_consistency().unwrap();
    }

    #[test]
    fn mode_refuses_special_and_world_writable_bits() {
        assert_eq!("0755".parse::<Mode>().unwrap(), Mode(0o755));
        assert!("4755".parse::<Mode>().is_err());
        assert!("0777".parse::<Mode>().is_err());
        assert!("0666".parse::<Mode>().is_err());
        assert!("9".parse::<Mode>().is_err());
    }
}
