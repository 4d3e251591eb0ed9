//! Ed25519 key pairs: airlock's PKCS#8 secret key files and minisign public
//! key files.

use std::fmt;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::VerifyingKey;

use crate::key_format::{
    ALG_ED25519, KeyId, UNTRUSTED_PREFIX, decode_base64_exact, looks_like_secret_key, split_lines,
};

use super::{PUBLIC_KEY_MAX_BYTES, TrustError, Zeroizing, read_limited, with_artifact};

/// "Ed" || key id || public key.
const PUBLIC_KEY_BLOB_LEN: usize = 2 + 8 + 32;

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
    /// A key from its parts (the signing side derives it from a secret key).
    pub(crate) fn from_parts(key_id: KeyId, key: VerifyingKey) -> Self {
        Self { key_id, key }
    }

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
        let lines = split_lines(text, 2).map_err(|e| malformed(e.to_string()))?;
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
        let blob = decode_base64_exact::<PUBLIC_KEY_BLOB_LEN>(b64)
            .map_err(|e| malformed(e.to_string()))?;
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
        let key_id = KeyId::from_bytes(id);
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
            if looks_like_secret_key(text) {
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
        blob.extend_from_slice(self.key_id.as_bytes());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::SecretKey;
    use blake2::{Blake2b512, Digest};

    #[test]
    fn key_id_is_derived_from_public_key() {
        let key = SecretKey::generate().unwrap();
        let pk = key.public_key();
        let digest = Blake2b512::digest(pk.as_bytes());
        assert_eq!(key.key_id().as_bytes(), &digest[..8]);
        assert_eq!(pk.key_id(), key.key_id());
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
}
