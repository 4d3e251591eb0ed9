//! `airlock resolve`

use std::path::PathBuf;

use airlock::catalog::Version;
use airlock::pipeline::{parent_dir, write_lock};

use crate::common::{HopArgs, print_warnings, runtime};

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

pub fn run(a: Args) -> anyhow::Result<()> {
    let catalog = a.hop.catalog()?;
    // Refuse a bad hop (and an existing output) before any network work.
    airlock::resolve::check_hop(&catalog, &a.from, &a.to)?;
    if a.out.exists() && !a.force {
        return Err(airlock::Error::already_exists(&a.out).into());
    }
    let arches = a.hop.arches()?;
    let (reg, http) = a.hop.clients()?;
    let lock_dir = parent_dir(&a.out);
    let packages = a.hop.package_options()?;
    let store = match &packages {
        Some(_) => Some(a.hop.store()?),
        None => None,
    };
    let opts = a.hop.options(
        &reg,
        &http,
        &lock_dir,
        arches,
        packages.as_ref(),
        store.as_ref(),
    );
    let (lock, warnings) =
        runtime()?.block_on(airlock::resolve::resolve(&catalog, &a.from, &a.to, &opts))?;
    write_lock(&a.out, &lock, a.force)?;
    print_warnings(&warnings);
    let steps = lock.checklist.as_ref().map(Vec::len).unwrap_or(0);
    if a.json {
        let summary = serde_json::json!({
            "lock": a.out,
            "hop": lock.hop,
            "images": airlock::resolve::image_counts(&lock),
            "files": lock.files.len(),
            "package_repositories": lock.package_repositories,
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
        for r in &lock.package_repositories {
            println!(
                "  packages: {} {} -> {} ({} packages, metadata signed by {})",
                r.format,
                r.source,
                r.dir,
                r.packages.len(),
                r.signed_by
            );
        }
        println!("  checklist: {steps} steps");
        for n in &lock.notes {
            if !n.starts_with("uncertain catalog value") {
                println!("  note: {n}");
            }
        }
    }
    Ok(())
}
