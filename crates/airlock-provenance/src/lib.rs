//! Offline check of upstream Sigstore signatures (issue 23; design in
//! `docs/design/provenance.md`). No HTTP, no async, no CLI: the connected side calls it at
//! resolve time and the enclave re-checks carried evidence with the same function,
//! [`check_artifact`].
//!
//! # Who checks what
//! The design's §3 steps 1–8 are done by `sigstore-verify` 0.15.1 (`Verifier::verify`,
//! read in its `src/verify.rs`), with a keyless `VerificationPolicy::new(identity,
//! issuer)` that keeps every check on (no `skip_*`):
//! - bundle structure, with the inclusion proof required (`validate_bundle_with_options`);
//! - the SET over the canonical entry with a Rekor key of the trusted root, making
//!   `integratedTime` the trusted signing time T, not in the future (its step 0);
//! - the leaf → Fulcio CA chain at T with rustls-webpki, only CAs whose `validFor`
//!   contains T, CODE_SIGNING EKU, and T inside the leaf's notBefore..notAfter (step 1);
//! - the embedded SCT against a CT log key of the trusted root (step 2);
//! - SAN and OIDC issuer (extension 1.3.6.1.4.1.57264.1.8, else .1.1) equal the policy
//!   (step 3);
//! - the RFC 6962 inclusion proof to the root, the checkpoint signed by the log key and
//!   naming that root, T inside the leaf's validity (steps 4–6);
//! - the signature over the artifact and `messageDigest` = the artifact's digest, or for
//!   DSSE the PAE signature and an in-toto subject equal to the artifact digest (step 7);
//! - the log body describes this signature, certificate and digest (CVE-2022-36056
//!   class, step 8).
//!
//! This crate adds: exactly one log entry with both its SET and its proof + checkpoint
//! (design §0.1, stricter than sigstore-verify, which accepts a proof alone); size caps;
//! every evidence flag of the result required (`certificate_verified`, `sct_verified`,
//! `tlog_verified`, `identity_policy_checked`, an integrated time); the binding to the
//! locked artifact (§3 step 9: the simple-signing digest claim, or the DSSE predicate
//! type); errors that name the artifact and say which check refused it.

mod convert;
mod error;
mod policy;
pub mod simple_signing;

pub use convert::{
    BUNDLE_ANNOTATION, BUNDLE_V03, CERTIFICATE_ANNOTATION, MAX_REKOR_ENTRY, RekorEntry,
    SIGNATURE_ANNOTATION, bundle_from_blob_signature, bundle_from_cosign_layer, parse_rekor_entry,
    pem_certificate,
};
pub use error::ProvenanceError;
#[cfg(feature = "test-world")]
pub mod testworld;
pub use policy::{
    GOOGLE_ISSUER, Identity, KUBERNETES_DOWNLOADS, KUBERNETES_FILES, KUBERNETES_IMAGES,
    KUBERNETES_REGISTRY, Policy, PublicKey,
};

use sha2::{Digest as _, Sha256};
use sigstore_verify::types::DerPublicKey;
use sigstore_verify::types::{Bundle, HashAlgorithm, Sha256Hash, SignatureContent};
use sigstore_verify::{
    IdentityMatcher, PublicKeyVerificationPolicy, VerificationPolicy, VerificationResult, Verifier,
};

/// The largest bundle read; one certificate and one log entry are a few KiB.
pub const MAX_BUNDLE: usize = 256 * 1024;
/// The largest trusted root read; the production one is about 7 KiB.
pub const MAX_TRUSTED_ROOT: usize = 1024 * 1024;
/// The in-toto predicate cosign 3 signs images with (design §1.2).
pub const COSIGN_SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";

/// What was signed, as the lock pins it.
#[derive(Debug, Clone, Copy)]
pub enum Artifact<'a> {
    /// An image by its manifest (or index) digest, `sha256:<hex>`. `payload` is the
    /// simple-signing payload a `.sig` tag signature covers; `None` for a DSSE bundle.
    Image {
        name: &'a str,
        digest: &'a str,
        payload: Option<&'a [u8]>,
    },
    /// A file by its sha256 (streamed elsewhere; the signature is checked over the digest).
    Blob { name: &'a str, sha256: [u8; 32] },
}

impl Artifact<'_> {
    fn name(&self) -> &str {
        match self {
            Self::Image { name, .. } | Self::Blob { name, .. } => name,
        }
    }
}

