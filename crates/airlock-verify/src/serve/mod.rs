//! Serve: a verified bundle's images over the read-only part of the OCI distribution
//! API, for sites without a registry (containerd uses it as a mirror).
//!
//! Only verified bytes are ever served. `serve` takes a [`VerifiedBundle`] (every byte
//! checked), then walks the payload once more and writes each blob an image needs into a
//! private, content-addressed spool ([`crate::spool`]): through the [`VerifyingReader`],
//! to a temporary name renamed to its digest only after the digest matched. The server
//! answers from that spool and from the signed manifest ([`served_catalog`]); a request names a
//! repository and a digest or tag, both parsed ([`routes`]), and a file is opened only
//! at the spool path of a digest the manifest lists for that repository.
//!
//! The spool costs disk: each served blob once, about the payload's tar size less its
//! files. It is checked for room before anything is written and removed when the server
//! stops (Ctrl-C or SIGTERM; a killed server's spool is removed by the next `serve` or
//! `install` with the same spool base). Random access into the zstd stream would save
//! that disk, but it would serve from a file that can change after verification; the
//! spool holds only what was checked.
//!
//! [`VerifyingReader`]: crate::verify::VerifyingReader

pub mod conn;
pub mod range;
pub mod respond;
pub mod routes;
pub mod served_catalog;

use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::layout::PayloadPath;
use crate::spool::Spool;
use crate::verify::VerifiedBundle;

pub use conn::{Limits, tls_acceptor};
pub use respond::State;
pub use served_catalog::{ServedCatalog, ServedImage};

/// Build the catalog of what `bundle` serves (repositories under `prefix`), and extract
/// the verified blobs it needs into a new spool under `spool_base`.
pub fn prepare(
    bundle: &VerifiedBundle,
    prefix: Option<&str>,
    spool_base: &Path,
    on_progress: &dyn Fn(u64),
) -> Result<State> {
    bundle.require_full("serve")?;
    let m = bundle.manifest();
    let catalog = ServedCatalog::build(m, prefix)?;
    crate::spool::remove_stale(spool_base);
    crate::fsutil::require_free(spool_base, catalog.spool_bytes(m), "the serve spool")?;
    let spool = Spool::create(spool_base)?;
    let wanted = catalog.digests();
    bundle.walk::<Error>(
        &mut |entry, r| {
            if let PayloadPath::Blob(d) = entry.path
                && wanted.contains(&d)
            {
                spool.store(d, r)?;
            }
            Ok(())
        },
        on_progress,
    )?;
    // Every served digest is a payload entry (the manifest is consistent), so each was
    // stored above; check anyway, a missing file would only show up as a 500 later.
    if let Some(d) = wanted.iter().find(|d| !spool.blob_path(d).is_file()) {
        return Err(Error::verification(
            PayloadPath::Blob(*d).to_string(),
            "served by an image but not in the payload",
        ));
    }
    Ok(State { catalog, spool })
}

/// Serve `state` on `listener` until `shutdown` completes.
pub async fn run(
    listener: tokio::net::TcpListener,
    state: Arc<State>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()>,
) {
    conn::run(listener, state, tls, limits, shutdown).await
}

/// A future that completes on Ctrl-C or SIGTERM (so the spool is removed on the way
/// out). The handlers are installed now, before anything is announced, so a signal sent
/// right after start-up is never missed. Must be called inside a tokio runtime.
pub fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let install = |kind| signal(kind).map_err(|e| Error::io("install a handler for", "signals", e));
    let mut term = install(SignalKind::terminate())?;
    let mut int = install(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
    })
}
