//! The enclave registry client: just the part of the OCI distribution API that install,
//! publish and fetch need (check, mount, upload, push and read manifests, read blobs),
//! written out so a reviewer can read all of it, and so every answer the spec allows is
//! handled:
//!
//! - a cross-repository mount may answer `201 Created` (linked) or `202 Accepted` with an
//!   upload session (registries with mounts disabled, or a token without pull on the source
//!   repository): the blob is then uploaded into that session;
//! - `Location` headers may be absolute or relative and may carry query parameters;
//! - authentication is HTTP basic or a bearer token from the registry's token service
//!   (`WWW-Authenticate: Bearer realm=...`), with credentials from the docker config
//!   (`$DOCKER_CONFIG/config.json`, as `docker login` writes it).
//!
//! Idempotent requests (HEAD, GET, PUT of a manifest, a whole blob upload from a spooled
//! file) are retried with backoff when the registry cannot be reached or answers 5xx.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use reqwest::{Method, StatusCode, Url};

use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::oci::{ACCEPTED_MANIFEST_TYPES, MAX_MANIFEST_BYTES};

/// How to reach the enclave registry.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Plain HTTP instead of HTTPS (test and lab registries only).
    pub insecure: bool,
    /// PEM files with extra CA certificates to trust.
    pub ca_files: Vec<PathBuf>,
    /// Attempts for each retried request (at least 1).
    pub attempts: u32,
    /// Delay before the first retry; doubled for each further one.
    pub backoff: Duration,
}

/// Where a manifest goes or comes from.
#[derive(Debug, Clone, Copy)]
pub enum ManifestRef<'a> {
    /// `/manifests/sha256:...`
    Digest(&'a Sha256Digest),
    /// `/manifests/<tag>`
    Tag(&'a str),
}

impl std::fmt::Display for ManifestRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ManifestRef::Digest(d) => write!(f, "@{d}"),
            ManifestRef::Tag(t) => write!(f, ":{t}"),
        }
    }
}

/// Where the bytes of an upload come from.
#[derive(Debug, Clone, Copy)]
pub enum BlobSource<'a> {
    /// A (spooled or bundle) file, streamed.
    File(&'a Path),
    /// Bytes in memory (small files: signatures, checksums, an empty config).
    Memory(&'a Bytes),
}

/// A blob's content as it arrives from the registry.
pub struct BlobStream {
    resp: reqwest::Response,
    target: String,
}

impl BlobStream {
    /// The next chunk, or `None` at the end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>> {
        self.resp
            .chunk()
            .await
            .map_err(|e| Error::RegistryTransport {
                target: self.target.clone(),
                action: "read blob",
                source: e,
            })
    }
}

/// The answer to a cross-repository mount request.
#[derive(Debug)]
pub enum Mount {
    /// `201`: the blob is now in the target repository.
    Linked,
    /// `202`: the registry did not mount, and opened an upload session instead.
    Session(Url),
    /// `401`/`403`: these credentials may not read the source repository (a registry
    /// that requires pull on the source, as distribution does); upload instead.
    Refused,
}

/// A client for one enclave registry.
pub struct EnclaveRegistry {
    http: reqwest::Client,
    base: Url,
    host: String,
    credentials: Option<(String, String)>,
    /// Bearer tokens by scope, and the realm/service the registry asked for.
    tokens: Mutex<HashMap<String, String>>,
    challenge: Mutex<Option<Challenge>>,
    opts: RegistryOptions,
    /// Set once a refused connection has been reported: concurrent requests retrying
    /// against a registry that is down say so once, not once per request and attempt.
    refused_reported: std::sync::atomic::AtomicBool,
}

#[derive(Debug, Clone)]
enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

