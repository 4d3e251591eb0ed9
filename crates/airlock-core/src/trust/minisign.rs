//! minisign signature files: reading, verification, and k-of-n thresholds (signing is
//! in [`crate::sign`]).

use std::collections::BTreeSet;
use std::fmt;
use std::io::Read;
use std::path::Path;

use blake2::{Blake2b512, Digest};
use ed25519_dalek::Signature;

use super::{KeyId, PublicKey, SIGNATURE_MAX_BYTES, TrustError, read_limited};
use crate::key_format::{ALG_ED25519, UNTRUSTED_PREFIX, decode_base64_exact, split_lines};

/// minisign's prehashed algorithm tag: Ed25519 over BLAKE2b-512 of the file.
pub(crate) const ALG_PREHASHED: [u8; 2] = *b"ED";
pub(crate) const TRUSTED_PREFIX: &str = "trusted comment: ";
pub(crate) const UNTRUSTED_COMMENT: &str = "signature from airlock secret key";
const ARTIFACT: &str = "signature file";
/// "ED" || key id || Ed25519 signature.
pub(crate) const SIGNATURE_BLOB_LEN: usize = 2 + 8 + 64;

/// Longest trusted comment [`crate::sign`] writes, so the signature file stays well
/// under [`SIGNATURE_MAX_BYTES`] and every signature airlock writes, airlock
/// (and minisign) can read back.
pub const MAX_TRUSTED_COMMENT_BYTES: usize = 2048;

/// BLAKE2b-512 of the signed file: what a prehashed minisign signature
/// covers. Lets callers hash large files as a stream instead of in memory.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct MessageDigest([u8; 64]);

impl MessageDigest {
    /// Hashes bytes in memory.
    pub fn of_bytes(data: &[u8]) -> Self {
        Self(Blake2b512::digest(data).into())
    }

    /// Hashes everything `reader` yields.
    pub fn of_reader(mut reader: impl Read) -> std::io::Result<Self> {
        let mut hasher = Blake2b512::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            hasher.update(&buf[..n]);
        }
        Ok(Self(hasher.finalize().into()))
    }

    /// Hashes a file; errors name the path.
    pub fn of_file(path: &Path) -> Result<Self, TrustError> {
        let io_err = |source| TrustError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io_err)?;
        Self::of_reader(file).map_err(io_err)
    }

    /// The 64 digest bytes.
    pub fn as_bytes(&self) -> &[u8; 64] {
        &self.0
    }
}

impl fmt::Debug for MessageDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageDigest(blake2b512:{})", hex::encode(self.0))
    }
}

/// A signature that verified against a trusted key. Only verification makes one: the
/// fields are private, so holding one is proof the check ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSignature {
    key_id: KeyId,
    trusted_comment: String,
}

impl VerifiedSignature {
    /// The trusted key that made it.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The trusted comment, without the `trusted comment: ` prefix. It is authenticated
    /// but arbitrary text: escape control characters before printing it to a terminal.
    pub fn trusted_comment(&self) -> &str {
        &self.trusted_comment
    }
}

/// The result of [`verify_threshold`] when the threshold is met.
#[derive(Debug)]
pub struct ThresholdOutcome {
    /// One valid signature per distinct trusted key, in input order.
    pub valid: Vec<VerifiedSignature>,
    /// Every other signature (by name) and why it did not count, including
    /// repeat signatures by an already counted key.
    pub rejected: Vec<(String, TrustError)>,
}

pub(crate) fn check_trusted_comment(comment: &str) -> Result<(), TrustError> {
    let refuse = |reason: String| TrustError::InvalidTrustedComment {
        comment: comment.chars().take(80).collect(),
        reason,
    };
    if comment.len() > MAX_TRUSTED_COMMENT_BYTES {
        return Err(refuse(format!(
            "{} bytes is longer than the {MAX_TRUSTED_COMMENT_BYTES}-byte limit",
            comment.len()
        )));
    }
    if let Some(c) = comment.chars().find(|&c| c.is_control() && c != '\t') {
        return Err(refuse(format!(
            "contains control character {c:?}; a trusted comment is a single line"
        )));
    }
    Ok(())
}

/// What the global signature covers: the file signature, then the comment.
pub(crate) fn global_message(signature: &[u8; 64], trusted_comment: &str) -> Vec<u8> {
    let mut msg = Vec::with_capacity(64 + trusted_comment.len());
    msg.extend_from_slice(signature);
    msg.extend_from_slice(trusted_comment.as_bytes());
    msg
}

/// A structurally valid prehashed signature file, not yet verified.
struct ParsedSignature<'a> {
    key_id: KeyId,
    signature: [u8; 64],
    trusted_comment: &'a str,
    global_signature: [u8; 64],
}

/// Untrusted comments of signature files as minisign and airlock write them.
const CANONICAL_UNTRUSTED: [&str; 2] = [
    "untrusted comment: signature from minisign secret key",
    "untrusted comment: signature from airlock secret key",
];

