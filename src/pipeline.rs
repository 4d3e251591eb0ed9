//! The connected side's pipeline, as the `airlock` subcommands use it: network settings
//! (flags merged with a config file), writing a lock, and fetch-then-pack.
//!
//! ```text
//! catalog --resolve--> lock --write_lock--> FILE --fetch_and_pack--> bundle
//! ```
//!
//! `fetch_and_pack` downloads and packs at once: the fetch brings blobs into the store
//! in payload order on the async runtime while a packing thread writes each entry as it
//! arrives, and nothing is signed until the fetch and its checks have ended well.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result, ResultExt};
use crate::http::{HttpClient, HttpOptions};
use crate::lock::Lock;
use crate::pack::{WriteOptions, WriteSummary, write_bundle};
use crate::sign::Signer;
use crate::upstream_fetch::{FetchOptions, Missing};
use crate::upstream_registry::{UpstreamRegistry, UpstreamRegistryOptions};
use crate::upstream_store::Store;

/// How to reach upstream, before splitting into registry and HTTP settings.
#[derive(Debug, Clone, Default)]
pub struct NetSettings {
    /// Plain-HTTP registries (`HOST:PORT`).
    pub insecure_registries: Vec<String>,
    /// Extra CA certificates (PEM files).
    pub ca_files: Vec<PathBuf>,
    /// `FROM=TO` rewrites: a URL prefix (`https://dl.k8s.io=...`) or a registry host.
    pub mirrors: Vec<String>,
    /// Ignore docker-config credentials.
    pub anonymous: bool,
}

/// The optional config file: `mirrors: {FROM: TO}` and `insecure_registries: [...]`.
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    mirrors: BTreeMap<String, String>,
    #[serde(default)]
    insecure_registries: Vec<String>,
}

/// Largest config file read.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

impl NetSettings {
    /// Merge a config file in after the flags (so the first matching mirror, a flag's,
    /// wins).
    pub fn with_config_file(mut self, path: Option<&Path>) -> Result<Self> {
        let Some(path) = path else {
            return Ok(self);
        };
        let text = crate::fsutil::read_text(path, MAX_CONFIG_BYTES, "config file")?;
        let cfg: ConfigFile = serde_saphyr::from_str(&text)
            .map_err(|e| Error::invalid("config file", path.display(), e))?;
        self.mirrors.extend(
            cfg.mirrors
                .into_iter()
                .map(|(from, to)| format!("{from}={to}")),
        );
        self.insecure_registries.extend(cfg.insecure_registries);
        Ok(self)
    }

    /// Split into registry and HTTP options: mirrors of `http(s)://` prefixes are URL
    /// rewrites, the others registry host rewrites.
    pub fn options(&self) -> Result<(UpstreamRegistryOptions, HttpOptions)> {
        let mut reg = Vec::new();
        let mut http = Vec::new();
        for m in &self.mirrors {
            let (from, to) = m.split_once('=').ok_or_else(|| {
                Error::invalid("option", "--mirror", format!("{m:?}: expected FROM=TO"))
            })?;
            if from.starts_with("http://") || from.starts_with("https://") {
                http.push((from.to_string(), to.to_string()));
            } else {
                reg.push((from.to_string(), to.to_string()));
            }
        }
        Ok((
            UpstreamRegistryOptions {
                insecure: self.insecure_registries.clone(),
                ca_files: self.ca_files.clone(),
                mirrors: reg,
                anonymous: self.anonymous,
            },
            HttpOptions {
                mirrors: http,
                ca_files: self.ca_files.clone(),
            },
        ))
    }

    /// Registry and HTTP clients.
    pub fn clients(&self) -> Result<(UpstreamRegistry, HttpClient)> {
        let (reg, http) = self.options()?;
        Ok((UpstreamRegistry::new(reg)?, HttpClient::new(http)?))
    }
}

