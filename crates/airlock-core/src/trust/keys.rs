//! Ed25519 key pairs: airlock's PKCS#8 secret key files and minisign public
//! key files.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use blake2::{Blake2b512, Digest};
use ed25519_dalek::VerifyingKey;

use super::{PUBLIC_KEY_MAX_BYTES, TrustError, Zeroizing, read_limited, with_artifact};

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
            if crate::sign::minisign_key::looks_like_secret_key(text) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::SecretKey;

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
}
