//! OpenPGP checks of package repository metadata (`InRelease`, `Release.gpg`,
//! `repomd.xml.asc`) with the repository key the user gives (`--package-key FILE`, the
//! same `Release.key` the nodes hold), using rPGP.
//!
//! rPGP verifies the mathematics of a signature; the policy is ours, and it is apt's and
//! dnf's: a signature counts only when it was made by the primary key or by a subkey
//! bound to it for signing, neither revoked nor expired, over a hash of at least SHA-224
//! (apt refuses SHA-1 and MD5). At least one signature must pass; the others are
//! ignored, as apt does with signatures by keys it does not hold.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pgp::composed::{CleartextSignedMessage, Deserializable, DetachedSignature, SignedPublicKey};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{PublicKey, PublicSubkey, Signature, SignatureType};
use pgp::types::{KeyDetails, Timestamp};

use crate::error::{Error, Result};

/// Largest key file read.
const MAX_KEY_BYTES: u64 = 1024 * 1024;

/// One key that may sign: the primary key or a signing subkey.
struct Signer<'a> {
    key: SignerKey<'a>,
    fingerprint: String,
    expires: Option<SystemTime>,
}

enum SignerKey<'a> {
    Primary(&'a PublicKey),
    Sub(&'a PublicSubkey),
}

impl SignerKey<'_> {
    fn verify(&self, sig: &Signature, data: &[u8]) -> pgp::errors::Result<()> {
        match self {
            SignerKey::Primary(k) => sig.verify(*k, data),
            SignerKey::Sub(k) => sig.verify(*k, data),
        }
    }

    fn key_id(&self) -> pgp::types::KeyId {
        match self {
            SignerKey::Primary(k) => k.legacy_key_id(),
            SignerKey::Sub(k) => k.legacy_key_id(),
        }
    }
}

fn std_duration(d: pgp::types::Duration) -> Duration {
    d.into()
}

/// The repository key(s) from `--package-key`.
pub struct RepoKey {
    keys: Vec<SignedPublicKey>,
    origin: String,
}

