//! `airlock keygen` / `airlock-verify keygen`: a new key pair written to disk, the secret
//! half at mode 0600, each file renamed into place only when complete.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{PassphraseSource, SecretKey};
use crate::trust::{KeyId, TrustError};

/// How a new secret key is protected at rest.
#[derive(Debug, Clone)]
pub enum Protection {
    /// Encrypted with a passphrase from this source (the default).
    Passphrase(PassphraseSource),
    /// Not encrypted (`--no-passphrase`, for automation); the public key file says so.
    None,
}

/// Where [`write_keypair`] put the new key pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPairPaths {
    /// `PREFIX.key`, PKCS#8 PEM, mode 0600.
    pub secret_key: PathBuf,
    /// `PREFIX.pub`, minisign public key file.
    pub public_key: PathBuf,
    /// The new key's id.
    pub key_id: KeyId,
}

/// Generates a key pair and writes `PREFIX.key` (PKCS#8 PEM, mode 0600) and
/// `PREFIX.pub` (minisign format, mode 0644).
///
/// Refuses if either file exists unless `force`. Each file is written and
/// synced under a temporary name in the same directory and then renamed into
/// place, so a crash never leaves a partly written key. Without `force` the
/// rename refuses to replace a file created meanwhile, and if the second
/// rename fails the first file is removed again. With `force`, a failure
/// between the two renames can leave the new `.key` beside the old `.pub`.
pub fn write_keypair(
    out_prefix: &Path,
    force: bool,
    protection: &Protection,
) -> Result<KeyPairPaths, TrustError> {
    if out_prefix.file_name().is_none() || out_prefix.as_os_str().to_string_lossy().ends_with('/') {
        return Err(TrustError::InvalidPath {
            path: out_prefix.to_path_buf(),
            reason: "key prefix must end in a file name (e.g. keys/release)".to_owned(),
        });
    }
    let with_ext = |ext: &str| {
        let mut s = out_prefix.as_os_str().to_owned();
        s.push(ext);
        PathBuf::from(s)
    };
    let sk_path = with_ext(".key");
    let pk_path = with_ext(".pub");
    if !force {
        for p in [&sk_path, &pk_path] {
            // symlink_metadata: a dangling symlink also counts as existing.
            if std::fs::symlink_metadata(p).is_ok() {
                return Err(TrustError::AlreadyExists { path: p.clone() });
            }
        }
    }
    let dir = match out_prefix.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };

    let key = SecretKey::generate()?;
    let (pem, note) = match protection {
        Protection::Passphrase(src) => {
            let pass = src.get(&format!("new key {}", sk_path.display()), true)?;
            (key.to_encrypted_pem(&pass)?, "passphrase-protected")
        }
        Protection::None => (key.to_pkcs8_pem()?, "NOT passphrase-protected"),
    };
    let pub_text = key.public_key().to_minisign_with_note(note);

    let sk_tmp = write_temp(&dir, pem.as_bytes(), 0o600)?;
    let pk_tmp = write_temp(&dir, pub_text.as_bytes(), 0o644)?;

    persist(sk_tmp, &sk_path, force)?;
    if let Err(e) = persist(pk_tmp, &pk_path, force) {
        if !force {
            // We created the .key just now; don't leave half a pair behind.
            let _ = std::fs::remove_file(&sk_path);
        }
        return Err(e);
    }
    sync_dir(&dir)?;
    Ok(KeyPairPaths {
        secret_key: sk_path,
        public_key: pk_path,
        key_id: key.key_id(),
    })
}

/// `airlock keygen --pkcs11 URI`: generates an Ed25519 key pair on the token the URI
/// names (the private half never leaves it) and writes only `PREFIX.pub` (minisign
/// format). Refuses an existing `.pub` unless `force`, and a label or id already on the
/// token always. Returns the `.pub` path and the key id.
pub fn write_token_keypair(
    uri: &str,
    out_prefix: &Path,
    force: bool,
    pin: &PassphraseSource,
) -> Result<(PathBuf, KeyId), TrustError> {
    let parsed = super::Pkcs11Uri::parse(uri)?;
    let mut pk_path = out_prefix.as_os_str().to_owned();
    pk_path.push(".pub");
    let pk_path = PathBuf::from(pk_path);
    if out_prefix.file_name().is_none() {
        return Err(TrustError::InvalidPath {
            path: out_prefix.to_path_buf(),
            reason: "key prefix must end in a file name (e.g. keys/release)".to_owned(),
        });
    }
    if !force && std::fs::symlink_metadata(&pk_path).is_ok() {
        return Err(TrustError::AlreadyExists { path: pk_path });
    }
    let dir = match out_prefix.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let public = generate_on_token(&parsed, pin)?;
    // The note names the key, not how to reach the module (a local path).
    let path_part = parsed.to_string();
    let path_part = path_part.split('?').next().unwrap_or_default();
    let text = public.to_minisign_with_note(&format!("on PKCS#11 token: {path_part}"));
    persist(write_temp(&dir, text.as_bytes(), 0o644)?, &pk_path, force)?;
    sync_dir(&dir)?;
    Ok((pk_path, public.key_id()))
}

