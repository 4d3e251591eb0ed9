//! The operations of the enclave registry client: check, mount, upload and read blobs,
//! push and read manifests, list repositories and tags. Each says which token scope it
//! needs and what answers it accepts, and retries what may be repeated; authorization
//! (`auth`) and the HTTP with its retry policy (`transport`) are below it.

use std::path::Path;

use bytes::Bytes;
use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use reqwest::{Method, StatusCode, Url};

use super::auth::{Auth, pull, push};
use super::transport::{
    EnclaveRegistryOptions, Transport, body_excerpt, retryable, small_body, tokio_util_stream,
};
use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::oci::{ACCEPTED_MANIFEST_TYPES, MAX_MANIFEST_BYTES};

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
    transport: Transport,
    auth: Auth,
    base: Url,
}

/// `SCHEME://HOST[:PORT]/`, refusing anything but a bare address in `host`.
fn base_url(scheme: &str, host: &str) -> Result<Url> {
    let bad = |reason: &str| Error::invalid("registry address", host, reason);
    if host.contains("://") {
        return Err(bad(
            "give HOST:PORT without a scheme (https is the default; --insecure for plain HTTP)",
        ));
    }
    if host.contains('/') {
        return Err(bad(
            "give HOST:PORT only; a path under the registry goes in --prefix",
        ));
    }
    let url = Url::parse(&format!("{scheme}://{host}/")).map_err(|e| bad(&e.to_string()))?;
    if url.host_str().is_none_or(str::is_empty)
        || !url.username().is_empty()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(bad("give HOST:PORT, for example registry.enclave:5000"));
    }
    Ok(url)
}

impl EnclaveRegistry {
    /// A client for `host` (`HOST:PORT`). Reads CA files and docker credentials now.
    pub fn new(host: &str, opts: EnclaveRegistryOptions) -> Result<Self> {
        let scheme = if opts.insecure { "http" } else { "https" };
        let base = base_url(scheme, host)?;
        Ok(EnclaveRegistry {
            transport: Transport::new(host, opts)?,
            auth: Auth::new(host),
            base,
        })
    }

    /// Refuse a registry address that is not `HOST[:PORT]`, before anything is written: a
    /// scheme, a path or a trailing slash would otherwise reach the registry as request
    /// paths such as `HOST//repo` and fail only after the bundle was verified.
    pub fn check_address(host: &str) -> Result<()> {
        base_url("https", host).map(drop)
    }

    /// `HOST:PORT`.
    pub fn host(&self) -> &str {
        &self.transport.host
    }

    fn url(&self, path: &str) -> Result<Url> {
        self.base
            .join(path)
            .map_err(|e| Error::invalid("registry path", path, e))
    }

    /// One request with whatever authorization the registry asks for.
    async fn send(
        &self,
        target: &str,
        action: &'static str,
        scopes: &[String],
        build: impl FnMut() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response> {
        self.auth
            .send(&self.transport, target, action, scopes, build)
            .await
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
            let last = attempt >= self.transport.opts.attempts.max(1);
            match self.send(target, action, scopes, &mut build).await {
                Ok(r) if r.status().is_server_error() && !last => {
                    tracing::warn!("{target}: {action}: HTTP {}; retrying", r.status());
                }
                Err(e) if !last && retryable(&e) => self.transport.report_retry(&e),
                other => return other.map_err(|e| self.transport.explain(e)),
            }
            tokio::time::sleep(self.transport.backoff(attempt)).await;
        }
    }

