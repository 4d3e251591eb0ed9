//! The upstream registry client (pulling only; the enclave side has its own small push
//! client in `airlock_verify::enclave_registry`), a thin layer over `oci-client`
//! that adds what the crate leaves to its callers: credentials from the docker config,
//! plain-HTTP hosts, extra CA certificates, mirrors, digest checks on every manifest, and
//! blob streams that never hold a whole blob in memory. Small reads from a registry that
//! asks for no credentials skip oci-client (see `direct`).

mod direct;

use std::path::PathBuf;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::image_ref::ImageRef;
use crate::oci::{ACCEPTED_MANIFEST_TYPES, MAX_MANIFEST_BYTES, ManifestDoc};

/// How to reach registries.
#[derive(Debug, Clone, Default)]
pub struct UpstreamRegistryOptions {
    /// `HOST:PORT` values reached over plain HTTP (test and lab registries only).
    pub insecure: Vec<String>,
    /// PEM files with extra CA certificates to trust.
    pub ca_files: Vec<PathBuf>,
    /// Registry host rewrites: (`registry.k8s.io`, `mirror.corp:5000`). The canonical name
    /// in locks and bundles never changes; only where bytes come from does.
    pub mirrors: Vec<(String, String)>,
    /// Use anonymous access even when the docker config has credentials.
    pub anonymous: bool,
}

/// A registry client configured from [`UpstreamRegistryOptions`].
pub struct UpstreamRegistry {
    client: Client,
    direct: direct::Direct,
    /// Credentials per registry, read once: a credential helper is a process per lookup.
    auth: std::sync::Mutex<std::collections::HashMap<String, RegistryAuth>>,
    opts: UpstreamRegistryOptions,
}

fn oci_err(reference: &str, e: impl std::fmt::Display) -> Error {
    Error::Upstream {
        reference: reference.to_string(),
        reason: e.to_string(),
    }
}

/// An error of oci-client about `r`: a registry that is down or answers plain HTTP is
/// named so, with what to do; anything else as `context: error`.
fn request_err(
    r: &Reference,
    context: &str,
    e: &oci_client::errors::OciDistributionError,
) -> Error {
    let registry = r.resolve_registry();
    match airlock_verify::enclave_registry::Unreachable::of(e) {
        Some(u) => oci_err(
            &r.whole(),
            u.advice(registry, &format!("--insecure-registry {registry}")),
        ),
        None => oci_err(&r.whole(), format!("{context}{e}")),
    }
}

impl UpstreamRegistry {
    /// Build a client. Reads the CA files now, so a bad path fails before any transfer.
    pub fn new(opts: UpstreamRegistryOptions) -> Result<Self> {
        let pems = crate::net::read_ca_files(&opts.ca_files)?;
        let direct = direct::Direct::new(&pems, &opts.insecure)?;
        let certs = pems
            .into_iter()
            .map(|(_, data)| Certificate {
                encoding: CertificateEncoding::Pem,
                data,
            })
            .collect();
        let config = ClientConfig {
            protocol: ClientProtocol::HttpsExcept(opts.insecure.clone()),
            extra_root_certificates: certs,
            // One PUT per blob, streamed: chunked PATCH uploads cost a round trip per chunk.
            use_monolithic_push: true,
            connect_timeout: Some(std::time::Duration::from_secs(30)),
            read_timeout: Some(std::time::Duration::from_secs(300)),
            user_agent: concat!("airlock/", env!("CARGO_PKG_VERSION")),
            ..Default::default()
        };
        Ok(UpstreamRegistry {
            client: Client::new(config),
            direct,
            auth: Default::default(),
            opts,
        })
    }

    /// The registry host bytes for `image` are fetched from (after mirrors).
    pub fn source_registry(&self, image: &ImageRef) -> String {
        self.opts
            .mirrors
            .iter()
            .find(|(from, _)| from == &image.registry)
            .map(|(_, to)| to.clone())
            .unwrap_or_else(|| image.registry.clone())
    }

    fn auth_for(&self, registry: &str) -> RegistryAuth {
        if self.opts.anonymous {
            return RegistryAuth::Anonymous;
        }
        // A poisoned lock only means a panic elsewhere mid-insert; the map is still whole.
        let mut known = self
            .auth
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        known
            .entry(registry.to_owned())
            .or_insert_with(|| Self::docker_config_auth(registry))
            .clone()
    }

