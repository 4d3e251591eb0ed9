//! cosign's simple-signing payload (containers-signature format, cosign
//! `specs/SIGNATURE_SPEC.md`): what a `.sig` tag layer signs. Only the digest claim binds
//! the signature to an image; `docker-reference` is read for the report and never compared
//! (the spec says it is ignored, and Kubernetes has signed images under other names).

use crate::ProvenanceError;
use serde::Deserialize;

/// The largest payload read; real ones are a few hundred bytes.
pub const MAX_PAYLOAD: usize = 64 * 1024;

/// The only `critical.type` cosign writes.
pub const COSIGN_TYPE: &str = "cosign container image signature";

/// What a checked payload says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimpleSigning {
    /// `critical.image.docker-manifest-digest`, `sha256:` + 64 lowercase hex digits.
    pub digest: String,
    /// `critical.identity.docker-reference`, for the report only.
    pub docker_reference: String,
}

// Unknown keys in `critical` are refused: a claim airlock does not understand must not be
// silently dropped. serde's derive also refuses duplicate fields.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    critical: Critical,
    #[serde(default)]
    optional: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Critical {
    identity: IdentityClaim,
    image: ImageClaim,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IdentityClaim {
    #[serde(rename = "docker-reference")]
    docker_reference: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImageClaim {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: String,
}

/// Parses a payload; `artifact` names it in errors.
pub fn parse(artifact: &str, bytes: &[u8]) -> Result<SimpleSigning, ProvenanceError> {
    if bytes.len() > MAX_PAYLOAD {
        return Err(ProvenanceError::too_large(
            artifact,
            "simple-signing payload",
            bytes.len(),
            MAX_PAYLOAD,
        ));
    }
    let bad =
        |detail: String| ProvenanceError::malformed(artifact, "simple-signing payload", detail);
    let payload: Payload = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
    let _ = payload.optional;
    let c = payload.critical;
    if c.kind != COSIGN_TYPE {
        return Err(bad(format!(
            "critical.type is {:?}, not {COSIGN_TYPE:?}",
            c.kind
        )));
    }
    let digest = c.image.docker_manifest_digest;
    if !is_sha256_digest(&digest) {
        return Err(bad(format!(
            "docker-manifest-digest {digest:?} is not sha256: and 64 lowercase hex digits"
        )));
    }
    Ok(SimpleSigning {
        digest,
        docker_reference: c.identity.docker_reference,
    })
}

/// Parses a payload and requires its digest claim to be `expected` (byte for byte).
pub fn check(
    artifact: &str,
    bytes: &[u8],
    expected: &str,
) -> Result<SimpleSigning, ProvenanceError> {
    let claim = parse(artifact, bytes)?;
    if claim.digest != expected {
        return Err(ProvenanceError::PayloadNamesAnotherDigest {
            artifact: artifact.to_owned(),
            claimed: claim.digest,
            expected: expected.to_owned(),
        });
    }
    Ok(claim)
}

/// `sha256:` followed by 64 lowercase hex digits, the only digest form airlock locks.
pub fn is_sha256_digest(s: &str) -> bool {
    s.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn payload(digest: &str) -> String {
        format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"registry.k8s.io/kubernetes/kube-apiserver"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"{COSIGN_TYPE}"}},"optional":{{"a":1}}}}"#
        )
    }

    #[test]
    fn the_digest_claim_binds_and_the_reference_is_only_read() {
        let got = check("img", payload(D).as_bytes(), D).expect("valid payload");
        assert_eq!(
            got.docker_reference,
            "registry.k8s.io/kubernetes/kube-apiserver"
        );
        let other = D.replace("0123", "4567");
        match check("img", payload(D).as_bytes(), &other) {
            Err(ProvenanceError::PayloadNamesAnotherDigest { claimed, .. }) => {
                assert_eq!(claimed, D)
            }
            other => panic!("expected PayloadNamesAnotherDigest, got {other:?}"),
        }
    }

    #[test]
    fn unknown_and_duplicate_critical_keys_are_refused() {
        let unknown = payload(D).replace(r#""type""#, r#""extra":1,"type""#);
        let dup = payload(D).replace(
            r#""type""#,
            &format!(r#""image":{{"docker-manifest-digest":"{D}"}},"type""#),
        );
        for bad in [unknown, dup] {
            assert!(
                matches!(
                    parse("img", bad.as_bytes()),
                    Err(ProvenanceError::Malformed { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn wrong_type_bad_digest_and_oversize_are_refused() {
        let wrong_type = payload(D).replace(COSIGN_TYPE, "atomic container signature");
        assert!(matches!(
            parse("img", wrong_type.as_bytes()),
            Err(ProvenanceError::Malformed { .. })
        ));
        let upper = payload(&D.to_uppercase().replace("SHA256", "sha256"));
        assert!(matches!(
            parse("img", upper.as_bytes()),
            Err(ProvenanceError::Malformed { .. })
        ));
        let big = vec![b' '; MAX_PAYLOAD + 1];
        assert!(matches!(
            parse("img", &big),
            Err(ProvenanceError::TooLarge { .. })
        ));
    }

    proptest! {
        #[test]
        fn any_bytes_parse_or_fail_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse("fuzz", &bytes);
        }

        #[test]
        fn a_payload_accepts_exactly_its_own_digest(hex in "[0-9a-f]{64}", other in "[0-9a-f]{64}") {
            let digest = format!("sha256:{hex}");
            let p = payload(&digest);
            prop_assert_eq!(check("p", p.as_bytes(), &digest).ok().map(|c| c.digest), Some(digest.clone()));
            let other = format!("sha256:{other}");
            prop_assert_eq!(check("p", p.as_bytes(), &other).is_ok(), other == digest);
        }
    }
}
