//! `airlock build`

use std::path::{Path, PathBuf};

use airlock::pack::verifier::Carried;
use airlock::pipeline;
use airlock::upstream_store::Store;
use airlock_verify::outln;

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
    /// Get an RFC 3161 timestamp over each build signature from the time-stamping
    /// authority at URL (through --ca-file's CAs) and store it as signatures/<KEYID>.tsr
    /// (docs/trust.md, "Timestamps"). An unreachable TSA or an unusable answer fails the
    /// build (exit 4) after the bundle is written.
    #[arg(long, value_name = "URL")]
    tsa: Option<String>,
    /// Content cache [default: $AIRLOCK_CACHE, $XDG_CACHE_HOME/airlock or ~/.cache/airlock].
    #[arg(long, value_name = "DIR")]
    cache: Option<PathBuf>,
    /// Parallel downloads at most.
    #[arg(long, default_value_t = 4)]
    jobs: usize,
    /// zstd level for compressible content (1-19). Already-compressed layers are stored
    /// as they are, in zstd frames of raw blocks.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..=19))]
    level: i32,
    /// zstd worker threads [default: number of CPUs, at most 4]. The output does not
    /// depend on it; memory grows by about 2 MiB per thread.
    #[arg(long)]
    threads: Option<u32>,
    #[command(flatten)]
    net: NetArgs,
    /// Cut the payload into volumes of at most SIZE bytes, for media with a size limit:
    /// a number with an optional unit (KB, MB, GB = 1000^n; KiB, MiB, GiB = 1024^n) or a
    /// medium: dvd (4.7 GB), dvd-dl (8.5 GB), bd25, bd50, fat32 (4 GiB - 1). At least
    /// 1 MiB. `cat payload.tar.zst.*` in order is the payload stream.
    #[arg(long, value_name = "SIZE")]
    volume_size: Option<airlock_verify::media::size::VolumeSize>,
    /// Add N parity volumes (Reed-Solomon): `airlock-verify repair` rebuilds any N lost
    /// or damaged volumes. Needs --volume-size; at most as many as data volumes.
    #[arg(long, value_name = "N", default_value_t = 0)]
    parity: u32,
    /// Put each volume in its own directory (volume-001/, ...) with a README that names
    /// the bundle and its signing keys: one directory per disc.
    #[arg(long)]
    volume_dirs: bool,
    /// Build a one-way delta: leave out every blob and file these earlier bundles (a
    /// bundle directory or its manifest.json) carried. Install then needs the enclave to
    /// hold them. Repeatable.
    #[arg(long, value_name = "BUNDLE")]
    since: Vec<PathBuf>,
    /// Build a one-way delta against a signed enclave inventory (`airlock-verify
    /// inventory`): leave out what the enclave holds. Needs --trust-enclave. Repeatable.
    #[arg(long, value_name = "INVENTORY", requires = "trust_enclave")]
    have: Vec<PathBuf>,
    /// The enclave's public key that must have signed every --have inventory; an
    /// unsigned inventory or one of another enclave is refused.
    #[arg(long, value_name = "KEY.pub")]
    trust_enclave: Option<PathBuf>,
    /// Carry this airlock-verify binary (the static one scripts/reproducible-verifier.sh
    /// builds) beside the payload as verifier/airlock-verify, listed in the signed manifest
    /// and SHA256SUMS: the enclave checks it with minisign and sha256sum, then runs it
    /// (docs/manual-verify.md, "Bootstrap").
    #[arg(long, value_name = "PATH")]
    with_verifier: Option<PathBuf>,
    /// Also carry the verifier's Debian package (scripts/package.sh) as
    /// verifier/airlock-verify.deb. Needs --with-verifier.
    #[arg(long, value_name = "DEB", requires = "with_verifier")]
    with_verifier_package: Option<PathBuf>,
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
    airlock::pack::check_target(&out, &keys, a.force)?;
    let media = airlock::pack::volumes::Media {
        volume_size: a.volume_size.map(|v| v.bytes()),
        parity: a.parity,
        volume_dirs: a.volume_dirs,
    };
    media.check()?;
    let delta = delta_plan(&a)?;
    let verifier = a.with_verifier.clone().map(|binary| Carried {
        binary,
        package: a.with_verifier_package.clone(),
    });
    if let Some(v) = &verifier {
        v.check()?;
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
            media,
            delta,
            verifier,
        },
    )?;
    let stamped = match &a.tsa {
        Some(url) => {
            let files: Vec<PathBuf> = summary
                .signatures
                .iter()
                .map(|s| summary.dir.join(s))
                .collect();
            rt.block_on(airlock::timestamp::stamp_all(&http, url, &files))?
        }
        None => Vec::new(),
    };
    if a.json {
        let mut out = serde_json::to_value(&summary)?;
        if let (false, Some(map)) = (stamped.is_empty(), out.as_object_mut()) {
            map.insert("timestamps".into(), serde_json::to_value(&stamped)?);
        }
        outln!("{}", serde_json::to_string_pretty(&out)?)?;
        return Ok(());
    }
    outln!("bundle: {}", summary.dir.display())?;
    outln!(
        "  images: {}, files: {}, entries: {}",
        lock.images.len(),
        lock.files.len(),
        summary.entries
    )?;
    outln!(
        "  payload: {} bytes (tar {} bytes), sha256 {}",
        summary.payload_size,
        summary.tar_size,
        summary.payload_sha256
    )?;
    outln!("  manifest sha256: {}", summary.manifest_sha256)?;
    for s in &summary.signatures {
        outln!("  signed: {s}")?;
    }
    for s in &stamped {
        outln!(
            "  timestamped: {} (TSA time {})",
            s.file.display(),
            s.facts.time
        )?;
    }
    if !summary.volumes.is_empty() {
        outln!("  volumes: {}", summary.volumes.join(", "))?;
    }
    if summary.omitted > 0 {
        outln!(
            "  delta: left out {} blobs and files ({} bytes) the bases carried",
            summary.omitted,
            summary.omitted_bytes
        )?;
    }
    Ok(())
}

/// The bases of a delta: earlier bundles, and enclave inventories checked against the
/// enclave's key.
fn delta_plan(a: &Args) -> anyhow::Result<Option<airlock::pack::delta::DeltaPlan>> {
    if a.since.is_empty() && a.have.is_empty() {
        return Ok(None);
    }
    let mut plan = airlock::pack::delta::DeltaPlan::default();
    for b in &a.since {
        plan.add_bundle(b)?;
    }
    if let Some(key) = &a.trust_enclave {
        let key =
            airlock_verify::trust::PublicKey::load(key).map_err(airlock_verify::Error::from)?;
        for path in &a.have {
            let inv = airlock_verify::inventory::Inventory::load_verified(path, &key)?;
            plan.add_inventory(inv.sha256(), inv.payload_paths());
        }
    }
    Ok(Some(plan))
}
