//! `airlock-verify repair`

use crate::common::BundleArgs;
use airlock_verify::outln;

/// Rebuild lost or damaged payload volumes from the bundle's parity volumes.
///
/// The signatures are checked first, so the volume list, sizes and sha256s are the
/// signed ones. Every volume (data and parity) is read and checked on its own; up to as
/// many damaged or missing volumes as the bundle has parity volumes are rebuilt into
/// temporary files, each checked against its signed sha256, and renamed into place only
/// when all match. Run `verify` afterwards. Exit 3 when the bundle cannot be trusted or
/// more volumes are damaged than parity can rebuild; nothing is replaced then.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    bundle: BundleArgs,
    /// Print what was found and done as JSON.
    #[arg(long)]
    json: bool,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let signed = a.bundle.open()?;
    let bar = airlock_verify::progress::bytes_bar("repair", !a.quiet && !a.json);
    let cb = airlock_verify::progress::callback(&bar);
    let report = airlock_verify::media::repair::repair(&signed, &*cb)?;
    bar.finish_and_clear();
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&report)?)?;
        return Ok(());
    }
    for s in &report.before {
        match &s.problem {
            Some(p) => outln!("  {}: {p}", s.path)?,
            None => outln!("  {}: ok", s.path)?,
        }
    }
    if report.rebuilt.is_empty() {
        outln!(
            "OK: every volume of {} matches its signed sha256; nothing to repair",
            a.bundle.path().display()
        )?;
    } else {
        for r in &report.rebuilt {
            outln!("rebuilt {r} (matches its signed sha256)")?;
        }
        outln!(
            "OK: {} volume(s) rebuilt in {}; run airlock-verify verify next",
            report.rebuilt.len(),
            a.bundle.path().display()
        )?;
    }
    Ok(())
}
