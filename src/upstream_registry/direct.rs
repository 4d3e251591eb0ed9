//! Small reads (manifests, referrer indexes, signature blobs) from a registry that asks for
//! no credentials, made directly over HTTP.
//!
//! Why not through oci-client: it caches bearer tokens but not the fact that a registry
//! needs none, so before every request to such a registry it sends `GET /v2/` again to look
//! for a challenge. A resolve that checks signatures makes about eight small requests per
//! artifact one after another, and the pings doubled that chain (BENCHMARKS.md, issue 23).
//! Here each registry is asked once: if `GET /v2/` answers 2xx with no `WWW-Authenticate`
//! challenge and the docker config holds no credentials for it, it is open, and these reads
//! go straight to it. Anything else (a challenge, an error, credentials to use) leaves the
//! registry to oci-client, whose errors say what went wrong. Large blobs always stream
//! through oci-client: one ping per layer is nothing beside the layer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use airlock_core::oci::{ACCEPTED_MANIFEST_TYPES, MAX_MANIFEST_BYTES};
use futures::StreamExt;
use tokio::sync::OnceCell;

use crate::digest::Sha256Digest;
use crate::error::{Error, Result};

/// What was learned about one registry, once.
#[derive(Debug, Default)]
struct Learned {
    /// Whether it asks for no credentials (set by the first read).
    open: OnceCell<bool>,
    /// Set when its referrers API answered 404: per the OCI distribution spec a registry
    /// that implements the API never does, so it is asked by the tag schema from then on.
    no_referrers_api: std::sync::atomic::AtomicBool,
}

/// The direct reader; see the module documentation.
pub(super) struct Direct {
    http: reqwest::Client,
    /// Hosts reached over plain HTTP.
    insecure: Vec<String>,
    learned: Mutex<HashMap<String, Arc<Learned>>>,
}

/// A registry's answer to a direct read: the body, or "not there" (404).
pub(super) type Answer = Option<Vec<u8>>;

impl Direct {
    /// A reader trusting the system roots and `extra_roots` (PEM).
    pub(super) fn new(
        extra_roots: &[(std::path::PathBuf, Vec<u8>)],
        insecure: &[String],
    ) -> Result<Self> {
        Ok(Direct {
            http: crate::net::reqwest_client(extra_roots)?,
            insecure: insecure.to_vec(),
            learned: Mutex::new(HashMap::new()),
        })
    }

