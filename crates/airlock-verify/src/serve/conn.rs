//! Connections: accept, optional TLS, HTTP/1.1 with bounded waiting.
//!
//! Every resource a client can hold is bounded:
//! - at most `max_connections` at once. A new client at the cap takes the slot of the
//!   connection unused for longest (at least [`EVICT_AFTER`]: no request head completed
//!   and no byte sent; trickled header bytes do not count), so idle
//!   connections, opened by the thousand or kept alive by clients, cannot keep a real
//!   pull waiting for more than about that long each. While every connection is busy,
//!   the new client waits (and the next ones in the kernel's accept queue);
//! - a client must finish sending a request's headers within `header_timeout` of the
//!   server starting to wait for them (this also closes idle keep-alive connections),
//!   and the headers may be at most [`MAX_HEADER_BYTES`];
//! - a connection on which no byte moves in either direction for `idle_timeout` is
//!   closed, so a client that stops reading a blob cannot hold it open;
//! - a TLS handshake must finish within `header_timeout`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

use super::respond::{self, State};
use crate::error::{Error, Result};

/// Largest request head (request line and headers) read.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// How long a connection must have moved no byte before a new client at the cap may
/// take its slot (a client that just connected gets this long to send its request).
pub const EVICT_AFTER: Duration = Duration::from_millis(500);

/// The bounds on what clients can hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once.
    pub max_connections: usize,
    /// Time allowed to send a request's headers (and to finish a TLS handshake).
    pub header_timeout: Duration,
    /// Time a connection may go without a byte moving in either direction.
    pub idle_timeout: Duration,
}

/// A TLS acceptor for a certificate chain and key in PEM files (HTTP/1.1 only).
pub fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let cert_pem = crate::fsutil::read_limited(cert, 1024 * 1024, "TLS certificate")?;
    let key_pem = crate::fsutil::read_limited(key, 1024 * 1024, "TLS key")?;
    let certs = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::invalid("TLS certificate", cert.display(), e))?;
    if certs.is_empty() {
        return Err(Error::invalid(
            "TLS certificate",
            cert.display(),
            "no PEM certificate in it",
        ));
    }
    let key_der = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| Error::invalid("TLS key", key.display(), e))?;
    // The provider is named rather than taken from crate features, so another package of
    // the workspace enabling a second provider cannot make this ambiguous.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::invalid("TLS key", key.display(), e))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| Error::invalid("TLS key", key.display(), e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Accept connections on `listener` until `shutdown` completes.
pub async fn run(
    listener: TcpListener,
    state: Arc<State>,
    tls: Option<TlsAcceptor>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let conns = Arc::new(Conns::new(limits.max_connections.max(1)));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => return,
            a = accept(&listener) => a,
        };
        let Some(tcp) = accepted else {
            continue;
        };
        // At the cap with every connection busy, the new client waits (the next ones in
        // the kernel's queue) until one closes or falls idle.
        let slot = loop {
            if let Some(slot) = conns.admit() {
                break slot;
            }
            tokio::select! {
                _ = &mut shutdown => return,
                _ = conns.freed.notified() => {},
                _ = tokio::time::sleep(EVICT_AFTER / 4) => {},
            }
        };
        let _ = tcp.set_nodelay(true);
        tokio::spawn(connection(tcp, slot, state.clone(), tls.clone(), limits));
    }
}

/// Serve one connection until it closes, or until a new client needs its slot.
async fn connection(
    tcp: tokio::net::TcpStream,
    slot: Slot,
    state: Arc<State>,
    tls: Option<TlsAcceptor>,
    limits: Limits,
) {
    let activity = slot.activity.clone();
    let io = Idle::new(tcp, limits.idle_timeout).reporting(activity.clone());
    let work = async move {
        match tls {
            None => serve(io, state, limits, activity).await,
            Some(tls) => match tokio::time::timeout(limits.header_timeout, tls.accept(io)).await {
                Ok(Ok(stream)) => serve(stream, state, limits, activity).await,
                Ok(Err(e)) => tracing::debug!("TLS handshake failed: {e}"),
                Err(_) => tracing::debug!("TLS handshake timed out"),
            },
        }
    };
    tokio::select! {
        _ = work => {},
        _ = slot.evict.notified() => tracing::debug!("closed an idle connection for a new client"),
    }
}