/// A lock's bytes: a comment line, then the YAML. Nothing in them depends on where the
/// lock is written (the bundle records their sha256, so `--out hop.lock` and `--out
/// ./x/hop.lock` must give the same bundle).
fn lock_text(lock: &Lock) -> Result<String> {
    let mut text = String::new();
    if let Some(h) = &lock.hop {
        text.push_str(&format!(
            "# Kubernetes {} -> {}, resolved by airlock {}. Build with: airlock build THIS-FILE --key KEY\n",
            h.from,
            h.to,
            env!("CARGO_PKG_VERSION"),
        ));
    }
    text.push_str(&lock.to_yaml()?);
    Ok(text)
}

/// The directory a file is written into (`.` for a bare name).
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Write a lock atomically: a temporary file in the same directory, then a rename. Without
/// `force`, an existing file is never replaced. What is written must read back as the
/// same lock.
pub fn write_lock(path: &Path, lock: &Lock, force: bool) -> Result<()> {
    let text = lock_text(lock)?;
    let again = Lock::parse(&text, &path.display().to_string())?;
    if &again != lock {
        return Err(Error::invalid(
            "lock file",
            path.display(),
            "internal error: the lock does not read back identically",
        ));
    }
    crate::error::refuse_existing(path, force)?;
    let dir = parent_dir(path);
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)
        .map_err(|e| Error::io("create temporary file in", &dir, e))?;
    use std::io::Write;
    tmp.write_all(text.as_bytes())
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| Error::io("write", tmp.path(), e))?;
    let result = if force {
        tmp.persist(path)
    } else {
        tmp.persist_noclobber(path)
    };
    result.map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            Error::already_exists(path)
        } else {
            Error::io("rename into place", path, e.error)
        }
    })?;
    Ok(())
}

/// A loaded lock and where it came from.
pub struct Inputs<'a> {
    /// The lock.
    pub lock: &'a Lock,
    /// Its exact bytes (the manifest records their sha256).
    pub lock_bytes: &'a [u8],
    /// Its path, for messages.
    pub lock_path: &'a Path,
    /// The directory relative `path:` entries are read from.
    pub lock_dir: &'a Path,
}

/// Where content comes from and goes to.
pub struct Clients<'a> {
    /// The content cache.
    pub store: &'a Store,
    /// Upstream registries.
    pub reg: &'a UpstreamRegistry,
    /// Upstream file servers.
    pub http: &'a HttpClient,
}

/// How to fetch and pack.
pub struct PackSettings {
    /// Parallel downloads.
    pub jobs: usize,
    /// zstd level.
    pub level: i32,
    /// zstd workers.
    pub threads: u32,
    /// Replace an existing bundle.
    pub force: bool,
    /// Draw progress bars (on a terminal).
    pub show: bool,
    /// Change window, channel and sequence.
    pub validity: crate::pack::Validity,
    /// The build signatures' role and signer name.
    pub signer: crate::pack::Signer,
    /// Volumes, parity and volume directories.
    pub media: crate::pack::volumes::Media,
    /// What to leave out because earlier bundles carried it.
    pub delta: Option<crate::pack::delta::DeltaPlan>,
    /// The verifier to carry (`--with-verifier`).
    pub verifier: Option<crate::pack::verifier::Carried>,
}

/// zstd workers when not given: one per CPU, at most 4 (each worker costs about 2 MiB of
/// buffers; the output does not depend on the number).
pub fn default_threads() -> u32 {
    std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1)
        .min(4)
}

