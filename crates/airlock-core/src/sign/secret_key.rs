//! airlock's Ed25519 secret key: made, encoded as PKCS#8 PEM (plain or encrypted), and
//! handed to [`super::sign`]. Nothing on the verify path holds one.

use std::fmt;

use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::DecodePrivateKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;

use crate::trust::{KeyId, PublicKey, TrustError, Zeroizing};

/// An Ed25519 secret key with its key id. Zeroized when dropped (by
/// ed25519-dalek); `Debug` shows only the key id.
pub struct SecretKey {
    signing: SigningKey,
    key_id: KeyId,
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl SecretKey {
    /// Generates a key from the operating system's random number generator.
    ///
    /// Returns an error rather than panicking if the OS generator fails.
    pub fn generate() -> Result<Self, TrustError> {
        use rand::TryRng as _;
        let mut seed = Zeroizing::new([0u8; 32]);
        rand::rngs::SysRng
            .try_fill_bytes(seed.as_mut())
            .map_err(|e| TrustError::Random {
                reason: e.to_string(),
            })?;
        Ok(Self::from_signing_key(SigningKey::from_bytes(&seed)))
    }

    /// Parses a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`) Ed25519 key, as
    /// written by [`SecretKey::to_pkcs8_pem`] or `openssl genpkey -algorithm ed25519`.
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, TrustError> {
        let signing = SigningKey::from_pkcs8_pem(pem).map_err(|e| TrustError::InvalidKey {
            artifact: "secret key PEM".to_owned(),
            reason: format!("not a PKCS#8 PEM Ed25519 private key: {e}"),
        })?;
        Ok(Self::from_signing_key(signing))
    }

    /// The key as PKCS#8 v1 PEM text (RFC 8410 `OneAsymmetricKey` version 1, no
    /// public key), in a buffer that is zeroized when dropped.
    ///
    /// Version 1 because it is what OpenSSL 3.0 (`openssl pkey`) and
    /// python-cryptography read: keys must be inspectable, backed up into an HSM
    /// and usable by other tools. Version 2 (with the public key), which older
    /// airlock wrote, is still read.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, TrustError> {
        use ed25519_dalek::pkcs8::{EncodePrivateKey as _, KeypairBytes};
        let v1 = KeypairBytes {
            secret_key: self.signing.to_bytes(),
            public_key: None,
        };
        v1.to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| TrustError::InvalidKey {
                artifact: format!("secret key {}", self.key_id),
                reason: format!("cannot encode as PKCS#8 PEM: {e}"),
            })
    }

    /// The matching public key, with airlock's derived key id.
    pub fn public_key(&self) -> PublicKey {
        PublicKey::from_parts(self.key_id, self.signing.verifying_key())
    }

    /// airlock's derived key id ([`KeyId::derive`]).
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// A key with an id given by its file (minisign keys carry a random id).
    pub(crate) fn with_key_id(signing: SigningKey, key_id: KeyId) -> Self {
        Self { signing, key_id }
    }

    /// The key as encrypted PKCS#8 PEM (`-----BEGIN ENCRYPTED PRIVATE KEY-----`): PBES2 with
    /// scrypt (log2 N = 15, r = 8, p = 1) and AES-256-CBC, which `openssl pkey` reads with
    /// the passphrase.
    pub fn to_encrypted_pem(&self, passphrase: &str) -> Result<Zeroizing<String>, TrustError> {
        use ed25519_dalek::pkcs8::{EncodePrivateKey as _, KeypairBytes};
        let v1 = KeypairBytes {
            secret_key: self.signing.to_bytes(),
            public_key: None,
        };
        v1.to_pkcs8_encrypted_pem(passphrase, LineEnding::LF)
            .map_err(|e| TrustError::InvalidKey {
                artifact: format!("secret key {}", self.key_id),
                reason: format!("cannot encrypt as PKCS#8: {e}"),
            })
    }

    pub(crate) fn from_signing_key(signing: SigningKey) -> Self {
        let key_id = KeyId::derive(signing.verifying_key().as_bytes());
        Self { signing, key_id }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_key_pem_round_trip() {
        let key = SecretKey::generate().unwrap();
        let pem = key.to_pkcs8_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let back = SecretKey::from_pkcs8_pem(&pem).unwrap();
        assert_eq!(back.key_id(), key.key_id());
        assert_eq!(back.public_key(), key.public_key());
        assert!(matches!(
            SecretKey::from_pkcs8_pem(
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
            ),
            Err(TrustError::InvalidKey { .. })
        ));
        // Debug never shows the secret.
        let dbg = format!("{key:?}");
        assert!(
            dbg.contains(&key.key_id().to_string()) && !dbg.contains(&pem[30..60]),
            "{dbg}"
        );
    }

    #[test]
    fn secret_key_is_pkcs8_v1_that_openssl_reads_and_v2_still_loads() {
        use ed25519_dalek::pkcs8::EncodePrivateKey as _;
        let key = SecretKey::generate().unwrap();
        let pem = key.to_pkcs8_pem().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pem");
        std::fs::write(&path, pem.as_bytes()).unwrap();
        // OpenSSL 3 refuses PKCS#8 v2 Ed25519 keys; v1 must load and give our public key.
        let out = std::process::Command::new("openssl")
            .args(["pkey", "-in"])
            .arg(&path)
            .args(["-pubout", "-outform", "DER"])
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl pkey refused the key: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout.ends_with(key.public_key().as_bytes()));
        // A v2 key (as airlock 0.1 wrote it) still loads.
        let v2 = key.signing_key().to_pkcs8_pem(LineEnding::LF).unwrap();
        assert_ne!(v2.as_str(), pem.as_str());
        assert_eq!(
            SecretKey::from_pkcs8_pem(&v2).unwrap().key_id(),
            key.key_id()
        );
    }
}
