//! The HTTP underneath the enclave registry client: the client with its TLS roots,
//! retries with backoff for requests that may be repeated, bounded and streamed bodies,
//! and errors that say what to check when the registry cannot be reached.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;

use crate::error::{Error, Result};

/// How to reach the enclave registry.
#[derive(Debug, Clone, Default)]
pub struct EnclaveRegistryOptions {
    /// Plain HTTP instead of HTTPS (test and lab registries only).
    pub insecure: bool,
    /// PEM files with extra CA certificates to trust.
    pub ca_files: Vec<PathBuf>,
    /// Attempts for each retried request (at least 1).
    pub attempts: u32,
    /// Delay before the first retry; doubled for each further one.
    pub backoff: Duration,
}

/// The HTTP client for one registry, with what its retries need.
pub(super) struct Transport {
    pub(super) http: reqwest::Client,
    /// `HOST:PORT`.
    pub(super) host: String,
    pub(super) opts: EnclaveRegistryOptions,
    /// Set once a refused connection has been reported: concurrent requests retrying
    /// against a registry that is down say so once, not once per request and attempt.
    refused_reported: AtomicBool,
}

/// The HTTP client for `host`: its timeouts and the extra CA certificates of `opts`.
fn http_client(host: &str, opts: &EnclaveRegistryOptions) -> Result<reqwest::Client> {
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
    b.build().map_err(|e| Error::RegistryTransport {
        target: host.to_string(),
        action: "set up the HTTP client",
        source: e,
    })
}

impl Transport {
    /// Build the HTTP client for `host` (reads the CA files now).
    pub(super) fn new(host: &str, opts: EnclaveRegistryOptions) -> Result<Self> {
        Ok(Transport {
            http: http_client(host, &opts)?,
            host: host.to_string(),
            opts,
            refused_reported: AtomicBool::new(false),
        })
    }

    pub(super) fn backoff(&self, attempt: u32) -> Duration {
        self.opts.backoff * 2u32.saturating_pow(attempt.saturating_sub(1))
    }

    /// A transport error, or, when retrying cannot fix its cause (a plain-HTTP answer to
    /// TLS), an error that says what to do instead.
    pub(super) fn transport_error(
        &self,
        target: &str,
        action: &'static str,
        e: reqwest::Error,
    ) -> Error {
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
    pub(super) fn report_retry(&self, e: &Error) {
        let refused = matches!(e.root(), Error::RegistryTransport { source, .. }
            if Unreachable::of(source) == Some(Unreachable::Refused));
        if !refused {
            tracing::warn!("{}; retrying", crate::error::chain(e));
        } else if !self.refused_reported.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "registry {}: connection refused; retrying (is it running?)",
                self.host
            );
        }
    }

    /// The final error of a request: a refused connection says what to check.
    pub(super) fn explain(&self, e: Error) -> Error {
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

pub(super) fn retryable(e: &Error) -> bool {
    match e.root() {
        Error::RegistryTransport { source, .. } => {
            source.is_connect() || source.is_timeout() || source.is_request() || source.is_body()
        }
        Error::Registry { reason, .. } => reason.starts_with("HTTP 5"),
        _ => false,
    }
}

/// A file as a stream of chunks for a request body.
pub(super) fn tokio_util_stream(
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

/// Read a response body of at most `limit` bytes (a manifest, a listing, a token), chunk
/// by chunk, refusing the rest of a larger one instead of buffering it: a registry or
/// token service that answers without end costs `limit` bytes of memory, not all of it.
pub(super) async fn small_body(
    mut resp: reqwest::Response,
    limit: u64,
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
        if out.len() as u64 > limit {
            return Err(Error::Registry {
                target,
                action,
                reason: format!("answered more than {limit} bytes"),
            });
        }
    }
    Ok(out)
}

/// The first `limit` bytes of a body, for an error message; the rest is never read, and a
/// body that breaks off gives what arrived.
pub(super) async fn body_excerpt(mut resp: reqwest::Response, limit: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while out.len() < limit {
        match resp.chunk().await {
            Ok(Some(chunk)) => out.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    out.truncate(limit);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(len: usize) -> reqwest::Response {
        reqwest::Response::from(hyper::Response::new(vec![b'x'; len]))
    }

    fn run<T>(f: impl std::future::Future<Output = T>) -> T {
        let rt = tokio::runtime::Builder::new_current_thread().build();
        rt.expect("a runtime").block_on(f)
    }

    /// A token service or registry that answers more than asked is refused at the bound;
    /// an error body is cut to its excerpt (neither is held whole).
    #[test]
    fn bodies_are_read_up_to_their_bound() {
        assert_eq!(
            run(small_body(answer(10), 10, "t".into(), "a"))
                .unwrap()
                .len(),
            10
        );
        let e = run(small_body(answer(11), 10, "t".into(), "get token")).unwrap_err();
        assert!(e.to_string().contains("more than 10 bytes"), "{e}");
        assert_eq!(run(body_excerpt(answer(100_000), 512)).len(), 512);
        assert_eq!(run(body_excerpt(answer(3), 512)), b"xxx");
    }
}