/// Fetch everything the lock pins into the store and write the signed bundle, the two
/// at once, with progress bars.
pub fn fetch_and_pack(
    rt: &tokio::runtime::Runtime,
    inputs: &Inputs<'_>,
    clients: &Clients<'_>,
    out: &Path,
    keys: &[Box<dyn Signer>],
    settings: &PackSettings,
) -> Result<WriteSummary> {
    let fetching = || format!("fetching the artifacts of {}", inputs.lock_path.display());
    let store = clients.store;
    let plans = rt
        .block_on(crate::upstream_fetch::plan_images(
            inputs.lock,
            store,
            clients.reg,
            settings.jobs,
        ))
        .with_context(fetching)?;
    let mut missing = Missing::find(inputs.lock, &plans, store);
    missing.order_by(&crate::pack::entries::fetch_order(inputs.lock, &plans));

    let bars = Bars::new(settings.show);
    let total_bar = bars.fetch.clone();
    let fopts = FetchOptions {
        jobs: settings.jobs,
        lock_dir: inputs.lock_dir,
        on_progress: crate::progress::callback(&bars.fetch),
        on_total: std::sync::Arc::new(move |n| total_bar.set_length(n)),
    };
    let on_pack = crate::progress::callback(&bars.pack);
    let wopts = WriteOptions {
        level: settings.level,
        threads: settings.threads,
        force: settings.force,
        keys,
        on_progress: &*on_pack,
        on_total: &|n| bars.pack.set_length(n),
        validity: settings.validity.clone(),
        signer: settings.signer.clone(),
        media: settings.media.clone(),
        delta: settings.delta.clone(),
        verifier: settings.verifier.clone(),
    };
    let (fetched, packed) = at_once(rt, clients, &plans, missing, &fopts, || {
        write_bundle(inputs.lock, inputs.lock_bytes, &plans, store, out, &wopts)
    });
    bars.fetch.finish_and_clear();
    bars.pack.finish_and_clear();
    // A failed fetch stops packing too; its own error is then the one worth reading.
    if let Some(Err(e)) = fetched {
        return Err(e).with_context(fetching);
    }
    packed.with_context(|| format!("writing bundle {}", out.display()))
}

/// Download `missing` on `rt` (then check the images' platforms) while `pack` runs on a
/// thread of its own, reading the store as entries arrive. Packing that fails (no room,
/// an output in the way) stops the downloads: the fetch's outcome is then `None`.
fn at_once<T: Send>(
    rt: &tokio::runtime::Runtime,
    clients: &Clients<'_>,
    plans: &[crate::upstream_fetch::ImagePlan],
    missing: Missing<'_>,
    fopts: &FetchOptions<'_>,
    pack: impl FnOnce() -> Result<T> + Send,
) -> (Option<Result<()>>, Result<T>) {
    let store = clients.store;
    let packer_failed = tokio::sync::Notify::new();
    std::thread::scope(|s| {
        // Dropped on any way out (a panic too), this settles the fetch as failed, so
        // packing never waits for ever.
        let fetch = store.expect(missing.digests());
        let packer = s.spawn(|| {
            let r = pack();
            if r.is_err() {
                packer_failed.notify_one();
            }
            r
        });
        let download =
            crate::upstream_fetch::download(missing, store, clients.reg, clients.http, fopts);
        let fetched = rt.block_on(async {
            tokio::select! {
                r = download => Some(r),
                () = packer_failed.notified() => None,
            }
        });
        let fetched =
            fetched.map(|r| r.and_then(|()| crate::upstream_fetch::check_platforms(store, plans)));
        fetch.finish(matches!(fetched, Some(Ok(()))));
        let packed = packer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (fetched, packed)
    })
}

/// The fetch and pack bars, drawn together while both run.
struct Bars {
    fetch: indicatif::ProgressBar,
    pack: indicatif::ProgressBar,
}

impl Bars {
    fn new(show: bool) -> Self {
        let multi = indicatif::MultiProgress::new();
        let fetch = crate::progress::bytes_bar("fetch", show);
        let pack = crate::progress::bytes_bar("pack", show);
        if fetch.is_hidden() {
            return Bars { fetch, pack };
        }
        Bars {
            fetch: multi.add(fetch),
            pack: multi.add(pack),
        }
    }
}