    /// What the docker config (or its credential helper) holds for `registry`.
    fn docker_config_auth(registry: &str) -> RegistryAuth {
        let server = if registry == "docker.io" {
            "https://index.docker.io/v1/"
        } else {
            registry
        };
        match docker_credential::get_credential(server) {
            Ok(docker_credential::DockerCredential::UsernamePassword(u, p)) => {
                RegistryAuth::Basic(u, p)
            }
            Ok(docker_credential::DockerCredential::IdentityToken(t)) => RegistryAuth::Bearer(t),
            Err(_) => RegistryAuth::Anonymous,
        }
    }

    /// Make sure the client holds credentials for the registry of `r`.
    async fn prepare(&self, r: &Reference, op: oci_client::RegistryOperation) -> Result<()> {
        let auth = self.auth_for(r.registry());
        if matches!(auth, RegistryAuth::Anonymous) && op == oci_client::RegistryOperation::Pull {
            // Anonymous pulls still need a token from registries that use bearer auth;
            // oci-client fetches it on demand.
            self.client
                .store_auth_if_needed(r.resolve_registry(), &auth)
                .await;
            return Ok(());
        }
        self.client
            .auth(r, &auth, op)
            .await
            .map_err(|e| request_err(r, "authentication failed: ", &e))?;
        Ok(())
    }

    /// Whether small reads for `r` may go direct: its registry asks for no credentials
    /// and the docker config holds none for it (looked up under the name `prepare` uses).
    async fn direct_ok(&self, r: &Reference) -> bool {
        matches!(self.auth_for(r.registry()), RegistryAuth::Anonymous)
            && self.direct.is_open(r.resolve_registry()).await
    }

    fn reference(
        registry: &str,
        repository: &str,
        digest: Option<&Sha256Digest>,
        tag: Option<&str>,
    ) -> Reference {
        match (digest, tag) {
            (Some(d), _) => {
                Reference::with_digest(registry.into(), repository.into(), d.to_string())
            }
            (None, Some(t)) => Reference::with_tag(registry.into(), repository.into(), t.into()),
            (None, None) => {
                Reference::with_tag(registry.into(), repository.into(), "latest".into())
            }
        }
    }