impl RepoKey {
    /// Read a key file: ASCII-armored or binary, one key or a keyring of several.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = airlock_verify::fsutil::read_limited(path, MAX_KEY_BYTES, "package key")?;
        Self::parse(&bytes, &path.display().to_string())
    }

    /// Parse key bytes; `origin` names them in errors.
    pub fn parse(bytes: &[u8], origin: &str) -> Result<Self> {
        let bad = |r: String| Error::invalid("package key", origin, r);
        let parsed = SignedPublicKey::from_reader_many(bytes)
            .map_err(|e| bad(format!("not an OpenPGP public key: {e}")))?;
        let mut keys = Vec::new();
        for k in parsed.0 {
            let k = k.map_err(|e| bad(format!("not an OpenPGP public key: {e}")))?;
            k.verify_bindings().map_err(|e| {
                bad(format!(
                    "key {:X}: its self-signatures do not verify: {e}",
                    k.primary_key.fingerprint()
                ))
            })?;
            keys.push(k);
        }
        if keys.is_empty() {
            return Err(bad("holds no public key".into()));
        }
        Ok(RepoKey {
            keys,
            origin: origin.to_string(),
        })
    }

    /// The primary keys' fingerprints, upper-case hex, comma-separated.
    pub fn fingerprints(&self) -> String {
        self.keys
            .iter()
            .map(|k| format!("{:X}", k.primary_key.fingerprint()))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Verify a cleartext-signed document (`InRelease`) and return the signed text
    /// exactly as it was signed (line ends `\n`, with its final newline) and the
    /// fingerprint of the primary key whose key made the signature. Parse only what this
    /// returns, never the file around it.
    pub fn verify_cleartext(&self, text: &str, artifact: &str) -> Result<(String, String)> {
        let (msg, _) = CleartextSignedMessage::from_string(text).map_err(|e| {
            signature_error(
                artifact,
                format!("is not an OpenPGP cleartext-signed document: {e}"),
            )
        })?;
        let signed = msg.signed_text();
        let fpr = self.verify_any(msg.signatures(), signed.as_bytes(), artifact)?;
        Ok((signed.replace("\r\n", "\n") + "\n", fpr))
    }

    /// Verify a detached signature (`Release.gpg`, `repomd.xml.asc`; armored or binary)
    /// over `data`; returns the fingerprint of the primary key that made it.
    pub fn verify_detached(&self, sig: &[u8], data: &[u8], artifact: &str) -> Result<String> {
        let sigs = parse_detached(sig)
            .map_err(|e| signature_error(artifact, format!("is not an OpenPGP signature: {e}")))?;
        self.verify_any(&sigs, data, artifact)
    }

    fn verify_any(&self, sigs: &[Signature], data: &[u8], artifact: &str) -> Result<String> {
        let now = SystemTime::now();
        let mut reasons = Vec::new();
        for sig in sigs {
            match self.check_one(sig, data, now) {
                Ok(fpr) => return Ok(fpr),
                Err(r) => reasons.push(r),
            }
        }
        if reasons.is_empty() {
            reasons.push("it carries no signature".into());
        }
        Err(signature_error(
            artifact,
            format!(
                "no valid signature by the key in {} ({}): {}",
                self.origin,
                self.fingerprints(),
                reasons.join("; ")
            ),
        ))
    }

    /// One signature against every usable signing key; `Ok` with the primary key's
    /// fingerprint, or why it does not count.
    fn check_one(
        &self,
        sig: &Signature,
        data: &[u8],
        now: SystemTime,
    ) -> std::result::Result<String, String> {
        let issuer = issuer_of(sig);
        match sig.typ() {
            Some(SignatureType::Binary | SignatureType::Text) => {}
            other => return Err(format!("signature by {issuer} is of type {other:?}")),
        }
        let hash = sig.hash_alg().unwrap_or(HashAlgorithm::None);
        if !matches!(
            hash,
            HashAlgorithm::Sha224
                | HashAlgorithm::Sha256
                | HashAlgorithm::Sha384
                | HashAlgorithm::Sha512
                | HashAlgorithm::Sha3_256
                | HashAlgorithm::Sha3_512
        ) {
            return Err(format!(
                "signature by {issuer} uses {hash}, which apt and dnf refuse"
            ));
        }
        let created = sig.created().map(SystemTime::from);
        let mut matched = false;
        for k in &self.keys {
            for s in signers(k) {
                // rPGP checks the issuer matches the key before the mathematics.
                if s.key.verify(sig, data).is_err() {
                    if sig.issuer_key_id().iter().any(|id| **id == s.key.key_id()) {
                        matched = true;
                    }
                    continue;
                }
                if let Some(exp) = s.expires
                    && (exp <= now || created.is_some_and(|c| c >= exp))
                {
                    return Err(format!(
                        "signing key {} expired at {} (unix time); apt and dnf on the nodes would refuse it too",
                        s.fingerprint,
                        exp.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
                    ));
                }
                if let Some(limit) = sig.signature_expiration_time()
                    && let Some(c) = created
                    && c + std_duration(limit) <= now
                {
                    return Err(format!("signature by {issuer} has expired"));
                }
                return Ok(format!("{:X}", k.primary_key.fingerprint()));
            }
        }
        if matched {
            Err(format!(
                "signature by {issuer} does not verify (the content was changed, or the signature is damaged)"
            ))
        } else {
            Err(format!(
                "signature by {issuer}, which is not a signing key in the given key file (a key that is not the repository's?)"
            ))
        }
    }
}