/// A parsed `trusted_root.json` (Sigstore `TrustedRoot` 0.1/0.2), parsed once for many
/// artifacts.
pub struct TrustedRoot {
    verifier: Verifier,
}

impl TrustedRoot {
    /// Parses and prepares the root: every key and CA certificate must be usable.
    pub fn from_json(json: &[u8]) -> Result<Self, ProvenanceError> {
        let bad = |detail: String| ProvenanceError::BadTrustedRoot { detail };
        if json.len() > MAX_TRUSTED_ROOT {
            return Err(bad(format!(
                "{} bytes, over the {MAX_TRUSTED_ROOT}-byte limit",
                json.len()
            )));
        }
        let text = std::str::from_utf8(json).map_err(|e| bad(e.to_string()))?;
        let root = sigstore_verify::trust_root::TrustedRoot::from_json(text)
            .map_err(|e| bad(e.to_string()))?;
        let missing = if root.certificate_authorities.is_empty() {
            Some("certificate authority (certificateAuthorities)")
        } else if root.tlogs.is_empty() {
            Some("transparency log (tlogs)")
        } else {
            None
        };
        if let Some(missing) = missing {
            return Err(ProvenanceError::IncompleteTrustedRoot { missing });
        }
        let verifier = Verifier::new(&root).map_err(|e| bad(e.to_string()))?;
        Ok(Self { verifier })
    }
}

/// What a passed check proved, for the lock and the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenanceFacts {
    /// The certificate's SAN, as the policy required it.
    pub identity: String,
    /// The OIDC issuer in the certificate, as the policy required it.
    pub issuer: String,
    /// The entry's global index in the log (covered by the SET).
    pub log_index: u64,
    /// Unix seconds, the signing time the log vouches for.
    pub integrated_time: i64,
    /// Hex SHA-256 of the log's key (Rekor's `logID`).
    pub log_id: String,
    /// The simple-signing `docker-reference`, reported, never compared.
    pub docker_reference: Option<String>,
}

/// Checks `bundle_json` (a Sigstore bundle) for `artifact` against the keyless `policy`
/// and `root` (the built-in Kubernetes identities; see [`check`] for any policy).
pub fn check_artifact(
    bundle_json: &[u8],
    artifact: &Artifact<'_>,
    policy: &Identity,
    root: &TrustedRoot,
) -> Result<ProvenanceFacts, ProvenanceError> {
    check(
        bundle_json,
        artifact,
        &Policy::Keyless(policy.clone()),
        root,
    )
}

/// Checks `bundle_json` for `artifact` against `policy` (a keyless identity or a cosign
/// public key) and `root`. A keyed signature gets every check but the certificate ones
/// (there is none): the signature with the key, the log's SET, proof and checkpoint, and
/// the log body naming this key, signature and digest.
pub fn check(
    bundle_json: &[u8],
    artifact: &Artifact<'_>,
    policy: &Policy,
    root: &TrustedRoot,
) -> Result<ProvenanceFacts, ProvenanceError> {
    let name = artifact.name();
    let bundle = parse_bundle(name, bundle_json)?;
    check_message_digest(artifact, &bundle)?;
    let verified = verify(artifact, &bundle, policy, root)?;
    let integrated_time = require_every_check(name, &verified, policy)?;
    let docker_reference = bind(artifact, &bundle)?;
    // parse_bundle made sure there is exactly one entry.
    let entry = &bundle.verification_material.tlog_entries[0];
    let (identity, issuer) = match policy {
        Policy::Keyless(_) => (
            verified
                .identity()
                .map(|i| i.as_str().to_owned())
                .unwrap_or_default(),
            verified.issuer().unwrap_or_default().to_owned(),
        ),
        // No certificate: the key is the signer, and no OIDC issuer vouched for anyone.
        Policy::Key(k) => (k.label(), String::new()),
    };
    Ok(ProvenanceFacts {
        identity,
        issuer,
        log_index: entry.log_index.get(),
        integrated_time,
        log_id: hex::encode(entry.log_id.key_id.as_bytes()),
        docker_reference,
    })
}

