//! `airlock resolve`

use std::path::PathBuf;

use airlock::catalog::Version;
use airlock::pipeline::{
    UpstreamCatalog, UpstreamCatalogSettings, hop_catalog, parent_dir, write_lock,
};
use airlock_verify::outln;

use crate::common::{HopArgs, TodayArgs, print_warnings, runtime};

/// Resolve one Kubernetes version hop into a lock file.
///
/// Every image tag is resolved to a digest in the registry (checking the --platform
/// platforms are there), every binary's sha256 is read from the upstream checksum file, and
/// the ordered upgrade checklist is written into the lock. A hop must go forward by at
/// most one minor; `airlock plan` finds the hops for a longer way.
///
/// The catalog (built-in, or --catalog FILE) says what each version needs; the lock and the
/// bundle record its version and sha256. --catalog-from-upstream first reads the hop's two
/// minors from upstream's own files at the release tags (as `airlock catalog update` does)
/// and resolves with the result; --check-catalog reads them too but resolves with the
/// catalog as given. Both report every disagreement between that catalog and upstream.
///
/// Upstream provenance is checked by default: every Kubernetes image and file, and every
/// add-on artifact, must carry a Sigstore signature its policy accepts (docs/resolve.md),
/// against --trusted-root or the trusted root `airlock provenance trusted-root` fetched;
/// --no-provenance skips the check and the lock records that.
///
/// --two-step splits a minor hop in two locks (docs/resolve.md, "Two-step hops"): step 1
/// brings the new binaries and images with the control plane emulating the old minor,
/// step 2 (no images or binaries) lifts the emulation in a later window.
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
    /// Replace an existing lock file (and --save-catalog file).
    #[arg(long)]
    force: bool,
    /// Derive the hop's two minors from upstream (kubeadm constants, build dependencies,
    /// discovery documents, stable markers, website release data, through the mirrors) and
    /// resolve with that catalog; warn where --catalog (or the built-in one) disagrees.
    #[arg(long, conflicts_with = "check_catalog")]
    catalog_from_upstream: bool,
    /// Read the hop's two minors from upstream and warn about every disagreement with the
    /// catalog, but resolve with the catalog as given.
    #[arg(long)]
    check_catalog: bool,
    /// With --catalog-from-upstream: also write the derived catalog here (its sha256 is the
    /// one in the lock).
    #[arg(long, value_name = "FILE", requires = "catalog_from_upstream")]
    save_catalog: Option<PathBuf>,
    #[command(flatten)]
    provenance: crate::provenance::ProvenanceArgs,
    #[command(flatten)]
    today: TodayArgs,
    #[command(flatten)]
    hop: HopArgs,
    /// Write a two-step hop: FILE's name with .step1.lock (new binaries, kube-apiserver,
    /// kube-controller-manager and kube-scheduler emulating the from-minor) and .step2.lock
    /// (no images or binaries: lift the emulation later). Refused, with the catalog's
    /// reason, where the target minor's facts do not offer it.
    #[arg(long)]
    two_step: bool,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let base = a.hop.catalog()?;
    let mode = if a.catalog_from_upstream {
        UpstreamCatalog::Use
    } else if a.check_catalog {
        UpstreamCatalog::Check
    } else {
        UpstreamCatalog::Off
    };
    // Refuse a bad hop (and existing outputs) before any network work; with a catalog from
    // upstream the versions are checked once it is derived.
    if mode != UpstreamCatalog::Use {
        airlock::catalog::plan::check_hop(&base.catalog, &a.from, &a.to)?;
        if a.two_step {
            airlock::catalog::two_step::offer(&base.catalog, &a.from, &a.to)?;
        }
    }
    let outs = lock_outputs(&a);
    for out in outs.iter().chain(a.save_catalog.as_ref()) {
        airlock::error::refuse_existing(out, a.force)?;
    }
    let cache = a
        .hop
        .cache
        .clone()
        .unwrap_or_else(airlock::upstream_store::Store::default_root);
    let provenance = a.provenance.setup(&cache, &a.hop.with)?;
    let arches = a.hop.arches()?;
    let (reg, http) = a.hop.clients()?;
    let rt = runtime()?;
    let hc = hop_catalog(
        &rt,
        base,
        &a.from,
        &a.to,
        &UpstreamCatalogSettings {
            mode,
            http: &http,
            today: a.today.date()?,
            jobs: a.hop.upstream.jobs,
        },
    )?;
    print_warnings_text(&hc.warnings);
    let lock_dir = parent_dir(&a.out);
    let packages = a.hop.package_options()?;
    // Package metadata, add-on manifests and charts, and signature evidence are kept,
    // checked, in the cache.
    let store = if packages.is_some() || !a.hop.with.is_empty() || provenance.is_some() {
        Some(a.hop.store()?)
    } else {
        None
    };
    let mut opts = a.hop.options(
        &reg,
        &http,
        &lock_dir,
        arches,
        packages.as_ref(),
        store.as_ref(),
    );
    opts.catalog = Some(hc.loaded.identity.clone());
    opts.etcd = a.hop.etcd()?;
    opts.notes = hc.notes.clone();
    let (mut lock, warnings) = rt.block_on(airlock::resolve::resolve(
        &hc.loaded.catalog,
        &a.from,
        &a.to,
        &opts,
    ))?;
    let not_checked = match &store {
        Some(store) => a.provenance.apply(
            provenance.as_ref(),
            &rt,
            &mut lock,
            &airlock::provenance::Clients {
                registry: &reg,
                http: &http,
                store,
            },
            (a.hop.upstream.jobs, false),
        )?,
        None => Some(airlock::provenance::record_not_checked(&mut lock)),
    };
    if let (Some(path), Some(text)) = (&a.save_catalog, &hc.derived_text) {
        airlock::fsutil::write_atomic(path, text.as_bytes(), 0o644)?;
    }
    if a.two_step {
        let (one, two) =
            airlock::resolve::two_step::split(&hc.loaded.catalog, lock, opts.etcd.clone())?;
        write_lock(&outs[0], &one, a.force)?;
        write_lock(&outs[1], &two, a.force)?;
        print_warnings(&warnings);
        if let Some(w) = not_checked {
            eprintln!("warning: {w}");
        }
        return print_two_step(&outs, &one, &two, a.json);
    }
    write_lock(&a.out, &lock, a.force)?;
    print_warnings(&warnings);
    if let Some(w) = not_checked {
        eprintln!("warning: {w}");
    }
    let mut all_warnings: Vec<String> = hc.warnings.clone();
    all_warnings.extend(warnings.iter().map(|w| w.message.clone()));
    if a.json {
        print_json(&a, &lock, &all_warnings)
    } else {
        print_text(&a, &hc.loaded, &lock)?;
        Ok(())
    }
}

