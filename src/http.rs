//! File downloads (kubeadm, kubelet, charts, ...) checked against pinned sha256 sums.

use std::path::PathBuf;

use futures::StreamExt;

use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::upstream_store::Store;

/// How to reach file servers.
#[derive(Debug, Clone, Default)]
pub struct HttpOptions {
    /// URL prefix rewrites: (`https://dl.k8s.io`, `http://127.0.0.1:8080`). Locks keep the
    /// canonical URL; only the request goes to the mirror.
    pub mirrors: Vec<(String, String)>,
    /// PEM files with extra CA certificates to trust.
    pub ca_files: Vec<PathBuf>,
}

/// An HTTP client for pinned downloads.
#[derive(Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    opts: HttpOptions,
}

impl HttpClient {
    /// Build a client; reads CA files now so a bad path fails early.
    pub fn new(opts: HttpOptions) -> Result<Self> {
        let client = crate::net::reqwest_client(&crate::net::read_ca_files(&opts.ca_files)?)?;
        Ok(HttpClient { client, opts })
    }

    /// The URL actually requested for `url` (after mirrors).
    pub fn effective_url(&self, url: &str) -> String {
        for (from, to) in &self.opts.mirrors {
            let from = from.trim_end_matches('/');
            if let Some(rest) = url.strip_prefix(from)
                && (rest.is_empty() || rest.starts_with('/'))
            {
                return format!("{}{}", to.trim_end_matches('/'), rest);
            }
        }
        url.to_string()
    }

    /// `url`, and the mirror it is fetched through when there is one, for messages.
    pub fn label(&self, url: &str) -> String {
        let eff = self.effective_url(url);
        if eff == url {
            url.to_string()
        } else {
            format!("{url} (via {eff})")
        }
    }

    async fn send(&self, url: &str) -> Result<(reqwest::Response, String)> {
        let eff = self.effective_url(url);
        let label = self.label(url);
        let resp = self
            .client
            .get(&eff)
            .send()
            .await
            .map_err(|e| Error::Http {
                url: label.clone(),
                reason: e.to_string(),
            })?;
        Ok((resp, label))
    }

    async fn get(&self, url: &str) -> Result<reqwest::Response> {
        let (resp, label) = self.send(url).await?;
        if !resp.status().is_success() {
            return Err(Error::Http {
                url: label,
                reason: format!("HTTP {}", resp.status()),
            });
        }
        Ok(resp)
    }

    /// Download `url` into the store; the content must hash to `expected` (and have
    /// `size` bytes, when given).
    pub async fn download_to_store(
        &self,
        store: &Store,
        url: &str,
        expected: &Sha256Digest,
        size: Option<u64>,
        on_progress: impl FnMut(u64),
    ) -> Result<u64> {
        let resp = self.get(url).await?;
        let u = url.to_string();
        let stream = resp.bytes_stream().map(move |c| {
            c.map_err(|e| Error::Http {
                url: u.clone(),
                reason: format!("transfer failed: {e}"),
            })
        });
        store
            .put_stream(Box::pin(stream), url, expected, size, on_progress)
            .await
    }

    /// Open `url` (through its mirror) for streaming; `None` when the server answers 404.
    /// For callers that check the bytes themselves (the TUF client).
    pub async fn open(&self, url: &str) -> Result<Option<reqwest::Response>> {
        let (resp, label) = self.send(url).await?;
        answer(resp, &label)
    }

    /// Fetch a small document, at most `limit` bytes; `None` when the server answers 404
    /// (a release or tag that does not exist), an error for any other failure.
    pub async fn fetch_document(&self, url: &str, limit: usize) -> Result<Option<Vec<u8>>> {
        let (resp, label) = self.send(url).await?;
        match answer(resp, &label)? {
            Some(resp) => read_limited(resp, &label, limit).await.map(Some),
            None => Ok(None),
        }
    }

    /// POST `body` (JSON) to `url` and read the answer, at most `limit` bytes; `None` when
    /// the server answers 404. For lookups that the server's API only offers as POST
    /// (Rekor's index search).
    pub async fn post_json(
        &self,
        url: &str,
        body: Vec<u8>,
        limit: usize,
    ) -> Result<Option<Vec<u8>>> {
        let label = self.label(url);
        let request = self
            .client
            .post(self.effective_url(url))
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        let resp = send_post(request, body, &label).await?;
        match answer(resp, &label)? {
            Some(resp) => read_limited(resp, &label, limit).await.map(Some),
            None => Ok(None),
        }
    }

