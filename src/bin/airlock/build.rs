//! `airlock build`

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::common::{NetArgs, runtime};

/// Fetch every artifact a lock pins and write a signed bundle directory.
///
/// Images are pulled by digest (index, chosen platforms' manifests, configs, layers, each
/// blob once), files by URL or from disk, all checked against the lock while streaming to
/// a content-addressed cache. A rebuild of the same lock reads the cache and works offline.
/// The same lock gives byte-identical bundle files on any machine.
#[derive(clap::Args)]
pub struct Args {
    /// The lock file (YAML, see docs/lock-format.md).
    lock: PathBuf,
    /// Secret key (PKCS#8 PEM from `airlock keygen`). Repeat to sign with several keys.
    #[arg(long, required = true, value_name = "KEY")]
    key: Vec<PathBuf>,
    /// Bundle directory to create [default: bundles/<hop or lock name>].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Replace an existing bundle directory.
    #[arg(long)]
    force: bool,
    /// Content cache [default: $AIRLOCK_CACHE, $XDG_CACHE_HOME/airlock or ~/.cache/airlock].
    #[arg(long, value_name = "DIR")]
    cache: Option<PathBuf>,
    /// Parallel downloads at most.
    #[arg(long, default_value_t = 4)]
    jobs: usize,
    /// zstd level for compressible content (1-19). Already-compressed layers always use a
    /// fast level.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..=19))]
    level: i32,
    /// zstd worker threads [default: number of CPUs, at most 4]. The output does not
    /// depend on it; memory grows by about 2 MiB per thread.
    #[arg(long)]
    threads: Option<u32>,
    #[command(flatten)]
    net: NetArgs,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    json: bool,
    /// No progress bars.
    #[arg(long, short)]
    quiet: bool,
}

fn default_out(lock: &airlock::lock::Lock, lock_path: &Path) -> PathBuf {
    let name = match &lock.hop {
        Some(h) => format!("airlock-{}-to-{}", h.from, h.to),
        None => lock_path
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_else(|| "bundle".into()),
    };
    PathBuf::from("bundles").join(name)
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let (lock, lock_bytes) = airlock::lock::Lock::load(&a.lock)?;
    let keys = a
        .key
        .iter()
        .map(|p| airlock::trust::load_secret_key(p))
        .collect::<Result<Vec<_>, _>>()?;
    let out = a.out.clone().unwrap_or_else(|| default_out(&lock, &a.lock));
    if out.exists() && !a.force {
        return Err(airlock::Error::AlreadyExists { path: out }.into());
    }
    let store = airlock::store::Store::open(
        &a.cache
            .clone()
            .unwrap_or_else(airlock::store::Store::default_root),
    )?;
    let (reg_opts, http_opts) = a.net.options()?;
    let reg = airlock::registry::RegistryClient::new(reg_opts)?;
    let http = airlock::http::HttpClient::new(http_opts)?;
    let lock_dir = a.lock.parent().map(Path::to_path_buf).unwrap_or_default();
    let show = !a.quiet && !a.json;

    let threads = a.threads.unwrap_or_else(default_threads).max(1);
    let rt = runtime()?;
    let summary = fetch_and_pack(
        &rt,
        &Inputs {
            lock: &lock,
            lock_bytes: &lock_bytes,
            lock_path: &a.lock,
            lock_dir: &lock_dir,
        },
        &Clients {
            store: &store,
            reg: &reg,
            http: &http,
        },
        &out,
        &keys,
        &PackSettings {
            jobs: a.jobs,
            level: a.level,
            threads,
            force: a.force,
            show,
        },
    )?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!("bundle: {}", summary.dir.display());
        println!(
            "  images: {}, files: {}, entries: {}",
            lock.images.len(),
            lock.files.len(),
            summary.entries
        );
        println!(
            "  payload: {} bytes (tar {} bytes), sha256 {}",
            summary.payload_size, summary.tar_size, summary.payload_sha256
        );
        println!("  manifest sha256: {}", summary.manifest_sha256);
        for s in &summary.signatures {
            println!("  signed: {s}");
        }
    }
    Ok(())
}

/// zstd workers when not given: one per CPU, at most 4 (each worker costs about 2 MiB of
/// buffers; the output does not depend on the number).
pub fn default_threads() -> u32 {
    std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1)
        .min(4)
}

/// A loaded lock and where it came from.
pub struct Inputs<'a> {
    pub lock: &'a airlock::lock::Lock,
    pub lock_bytes: &'a [u8],
    pub lock_path: &'a Path,
    pub lock_dir: &'a Path,
}

/// Where content comes from and goes to.
pub struct Clients<'a> {
    pub store: &'a airlock::store::Store,
    pub reg: &'a airlock::registry::RegistryClient,
    pub http: &'a airlock::http::HttpClient,
}

/// How to fetch and pack.
pub struct PackSettings {
    pub jobs: usize,
    pub level: i32,
    pub threads: u32,
    pub force: bool,
    pub show: bool,
}

/// Fetch everything the lock pins into the store, then write the signed bundle, with
/// progress bars. Shared by `airlock build` and `airlock plan --build`.
pub fn fetch_and_pack(
    rt: &tokio::runtime::Runtime,
    inputs: &Inputs<'_>,
    clients: &Clients<'_>,
    out: &Path,
    keys: &[airlock::trust::SecretKey],
    settings: &PackSettings,
) -> anyhow::Result<airlock::bundle::writer::WriteSummary> {
    let bar = airlock::progress::bytes_bar("fetch", settings.show);
    let total_bar = bar.clone();
    let fopts = airlock::fetch::FetchOptions {
        jobs: settings.jobs,
        lock_dir: inputs.lock_dir,
        on_progress: airlock::progress::callback(&bar),
        on_total: std::sync::Arc::new(move |n| total_bar.set_length(n)),
    };
    let plans = rt
        .block_on(airlock::fetch::fetch(
            inputs.lock,
            clients.store,
            clients.reg,
            clients.http,
            &fopts,
        ))
        .with_context(|| format!("fetching the artifacts of {}", inputs.lock_path.display()))?;
    bar.finish_and_clear();
    let bar = airlock::progress::bytes_bar("pack", settings.show);
    let cb = airlock::progress::callback(&bar);
    let summary = airlock::bundle::writer::write_bundle(
        inputs.lock,
        inputs.lock_bytes,
        &plans,
        clients.store,
        out,
        &airlock::bundle::writer::WriteOptions {
            level: settings.level,
            threads: settings.threads,
            force: settings.force,
            keys,
            on_progress: &*cb,
        },
    )
    .with_context(|| format!("writing bundle {}", out.display()))?;
    bar.finish_and_clear();
    Ok(summary)
}
