//! What can go wrong with keys and signatures, in one type the rest of the crate wraps.

use std::fmt;
use std::path::PathBuf;

use crate::escape::Untrusted;
use crate::key_format::KeyId;

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
    #[error("{}: already exists; refusing to overwrite it (give --force to replace it)", path.display())]
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

    // RFC 3161 timestamps (issue 24)
    /// A timestamp (`.tsr`) cannot be parsed as an RFC 3161 response and token.
    #[error("{artifact}: malformed RFC 3161 timestamp: {reason}")]
    TimestampMalformed {
        /// The timestamp file (or "timestamp").
        artifact: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The timestamp's message imprint is not the hash of the signature file beside it.
    #[error(
        "{artifact}: the timestamp is for another signature (its message imprint is not the \
         hash of this signature file)"
    )]
    TimestampImprint {
        /// The timestamp file.
        artifact: String,
    },

    /// The TSA certificate does not chain to a TSA the policy lists.
    #[error("{artifact}: timestamp from an unlisted TSA: {reason}")]
    TimestampUnlistedTsa {
        /// The timestamp file.
        artifact: String,
        /// Which certificate and why.
        reason: String,
    },

    /// genTime lies outside the validity of a certificate in the TSA's chain.
    #[error("{artifact}: timestamp outside the TSA certificate's validity: {reason}")]
    TimestampCertValidity {
        /// The timestamp file.
        artifact: String,
        /// genTime, the certificate and its validity (one string: the enum stays small).
        reason: String,
    },

    /// The token's CMS signature (or a signed attribute) does not verify.
    #[error("{artifact}: timestamp signature does not verify: {reason}")]
    TimestampSignature {
        /// The timestamp file.
        artifact: String,
        /// Why.
        reason: String,
    },

    /// The token uses an algorithm airlock does not accept.
    #[error(
        "{artifact}: timestamp uses {algorithm}, which is not accepted (RSA PKCS#1 v1.5, ECDSA \
         P-256/P-384 and Ed25519 with SHA-256/384/512 are)"
    )]
    TimestampAlgorithm {
        /// The timestamp file.
        artifact: String,
        /// The algorithm found.
        algorithm: String,
    },

    /// The token names a TSA policy OID the trust policy does not allow for that TSA.
    #[error("{artifact}: timestamp under a TSA policy the trust policy does not allow: {reason}")]
    TimestampPolicy {
        /// The timestamp file.
        artifact: String,
        /// The OID found and the TSA's name in the policy.
        reason: String,
    },

    /// The Sigstore trusted root a bundle's upstream evidence was checked against (or the
    /// one given to check it) is not the one the trust policy pins.
    #[error(
        "{}: sha256 {found} is not the Sigstore trusted root the trust policy pins ({pinned}); \
         if Sigstore rotated it, pin the new one with a signed policy update \
         (airlock-verify policy pin-trusted-root)",
        Untrusted(root)
    )]
    TrustedRootNotPinned {
        /// The trusted root: `provenance/trusted_root.json` or the file given.
        root: String,
        /// Its sha256.
        found: crate::digest::Sha256Digest,
        /// The policy's `provenance_trusted_root`.
        pinned: crate::digest::Sha256Digest,
    },

    /// The TSA did not grant the request.
    #[error("{artifact}: the TSA did not grant a timestamp: {status}")]
    TimestampNotGranted {
        /// The timestamp (or the TSA's URL).
        artifact: String,
        /// The status and text it gave.
        status: String,
    },

    /// The TSA's answer carries another nonce than the request: not the answer to it.
    #[error(
        "{artifact}: the TSA's answer does not carry the request's nonce (a replayed or foreign answer)"
    )]
    TimestampNonce {
        /// The TSA's URL or "timestamp".
        artifact: String,
    },

    // PKCS#11 tokens (issue 24). Each names the key's URI (as given, a `pin-value` never
    // accepted), never the PIN; all are the operator's input or environment: exit 4.
    /// A `pkcs11:` URI cannot be used (RFC 7512 syntax, an attribute airlock does not take).
    #[error("PKCS#11 URI {uri}: {reason}")]
    TokenUri {
        /// The URI (a refused `pin-value` is not shown).
        uri: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The PKCS#11 module cannot be loaded or is not trusted to be loaded.
    #[error("PKCS#11 module for {uri}: {reason}")]
    TokenModule {
        /// The key's URI.
        uri: String,
        /// Why (path refused, dlopen failed, C_Initialize failed).
        reason: String,
    },

    /// No token, or more than one, matches the URI.
    #[error("PKCS#11 token for {uri}: {reason}")]
    TokenNotFound {
        /// The key's URI.
        uri: String,
        /// What was found instead.
        reason: String,
    },

    /// The PIN is missing, wrong or locked.
    #[error("PKCS#11 token for {uri}: PIN refused: {reason}")]
    TokenPin {
        /// The key's URI.
        uri: String,
        /// The token's answer (`CKR_PIN_INCORRECT`, ...) or where no PIN came from.
        reason: String,
    },

    /// The key object the URI names is missing, ambiguous or lacks its public half.
    #[error("PKCS#11 key {uri}: {reason}")]
    TokenObjectMissing {
        /// The key's URI.
        uri: String,
        /// What was (not) found.
        reason: String,
    },

    /// The token or the key cannot make Ed25519 signatures (key type, curve, mechanism).
    #[error("PKCS#11 key {uri}: cannot sign Ed25519: {reason}")]
    TokenMechanism {
        /// The key's URI.
        uri: String,
        /// What the token lacks.
        reason: String,
    },

    /// Any other failure of the token, or a signature that does not verify with the
    /// token's own public key (caught before anything is written).
    #[error("PKCS#11 key {uri}: {reason}")]
    Token {
        /// The key's URI.
        uri: String,
        /// The operation and the token's answer.
        reason: String,
    },
}

