//! minisign's key and signature file format, as far as reading (`trust`) and signing
//! (`sign`) share it: key ids, the comment line, the algorithm tag, the fixed-length
//! base64 fields and exact line counts, and telling a secret key file apart from a public
//! one. One lower module both use, so neither half reaches into the other.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use blake2::{Blake2b512, Digest};

/// minisign's algorithm tag in public keys (and legacy signatures).
pub(crate) const ALG_ED25519: [u8; 2] = *b"Ed";
/// The first line of every minisign file starts with this.
pub(crate) const UNTRUSTED_PREFIX: &str = "untrusted comment: ";
/// Length of a minisign secret key after base64 (minisign.h).
pub(crate) const MINISIGN_SECRET_KEY_LEN: usize = 158;

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

/// Text that is not a key id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key id {input:?}: malformed: {}", if *.hex { "not a hex number" } else { "expected 1 to 16 hex digits" })]
pub struct KeyIdError {
    /// The text given.
    pub input: String,
    /// True when the length was right but a character is not a hex digit.
    pub hex: bool,
}

impl FromStr for KeyId {
    type Err = KeyIdError;

    /// Parses 1 to 16 hex digits (either case), so that minisign 0.11's
    /// unpadded ids are accepted too.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |hex| KeyIdError {
            input: s.to_owned(),
            hex,
        };
        if s.is_empty() || s.len() > 16 {
            return Err(err(false));
        }
        if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(err(true));
        }
        let n = u64::from_str_radix(s, 16).map_err(|_| err(true))?;
        Ok(Self(n.to_le_bytes()))
    }
}

/// Why a minisign file's lines or base64 fields are not what the format fixes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// Not exactly the number of lines the file has.
    #[error("expected exactly {expected} lines, found {found}")]
    Lines {
        /// Lines the format has.
        expected: usize,
        /// Lines found.
        found: usize,
    },
    /// A base64 field of the wrong length.
    #[error("base64 field is {found} characters, expected {expected} ({bytes} bytes)")]
    Base64Length {
        /// Characters found.
        found: usize,
        /// Characters expected.
        expected: usize,
        /// Bytes the field holds.
        bytes: usize,
    },
    /// Not canonical padded base64.
    #[error("invalid base64: {0}")]
    Base64(#[from] base64::DecodeError),
    /// Base64 that decodes to the wrong number of bytes.
    #[error("base64 field decodes to {found} bytes, expected {expected}")]
    Base64Decoded {
        /// Bytes found.
        found: usize,
        /// Bytes expected.
        expected: usize,
    },
}

/// Splits `text` into exactly `expected` lines. One final `\n` is optional
/// and one `\r` before each `\n` is dropped (as minisign does); anything else,
/// including blank lines, counts as a line.
pub(crate) fn split_lines(text: &str, expected: usize) -> Result<Vec<&str>, FieldError> {
    let body = text.strip_suffix('\n').unwrap_or(text);
    let lines: Vec<&str> = body
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    if lines.len() != expected {
        return Err(FieldError::Lines {
            expected,
            found: lines.len(),
        });
    }
    Ok(lines)
}

/// Decodes canonical padded base64 that must be exactly `N` bytes.
pub(crate) fn decode_base64_exact<const N: usize>(b64: &str) -> Result<[u8; N], FieldError> {
    // Check the length first so garbage is never decoded into a big buffer.
    let expected = N.div_ceil(3) * 4;
    if b64.len() != expected {
        return Err(FieldError::Base64Length {
            found: b64.len(),
            expected,
            bytes: N,
        });
    }
    let bytes = BASE64.decode(b64)?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| FieldError::Base64Decoded {
            found: b.len(),
            expected: N,
        })
}

/// True if `text` looks like a minisign secret key file.
pub(crate) fn is_minisign_secret_key(text: &str) -> bool {
    text.starts_with(UNTRUSTED_PREFIX)
}

/// True if `text` is a secret key file, airlock's (PKCS#8 PEM) or minisign's: lets a
/// secret key given where a public key belongs be named as such.
pub(crate) fn looks_like_secret_key(text: &str) -> bool {
    let t = text.trim_start();
    if t.starts_with("-----BEGIN") && t.contains("PRIVATE KEY-----") {
        return true;
    }
    is_minisign_secret_key(text)
        && text
            .lines()
            .nth(1)
            .and_then(|b64| BASE64.decode(b64.trim()).ok())
            .is_some_and(|raw| raw.len() == MINISIGN_SECRET_KEY_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_id_display_is_16_upper_hex_of_le_u64() {
        let id = KeyId::from_bytes([0xEC, 0x40, 0x9D, 0x1B, 0xA7, 0x90, 0x26, 0x03]);
        assert_eq!(id.to_string(), "032690A71B9D40EC");
        assert_eq!(id.as_u64(), 0x0326_90A7_1B9D_40EC);
        // Both the padded form and minisign 0.11's unpadded form parse.
        assert_eq!("032690A71B9D40EC".parse::<KeyId>().unwrap(), id);
        assert_eq!("32690a71b9d40ec".parse::<KeyId>().unwrap(), id);
        assert!(matches!(
            "".parse::<KeyId>(),
            Err(KeyIdError { hex: false, .. })
        ));
        assert!(matches!(
            "+1".parse::<KeyId>(),
            Err(KeyIdError { hex: true, .. })
        ));
        let long = "00000000000000000".parse::<KeyId>();
        assert!(matches!(long, Err(KeyIdError { hex: false, .. })));
    }

    #[test]
    fn fields_have_their_exact_length() {
        assert!(matches!(
            decode_base64_exact::<3>("AAAAAA"),
            Err(FieldError::Base64Length {
                found: 6,
                expected: 4,
                bytes: 3
            })
        ));
        assert!(matches!(
            decode_base64_exact::<3>("A!AA"),
            Err(FieldError::Base64(_))
        ));
        assert!(matches!(decode_base64_exact::<2>("AAA="), Ok([0, 0])));
        assert!(matches!(
            split_lines("a\nb\n\n", 2),
            Err(FieldError::Lines {
                expected: 2,
                found: 3
            })
        ));
        assert_eq!(split_lines("a\r\nb", 2), Ok(vec!["a", "b"]));
    }
}