    fn base(&self, registry: &str) -> String {
        let scheme = if self.insecure.iter().any(|h| h == registry) {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{registry}/v2/")
    }

    fn learned(&self, registry: &str) -> Arc<Learned> {
        // A poisoned lock only means another task panicked while inserting; the map is
        // still a valid map.
        let mut map = self
            .learned
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.entry(registry.to_owned()).or_default().clone()
    }

    /// Whether `registry` asks for no credentials; asked once, by one task, however many
    /// reads wait for the answer.
    pub(super) async fn is_open(&self, registry: &str) -> bool {
        let learned = self.learned(registry);
        *learned
            .open
            .get_or_init(|| async {
                match self.http.get(self.base(registry)).send().await {
                    Ok(r) => {
                        r.status().is_success()
                            && !r.headers().contains_key(reqwest::header::WWW_AUTHENTICATE)
                    }
                    // Unreachable or refused: oci-client will say so with its advice.
                    Err(_) => false,
                }
            })
            .await
    }

    /// `GET <registry>/v2/<path>` with `accept`, the body read up to `limit` bytes; `None`
    /// on 404. `what` names the artifact in errors.
    async fn get(
        &self,
        registry: &str,
        path: &str,
        accept: &str,
        limit: u64,
        what: &str,
    ) -> Result<Answer> {
        let url = format!("{}{path}", self.base(registry));
        let resp = self
            .http
            .get(&url)
            .header(reqwest::header::ACCEPT, accept)
            .send()
            .await
            .map_err(|e| {
                // Down or refusing since the first probe: say so as oci-client's path does.
                let reason = match airlock_verify::enclave_registry::Unreachable::of(&e) {
                    Some(u) => u.advice(registry, &format!("--insecure-registry {registry}")),
                    None => format!("request failed: {e}"),
                };
                upstream(what, reason)
            })?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            // The registry's error document says why; a little of it is enough, escaped:
            // it is the registry's text, not ours, on the user's terminal.
            let body = resp.text().await.unwrap_or_default();
            let body: String = body.trim().chars().take(300).collect();
            let body = crate::escape::Untrusted(&body);
            return Err(upstream(what, format!("HTTP {status}: {body}")));
        }
        let mut out = Vec::new();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| upstream(what, format!("transfer failed: {e}")))?;
            out.extend_from_slice(&chunk);
            if out.len() as u64 > limit {
                return Err(upstream(what, format!("larger than {limit} bytes")));
            }
        }
        Ok(Some(out))
    }

    /// A manifest by tag or digest; `None` when the registry has none.
    pub(super) async fn manifest(
        &self,
        registry: &str,
        repository: &str,
        reference: &str,
    ) -> Result<Answer> {
        let what = format!("{registry}/{repository}:{reference}");
        self.get(
            registry,
            &format!("{repository}/manifests/{reference}"),
            &ACCEPTED_MANIFEST_TYPES.join(", "),
            MAX_MANIFEST_BYTES,
            &what,
        )
        .await
    }

    /// A blob of at most `limit` bytes; `None` when the registry has none. The caller
    /// checks the digest.
    pub(super) async fn blob(
        &self,
        registry: &str,
        repository: &str,
        digest: &Sha256Digest,
        limit: u64,
    ) -> Result<Answer> {
        let what = format!("{registry}/{repository} blob {digest}");
        self.get(
            registry,
            &format!("{repository}/blobs/{digest}"),
            "*/*",
            limit,
            &what,
        )
        .await
    }

    /// The referrers index of `digest` filtered to `artifact_type` by the registry (the
    /// caller filters again): the referrers API, or on its 404 the referrers tag schema
    /// (`sha256-<hex>`), as the spec says a client falls back. `None`: no referrers.
    pub(super) async fn referrers(
        &self,
        registry: &str,
        repository: &str,
        digest: &Sha256Digest,
        artifact_type: &str,
    ) -> Result<Answer> {
        let learned = self.learned(registry);
        let skip_api = learned
            .no_referrers_api
            .load(std::sync::atomic::Ordering::Relaxed);
        if !skip_api {
            let what = format!("{registry}/{repository} referrers of {digest}");
            let query = url_encode(artifact_type);
            let api = self
                .get(
                    registry,
                    &format!("{repository}/referrers/{digest}?artifactType={query}"),
                    "application/vnd.oci.image.index.v1+json",
                    MAX_MANIFEST_BYTES,
                    &what,
                )
                .await?;
            if api.is_some() {
                return Ok(api);
            }
            learned
                .no_referrers_api
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        let tag = format!("sha256-{}", digest.hex());
        self.manifest(registry, repository, &tag).await
    }
}

fn upstream(what: &str, reason: String) -> Error {
    Error::Upstream {
        reference: what.to_owned(),
        reason,
    }
}

/// Percent-encodes a query value (media types hold `/` and `+`).
fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_are_encoded_for_the_query() {
        assert_eq!(
            url_encode("application/vnd.dev.sigstore.bundle.v0.3+json"),
            "application%2Fvnd.dev.sigstore.bundle.v0.3%2Bjson"
        );
    }

    /// A registry's error document reaches the terminal escaped: an escape sequence in it
    /// cannot clear the screen or forge output.
    #[tokio::test]
    async fn a_registrys_error_text_is_escaped() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let host = listener.local_addr().expect("address").to_string();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().expect("accept");
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let body = "\x1b[2J OK: verified";
            let _ = write!(
                conn,
                "HTTP/1.1 500 Internal Server Error\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        });
        let d = Direct::new(&[], std::slice::from_ref(&host)).expect("client");
        let e = d
            .manifest(&host, "pause", "3.9")
            .await
            .expect_err("a 500 is an error")
            .to_string();
        server.join().expect("server thread");
        assert!(e.contains("HTTP 500"), "{e}");
        assert!(e.contains("\\u{1b}[2J OK: verified"), "{e}");
        assert!(!e.contains('\x1b'), "{e}");
    }

    #[test]
    fn insecure_hosts_are_reached_over_plain_http() {
        let d = Direct::new(&[], &["127.0.0.1:5000".into()]).expect("client");
        assert_eq!(d.base("127.0.0.1:5000"), "http://127.0.0.1:5000/v2/");
        assert_eq!(d.base("registry.k8s.io"), "https://registry.k8s.io/v2/");
    }
}
