//! Why the payload stream was refused: what the one pass over the compressed tar found
//! that the signed manifest does not say. File-level reasons are reported on the payload
//! file, entry-level ones on `payload.tar.zst entry NAME`.

use crate::digest::Sha256Digest;
use crate::layout::PayloadPath;

/// One way the payload differs from its manifest (or could not be read to tell).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// Reading, decompressing or a reader thread failed at `stage`.
    #[error("{stage}: {reason}")]
    Stage {
        /// `read`, `zstd`, `start reader thread`, `decoder thread`, `padding`, ...
        stage: &'static str,
        /// The underlying reason.
        reason: String,
    },
    /// A read of the stream failed, or an entry's content differs (the reader's reason).
    #[error("{reason}")]
    Stream {
        /// The reason.
        reason: String,
    },
    /// The tar stream could not be read after `after` entries.
    #[error("tar stream after {after} entries: {reason}")]
    TarRead {
        /// Entries read.
        after: usize,
        /// The reason.
        reason: String,
    },
    /// The tar stream could not be read after the last entry.
    #[error("tar stream after the last entry: {reason}")]
    TarReadEnd {
        /// The reason.
        reason: String,
    },
    /// The compressed file is not the manifest's size.
    #[error("{found} bytes long, the manifest says {declared}")]
    FileSize {
        /// Bytes read.
        found: u64,
        /// `payload.size`.
        declared: u64,
    },
    /// The compressed file's digest is not the manifest's.
    #[error("{what} {} differs from the manifest's {}", found.hex(), declared.hex())]
    FileDigest {
        /// `sha256` or `structure digest`.
        what: &'static str,
        /// What the file hashes to.
        found: Sha256Digest,
        /// The manifest's.
        declared: Sha256Digest,
    },
    /// The stream ends before a listed entry.
    #[error("entry {path} is missing (payload ends after {after} of {entries} entries)")]
    EntryMissing {
        /// The entry expected next.
        path: PayloadPath,
        /// Entries read.
        after: usize,
        /// Entries listed.
        entries: usize,
    },
    /// An entry after the last listed one.
    #[error("entry {name} is not in the manifest (extra entry)")]
    ExtraEntry {
        /// Its name, escaped for display.
        name: String,
    },
    /// No end-of-archive marker.
    #[error("the tar stream ends without its end-of-archive marker")]
    NoEndMarker,
    /// Non-zero bytes after the end-of-archive marker.
    #[error("data after the end of the tar archive")]
    DataAfterArchive,
    /// The decoded stream is not `payload.tar_size` long.
    #[error("tar stream is {found} bytes, the manifest says {declared}")]
    TarSize {
        /// Bytes decoded.
        found: u64,
        /// `payload.tar_size`.
        declared: u64,
    },
    /// The canonical header for an entry cannot be made.
    #[error("header for {path}: {reason}")]
    HeaderFor {
        /// The entry.
        path: PayloadPath,
        /// Why.
        reason: String,
    },
    /// An entry that is not a regular file.
    #[error(
        "type {found} is not a regular file (links, devices, directories and extension \
         headers are refused)"
    )]
    EntryType {
        /// The tar entry type, as tar names it.
        found: String,
    },
    /// A listed entry in the wrong place (or twice).
    #[error("out of order or duplicated; expected {expected} here")]
    EntryOrder {
        /// The entry expected here.
        expected: PayloadPath,
    },
    /// An entry the manifest does not list.
    #[error("is not in the manifest; expected {expected} here")]
    EntryUnlisted {
        /// The entry expected here.
        expected: PayloadPath,
    },
    /// An entry header whose size is not the manifest's.
    #[error("size {found} differs from the manifest's {declared}")]
    EntrySize {
        /// The header's size.
        found: u64,
        /// The manifest's.
        declared: u64,
    },
    /// An entry header that differs in mode, owner, time or format.
    #[error("header is not the canonical one airlock writes (mode, owner, time or format differ)")]
    EntryHeader,
    /// Non-zero padding after an entry's content.
    #[error("the padding after the content is not zero")]
    Padding,
}
