//! Ed25519 key pairs: airlock's PKCS#8 secret key files and minisign public
//! key files.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use blake2::{Blake2b512, Digest};
use ed25519_dalek::pkcs8::DecodePrivateKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::{SigningKey, VerifyingKey};

use super::{
    PUBLIC_KEY_MAX_BYTES, PassphraseSource, TrustError, Zeroizing, read_limited, with_artifact,
};

/// minisign's algorithm tag in public keys (and legacy signatures).
pub(crate) const ALG_ED25519: [u8; 2] = *b"Ed";
pub(crate) const UNTRUSTED_PREFIX: &str = "untrusted comment: ";
/// "Ed" || key id || public key.
const PUBLIC_KEY_BLOB_LEN: usize = 2 + 8 + 32;

/// An 8-byte minisign key id, as stored in key and signature files.
///
/// Displays as minisign >= 0.12 prints it: the bytes read as a little-endian
/// u64, in 16 upper-case hex digits. minisign 0.11 prints the same number
/// without leading zeros; [`FromStr`] accepts both.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId([u8; 8]);

impl KeyId {
    /// The id as stored in files.
    pub const fn from_bytes(bytes: [u8; 8]) -> Self {
        Self(bytes)
    }

    /// The id as stored in files.
    pub const fn as_bytes(&self) -> &[u8; 8] {
        &self.0
    }

    /// The number minisign prints (little-endian), for comparing with
    /// minisign 0.11's unpadded output.
    pub const fn as_u64(&self) -> u64 {
        u64::from_le_bytes(self.0)
    }

    /// airlock's deterministic key id: the first 8 bytes of BLAKE2b-512 of
    /// the 32-byte public key. Deterministic so that the id printed for a key
    /// never depends on which tool or run produced the key file.
    pub fn derive(public_key: &[u8; 32]) -> Self {
        let digest = Blake2b512::digest(public_key);
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        Self(id)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016X}", self.as_u64())
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

impl FromStr for KeyId {
    type Err = TrustError;

    /// Parses 1 to 16 hex digits (either case), so that minisign 0.11's
    /// unpadded ids are accepted too.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let malformed = |reason: &str| TrustError::Malformed {
            artifact: format!("key id {s:?}"),
            reason: reason.to_owned(),
        };
        if s.is_empty() || s.len() > 16 {
            return Err(malformed("expected 1 to 16 hex digits"));
        }
        if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(malformed("not a hex number"));
        }
        let n = u64::from_str_radix(s, 16).map_err(|e| malformed(&e.to_string()))?;
        Ok(Self(n.to_le_bytes()))
    }
}

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
        PublicKey {
            key_id: self.key_id,
            key: self.signing.verifying_key(),
        }
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

    pub(super) fn from_signing_key(signing: SigningKey) -> Self {
        let key_id = KeyId::derive(signing.verifying_key().as_bytes());
        Self { signing, key_id }
    }
}

/// A trusted Ed25519 public key with its minisign key id.
///
/// Keys from minisign keep the (random) id in their file; keys from airlock
/// have the derived id.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    key_id: KeyId,
    key: VerifyingKey,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({} {})", self.key_id, self.to_base64())
    }
}

impl PublicKey {
    /// Parses a minisign public key file: exactly the two lines
    /// `untrusted comment: ...` and the base64 key (a final newline and
    /// CRLF line ends are allowed). Text over [`PUBLIC_KEY_MAX_BYTES`] is
    /// rejected unparsed.
    pub fn from_minisign(text: &str) -> Result<Self, TrustError> {
        const ARTIFACT: &str = "public key";
        let malformed = |reason: String| TrustError::Malformed {
            artifact: ARTIFACT.to_owned(),
            reason,
        };
        if text.len() > PUBLIC_KEY_MAX_BYTES {
            return Err(TrustError::TooLarge {
                artifact: ARTIFACT.to_owned(),
                limit: PUBLIC_KEY_MAX_BYTES as u64,
            });
        }
        let lines = split_lines(text, 2).map_err(malformed)?;
        if !lines[0].starts_with(UNTRUSTED_PREFIX) {
            return Err(malformed(format!(
                "line 1 does not start with {UNTRUSTED_PREFIX:?}"
            )));
        }
        Self::from_base64(lines[1])
    }

