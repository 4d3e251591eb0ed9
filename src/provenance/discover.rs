//! Finding an artifact's upstream signatures and checking each (docs/design/provenance.md
//! §1.1–1.3): for an image, Sigstore bundles attached as OCI 1.1 referrers (the referrers
//! API, or the referrers tag schema where a registry answers the API with 404), then
//! cosign's `sha256-<hex>.sig` tag, one signature per layer; for a release file, `<url>.sig`
//! and `<url>.cert` beside it with its Rekor entry. Each is turned into a Sigstore bundle
//! and checked offline by `airlock_provenance::check_artifact`; the first that passes
//! counts, the ones refused before it are kept with their reason.

use std::collections::BTreeMap;
use std::sync::Arc;

use airlock_provenance::{
    Artifact, BUNDLE_V03, MAX_BUNDLE, Policy, ProvenanceError, ProvenanceFacts, TrustedRoot,
    bundle_from_blob_signature, bundle_from_cosign_layer, check, simple_signing::MAX_PAYLOAD,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;

use super::rekor::Rekor;
use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::http::HttpClient;
use crate::image_ref::ImageRef;
use crate::upstream_registry::UpstreamRegistry;

/// The layer media type of a cosign `.sig` tag signature.
pub const SIMPLE_SIGNING_LAYER: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The largest `.sig` or `.cert` file read beside a release file.
const MAX_SIG_FILE: usize = 64 * 1024;

pub use crate::lock::ProvenanceSource as Source;

/// A signature that passed: the Sigstore bundle document and, for a `.sig` tag, the
/// simple-signing payload it signs.
#[derive(Debug)]
pub struct Evidence {
    /// Where it was found.
    pub source: Source,
    /// The Sigstore bundle document that passed.
    pub bundle: Vec<u8>,
    /// The simple-signing payload it signs (a `.sig` tag signature only).
    pub payload: Option<Vec<u8>>,
    /// What the check proved.
    pub facts: ProvenanceFacts,
}

/// A signature found and refused.
#[derive(Debug)]
pub struct Refused {
    /// Where it was found.
    pub source: Source,
    /// Why it does not count.
    pub error: ProvenanceError,
}

/// What was found for one artifact.
#[derive(Debug, Default)]
pub struct Found {
    /// The first signature that passed, if any.
    pub passed: Option<Evidence>,
    /// Signatures refused (before the one that passed), each with why.
    pub refused: Vec<Refused>,
}

impl Found {
    fn consider(
        &mut self,
        source: Source,
        bundle: Vec<u8>,
        payload: Option<Vec<u8>>,
        checked: std::result::Result<ProvenanceFacts, ProvenanceError>,
    ) {
        match checked {
            Ok(facts) => {
                self.passed = Some(Evidence {
                    source,
                    bundle,
                    payload,
                    facts,
                })
            }
            Err(error) => self.refused.push(Refused { source, error }),
        }
    }
}

/// What discovery reads with and checks against.
pub struct Checker<'a> {
    /// Registry client.
    pub registry: &'a UpstreamRegistry,
    /// HTTP client for `.sig`/`.cert`.
    pub http: &'a HttpClient,
    /// Where log entries are looked up.
    pub rekor: Rekor<'a>,
    /// What signatures are checked against (shared with the threads that verify).
    pub root: Arc<TrustedRoot>,
}

/// An artifact as [`Artifact`] names it, owned, so that its check can run on another
/// thread.
enum Owned {
    Image {
        name: String,
        digest: String,
        payload: Option<Vec<u8>>,
    },
    Blob {
        name: String,
        sha256: [u8; 32],
    },
}

/// The outcome of one check: the bundle document and payload it read, and what it proved.
type Checked = (
    Vec<u8>,
    Option<Vec<u8>>,
    std::result::Result<ProvenanceFacts, ProvenanceError>,
);

#[derive(Deserialize)]
struct Manifest {
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    subject: Option<Descriptor>,
}

#[derive(Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType")]
    media_type: String,
    digest: String,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

fn parse_manifest(what: &str, bytes: &[u8]) -> Result<Manifest> {
    serde_json::from_slice(bytes).map_err(|e| Error::Upstream {
        reference: what.to_owned(),
        reason: format!("not an OCI manifest: {e}"),
    })
}

fn descriptor_digest(what: &str, d: &Descriptor) -> Result<Sha256Digest> {
    d.digest.parse().map_err(|e| Error::Upstream {
        reference: what.to_owned(),
        reason: format!("layer digest {:?}: {e}", d.digest),
    })
}