    /// An answer the operation does not expect, as an error that says what the registry
    /// said (for 401/403: whose credentials were refused).
    pub(super) async fn unexpected(
        &self,
        target: &str,
        action: &'static str,
        status: StatusCode,
        resp: reqwest::Response,
    ) -> Error {
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return self.auth.auth_error(
                target,
                action,
                &format!("refused the credentials ({status})"),
            );
        }
        // The registry's error body (a JSON `errors` list) says why; keep a bounded,
        // escaped excerpt of it.
        let body = body_excerpt(resp, 512).await;
        let text = String::from_utf8_lossy(&body).to_string();
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
    /// True if `repo` holds the blob.
    pub async fn blob_exists(&self, repo: &str, digest: &Sha256Digest) -> Result<bool> {
        let target = format!("{}/{repo}@{digest}", self.transport.host);
        let url = self.url(&format!("v2/{repo}/blobs/{digest}"))?;
        let resp = self
            .send_retried(&target, "check blob", &[pull(repo)], || {
                self.transport.http.request(Method::HEAD, url.clone())
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
        let target = format!("{}/{repo}@{digest}", self.transport.host);
        let mut url = self.url(&format!("v2/{repo}/blobs/uploads/"))?;
        url.query_pairs_mut()
            .append_pair("mount", &digest.to_string())
            .append_pair("from", from);
        let scopes = [push(repo), pull(from)];
        let resp = self
            .send_retried(&target, "mount blob", &scopes, || {
                self.transport
                    .http
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
        let target = format!("{}/{repo}@{digest}", self.transport.host);
        let mut session = session;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self
                .upload_once(&target, repo, digest, source, size, session.take())
                .await;
            match result {
                Err(e) if attempt < self.transport.opts.attempts.max(1) && retryable(&e) => {
                    self.transport.report_retry(&e);
                    tokio::time::sleep(self.transport.backoff(attempt)).await;
                }
                other => return other.map_err(|e| self.transport.explain(e)),
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
                        self.transport
                            .http
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
                    .transport
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
        let target = format!("{}/{repo}@{digest}", self.transport.host);
        let url = self.url(&format!("v2/{repo}/blobs/{digest}"))?;
        let resp = self
            .send_retried(&target, "read blob", &[pull(repo)], || {
                self.transport.http.request(Method::GET, url.clone())
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
        let target = format!("{}/{repo}{reference}", self.transport.host);
        let url = self.url(&format!("v2/{repo}/manifests/{}", manifest_path(reference)))?;
        let resp = self
            .send_retried(&target, "push manifest", &[push(repo)], || {
                self.transport
                    .http
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
    /// At most [`crate::oci::MAX_MANIFEST_BYTES`] are read. The digest is computed from the bytes,
    /// never taken from a header.
    pub async fn get_manifest(
        &self,
        repo: &str,
        reference: ManifestRef<'_>,
    ) -> Result<Option<Bytes>> {
        let target = format!("{}/{repo}{reference}", self.transport.host);
        let url = self.url(&format!("v2/{repo}/manifests/{}", manifest_path(reference)))?;
        let accept = ACCEPTED_MANIFEST_TYPES.join(", ");
        let resp = self
            .send_retried(&target, "read manifest", &[pull(repo)], || {
                self.transport
                    .http
                    .request(Method::GET, url.clone())
                    .header(ACCEPT, accept.clone())
            })
            .await?;
        match resp.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => return Ok(None),
            s => return Err(self.unexpected(&target, "read manifest", s, resp).await),
        }
        let out = small_body(resp, MAX_MANIFEST_BYTES, target, "read manifest").await?;
        Ok(Some(Bytes::from(out)))
    }

    /// A small JSON document of the distribution API (`v2/_catalog`, `v2/REPO/tags/list`),
    /// at most 4 MiB.
    async fn get_listing(&self, path: &str, scope: String) -> Result<serde_json::Value> {
        let target = format!("{}/{path}", self.transport.host);
        let url = self.url(path)?;
        let resp = self
            .send_retried(&target, "list", &[scope], || {
                self.transport.http.request(Method::GET, url.clone())
            })
            .await?;
        if resp.status() != StatusCode::OK {
            let s = resp.status();
            return Err(self.unexpected(&target, "list", s, resp).await);
        }
        let out = small_body(resp, MAX_MANIFEST_BYTES, target.clone(), "list").await?;
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
}

fn string_list(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str().map(str::to_string))
        .collect()
}

fn manifest_path(r: ManifestRef<'_>) -> String {
    match r {
        ManifestRef::Digest(d) => d.to_string(),
        ManifestRef::Tag(t) => t.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registry_address_is_host_and_port_only() {
        for good in [
            "registry.enclave:5000",
            "127.0.0.1:5000",
            "[::1]:5000",
            "reg",
        ] {
            EnclaveRegistry::check_address(good).unwrap();
        }
        for (bad, says) in [
            ("http://reg:5000", "without a scheme"),
            ("reg:5000/", "--prefix"),
            ("reg:5000/k8s", "--prefix"),
            ("reg:99999", "registry address"),
            ("user@reg:5000", "HOST:PORT"),
            ("reg:5000?x", "HOST:PORT"),
            ("", "registry address"),
        ] {
            let e = EnclaveRegistry::check_address(bad).unwrap_err();
            assert_eq!(e.exit_code(), 4, "{bad}: {e}");
            assert!(e.to_string().contains(says), "{bad}: {e}");
        }
    }
}
