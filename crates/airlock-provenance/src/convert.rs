//! Pure conversions from what upstream publishes to one Sigstore bundle v0.3 document
//! (design §0.1): a cosign `.sig` tag layer, or a blob's `.sig` + `.cert`, each with the
//! Rekor API entry (inclusion proof + checkpoint) looked up on the connected side. Nothing
//! here is trusted: `check_artifact` verifies the result. The converters only refuse input
//! that cannot describe the artifact, so a resolve fails early with a clear reason.

use crate::ProvenanceError;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;

/// Media type of the bundles airlock writes.
pub const BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// cosign layer annotations (cosign `pkg/oci/static`).
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
pub const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";
/// The largest Rekor API response read for one entry.
pub const MAX_REKOR_ENTRY: usize = 256 * 1024;

/// One Rekor v1 entry as the API returns it, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RekorEntry {
    pub uuid: String,
    pub body: Vec<u8>,
    pub integrated_time: i64,
    pub log_id: Vec<u8>,
    pub log_index: u64,
    pub signed_entry_timestamp: Vec<u8>,
    pub proof_log_index: u64,
    pub root_hash: Vec<u8>,
    pub tree_size: u64,
    pub hashes: Vec<Vec<u8>>,
    pub checkpoint: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiEntry {
    body: String,
    integrated_time: i64,
    #[serde(rename = "logID")]
    log_id: String,
    log_index: u64,
    verification: ApiVerification,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiVerification {
    signed_entry_timestamp: String,
    inclusion_proof: ApiProof,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiProof {
    log_index: u64,
    root_hash: String,
    tree_size: u64,
    hashes: Vec<String>,
    checkpoint: String,
}

/// Parses a Rekor `GET /api/v1/log/entries…` response: an object with exactly one
/// `uuid: entry` member, whose proof and SET must be present.
pub fn parse_rekor_entry(artifact: &str, json: &[u8]) -> Result<RekorEntry, ProvenanceError> {
    if json.len() > MAX_REKOR_ENTRY {
        return Err(ProvenanceError::too_large(
            artifact,
            "Rekor entry",
            json.len(),
            MAX_REKOR_ENTRY,
        ));
    }
    let bad = |d: String| ProvenanceError::malformed(artifact, "Rekor entry", d);
    let map: BTreeMap<String, ApiEntry> =
        serde_json::from_slice(json).map_err(|e| bad(e.to_string()))?;
    let mut entries = map.into_iter();
    let (Some((uuid, e)), None) = (entries.next(), entries.next()) else {
        return Err(bad("the response must hold exactly one entry".into()));
    };
    let b64 = |what: &str, s: &str| B64.decode(s).map_err(|e| bad(format!("{what}: {e}")));
    let hex = |what: &str, s: &str| hex::decode(s).map_err(|e| bad(format!("{what}: {e}")));
    let p = e.verification.inclusion_proof;
    Ok(RekorEntry {
        body: b64("body", &e.body)?,
        integrated_time: e.integrated_time,
        log_id: hex("logID", &e.log_id)?,
        log_index: e.log_index,
        signed_entry_timestamp: b64(
            "signedEntryTimestamp",
            &e.verification.signed_entry_timestamp,
        )?,
        proof_log_index: p.log_index,
        root_hash: hex("rootHash", &p.root_hash)?,
        tree_size: p.tree_size,
        hashes: p
            .hashes
            .iter()
            .map(|h| hex("hashes", h))
            .collect::<Result<_, _>>()?,
        checkpoint: p.checkpoint,
        uuid,
    })
}

/// The `dev.sigstore.cosign/bundle` annotation: the log's promise for this signature.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CosignRekorBundle {
    #[serde(rename = "SignedEntryTimestamp")]
    signed_entry_timestamp: String,
    #[serde(rename = "Payload")]
    payload: CosignRekorPayload,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CosignRekorPayload {
    body: String,
    integrated_time: i64,
    log_index: u64,
    #[serde(rename = "logID")]
    log_id: String,
}

/// A cosign `.sig` tag layer (its annotations and its blob, the simple-signing payload)
/// plus the Rekor entry its bundle annotation names → bundle v0.3 JSON.
pub fn bundle_from_cosign_layer(
    artifact: &str,
    annotations: &BTreeMap<String, String>,
    payload: &[u8],
    rekor: &RekorEntry,
) -> Result<Vec<u8>, ProvenanceError> {
    let bad = |d: String| ProvenanceError::malformed(artifact, "cosign signature layer", d);
    let get = |key: &str| {
        annotations
            .get(key)
            .ok_or_else(|| bad(format!("no {key} annotation")))
    };
    let signature = B64
        .decode(get(SIGNATURE_ANNOTATION)?.trim())
        .map_err(|e| bad(format!("{SIGNATURE_ANNOTATION}: {e}")))?;
    // A keyed signature (`cosign sign --key`) has no certificate annotation.
    let cert = match annotations.get(CERTIFICATE_ANNOTATION) {
        Some(pem) => Some(pem_certificate(artifact, pem)?),
        None => None,
    };
    let promise: CosignRekorBundle = serde_json::from_str(get(BUNDLE_ANNOTATION)?)
        .map_err(|e| bad(format!("{BUNDLE_ANNOTATION}: {e}")))?;
    // The API entry must be the one the layer's own promise names.
    let same = B64
        .decode(&promise.payload.body)
        .is_ok_and(|b| b == rekor.body)
        && promise.payload.integrated_time == rekor.integrated_time
        && promise.payload.log_index == rekor.log_index
        && hex::decode(&promise.payload.log_id).is_ok_and(|id| id == rekor.log_id)
        && B64
            .decode(&promise.signed_entry_timestamp)
            .is_ok_and(|s| s == rekor.signed_entry_timestamp);
    if !same {
        return Err(ProvenanceError::LogEntryForAnotherArtifact {
            artifact: artifact.to_owned(),
            detail: format!(
                "Rekor entry {} is not the one the layer's bundle annotation names",
                rekor.uuid
            ),
        });
    }
    assemble(
        artifact,
        cert.as_deref(),
        &signature,
        &Sha256::digest(payload).into(),
        rekor,
    )
}

/// A blob's `.sig` (base64 DER signature) and `.cert` (PEM, or base64 of PEM as
/// `cosign sign-blob` writes it; `None` for a keyed signature) plus its Rekor entry →
/// bundle v0.3 JSON.
pub fn bundle_from_blob_signature(
    artifact: &str,
    sig: &[u8],
    cert: Option<&[u8]>,
    blob_sha256: &[u8; 32],
    rekor: &RekorEntry,
) -> Result<Vec<u8>, ProvenanceError> {
    let bad = |what: &'static str, d: String| ProvenanceError::malformed(artifact, what, d);
    let sig_text = std::str::from_utf8(sig).map_err(|e| bad(".sig", e.to_string()))?;
    let signature = B64
        .decode(strip_ws(sig_text))
        .map_err(|e| bad(".sig", e.to_string()))?;
    let der = match cert {
        Some(cert) => {
            let cert_text = std::str::from_utf8(cert).map_err(|e| bad(".cert", e.to_string()))?;
            let pem = if cert_text.trim_start().starts_with("-----BEGIN") {
                cert_text.to_owned()
            } else {
                let decoded = B64
                    .decode(strip_ws(cert_text))
                    .map_err(|e| bad(".cert", e.to_string()))?;
                String::from_utf8(decoded).map_err(|e| bad(".cert", e.to_string()))?
            };
            Some(pem_certificate(artifact, &pem)?)
        }
        None => None,
    };
    assemble(artifact, der.as_deref(), &signature, blob_sha256, rekor)
}

fn strip_ws(s: &str) -> String {
    s.chars().filter(|c| !c.is_ascii_whitespace()).collect()
}

/// The DER of the one `CERTIFICATE` block in `pem`.
pub fn pem_certificate(artifact: &str, pem: &str) -> Result<Vec<u8>, ProvenanceError> {
    let bad = |d: &str| ProvenanceError::malformed(artifact, "PEM certificate", d);
    let begin = "-----BEGIN CERTIFICATE-----";
    let end = "-----END CERTIFICATE-----";
    let start = pem
        .find(begin)
        .ok_or_else(|| bad("no BEGIN CERTIFICATE line"))?
        + begin.len();
    let stop = start
        + pem[start..]
            .find(end)
            .ok_or_else(|| bad("no END CERTIFICATE line"))?;
    if pem[stop + end.len()..].contains("-----BEGIN") {
        return Err(bad("more than one PEM block; the leaf alone is expected"));
    }
    B64.decode(strip_ws(&pem[start..stop]))
        .map_err(|e| bad(&e.to_string()))
}

/// The kind and version a Rekor body declares (`hashedrekord` 0.0.1, `dsse` 0.0.1, …).
fn kind_version(artifact: &str, body: &[u8]) -> Result<(String, String), ProvenanceError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Head {
        kind: String,
        api_version: String,
    }
    let head: Head = serde_json::from_slice(body)
        .map_err(|e| ProvenanceError::malformed(artifact, "Rekor entry body", e))?;
    Ok((head.kind, head.api_version))
}

/// The bundle's `tlogEntries[]` member for a Rekor v1 entry (SET, proof, checkpoint).
pub(crate) fn tlog_entry_json(
    artifact: &str,
    r: &RekorEntry,
) -> Result<serde_json::Value, ProvenanceError> {
    let (kind, version) = kind_version(artifact, &r.body)?;
    Ok(json!({
        "logIndex": r.log_index.to_string(),
        "logId": { "keyId": B64.encode(&r.log_id) },
        "kindVersion": { "kind": kind, "version": version },
        "integratedTime": r.integrated_time.to_string(),
        "inclusionPromise": { "signedEntryTimestamp": B64.encode(&r.signed_entry_timestamp) },
        "inclusionProof": {
            "logIndex": r.proof_log_index.to_string(),
            "rootHash": B64.encode(&r.root_hash),
            "treeSize": r.tree_size.to_string(),
            "hashes": r.hashes.iter().map(|h| B64.encode(h)).collect::<Vec<_>>(),
            "checkpoint": { "envelope": r.checkpoint },
        },
        "canonicalizedBody": B64.encode(&r.body),
    }))
}

/// A keyed signature's bundle names no key (the policy supplies it); the hint is empty.
fn assemble(
    artifact: &str,
    cert_der: Option<&[u8]>,
    signature: &[u8],
    digest: &[u8; 32],
    r: &RekorEntry,
) -> Result<Vec<u8>, ProvenanceError> {
    let mut material = json!({ "tlogEntries": [tlog_entry_json(artifact, r)?] });
    match cert_der {
        Some(der) => material["certificate"] = json!({ "rawBytes": B64.encode(der) }),
        None => material["publicKey"] = json!({ "hint": "" }),
    }
    let bundle = json!({
        "mediaType": BUNDLE_V03,
        "verificationMaterial": material,
        "messageSignature": {
            "messageDigest": { "algorithm": "SHA2_256", "digest": B64.encode(digest) },
            "signature": B64.encode(signature),
        },
    });
    serde_json::to_vec_pretty(&bundle)
        .map_err(|e| ProvenanceError::malformed(artifact, "Sigstore bundle", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_certificate_is_read_from_pem_only_when_it_is_the_only_block() {
        let der = [0x30u8, 0x03, 0x02, 0x01, 0x05];
        let pem = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            B64.encode(der)
        );
        assert_eq!(pem_certificate("c", &pem).expect("one block"), der);
        let two = format!("{pem}{pem}");
        assert!(matches!(
            pem_certificate("c", &two),
            Err(ProvenanceError::Malformed { .. })
        ));
        assert!(matches!(
            pem_certificate("c", "nothing"),
            Err(ProvenanceError::Malformed { .. })
        ));
    }

    #[test]
    fn a_rekor_response_must_hold_exactly_one_entry() {
        assert!(matches!(
            parse_rekor_entry("e", b"{}"),
            Err(ProvenanceError::Malformed { .. })
        ));
        assert!(matches!(
            parse_rekor_entry("e", b"[]"),
            Err(ProvenanceError::Malformed { .. })
        ));
    }

    proptest! {
        #[test]
        fn rekor_entry_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
            let _ = parse_rekor_entry("fuzz", &bytes);
        }

        #[test]
        fn pem_parser_never_panics(text in ".{0,400}") {
            let _ = pem_certificate("fuzz", &text);
        }
    }
}
