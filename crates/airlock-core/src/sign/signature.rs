//! Writing minisign signature files (prehashed `ED`, with a trusted comment): the one
//! place airlock makes a signature. What it writes, [`crate::trust::verify`] reads.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::Signer as _;

use super::SecretKey;
use crate::key_format::UNTRUSTED_PREFIX;
use crate::trust::minisign::{
    ALG_PREHASHED, SIGNATURE_BLOB_LEN, TRUSTED_PREFIX, UNTRUSTED_COMMENT, check_trusted_comment,
    global_message,
};
use crate::trust::{MessageDigest, TrustError};

/// Signs `data` and returns the whole `.minisig` file text (prehashed `ED`
/// algorithm, four `\n`-terminated lines).
///
/// Deterministic: the same key, data and comment give the same text. The
/// trusted comment must be one line of at most [`MAX_TRUSTED_COMMENT_BYTES`](crate::trust::MAX_TRUSTED_COMMENT_BYTES)
/// without control characters other than tab (minisign reads it as one C
/// string line).
pub fn sign(key: &SecretKey, data: &[u8], trusted_comment: &str) -> Result<String, TrustError> {
    sign_digest(key, &MessageDigest::of_bytes(data), trusted_comment)
}

/// [`sign`] for data already hashed with [`MessageDigest`].
pub fn sign_digest(
    key: &SecretKey,
    digest: &MessageDigest,
    trusted_comment: &str,
) -> Result<String, TrustError> {
    check_trusted_comment(trusted_comment)?;
    let signer = key.signing_key();
    let signature = signer.sign(digest.as_bytes()).to_bytes();

    let mut blob = Vec::with_capacity(SIGNATURE_BLOB_LEN);
    blob.extend_from_slice(&ALG_PREHASHED);
    blob.extend_from_slice(key.key_id().as_bytes());
    blob.extend_from_slice(&signature);

    let global = signer
        .sign(&global_message(&signature, trusted_comment))
        .to_bytes();
    Ok(format!(
        "{UNTRUSTED_PREFIX}{UNTRUSTED_COMMENT}\n{}\n{TRUSTED_PREFIX}{trusted_comment}\n{}\n",
        BASE64.encode(blob),
        BASE64.encode(global)
    ))
}