/// A signature file must be byte for byte what minisign or airlock writes: four lines,
/// each ending in `\n` (no `\r`), nothing after, and the default untrusted comment. The
/// untrusted comment is not covered by the signature, and minisign itself tolerates
/// CRLF and a missing final newline; refusing every other form means no byte of a bundle
/// can change unnoticed (SECURITY.md), at the cost of refusing `minisign -c` comments.
fn check_canonical(text: &str, first_line: &str) -> Result<(), NotCanonical> {
    if text.contains('\r') || !text.ends_with('\n') || text.ends_with("\n\n") {
        return Err(NotCanonical::Form);
    }
    if !CANONICAL_UNTRUSTED.contains(&first_line) {
        return Err(NotCanonical::UntrustedComment);
    }
    Ok(())
}

/// Why a signature file is not in the one form a bundle accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum NotCanonical {
    /// Not four lines ending in `\n`, or a `\r`, or something after.
    #[error("not in canonical form (four lines ending in \\n, no \\r, nothing after)")]
    Form,
    /// An untrusted comment other than the defaults.
    #[error(
        "untrusted comment is not minisign's or airlock's default (\"{}\"): the line is \
         not signed, so a bundle accepts no other",
        CANONICAL_UNTRUSTED[0]
    )]
    UntrustedComment,
}

fn parse_signature(text: &str) -> Result<ParsedSignature<'_>, TrustError> {
    if text.len() > SIGNATURE_MAX_BYTES {
        return Err(TrustError::TooLarge {
            artifact: ARTIFACT.to_owned(),
            limit: SIGNATURE_MAX_BYTES as u64,
        });
    }
    let malformed = |reason: String| TrustError::Malformed {
        artifact: ARTIFACT.to_owned(),
        reason,
    };
    let lines = split_lines(text, 4).map_err(|e| malformed(e.to_string()))?;
    if !lines[0].starts_with(UNTRUSTED_PREFIX) {
        return Err(malformed(format!(
            "line 1 does not start with {UNTRUSTED_PREFIX:?}"
        )));
    }
    check_canonical(text, lines[0]).map_err(|e| malformed(e.to_string()))?;
    let blob = decode_base64_exact::<SIGNATURE_BLOB_LEN>(lines[1])
        .map_err(|e| malformed(format!("line 2 (signature): {e}")))?;
    let trusted_comment = lines[2]
        .strip_prefix(TRUSTED_PREFIX)
        .ok_or_else(|| malformed(format!("line 3 does not start with {TRUSTED_PREFIX:?}")))?;
    let global_signature = decode_base64_exact::<64>(lines[3])
        .map_err(|e| malformed(format!("line 4 (global signature): {e}")))?;

    let mut id = [0u8; 8];
    id.copy_from_slice(&blob[2..10]);
    let key_id = KeyId::from_bytes(id);
    let alg = [blob[0], blob[1]];
    if alg == ALG_ED25519 {
        return Err(TrustError::LegacySignature { key_id });
    }
    if alg != ALG_PREHASHED {
        return Err(TrustError::UnsupportedAlgorithm {
            artifact: format!("signature from key {key_id}"),
            found: String::from_utf8_lossy(&alg).into_owned(),
            expected: "ED",
        });
    }
    let mut signature = [0u8; 64];
    signature.copy_from_slice(&blob[10..]);
    Ok(ParsedSignature {
        key_id,
        signature,
        trusted_comment,
        global_signature,
    })
}

/// Verifies a `.minisig` file's text against `data`, accepting only
/// signatures by one of the `trusted` keys.
///
/// Checks, in order: size limit, exact four-line structure and base64 field
/// sizes, prehashed `ED` algorithm, key id among `trusted`, the signature over
/// BLAKE2b-512(`data`), and the global signature over the trusted comment.
/// Both signatures use Ed25519 `verify_strict`.
pub fn verify(
    trusted: &[PublicKey],
    data: &[u8],
    signature_text: &str,
) -> Result<VerifiedSignature, TrustError> {
    verify_digest(trusted, &MessageDigest::of_bytes(data), signature_text)
}

/// [`verify`] for data already hashed with [`MessageDigest`].
pub fn verify_digest(
    trusted: &[PublicKey],
    digest: &MessageDigest,
    signature_text: &str,
) -> Result<VerifiedSignature, TrustError> {
    let parsed = parse_signature(signature_text)?;
    let key_id = parsed.key_id;
    let signature = Signature::from_bytes(&parsed.signature);
    let global = Signature::from_bytes(&parsed.global_signature);
    let global_msg = global_message(&parsed.signature, parsed.trusted_comment);

    let mut candidates = trusted.iter().filter(|k| k.key_id() == key_id).peekable();
    if candidates.peek().is_none() {
        return Err(TrustError::UnknownKey {
            key_id,
            trusted: trusted.len(),
        });
    }
    // Key ids are not authenticated, so if several trusted keys share one,
    // try each rather than trusting whichever comes first.
    let mut result = Err(TrustError::BadSignature { key_id });
    for key in candidates {
        let vk = key.verifying_key();
        if vk.verify_strict(digest.as_bytes(), &signature).is_err() {
            continue;
        }
        if vk.verify_strict(&global_msg, &global).is_err() {
            result = Err(TrustError::BadTrustedComment { key_id });
            continue;
        }
        return Ok(VerifiedSignature {
            key_id,
            trusted_comment: parsed.trusted_comment.to_owned(),
        });
    }
    result
}