/// Design §3 steps 1-8, by sigstore-verify with every check on.
fn verify(
    artifact: &Artifact<'_>,
    bundle: &Bundle,
    policy: &Policy,
    root: &TrustedRoot,
) -> Result<VerificationResult, ProvenanceError> {
    let name = artifact.name();
    let keyless;
    let keyed;
    let policy: &dyn sigstore_verify::Policy = match policy {
        Policy::Keyless(i) => {
            keyless = VerificationPolicy::new(
                IdentityMatcher::Exact(i.san.to_string()),
                i.issuer.to_string(),
            );
            &keyless
        }
        Policy::Key(k) => {
            keyed = PublicKeyVerificationPolicy::new(DerPublicKey::new(k.der().to_vec()));
            &keyed
        }
    };
    let v = &root.verifier;
    match (*artifact, &bundle.content) {
        (
            Artifact::Image {
                payload: Some(p), ..
            },
            SignatureContent::MessageSignature(_),
        ) => v.verify(p, bundle, policy),
        (
            Artifact::Image {
                payload: None,
                digest,
                ..
            },
            SignatureContent::DsseEnvelope(_),
        ) => {
            let bad = |d: &str| ProvenanceError::malformed(name, "image digest", d);
            let hex = digest
                .strip_prefix("sha256:")
                .filter(|_| simple_signing::is_sha256_digest(digest))
                .ok_or_else(|| bad("not sha256: and 64 lowercase hex digits"))?;
            let d = Sha256Hash::from_hex(hex).map_err(|e| bad(&e.to_string()))?;
            v.verify(d, bundle, policy)
        }
        (Artifact::Blob { sha256, .. }, SignatureContent::MessageSignature(_)) => {
            v.verify(Sha256Hash::new(sha256), bundle, policy)
        }
        _ => {
            return Err(ProvenanceError::malformed(
                name,
                "Sigstore bundle",
                "its content (message signature or DSSE) does not fit this artifact",
            ));
        }
    }
    .map_err(|e| error::refusal(name, e, bundle))
}

/// Every evidence flag of the result must be set (no check may have been skipped); returns
/// the log-proven signing time in Unix seconds.
fn require_every_check(
    name: &str,
    verified: &VerificationResult,
    policy: &Policy,
) -> Result<i64, ProvenanceError> {
    let incomplete = |what| ProvenanceError::Incomplete {
        artifact: name.to_owned(),
        what,
    };
    // A keyed signature has no certificate: the key itself is the identity check.
    let keyless = matches!(policy, Policy::Keyless(_));
    for (needed, done, what) in [
        (
            keyless,
            verified.certificate_verified(),
            "the certificate chain",
        ),
        (keyless, verified.sct_verified(), "the certificate's SCT"),
        (true, verified.tlog_verified(), "the log inclusion"),
        (
            keyless,
            verified.identity_policy_checked(),
            "the signer identity",
        ),
    ] {
        if needed && !done {
            return Err(incomplete(what));
        }
    }
    let time = verified
        .integrated_time()
        .ok_or_else(|| incomplete("a log-proven signing time"))?;
    Ok(time.as_second())
}

/// Parses a bundle and requires what airlock carries: one log entry with its SET and its
/// inclusion proof + checkpoint.
fn parse_bundle(name: &str, json: &[u8]) -> Result<Bundle, ProvenanceError> {
    if json.len() > MAX_BUNDLE {
        return Err(ProvenanceError::too_large(
            name,
            "Sigstore bundle",
            json.len(),
            MAX_BUNDLE,
        ));
    }
    let bad = |d: &str| ProvenanceError::malformed(name, "Sigstore bundle", d);
    let text = std::str::from_utf8(json).map_err(|e| bad(&e.to_string()))?;
    // sigstore-types reads a missing mediaType as 0.1 (old cosign bundles); what airlock
    // carries names its version.
    #[derive(serde::Deserialize)]
    struct Head {
        #[serde(rename = "mediaType")]
        media_type: Option<serde::de::IgnoredAny>,
    }
    let head: Head = serde_json::from_str(text).map_err(|e| bad(&e.to_string()))?;
    if head.media_type.is_none() {
        return Err(bad("no mediaType"));
    }
    let bundle = Bundle::from_json(text).map_err(|e| bad(&e.to_string()))?;
    let [entry] = bundle.verification_material.tlog_entries.as_slice() else {
        return Err(bad("exactly one transparency log entry is required"));
    };
    if entry.inclusion_promise.is_none() {
        return Err(bad("the log entry has no signed entry timestamp"));
    }
    if entry
        .inclusion_proof
        .as_ref()
        .is_none_or(|p| p.checkpoint.is_empty())
    {
        return Err(bad(
            "the log entry has no inclusion proof with a checkpoint",
        ));
    }
    Ok(bundle)
}