impl EnclaveRegistry {
    /// A client for `host` (`HOST:PORT`). Reads CA files and docker credentials now.
    pub fn new(host: &str, opts: RegistryOptions) -> Result<Self> {
        let scheme = if opts.insecure { "http" } else { "https" };
        let base = Url::parse(&format!("{scheme}://{host}/"))
            .map_err(|e| Error::invalid("registry address", host, e))?;
        let mut b = reqwest::Client::builder()
            .user_agent(concat!("airlock-verify/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(30))
            .read_timeout(Duration::from_secs(300));
        for path in &opts.ca_files {
            let pem = crate::fsutil::read_limited(path, 1024 * 1024, "CA certificate")?;
            let cert = reqwest::Certificate::from_pem(&pem)
                .map_err(|e| Error::invalid("CA certificate", path.display(), e))?;
            b = b.add_root_certificate(cert);
        }
        let http = b.build().map_err(|e| Error::RegistryTransport {
            target: host.to_string(),
            action: "set up the HTTP client",
            source: e,
        })?;
        Ok(EnclaveRegistry {
            http,
            base,
            host: host.to_string(),
            credentials: docker_credentials(host),
            tokens: Mutex::new(HashMap::new()),
            challenge: Mutex::new(None),
            opts,
            refused_reported: Default::default(),
        })
    }

    /// `HOST:PORT`.
    pub fn host(&self) -> &str {
        &self.host
    }

    fn url(&self, path: &str) -> Result<Url> {
        self.base
            .join(path)
            .map_err(|e| Error::invalid("registry path", path, e))
    }

    /// True if `repo` holds the blob.
    pub async fn blob_exists(&self, repo: &str, digest: &Sha256Digest) -> Result<bool> {
        let target = format!("{}/{repo}@{digest}", self.host);
        let url = self.url(&format!("v2/{repo}/blobs/{digest}"))?;
        let resp = self
            .send_retried(&target, "check blob", &[pull(repo)], || {
                self.http.request(Method::HEAD, url.clone())
            })
            .await?;
        match resp.status() {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            s => Err(self.unexpected(&target, "check blob", s, resp).await),
        }
    }

    /// Ask the registry to link `digest` from `from` into `repo` without uploading it.
    pub async fn mount_blob(&self, repo: &str, from: &str, digest: &Sha256Digest) -> Result<Mount> {
        let target = format!("{}/{repo}@{digest}", self.host);
        let mut url = self.url(&format!("v2/{repo}/blobs/uploads/"))?;
        url.query_pairs_mut()
            .append_pair("mount", &digest.to_string())
            .append_pair("from", from);
        let scopes = [push(repo), pull(from)];
        let resp = self
            .send_retried(&target, "mount blob", &scopes, || {
                self.http
                    .request(Method::POST, url.clone())
                    .header(CONTENT_LENGTH, 0)
            })
            .await?;
        match resp.status() {
            StatusCode::CREATED => Ok(Mount::Linked),
            StatusCode::ACCEPTED => Ok(Mount::Session(self.location(&target, &resp)?)),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Ok(Mount::Refused),
            s => Err(self.unexpected(&target, "mount blob", s, resp).await),
        }
    }

    /// Upload a spooled blob file into `repo` in one request (into `session` when a mount
    /// answered with one). The registry checks the digest before it commits; a retry
    /// starts a new session and sends the file again.
    pub async fn upload_blob(
        &self,
        repo: &str,
        digest: &Sha256Digest,
        file: &Path,
        size: u64,
        session: Option<Url>,
    ) -> Result<()> {
        self.upload(repo, digest, BlobSource::File(file), size, session)
            .await
    }

    /// Upload bytes held in memory as a blob of `repo`, like [`Self::upload_blob`].
    pub async fn upload_bytes(
        &self,
        repo: &str,
        digest: &Sha256Digest,
        bytes: &Bytes,
    ) -> Result<()> {
        let size = bytes.len() as u64;
        self.upload(repo, digest, BlobSource::Memory(bytes), size, None)
            .await
    }

    /// Upload from `source`, retried from the start on failures worth retrying.
    pub async fn upload(
        &self,
        repo: &str,
        digest: &Sha256Digest,
        source: BlobSource<'_>,
        size: u64,
        session: Option<Url>,
    ) -> Result<()> {
        let target = format!("{}/{repo}@{digest}", self.host);
        let mut session = session;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self
                .upload_once(&target, repo, digest, source, size, session.take())
                .await;
            match result {
                Err(e) if attempt < self.opts.attempts.max(1) && retryable(&e) => {
                    self.report_retry(&e);
                    tokio::time::sleep(self.backoff(attempt)).await;
                }
                other => return other.map_err(|e| self.explain(e)),
            }
        }
    }

    async fn upload_once(
        &self,
        target: &str,
        repo: &str,
        digest: &Sha256Digest,
        source: BlobSource<'_>,
        size: u64,
        session: Option<Url>,
    ) -> Result<()> {
        let location = match session {
            Some(l) => l,
            None => {
                let url = self.url(&format!("v2/{repo}/blobs/uploads/"))?;
                let resp = self
                    .send(target, "start upload", &[push(repo)], || {
                        self.http
                            .request(Method::POST, url.clone())
                            .header(CONTENT_LENGTH, 0)
                    })
                    .await?;
                if resp.status() != StatusCode::ACCEPTED {
                    let s = resp.status();
                    return Err(self.unexpected(target, "start upload", s, resp).await);
                }
                self.location(target, &resp)?
            }
        };
        let mut put = location;
        put.query_pairs_mut()
            .append_pair("digest", &digest.to_string());
        let body = match source {
            BlobSource::File(file) => {
                let f = tokio::fs::File::open(file)
                    .await
                    .map_err(|e| Error::io("open", file, e))?;
                reqwest::Body::wrap_stream(tokio_util_stream(f))
            }
            BlobSource::Memory(bytes) => reqwest::Body::from(bytes.clone()),
        };
        // The body can be sent only once; the token for this scope is already cached by
        // the POST above, so no 401 round trip is expected here.
        let mut body = Some(body);
        let resp = self
            .send(target, "upload blob", &[push(repo)], || {
                let b = self
                    .http
                    .request(Method::PUT, put.clone())
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .header(CONTENT_LENGTH, size);
                match body.take() {
                    Some(body) => b.body(body),
                    None => b,
                }
            })
            .await?;
        match resp.status() {
            StatusCode::CREATED => Ok(()),
            s => Err(self.unexpected(target, "upload blob", s, resp).await),
        }
    }

    /// Start reading a blob of `repo`, or `None` when the registry lacks it. The caller
    /// hashes what arrives: nothing here trusts the registry's bytes.
    pub async fn get_blob(&self, repo: &str, digest: &Sha256Digest) -> Result<Option<BlobStream>> {
        let target = format!("{}/{repo}@{digest}", self.host);
        let url = self.url(&format!("v2/{repo}/blobs/{digest}"))?;
        let resp = self
            .send_retried(&target, "read blob", &[pull(repo)], || {
                self.http.request(Method::GET, url.clone())
            })
            .await?;
        match resp.status() {
            StatusCode::OK => Ok(Some(BlobStream { resp, target })),
            StatusCode::NOT_FOUND => Ok(None),
            s => Err(self.unexpected(&target, "read blob", s, resp).await),
        }
    }

    /// Push manifest bytes unchanged (so the digest is preserved) by digest or tag.
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: ManifestRef<'_>,
        bytes: Bytes,
        media_type: &str,
    ) -> Result<()> {
        let target = format!("{}/{repo}{reference}", self.host);
        let url = self.url(&format!("v2/{repo}/manifests/{}", manifest_path(reference)))?;
        let resp = self
            .send_retried(&target, "push manifest", &[push(repo)], || {
                self.http
                    .request(Method::PUT, url.clone())
                    .header(CONTENT_TYPE, media_type)
                    .body(bytes.clone())
            })
            .await?;
        match resp.status() {
            StatusCode::CREATED | StatusCode::OK => Ok(()),
            s => Err(self.unexpected(&target, "push manifest", s, resp).await),
        }
    }

