//! `airlock resolve`

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use airlock::catalog::{Catalog, Version};
use airlock::http::HttpClient;
use airlock::lock::{Lock, Platform};
use airlock::registry::RegistryClient;
use airlock::resolve::{ResolveOptions, Warning, arches_from_platforms};

use crate::common::{NetArgs, runtime};

/// Options shared by `resolve` and `plan --build`: what to carry and how to reach upstream.
#[derive(clap::Args, Clone)]
pub struct HopArgs {
    /// Platforms every image must carry, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "linux/amd64",
        value_name = "OS/ARCH,..."
    )]
    pub platform: Vec<Platform>,
    /// Architectures of the binaries and tools, comma-separated [default: those of --platform].
    #[arg(long, value_delimiter = ',', value_name = "ARCH,...")]
    pub arch: Vec<String>,
    /// Hop manifest with extra images, files, manifests and charts (docs/resolve.md).
    #[arg(long = "with", value_name = "FILE")]
    pub with: Option<PathBuf>,
    /// Leave out the back-out set (the --from version's images and binaries). The lock says so.
    #[arg(long)]
    pub no_backout: bool,
    /// Version catalog to use instead of the built-in one.
    #[arg(long, value_name = "FILE")]
    pub catalog: Option<PathBuf>,
    /// YAML file with `mirrors: {FROM: TO}` and `insecure_registries: [HOST:PORT]`; merged
    /// with --mirror and --insecure-registry (the flags win).
    #[arg(long, value_name = "FILE", env = "AIRLOCK_CONFIG")]
    pub config: Option<PathBuf>,
    /// Parallel registry and checksum requests at most.
    #[arg(long, default_value_t = 8)]
    pub jobs: usize,
    #[command(flatten)]
    pub net: NetArgs,
}

/// Resolve one Kubernetes version hop into a lock file.
///
/// Every image tag is resolved to a digest in the registry (checking the --platform
/// platforms are there), every binary's sha256 is read from the upstream checksum file, and
/// the ordered upgrade checklist is written into the lock. A hop must go forward by at
/// most one minor; `airlock plan` finds the hops for a longer way.
#[derive(clap::Args)]
pub struct Args {
    /// The version the cluster runs now, e.g. v1.29.6.
    #[arg(long, value_name = "VERSION")]
    from: Version,
    /// The version to go to, e.g. v1.30.2.
    #[arg(long, value_name = "VERSION")]
    to: Version,
    /// The lock file to write.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Replace an existing lock file.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    hop: HopArgs,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    mirrors: BTreeMap<String, String>,
    #[serde(default)]
    insecure_registries: Vec<String>,
}

/// Load the catalog: `--catalog FILE` or the built-in one.
pub fn load_catalog(path: Option<&Path>) -> anyhow::Result<Catalog> {
    Ok(match path {
        Some(p) => Catalog::load(p)?,
        None => Catalog::builtin()?,
    })
}

impl HopArgs {
    /// The network arguments with the config file merged in.
    fn net_with_config(&self) -> anyhow::Result<NetArgs> {
        let mut net = self.net.clone();
        if let Some(path) = &self.config {
            let bytes = airlock::lock::read_limited(path, 1024 * 1024, "config file")?;
            let text = std::str::from_utf8(&bytes)
                .map_err(|_| airlock::Error::invalid("config file", path.display(), "not UTF-8"))?;
            let cfg: ConfigFile = serde_saphyr::from_str(text)
                .map_err(|e| airlock::Error::invalid("config file", path.display(), e))?;
            // Flags first: the first matching mirror wins.
            net.mirror.extend(
                cfg.mirrors
                    .into_iter()
                    .map(|(from, to)| format!("{from}={to}")),
            );
            net.insecure_registry.extend(cfg.insecure_registries);
        }
        Ok(net)
    }

    /// Registry and HTTP clients.
    pub fn clients(&self) -> anyhow::Result<(RegistryClient, HttpClient)> {
        let (reg, http) = self.net_with_config()?.options()?;
        Ok((RegistryClient::new(reg)?, HttpClient::new(http)?))
    }

    /// The binary architectures: --arch, or those of --platform.
    pub fn arches(&self) -> anyhow::Result<Vec<String>> {
        let arches = if self.arch.is_empty() {
            arches_from_platforms(&self.platform)
        } else {
            self.arch.clone()
        };
        for a in &arches {
            if a.is_empty()
                || !a
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            {
                return Err(airlock::Error::invalid(
                    "option",
                    "--arch",
                    format!("{a:?} is not an architecture name"),
                )
                .into());
            }
        }
        if arches.is_empty() {
            return Err(airlock::Error::invalid(
                "option",
                "--platform",
                "no linux platform, so no binary architecture; give --arch",
            )
            .into());
        }
        Ok(arches)
    }

