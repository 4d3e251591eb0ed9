//! `airlock-verify serve`

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use airlock_verify::outln;
use airlock_verify::serve::{self, Limits};

use crate::common::BundleArgs;

/// Verify a bundle completely, then serve its images read-only over the OCI distribution
/// API (/v2/), for sites without a registry: containerd, skopeo, crane and docker pull from
/// it. The verified blobs are first written to a spool (disk: about the payload's size),
/// and only they are served; the spool is removed when the server stops (Ctrl-C, SIGTERM).
///
/// Images are served under their upstream repository paths (below --prefix if given),
/// by tag and by digest, exactly as `install` would push them.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    bundle: BundleArgs,
    /// Address to listen on, HOST:PORT (port 0 picks a free one; the address is printed).
    #[arg(long, value_name = "HOST:PORT")]
    listen: SocketAddr,
    /// TLS certificate chain (PEM); with --tls-key, serve HTTPS.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM, PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve every repository under this path (`k8s` gives `k8s/kube-apiserver`).
    #[arg(long)]
    prefix: Option<String>,
    /// Where the spool of verified blobs goes [default: system temp folder].
    #[arg(long, value_name = "DIR")]
    spool: Option<PathBuf>,
    /// Connections served at once; further clients wait until one closes.
    #[arg(long, default_value_t = 128, value_name = "N")]
    max_connections: usize,
    /// Seconds a client has to send a request's headers (also closes idle keep-alive
    /// connections and bounds the TLS handshake).
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    header_timeout: u64,
    /// Seconds a connection may go without a byte moving before it is closed.
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    idle_timeout: u64,
    /// Print the start-up record (address, spool, images) as one line of JSON.
    #[arg(long)]
    json: bool,
    /// No progress bars.
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    if let Some(p) = &a.prefix {
        airlock_verify::image_ref::validate_prefix(p)
            .map_err(|e| airlock_verify::Error::invalid("option", "--prefix", e))?;
    }
    for (v, name) in [
        (a.header_timeout, "--header-timeout"),
        (a.idle_timeout, "--idle-timeout"),
        (a.max_connections as u64, "--max-connections"),
    ] {
        if v == 0 {
            return Err(airlock_verify::Error::usage(format!("{name} must be at least 1")).into());
        }
    }
    // Read the TLS files before the long verification, so a typo fails at once.
    let tls = match (&a.tls_cert, &a.tls_key) {
        (Some(c), Some(k)) => Some(serve::tls_acceptor(c, k)?),
        _ => None,
    };
    let signed = a.bundle.open()?;
    let bundle = crate::common::verify_with_bar(signed, !a.quiet && !a.json)?;
    let bar = airlock_verify::progress::bytes_bar("spool", !a.quiet && !a.json);
    bar.set_length(bundle.manifest().payload.tar_size);
    let cb = airlock_verify::progress::callback(&bar);
    let spool_base = a.spool.clone().unwrap_or_else(std::env::temp_dir);
    let state = serve::prepare(&bundle, a.prefix.as_deref(), &spool_base, &*cb)?;
    bar.finish_and_clear();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(a.listen)
            .await
            .map_err(|e| airlock_verify::Error::io("listen on", a.listen.to_string(), e))?;
        let addr = listener.local_addr()?;
        let shutdown = serve::shutdown_signal()?;
        announce(&a, &state, addr, tls.is_some())?;
        let limits = Limits {
            max_connections: a.max_connections,
            header_timeout: Duration::from_secs(a.header_timeout),
            idle_timeout: Duration::from_secs(a.idle_timeout),
        };
        let state = Arc::new(state);
        serve::run(listener, state.clone(), tls, limits, shutdown).await;
        eprintln!(
            "stopped; removing the spool {}",
            state.spool.path().display()
        );
        Ok::<_, anyhow::Error>(())
    })?;
    // Connections still open hold the state; do not wait for slow clients.
    rt.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}

fn announce(a: &Args, state: &serve::State, addr: SocketAddr, tls: bool) -> anyhow::Result<()> {
    let scheme = if tls { "https" } else { "http" };
    let images = state.catalog.images();
    if a.json {
        outln!(
            "{}",
            serde_json::json!({
                "listen": addr.to_string(),
                "url": format!("{scheme}://{addr}"),
                "bundle": a.bundle.path().display().to_string(),
                "spool": state.spool.path(),
                "images": images,
            })
        )?;
        return Ok(());
    }
    outln!("serving {} on {scheme}://{addr}", a.bundle.shown())?;
    outln!(
        "  verified blobs spooled in {}",
        state.spool.path().display()
    )?;
    for i in images {
        outln!("  {addr}/{} <- {} ({})", i.reference, i.name, i.digest)?;
    }
    Ok(())
}