    /// The manifest bytes a tag or digest names, or `None` when the registry lacks it.
    /// At most [`MAX_MANIFEST_BYTES`] are read. The digest is computed from the bytes,
    /// never taken from a header.
    pub async fn get_manifest(
        &self,
        repo: &str,
        reference: ManifestRef<'_>,
    ) -> Result<Option<Bytes>> {
        let target = format!("{}/{repo}{reference}", self.host);
        let url = self.url(&format!("v2/{repo}/manifests/{}", manifest_path(reference)))?;
        let accept = ACCEPTED_MANIFEST_TYPES.join(", ");
        let resp = self
            .send_retried(&target, "read manifest", &[pull(repo)], || {
                self.http
                    .request(Method::GET, url.clone())
                    .header(ACCEPT, accept.clone())
            })
            .await?;
        match resp.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => return Ok(None),
            s => return Err(self.unexpected(&target, "read manifest", s, resp).await),
        }
        let out = small_body(resp, target, "read manifest").await?;
        Ok(Some(Bytes::from(out)))
    }

    /// A small JSON document of the distribution API (`v2/_catalog`, `v2/REPO/tags/list`),
    /// at most 4 MiB.
    async fn get_listing(&self, path: &str, scope: String) -> Result<serde_json::Value> {
        let target = format!("{}/{path}", self.host);
        let url = self.url(path)?;
        let resp = self
            .send_retried(&target, "list", &[scope], || {
                self.http.request(Method::GET, url.clone())
            })
            .await?;
        if resp.status() != StatusCode::OK {
            let s = resp.status();
            return Err(self.unexpected(&target, "list", s, resp).await);
        }
        let out = small_body(resp, target.clone(), "list").await?;
        serde_json::from_slice(&out).map_err(|e| Error::Registry {
            target,
            action: "list",
            reason: format!("not JSON: {e}"),
        })
    }

    /// Every repository (`GET /v2/_catalog`, page by page of 1000, at most 100 pages).
    pub async fn repositories(&self) -> Result<Vec<String>> {
        const PAGE: usize = 1000;
        let mut all: Vec<String> = Vec::new();
        for _ in 0..100 {
            let path = match all.last() {
                None => format!("v2/_catalog?n={PAGE}"),
                Some(last) => format!("v2/_catalog?n={PAGE}&last={last}"),
            };
            let page = string_list(
                &self.get_listing(&path, "registry:catalog:*".into()).await?["repositories"],
            );
            let done = page.len() < PAGE;
            all.extend(page);
            if done {
                break;
            }
        }
        Ok(all)
    }

    /// Every tag of a repository.
    pub async fn tags(&self, repo: &str) -> Result<Vec<String>> {
        let v = self
            .get_listing(&format!("v2/{repo}/tags/list"), pull(repo))
            .await?;
        Ok(string_list(&v["tags"]))
    }

    /// The digest of what a tag or digest names now, or `None`.
    pub async fn manifest_digest(
        &self,
        repo: &str,
        reference: ManifestRef<'_>,
    ) -> Result<Option<Sha256Digest>> {
        Ok(self
            .get_manifest(repo, reference)
            .await?
            .map(|b| Sha256Digest::of(&b)))
    }

    fn location(&self, target: &str, resp: &reqwest::Response) -> Result<Url> {
        let loc = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Error::Registry {
                target: target.to_string(),
                action: "start upload",
                reason: format!("answered {} without a Location header", resp.status()),
            })?;
        // Relative locations are relative to the request URL; the registry's own base is
        // the same for every path it returns.
        resp.url().join(loc).map_err(|e| Error::Registry {
            target: target.to_string(),
            action: "start upload",
            reason: format!("Location {loc:?} is not a URL: {e}"),
        })
    }

    fn backoff(&self, attempt: u32) -> Duration {
        self.opts.backoff * 2u32.saturating_pow(attempt.saturating_sub(1))
    }

    /// [`Self::send`], retried on transport errors and 5xx answers.
    async fn send_retried(
        &self,
        target: &str,
        action: &'static str,
        scopes: &[String],
        mut build: impl FnMut() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= self.opts.attempts.max(1);
            match self.send(target, action, scopes, &mut build).await {
                Ok(r) if r.status().is_server_error() && !last => {
                    tracing::warn!("{target}: {action}: HTTP {}; retrying", r.status());
                }
                Err(e) if !last && retryable(&e) => self.report_retry(&e),
                other => return other.map_err(|e| self.explain(e)),
            }
            tokio::time::sleep(self.backoff(attempt)).await;
        }
    }

    /// Send one request with whatever authorization the registry asked for; on a `401`
    /// learn the challenge, get credentials or a token, and send once more.
    async fn send(
        &self,
        target: &str,
        action: &'static str,
        scopes: &[String],
        mut build: impl FnMut() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response> {
        let transport = |e| self.transport_error(target, action, e);
        let auth = self.authorization(target, scopes).await?;
        let mut req = build();
        if let Some(a) = &auth {
            req = req.header(AUTHORIZATION, a);
        }
        let resp = req.send().await.map_err(transport)?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let header = resp
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let Some(challenge) = header.as_deref().and_then(parse_challenge) else {
            return Err(self.auth_error(
                target,
                action,
                "answered 401 without a usable WWW-Authenticate challenge",
            ));
        };
        if auth.is_some() && matches!(challenge, Challenge::Basic) {
            return Err(self.auth_error(target, action, "refused the credentials"));
        }
        *lock(&self.challenge) = Some(challenge);
        lock(&self.tokens).remove(&scopes.join(" "));
        let auth = self.authorization(target, scopes).await?;
        let Some(auth) = auth else {
            return Err(self.auth_error(target, action, "requires credentials"));
        };
        // A second 401/403 goes back to the caller, which reports it (or, for a mount,
        // uploads instead).
        build()
            .header(AUTHORIZATION, auth)
            .send()
            .await
            .map_err(transport)
    }

    /// A transport error, or, when retrying cannot fix its cause (a plain-HTTP answer to
    /// TLS), an error that says what to do instead.
    fn transport_error(&self, target: &str, action: &'static str, e: reqwest::Error) -> Error {
        if Unreachable::of(&e) == Some(Unreachable::PlainHttp) && !self.opts.insecure {
            return Error::Registry {
                target: target.to_string(),
                action,
                reason: Unreachable::PlainHttp.advice(&self.host, "--insecure"),
            };
        }
        Error::RegistryTransport {
            target: target.to_string(),
            action,
            source: e,
        }
    }

    /// Log that a request is retried: one line per failure, but a registry that refuses
    /// connections is reported once for all requests.
    fn report_retry(&self, e: &Error) {
        let refused = matches!(e.root(), Error::RegistryTransport { source, .. }
            if Unreachable::of(source) == Some(Unreachable::Refused));
        if !refused {
            tracing::warn!("{}; retrying", crate::error::chain(e));
        } else if !self
            .refused_reported
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            tracing::warn!(
                "registry {}: connection refused; retrying (is it running?)",
                self.host
            );
        }
    }

    /// The final error of a request: a refused connection says what to check.
    fn explain(&self, e: Error) -> Error {
        match e {
            Error::RegistryTransport {
                target,
                action,
                source,
            } if Unreachable::of(&source) == Some(Unreachable::Refused) => Error::Registry {
                target,
                action,
                reason: Unreachable::Refused.advice(&self.host, "--insecure"),
            },
            e => e,
        }
    }

    fn auth_error(&self, target: &str, action: &'static str, what: &str) -> Error {
        let creds = match &self.credentials {
            Some((user, _)) => format!("user {user:?} from the docker config"),
            None => format!(
                "no credentials for {} in the docker config ($DOCKER_CONFIG/config.json; `docker login` writes it)",
                self.host
            ),
        };
        Error::Registry {
            target: target.to_string(),
            action,
            reason: format!("authentication: the registry {what} ({creds})"),
        }
    }

    /// The `Authorization` value to send, if the registry has asked for one.
    async fn authorization(&self, target: &str, scopes: &[String]) -> Result<Option<String>> {
        let challenge = lock(&self.challenge).clone();
        match challenge {
            None => Ok(None),
            Some(Challenge::Basic) => Ok(self.credentials.as_ref().map(|(u, p)| basic(u, p))),
            Some(Challenge::Bearer { realm, service }) => {
                let key = scopes.join(" ");
                if let Some(t) = lock(&self.tokens).get(&key) {
                    return Ok(Some(format!("Bearer {t}")));
                }
                let token = self
                    .fetch_token(target, &realm, service.as_deref(), scopes)
                    .await?;
                lock(&self.tokens).insert(key, token.clone());
                Ok(Some(format!("Bearer {token}")))
            }
        }
    }

    async fn fetch_token(
        &self,
        target: &str,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
    ) -> Result<String> {
        let action = "get a token";
        let mut url = Url::parse(realm).map_err(|e| Error::Registry {
            target: target.to_string(),
            action,
            reason: format!("token realm {realm:?} is not a URL: {e}"),
        })?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = service {
                q.append_pair("service", s);
            }
            for s in scopes {
                q.append_pair("scope", s);
            }
        }
        let mut req = self.http.get(url);
        if let Some((u, p)) = &self.credentials {
            req = req.header(AUTHORIZATION, basic(u, p));
        }
        let resp = req
            .send()
            .await
            .map_err(|e| self.transport_error(target, action, e))?;
        if !resp.status().is_success() {
            return Err(self.auth_error(
                target,
                action,
                &format!("token service {realm} answered {}", resp.status()),
            ));
        }
        #[derive(serde::Deserialize)]
        struct TokenAnswer {
            token: Option<String>,
            access_token: Option<String>,
        }
        let body = resp.bytes().await.map_err(|e| Error::RegistryTransport {
            target: target.to_string(),
            action,
            source: e,
        })?;
        let t: TokenAnswer = serde_json::from_slice(&body).map_err(|e| Error::Registry {
            target: target.to_string(),
            action,
            reason: format!("token service {realm} answered something that is not a token: {e}"),
        })?;
        t.token
            .or(t.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Error::Registry {
                target: target.to_string(),
                action,
                reason: format!("token service {realm} answered without a token"),
            })
    }
}