/// Verifies several signatures over the same `data` and succeeds when at
/// least `threshold` distinct trusted keys made a valid one.
///
/// Signers are counted by key, never by signature: a second valid signature
/// by an already counted key is rejected as [`TrustError::DuplicateSigner`]
/// (cf. tough CVE-2020-15093). For that count to be sound the trusted set must
/// be unambiguous: two different keys with one id, or one key under two ids,
/// is an error ([`TrustError::AmbiguousTrustedKeys`]); exact duplicates are
/// merged. A threshold of 0, or above the number of trusted keys, is an
/// error. When fewer than `threshold` keys signed, the error lists every
/// rejected signature and why.
pub fn verify_threshold(
    trusted: &[PublicKey],
    data: &[u8],
    signatures: &[(String, String)],
    threshold: usize,
) -> Result<ThresholdOutcome, TrustError> {
    verify_threshold_digest(
        trusted,
        &MessageDigest::of_bytes(data),
        signatures,
        threshold,
    )
}

/// [`verify_threshold`] for data already hashed with [`MessageDigest`].
pub fn verify_threshold_digest(
    trusted: &[PublicKey],
    digest: &MessageDigest,
    signatures: &[(String, String)],
    threshold: usize,
) -> Result<ThresholdOutcome, TrustError> {
    if threshold == 0 {
        return Err(TrustError::InvalidThreshold {
            threshold,
            reason: "must be at least 1; 0 would accept unsigned data".to_owned(),
        });
    }
    let distinct = distinct_trusted_keys(trusted)?;
    if threshold > distinct {
        return Err(TrustError::InvalidThreshold {
            threshold,
            reason: format!("only {distinct} distinct trusted key(s), so it can never be met"),
        });
    }

    let mut counted = BTreeSet::new();
    let mut valid = Vec::new();
    let mut rejected = Vec::new();
    for (name, text) in signatures {
        match verify_digest(trusted, digest, text) {
            Ok(v) if !counted.insert(v.key_id) => {
                rejected.push((
                    name.clone(),
                    TrustError::DuplicateSigner { key_id: v.key_id },
                ));
            }
            Ok(v) => valid.push(v),
            Err(e) => rejected.push((name.clone(), e)),
        }
    }
    if valid.len() >= threshold {
        Ok(ThresholdOutcome { valid, rejected })
    } else {
        Err(TrustError::ThresholdNotMet {
            threshold,
            valid: valid.iter().map(|v| v.key_id).collect(),
            rejected,
        })
    }
}

/// Counts distinct trusted keys, refusing sets where key id and key material
/// do not correspond one to one.
fn distinct_trusted_keys(trusted: &[PublicKey]) -> Result<usize, TrustError> {
    let mut ids = BTreeSet::new();
    for (i, a) in trusted.iter().enumerate() {
        for b in &trusted[i + 1..] {
            let same_id = a.key_id() == b.key_id();
            let same_key = a.as_bytes() == b.as_bytes();
            if same_id && !same_key {
                return Err(TrustError::AmbiguousTrustedKeys {
                    key_id: a.key_id(),
                    reason: "two different public keys have this key id".to_owned(),
                });
            }
            if same_key && !same_id {
                return Err(TrustError::AmbiguousTrustedKeys {
                    key_id: a.key_id(),
                    reason: format!(
                        "the same public key is also trusted as key {}; one signer would count \
                         twice",
                        b.key_id()
                    ),
                });
            }
        }
        ids.insert(a.key_id());
    }
    Ok(ids.len())
}

