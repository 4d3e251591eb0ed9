//! `airlock catalog update` and `airlock catalog status`

use std::path::PathBuf;

use airlock::catalog::support::{Support, status};
use airlock::catalog::update::{UpdateOptions, update};
use airlock::catalog::{Loaded, parse_minor_key};
use airlock_verify::{out, outln};

use crate::common::{TodayArgs, UpstreamArgs, runtime};

/// Keep the version catalog current: derive it from upstream, or show what it says.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

// The subcommands' help (short and long) comes from the argument structs' doc comments.
#[derive(clap::Subcommand)]
enum Command {
    Update(UpdateArgs),
    Status(StatusArgs),
}

/// Derive minors' facts from upstream's own files at the release tags.
///
/// For each minor 1.N: the newest patch from https://dl.k8s.io/release/stable-1.N.txt; for
/// every patch, the etcd (by kubeadm's own selection rule), CoreDNS and pause tags from
/// cmd/kubeadm/app/constants/constants.go at that tag; crictl and CNI plugins from
/// build/dependencies.yaml at the newest patch; served and removed APIs from api/discovery/
/// at v1.N.0 and v1.(N-1).0; release and end-of-life dates from kubernetes/website's
/// data/releases/schedule.yaml and eol.yaml. Every value records the URL and sha256 of the
/// document it came from. Files are read at their canonical addresses
/// (raw.githubusercontent.com, dl.k8s.io), which --mirror maps.
///
/// Everything else (registry, binaries, skew, URL templates, minors not updated) is kept
/// from the base catalog (--from-catalog, or the built-in one). The new catalog is written
/// only once it is complete and valid, to --out (atomically) or stdout. A document that is
/// missing, of a shape airlock does not recognise, or (for files at a tag) different from
/// what the base catalog recorded, stops the update with an error naming its URL.
#[derive(clap::Args)]
pub struct UpdateArgs {
    /// Minor to derive, e.g. 1.36. Repeatable [default: every minor of the base catalog,
    /// and newer minors that have a stable-1.N.txt].
    #[arg(long = "minor", value_name = "1.N", value_parser = parse_minor)]
    minors: Vec<u32>,
    /// Write the catalog here instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Replace an existing --out file.
    #[arg(long)]
    force: bool,
    /// The catalog to start from [default: the built-in one].
    #[arg(long, value_name = "FILE")]
    from_catalog: Option<PathBuf>,
    /// Print a JSON summary on stdout (needs --out).
    #[arg(long, requires = "out")]
    json: bool,
    #[command(flatten)]
    today: TodayArgs,
    #[command(flatten)]
    upstream: UpstreamArgs,
}

/// The minors of a catalog, their support windows and newest patches.
///
/// A minor is supported from its release date through its end-of-life date (upstream
/// supports the three newest minors, about 14 months each).
#[derive(clap::Args)]
pub struct StatusArgs {
    /// Version catalog to show instead of the built-in one.
    #[arg(long, value_name = "FILE")]
    catalog: Option<PathBuf>,
    /// Print JSON on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    today: TodayArgs,
}

fn parse_minor(s: &str) -> Result<u32, String> {
    parse_minor_key(s).ok_or_else(|| format!("{s:?}: expected a minor like 1.36"))
}

pub fn run(a: Args) -> anyhow::Result<()> {
    match a.command {
        Command::Update(u) => run_update(u),
        Command::Status(s) => run_status(s),
    }
}

fn run_update(a: UpdateArgs) -> anyhow::Result<()> {
    if let Some(out) = &a.out {
        airlock::error::refuse_existing(out, a.force)?;
    }
    let base = Loaded::file_or_builtin(a.from_catalog.as_deref())?;
    let (_reg, http) = a.upstream.clients()?;
    let opts = UpdateOptions {
        minors: a.minors.clone(),
        today: a.today.date()?,
        http: &http,
        jobs: a.upstream.jobs,
    };
    let updated = runtime()?.block_on(update(&base, &opts))?;
    for w in &updated.warnings {
        eprintln!("warning: {}", airlock::escape::Untrusted(w));
    }
    let minors: Vec<String> = updated.minors.iter().map(|n| format!("1.{n}")).collect();
    match &a.out {
        Some(out) => airlock::fsutil::write_atomic(out, updated.text.as_bytes(), 0o644)?,
        None => out!("{}", updated.text)?,
    }
    if a.json {
        let summary = serde_json::json!({
            "out": a.out.as_ref().map(|p| p.display().to_string()),
            "catalog": updated.identity,
            "base": { "origin": base.origin, "catalog": base.identity },
            "minors": minors,
            "documents_read": updated.documents_read,
            "changes": updated.changes,
            "warnings": updated.warnings,
        });
        outln!("{}", serde_json::to_string_pretty(&summary)?)?;
        return Ok(());
    }
    eprintln!(
        "catalog {} (sha256 {}): minors {} derived from {} upstream documents; {} change(s) from {}",
        updated.identity.version,
        updated.identity.sha256.hex(),
        minors.join(", "),
        updated.documents_read,
        updated.changes.len(),
        base.origin
    );
    for c in &updated.changes {
        eprintln!("  changed: {c}");
    }
    if let Some(out) = &a.out {
        eprintln!("wrote {}", out.display());
    }
    Ok(())
}

fn run_status(a: StatusArgs) -> anyhow::Result<()> {
    let loaded = Loaded::file_or_builtin(a.catalog.as_deref())?;
    let today = a.today.date()?;
    let rows = status(&loaded.catalog, today);
    let supported: Vec<&str> = rows
        .iter()
        .filter(|r| r.support == Support::Supported)
        .map(|r| r.minor.as_str())
        .collect();
    if a.json {
        let out = serde_json::json!({
            "catalog": loaded.identity,
            "origin": loaded.origin,
            "today": today,
            "supported": supported,
            "minors": rows,
        });
        outln!("{}", serde_json::to_string_pretty(&out)?)?;
        return Ok(());
    }
    outln!(
        "catalog {} (sha256 {}, {})",
        loaded.identity.version,
        loaded.identity.sha256.hex(),
        loaded.origin
    )?;
    outln!("support as of {today}:")?;
    outln!(
        "  {:<6} {:<10}  {:<11}  {:<12} {:<9}  {:<10} uncertain values",
        "minor",
        "released",
        "end of life",
        "support",
        "days left",
        "newest"
    )?;
    for r in &rows {
        // The countdown has its own column: it used to trail the uncertain-values count.
        let left = match r.support {
            Support::Supported => r.days_to_end_of_life.to_string(),
            _ => "-".to_string(),
        };
        outln!(
            "  {:<6} {:<10}  {:<11}  {:<12} {:<9}  {:<10} {}",
            r.minor,
            r.released.to_string(),
            r.end_of_life.to_string(),
            r.support.as_str(),
            left,
            r.latest_patch,
            r.uncertain_values
        )?;
    }
    if supported.is_empty() {
        outln!("no minor of this catalog is supported on {today}; update the catalog")?;
    } else {
        outln!("supported: {}", supported.join(", "))?;
    }
    Ok(())
}