    /// Pull manifest bytes (by tag or digest) with the size limit; returns them and the
    /// reference as text for errors.
    async fn pull_raw(&self, r: &Reference) -> Result<(Bytes, String)> {
        let what = r.whole();
        let registry = r.resolve_registry();
        if self.direct_ok(r).await {
            let name = r.digest().or(r.tag()).unwrap_or("latest");
            return match self.direct.manifest(registry, r.repository(), name).await? {
                Some(bytes) => Ok((Bytes::from(bytes), what)),
                None => Err(oci_err(
                    &what,
                    "manifest unknown: the registry has no such tag or digest (HTTP 404); check the reference in the catalog or hop manifest, and --mirror if it points elsewhere",
                )),
            };
        }
        self.prepare(r, oci_client::RegistryOperation::Pull).await?;
        let (bytes, _) = self
            .client
            .pull_manifest_raw(r, &RegistryAuth::Anonymous, ACCEPTED_MANIFEST_TYPES)
            .await
            .map_err(|e| request_err(r, "", &e))?;
        if bytes.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(oci_err(&what, "manifest larger than 4 MiB"));
        }
        Ok((bytes, what))
    }

    /// Fetch a manifest by digest from `registry/repository`, checking that the bytes hash
    /// to `digest`. Returns the bytes and the parsed document.
    pub async fn fetch_manifest(
        &self,
        registry: &str,
        repository: &str,
        digest: &Sha256Digest,
        media_type_hint: Option<&str>,
    ) -> Result<(Bytes, ManifestDoc)> {
        let r = Self::reference(registry, repository, Some(digest), None);
        let (bytes, what) = self.pull_raw(&r).await?;
        check_manifest_bytes(&bytes, digest, &what)?;
        let doc = ManifestDoc::parse(&bytes, &what, media_type_hint)?;
        Ok((bytes, doc))
    }

    /// Resolve a tag to the digest of the manifest or index it points to.
    pub async fn resolve_tag(
        &self,
        registry: &str,
        repository: &str,
        tag: &str,
    ) -> Result<(Sha256Digest, Bytes, ManifestDoc)> {
        let r = Self::reference(registry, repository, None, Some(tag));
        let (bytes, what) = self.pull_raw(&r).await?;
        let digest = Sha256Digest::of(&bytes);
        let doc = ManifestDoc::parse(&bytes, &what, None)?;
        Ok((digest, bytes, doc))
    }

    /// A stream of a blob's bytes. The caller hashes and size-checks while consuming it
    /// (see [`crate::upstream_store::Store::put_stream`]).
    pub async fn blob_stream(
        &self,
        registry: &str,
        repository: &str,
        digest: &Sha256Digest,
        size: u64,
    ) -> Result<impl Stream<Item = Result<Bytes>> + Unpin + use<>> {
        let r = Self::reference(registry, repository, Some(digest), None);
        self.prepare(&r, oci_client::RegistryOperation::Pull)
            .await?;
        let desc = oci_client::manifest::OciDescriptor {
            digest: digest.to_string(),
            size: size as i64,
            ..Default::default()
        };
        // Asking for `bytes=0-` makes a registry that serves ranges answer 206, and for a
        // range oci-client leaves the digest check to us: `Store::put_stream` hashes every
        // byte and checks the size anyway, so one SHA-256 pass per fetched byte, not two.
        // A registry that ignores the range answers 200 and oci-client checks it too.
        let sized = match self
            .client
            .pull_blob_stream_partial(&r, &desc, 0, None)
            .await
            .map_err(|e| request_err(&r, "", &e))?
        {
            oci_client::client::BlobResponse::Full(s)
            | oci_client::client::BlobResponse::Partial(s) => s,
        };
        let what = format!("{registry}/{repository} blob {digest}");
        Ok(sized.stream.map(move |c| {
            c.map_err(|e| {
                use oci_client::errors::{DigestError, OciDistributionError};
                // oci-client checks the digest as the stream ends and reports it inside an
                // io::Error; keep it a typed mismatch so the exit code says so.
                let inner = e.get_ref();
                let digest_err =
                    inner
                        .and_then(|i| i.downcast_ref::<DigestError>())
                        .or_else(|| {
                            match inner.and_then(|i| i.downcast_ref::<OciDistributionError>()) {
                                Some(OciDistributionError::DigestError(d)) => Some(d),
                                _ => None,
                            }
                        });
                match digest_err {
                    Some(DigestError::VerificationError { expected, actual }) => {
                        Error::digest_mismatch(what.clone(), expected.clone(), actual.clone())
                    }
                    _ => Error::Upstream {
                        reference: what.clone(),
                        reason: format!("transfer failed: {e}"),
                    },
                }
            })
        }))
    }
}

