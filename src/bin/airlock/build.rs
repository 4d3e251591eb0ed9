//! `airlock build`

use std::path::{Path, PathBuf};

use airlock::pipeline;
use airlock::store::Store;

use crate::common::{KeyArgs, NetArgs, ValidityArgs, runtime};

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
    #[command(flatten)]
    key: KeyArgs,
    #[command(flatten)]
    validity: ValidityArgs,
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
    let keys = a.key.load()?;
    let (validity, signer) = a.validity.resolve()?;
    let out = a.out.clone().unwrap_or_else(|| default_out(&lock, &a.lock));
    if out.exists() && !a.force {
        return Err(airlock::Error::already_exists(out).into());
    }
    let store = Store::open(&a.cache.clone().unwrap_or_else(Store::default_root))?;
    let (reg, http) = a.net.settings().clients()?;
    let lock_dir = pipeline::parent_dir(&a.lock);
    let rt = runtime()?;
    let summary = pipeline::fetch_and_pack(
        &rt,
        &pipeline::Inputs {
            lock: &lock,
            lock_bytes: &lock_bytes,
            lock_path: &a.lock,
            lock_dir: &lock_dir,
        },
        &pipeline::Clients {
            store: &store,
            reg: &reg,
            http: &http,
        },
        &out,
        &keys,
        &pipeline::PackSettings {
            jobs: a.jobs,
            level: a.level,
            threads: a.threads.unwrap_or_else(pipeline::default_threads).max(1),
            force: a.force,
            show: !a.quiet && !a.json,
            validity,
            signer,
        },
    )?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(());
    }
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
    Ok(())
}
