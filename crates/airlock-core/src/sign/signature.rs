//! Writing minisign signature files (prehashed `ED`, with a trusted comment): the one
//! place airlock makes a signature. What it writes, [`crate::trust::verify`] reads.

use super::Signer;
use crate::key_format::UNTRUSTED_PREFIX;
use crate::trust::minisign::{
    ALG_PREHASHED, SIGNATURE_BLOB_LEN, TRUSTED_PREFIX, UNTRUSTED_COMMENT, check_trusted_comment,
    global_message,
};
use crate::trust::{MessageDigest, PublicKey, TrustError};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

/// Signs `data` and returns the whole `.minisig` file text (prehashed `ED`
/// algorithm, four `\n`-terminated lines).
///
/// Deterministic: the same key, data and comment give the same text. The
/// trusted comment must be one line of at most [`MAX_TRUSTED_COMMENT_BYTES`](crate::trust::MAX_TRUSTED_COMMENT_BYTES)
/// without control characters other than tab (minisign reads it as one C
/// string line).
pub fn sign(key: &dyn Signer, data: &[u8], trusted_comment: &str) -> Result<String, TrustError> {
    sign_digest(key, &MessageDigest::of_bytes(data), trusted_comment)
}

/// [`sign`] for data already hashed with [`MessageDigest`].
///
/// Both signatures are checked (`verify_strict`) with the signer's public key before the
/// text is returned: a token that signed with another key, or Ed25519ph, is caught here,
/// not in the enclave.
pub fn sign_digest(
    key: &dyn Signer,
    digest: &MessageDigest,
    trusted_comment: &str,
) -> Result<String, TrustError> {
    check_trusted_comment(trusted_comment)?;
    let public = key.public_key();
    let signature = signed_checked(key, &public, digest.as_bytes())?;

    let mut blob = Vec::with_capacity(SIGNATURE_BLOB_LEN);
    blob.extend_from_slice(&ALG_PREHASHED);
    blob.extend_from_slice(public.key_id().as_bytes());
    blob.extend_from_slice(&signature);

    let global = signed_checked(key, &public, &global_message(&signature, trusted_comment))?;
    Ok(format!(
        "{UNTRUSTED_PREFIX}{UNTRUSTED_COMMENT}\n{}\n{TRUSTED_PREFIX}{trusted_comment}\n{}\n",
        BASE64.encode(blob),
        BASE64.encode(global)
    ))
}

/// `key`'s signature of `msg`, refused unless it verifies with `public`.
fn signed_checked(
    key: &dyn Signer,
    public: &PublicKey,
    msg: &[u8],
) -> Result<[u8; 64], TrustError> {
    let sig = key.sign_raw(msg)?;
    public
        .verifying_key()
        .verify_strict(msg, &ed25519_dalek::Signature::from_bytes(&sig))
        .map_err(|_| TrustError::Token {
            uri: key.describe(),
            reason: format!(
                "its signature does not verify with its public key {} (another key, or \
                 Ed25519ph instead of pure Ed25519); nothing was written",
                public.key_id()
            ),
        })?;
    Ok(sig)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::SecretKey;

    /// A signer whose public key is not the key it signs with (a token that picked
    /// another object, say).
    struct Mismatched(SecretKey, SecretKey);

    impl Signer for Mismatched {
        fn public_key(&self) -> PublicKey {
            self.0.public_key()
        }
        fn sign_raw(&self, msg: &[u8]) -> Result<[u8; 64], TrustError> {
            Signer::sign_raw(&self.1, msg)
        }
        fn describe(&self) -> String {
            "pkcs11:object=mismatched".into()
        }
    }

    #[test]
    fn a_signer_that_signs_with_another_key_is_caught_before_writing() {
        let s = Mismatched(
            SecretKey::generate().unwrap(),
            SecretKey::generate().unwrap(),
        );
        let err = sign(&s, b"data", "comment").unwrap_err();
        assert!(matches!(err, TrustError::Token { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("pkcs11:object=mismatched") && text.contains("does not verify"));
        assert_eq!(err.exit_code(), 4);
        // The same key on both sides signs.
        let one = SecretKey::generate().unwrap();
        assert!(sign(&one, b"data", "comment").is_ok());
    }
}