impl UpstreamRegistry {
    /// The raw manifest `tag` names, or `None` when the registry has no such tag (a cosign
    /// `.sig` tag is looked for, not required).
    pub async fn manifest_by_tag(
        &self,
        registry: &str,
        repository: &str,
        tag: &str,
    ) -> Result<Option<Bytes>> {
        let r = Self::reference(registry, repository, None, Some(tag));
        if self.direct_ok(&r).await {
            let found = self
                .direct
                .manifest(r.resolve_registry(), r.repository(), tag)
                .await?;
            return Ok(found.map(Bytes::from));
        }
        self.prepare(&r, oci_client::RegistryOperation::Pull)
            .await?;
        match self
            .client
            .pull_manifest_raw(&r, &RegistryAuth::Anonymous, ACCEPTED_MANIFEST_TYPES)
            .await
        {
            Ok((bytes, _)) if bytes.len() as u64 > MAX_MANIFEST_BYTES => {
                Err(oci_err(&r.whole(), "manifest larger than 4 MiB"))
            }
            Ok((bytes, _)) => Ok(Some(bytes)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(request_err(&r, "", &e)),
        }
    }

    /// A manifest's bytes by digest, checked against it, not parsed (signature and
    /// referrer manifests are artifacts, not images).
    pub async fn manifest_raw(
        &self,
        registry: &str,
        repository: &str,
        digest: &Sha256Digest,
    ) -> Result<Bytes> {
        let r = Self::reference(registry, repository, Some(digest), None);
        let (bytes, what) = self.pull_raw(&r).await?;
        check_manifest_bytes(&bytes, digest, &what)?;
        Ok(bytes)
    }

    /// The OCI 1.1 referrers of `digest` with `artifact_type`: the referrers API, and on
    /// its 404 the referrers tag schema (oci-client does both; an absent tag is an empty
    /// index). The filter is applied here again, as registries may ignore it.
    pub async fn referrers(
        &self,
        registry: &str,
        repository: &str,
        digest: &Sha256Digest,
        artifact_type: &str,
    ) -> Result<Vec<oci_client::manifest::ImageIndexEntry>> {
        let r = Self::reference(registry, repository, Some(digest), None);
        if self.direct_ok(&r).await {
            let what = format!("{registry}/{repository} referrers of {digest}");
            let index: oci_client::manifest::OciImageIndex = match self
                .direct
                .referrers(r.resolve_registry(), r.repository(), digest, artifact_type)
                .await?
            {
                Some(bytes) => serde_json::from_slice(&bytes)
                    .map_err(|e| oci_err(&what, format!("not an image index: {e}")))?,
                None => return Ok(Vec::new()),
            };
            return Ok(only(index, artifact_type));
        }
        self.prepare(&r, oci_client::RegistryOperation::Pull)
            .await?;
        let index = self
            .client
            .pull_referrers(&r, Some(artifact_type))
            .await
            .map_err(|e| request_err(&r, "referrers: ", &e))?;
        Ok(only(index, artifact_type))
    }

    /// A small blob (a signature payload or a Sigstore bundle) read whole, at most `limit`
    /// bytes, checked against `digest`.
    pub async fn small_blob(
        &self,
        registry: &str,
        repository: &str,
        digest: &Sha256Digest,
        limit: u64,
    ) -> Result<Vec<u8>> {
        let what = format!("{registry}/{repository} blob {digest}");
        let r = Self::reference(registry, repository, Some(digest), None);
        let out = if self.direct_ok(&r).await {
            self.direct
                .blob(r.resolve_registry(), r.repository(), digest, limit)
                .await?
                .ok_or_else(|| oci_err(&what, "blob unknown (HTTP 404)"))?
        } else {
            let mut stream = self
                .blob_stream(registry, repository, digest, limit)
                .await?;
            let mut out = Vec::new();
            while let Some(chunk) = stream.next().await {
                out.extend_from_slice(&chunk?);
                if out.len() as u64 > limit {
                    return Err(oci_err(&what, format!("larger than {limit} bytes")));
                }
            }
            out
        };
        let actual = Sha256Digest::of(&out);
        if &actual != digest {
            return Err(Error::digest_mismatch(what, digest, actual));
        }
        Ok(out)
    }
}

/// The entries of `index` of `artifact_type`: registries may ignore the filter, and the
/// tag schema's index holds every referrer.
fn only(
    index: oci_client::manifest::OciImageIndex,
    artifact_type: &str,
) -> Vec<oci_client::manifest::ImageIndexEntry> {
    index
        .manifests
        .into_iter()
        .filter(|m| m.artifact_type.as_deref() == Some(artifact_type))
        .collect()
}

/// A registry's "no such manifest" (404, `MANIFEST_UNKNOWN`, `NAME_UNKNOWN`).
fn is_not_found(e: &oci_client::errors::OciDistributionError) -> bool {
    use oci_client::errors::{OciDistributionError as E, OciErrorCode as C};
    match e {
        E::ImageManifestNotFoundError(_) => true,
        E::ServerError { code, .. } => *code == 404,
        E::RegistryError { envelope, .. } => envelope
            .errors
            .iter()
            .any(|x| matches!(x.code, C::ManifestUnknown | C::NameUnknown | C::NotFound)),
        _ => false,
    }
}

/// Check manifest bytes against the digest they were asked for, and the size limit.
pub fn check_manifest_bytes(bytes: &[u8], digest: &Sha256Digest, what: &str) -> Result<()> {
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(oci_err(what, "manifest larger than 4 MiB"));
    }
    let actual = Sha256Digest::of(bytes);
    if &actual != digest {
        return Err(Error::digest_mismatch(
            what.to_string(),
            digest.to_string(),
            actual.to_string(),
        ));
    }
    Ok(())
}
