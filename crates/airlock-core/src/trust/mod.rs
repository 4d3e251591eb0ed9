//! Keys and detached signatures in minisign's format.
//!
//! airlock signs bundles with Ed25519 and writes the signatures as minisign
//! `.minisig` files, so that an operator on the far side of the air gap can
//! check a bundle with the stock `minisign -V` tool as well as with
//! `airlock-verify`, and so that keys made with `minisign -G` can be trusted by
//! airlock.
//!
//! What is compatible and what is airlock's own:
//!
//! * Public keys are minisign public key files (`Ed` || key id || key).
//! * Signatures are minisign's prehashed `ED` signatures (Ed25519 over
//!   BLAKE2b-512 of the file) with a trusted comment. Legacy `Ed` signatures
//!   (over the raw file) are rejected: they need the whole file in memory and
//!   minisign itself has deprecated them.
//! * airlock's secret key file is PKCS#8 PEM, not minisign's scrypt-encrypted
//!   format; protect it with file permissions (it is written with mode 0600).
//! * minisign picks a random key id; airlock derives it: the first 8 bytes of
//!   BLAKE2b-512 of the 32-byte public key ([`KeyId::derive`]), so the same
//!   key always has the same id. Keys made by minisign keep their random id.
//! * [`KeyId`] displays as 16 upper-case hex digits of the little-endian u64,
//!   as minisign >= 0.12 prints it. minisign 0.11 (Debian/Ubuntu) prints the
//!   same number without leading zeros (`%lX`), so for one key in sixteen its
//!   text is shorter; compare ids as numbers ([`KeyId::as_u64`]) or parse
//!   either form with `str::parse::<KeyId>()`.
//!
//! Every input parsed here is untrusted: signature files are limited to
//! [`SIGNATURE_MAX_BYTES`] and public key files to [`PUBLIC_KEY_MAX_BYTES`]
//! before any parsing, and verification always uses `verify_strict`.

pub mod comment;
pub(crate) mod keys;
pub(crate) mod minisign;
pub mod policy;
pub mod timestamp;

use std::io::Read;
use std::path::Path;

pub use crate::error::TrustError;
pub use crate::key_format::{KeyId, KeyIdError};
pub use keys::PublicKey;
pub use minisign::{
    MAX_TRUSTED_COMMENT_BYTES, MessageDigest, ThresholdOutcome, VerifiedSignature,
    read_signature_file, verify, verify_digest, verify_threshold, verify_threshold_digest,
};

/// Re-exported so callers can name the type that holds secret PEM text
/// without depending on `zeroize` themselves.
pub use ed25519_dalek::pkcs8::spki::der::zeroize::Zeroizing;

/// Largest signature file accepted; a real one is about 300 bytes.
pub const SIGNATURE_MAX_BYTES: usize = 4096;
/// Largest public key file accepted; a real one is about 110 bytes.
pub const PUBLIC_KEY_MAX_BYTES: usize = 1024;
/// Largest secret key file accepted; a PKCS#8 PEM Ed25519 key is about 120 bytes.
pub const SECRET_KEY_MAX_BYTES: usize = 16 * 1024;

/// Reads at most `limit` bytes of `path`; refuses a bigger file without
/// reading all of it, and anything that is not a regular file (a FIFO or a
/// device would block or never end) without reading it at all.
pub(crate) fn read_limited(path: &Path, limit: usize) -> Result<Vec<u8>, TrustError> {
    let io_err = |source| TrustError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = crate::fsutil::open_regular_io(path).map_err(io_err)?;
    let mut buf = Vec::new();
    file.take(limit as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(io_err)?;
    if buf.len() > limit {
        return Err(TrustError::TooLarge {
            artifact: path.display().to_string(),
            limit: limit as u64,
        });
    }
    Ok(buf)
}

/// Replaces the generic artifact name of a parse error with the file's path,
/// so errors from `load` functions name the file.
pub(crate) fn with_artifact(err: TrustError, path: &Path) -> TrustError {
    let name = path.display().to_string();
    match err {
        TrustError::TooLarge { limit, .. } => TrustError::TooLarge {
            artifact: name,
            limit,
        },
        TrustError::Malformed { reason, .. } => TrustError::Malformed {
            artifact: name,
            reason,
        },
        TrustError::UnsupportedAlgorithm {
            found, expected, ..
        } => TrustError::UnsupportedAlgorithm {
            artifact: name,
            found,
            expected,
        },
        TrustError::InvalidKey { reason, .. } => TrustError::InvalidKey {
            artifact: name,
            reason,
        },
        other => other,
    }
}