    /// Parses the base64 key alone (the second line of the file, or what
    /// `minisign -P` takes).
    pub fn from_base64(b64: &str) -> Result<Self, TrustError> {
        const ARTIFACT: &str = "public key";
        let malformed = |reason: String| TrustError::Malformed {
            artifact: ARTIFACT.to_owned(),
            reason,
        };
        let blob = decode_base64_exact::<PUBLIC_KEY_BLOB_LEN>(b64).map_err(malformed)?;
        if blob[..2] != ALG_ED25519 {
            return Err(TrustError::UnsupportedAlgorithm {
                artifact: ARTIFACT.to_owned(),
                found: String::from_utf8_lossy(&blob[..2]).into_owned(),
                expected: "Ed",
            });
        }
        let mut id = [0u8; 8];
        id.copy_from_slice(&blob[2..10]);
        let mut pk = [0u8; 32];
        pk.copy_from_slice(&blob[10..]);
        let key_id = KeyId(id);
        let invalid = |reason: &str| TrustError::InvalidKey {
            artifact: format!("public key {key_id}"),
            reason: reason.to_owned(),
        };
        let key =
            VerifyingKey::from_bytes(&pk).map_err(|_| invalid("not a valid Ed25519 point"))?;
        // A small-order key lets anyone forge signatures that verify.
        if key.is_weak() {
            return Err(invalid("weak (small-order) Ed25519 key"));
        }
        Ok(Self { key_id, key })
    }

    /// Loads a minisign public key file; errors name the path.
    pub fn load(path: &Path) -> Result<Self, TrustError> {
        // Zeroized: a secret key given here by mistake is read too.
        let bytes = Zeroizing::new(read_limited(path, PUBLIC_KEY_MAX_BYTES)?);
        let text = std::str::from_utf8(&bytes).map_err(|_| TrustError::Malformed {
            artifact: path.display().to_string(),
            reason: "not UTF-8 text".to_owned(),
        })?;
        Self::from_minisign(text).map_err(|e| {
            if super::minisign_key::looks_like_secret_key(text) {
                return TrustError::InvalidKey {
                    artifact: path.display().to_string(),
                    reason: "this is a secret key, not a public key: give its public key \
                             (KEY.pub) instead, and keep the secret key where it belongs"
                        .to_owned(),
                };
            }
            match with_artifact(e, path) {
                TrustError::Malformed { artifact, reason } => TrustError::Malformed {
                    artifact,
                    reason: format!(
                        "{reason}; a minisign public key file is two lines, \
                         \"untrusted comment: ...\" and the base64 key (KEY.pub)"
                    ),
                },
                other => other,
            }
        })
    }

    /// The public key file text, as minisign writes it (two lines, each
    /// ending in `\n`).
    pub fn to_minisign(&self) -> String {
        format!(
            "{UNTRUSTED_PREFIX}minisign public key {}\n{}\n",
            self.key_id,
            self.to_base64()
        )
    }

    /// The public key file text with a note in the untrusted comment (e.g. whether the
    /// secret key is passphrase-protected).
    pub fn to_minisign_with_note(&self, note: &str) -> String {
        format!(
            "{UNTRUSTED_PREFIX}minisign public key {} (airlock; secret key {note})\n{}\n",
            self.key_id,
            self.to_base64()
        )
    }

    /// The base64 key alone (what `minisign -P` takes).
    pub fn to_base64(&self) -> String {
        let mut blob = Vec::with_capacity(PUBLIC_KEY_BLOB_LEN);
        blob.extend_from_slice(&ALG_ED25519);
        blob.extend_from_slice(&self.key_id.0);
        blob.extend_from_slice(self.key.as_bytes());
        BASE64.encode(blob)
    }

    /// The key id from the key file.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The raw 32-byte Ed25519 public key.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.key.as_bytes()
    }

    pub(crate) fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }
}

/// Splits `text` into exactly `expected` lines. One final `\n` is optional
/// and one `\r` before each `\n` is dropped (as minisign does); anything else,
/// including blank lines, counts as a line.
pub(crate) fn split_lines(text: &str, expected: usize) -> Result<Vec<&str>, String> {
    let body = text.strip_suffix('\n').unwrap_or(text);
    let lines: Vec<&str> = body
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    if lines.len() != expected {
        return Err(format!(
            "expected exactly {expected} lines, found {}",
            lines.len()
        ));
    }
    Ok(lines)
}

