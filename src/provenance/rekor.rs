//! Rekor v1 lookups on the connected side: the log entry a cosign `.sig` layer names by
//! its log index, and the entry of a blob signature (`.sig` + `.cert` on dl.k8s.io, which
//! ship no log entry) found as cosign finds it, by an index search on the file's sha256
//! and then by UUID (Rekor `openapi.yaml`: `GET /api/v1/log/entries?logIndex=`,
//! `GET /api/v1/log/entries/{uuid}`, `POST /api/v1/index/retrieve`). Each answer is
//! parsed into an `airlock_provenance::RekorEntry`, which the converters turn into a
//! Sigstore bundle; nothing here is trusted: `check_artifact` verifies the SET, the
//! inclusion proof and the checkpoint offline.

use airlock_provenance::{MAX_REKOR_ENTRY, RekorEntry, parse_rekor_entry};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;

use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::http::HttpClient;

/// Sigstore's public Rekor v1 instance, where Kubernetes' signatures are logged.
pub const PUBLIC_REKOR: &str = "https://rekor.sigstore.dev";

/// The most candidate entries a blob lookup reads. Anyone can log an entry for a public
/// file's hash; airlock looks at this many and says so rather than read without bound.
pub const MAX_CANDIDATES: usize = 32;

/// The largest index-search answer read (UUIDs are 64 or 80 hex digits).
const MAX_SEARCH_ANSWER: usize = 256 * 1024;

/// A Rekor v1 instance reached through airlock's HTTP client (mirrors, extra CAs).
pub struct Rekor<'a> {
    http: &'a HttpClient,
    base: String,
}

impl<'a> Rekor<'a> {
    /// Rekor at `base_url` (for example [`PUBLIC_REKOR`]).
    pub fn new(http: &'a HttpClient, base_url: &str) -> Self {
        Rekor {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
        }
    }

    /// The entry at global log index `index`.
    pub async fn entry_by_index(&self, index: u64) -> Result<RekorEntry> {
        let url = format!("{}/api/v1/log/entries?logIndex={index}", self.base);
        let entry = self.entry(&url).await?;
        if entry.log_index != index {
            return Err(document(
                &url,
                format!("answered with log index {}", entry.log_index),
            ));
        }
        Ok(entry)
    }

    /// The entry with `uuid` (64 hex digits, or 80 with the tree ID in front).
    pub async fn entry_by_uuid(&self, uuid: &str) -> Result<RekorEntry> {
        let url = format!("{}/api/v1/log/entries/{uuid}", self.base);
        if !matches!(uuid.len(), 64 | 80) || !uuid.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(document(
                &url,
                "an entry UUID is 64 or 80 hex digits".into(),
            ));
        }
        let entry = self.entry(&url).await?;
        // The UUID ends with the RFC 6962 leaf hash of the body: the answer must be it.
        let leaf = Sha256Digest::of(&[&[0u8][..], &entry.body].concat()).hex();
        if !uuid.to_ascii_lowercase().ends_with(&leaf) {
            return Err(document(
                &url,
                format!("answered with another entry (leaf hash {leaf})"),
            ));
        }
        Ok(entry)
    }

    /// The hashedrekord entry that logs `signature` (DER bytes) over the file `sha256`:
    /// the one with the lowest log index among the first [`MAX_CANDIDATES`] the index
    /// search names; `None` when none of them does (the signature is not proven logged,
    /// which is a refusal of the signature, not a failure of the lookup).
    pub async fn blob_entry(
        &self,
        sha256: &Sha256Digest,
        signature: &[u8],
    ) -> Result<Option<RekorEntry>> {
        let url = format!("{}/api/v1/index/retrieve", self.base);
        let query = serde_json::to_vec(&serde_json::json!({ "hash": sha256.to_string() }))
            .map_err(|e| document(&url, e.to_string()))?;
        let answer = self.http.post_json(&url, query, MAX_SEARCH_ANSWER).await?;
        let uuids: Vec<String> = match answer {
            Some(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| document(&url, e.to_string()))?
            }
            None => Vec::new(),
        };
        let mut best: Option<RekorEntry> = None;
        for uuid in uuids.iter().take(MAX_CANDIDATES) {
            let entry = self.entry_by_uuid(uuid).await?;
            if logs(&entry, sha256, signature)
                && best.as_ref().is_none_or(|b| entry.log_index < b.log_index)
            {
                best = Some(entry);
            }
        }
        Ok(best)
    }

    async fn entry(&self, url: &str) -> Result<RekorEntry> {
        let bytes = self
            .http
            .fetch_document(url, MAX_REKOR_ENTRY)
            .await?
            .ok_or_else(|| document(url, "no such entry (HTTP 404)".into()))?;
        parse_rekor_entry(url, &bytes).map_err(|e| document(url, e.to_string()))
    }
}

