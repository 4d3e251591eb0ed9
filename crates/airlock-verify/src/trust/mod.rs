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
mod keys;
mod minisign;
mod minisign_key;
mod passphrase;
pub mod policy;

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

pub use keys::{
    KeyId, KeyPairPaths, Protection, PublicKey, SecretKey, load_secret_key, load_secret_key_with,
    write_keypair,
};
pub use minisign::{
    MAX_TRUSTED_COMMENT_BYTES, MessageDigest, ThresholdOutcome, VerifiedSignature,
    read_signature_file, sign, sign_digest, verify, verify_digest, verify_threshold,
    verify_threshold_digest,
};
pub use passphrase::{PASSPHRASE_ENV, PassphraseSource};

/// Re-exported so callers can name the type that holds secret PEM text
/// without depending on `zeroize` themselves.
pub use ed25519_dalek::pkcs8::spki::der::zeroize::Zeroizing;

/// Largest signature file accepted; a real one is about 300 bytes.
pub const SIGNATURE_MAX_BYTES: usize = 4096;
/// Largest public key file accepted; a real one is about 110 bytes.
pub const PUBLIC_KEY_MAX_BYTES: usize = 1024;
/// Largest secret key file accepted; a PKCS#8 PEM Ed25519 key is about 120 bytes.
pub const SECRET_KEY_MAX_BYTES: usize = 16 * 1024;

/// Everything that can go wrong with keys and signatures.
///
/// Each variant's message starts with the artifact it is about (a path, a
/// "signature from key ...", the trusted key set, ...) followed by the reason,
/// so that it can be shown to an operator as is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// Reading or writing a file failed.
    #[error("{}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// An untrusted input is larger than its limit; it was not parsed.
    #[error("{artifact}: more than the {limit}-byte limit; not parsed")]
    TooLarge {
        /// The input (a path, or "signature file", "public key", ...).
        artifact: String,
        /// The limit in bytes.
        limit: u64,
    },

    /// The input does not follow the minisign file format.
    #[error("{artifact}: malformed: {reason}")]
    Malformed {
        /// The input (a path, or "signature file", "public key", ...).
        artifact: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A signature uses minisign's legacy `Ed` algorithm (Ed25519 over the
    /// raw file), which airlock does not accept.
    #[error(
        "signature from key {key_id}: legacy minisign algorithm \"Ed\" (signature over the raw \
         file) is not accepted; sign with the prehashed \"ED\" algorithm instead (minisign's \
         default since 0.10; do not pass -l)"
    )]
    LegacySignature {
        /// The key id in the signature.
        key_id: KeyId,
    },

    /// A signature or key names an algorithm other than Ed25519.
    #[error("{artifact}: unsupported algorithm {found:?}, expected {expected:?}")]
    UnsupportedAlgorithm {
        /// The input.
        artifact: String,
        /// The two algorithm bytes found, shown lossily.
        found: String,
        /// The algorithm expected.
        expected: &'static str,
    },

    /// Key material is not a usable Ed25519 key.
    #[error("{artifact}: invalid key: {reason}")]
    InvalidKey {
        /// The key (a path, "public key", "secret key PEM", ...).
        artifact: String,
        /// Why it cannot be used.
        reason: String,
    },

    /// A signature was made by a key that is not trusted.
    #[error("signature from key {key_id}: key is not one of the {trusted} trusted public key(s)")]
    UnknownKey {
        /// The key id in the signature.
        key_id: KeyId,
        /// How many keys were trusted.
        trusted: usize,
    },

    /// The signature over the data does not verify: the data (or the
    /// signature) was modified, or it was signed by another key with the same id.
    #[error(
        "signature from key {key_id}: does not match the signed data (data modified, \
         signature corrupt, or made for other data)"
    )]
    BadSignature {
        /// The key id in the signature.
        key_id: KeyId,
    },

    /// The global signature does not cover the trusted comment: the trusted
    /// comment (or the last line) was modified.
    #[error(
        "signature from key {key_id}: trusted comment does not match its global signature \
         (trusted comment modified)"
    )]
    BadTrustedComment {
        /// The key id in the signature.
        key_id: KeyId,
    },

    /// The same key signed more than once; it counts once toward a threshold.
    #[error(
        "signature from key {key_id}: duplicate; this key already counted toward the threshold"
    )]
    DuplicateSigner {
        /// The key id in the signature.
        key_id: KeyId,
    },

    /// A trusted comment given for signing cannot be written.
    #[error("trusted comment {comment:?}: {reason}")]
    InvalidTrustedComment {
        /// The comment, truncated to 80 characters.
        comment: String,
        /// Why it is refused.
        reason: String,
    },

    /// A file that should be created already exists.
    #[error("{}: already exists; refusing to overwrite it without force", path.display())]
    AlreadyExists {
        /// The existing file.
        path: PathBuf,
    },

    /// A path cannot be used as asked.
    #[error("{}: {reason}", path.display())]
    InvalidPath {
        /// The path.
        path: PathBuf,
        /// Why.
        reason: String,
    },

    /// The set of trusted keys is ambiguous, so counting signers by key
    /// would be unsound (one signer could be counted twice).
    #[error("trusted keys: key {key_id}: {reason}")]
    AmbiguousTrustedKeys {
        /// The key id involved.
        key_id: KeyId,
        /// What is ambiguous.
        reason: String,
    },

    /// The threshold asked for cannot be used.
    #[error("signature threshold {threshold}: {reason}")]
    InvalidThreshold {
        /// The threshold asked for.
        threshold: usize,
        /// Why it is refused.
        reason: String,
    },

    /// Fewer distinct trusted keys signed than the threshold requires.
    #[error("{}", ThresholdNotMetDisplay { threshold: *threshold, valid, rejected })]
    ThresholdNotMet {
        /// Signatures required.
        threshold: usize,
        /// Distinct keys with a valid signature.
        valid: Vec<KeyId>,
        /// Each rejected signature (its name) and why.
        rejected: Vec<(String, TrustError)>,
    },

    /// The signatures do not meet the trust policy.
    #[error("signatures do not meet the trust policy: {missing}{details}")]
    PolicyNotMet {
        /// What is still needed (`1 more change-board`).
        missing: String,
        /// One line per rule and per signature not counted.
        details: String,
    },

    /// A new trust policy cannot be accepted.
    #[error("policy update refused: {reason}")]
    PolicyUpdate {
        /// Why.
        reason: String,
    },

    /// The operating system's random number generator failed.
    #[error("generating a key: the operating system random number generator failed: {reason}")]
    Random {
        /// The error reported.
        reason: String,
    },
}

/// Formats the threshold failure with one line per rejected signature, so an
/// operator sees every reason at once.
struct ThresholdNotMetDisplay<'a> {
    threshold: usize,
    valid: &'a [KeyId],
    rejected: &'a [(String, TrustError)],
}

impl fmt::Display for ThresholdNotMetDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "signatures: {} valid signature(s) from distinct trusted keys, {} required",
            self.valid.len(),
            self.threshold
        )?;
        if !self.valid.is_empty() {
            let ids: Vec<String> = self.valid.iter().map(KeyId::to_string).collect();
            write!(f, " (valid: {})", ids.join(", "))?;
        }
        if self.rejected.is_empty() {
            write!(f, "; no other signatures")?;
        }
        for (name, err) in self.rejected {
            write!(f, "\n  {name}: rejected: {err}")?;
        }
        Ok(())
    }
}

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
