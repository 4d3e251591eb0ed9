//! Answers to requests: the read-only part of the OCI distribution API, from the
//! [`ServedCatalog`] and the verified spool. Every lookup is by repository name and parsed
//! digest; files are opened only at [`Spool::blob_path`] of a digest the catalog lists
//! for that repository.

use std::io::{self, Read, Seek, SeekFrom};
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::body::{Body, Bytes, Frame, SizeHint};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use super::range::{self, Answer};
use super::routes::{self, Reference, Route};
use super::served_catalog::ServedCatalog;
use crate::digest::Sha256Digest;
use crate::escape::Untrusted;
use crate::spool::Spool;

/// Bytes read from a spool file per chunk of a response.
const CHUNK: u64 = 256 * 1024;
/// Chunks read ahead of the client per response.
const CHUNKS_AHEAD: usize = 4;

/// What the server answers from: the catalog and the spool holding its digests.
pub struct State {
    /// What is served.
    pub catalog: ServedCatalog,
    /// Where the verified blobs are.
    pub spool: Spool,
}

/// A response body: nothing, bytes in memory (manifests, errors), or a spool file range
/// streamed by a blocking reader a few chunks ahead.
pub enum ServeBody {
    /// No body (HEAD, 416).
    Empty,
    /// A small body.
    Full(Option<Bytes>),
    /// A file range.
    Stream {
        /// Chunks from the reader thread.
        rx: tokio::sync::mpsc::Receiver<io::Result<Bytes>>,
        /// Bytes still to come.
        remaining: u64,
    },
}

impl Body for ServeBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.get_mut() {
            ServeBody::Empty => Poll::Ready(None),
            ServeBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            ServeBody::Stream { rx, remaining } => match rx.poll_recv(cx) {
                Poll::Ready(Some(Ok(b))) => {
                    *remaining = remaining.saturating_sub(b.len() as u64);
                    Poll::Ready(Some(Ok(Frame::data(b))))
                }
                Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
                Poll::Ready(None) if *remaining > 0 => Poll::Ready(Some(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "spool reader stopped early",
                )))),
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ServeBody::Empty => true,
            ServeBody::Full(b) => b.is_none(),
            ServeBody::Stream { remaining, .. } => *remaining == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ServeBody::Empty => SizeHint::with_exact(0),
            ServeBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            ServeBody::Stream { remaining, .. } => SizeHint::with_exact(*remaining),
        }
    }
}

/// Answer one request.
pub async fn handle<B>(state: &State, req: Request<B>) -> Response<ServeBody> {
    let route = routes::parse(req.uri().path());
    let method = req.method().clone();
    let head = method == Method::HEAD;
    let resp = if !(method == Method::GET || head) || route == Route::Upload {
        not_allowed()
    } else {
        let range = req.headers().get(header::RANGE).map(HeaderValue::as_bytes);
        read(state, route, range, head).await
    };
    tracing::info!(
        "{} {} -> {}",
        method,
        Untrusted(req.uri().path()),
        resp.status().as_u16()
    );
    resp
}

async fn read(
    state: &State,
    route: Route,
    range: Option<&[u8]>,
    head: bool,
) -> Response<ServeBody> {
    let c = &state.catalog;
    match route {
        Route::Base => json(StatusCode::OK, "{}".into(), head),
        Route::Catalog => {
            let names: Vec<&str> = c.repo_names().collect();
            json(
                StatusCode::OK,
                serde_json::json!({ "repositories": names }).to_string(),
                head,
            )
        }
        Route::Tags(name) => match c.repo(&name) {
            Some(r) => {
                let tags: Vec<&String> = r.tags.keys().collect();
                let body = serde_json::json!({ "name": name, "tags": tags }).to_string();
                json(StatusCode::OK, body, head)
            }
            None => name_unknown(),
        },
        Route::Manifest(name, reference) => manifest(state, &name, reference, head).await,
        Route::Blob(name, digest) => blob(state, &name, digest, range, head),
        Route::BadReference => error(
            StatusCode::BAD_REQUEST,
            "MANIFEST_INVALID",
            "the reference is neither a tag nor a sha256 digest",
        ),
        Route::BadDigest => error(
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
            "the digest is not sha256: and 64 lower-case hex digits",
        ),
        Route::BadName => error(
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
            "repository name not known to registry",
        ),
        Route::NotFound | Route::Upload => {
            error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such endpoint")
        }
    }
}

async fn manifest(
    state: &State,
    name: &str,
    reference: Reference,
    head: bool,
) -> Response<ServeBody> {
    let Some(repo) = state.catalog.repo(name) else {
        return name_unknown();
    };
    let digest = match reference {
        Reference::Tag(t) => repo.tags.get(&t).copied(),
        Reference::Digest(d) => Some(d),
    };
    let Some((digest, m)) = digest.and_then(|d| repo.manifests.get(&d).map(|m| (d, m))) else {
        return error(
            StatusCode::NOT_FOUND,
            "MANIFEST_UNKNOWN",
            "manifest unknown to registry",
        );
    };
    let mut resp = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, m.media_type.as_str())
        .header(header::CONTENT_LENGTH, m.size)
        .header("Docker-Content-Digest", digest.to_string())
        .header(header::ETAG, format!("\"{digest}\""));
    resp = api_version(resp);
    let body = if head {
        ServeBody::Empty
    } else {
        match tokio::fs::read(state.spool.blob_path(&digest)).await {
            Ok(bytes) if bytes.len() as u64 == m.size => ServeBody::Full(Some(Bytes::from(bytes))),
            other => return internal(&digest, other.err()),
        }
    };
    resp.body(body).unwrap_or_else(|_| fallback())
}

