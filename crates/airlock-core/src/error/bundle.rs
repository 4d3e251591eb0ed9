//! Why a bundle's files around the payload were refused: its signature files, its
//! checksum list, its signed documents, its payload file or volumes as files, and its
//! change window. Each is reported on the file it is about.

use crate::digest::Sha256Digest;

/// One way a bundle's files differ from what its signed manifest says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// A file of the bundle cannot be read (missing, unreadable, too large).
    #[error("{reason}")]
    Unreadable {
        /// The reason.
        reason: String,
    },
    /// The signatures directory cannot be listed.
    #[error("cannot list signatures: {reason}")]
    SignaturesUnlisted {
        /// The reason.
        reason: String,
    },
    /// A signature file that is not a regular file.
    #[error("is {kind}, not a regular file")]
    NotRegular {
        /// What it is (`a directory`, `a symbolic link`, ...).
        kind: &'static str,
    },
    /// More signature files than a bundle may have.
    #[error("more than {max} signature files")]
    TooManySignatures {
        /// The bound.
        max: usize,
    },
    /// A signature file that is not UTF-8.
    #[error("signature file is not UTF-8")]
    SignatureNotUtf8,
    /// No signature files at all.
    #[error("no signature files (*.minisig)")]
    NoSignatures,
    /// `SHA256SUMS` is not the one the manifest makes.
    #[error("does not match the signed manifest")]
    SumsMismatch,
    /// A document the manifest does not list.
    #[error("the bundle does not carry this document")]
    DocumentNotCarried,
    /// A document larger than the reader accepts.
    #[error("larger than {limit} bytes")]
    DocumentTooLarge {
        /// The bound.
        limit: u64,
    },
    /// A document whose bytes are not the manifest's. Reading stops one byte past the
    /// declared size, so a longer file is shown as "more than" that.
    #[error(
        "does not match the signed manifest: expected {declared_size} bytes with sha256 {}, \
         found {}",
        declared_sha256.hex(),
        found_text(*found_size, found_sha256, *declared_size)
    )]
    DocumentMismatch {
        /// The manifest's size.
        declared_size: u64,
        /// The manifest's sha256.
        declared_sha256: Sha256Digest,
        /// Bytes found.
        found_size: u64,
        /// What they hash to.
        found_sha256: Sha256Digest,
    },
    /// The payload file is not the manifest's size.
    #[error("size {found} bytes differs from the manifest's {declared} (truncated or extended)")]
    PayloadSize {
        /// Its size.
        found: u64,
        /// `payload.size`.
        declared: u64,
    },
    /// Payload volumes that are damaged, missing or from elsewhere.
    #[error(
        "{} of {total} volume(s) damaged: {}{}",
        damaged.len(),
        damaged.join("; "),
        if *repairable {
            "; the parity volumes can rebuild them: run `airlock-verify repair` on the \
             bundle (it verifies what it rebuilds), then verify again"
        } else {
            ""
        }
    )]
    VolumesDamaged {
        /// Each damaged volume and what is wrong with it.
        damaged: Vec<String>,
        /// Volumes listed.
        total: usize,
        /// Whether the bundle's parity volumes are enough to rebuild them.
        repairable: bool,
    },
    /// Outside the change window (and not accepted for recovery).
    #[error("the bundle is {problem}; --allow-expired accepts it for recovery, on record")]
    OutsideWindow {
        /// `not valid before ...` or `expired at ...`, with the time now.
        problem: String,
    },
}

/// What a mismatching document was found to be.
fn found_text(size: u64, sha256: &Sha256Digest, declared: u64) -> String {
    if size > declared {
        return format!("more than {declared} bytes");
    }
    format!("{size} bytes with sha256 {}", sha256.hex())
}