    /// Download `url` (at most `limit` bytes) into an anonymous temporary file, hashing
    /// while writing; returns the file (rewound), its sha256 and size. For documents that
    /// are not pinned yet (a chart repository's index, `airlock addon pin`).
    pub async fn download_to_temp(
        &self,
        url: &str,
        limit: u64,
    ) -> Result<(std::fs::File, Sha256Digest, u64)> {
        use std::io::{Seek, Write};
        let (resp, label) = self.send(url).await?;
        if !resp.status().is_success() {
            return Err(Error::Http {
                url: label,
                reason: format!("HTTP {}", resp.status()),
            });
        }
        let mut file =
            tempfile::tempfile().map_err(|e| Error::io("create", "a temporary file", e))?;
        let mut hasher = crate::digest::Hasher::new();
        let mut n: u64 = 0;
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| Error::Http {
                url: label.clone(),
                reason: format!("transfer failed: {e}"),
            })?;
            n += chunk.len() as u64;
            if n > limit {
                return Err(Error::Http {
                    url: label,
                    reason: format!("larger than {limit} bytes"),
                });
            }
            hasher.update(&chunk);
            file.write_all(&chunk)
                .map_err(|e| Error::io("write", "a temporary file", e))?;
        }
        file.rewind()
            .map_err(|e| Error::io("rewind", "a temporary file", e))?;
        let (digest, _) = hasher.finish();
        Ok((file, digest, n))
    }

    /// POST `body` as `content_type` to `url` (no mirrors: a service, not a file) and read
    /// the answer, at most `limit` bytes; a status other than 2xx, or another content
    /// type than `accept`, is an error.
    pub async fn post(
        &self,
        url: &str,
        content_type: &str,
        accept: &str,
        body: Vec<u8>,
        limit: usize,
    ) -> Result<Vec<u8>> {
        let http = |reason: String| Error::Http {
            url: url.to_string(),
            reason,
        };
        let request = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .header(reqwest::header::ACCEPT, accept);
        let resp = send_post(request, body, url).await?;
        if !resp.status().is_success() {
            return Err(http(format!("HTTP {}", resp.status())));
        }
        let got = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        if got.split(';').next().map(str::trim) != Some(accept) {
            return Err(http(format!("answered {got:?}, not {accept}")));
        }
        read_limited(resp, url, limit).await
    }

    /// Fetch a small text document (a checksum file), at most `limit` bytes.
    pub async fn fetch_small(&self, url: &str, limit: usize) -> Result<String> {
        let resp = self.get(url).await?;
        let out = read_limited(resp, url, limit).await?;
        String::from_utf8(out).map_err(|_| Error::Http {
            url: url.to_string(),
            reason: "not UTF-8 text".into(),
        })
    }
}

/// `Some(resp)` for a 2xx answer, `None` for 404 (the callers that use this treat "not
/// there" as an answer: a release or Rekor entry that does not exist), an error naming
/// `label` for any other status.
fn answer(resp: reqwest::Response, label: &str) -> Result<Option<reqwest::Response>> {
    let status = resp.status();
    if status == reqwest::StatusCode::NOT_FOUND {
        Ok(None)
    } else if status.is_success() {
        Ok(Some(resp))
    } else {
        Err(Error::Http {
            url: label.to_string(),
            reason: format!("HTTP {status}"),
        })
    }
}

/// Send a prepared POST with `body`; a transport failure is an error naming `label`.
async fn send_post(
    request: reqwest::RequestBuilder,
    body: Vec<u8>,
    label: &str,
) -> Result<reqwest::Response> {
    request.body(body).send().await.map_err(|e| Error::Http {
        url: label.to_string(),
        reason: e.to_string(),
    })
}

/// The body of `resp`, refused once it is longer than `limit` bytes.
async fn read_limited(resp: reqwest::Response, label: &str, limit: usize) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Error::Http {
            url: label.to_string(),
            reason: e.to_string(),
        })?;
        out.extend_from_slice(&chunk);
        if out.len() > limit {
            return Err(Error::Http {
                url: label.to_string(),
                reason: format!("larger than {limit} bytes"),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrors_rewrite_prefixes_only_at_boundaries() {
        let c = HttpClient::new(HttpOptions {
            mirrors: vec![("https://dl.k8s.io".into(), "http://127.0.0.1:9/".into())],
            ca_files: vec![],
        })
        .unwrap();
        assert_eq!(
            c.effective_url("https://dl.k8s.io/release/v1.30.2/bin/linux/amd64/kubeadm"),
            "http://127.0.0.1:9/release/v1.30.2/bin/linux/amd64/kubeadm"
        );
        assert_eq!(
            c.effective_url("https://dl.k8s.io.evil/x"),
            "https://dl.k8s.io.evil/x"
        );
    }
}