/// The next connection, or `None` after a failed accept.
async fn accept(listener: &TcpListener) -> Option<tokio::net::TcpStream> {
    match listener.accept().await {
        Ok((tcp, _)) => Some(tcp),
        Err(e) => {
            // Out of file descriptors and the like: wait a moment instead of spinning.
            tracing::warn!("accept: {e}");
            tokio::time::sleep(Duration::from_millis(100)).await;
            None
        }
    }
}

/// When a connection was last in use (accepted, a request head complete, a byte sent),
/// in milliseconds since the server started.
#[derive(Clone)]
pub struct Activity {
    epoch: Instant,
    last_ms: Arc<AtomicU64>,
}

impl Activity {
    fn now_ms(epoch: Instant) -> u64 {
        u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn touch(&self) {
        self.last_ms
            .store(Self::now_ms(self.epoch), Ordering::Relaxed);
    }

    fn last(&self) -> u64 {
        self.last_ms.load(Ordering::Relaxed)
    }
}

/// The open connections, by id: when each last moved a byte, and how to close it.
struct Conns {
    max: usize,
    epoch: Instant,
    /// Told when a connection closes.
    freed: tokio::sync::Notify,
    /// The last id given, and each open connection's use and close signal by id.
    live: std::sync::Mutex<(u64, HashMap<u64, Entry>)>,
}

type Entry = (Activity, Arc<tokio::sync::Notify>);

/// A connection's place among the open ones; given back when dropped.
struct Slot {
    id: u64,
    conns: Arc<Conns>,
    activity: Activity,
    evict: Arc<tokio::sync::Notify>,
}

impl Conns {
    fn new(max: usize) -> Self {
        Conns {
            max,
            epoch: Instant::now(),
            freed: tokio::sync::Notify::new(),
            live: std::sync::Mutex::new((0, HashMap::new())),
        }
    }

    /// A slot for a new connection. At the cap, the connection unused for longest (at
    /// least [`EVICT_AFTER`]) is told to close and gives up its slot at once; `None`
    /// when every connection was in use more recently than that.
    fn admit(self: &Arc<Self>) -> Option<Slot> {
        let now = Activity::now_ms(self.epoch);
        let min_idle = u64::try_from(EVICT_AFTER.as_millis()).unwrap_or(u64::MAX);
        // A panic elsewhere cannot leave the table half-updated: each change is one call.
        let mut guard = self.live.lock().unwrap_or_else(|p| p.into_inner());
        let (next, live) = &mut *guard;
        if live.len() >= self.max {
            let idlest = live
                .iter()
                .map(|(id, (a, _))| (*id, a.last()))
                .filter(|(_, last)| now.saturating_sub(*last) >= min_idle)
                .min_by_key(|(_, last)| *last)
                .map(|(id, _)| id)?;
            if let Some((_, evict)) = live.remove(&idlest) {
                // Stored if the connection is not waiting yet: it closes when it looks.
                evict.notify_one();
            }
        }
        *next += 1;
        let activity = Activity {
            epoch: self.epoch,
            last_ms: Arc::new(AtomicU64::new(now)),
        };
        let evict = Arc::new(tokio::sync::Notify::new());
        live.insert(*next, (activity.clone(), evict.clone()));
        Some(Slot {
            id: *next,
            conns: self.clone(),
            activity,
            evict,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut guard = self.conns.live.lock().unwrap_or_else(|p| p.into_inner());
        guard.1.remove(&self.id);
        self.conns.freed.notify_one();
    }
}

async fn serve<I>(io: I, state: Arc<State>, limits: Limits, activity: Activity)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |req| {
        let state = state.clone();
        // A whole request head arrived: the connection is in use, however slowly it came.
        activity.touch();
        async move { Ok::<_, Infallible>(respond::handle(&state, req).await) }
    });
    let mut b = hyper::server::conn::http1::Builder::new();
    b.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_HEADER_BYTES.max(8192))
        .keep_alive(true);
    if let Err(e) = b.serve_connection(TokioIo::new(io), svc).await {
        tracing::debug!("connection closed: {e}");
    }
}

