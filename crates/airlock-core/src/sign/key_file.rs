//! Secret key files as a person hands them over: airlock's PKCS#8 PEM (plain or
//! encrypted) or minisign's own secret key file, told apart by their first line.

use std::path::Path;

use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::DecodePrivateKey;
use pkcs8::der::{Decode as _, SecretDocument};
use pkcs8::{EncryptedPrivateKeyInfoRef, pkcs5};

use super::kdf_limits::KdfError;
use super::{
    PassphraseSource, SECRET_KEY_MAX_BYTES, TrustError, Zeroizing, kdf_limits, read_limited,
    with_artifact,
};
use super::{PublicKey, SecretKey};

/// Loads airlock's PKCS#8 PEM secret key file; errors name the path. A key file
/// readable by group or others is loaded with a warning.
pub fn load_secret_key(path: &Path) -> Result<SecretKey, TrustError> {
    load_secret_key_with(path, &PassphraseSource::default())
}

/// [`load_secret_key`] with the passphrase (if the key is encrypted) from `source`.
/// Reads airlock's PKCS#8 keys (plain or encrypted) and minisign's own secret key files.
pub fn load_secret_key_with(
    path: &Path,
    source: &PassphraseSource,
) -> Result<SecretKey, TrustError> {
    let bytes = Zeroizing::new(read_limited(path, SECRET_KEY_MAX_BYTES)?);
    let invalid = |reason: &str| TrustError::InvalidKey {
        artifact: path.display().to_string(),
        reason: reason.to_owned(),
    };
    let pem = std::str::from_utf8(&bytes)
        .map_err(|_| invalid("not UTF-8 text (expected a PKCS#8 PEM private key)"))?;
    // Said first: a public key is not a secret key whatever its permissions.
    if PublicKey::from_minisign(pem).is_ok() {
        return Err(invalid(
            "this is a public key (minisign .pub); give the secret key (.key) that pairs with it",
        ));
    }
    warn_if_exposed(path);
    let what = format!("secret key {}", path.display());
    if crate::key_format::is_minisign_secret_key(pem) {
        return super::minisign_key::parse(pem, &what, source);
    }
    if pem
        .trim_start()
        .starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    {
        return decrypt_pkcs8(pem, path, &what, source);
    }
    SecretKey::from_pkcs8_pem(pem).map_err(|e| with_artifact(e, path))
}

/// A key file readable by group or others is loaded but logged as a warning: refusing
/// would break keys kept on filesystems without Unix permissions, and the key has
/// already been exposed anyway.
fn warn_if_exposed(path: &Path) {
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format_args!("{:o}", mode & 0o777),
                "secret key file is readable by group or others; chmod 600 it"
            );
        }
    }
}

/// Decrypt an encrypted PKCS#8 PEM key, after checking its PBES2 parameters against
/// [`kdf_limits`] (before any passphrase is asked for or anything derived).
fn decrypt_pkcs8(
    pem: &str,
    path: &Path,
    what: &str,
    source: &PassphraseSource,
) -> Result<SecretKey, TrustError> {
    let invalid = |reason: String| TrustError::InvalidKey {
        artifact: path.display().to_string(),
        reason,
    };
    let (_, doc) = SecretDocument::from_pem(pem)
        .map_err(|e| invalid(format!("not an encrypted PKCS#8 PEM key: {e}")))?;
    let info = EncryptedPrivateKeyInfoRef::from_der(doc.as_bytes())
        .map_err(|e| invalid(format!("not an encrypted PKCS#8 key: {e}")))?;
    check_pbes2(&info.encryption_algorithm).map_err(|r| invalid(format!("{r}; not derived")))?;
    let pass = source.get(what, false)?;
    let plain = info
        .decrypt(pass.as_bytes())
        .map_err(|e| invalid(format!("cannot decrypt (wrong passphrase?): {e}")))?;
    let signing = SigningKey::from_pkcs8_der(plain.as_bytes())
        .map_err(|e| invalid(format!("not an Ed25519 PKCS#8 key: {e}")))?;
    Ok(SecretKey::from_signing_key(signing))
}

/// The key derivation a PBES2 key asks for, within [`kdf_limits`].
fn check_pbes2(scheme: &pkcs5::EncryptionScheme) -> Result<(), KdfError> {
    let pkcs5::EncryptionScheme::Pbes2(params) = scheme else {
        return Err(KdfError::Pbes1);
    };
    kdf_limits::check_key_length(params.kdf.key_length())?;
    match &params.kdf {
        pkcs5::pbes2::Kdf::Pbkdf2(p) => kdf_limits::check_pbkdf2(p.iteration_count),
        pkcs5::pbes2::Kdf::Scrypt(p) => {
            let n = p.cost_parameter;
            if !n.is_power_of_two() {
                return Err(KdfError::ScryptNotPowerOfTwo { n });
            }
            // A power of two below 2^64 has fewer than 64 trailing zeros.
            let log_n = n.trailing_zeros() as u8;
            kdf_limits::check_scrypt(log_n, p.block_size.into(), p.parallelization.into())
        }
        _ => Err(KdfError::UnknownKdf),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_secret_key_errors_name_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.key");
        std::fs::write(&path, "not a key").unwrap();
        let err = load_secret_key(&path).unwrap_err();
        assert!(matches!(err, TrustError::InvalidKey { .. }), "{err}");
        assert!(err.to_string().contains("bad.key"), "{err}");
    }
}