/// Whether a hashedrekord body records `signature` over `sha256`.
fn logs(entry: &RekorEntry, sha256: &Sha256Digest, signature: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Body {
        kind: String,
        spec: Spec,
    }
    #[derive(Deserialize)]
    struct Spec {
        data: Data,
        signature: Sig,
    }
    #[derive(Deserialize)]
    struct Data {
        hash: Hash,
    }
    #[derive(Deserialize)]
    struct Hash {
        algorithm: String,
        value: String,
    }
    #[derive(Deserialize)]
    struct Sig {
        content: String,
    }
    serde_json::from_slice::<Body>(&entry.body).is_ok_and(|b| {
        b.kind == "hashedrekord"
            && b.spec.data.hash.algorithm == "sha256"
            && b.spec.data.hash.value == sha256.hex()
            && B64
                .decode(&b.spec.signature.content)
                .is_ok_and(|s| s == signature)
    })
}

fn document(url: &str, reason: String) -> Error {
    Error::Document {
        url: url.to_owned(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::HttpOptions;
    use airlock_provenance::testworld::World;
    use airlock_provenance::{
        Artifact, KUBERNETES_FILES, KUBERNETES_IMAGES, TrustedRoot, bundle_from_blob_signature,
        bundle_from_cosign_layer, check_artifact,
    };

    const IMAGE: &str = "sha256:3b7b8bd0e7c1c1bd1a6b5a0d3b8f6f7c2c7e1f6a0f3c5d9e8b7a6c5d4e3f2a1b";

    #[tokio::test]
    async fn a_blob_and_an_image_entry_are_found_and_their_bundles_verify() {
        let mut world = World::new();
        world.log_filler(3);
        let files =
            world.issue_leaf(&world.leaf_spec(&KUBERNETES_FILES.san, &KUBERNETES_FILES.issuer));
        let images =
            world.issue_leaf(&world.leaf_spec(&KUBERNETES_IMAGES.san, &KUBERNETES_IMAGES.issuer));
        let blob = b"kubectl".to_vec();
        // Someone else logged a signature over the same file first: not ours, skipped.
        let _other = world.sign_blob(&images, &blob);
        let signed = world.sign_blob(&files, &blob);
        let layer = world.sign_image(&images, IMAGE, "registry.k8s.io/kube-apiserver");
        world.log_filler(2);
        let server = world.rekor_server();
        let http = HttpClient::new(HttpOptions::default()).unwrap();
        let rekor = Rekor::new(&http, &server.url);
        let root = TrustedRoot::from_json(&world.trusted_root_json()).unwrap();

        let sig = B64.decode(&signed.sig).unwrap();
        let entry = rekor
            .blob_entry(&Sha256Digest::of(&blob), &sig)
            .await
            .unwrap()
            .expect("the entry is found");
        assert_eq!(entry.log_index, signed.logged.index);
        let sha = *Sha256Digest::of(&blob).as_bytes();
        let bundle =
            bundle_from_blob_signature("kubectl", &signed.sig, Some(&signed.cert), &sha, &entry)
                .unwrap();
        let facts = check_artifact(
            &bundle,
            &Artifact::Blob {
                name: "kubectl",
                sha256: sha,
            },
            &KUBERNETES_FILES,
            &root,
        )
        .unwrap();
        assert_eq!(facts.log_index, signed.logged.index);

        let entry = rekor.entry_by_index(layer.logged.index).await.unwrap();
        let bundle =
            bundle_from_cosign_layer("kube-apiserver", &layer.annotations, &layer.payload, &entry)
                .unwrap();
        let image = Artifact::Image {
            name: "kube-apiserver",
            digest: IMAGE,
            payload: Some(&layer.payload),
        };
        assert_eq!(
            check_artifact(&bundle, &image, &KUBERNETES_IMAGES, &root)
                .unwrap()
                .identity,
            KUBERNETES_IMAGES.san
        );
    }

    #[tokio::test]
    async fn missing_entries_are_named_not_guessed() {
        let mut world = World::new();
        let leaf =
            world.issue_leaf(&world.leaf_spec(&KUBERNETES_FILES.san, &KUBERNETES_FILES.issuer));
        world.sign_blob(&leaf, b"kubectl");
        let server = world.rekor_server();
        let http = HttpClient::new(HttpOptions::default()).unwrap();
        let rekor = Rekor::new(&http, &server.url);
        let err = rekor.entry_by_index(99).await.unwrap_err();
        assert!(
            matches!(&err, Error::Document { reason, .. } if reason.contains("404")),
            "{err}"
        );
        // A signature the log does not hold over this file.
        let found = rekor
            .blob_entry(&Sha256Digest::of(b"kubectl"), b"not it")
            .await
            .unwrap();
        assert!(found.is_none(), "{found:?}");
        let err = rekor.entry_by_uuid("../../admin").await.unwrap_err();
        assert!(matches!(&err, Error::Document { .. }), "{err}");
        let unknown = Sha256Digest::of(b"other").hex();
        let err = rekor.entry_by_uuid(&unknown).await.unwrap_err();
        assert!(
            matches!(&err, Error::Document { reason, .. } if reason.contains("404")),
            "{err}"
        );
    }
}
