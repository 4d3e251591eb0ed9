//! What can make a signature: a secret key in memory ([`SecretKey`]) or a key that never
//! leaves a PKCS#11 token (`TokenKey`, feature `pkcs11`). [`super::sign`] takes either and
//! checks every signature with the signer's public key before it is written.

use std::os::unix::ffi::OsStrExt as _;
use std::path::Path;

use ed25519_dalek::Signer as _;

use super::{PassphraseSource, SecretKey};
use crate::trust::{KeyId, PublicKey, TrustError};

/// An Ed25519 signer. `sign_raw` signs `msg` with pure Ed25519 (RFC 8032, no prehash):
/// minisign's `ED` hashes on the host and signs the 64-byte digest, so the signer sees
/// at most a digest or `signature || trusted comment`.
pub trait Signer: Send + Sync {
    /// The public key, with the key id signatures carry.
    fn public_key(&self) -> PublicKey;
    /// The Ed25519 signature of `msg`.
    fn sign_raw(&self, msg: &[u8]) -> Result<[u8; 64], TrustError>;
    /// What to call the key in a message (a path or a `pkcs11:` URI, never a secret).
    fn describe(&self) -> String;
    /// The key id signatures carry.
    fn key_id(&self) -> KeyId {
        self.public_key().key_id()
    }
}

impl Signer for SecretKey {
    fn public_key(&self) -> PublicKey {
        SecretKey::public_key(self)
    }
    fn sign_raw(&self, msg: &[u8]) -> Result<[u8; 64], TrustError> {
        Ok(self.signing_key().sign(msg).to_bytes())
    }
    fn describe(&self) -> String {
        format!("secret key {}", SecretKey::key_id(self))
    }
}

impl<T: Signer + ?Sized> Signer for &T {
    fn public_key(&self) -> PublicKey {
        (**self).public_key()
    }
    fn sign_raw(&self, msg: &[u8]) -> Result<[u8; 64], TrustError> {
        (**self).sign_raw(msg)
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
}

impl<T: Signer + ?Sized> Signer for Box<T> {
    fn public_key(&self) -> PublicKey {
        (**self).public_key()
    }
    fn sign_raw(&self, msg: &[u8]) -> Result<[u8; 64], TrustError> {
        (**self).sign_raw(msg)
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
}

/// Where the secrets a signing key needs come from: the passphrase of an encrypted key
/// file, the PIN of a token.
#[derive(Debug, Clone, Default)]
pub struct KeySecrets {
    /// `--passphrase-file` (else `AIRLOCK_PASSPHRASE`, else a prompt).
    pub passphrase: PassphraseSource,
    /// `--pin-file` (else the URI's `pin-source`, else `AIRLOCK_PKCS11_PIN`, else a prompt).
    pub pin: PassphraseSource,
}

/// The prefix that makes a `--key` a token key rather than a file.
pub const PKCS11_PREFIX: &str = "pkcs11:";

/// Opens the key `spec` names (a `--key` argument): a `pkcs11:` URI (RFC 7512) for a key
/// on a token, else a secret key file ([`super::load_secret_key_with`]). A file whose
/// name starts with `pkcs11:` is reached as `./pkcs11:...`.
pub fn open_signer(spec: &Path, secrets: &KeySecrets) -> Result<Box<dyn Signer>, TrustError> {
    if spec
        .as_os_str()
        .as_bytes()
        .starts_with(PKCS11_PREFIX.as_bytes())
    {
        let text = spec.to_str().ok_or_else(|| TrustError::TokenUri {
            uri: spec.to_string_lossy().into_owned(),
            reason: "not UTF-8 (percent-encode other bytes)".into(),
        })?;
        return open_token_key(text, secrets);
    }
    Ok(Box::new(super::load_secret_key_with(
        spec,
        &secrets.passphrase,
    )?))
}

#[cfg(feature = "pkcs11")]
fn open_token_key(spec: &str, secrets: &KeySecrets) -> Result<Box<dyn Signer>, TrustError> {
    let uri = super::Pkcs11Uri::parse(spec)?;
    Ok(Box::new(super::pkcs11::TokenKey::open(&uri, &secrets.pin)?))
}

#[cfg(not(feature = "pkcs11"))]
fn open_token_key(spec: &str, _: &KeySecrets) -> Result<Box<dyn Signer>, TrustError> {
    Err(TrustError::TokenModule {
        uri: super::pkcs11_uri::redacted(spec),
        reason: "this build has no PKCS#11 support (built without the `pkcs11` feature, \
                 as the static verifier is); use the packaged binary"
            .into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uri_opens_a_token_key_or_says_this_build_cannot() {
        let spec = Path::new("pkcs11:token=t;object=k?pin-value=2468&module-path=/nonexistent");
        let Err(err) = open_signer(spec, &KeySecrets::default()) else {
            panic!("a pin-value URI opened");
        };
        let text = err.to_string();
        assert!(!text.contains("2468"), "{text}");
        assert_eq!(err.exit_code(), 4);
        if cfg!(feature = "pkcs11") {
            assert!(matches!(err, TrustError::TokenUri { .. }), "{err:?}");
        } else {
            assert!(text.contains("no PKCS#11 support"), "{text}");
        }
        // Anything else is a key file.
        let missing = open_signer(Path::new("/nonexistent/k.key"), &KeySecrets::default());
        assert!(
            matches!(missing, Err(TrustError::Io { .. })),
            "a missing key file opened"
        );
    }
}