/// Reads a `.minisig` file, refusing files over [`SIGNATURE_MAX_BYTES`]
/// without reading them whole; errors name the path.
pub fn read_signature_file(path: &Path) -> Result<String, TrustError> {
    let bytes = read_limited(path, SIGNATURE_MAX_BYTES)?;
    String::from_utf8(bytes).map_err(|_| TrustError::Malformed {
        artifact: path.display().to_string(),
        reason: "not UTF-8 text".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    // Round trips: what the signing half writes, this half reads.
    use crate::sign::{SecretKey, sign, sign_digest};
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as BASE64;
    use proptest::prelude::*;
    use std::process::{Command, Stdio};

    fn key() -> SecretKey {
        SecretKey::generate().unwrap()
    }

    /// Replaces line `n` (0-based) of a signature file.
    fn replace_line(text: &str, n: usize, new: &str) -> String {
        let mut lines: Vec<&str> = text.lines().collect();
        lines[n] = new;
        lines.join("\n") + "\n"
    }

    fn line(text: &str, n: usize) -> &str {
        text.lines().nth(n).unwrap()
    }

    /// Re-encodes line 1's blob after `f` edits it.
    fn edit_blob(text: &str, f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut blob = BASE64.decode(line(text, 1)).unwrap();
        f(&mut blob);
        replace_line(text, 1, &BASE64.encode(blob))
    }

    #[test]
    fn sign_verify_round_trip() {
        let k = key();
        let data = b"bundle bytes";
        let sig = sign(&k, data, "timestamp:1700000000\tfile:bundle.tar.zst").unwrap();
        let lines: Vec<&str> = sig.split_inclusive('\n').collect();
        assert_eq!(lines.len(), 4);
        assert!(lines.iter().all(|l| l.ends_with('\n')));
        assert_eq!(
            lines[0],
            "untrusted comment: signature from airlock secret key\n"
        );
        assert_eq!(
            lines[2],
            "trusted comment: timestamp:1700000000\tfile:bundle.tar.zst\n"
        );

        let v = verify(&[k.public_key()], data, &sig).unwrap();
        assert_eq!(v.key_id, k.key_id());
        assert_eq!(
            v.trusted_comment,
            "timestamp:1700000000\tfile:bundle.tar.zst"
        );

        // Deterministic.
        assert_eq!(
            sign(&k, data, "timestamp:1700000000\tfile:bundle.tar.zst").unwrap(),
            sig
        );
        // Empty data and empty comment work.
        let sig = sign(&k, b"", "").unwrap();
        assert_eq!(
            verify(&[k.public_key()], b"", &sig)
                .unwrap()
                .trusted_comment,
            ""
        );
        // The untrusted comment is not signed, so only the defaults are accepted; CRLF, a
        // missing final newline and trailing bytes are refused (minisign tolerates them):
        // no byte of a signature file can change unnoticed.
        let minisign_default = replace_line(&sig, 0, CANONICAL_UNTRUSTED[0]);
        assert!(verify(&[k.public_key()], b"", &minisign_default).is_ok());
        for bad in [
            replace_line(&sig, 0, "untrusted comment: anything"),
            sig.replace('\n', "\r\n"),
            sig.trim_end().to_string(),
            format!("{sig}\n"),
        ] {
            let e = verify(&[k.public_key()], b"", &bad).unwrap_err();
            assert!(matches!(e, TrustError::Malformed { .. }), "{e}");
        }
    }

    #[test]
    fn digest_variants_match() {
        let k = key();
        let data = vec![7u8; 200_000];
        let d = MessageDigest::of_reader(&data[..]).unwrap();
        assert_eq!(d, MessageDigest::of_bytes(&data));
        let sig = sign_digest(&k, &d, "c").unwrap();
        assert_eq!(sig, sign(&k, &data, "c").unwrap());
        assert!(verify_digest(&[k.public_key()], &d, &sig).is_ok());

        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, &data).unwrap();
        assert_eq!(MessageDigest::of_file(&p).unwrap(), d);
        assert!(matches!(
            MessageDigest::of_file(&dir.path().join("nope")),
            Err(TrustError::Io { .. })
        ));
    }

    #[test]
    fn tampered_data_is_rejected() {
        let k = key();
        let sig = sign(&k, b"data", "c").unwrap();
        let err = verify(&[k.public_key()], b"Data", &sig).unwrap_err();
        assert!(matches!(err, TrustError::BadSignature { key_id } if key_id == k.key_id()));
        assert!(
            err.to_string()
                .contains(&format!("signature from key {}", k.key_id())),
            "{err}"
        );
        // A flipped bit in the signature itself.
        let bad = edit_blob(&sig, |b| b[20] ^= 1);
        assert!(matches!(
            verify(&[k.public_key()], b"data", &bad),
            Err(TrustError::BadSignature { .. })
        ));
    }

    #[test]
    fn tampered_trusted_comment_is_rejected() {
        let k = key();
        let sig = sign(&k, b"data", "version 1.30").unwrap();
        let bad = replace_line(&sig, 2, "trusted comment: version 1.31");
        assert!(matches!(
            verify(&[k.public_key()], b"data", &bad),
            Err(TrustError::BadTrustedComment { .. })
        ));
        let mut g = BASE64.decode(line(&sig, 3)).unwrap();
        g[0] ^= 1;
        let bad = replace_line(&sig, 3, &BASE64.encode(g));
        assert!(matches!(
            verify(&[k.public_key()], b"data", &bad),
            Err(TrustError::BadTrustedComment { .. })
        ));
    }

    #[test]
    fn wrong_key_and_unknown_key_are_rejected() {
        let signer = key();
        let other = key();
        let sig = sign(&signer, b"data", "c").unwrap();

        let err = verify(&[other.public_key()], b"data", &sig).unwrap_err();
        assert!(
            matches!(err, TrustError::UnknownKey { key_id, trusted: 1 } if key_id == signer.key_id())
        );
        assert!(
            err.to_string().contains(&signer.key_id().to_string()),
            "{err}"
        );
        assert!(matches!(
            verify(&[], b"data", &sig),
            Err(TrustError::UnknownKey { .. })
        ));

        // Another key under the signer's id: the id matches, the key does not.
        let mut blob = BASE64.decode(other.public_key().to_base64()).unwrap();
        blob[2..10].copy_from_slice(signer.key_id().as_bytes());
        let impostor = PublicKey::from_base64(&BASE64.encode(blob)).unwrap();
        assert!(matches!(
            verify(std::slice::from_ref(&impostor), b"data", &sig),
            Err(TrustError::BadSignature { .. })
        ));
        // With both under that id, the right one is still found.
        assert!(verify(&[impostor, signer.public_key()], b"data", &sig).is_ok());
    }

    /// Ed25519 values a lax verifier would accept: S not reduced mod L (the same
    /// signature spelled twice), and a small-order R. `verify_strict` refuses both.
    #[test]
    fn non_canonical_and_small_order_values_are_rejected() {
        let k = key();
        let pk = [k.public_key()];
        let sig = sign(&k, b"data", "c").unwrap();
        // The group order L, little-endian.
        const L: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let s_plus_l = edit_blob(&sig, |b| {
            // blob = "ED" || key id (8) || R (32) || S (32)
            let s = &mut b[42..74];
            let mut carry = 0u16;
            for (x, l) in s.iter_mut().zip(L.iter()) {
                let v = *x as u16 + *l as u16 + carry;
                *x = v as u8;
                carry = v >> 8;
            }
        });
        assert!(verify(&pk, b"data", &s_plus_l).is_err());
        // R = the identity point (order 1): encoded as y = 1.
        let small_r = edit_blob(&sig, |b| {
            b[10..42].fill(0);
            b[10] = 1;
        });
        assert!(verify(&pk, b"data", &small_r).is_err());
        // A small-order public key is refused when it is read.
        let mut weak = vec![b'E', b'd', 1, 2, 3, 4, 5, 6, 7, 8];
        weak.push(1);
        weak.extend_from_slice(&[0u8; 31]);
        assert!(PublicKey::from_base64(&BASE64.encode(&weak)).is_err());
    }

    #[test]
    fn malformed_signatures_are_rejected() {
        let k = key();
        let pk = [k.public_key()];
        let sig = sign(&k, b"data", "c").unwrap();
        let malformed =
            |t: &str| matches!(verify(&pk, b"data", t), Err(TrustError::Malformed { .. }));

        assert!(malformed(""));
        assert!(malformed("\n\n\n\n"));
        assert!(malformed(&(sig.clone() + "extra line\n")));
        assert!(malformed(&(sig.clone() + "\n")));
        assert!(malformed(
            &sig.lines().take(3).collect::<Vec<_>>().join("\n")
        ));
        assert!(malformed(&replace_line(&sig, 0, "comment: no prefix")));
        assert!(malformed(&replace_line(&sig, 2, "comment: no prefix")));
        // Truncated and garbage base64 in either field.
        let l1 = line(&sig, 1);
        let l3 = line(&sig, 3);
        assert!(malformed(&replace_line(&sig, 1, &l1[..l1.len() - 4])));
        assert!(malformed(&replace_line(&sig, 3, &l3[..l3.len() - 4])));
        assert!(malformed(&replace_line(&sig, 1, &"!".repeat(l1.len()))));
        assert!(malformed(&replace_line(&sig, 3, &"*".repeat(l3.len()))));
        assert!(malformed(&replace_line(&sig, 1, &format!(" {}", &l1[1..]))));
        // The right length of base64 that decodes to the wrong size.
        assert!(malformed(&replace_line(&sig, 3, &BASE64.encode([0u8; 65]))));
        // Non-canonical base64: the character before "==" has 4 low bits that
        // must be 0 for 64 bytes; 'B' and 'C' set one of them.
        let (head, tail) = l3.split_at(l3.len() - 3);
        let c = if tail.starts_with('B') { 'C' } else { 'B' };
        assert!(malformed(&replace_line(&sig, 3, &format!("{head}{c}=="))));

        let err = verify(&pk, b"data", "").unwrap_err();
        assert!(
            err.to_string().starts_with("signature file: malformed"),
            "{err}"
        );
    }

    #[test]
    fn legacy_and_unknown_algorithms_are_rejected() {
        let k = key();
        let sig = sign(&k, b"data", "c").unwrap();
        let legacy = edit_blob(&sig, |b| b[1] = b'd');
        let err = verify(&[k.public_key()], b"data", &legacy).unwrap_err();
        assert!(matches!(err, TrustError::LegacySignature { key_id } if key_id == k.key_id()));
        assert!(err.to_string().contains("legacy"), "{err}");
        let other = edit_blob(&sig, |b| b[..2].copy_from_slice(b"XY"));
        assert!(matches!(
            verify(&[k.public_key()], b"data", &other),
            Err(TrustError::UnsupportedAlgorithm { .. })
        ));
    }

    #[test]
    fn oversize_signature_is_rejected_before_parsing() {
        let k = key();
        let sig = sign(&k, b"data", "c").unwrap();
        let big = replace_line(&sig, 0, &format!("untrusted comment: {}", "x".repeat(4096)));
        assert!(matches!(
            verify(&[k.public_key()], b"data", &big),
            Err(TrustError::TooLarge { limit: 4096, .. })
        ));
        assert!(matches!(
            verify(
                &[k.public_key()],
                b"data",
                &"x".repeat(SIGNATURE_MAX_BYTES + 1)
            ),
            Err(TrustError::TooLarge { .. })
        ));

        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big.minisig");
        std::fs::write(&p, &big).unwrap();
        let err = read_signature_file(&p).unwrap_err();
        assert!(matches!(err, TrustError::TooLarge { .. }));
        assert!(err.to_string().contains("big.minisig"), "{err}");
        std::fs::write(&p, &sig).unwrap();
        assert_eq!(read_signature_file(&p).unwrap(), sig);
    }

    #[test]
    fn bad_trusted_comments_are_refused_when_signing() {
        let k = key();
        for bad in ["two\nlines", "cr\r", "nul\0", "esc\x1b[31m"] {
            assert!(
                matches!(
                    sign(&k, b"", bad),
                    Err(TrustError::InvalidTrustedComment { .. })
                ),
                "{bad:?}"
            );
        }
        let longest = "x".repeat(MAX_TRUSTED_COMMENT_BYTES);
        let sig = sign(&k, b"", &longest).unwrap();
        assert!(sig.len() <= SIGNATURE_MAX_BYTES);
        assert!(verify(&[k.public_key()], b"", &sig).is_ok());
        assert!(matches!(
            sign(&k, b"", &(longest + "x")),
            Err(TrustError::InvalidTrustedComment { .. })
        ));
        // Unicode and tabs are fine.
        assert!(sign(&k, b"", "tab\tünïcödé").is_ok());
    }

    #[test]
    fn threshold_counts_distinct_keys() {
        let (a, b, c) = (key(), key(), key());
        let trusted = [a.public_key(), b.public_key(), c.public_key()];
        let data = b"bundle";
        let sa = sign(&a, data, "a").unwrap();
        let sa2 = sign(&a, data, "a again").unwrap();
        let sb = sign(&b, data, "b").unwrap();
        let outsider = sign(&key(), data, "x").unwrap();
        let named = |v: &[(&str, &String)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(n, t)| (n.to_string(), (*t).clone()))
                .collect()
        };

        // Two signatures by the same key count once.
        let err = verify_threshold(
            &trusted,
            data,
            &named(&[
                ("a.minisig", &sa),
                ("a2.minisig", &sa2),
                ("x.minisig", &outsider),
            ]),
            2,
        )
        .unwrap_err();
        match &err {
            TrustError::ThresholdNotMet {
                threshold: 2,
                valid,
                rejected,
            } => {
                assert_eq!(valid, &vec![a.key_id()]);
                assert_eq!(rejected.len(), 2);
                assert_eq!(rejected[0].0, "a2.minisig");
                assert!(matches!(rejected[0].1, TrustError::DuplicateSigner { .. }));
                assert!(matches!(rejected[1].1, TrustError::UnknownKey { .. }));
            }
            other => panic!("unexpected {other:?}"),
        }
        let msg = err.to_string();
        assert!(
            msg.contains("1 valid") && msg.contains("2 required"),
            "{msg}"
        );
        assert!(
            msg.contains("a2.minisig: rejected: ") && msg.contains("duplicate"),
            "{msg}"
        );
        assert!(
            msg.contains("x.minisig: rejected: ") && msg.contains("not one of"),
            "{msg}"
        );

        // Two distinct keys meet 2-of-3; a bad one is reported but does not block.
        let out = verify_threshold(
            &trusted,
            data,
            &named(&[("a", &sa), ("x", &outsider), ("a2", &sa2), ("b", &sb)]),
            2,
        )
        .unwrap();
        let ids: Vec<KeyId> = out.valid.iter().map(|v| v.key_id).collect();
        assert_eq!(ids, vec![a.key_id(), b.key_id()]);
        assert_eq!(out.rejected.len(), 2);

        // Tampered data fails every signature.
        let err =
            verify_threshold(&trusted, b"other", &named(&[("a", &sa), ("b", &sb)]), 1).unwrap_err();
        assert!(
            matches!(&err, TrustError::ThresholdNotMet { valid, rejected, .. } if valid.is_empty() && rejected.len() == 2)
        );
        assert!(err.to_string().contains("0 valid"), "{err}");

        // No signatures at all.
        assert!(matches!(
            verify_threshold(&trusted, data, &[], 1),
            Err(TrustError::ThresholdNotMet { .. })
        ));
    }

    #[test]
    fn threshold_parameters_are_checked() {
        let (a, b) = (key(), key());
        let sa = vec![("a".to_owned(), sign(&a, b"d", "").unwrap())];
        let trusted = [a.public_key(), b.public_key()];
        assert!(matches!(
            verify_threshold(&trusted, b"d", &sa, 0),
            Err(TrustError::InvalidThreshold { threshold: 0, .. })
        ));
        assert!(matches!(
            verify_threshold(&trusted, b"d", &sa, 3),
            Err(TrustError::InvalidThreshold { threshold: 3, .. })
        ));
        // Exact duplicates in the trusted list are merged, not double-counted.
        let dup = [a.public_key(), a.public_key()];
        assert!(matches!(
            verify_threshold(&dup, b"d", &sa, 2),
            Err(TrustError::InvalidThreshold { .. })
        ));
        assert_eq!(verify_threshold(&dup, b"d", &sa, 1).unwrap().valid.len(), 1);

        // One key trusted under two ids could be counted twice: refused.
        let mut blob = BASE64.decode(a.public_key().to_base64()).unwrap();
        blob[2] ^= 1;
        let alias = PublicKey::from_base64(&BASE64.encode(&blob)).unwrap();
        assert!(matches!(
            verify_threshold(&[a.public_key(), alias], b"d", &sa, 1),
            Err(TrustError::AmbiguousTrustedKeys { .. })
        ));
        // Two keys under one id: refused too.
        let mut blob = BASE64.decode(b.public_key().to_base64()).unwrap();
        blob[2..10].copy_from_slice(a.key_id().as_bytes());
        let clash = PublicKey::from_base64(&BASE64.encode(&blob)).unwrap();
        assert!(matches!(
            verify_threshold(&[a.public_key(), clash], b"d", &sa, 1),
            Err(TrustError::AmbiguousTrustedKeys { .. })
        ));
    }

    // ---- Cross-checks against the real minisign binary. ----

    /// Whether `minisign` can be run; prints a notice when it cannot, so a
    /// skipped cross-check is visible (CI installs minisign).
    fn have_minisign() -> bool {
        let ok = Command::new("minisign")
            .arg("-v")
            .stdin(Stdio::null())
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            eprintln!("NOTICE: `minisign` is not on PATH; skipping the minisign cross-check");
        }
        ok
    }

    fn minisign(args: &[&std::ffi::OsStr]) -> std::process::Output {
        Command::new("minisign")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// Extracts the hex id minisign prints after `marker` (up to whitespace).
    fn id_after<'a>(text: &'a str, marker: &str) -> &'a str {
        let start = text
            .find(marker)
            .unwrap_or_else(|| panic!("{marker:?} not in {text:?}"))
            + marker.len();
        text[start..].split_whitespace().next().unwrap()
    }

    /// minisign 0.11 prints ids with `%lX` (no leading zeros), >= 0.12 with
    /// `%016lX`; airlock prints 16 digits. Same number, same text when 16 long.
    fn assert_same_id(airlock: KeyId, printed: &str) {
        assert_eq!(
            u64::from_str_radix(printed, 16).unwrap(),
            airlock.as_u64(),
            "minisign printed {printed}, airlock {airlock}"
        );
        assert_eq!(printed.parse::<KeyId>().unwrap(), airlock);
        assert_eq!(format!("{:0>16}", printed), airlock.to_string());
        if printed.len() == 16 {
            assert_eq!(printed, airlock.to_string());
        }
    }

    #[test]
    fn minisign_verifies_airlock_signatures() {
        if !have_minisign() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let paths = crate::sign::write_keypair(
            &dir.path().join("airlock"),
            false,
            &crate::sign::Protection::None,
        )
        .unwrap();
        let key = crate::sign::load_secret_key(&paths.secret_key).unwrap();
        let file = dir.path().join("bundle.bin");
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&file, &data).unwrap();
        let sig_path = dir.path().join("bundle.bin.minisig");
        let comment = "airlock bundle v1.30.4->v1.31.0\tfile:bundle.bin";
        std::fs::write(&sig_path, sign(&key, &data, comment).unwrap()).unwrap();

        let verify_cmd = || {
            minisign(&[
                "-V".as_ref(),
                "-p".as_ref(),
                paths.public_key.as_os_str(),
                "-m".as_ref(),
                file.as_os_str(),
                "-x".as_ref(),
                sig_path.as_os_str(),
            ])
        };
        let out = verify_cmd();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{out:?}");
        assert!(
            stdout.contains(&format!("Trusted comment: {comment}")),
            "{stdout}"
        );

        // One flipped byte: minisign refuses.
        let mut tampered = data.clone();
        tampered[50_000] ^= 0x01;
        std::fs::write(&file, &tampered).unwrap();
        let out = verify_cmd();
        assert!(!out.status.success(), "{out:?}");
    }

    #[test]
    fn airlock_verifies_minisign_signatures() {
        if !have_minisign() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let pk = dir.path().join("mini.pub");
        let sk = dir.path().join("mini.key");
        let out = minisign(&[
            "-G".as_ref(),
            "-W".as_ref(),
            "-p".as_ref(),
            pk.as_os_str(),
            "-s".as_ref(),
            sk.as_os_str(),
        ]);
        assert!(out.status.success(), "{out:?}");
        let file = dir.path().join("data.txt");
        let data = b"signed by minisign\n";
        std::fs::write(&file, data).unwrap();
        // minisign >= 0.10 signs prehashed (ED) by default; -l would be legacy.
        let out = minisign(&[
            "-S".as_ref(),
            "-s".as_ref(),
            sk.as_os_str(),
            "-m".as_ref(),
            file.as_os_str(),
            "-t".as_ref(),
            "from minisign".as_ref(),
        ]);
        assert!(out.status.success(), "{out:?}");

        let public = PublicKey::load(&pk).unwrap();
        let printed = id_after(
            &std::fs::read_to_string(&pk).unwrap(),
            "minisign public key ",
        )
        .to_owned();
        assert_same_id(public.key_id(), &printed);

        let sig_text = read_signature_file(&dir.path().join("data.txt.minisig")).unwrap();
        let v = verify(std::slice::from_ref(&public), data, &sig_text).unwrap();
        assert_eq!(v.key_id, public.key_id());
        assert_eq!(v.trusted_comment, "from minisign");
        assert!(matches!(
            verify(std::slice::from_ref(&public), b"tampered", &sig_text),
            Err(TrustError::BadSignature { .. })
        ));

        // A legacy (-l) signature from minisign is refused with its own error.
        let legacy = dir.path().join("data.txt.legacy");
        let out = minisign(&[
            "-S".as_ref(),
            "-l".as_ref(),
            "-s".as_ref(),
            sk.as_os_str(),
            "-m".as_ref(),
            file.as_os_str(),
            "-x".as_ref(),
            legacy.as_os_str(),
        ]);
        assert!(out.status.success(), "{out:?}");
        let legacy_text = read_signature_file(&legacy).unwrap();
        assert!(matches!(
            verify(std::slice::from_ref(&public), data, &legacy_text),
            Err(TrustError::LegacySignature { .. })
        ));
    }

    #[test]
    fn minisign_prints_airlock_key_ids_like_airlock() {
        if !have_minisign() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        // A minisign key, so minisign reports the signature's (airlock's) key
        // id in its key-mismatch message.
        let other_pk = dir.path().join("other.pub");
        let other_sk = dir.path().join("other.key");
        let out = minisign(&[
            "-G".as_ref(),
            "-W".as_ref(),
            "-p".as_ref(),
            other_pk.as_os_str(),
            "-s".as_ref(),
            other_sk.as_os_str(),
        ]);
        assert!(out.status.success(), "{out:?}");
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").unwrap();

        // An ordinary key, then one whose id has a leading zero digit, the
        // case where minisign 0.11's unpadded %lX output differs in length.
        let ordinary = key();
        let leading_zero = (0..2000)
            .map(|_| key())
            .find(|k| k.key_id().as_u64() >> 60 == 0)
            .expect("a key id starting with 0 within 2000 tries");
        for (i, k) in [ordinary, leading_zero].iter().enumerate() {
            let pk_path = dir.path().join(format!("k{i}.pub"));
            let sig_path = dir.path().join(format!("f{i}.minisig"));
            std::fs::write(&pk_path, k.public_key().to_minisign()).unwrap();
            std::fs::write(&sig_path, sign(k, b"x", "c").unwrap()).unwrap();

            // minisign accepts the key and signature...
            let out = minisign(&[
                "-V".as_ref(),
                "-p".as_ref(),
                pk_path.as_os_str(),
                "-m".as_ref(),
                file.as_os_str(),
                "-x".as_ref(),
                sig_path.as_os_str(),
            ]);
            assert!(out.status.success(), "{out:?}");
            // ...and airlock's comment in the .pub carries airlock's id...
            let pub_text = std::fs::read_to_string(&pk_path).unwrap();
            assert_eq!(
                id_after(&pub_text, "minisign public key "),
                k.key_id().to_string()
            );

            // ...which is the number minisign itself prints for that signature.
            let out = minisign(&[
                "-V".as_ref(),
                "-p".as_ref(),
                other_pk.as_os_str(),
                "-m".as_ref(),
                file.as_os_str(),
                "-x".as_ref(),
                sig_path.as_os_str(),
            ]);
            assert!(!out.status.success());
            let all = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let printed = id_after(&all, &format!("{} is ", sig_path.display()));
            assert_same_id(k.key_id(), printed);
        }
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in any::<String>()) {
            let k = PublicKey::from_minisign(&text);
            let trusted: Vec<PublicKey> = k.into_iter().collect();
            let _ = verify(&trusted, b"data", &text);
        }

        #[test]
        fn arbitrary_line_structures_never_panic(
            l0 in "(untrusted comment: )?[ -~]{0,20}",
            l1 in "[A-Za-z0-9+/=!]{0,110}",
            l2 in "(trusted comment: )?.{0,20}",
            l3 in "[A-Za-z0-9+/=]{0,100}",
            sep in "(\n|\r\n|\r)",
            tail in "(\n|\n\n|)",
        ) {
            let text = format!("{l0}{sep}{l1}{sep}{l2}{sep}{l3}{tail}");
            let _ = PublicKey::from_minisign(&format!("{l0}{sep}{l1}{tail}"));
            let k = SecretKey::from_pkcs8_pem(&text);
            prop_assert!(k.is_err());
            let _ = verify(&[], b"", &text);
        }

        #[test]
        fn mutated_valid_signatures_never_panic_or_verify_wrongly(
            pos in 0usize..400,
            byte in any::<u8>(),
        ) {
            let k = SecretKey::from_pkcs8_pem(
                "-----BEGIN PRIVATE KEY-----\n\
                 MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n\
                 -----END PRIVATE KEY-----\n",
            ).unwrap();
            let sig = sign(&k, b"data", "comment").unwrap();
            let mut bytes = sig.clone().into_bytes();
            let pos = pos % bytes.len();
            bytes[pos] = byte;
            if let Ok(text) = String::from_utf8(bytes)
                && let Ok(v) = verify(&[k.public_key()], b"data", &text)
            {
                // Only changes outside the signed parts may still verify.
                prop_assert_eq!(v.trusted_comment, "comment");
            }
        }
    }
}