/// The primary key (when its self-signature allows signing, or says nothing) and every
/// subkey bound for signing and not revoked; each with its expiry, if any.
fn signers(k: &SignedPublicKey) -> Vec<Signer<'_>> {
    let mut out = Vec::new();
    let created = |t: Timestamp| SystemTime::from(t);
    if k.details.revocation_signatures.is_empty() {
        let self_sigs: Vec<&Signature> = k
            .details
            .users
            .iter()
            .flat_map(|u| u.signatures.iter())
            .chain(k.details.direct_signatures.iter())
            .collect();
        let newest = self_sigs
            .iter()
            .max_by_key(|s| s.created().map(|t| t.as_secs()));
        let may_sign = newest.is_none_or(|s| {
            let f = s.key_flags();
            f.sign()
                || !(f.certify() || f.encrypt_comms() || f.encrypt_storage() || f.authentication())
        });
        if may_sign {
            out.push(Signer {
                key: SignerKey::Primary(&k.primary_key),
                fingerprint: format!("{:X}", k.primary_key.fingerprint()),
                expires: newest
                    .and_then(|s| s.key_expiration_time())
                    .map(|d| created(k.primary_key.created_at()) + std_duration(d)),
            });
        }
        let primary_expiry = out.first().and_then(|s| s.expires);
        for sub in &k.public_subkeys {
            let revoked = sub
                .signatures
                .iter()
                .any(|s| s.typ() == Some(SignatureType::SubkeyRevocation));
            let binding = sub
                .signatures
                .iter()
                .filter(|s| s.typ() == Some(SignatureType::SubkeyBinding))
                .max_by_key(|s| s.created().map(|t| t.as_secs()));
            let Some(binding) = binding else { continue };
            if revoked || !binding.key_flags().sign() {
                continue;
            }
            let own = binding
                .key_expiration_time()
                .map(|d| created(sub.key.created_at()) + std_duration(d));
            // A subkey cannot outlive its primary key.
            let expires = match (own, primary_expiry) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            out.push(Signer {
                key: SignerKey::Sub(&sub.key),
                fingerprint: format!("{:X}", sub.key.fingerprint()),
                expires,
            });
        }
    }
    out
}

fn issuer_of(sig: &Signature) -> String {
    if let Some(f) = sig.issuer_fingerprint().first() {
        return format!("key {f:X}");
    }
    match sig.issuer_key_id().first() {
        Some(id) => format!("key ID {}", hex::encode_upper(id.as_ref())),
        None => "an unnamed key".into(),
    }
}

/// Armored or binary detached signatures (one or several).
fn parse_detached(bytes: &[u8]) -> pgp::errors::Result<Vec<Signature>> {
    let trimmed = bytes.trim_ascii_start();
    if trimmed.starts_with(b"-----BEGIN PGP") {
        let (d, _) = DetachedSignature::from_armor_single(trimmed)?;
        return Ok(vec![d.signature]);
    }
    let d = DetachedSignature::from_bytes(trimmed)?;
    Ok(vec![d.signature])
}

fn signature_error(artifact: &str, reason: String) -> Error {
    Error::Signature {
        artifact: artifact.to_string(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junk_is_no_key_and_no_signature() {
        let e = RepoKey::parse(b"not a key", "k").err().expect("refused");
        assert_eq!(e.exit_code(), 4);
        assert!(
            parse_detached(b"-----BEGIN PGP SIGNATURE-----\n\n-----END PGP SIGNATURE-----\n")
                .is_err()
        );
        assert!(parse_detached(b"").is_err());
    }

    proptest::proptest! {
        #[test]
        fn key_and_signature_parsers_never_panic(b in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = RepoKey::parse(&b, "prop");
            let _ = parse_detached(&b);
        }

        #[test]
        fn armored_junk_never_panics(s in "\\PC{0,200}") {
            let text = format!("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n{s}\n-----BEGIN PGP SIGNATURE-----\n\n{s}\n-----END PGP SIGNATURE-----\n");
            let _ = CleartextSignedMessage::from_string(&text);
            let _ = parse_detached(text.as_bytes());
        }
    }
}