fn blob(
    state: &State,
    name: &str,
    digest: Sha256Digest,
    range: Option<&[u8]>,
    head: bool,
) -> Response<ServeBody> {
    let Some(repo) = state.catalog.repo(name) else {
        return name_unknown();
    };
    let Some(size) = repo.blob_size(&digest) else {
        return error(
            StatusCode::NOT_FOUND,
            "BLOB_UNKNOWN",
            "blob unknown to registry",
        );
    };
    let base = api_version(
        Response::builder()
            .header(header::ACCEPT_RANGES, "bytes")
            .header("Docker-Content-Digest", digest.to_string())
            .header(header::ETAG, format!("\"{digest}\"")),
    );
    let (status, start, len, resp) = match range::answer(range, size) {
        Answer::Full => (StatusCode::OK, 0, size, base),
        Answer::Partial { start, end } => (
            StatusCode::PARTIAL_CONTENT,
            start,
            end - start + 1,
            base.header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{size}")),
        ),
        Answer::Unsatisfiable => {
            return base
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::CONTENT_RANGE, format!("bytes */{size}"))
                .header(header::CONTENT_LENGTH, 0)
                .body(ServeBody::Empty)
                .unwrap_or_else(|_| fallback());
        }
    };
    let resp = resp
        .status(status)
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_LENGTH, len)
        .header(header::CACHE_CONTROL, "max-age=31536000");
    if head || len == 0 {
        return resp.body(ServeBody::Empty).unwrap_or_else(|_| fallback());
    }
    let file = match std::fs::File::open(state.spool.blob_path(&digest)) {
        Ok(f) => f,
        Err(e) => return internal(&digest, Some(e)),
    };
    resp.body(stream(file, start, len))
        .unwrap_or_else(|_| fallback())
}

/// Stream `len` bytes of `file` from `start`, read on a blocking thread a few chunks
/// ahead. A client that goes away closes the channel, which stops the reader.
fn stream(mut file: std::fs::File, start: u64, len: u64) -> ServeBody {
    let (tx, rx) = tokio::sync::mpsc::channel(CHUNKS_AHEAD);
    tokio::task::spawn_blocking(move || {
        let mut send = || -> io::Result<()> {
            file.seek(SeekFrom::Start(start))?;
            let mut left = len;
            while left > 0 {
                let mut buf = vec![0u8; CHUNK.min(left) as usize];
                file.read_exact(&mut buf)?;
                left -= buf.len() as u64;
                if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                    break; // the client went away
                }
            }
            Ok(())
        };
        if let Err(e) = send() {
            let _ = tx.blocking_send(Err(e));
        }
    });
    ServeBody::Stream { rx, remaining: len }
}

fn api_version(b: hyper::http::response::Builder) -> hyper::http::response::Builder {
    b.header("Docker-Distribution-API-Version", "registry/2.0")
}

fn json(status: StatusCode, body: String, head: bool) -> Response<ServeBody> {
    let len = body.len();
    let body = if head {
        ServeBody::Empty
    } else {
        ServeBody::Full(Some(Bytes::from(body)))
    };
    api_version(Response::builder())
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, len)
        .body(body)
        .unwrap_or_else(|_| fallback())
}

/// An OCI distribution error answer: `{"errors":[{"code":...,"message":...}]}`.
fn error(status: StatusCode, code: &str, message: &str) -> Response<ServeBody> {
    let body = serde_json::json!({ "errors": [{ "code": code, "message": message }] });
    json(status, body.to_string(), false)
}

fn name_unknown() -> Response<ServeBody> {
    error(
        StatusCode::NOT_FOUND,
        "NAME_UNKNOWN",
        "repository name not known to registry",
    )
}

fn not_allowed() -> Response<ServeBody> {
    let mut r = error(
        StatusCode::METHOD_NOT_ALLOWED,
        "UNSUPPORTED",
        "this registry serves a verified bundle read-only",
    );
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    r
}

fn internal(digest: &Sha256Digest, e: Option<io::Error>) -> Response<ServeBody> {
    tracing::error!(
        "spool file for {digest} is missing or changed: {}",
        e.map(|e| e.to_string())
            .unwrap_or_else(|| "wrong size".into())
    );
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "UNKNOWN",
        "spool file unreadable",
    )
}

/// Only reached if a header value above were invalid, which none can be.
fn fallback() -> Response<ServeBody> {
    let mut r = Response::new(ServeBody::Empty);
    *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    r
}