impl Checker<'_> {
    /// Checks `bundle` for `artifact` under `policy` on the blocking pool. Verification is
    /// CPU work (certificate chains, SCTs, log proofs, signatures); run inline it would hold
    /// up every other artifact's lookups, which all run on the one task that drives them.
    async fn check(&self, bundle: Vec<u8>, artifact: Owned, policy: &Policy) -> Checked {
        let (root, policy) = (Arc::clone(&self.root), policy.clone());
        let job = tokio::task::spawn_blocking(move || {
            let facts = match &artifact {
                Owned::Image {
                    name,
                    digest,
                    payload,
                } => {
                    let a = Artifact::Image {
                        name,
                        digest,
                        payload: payload.as_deref(),
                    };
                    check(&bundle, &a, &policy, &root)
                }
                Owned::Blob { name, sha256 } => {
                    let a = Artifact::Blob {
                        name,
                        sha256: *sha256,
                    };
                    check(&bundle, &a, &policy, &root)
                }
            };
            let payload = match artifact {
                Owned::Image { payload, .. } => payload,
                Owned::Blob { .. } => None,
            };
            (bundle, payload, facts)
        });
        match job.await {
            Ok(checked) => checked,
            // A panic in the check is a bug: surface it as if it had run here.
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }

    /// Every signature of image `name` at `digest`: referrers first, then the `.sig` tag.
    pub async fn image(
        &self,
        name: &ImageRef,
        digest: &Sha256Digest,
        policy: &Policy,
    ) -> Result<Found> {
        let mut found = Found::default();
        self.referrers(name, digest, policy, &mut found).await?;
        if found.passed.is_none() {
            self.sig_tag(name, digest, policy, &mut found).await?;
        }
        Ok(found)
    }

    async fn referrers(
        &self,
        name: &ImageRef,
        digest: &Sha256Digest,
        policy: &Policy,
        found: &mut Found,
    ) -> Result<()> {
        let source = self.registry.source_registry(name);
        let (reg, repo) = (source.as_str(), name.repository.as_str());
        let label = name.to_string();
        for entry in self
            .registry
            .referrers(reg, repo, digest, BUNDLE_V03)
            .await?
        {
            let (blob, _, checked) = match self
                .referrer_bundle(reg, repo, &label, digest, &entry.digest)
                .await?
            {
                Ok(blob) => {
                    let artifact = Owned::Image {
                        name: label.clone(),
                        digest: digest.to_string(),
                        payload: None,
                    };
                    self.check(blob, artifact, policy).await
                }
                Err(e) => (Vec::new(), None, Err(e)),
            };
            found.consider(Source::Referrer, blob, None, checked);
            if found.passed.is_some() {
                break;
            }
        }
        Ok(())
    }

    /// The bundle a referrer manifest holds; a manifest that does not name this image as
    /// its subject or holds other than one bundle layer (design §1.2) is a refusal.
    async fn referrer_bundle(
        &self,
        reg: &str,
        repo: &str,
        label: &str,
        digest: &Sha256Digest,
        referrer: &str,
    ) -> Result<std::result::Result<Vec<u8>, ProvenanceError>> {
        let what = format!("{reg}/{repo} referrer {referrer}");
        let d: Sha256Digest = referrer.parse().map_err(|e| Error::Upstream {
            reference: what.clone(),
            reason: format!("digest: {e}"),
        })?;
        let m = parse_manifest(&what, &self.registry.manifest_raw(reg, repo, &d).await?)?;
        let names_this = m
            .subject
            .as_ref()
            .is_some_and(|s| s.digest == digest.to_string());
        let layer = match m.layers.as_slice() {
            [l] if names_this && l.media_type == BUNDLE_V03 => l,
            _ => {
                return Ok(Err(ProvenanceError::Malformed {
                    artifact: label.to_owned(),
                    what: "referrer manifest",
                    detail: format!(
                        "{referrer}: not one {BUNDLE_V03} layer with this image as subject"
                    ),
                }));
            }
        };
        let blob = self
            .registry
            .small_blob(
                reg,
                repo,
                &descriptor_digest(&what, layer)?,
                MAX_BUNDLE as u64,
            )
            .await?;
        Ok(Ok(blob))
    }

    async fn sig_tag(
        &self,
        name: &ImageRef,
        digest: &Sha256Digest,
        policy: &Policy,
        found: &mut Found,
    ) -> Result<()> {
        let source = self.registry.source_registry(name);
        let (reg, repo) = (source.as_str(), name.repository.as_str());
        let label = name.to_string();
        let tag = format!("sha256-{}.sig", digest.hex());
        let Some(bytes) = self.registry.manifest_by_tag(reg, repo, &tag).await? else {
            return Ok(());
        };
        let what = format!("{reg}/{repo}:{tag}");
        let m = parse_manifest(&what, &bytes)?;
        // Every layer is one signature (each promotion adds one).
        for layer in m
            .layers
            .iter()
            .filter(|l| l.media_type == SIMPLE_SIGNING_LAYER)
        {
            let payload = self
                .registry
                .small_blob(
                    reg,
                    repo,
                    &descriptor_digest(&what, layer)?,
                    MAX_PAYLOAD as u64,
                )
                .await?;
            let (bundle, payload, checked) =
                match self.layer_bundle(&label, layer, &payload).await? {
                    Ok(bundle) => {
                        let artifact = Owned::Image {
                            name: label.clone(),
                            digest: digest.to_string(),
                            payload: Some(payload),
                        };
                        self.check(bundle, artifact, policy).await
                    }
                    Err(e) => (Vec::new(), Some(payload), Err(e)),
                };
            found.consider(Source::SigTag, bundle, payload, checked);
            if found.passed.is_some() {
                break;
            }
        }
        Ok(())
    }

    /// The Sigstore bundle of one `.sig` layer, with the Rekor entry its bundle annotation
    /// names (by log index); a malformed layer is a refusal, a failed lookup an error.
    async fn layer_bundle(
        &self,
        label: &str,
        layer: &Descriptor,
        payload: &[u8],
    ) -> Result<std::result::Result<Vec<u8>, ProvenanceError>> {
        let index = layer
            .annotations
            .get(airlock_provenance::BUNDLE_ANNOTATION)
            .and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok())
            .and_then(|v| v.pointer("/Payload/logIndex").and_then(|i| i.as_u64()));
        let Some(index) = index else {
            return Ok(Err(ProvenanceError::Malformed {
                artifact: label.to_owned(),
                what: "cosign signature layer",
                detail: "no log index in its bundle annotation".into(),
            }));
        };
        let entry = self.rekor.entry_by_index(index).await?;
        Ok(bundle_from_cosign_layer(
            label,
            &layer.annotations,
            payload,
            &entry,
        ))
    }

    /// The signature of the file at `url` with `sha256`: `<url>.sig` and (keyless)
    /// `<url>.cert`, and its entry found in Rekor.
    pub async fn file(
        &self,
        label: &str,
        url: &str,
        sha256: &Sha256Digest,
        policy: &Policy,
    ) -> Result<Found> {
        let mut found = Found::default();
        let sig = self
            .http
            .fetch_document(&format!("{url}.sig"), MAX_SIG_FILE)
            .await?;
        // A keyed signature has no certificate; the policy's key is the verifier.
        let cert = match policy {
            Policy::Keyless(_) => match self
                .http
                .fetch_document(&format!("{url}.cert"), MAX_SIG_FILE)
                .await?
            {
                Some(c) => Some(c),
                None => return Ok(found),
            },
            Policy::Key(_) => None,
        };
        let Some(sig) = sig else {
            return Ok(found);
        };
        // The log lookup needs the signature's DER; the converter parses `.sig` again.
        let der = std::str::from_utf8(&sig)
            .ok()
            .map(|s| s.split_ascii_whitespace().collect::<String>())
            .and_then(|s| B64.decode(s).ok());
        let entry = match der {
            Some(der) => self.rekor.blob_entry(sha256, &der).await?,
            None => None,
        };
        let Some(entry) = entry else {
            found.refused.push(Refused {
                source: Source::Blob,
                error: ProvenanceError::Incomplete {
                    artifact: label.to_owned(),
                    what: "a base64 .sig that a Rekor entry logs over the file",
                },
            });
            return Ok(found);
        };
        let (bundle, _, checked) = match bundle_from_blob_signature(
            label,
            &sig,
            cert.as_deref(),
            sha256.as_bytes(),
            &entry,
        ) {
            Ok(bundle) => {
                let artifact = Owned::Blob {
                    name: label.to_owned(),
                    sha256: *sha256.as_bytes(),
                };
                self.check(bundle, artifact, policy).await
            }
            Err(e) => (Vec::new(), None, Err(e)),
        };
        found.consider(Source::Blob, bundle, None, checked);
        Ok(found)
    }
}