/// Decodes canonical padded base64 that must be exactly `N` bytes.
pub(crate) fn decode_base64_exact<const N: usize>(b64: &str) -> Result<[u8; N], String> {
    // Check the length first so garbage is never decoded into a big buffer.
    let expected_len = N.div_ceil(3) * 4;
    if b64.len() != expected_len {
        return Err(format!(
            "base64 field is {} characters, expected {expected_len} ({N} bytes)",
            b64.len()
        ));
    }
    let bytes = BASE64
        .decode(b64)
        .map_err(|e| format!("invalid base64: {e}"))?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("base64 field decodes to {} bytes, expected {N}", b.len()))
}

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

    #[test]
    fn key_id_is_derived_from_public_key() {
        let key = SecretKey::generate().unwrap();
        let pk = key.public_key();
        let digest = Blake2b512::digest(pk.as_bytes());
        assert_eq!(key.key_id().as_bytes(), &digest[..8]);
        assert_eq!(pk.key_id(), key.key_id());
    }

    #[test]
    fn key_id_display_is_16_upper_hex_of_le_u64() {
        let id = KeyId::from_bytes([0xEC, 0x40, 0x9D, 0x1B, 0xA7, 0x90, 0x26, 0x03]);
        assert_eq!(id.to_string(), "032690A71B9D40EC");
        assert_eq!(id.as_u64(), 0x0326_90A7_1B9D_40EC);
        // Both the padded form and minisign 0.11's unpadded form parse.
        assert_eq!("032690A71B9D40EC".parse::<KeyId>().unwrap(), id);
        assert_eq!("32690a71b9d40ec".parse::<KeyId>().unwrap(), id);
        assert!("".parse::<KeyId>().is_err());
        assert!("+1".parse::<KeyId>().is_err());
        assert!("00000000000000000".parse::<KeyId>().is_err());
    }

    #[test]
    fn public_key_round_trip() {
        let key = SecretKey::generate().unwrap();
        let pk = key.public_key();
        let text = pk.to_minisign();
        assert_eq!(text.lines().count(), 2);
        assert!(text.starts_with(&format!(
            "untrusted comment: minisign public key {}\n",
            pk.key_id()
        )));
        assert_eq!(PublicKey::from_minisign(&text).unwrap(), pk);
        // No final newline and CRLF are accepted, as minisign does.
        assert_eq!(PublicKey::from_minisign(text.trim_end()).unwrap(), pk);
        assert_eq!(
            PublicKey::from_minisign(&text.replace('\n', "\r\n")).unwrap(),
            pk
        );
        assert_eq!(PublicKey::from_base64(&pk.to_base64()).unwrap(), pk);
    }

    #[test]
    fn public_key_rejects_bad_input() {
        let pk = SecretKey::generate().unwrap().public_key();
        let b64 = pk.to_base64();
        let malformed = |t: &str| {
            matches!(
                PublicKey::from_minisign(t),
                Err(TrustError::Malformed { .. })
            )
        };
        assert!(malformed(""));
        assert!(malformed(&b64));
        assert!(malformed(&format!("comment\n{b64}\n")));
        assert!(malformed(&format!("untrusted comment: x\n{b64}\nextra\n")));
        assert!(malformed(&format!("untrusted comment: x\n{b64}\n\n")));
        assert!(malformed(&format!(
            "untrusted comment: x\n{}\n",
            &b64[..b64.len() - 4]
        )));
        assert!(malformed(&format!(
            "untrusted comment: x\n{}!\n",
            &b64[..b64.len() - 1]
        )));
        // Wrong algorithm.
        let mut blob = BASE64.decode(&b64).unwrap();
        blob[1] = b'D';
        let text = format!("untrusted comment: x\n{}\n", BASE64.encode(&blob));
        assert!(matches!(
            PublicKey::from_minisign(&text),
            Err(TrustError::UnsupportedAlgorithm { .. })
        ));

        // Small-order point (the identity) is refused.
        let mut blob = BASE64.decode(&b64).unwrap();
        blob[10..].copy_from_slice(&{
            let mut id = [0u8; 32];
            id[0] = 1;
            id
        });
        let text = format!("untrusted comment: x\n{}\n", BASE64.encode(&blob));
        assert!(matches!(
            PublicKey::from_minisign(&text),
            Err(TrustError::InvalidKey { .. })
        ));

        // Oversize input is refused before parsing.
        let big = format!(
            "untrusted comment: {}\n{b64}\n",
            "x".repeat(PUBLIC_KEY_MAX_BYTES)
        );
        assert!(matches!(
            PublicKey::from_minisign(&big),
            Err(TrustError::TooLarge { .. })
        ));
    }

    #[test]
    fn public_key_load_names_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pub");
        std::fs::write(&path, "untrusted comment: x\nnot base64\n").unwrap();
        let err = PublicKey::load(&path).unwrap_err();
        assert!(matches!(err, TrustError::Malformed { .. }));
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );

        std::fs::write(&path, vec![b'a'; PUBLIC_KEY_MAX_BYTES + 1]).unwrap();
        let err = PublicKey::load(&path).unwrap_err();
        assert!(matches!(err, TrustError::TooLarge { .. }), "{err}");
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );

        let missing = dir.path().join("missing.pub");
        let err = PublicKey::load(&missing).unwrap_err();
        assert!(matches!(err, TrustError::Io { .. }));
        assert!(err.to_string().contains("missing.pub"), "{err}");
    }

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
