//! Secret key files as a person hands them over: airlock's PKCS#8 PEM (plain or
//! encrypted) or minisign's own secret key file, told apart by their first line.

use std::path::Path;

use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::DecodePrivateKey;

use super::keys::SecretKey;
use super::{
    PassphraseSource, SECRET_KEY_MAX_BYTES, TrustError, Zeroizing, read_limited, with_artifact,
};

/// Loads airlock's PKCS#8 PEM secret key file; errors name the path.
///
/// A key file readable by group or others is loaded but logged as a warning
/// (`tracing::warn!`): refusing would break keys kept on filesystems without
/// Unix permissions, and the key has already been exposed anyway.
pub fn load_secret_key(path: &Path) -> Result<SecretKey, TrustError> {
    load_secret_key_with(path, &PassphraseSource::default())
}

/// [`load_secret_key`] with the passphrase (if the key is encrypted) from `source`.
/// Reads airlock's PKCS#8 keys (plain or encrypted) and minisign's own secret key files.
pub fn load_secret_key_with(
    path: &Path,
    source: &PassphraseSource,
) -> Result<SecretKey, TrustError> {
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
    let bytes = Zeroizing::new(read_limited(path, SECRET_KEY_MAX_BYTES)?);
    let pem = std::str::from_utf8(&bytes).map_err(|_| TrustError::InvalidKey {
        artifact: path.display().to_string(),
        reason: "not UTF-8 text (expected a PKCS#8 PEM private key)".to_owned(),
    })?;
    let what = format!("secret key {}", path.display());
    if super::minisign_key::is_minisign_secret_key(pem) {
        return super::minisign_key::parse(pem, &what, source);
    }
    if pem
        .trim_start()
        .starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    {
        let pass = source.get(&what, false)?;
        let signing = SigningKey::from_pkcs8_encrypted_pem(pem, pass.as_bytes()).map_err(|e| {
            TrustError::InvalidKey {
                artifact: path.display().to_string(),
                reason: format!("cannot decrypt (wrong passphrase?): {e}"),
            }
        })?;
        return Ok(SecretKey::from_signing_key(signing));
    }
    SecretKey::from_pkcs8_pem(pem).map_err(|e| with_artifact(e, path))
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