/// Design §3 step 7, done here first so that sigstore-verify's later "artifact
/// mismatch" can only mean the log entry (hashedrekord) or the DSSE subject.
fn check_message_digest(artifact: &Artifact<'_>, bundle: &Bundle) -> Result<(), ProvenanceError> {
    let SignatureContent::MessageSignature(m) = &bundle.content else {
        return Ok(());
    };
    let want: [u8; 32] = match *artifact {
        Artifact::Image {
            payload: Some(p), ..
        } => Sha256::digest(p).into(),
        Artifact::Blob { sha256, .. } => sha256,
        Artifact::Image { payload: None, .. } => return Ok(()),
    };
    match &m.message_digest {
        Some(d) if d.algorithm == HashAlgorithm::Sha2256 && d.digest.as_bytes() == want => Ok(()),
        Some(_) => Err(ProvenanceError::BundleForAnotherArtifact {
            artifact: artifact.name().to_owned(),
            detail: format!("messageDigest is not sha256 {}", hex::encode(want)),
        }),
        None => Err(ProvenanceError::malformed(
            artifact.name(),
            "Sigstore bundle",
            "no messageDigest",
        )),
    }
}

/// Design §3 step 9: what binds a verified signature to the locked artifact beyond the
/// bytes sigstore-verify checked. Returns the reported `docker-reference`, if any.
fn bind(artifact: &Artifact<'_>, bundle: &Bundle) -> Result<Option<String>, ProvenanceError> {
    match (*artifact, &bundle.content) {
        (
            Artifact::Image {
                name,
                digest,
                payload: Some(p),
            },
            _,
        ) => Ok(Some(
            simple_signing::check(name, p, digest)?.docker_reference,
        )),
        (
            Artifact::Image {
                name,
                payload: None,
                ..
            },
            SignatureContent::DsseEnvelope(env),
        ) => {
            #[derive(serde::Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct Statement {
                predicate_type: String,
            }
            let mismatch = |detail: String| ProvenanceError::DsseMismatch {
                artifact: name.to_owned(),
                detail,
            };
            let st: Statement = serde_json::from_slice(env.payload.as_bytes())
                .map_err(|e| mismatch(e.to_string()))?;
            if st.predicate_type != COSIGN_SIGN_PREDICATE {
                return Err(mismatch(format!(
                    "predicate type {:?}, not {COSIGN_SIGN_PREDICATE:?}",
                    st.predicate_type
                )));
            }
            Ok(None)
        }
        // A blob's binding is its digest, which the signature and the log body cover.
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A root with a CA and a log (the test world's), made once for every case.
    fn world_root() -> &'static TrustedRoot {
        static ROOT: std::sync::OnceLock<TrustedRoot> = std::sync::OnceLock::new();
        ROOT.get_or_init(|| {
            let json = testworld::World::new().trusted_root_json();
            TrustedRoot::from_json(&json).expect("the world's root parses")
        })
    }

    #[test]
    fn a_root_without_a_ca_or_a_log_is_refused_by_name() {
        let json = testworld::World::new().trusted_root_json();
        let mut v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        for (field, named) in [
            ("certificateAuthorities", "certificate authority"),
            ("tlogs", "transparency log"),
        ] {
            let mut w = v.clone();
            w[field] = serde_json::json!([]);
            let e = TrustedRoot::from_json(&serde_json::to_vec(&w).unwrap())
                .err()
                .expect("refused");
            assert!(
                matches!(e, ProvenanceError::IncompleteTrustedRoot { .. }),
                "{e:?}"
            );
            assert!(e.to_string().contains(named), "{e}");
        }
        v["ctlogs"] = serde_json::json!([]);
        assert!(
            TrustedRoot::from_json(&serde_json::to_vec(&v).unwrap()).is_ok(),
            "CT logs are not required here"
        );
    }

    proptest! {
        #[test]
        fn any_bundle_bytes_are_refused_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let root = world_root();
            let blob = Artifact::Blob { name: "p", sha256: [0; 32] };
            prop_assert!(check_artifact(&bytes, &blob, &KUBERNETES_FILES, root).is_err());
        }

        #[test]
        fn any_public_key_text_parses_or_fails_without_panicking(text in "\\PC{0,600}") {
            let _ = PublicKey::from_pem("prop", &text);
            let pem = format!("-----BEGIN PUBLIC KEY-----\n{text}\n-----END PUBLIC KEY-----\n");
            let _ = PublicKey::from_pem("prop", &pem);
        }

        #[test]
        fn any_trusted_root_bytes_parse_or_fail_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = TrustedRoot::from_json(&bytes);
        }
    }
}