/// How resolve may use upstream's own files for its catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamCatalog {
    /// Use the catalog as given.
    Off,
    /// Derive the hop's two minors from upstream and report where the catalog disagrees;
    /// resolve with the catalog as given.
    Check,
    /// Derive the hop's two minors from upstream, resolve with the result, and report where
    /// the given catalog disagrees.
    Use,
}

/// How to reach upstream for the catalog, and what to do with it.
pub struct UpstreamCatalogSettings<'a> {
    /// Off, check, or use.
    pub mode: UpstreamCatalog,
    /// Upstream (mirrors configured).
    pub http: &'a HttpClient,
    /// The day of the check (the derived catalog's version).
    pub today: crate::catalog::Date,
    /// Parallel requests at most.
    pub jobs: usize,
}

/// The catalog a resolve uses, and what checking it against upstream found.
pub struct HopCatalog {
    /// The catalog to resolve with.
    pub loaded: crate::catalog::Loaded,
    /// With [`UpstreamCatalog::Use`]: the derived catalog's file text (its sha256 is the
    /// one recorded in the lock).
    pub derived_text: Option<String>,
    /// Disagreements between the given catalog and upstream, as warnings.
    pub warnings: Vec<String>,
    /// The same with a summary line, for the lock's notes.
    pub notes: Vec<String>,
}

/// The catalog for hop `from -> to`: `base` itself, or (with [`UpstreamCatalog::Use`])
/// `base` with the hop's minors derived from upstream; with `Check` or `Use`, every
/// disagreement between `base` and upstream becomes a warning.
pub fn hop_catalog(
    rt: &tokio::runtime::Runtime,
    base: crate::catalog::Loaded,
    from: &crate::catalog::Version,
    to: &crate::catalog::Version,
    settings: &UpstreamCatalogSettings<'_>,
) -> Result<HopCatalog> {
    use crate::catalog::update::{UpdateOptions, update};
    if settings.mode == UpstreamCatalog::Off {
        return Ok(HopCatalog {
            loaded: base,
            derived_text: None,
            warnings: Vec::new(),
            notes: Vec::new(),
        });
    }
    let opts = UpdateOptions {
        minors: vec![from.minor, to.minor],
        today: settings.today,
        http: settings.http,
        jobs: settings.jobs,
    };
    let updated = rt
        .block_on(update(&base, &opts))
        .with_context(|| format!("reading the facts of {from} and {to} from upstream"))?;
    let warnings: Vec<String> = updated
        .changes
        .iter()
        .map(|c| format!("catalog check against upstream: {c}"))
        .collect();
    let mut notes = vec![format!(
        "catalog {} (sha256 {}) checked against upstream's files at the release tags ({} documents): {} disagreement(s)",
        base.identity.version,
        base.identity.sha256.hex(),
        updated.documents_read,
        updated.changes.len()
    )];
    notes.extend(warnings.iter().cloned());
    if settings.mode == UpstreamCatalog::Check {
        return Ok(HopCatalog {
            loaded: base,
            derived_text: None,
            warnings,
            notes,
        });
    }
    let loaded =
        crate::catalog::Loaded::from_bytes(updated.text.as_bytes(), "<derived from upstream>")?;
    Ok(HopCatalog {
        loaded,
        derived_text: Some(updated.text),
        warnings,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bundle records the lock's sha256, so where the lock is written must not
    /// change its bytes (its first line once named the `--out` path as given).
    #[test]
    fn a_lock_has_the_same_bytes_wherever_it_is_written() {
        let lock = Lock::parse(crate::lock::tests::SAMPLE, "sample").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("hop.lock"), dir.path().join("sub/x.lock"));
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        write_lock(&a, &lock, false).unwrap();
        write_lock(&b, &lock, false).unwrap();
        let text = std::fs::read_to_string(&a).unwrap();
        assert_eq!(text, std::fs::read_to_string(&b).unwrap());
        assert!(
            text.starts_with("# Kubernetes v1.29.6 -> v1.30.2"),
            "{text}"
        );
    }
}
