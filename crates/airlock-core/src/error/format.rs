//! Why a manifest is inconsistent, as values: each check of
//! [`BundleManifest::check_consistency`](crate::manifest::BundleManifest::check_consistency) says
//! what it found, with the path and the declared and found values, so callers and tests
//! match variants rather than text. It travels as the reason of the bundle verification
//! error (exit 3), whose message reads as before.

use crate::digest::Sha256Digest;
use crate::escape::Untrusted;
use crate::layout::{
    DocPath, FileKind, MAX_PARITY_STRIPE, MAX_VOLUMES, PACKAGES_DIR, PAYLOAD_FILE, PayloadPath,
    VolumeName,
};
use crate::paths::{STATE_DIR, SafeRelPath};
use crate::time::Timestamp;

/// What each section's checker returns.
pub(crate) type Checked<T = ()> = std::result::Result<T, FormatError>;

/// One way a signed manifest disagrees with itself. Text from the bundle is escaped when
/// shown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// `payload.file` is not the one payload name.
    #[error("payload file {} is not {PAYLOAD_FILE}", Untrusted(found))]
    PayloadFile {
        /// The name declared.
        found: String,
    },
    /// A document is listed twice.
    #[error("document {path} is listed twice")]
    DocumentTwice {
        /// The document.
        path: DocPath,
    },
    /// A document's media type is not its path's.
    #[error("document {path}: media type {} is not {}", Untrusted(found), path.media_type())]
    DocumentMediaType {
        /// The document.
        path: DocPath,
        /// The media type declared.
        found: String,
    },
    /// A content-addressed entry whose name is not its sha256.
    #[error("entry {path}: name does not match its sha256")]
    EntryName {
        /// The entry.
        path: PayloadPath,
    },
    /// An entry is listed twice.
    #[error("entry {path} is listed twice")]
    EntryTwice {
        /// The entry.
        path: PayloadPath,
    },
    /// The entries' sizes add up past `u64`.
    #[error("entry sizes overflow")]
    EntrySizesOverflow,
    /// `payload.tar_size` is not what the entries make.
    #[error("payload tar_size {declared} differs from the {found} bytes its entries make")]
    TarSize {
        /// `payload.tar_size`.
        declared: u64,
        /// What the entries make.
        found: u64,
    },
    /// An image name is listed twice.
    #[error("image {} is listed twice", Untrusted(name))]
    ImageTwice {
        /// The image.
        name: String,
    },
    /// A blob or manifest an image carries is not what the payload holds.
    #[error("image {}: {digest}: {reason}", Untrusted(image))]
    ImageCarried {
        /// The image.
        image: String,
        /// The blob or manifest.
        digest: Sha256Digest,
        /// What is wrong with it.
        reason: Box<FormatError>,
    },
    /// An image's `served_as` does not describe what it serves.
    #[error("image {}: {reason}", Untrusted(image))]
    ServedAs {
        /// The image.
        image: String,
        /// What `served_as` says and what is served instead.
        reason: &'static str,
    },
    /// A manifest's media type is not a manifest type, or not its entry's.
    #[error(
        "media type {} is not a manifest type matching its entry's {}",
        Untrusted(declared),
        Untrusted(found)
    )]
    ManifestMediaType {
        /// The media type the image declares.
        declared: String,
        /// The payload entry's.
        found: String,
    },
    /// A blob or file is neither a payload entry nor (in a delta) omitted.
    #[error("not in the payload")]
    NotInPayload,
    /// A blob or file's size is not its payload entry's.
    #[error("size {declared} differs from its payload entry's {found}")]
    Size {
        /// The size declared where it is used.
        declared: u64,
        /// The payload entry's (or the omitted record's).
        found: u64,
    },
    /// A file's content is not what the payload holds.
    #[error("file {target}: {reason}")]
    FileCarried {
        /// The file's target.
        target: String,
        /// What is wrong with it.
        reason: Box<FormatError>,
    },
    /// A file targets airlock's own state directory.
    #[error("file {target}: {STATE_DIR} is reserved for airlock's own state")]
    FileReserved {
        /// The file's target.
        target: String,
    },
    /// A file target is listed twice.
    #[error("file target {target} is listed twice")]
    FileTwice {
        /// The target.
        target: String,
    },
    /// A file target is also a directory other targets need.
    #[error("file target {target} is a file but {other} needs it to be a directory")]
    FileIsDirectory {
        /// The target.
        target: String,
        /// A target below it.
        other: String,
    },
    /// Parity volumes without data volumes.
    #[error("parity volumes without data volumes")]
    ParityWithoutData,
    /// More volumes than a bundle may have.
    #[error("more than {MAX_VOLUMES} volumes")]
    TooManyVolumes,
    /// A data volume not named in order.
    #[error("volume {index} is named {found}")]
    VolumeName {
        /// Its place, from 1.
        index: usize,
        /// Its name.
        found: VolumeName,
    },
    /// A data volume empty, or not the first one's size (all but the last must be).
    #[error(
        "volume {volume}: size {size} (every volume but the last is {first} bytes, none empty)"
    )]
    VolumeSize {
        /// The volume.
        volume: VolumeName,
        /// Its size.
        size: u64,
        /// The first volume's.
        first: u64,
    },
    /// The volumes' sizes add up past `u64`.
    #[error("volume sizes overflow")]
    VolumeSizesOverflow,
    /// The last volume is larger than the first.
    #[error("the last volume is larger than the first")]
    LastVolumeLarger,
    /// The volumes do not add up to the payload.
    #[error("volumes add up to {found} bytes, the payload is {declared}")]
    VolumesTotal {
        /// What they add up to.
        found: u64,
        /// `payload.size`.
        declared: u64,
    },
    /// A parity stripe that is zero, odd or too large.
    #[error("parity stripe {stripe} is not an even number of bytes up to {MAX_PARITY_STRIPE}")]
    ParityStripe {
        /// The stripe declared.
        stripe: u64,
    },
    /// No parity volumes, or more than data volumes.
    #[error("{parity} parity volumes for {data} data volumes (1 to as many as data volumes)")]
    ParityCount {
        /// Parity volumes.
        parity: usize,
        /// Data volumes.
        data: usize,
    },
    /// A parity volume misnamed or not the stripes' length.
    #[error("parity volume {index} ({size} bytes) is not {} of {want} bytes", VolumeName::Parity(*index as u32))]
    ParityVolume {
        /// Its place, from 1.
        index: usize,
        /// Its size.
        size: u64,
        /// The stripes' length.
        want: u64,
    },
    /// A delta that names no base.
    #[error("a delta without bases")]
    DeltaWithoutBases,
    /// Omitted paths not sorted, or one twice.
    #[error("omitted {path} is out of order or listed twice")]
    OmittedOrder {
        /// The omitted path.
        path: PayloadPath,
    },
    /// An omitted path that is not content-addressed.
    #[error("omitted {path} is not content-addressed")]
    OmittedNotAddressed {
        /// The omitted path.
        path: PayloadPath,
    },
    /// An omitted path names a base the delta does not list.
    #[error("omitted {path} names base {base} of {bases}")]
    OmittedBase {
        /// The omitted path.
        path: PayloadPath,
        /// The base it names.
        base: usize,
        /// How many bases there are.
        bases: usize,
    },
    /// A path both omitted and carried.
    #[error("{path} is both omitted and in the payload")]
    OmittedAndCarried {
        /// The path.
        path: PayloadPath,
    },
    /// `expires` is not after `not_before`.
    #[error("expires {expires} is not after not_before {not_before}")]
    Window {
        /// `not_before`.
        not_before: Timestamp,
        /// `expires`.
        expires: Timestamp,
    },
    /// A channel without a sequence, or a sequence without a channel.
    #[error("channel and sequence go together")]
    ChannelWithoutSequence,
    /// A channel name outside its alphabet or length.
    #[error("channel {} must be 1-64 of A-Z a-z 0-9 . _ -", Untrusted(channel))]
    Channel {
        /// The channel.
        channel: String,
    },
    /// A checklist step id is listed twice.
    #[error("checklist step {} is listed twice", Untrusted(id))]
    StepTwice {
        /// The step id.
        id: String,
    },
    /// A package repository's directory is not below `packages/`.
    #[error("package repository {dir}: its directory must be below {PACKAGES_DIR}/")]
    RepositoryDir {
        /// Its directory.
        dir: SafeRelPath,
    },
    /// A package repository is listed twice.
    #[error("package repository {dir} is listed twice")]
    RepositoryTwice {
        /// Its directory.
        dir: SafeRelPath,
    },
    /// A package repository's source is not an http(s) URL.
    #[error(
        "package repository {dir}: source {} is not an http(s) URL",
        Untrusted(url)
    )]
    RepositorySource {
        /// Its directory.
        dir: SafeRelPath,
        /// The source declared (not named `source`, which thiserror takes for a cause).
        url: String,
    },
    /// A package repository's `signed_by` is not a key fingerprint.
    #[error(
        "package repository {dir}: signed_by {} is not a key fingerprint",
        Untrusted(signed_by)
    )]
    RepositorySignedBy {
        /// Its directory.
        dir: SafeRelPath,
        /// The fingerprint declared.
        signed_by: String,
    },
    /// A package repository inside another.
    #[error("package repository {dir} contains another repository")]
    RepositoryNested {
        /// The outer repository's directory.
        dir: String,
    },
    /// A package file below no repository's directory.
    #[error("file {target} of kind {kind} is not below a package repository's directory")]
    PackageFileOutside {
        /// The file's target.
        target: SafeRelPath,
        /// Its kind.
        kind: FileKind,
    },
    /// A package name, version or architecture that is not a plain token.
    #[error(
        "package repository {dir}: {} is not a package name, version or architecture",
        Untrusted(token)
    )]
    PackageToken {
        /// The repository's directory.
        dir: SafeRelPath,
        /// The name, version or architecture.
        token: String,
    },
    /// A carried package without its `package` file.
    #[error(
        "package repository {dir}: package {name} {version} has no file of kind package at {target}"
    )]
    PackageWithoutFile {
        /// The repository's directory.
        dir: SafeRelPath,
        /// The package's name.
        name: String,
        /// Its version.
        version: String,
        /// Where its file should be.
        target: SafeRelPath,
    },
    /// A provenance entry that does not fit the manifest.
    #[error("provenance of {}: {reason}", Untrusted(artifact))]
    Provenance {
        /// The image reference or file URL the entry names.
        artifact: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The catch-up schedule disagrees with itself or with the hop.
    #[error("schedule: {}", Untrusted(reason))]
    Schedule {
        /// What disagrees.
        reason: String,
    },
}