impl TrustError {
    /// The exit code (docs/cli.md): 3 only when a bundle, policy update or signature
    /// cannot be trusted; a key file, passphrase or key set the operator gave is invalid
    /// input (4), so scripts do not mistake a typo for an attack.
    pub fn exit_code(&self) -> u8 {
        match self {
            TrustError::LegacySignature { .. }
            | TrustError::UnknownKey { .. }
            | TrustError::BadSignature { .. }
            | TrustError::BadTrustedComment { .. }
            | TrustError::DuplicateSigner { .. }
            | TrustError::ThresholdNotMet { .. }
            | TrustError::PolicyNotMet { .. }
            | TrustError::PolicyUpdate { .. }
            | TrustError::TimestampMalformed { .. }
            | TrustError::TimestampImprint { .. }
            | TrustError::TimestampUnlistedTsa { .. }
            | TrustError::TimestampCertValidity { .. }
            | TrustError::TimestampSignature { .. }
            | TrustError::TimestampAlgorithm { .. }
            | TrustError::TimestampPolicy { .. }
            | TrustError::TrustedRootNotPinned { .. } => 3,
            // An answer the TSA gave the connected side (not a bundle's content).
            TrustError::TimestampNotGranted { .. } | TrustError::TimestampNonce { .. } => 4,
            TrustError::InvalidThreshold { .. } => 2,
            TrustError::Random { .. } => 1,
            // Signature files are parsed inside the evaluation and reported there, so a
            // parse error that reaches the top is about a key or passphrase file.
            TrustError::Io { .. }
            | TrustError::TooLarge { .. }
            | TrustError::Malformed { .. }
            | TrustError::UnsupportedAlgorithm { .. }
            | TrustError::InvalidKey { .. }
            | TrustError::InvalidTrustedComment { .. }
            | TrustError::AlreadyExists { .. }
            | TrustError::InvalidPath { .. }
            | TrustError::AmbiguousTrustedKeys { .. } => 4,
            // PKCS#11 tokens (issue 24): a key problem, never an untrusted bundle.
            TrustError::TokenUri { .. }
            | TrustError::TokenModule { .. }
            | TrustError::TokenNotFound { .. }
            | TrustError::TokenPin { .. }
            | TrustError::TokenObjectMissing { .. }
            | TrustError::TokenMechanism { .. }
            | TrustError::Token { .. } => 4,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// 3 is only for what cannot be trusted; a key file or key set the operator gave is
    /// invalid input (issue 21).
    #[test]
    fn only_untrusted_signatures_exit_3() {
        let id = KeyId::from_bytes([1; 8]);
        let untrusted = [
            TrustError::BadSignature { key_id: id },
            TrustError::UnknownKey {
                key_id: id,
                trusted: 1,
            },
            TrustError::PolicyNotMet {
                missing: "1 more".into(),
                details: String::new(),
            },
        ];
        for e in &untrusted {
            assert_eq!(e.exit_code(), 3, "{e}");
        }
        let input = [
            TrustError::InvalidKey {
                artifact: "k.key".into(),
                reason: "wrong passphrase".into(),
            },
            TrustError::Malformed {
                artifact: "k.pub".into(),
                reason: "x".into(),
            },
            TrustError::Io {
                path: "k.pub".into(),
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            },
        ];
        for e in &input {
            assert_eq!(e.exit_code(), 4, "{e}");
        }
    }
}