#[cfg(feature = "pkcs11")]
fn generate_on_token(
    uri: &super::Pkcs11Uri,
    pin: &PassphraseSource,
) -> Result<crate::trust::PublicKey, TrustError> {
    super::pkcs11::generate(uri, pin)
}

#[cfg(not(feature = "pkcs11"))]
fn generate_on_token(
    uri: &super::Pkcs11Uri,
    _: &PassphraseSource,
) -> Result<crate::trust::PublicKey, TrustError> {
    Err(TrustError::TokenModule {
        uri: uri.to_string(),
        reason: "this build has no PKCS#11 support (built without the `pkcs11` feature, \
                 as the static verifier is); use the packaged binary"
            .into(),
    })
}

fn write_temp(
    dir: &Path,
    contents: &[u8],
    mode: u32,
) -> Result<tempfile::NamedTempFile, TrustError> {
    let io_err = |source| TrustError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".airlock-keygen-").suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        // Created with the final mode, so the secret is never world-readable.
        builder.permissions(std::fs::Permissions::from_mode(mode));
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut tmp = builder.tempfile_in(dir).map_err(io_err)?;
    let tmp_path = tmp.path().to_path_buf();
    let tmp_err = |source| TrustError::Io {
        path: tmp_path.clone(),
        source,
    };
    tmp.write_all(contents).map_err(tmp_err)?;
    tmp.as_file().sync_all().map_err(tmp_err)?;
    Ok(tmp)
}

fn persist(tmp: tempfile::NamedTempFile, dest: &Path, force: bool) -> Result<(), TrustError> {
    let result = if force {
        tmp.persist(dest)
    } else {
        tmp.persist_noclobber(dest)
    };
    match result {
        Ok(_) => Ok(()),
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(TrustError::AlreadyExists {
                path: dest.to_path_buf(),
            })
        }
        Err(e) => Err(TrustError::Io {
            path: dest.to_path_buf(),
            source: e.error,
        }),
    }
}

/// Makes the renames durable.
fn sync_dir(dir: &Path) -> Result<(), TrustError> {
    #[cfg(unix)]
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| TrustError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::PublicKey;

    #[test]
    fn write_keypair_writes_loadable_files_and_refuses_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("release");
        let paths = write_keypair(&prefix, false, &Protection::None).unwrap();
        assert_eq!(paths.secret_key, dir.path().join("release.key"));
        assert_eq!(paths.public_key, dir.path().join("release.pub"));

        let sk = SecretKey::from_pkcs8_pem(&std::fs::read_to_string(&paths.secret_key).unwrap())
            .unwrap();
        let pk = PublicKey::load(&paths.public_key).unwrap();
        assert_eq!(sk.public_key(), pk);
        assert_eq!(pk.key_id(), paths.key_id);

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&paths.secret_key), 0o600);
            assert_eq!(mode(&paths.public_key), 0o644);
        }

        let before = std::fs::read(&paths.secret_key).unwrap();
        let err = write_keypair(&prefix, false, &Protection::None).unwrap_err();
        assert!(matches!(err, TrustError::AlreadyExists { .. }), "{err}");
        assert_eq!(std::fs::read(&paths.secret_key).unwrap(), before);

        // Only the .pub existing also blocks.
        std::fs::remove_file(&paths.secret_key).unwrap();
        let err = write_keypair(&prefix, false, &Protection::None).unwrap_err();
        assert!(matches!(err, TrustError::AlreadyExists { ref path } if path == &paths.public_key));
        assert!(!paths.secret_key.exists());

        let again = write_keypair(&prefix, true, &Protection::None).unwrap();
        assert_ne!(again.key_id, paths.key_id);
        let pk2 = PublicKey::load(&again.public_key).unwrap();
        assert_eq!(
            SecretKey::from_pkcs8_pem(&std::fs::read_to_string(&again.secret_key).unwrap())
                .unwrap()
                .public_key(),
            pk2
        );

        // No temporary files are left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");

        assert!(matches!(
            write_keypair(&dir.path().join("sub/"), false, &Protection::None),
            Err(TrustError::InvalidPath { .. })
        ));
        assert!(matches!(
            write_keypair(&dir.path().join("nodir/key"), false, &Protection::None),
            Err(TrustError::Io { .. })
        ));
    }
}