/// A stream that fails with `TimedOut` when no byte has moved in either direction for
/// `timeout` while the server waits on it.
pub struct Idle<T> {
    inner: T,
    timeout: Duration,
    deadline: Pin<Box<Sleep>>,
    activity: Option<Activity>,
}

impl<T> Idle<T> {
    /// Wrap `inner`.
    pub fn new(inner: T, timeout: Duration) -> Self {
        Idle {
            inner,
            timeout,
            deadline: Box::pin(tokio::time::sleep(timeout)),
            activity: None,
        }
    }

    /// Also record in `activity` when the server last sent a byte (read when choosing
    /// which idle connection to close for a new client).
    pub fn reporting(mut self, activity: Activity) -> Self {
        self.activity = Some(activity);
        self
    }

    /// A byte moved; `wrote` when the server sent it. Only what the server sends (and
    /// whole requests, see `serve`) counts as use of a slot: a client that trickles
    /// header bytes (slowloris) is still idle.
    fn touch(&mut self, wrote: bool) {
        let next = Instant::now() + self.timeout;
        self.deadline.as_mut().reset(next);
        if let Some(a) = self.activity.as_ref().filter(|_| wrote) {
            a.touch();
        }
    }

    fn expired<R>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection idle for too long",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Idle<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    this.touch(false);
                }
                Poll::Ready(r)
            }
            Poll::Pending => this.expired(cx),
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Idle<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(r) => {
                if matches!(r, Ok(n) if n > 0) {
                    this.touch(true);
                }
                Poll::Ready(r)
            }
            Poll::Pending => this.expired(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(r) => {
                if matches!(r, Ok(n) if n > 0) {
                    this.touch(true);
                }
                Poll::Ready(r)
            }
            Poll::Pending => this.expired(cx),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Ready(r) => Poll::Ready(r),
            Poll::Pending => this.expired(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_shutdown(cx) {
            Poll::Ready(r) => Poll::Ready(r),
            Poll::Pending => this.expired(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn at_the_cap_the_idlest_connection_makes_room_and_recent_ones_do_not() {
        let conns = Arc::new(Conns::new(2));
        let a = conns.admit().unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
        let b = conns.admit().unwrap();
        // Both just connected: nothing to close yet.
        assert!(conns.admit().is_none());
        tokio::time::sleep(EVICT_AFTER + EVICT_AFTER / 5).await;
        b.activity.touch();
        // a has been idle long enough (b moved a byte just now): it is told to close, and
        // its slot is taken at once.
        let c = conns.admit().unwrap();
        tokio::time::timeout(Duration::from_secs(1), a.evict.notified())
            .await
            .expect("a was told to close");
        assert!(conns.admit().is_none(), "b and c are recent");
        drop(a);
        assert_eq!(conns.live.lock().unwrap().1.len(), 2);
        drop((b, c));
        assert!(conns.live.lock().unwrap().1.is_empty());
    }

    #[tokio::test]
    async fn a_silent_peer_times_out_and_a_talking_one_does_not() {
        let (a, b) = tokio::io::duplex(64);
        let mut idle = Idle::new(a, Duration::from_millis(200));
        let mut buf = [0u8; 4];
        let t0 = std::time::Instant::now();
        let e = idle.read(&mut buf).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert!(t0.elapsed() < Duration::from_secs(2));

        let (a, mut b2) = tokio::io::duplex(64);
        let mut idle = Idle::new(a, Duration::from_millis(300));
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            for _ in 0..5 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                b2.write_all(b"x").await.unwrap();
            }
        });
        for _ in 0..5 {
            assert_eq!(idle.read(&mut buf).await.unwrap(), 1);
        }
        writer.await.unwrap();
        drop(b);
    }
}
