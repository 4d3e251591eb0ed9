//! `airlock plan`

use std::path::PathBuf;

use airlock::ResultExt;
use airlock::catalog::Version;
use airlock::catalog::support::{HopSupport, Support, plan_support};
use airlock::pipeline::{self, parent_dir, write_lock};

use crate::common::{HopArgs, TodayArgs, print_warnings, runtime};

/// The ordered hops from one Kubernetes version to another, and optionally their bundles.
///
/// kubeadm moves one minor per upgrade, so a longer way is a list of hops through the
/// newest patch of each minor in between. When --from is not the newest patch of its
/// minor, the first hop is the patch upgrade within that minor. For each hop the plan says
/// whether its target minor is supported upstream today (by the catalog's release and
/// end-of-life dates), and how many more hops lead to a supported minor. With --build, each
/// hop is resolved (DIR/airlock-FROM-to-TO.lock) and built (DIR/airlock-FROM-to-TO/) in
/// order.
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
    /// Secret key for --build (from `airlock keygen`, or a minisign key). Repeatable.
    #[arg(long, value_name = "KEY")]
    key: Vec<PathBuf>,
    /// File holding the passphrase of encrypted keys (else AIRLOCK_PASSPHRASE or a prompt).
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
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
    today: TodayArgs,
    #[command(flatten)]
    hop: HopArgs,
}

fn hop_name(from: &Version, to: &Version) -> String {
    format!("airlock-{from}-to-{to}")
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let loaded = a.hop.catalog()?;
    let hops = airlock::resolve::plan(&loaded.catalog, &a.from, &a.to)?;
    if !a.build {
        return print_plan(&a, &loaded, &hops);
    }
    build_hops(&a, &loaded, &hops)
}

/// How the support of a hop's target reads in the text output.
fn support_text(s: &HopSupport) -> String {
    let more = match s.more_hops_to_supported {
        Some(0) => String::new(),
        Some(1) => "; 1 more hop to a supported minor".to_string(),
        Some(n) => format!("; {n} more hops to a supported minor"),
        None => "; no hop of this plan reaches a supported minor".to_string(),
    };
    let state = match s.support {
        Support::Supported => format!("supported until {}", s.end_of_life),
        Support::EndOfLife => format!("end of life since {}", s.end_of_life),
        Support::NotReleased => format!(
            "not released yet by the catalog's dates (end of life {})",
            s.end_of_life
        ),
    };
    format!("{}: {state}{more}", s.target_minor)
}

/// Print the hops, the resolve command for each, and whether each target minor is
/// supported on the day.
fn print_plan(
    a: &Args,
    loaded: &airlock::catalog::Loaded,
    hops: &[airlock::resolve::PlannedHop],
) -> anyhow::Result<()> {
    let today = a.today.date()?;
    let support = plan_support(&loaded.catalog, hops, today);
    let resolve_cmd = |h: &airlock::resolve::PlannedHop| {
        format!(
            "airlock resolve --from {} --to {} --out {}.lock",
            h.from,
            h.to,
            hop_name(&h.from, &h.to)
        )
    };
    if a.json {
        let list: Vec<_> = hops
            .iter()
            .zip(&support)
            .map(|(h, s)| {
                serde_json::json!({
                    "from": h.from, "to": h.to,
                    "resolve": resolve_cmd(h),
                    "target_minor": s.target_minor,
                    "target_support": s.support,
                    "target_end_of_life": s.end_of_life,
                    "more_hops_to_supported": s.more_hops_to_supported,
                })
            })
            .collect();
        let out = serde_json::json!({
            "from": a.from, "to": a.to,
            "catalog_version": loaded.identity.version,
            "catalog_sha256": loaded.identity.sha256.hex(),
            "today": today,
            "hops": list,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!(
        "{} -> {}: {} hop(s) (catalog {}; support as of {today})",
        a.from,
        a.to,
        hops.len(),
        loaded.identity.version
    );
    for (i, (h, s)) in hops.iter().zip(&support).enumerate() {
        let kind = if h.from.minor == h.to.minor {
            "patch"
        } else {
            "minor"
        };
        println!(
            "  {}. {} -> {} ({kind})  {}",
            i + 1,
            h.from,
            h.to,
            resolve_cmd(h)
        );
        println!("     {}", support_text(s));
    }
    Ok(())
}

/// Resolve and build every hop's bundle, in order.
fn build_hops(
    a: &Args,
    loaded: &airlock::catalog::Loaded,
    hops: &[airlock::resolve::PlannedHop],
) -> anyhow::Result<()> {
    let Some(out_dir) = a.out_dir.clone() else {
        return Err(airlock::Error::Core(airlock_verify::Error::Usage(
            "--build needs --out-dir".into(),
        ))
        .into());
    };
    let keys = crate::common::KeyArgs {
        key: a.key.clone(),
        passphrase_file: a.passphrase_file.clone(),
    }
    .load()?;
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
        let mut opts = a.hop.options(
            &reg,
            &http,
            &lock_dir,
            arches.clone(),
            packages.as_ref(),
            Some(&store),
        );
        opts.catalog = Some(loaded.identity.clone());
        let (lock, warnings) = rt
            .block_on(airlock::resolve::resolve(
                &loaded.catalog,
                &h.from,
                &h.to,
                &opts,
            ))
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
                jobs: a.hop.upstream.jobs.min(8),
                level: a.level,
                threads,
                force: a.force,
                show,
                validity: airlock::pack::Validity::default(),
                signer: airlock::pack::Signer {
                    role: airlock::trust::policy::RoleName::new("builder")
                        .map_err(|e| anyhow::anyhow!(e))?,
                    name: None,
                },
                media: Default::default(),
                delta: None,
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
