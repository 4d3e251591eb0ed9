//! `airlock plan`

use std::path::PathBuf;

use airlock::ResultExt;
use airlock::catalog::Version;
use airlock::pipeline::{self, parent_dir, write_lock};

use crate::common::{HopArgs, print_warnings, runtime};

/// The ordered hops from one Kubernetes version to another, and optionally their bundles.
///
/// kubeadm moves one minor per upgrade, so a longer way is a list of hops through the
/// newest patch of each minor in between. When --from is not the newest patch of its
/// minor, the first hop is the patch upgrade within that minor. With --build, each hop is
/// resolved (DIR/airlock-FROM-to-TO.lock) and built (DIR/airlock-FROM-to-TO/) in order.
#[derive(clap::Args)]
pub struct Args {
    /// The version the cluster runs now, e.g. v1.27.16.
    #[arg(long, value_name = "VERSION")]
    from: Version,
    /// The version to end at, e.g. v1.30.2.
    #[arg(long, value_name = "VERSION")]
    to: Version,
    /// Print the plan as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Resolve and build every hop's bundle, in order.
    #[arg(long, requires_all = ["key", "out_dir"])]
    build: bool,
    /// Secret key for --build (PKCS#8 PEM from `airlock keygen`). Repeatable.
    #[arg(long, value_name = "KEY")]
    key: Vec<PathBuf>,
    /// Directory for the locks and bundles of --build.
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
    /// Replace existing locks and bundles in --out-dir.
    #[arg(long)]
    force: bool,
    /// zstd level for --build (1-19).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..=19))]
    level: i32,
    /// No progress bars.
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    hop: HopArgs,
}

fn hop_name(from: &Version, to: &Version) -> String {
    format!("airlock-{from}-to-{to}")
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let catalog = a.hop.catalog()?;
    let hops = airlock::resolve::plan(&catalog, &a.from, &a.to)?;
    if !a.build {
        return print_plan(&a, &catalog, &hops);
    }
    build_hops(&a, &catalog, &hops)
}

/// Print the hops and the resolve command for each.
fn print_plan(
    a: &Args,
    catalog: &airlock::catalog::Catalog,
    hops: &[airlock::resolve::PlannedHop],
) -> anyhow::Result<()> {
    if a.json {
        let list: Vec<_> = hops
            .iter()
            .map(|h| {
                serde_json::json!({
                    "from": h.from, "to": h.to,
                    "resolve": format!("airlock resolve --from {} --to {} --out {}.lock", h.from, h.to, hop_name(&h.from, &h.to)),
                })
            })
            .collect();
        let out = serde_json::json!({ "from": a.from, "to": a.to, "catalog_version": catalog.catalog_version, "hops": list });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("{} -> {}: {} hop(s)", a.from, a.to, hops.len());
        for (i, h) in hops.iter().enumerate() {
            let kind = if h.from.minor == h.to.minor {
                "patch"
            } else {
                "minor"
            };
            println!(
                "  {}. {} -> {} ({kind})  airlock resolve --from {} --to {} --out {}.lock",
                i + 1,
                h.from,
                h.to,
                h.from,
                h.to,
                hop_name(&h.from, &h.to)
            );
        }
    }
    Ok(())
}

/// Resolve and build every hop's bundle, in order.
fn build_hops(
    a: &Args,
    catalog: &airlock::catalog::Catalog,
    hops: &[airlock::resolve::PlannedHop],
) -> anyhow::Result<()> {
    let Some(out_dir) = a.out_dir.clone() else {
        return Err(airlock::Error::Core(airlock_verify::Error::Usage(
            "--build needs --out-dir".into(),
        ))
        .into());
    };
    let keys = a
        .key
        .iter()
        .map(|p| airlock::trust::load_secret_key(p))
        .collect::<Result<Vec<_>, _>>()?;
    std::fs::create_dir_all(&out_dir)
        .map_err(|e| airlock::Error::io("create directory", &out_dir, e))?;
    // Refuse existing outputs before doing any work.
    if !a.force {
        for h in hops {
            for p in [
                out_dir.join(format!("{}.lock", hop_name(&h.from, &h.to))),
                out_dir.join(hop_name(&h.from, &h.to)),
            ] {
                if p.exists() {
                    return Err(airlock::Error::already_exists(p).into());
                }
            }
        }
    }
    let arches = a.hop.arches()?;
    let (reg, http) = a.hop.clients()?;
    let store = a.hop.store()?;
    let packages = a.hop.package_options()?;
    let rt = runtime()?;
    let threads = pipeline::default_threads();
    let show = !a.quiet && !a.json;
    let mut built = Vec::new();
    for (i, h) in hops.iter().enumerate() {
        let name = hop_name(&h.from, &h.to);
        let lock_path = out_dir.join(format!("{name}.lock"));
        let bundle_dir = out_dir.join(&name);
        let lock_dir = parent_dir(&lock_path);
        let opts = a.hop.options(
            &reg,
            &http,
            &lock_dir,
            arches.clone(),
            packages.as_ref(),
            Some(&store),
        );
        let (lock, warnings) = rt
            .block_on(airlock::resolve::resolve(catalog, &h.from, &h.to, &opts))
            .with_context(|| {
                format!(
                    "hop {} of {}: resolving {} -> {}",
                    i + 1,
                    hops.len(),
                    h.from,
                    h.to
                )
            })?;
        print_warnings(&warnings);
        write_lock(&lock_path, &lock, a.force)?;
        let (lock, lock_bytes) = airlock::lock::Lock::load(&lock_path)?;

        let summary = pipeline::fetch_and_pack(
            &rt,
            &pipeline::Inputs {
                lock: &lock,
                lock_bytes: &lock_bytes,
                lock_path: &lock_path,
                lock_dir: &lock_dir,
            },
            &pipeline::Clients {
                store: &store,
                reg: &reg,
                http: &http,
            },
            &bundle_dir,
            &keys,
            &pipeline::PackSettings {
                jobs: a.hop.jobs.min(8),
                level: a.level,
                threads,
                force: a.force,
                show,
            },
        )
        .with_context(|| format!("hop {} of {} ({} -> {})", i + 1, hops.len(), h.from, h.to))?;
        if !a.json {
            println!(
                "{}. {} -> {}: lock {}, bundle {} (manifest sha256 {})",
                i + 1,
                h.from,
                h.to,
                lock_path.display(),
                summary.dir.display(),
                summary.manifest_sha256
            );
        }
        built.push(serde_json::json!({
            "from": h.from, "to": h.to, "lock": lock_path, "bundle": summary,
            "warnings": warnings,
        }));
    }
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({ "from": a.from, "to": a.to, "hops": built })
            )?
        );
    }
    Ok(())
}