    /// The library options for one resolve.
    pub fn options<'a>(
        &'a self,
        reg: &'a RegistryClient,
        http: &'a HttpClient,
        lock_dir: &'a Path,
        arches: Vec<String>,
    ) -> ResolveOptions<'a> {
        ResolveOptions {
            platforms: self.platform.clone(),
            arches,
            backout: !self.no_backout,
            hop_manifest: self.with.as_deref(),
            lock_dir: Some(lock_dir),
            registry: reg,
            http,
            jobs: self.jobs,
        }
    }
}

/// The directory a file is written into (`.` for a bare name).
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Write a lock atomically: a temporary file in the same directory, then a rename. Without
/// `force`, an existing file is never replaced.
pub fn write_lock(path: &Path, lock: &Lock, force: bool) -> anyhow::Result<()> {
    let mut text = String::new();
    if let Some(h) = &lock.hop {
        text.push_str(&format!(
            "# Kubernetes {} -> {}, resolved by airlock {}. Build with: airlock build {} --key KEY\n",
            h.from,
            h.to,
            env!("CARGO_PKG_VERSION"),
            path.display()
        ));
    }
    text.push_str(&lock.to_yaml()?);
    // What is written must read back as the same lock.
    let again = Lock::parse(&text, &path.display().to_string())?;
    anyhow::ensure!(
        &again == lock,
        "internal error: the lock does not read back identically"
    );
    if path.exists() && !force {
        return Err(airlock::Error::AlreadyExists {
            path: path.to_path_buf(),
        }
        .into());
    }
    let dir = parent_dir(path);
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)
        .map_err(|e| airlock::Error::io("create temporary file in", &dir, e))?;
    tmp.write_all(text.as_bytes())
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| airlock::Error::io("write", tmp.path(), e))?;
    let result = if force {
        tmp.persist(path)
    } else {
        tmp.persist_noclobber(path)
    };
    result.map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            anyhow::Error::from(airlock::Error::AlreadyExists {
                path: path.to_path_buf(),
            })
        } else {
            airlock::Error::io("rename into place", path, e.error).into()
        }
    })?;
    Ok(())
}

/// Print warnings on stderr.
pub fn print_warnings(warnings: &[Warning]) {
    for w in warnings {
        eprintln!("warning: {w}");
    }
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let catalog = load_catalog(a.hop.catalog.as_deref())?;
    // Refuse a bad hop (and an existing output) before any network work.
    airlock::resolve::check_hop(&catalog, &a.from, &a.to)?;
    if a.out.exists() && !a.force {
        return Err(airlock::Error::AlreadyExists {
            path: a.out.clone(),
        }
        .into());
    }
    let arches = a.hop.arches()?;
    let (reg, http) = a.hop.clients()?;
    let lock_dir = parent_dir(&a.out);
    let opts = a.hop.options(&reg, &http, &lock_dir, arches);
    let (lock, warnings) =
        runtime()?.block_on(airlock::resolve::resolve(&catalog, &a.from, &a.to, &opts))?;
    write_lock(&a.out, &lock, a.force)?;
    print_warnings(&warnings);
    let steps = lock
        .checklist
        .as_ref()
        .and_then(|c| c.as_array())
        .map(|a| a.len())
        .unwrap_or(0);
    if a.json {
        let summary = serde_json::json!({
            "lock": a.out,
            "hop": lock.hop,
            "images": airlock::resolve::image_counts(&lock),
            "files": lock.files.len(),
            "checklist_steps": steps,
            "notes": lock.notes,
            "warnings": warnings,
        });
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!("lock: {} ({} -> {})", a.out.display(), a.from, a.to);
        let counts: Vec<String> = airlock::resolve::image_counts(&lock)
            .into_iter()
            .map(|(role, n)| format!("{n} {role}"))
            .collect();
        println!("  images: {} ({})", lock.images.len(), counts.join(", "));
        println!("  files: {}", lock.files.len());
        println!("  checklist: {steps} steps");
        for n in &lock.notes {
            if !n.starts_with("uncertain catalog value") {
                println!("  note: {n}");
            }
        }
    }
    Ok(())
}