/// Why a registry could not be talked to, when the transport's chain of causes says so
/// plainly (shared with the connected side's client, which words its own option).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreachable {
    /// Nothing listens at the address.
    Refused,
    /// A TLS handshake got a plain-HTTP answer.
    PlainHttp,
}

impl Unreachable {
    /// Read `e` and its causes (looking inside I/O errors, which hide their payload from
    /// `source()`).
    pub fn of(e: &(dyn std::error::Error + 'static)) -> Option<Unreachable> {
        use tokio_rustls::rustls::{Error as Tls, InvalidMessage};
        let mut todo = vec![e];
        while let Some(e) = todo.pop() {
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                if io.kind() == std::io::ErrorKind::ConnectionRefused {
                    return Some(Unreachable::Refused);
                }
                todo.extend(
                    io.get_ref()
                        .map(|i| i as &(dyn std::error::Error + 'static)),
                );
            }
            if let Some(Tls::InvalidMessage(InvalidMessage::InvalidContentType)) =
                e.downcast_ref::<Tls>()
            {
                return Some(Unreachable::PlainHttp);
            }
            todo.extend(e.source());
        }
        None
    }

    /// What to tell the user about `host`; `insecure_flag` is how they ask for plain HTTP.
    pub fn advice(self, host: &str, insecure_flag: &str) -> String {
        match self {
            Unreachable::Refused => format!(
                "connection refused: is the registry at {host} running, and is that its address?"
            ),
            Unreachable::PlainHttp => {
                format!("the registry answered plain HTTP: add {insecure_flag}")
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave a token map half-written.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn string_list(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str().map(str::to_string))
        .collect()
}

fn pull(repo: &str) -> String {
    format!("repository:{repo}:pull")
}

fn push(repo: &str) -> String {
    format!("repository:{repo}:pull,push")
}

fn manifest_path(r: ManifestRef<'_>) -> String {
    match r {
        ManifestRef::Digest(d) => d.to_string(),
        ManifestRef::Tag(t) => t.to_string(),
    }
}

fn basic(user: &str, pass: &str) -> String {
    use base64::Engine;
    let raw = format!("{user}:{pass}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

fn retryable(e: &Error) -> bool {
    match e.root() {
        Error::RegistryTransport { source, .. } => {
            source.is_connect() || source.is_timeout() || source.is_request() || source.is_body()
        }
        Error::Registry { reason, .. } => reason.starts_with("HTTP 5"),
        _ => false,
    }
}

/// Credentials for `host` from the docker config, if any.
fn docker_credentials(host: &str) -> Option<(String, String)> {
    match docker_credential::get_credential(host) {
        Ok(docker_credential::DockerCredential::UsernamePassword(u, p)) => Some((u, p)),
        // An identity token is exchanged at the token service as a password.
        Ok(docker_credential::DockerCredential::IdentityToken(t)) => {
            Some(("<token>".to_string(), t))
        }
        Err(_) => None,
    }
}

/// Parse `Basic realm=...` or `Bearer realm="...",service="...",scope="..."`.
fn parse_challenge(h: &str) -> Option<Challenge> {
    let (scheme, rest) = h.trim().split_once(' ').unwrap_or((h.trim(), ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut realm = None;
    let mut service = None;
    for (k, v) in auth_params(rest) {
        match k.to_ascii_lowercase().as_str() {
            "realm" => realm = Some(v),
            "service" => service = Some(v),
            _ => {}
        }
    }
    Some(Challenge::Bearer {
        realm: realm?,
        service,
    })
}

/// `key="value", key=value` pairs; quoted values may contain commas.
fn auth_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let Some((k, after)) = rest.split_once('=') else {
            break;
        };
        let k = k.trim().trim_start_matches(',').trim().to_string();
        let after = after.trim_start();
        let (v, tail) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (q[..end].to_string(), &q[end + 1..]),
                None => (q.to_string(), ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (after[..end].trim().to_string(), &after[end..]),
                None => (after.trim().to_string(), ""),
            }
        };
        out.push((k, v));
        rest = tail.trim_start().trim_start_matches(',').trim_start();
    }
    out
}

impl EnclaveRegistry {
    /// An answer the operation does not expect, as an error that says what the registry
    /// said (for 401/403: whose credentials were refused).
    async fn unexpected(
        &self,
        target: &str,
        action: &'static str,
        status: StatusCode,
        resp: reqwest::Response,
    ) -> Error {
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return self.auth_error(
                target,
                action,
                &format!("refused the credentials ({status})"),
            );
        }
        // The registry's error body (a JSON `errors` list) says why; keep a bounded,
        // escaped excerpt of it.
        let body = resp.bytes().await.unwrap_or_default();
        let text = String::from_utf8_lossy(&body[..body.len().min(512)]).to_string();
        Error::Registry {
            target: target.to_string(),
            action,
            reason: format!(
                "HTTP {}{}",
                status.as_u16(),
                if text.trim().is_empty() {
                    String::new()
                } else {
                    format!(": {}", crate::escape::Untrusted(text.trim()))
                }
            ),
        }
    }
}

/// A file as a stream of chunks for a request body.
fn tokio_util_stream(
    file: tokio::fs::File,
) -> impl futures::Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    use tokio::io::AsyncReadExt;
    futures::stream::unfold(Some(file), |state| async move {
        let mut f = state?;
        let mut buf = vec![0u8; 256 * 1024];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), Some(f)))
            }
            Err(e) => Some((Err(e), None)),
        }
    })
}

/// Read a response body of at most [`MAX_MANIFEST_BYTES`] (a manifest, a listing), chunk
/// by chunk, refusing the rest of a larger one instead of buffering it.
async fn small_body(
    mut resp: reqwest::Response,
    target: String,
    action: &'static str,
) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| Error::RegistryTransport {
        target: target.clone(),
        action,
        source: e,
    })? {
        out.extend_from_slice(&chunk);
        if out.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(Error::Registry {
                target,
                action,
                reason: format!("larger than {MAX_MANIFEST_BYTES} bytes"),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_challenges() {
        assert!(matches!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        ));
        match parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="reg,istry",scope="repository:a:pull""#,
        ) {
            Some(Challenge::Bearer { realm, service }) => {
                assert_eq!(realm, "https://auth.example/token");
                assert_eq!(service.as_deref(), Some("reg,istry"));
            }
            other => panic!("{other:?}"),
        }
        assert!(parse_challenge("Bearer service=x").is_none());
        assert!(parse_challenge("Negotiate abc").is_none());
    }

    proptest::proptest! {
        #[test]
        fn challenge_parser_never_panics(s in "\\PC{0,200}") {
            let _ = parse_challenge(&s);
        }
    }
}