/// The `--json` summary of a written lock.
fn print_json(a: &Args, lock: &airlock::lock::Lock, warnings: &[String]) -> anyhow::Result<()> {
    let steps = lock.checklist.as_ref().map(Vec::len).unwrap_or(0);
    let summary = serde_json::json!({
        "lock": a.out.display().to_string(),
        "hop": lock.hop,
        "catalog": lock.catalog,
        "images": airlock::resolve::image_counts(lock),
        "files": lock.files.len(),
        "package_repositories": lock.package_repositories,
        "checklist_steps": steps,
        "notes": lock.notes,
        "provenance": lock.provenance,
        "warnings": warnings,
    });
    outln!("{}", serde_json::to_string_pretty(&summary)?)?;
    Ok(())
}

/// The text summary of a written lock.
fn print_text(
    a: &Args,
    loaded: &airlock::catalog::Loaded,
    lock: &airlock::lock::Lock,
) -> Result<(), airlock_verify::cli::StdoutError> {
    let steps = lock.checklist.as_ref().map(Vec::len).unwrap_or(0);
    outln!("lock: {} ({} -> {})", a.out.display(), a.from, a.to)?;
    outln!(
        "  catalog: {} (sha256 {}, {})",
        loaded.identity.version,
        loaded.identity.sha256.hex(),
        loaded.origin
    )?;
    let counts: Vec<String> = airlock::resolve::image_counts(lock)
        .into_iter()
        .map(|(role, n)| format!("{n} {role}"))
        .collect();
    outln!("  images: {} ({})", lock.images.len(), counts.join(", "))?;
    outln!("  files: {}", lock.files.len())?;
    for r in &lock.package_repositories {
        outln!(
            "  packages: {} {} -> {} ({} packages, metadata signed by {})",
            r.format,
            r.source,
            r.dir,
            r.packages.len(),
            r.signed_by
        )?;
    }
    outln!("  checklist: {steps} steps")?;
    if let Some(p) = &lock.provenance
        && p.status == airlock::lock::ProvenanceStatus::Checked
    {
        let signed = p.artifacts.iter().filter(|a| a.signature.is_some()).count();
        outln!(
            "  provenance: {signed} upstream signatures checked, {} allowed unsigned",
            p.artifacts.len() - signed
        )?;
    }
    for n in &lock.notes {
        if !n.starts_with("uncertain catalog value") && !n.starts_with("catalog check") {
            outln!("  note: {}", airlock::escape::Untrusted(n))?;
        }
    }
    Ok(())
}

/// The lock files this resolve writes: FILE, or the two step locks beside it.
fn lock_outputs(a: &Args) -> Vec<PathBuf> {
    if a.two_step {
        let (one, two) = airlock::resolve::two_step::lock_paths(&a.out);
        vec![one, two]
    } else {
        vec![a.out.clone()]
    }
}

/// What a two-step resolve wrote.
fn print_two_step(
    outs: &[PathBuf],
    one: &airlock::lock::Lock,
    two: &airlock::lock::Lock,
    json: bool,
) -> anyhow::Result<()> {
    let steps = |l: &airlock::lock::Lock| l.checklist.as_ref().map(Vec::len).unwrap_or(0);
    if json {
        let each = |p: &PathBuf, l: &airlock::lock::Lock| {
            serde_json::json!({
                "lock": p, "hop": l.hop, "two_step": l.two_step,
                "images": l.images.len(), "files": l.files.len(),
                "checklist_steps": steps(l), "notes": l.notes,
            })
        };
        let out = serde_json::json!({"steps": [each(&outs[0], one), each(&outs[1], two)]});
        outln!("{}", serde_json::to_string_pretty(&out)?)?;
        return Ok(());
    }
    for (p, l) in outs.iter().zip([one, two]) {
        outln!(
            "lock: {} ({} images, {} files, checklist: {} steps)",
            p.display(),
            l.images.len(),
            l.files.len(),
            steps(l)
        )?;
        for n in l.notes.iter().filter(|n| n.starts_with("two-step")) {
            outln!("  {}", airlock::escape::Untrusted(n))?;
        }
    }
    Ok(())
}

fn print_warnings_text(warnings: &[String]) {
    for w in warnings {
        eprintln!("warning: {}", airlock::escape::Untrusted(w));
    }
}
