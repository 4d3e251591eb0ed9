//! `airlock plan`

use std::path::PathBuf;

use airlock::ResultExt;
use airlock::catalog::Version;
use airlock::catalog::schedule::{Schedule, WorkersMode, schedule};
use airlock::catalog::support::{HopSupport, Support, plan_support};
use airlock::pipeline::{self, parent_dir, write_lock};
use airlock::resolve::skip_workers::WorkerOnly;
use airlock_verify::outln;

use crate::common::{HopArgs, TodayArgs, print_warnings, runtime};

/// The ordered hops from one Kubernetes version to another, and optionally their bundles.
///
/// kubeadm moves one minor per upgrade, so a longer way is a list of hops through the
/// newest patch of each minor in between. When --from is not the newest patch of its
/// minor, the first hop is the patch upgrade within that minor. For each hop the plan says
/// whether its target minor is supported upstream today (by the catalog's release and
/// end-of-life dates), and how many more hops lead to a supported minor. With --build, each
/// hop is resolved (DIR/airlock-FROM-to-TO.lock) and built (DIR/airlock-FROM-to-TO/) in
/// order, its upstream signatures checked as `resolve` checks them: the provenance
/// options (--trusted-root, --rekor-url, --allow-unsigned, --no-provenance) need --build
/// and are refused without it (exit 2).
///
/// --two-step shows each minor hop as two steps (docs/resolve.md, "Two-step hops"): new
/// binaries with the control plane emulating the old minor, then, in a later window and
/// with no new binaries, the new minor's behaviour; or why the catalog does not offer it.
#[derive(clap::Args)]
// The provenance options act only on the hops --build resolves: without it they would be
// silently ignored, so clap refuses them (exit 2, naming the flag).
#[command(group(
    clap::ArgGroup::new("upstream_provenance")
        .args(["trusted_root", "rekor_url", "allow_unsigned", "no_provenance"])
        .multiple(true)
        .requires("build")
))]
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
    /// Secret key for --build (from `airlock keygen`, a minisign key, or a pkcs11: URI
    /// as for `build --key`). Repeatable.
    #[arg(long, value_name = "KEY|URI")]
    key: Vec<PathBuf>,
    /// File holding the passphrase of encrypted keys (else AIRLOCK_PASSPHRASE or a prompt).
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
    /// File holding the PIN of pkcs11: keys (else AIRLOCK_PKCS11_PIN or a prompt).
    #[arg(long, value_name = "FILE")]
    pin_file: Option<PathBuf>,
    /// Directory for the locks and bundles of --build.
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
    /// With --build: one catch-up bundle for the whole plan (DIR/airlock-FROM-to-TO/, its
    /// lock beside it) instead of one per hop: each blob and file once however many hops
    /// use it, every hop's checklist in order with a stop-and-verify step between hops.
    /// Each hop's lock is still written.
    #[arg(long, requires = "build")]
    one_bundle: bool,
    /// Show each minor hop as a two-step hop (step 1: new binaries emulating the old
    /// minor; step 2: lift the emulation), with `airlock resolve --two-step` commands, or
    /// the catalog's reason where it is not offered. With --build, such a hop's two locks
    /// (NAME.step1.lock, NAME.step2.lock) are built into NAME-step1/ and NAME-step2/; a hop
    /// the catalog does not offer it for is built as one bundle, and the plan says why.
    #[arg(long, conflicts_with = "one_bundle")]
    two_step: bool,
    /// Replace existing locks and bundles in --out-dir.
    #[arg(long)]
    force: bool,
    /// How workers move: every-minor (the default) upgrades every node at every hop;
    /// skip keeps the control plane one minor per phase and leaves the workers where they
    /// are until the next control-plane step would put the API server further ahead of
    /// their kubelets than the catalog's skew policy and kubeadm limits allow (3 minors
    /// from 1.29), so 1.33 -> 1.37 drains each worker twice instead of once per hop. With
    /// either, the plan prints the phases and the drains per node. --build needs
    /// --one-bundle with skip.
    #[arg(long, value_enum, value_name = "MODE")]
    workers: Option<WorkersArg>,
    /// With --workers skip: plan on skew facts the catalog marks uncertain (today kubeadm's
    /// kubelet skew of every minor, not read at the tags). Without it such a plan is
    /// refused naming each fact; with it the facts are listed in the lock's schedule.
    #[arg(long)]
    accept_uncertain_skew: bool,
    /// With --workers skip --build: an architecture only worker nodes run (repeatable;
    /// resolved in addition to --arch). Its kubelet, kubeadm, kubectl, tools and node
    /// packages are carried only where workers install them: the versions they land on,
    /// kubeadm for the kubeadm-only steps, and what their back-outs reinstall.
    #[arg(long, value_name = "ARCH")]
    worker_arch: Vec<String>,
    /// With --workers skip --build: a --packages format only worker nodes install from
    /// (deb or rpm; not every --packages format). Its packages are carried only where
    /// workers install them: every package of a minor they land on, kubeadm and cri-tools
    /// of a kubeadm-only minor, and what their back-outs reinstall.
    #[arg(long, value_delimiter = ',', value_name = "deb|rpm")]
    worker_packages: Vec<airlock::manifest::PackageFormat>,
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
    // Upstream provenance of every hop, as for `resolve`: with --build only.
    #[command(flatten)]
    provenance: crate::provenance::ProvenanceArgs,
}

/// `--workers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum WorkersArg {
    /// Every node takes every hop.
    EveryMinor,
    /// Workers move only when the skew forces them, and at the end.
    Skip,
}

impl WorkersArg {
    fn mode(self) -> WorkersMode {
        match self {
            WorkersArg::EveryMinor => WorkersMode::EveryMinor,
            WorkersArg::Skip => WorkersMode::Skip,
        }
    }
}

fn hop_name(from: &Version, to: &Version) -> String {
    format!("airlock-{from}-to-{to}")
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let loaded = a.hop.catalog()?;
    let hops = airlock::catalog::plan::plan(&loaded.catalog, &a.from, &a.to)?;
    let sched = match a.workers {
        Some(w) => Some(schedule(
            &loaded.catalog,
            &a.from,
            &a.to,
            w.mode(),
            a.accept_uncertain_skew,
        )?),
        None => None,
    };
    if let Some(s) = &sched {
        for u in &s.accepted_uncertain {
            eprintln!("warning: accepted with --accept-uncertain-skew: {u}");
        }
    }
    let skip = sched.as_ref().filter(|s| s.workers == WorkersMode::Skip);
    if !a.build {
        return print_plan(&a, &loaded, &hops, sched.as_ref());
    }
    if skip.is_some() && !a.one_bundle {
        return Err(airlock::Error::Core(airlock_verify::Error::usage(
            "--workers skip --build makes one catch-up bundle: add --one-bundle".into(),
        ))
        .into());
    }
    if !a.worker_arch.is_empty() && skip.is_none() {
        return Err(airlock::Error::Core(airlock_verify::Error::usage(
            "--worker-arch is for --workers skip".into(),
        ))
        .into());
    }
    if !a.worker_packages.is_empty() && skip.is_none() {
        return Err(airlock::Error::Core(airlock_verify::Error::usage(
            "--worker-packages is for --workers skip".into(),
        ))
        .into());
    }
    build_hops(&a, &loaded, &hops, skip)
}

/// Drains per worker in `s` and in the every-minor plan, and per control-plane node.
fn drains(s: &Schedule) -> serde_json::Value {
    serde_json::json!({
        "per_worker": s.worker_stops(),
        "kubeadm_only_steps_per_worker": s.worker_kubeadm_steps(),
        "per_worker_every_minor": s.phases.len(),
        "per_control_plane_node": s.phases.len(),
    })
}

/// The phases as a table, and the drains.
fn print_schedule(s: &Schedule) -> Result<(), airlock_verify::cli::StdoutError> {
    let mode = match s.workers {
        WorkersMode::Skip => "skip",
        WorkersMode::EveryMinor => "every-minor",
    };
    outln!("schedule (--workers {mode}): {} phase(s)", s.phases.len())?;
    outln!(
        "  {:<6} {:<24} {:<26} kubelets before the phase",
        "phase",
        "control plane",
        "workers"
    )?;
    let mut before = s.from.clone();
    for p in &s.phases {
        let workers = match (&p.workers, &p.workers_kubeadm) {
            (Some(w), _) => format!("{before} -> {w}"),
            (None, Some(_)) => format!("stay at {before} (kubeadm*)"),
            (None, None) => format!("stay at {before}"),
        };
        outln!(
            "  {:<6} {:<24} {:<26} >= 1.{}",
            p.n,
            format!("{} -> {}", p.control_plane_from, p.control_plane),
            workers,
            p.kubelet_floor_minor
        )?;
        before = p.workers_after.clone();
    }
    outln!(
        "drains per worker: {} (every-minor plan: {}); per control-plane node: {} (unchanged)",
        s.worker_stops(),
        s.phases.len(),
        s.phases.len()
    )?;
    if s.worker_kubeadm_steps() > 0 {
        outln!(
            "(kubeadm*) {} phase(s) where workers stay still give each worker kubeadm of the control plane's version and kubeadm upgrade node, without a drain and with the kubelet unchanged: kubeadm upgrades a node only from the kubeadm one minor older",
            s.worker_kubeadm_steps()
        )?;
    }
    Ok(())
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
    hops: &[airlock::catalog::plan::PlannedHop],
    sched: Option<&Schedule>,
) -> anyhow::Result<()> {
    let today = a.today.date()?;
    let support = plan_support(&loaded.catalog, hops, today);
    let offers: Vec<Option<TwoStep>> = hops
        .iter()
        .map(|h| a.two_step.then(|| two_step(&loaded.catalog, h)))
        .collect();
    let resolve_cmd = |h: &airlock::catalog::plan::PlannedHop, t: &Option<TwoStep>| {
        let flag = match t {
            Some(TwoStep::Offered { .. }) => " --two-step",
            _ => "",
        };
        format!(
            "airlock resolve --from {} --to {}{flag} --out {}.lock",
            h.from,
            h.to,
            hop_name(&h.from, &h.to)
        )
    };
    if a.json {
        let out = plan_json(a, loaded, hops, sched, (&support, &offers, &resolve_cmd))?;
        outln!("{}", serde_json::to_string_pretty(&out)?)?;
        return Ok(());
    }
    outln!(
        "{} -> {}: {} hop(s) (catalog {}; support as of {today})",
        a.from,
        a.to,
        hops.len(),
        loaded.identity.version
    )?;
    for (i, ((h, s), t)) in hops.iter().zip(&support).zip(&offers).enumerate() {
        let kind = match (h.from.minor == h.to.minor, t) {
            (true, _) => "patch",
            (false, Some(TwoStep::Offered { .. })) => "minor, two steps",
            (false, _) => "minor",
        };
        outln!(
            "  {}. {} -> {} ({kind})  {}",
            i + 1,
            h.from,
            h.to,
            resolve_cmd(h, t)
        )?;
        match t {
            Some(TwoStep::Offered { step1, step2, .. }) => {
                outln!("     step 1: {step1}")?;
                outln!("     step 2: {step2}")?;
            }
            Some(TwoStep::Refused { reason }) if kind != "patch" => {
                outln!("     two-step: not offered: {reason}")?;
            }
            _ => {}
        }
        outln!("     {}", support_text(s))?;
    }
    if let Some(s) = sched {
        print_schedule(s)?;
    }
    Ok(())
}

/// The plan as `--json` prints it: each hop with its resolve command, two-step offer and
/// support, and the catch-up schedule with its drains.
fn plan_json(
    a: &Args,
    loaded: &airlock::catalog::Loaded,
    hops: &[airlock::catalog::plan::PlannedHop],
    sched: Option<&Schedule>,
    (support, offers, resolve_cmd): PlanRows<'_>,
) -> anyhow::Result<serde_json::Value> {
    let today = a.today.date()?;
    let list: Vec<_> = hops
        .iter()
        .zip(support)
        .zip(offers)
        .map(|((h, s), t)| {
            serde_json::json!({
                "from": h.from, "to": h.to,
                "resolve": resolve_cmd(h, t),
                "two_step": t,
                "target_minor": s.target_minor,
                "target_support": s.support,
                "target_end_of_life": s.end_of_life,
                "more_hops_to_supported": s.more_hops_to_supported,
            })
        })
        .collect();
    let mut out = serde_json::json!({
        "from": a.from, "to": a.to,
        "catalog_version": loaded.identity.version,
        "catalog_sha256": loaded.identity.sha256.hex(),
        "today": today,
        "hops": list,
    });
    if let Some(s) = sched {
        out["schedule"] = serde_json::to_value(s)?;
        out["drains"] = drains(s);
    }
    Ok(out)
}

/// What `print_plan` computed per hop: support, two-step offer, the resolve command.
type PlanRows<'a> = (
    &'a [HopSupport],
    &'a [Option<TwoStep>],
    &'a dyn Fn(&airlock::catalog::plan::PlannedHop, &Option<TwoStep>) -> String,
);

/// A hop's two-step plan, or why there is none.
#[derive(serde::Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
enum TwoStep {
    Offered {
        emulated: String,
        step1: String,
        step2: String,
    },
    Refused {
        reason: String,
    },
}

fn two_step(
    catalog: &airlock::catalog::Catalog,
    h: &airlock::catalog::plan::PlannedHop,
) -> TwoStep {
    let o = match airlock::catalog::two_step::offer(catalog, &h.from, &h.to) {
        Ok(o) => o,
        Err(e) => {
            return TwoStep::Refused {
                reason: e.to_string(),
            };
        }
    };
    let removed: Vec<String> = catalog
        .minor_of(&h.to)
        .map(|m| {
            m.removed_apis
                .iter()
                .map(|r| r.group_version.clone())
                .collect()
        })
        .unwrap_or_default();
    let removed = if removed.is_empty() {
        "none".to_string()
    } else {
        removed.join(", ")
    };
    let name = hop_name(&h.from, &h.to);
    TwoStep::Offered {
        step1: format!(
            "{} binaries and images; {} run with --emulated-version={} ({} behaviour) [{name}.step1.lock]",
            h.to,
            o.facts.components.join(", "),
            o.emulated,
            o.emulated
        ),
        step2: format!(
            "later window, no images or binaries: lift the emulation, {} behaviour takes effect (APIs removed: {removed}) [{name}.step2.lock]",
            h.to.minor_key()
        ),
        emulated: o.emulated,
    }
}

/// Resolve and build every hop's bundle, in order (or, with --one-bundle, one bundle
/// for all of them).
fn build_hops(
    a: &Args,
    loaded: &airlock::catalog::Loaded,
    hops: &[airlock::catalog::plan::PlannedHop],
    skip: Option<&Schedule>,
) -> anyhow::Result<()> {
    let Some(out_dir) = a.out_dir.clone() else {
        return Err(airlock::Error::Core(airlock_verify::Error::usage(
            "--build needs --out-dir".into(),
        ))
        .into());
    };
    let keys = crate::common::KeyArgs {
        key: a.key.clone(),
        passphrase_file: a.passphrase_file.clone(),
        pin_file: a.pin_file.clone(),
    }
    .load()?;
    // Option errors before anything is written.
    let (arches, worker_only) = arches_with_workers(a)?;
    let worker_only = WorkerOnly {
        arches: worker_only,
        package_formats: worker_package_formats(a)?,
    };
    std::fs::create_dir_all(&out_dir)
        .map_err(|e| airlock::Error::io("create directory", &out_dir, e))?;
    let whole = (a.one_bundle && hops.len() > 1).then(|| hop_name(&a.from, &a.to));
    refuse_existing(a, &out_dir, hops, whole.as_deref())?;
    let ctx = build_ctx(a, arches)?;
    let mut built = Vec::new();
    let mut locks = Vec::new();
    for (i, h) in hops.iter().enumerate() {
        let (lock_path, warnings) = resolve_hop(a, loaded, &ctx, &out_dir, hops, i)?;
        if whole.is_some() {
            // Built once, below, from every hop's lock.
            locks.push(airlock::lock::Lock::load(&lock_path)?.0);
            built.push(serde_json::json!({
                "from": h.from, "to": h.to, "lock": lock_path, "warnings": warnings,
            }));
            continue;
        }
        if a.two_step
            && let Some(steps) = build_two_step(a, loaded, &ctx, &keys, &lock_path, &out_dir, h)?
        {
            built.extend(steps);
            continue;
        }
        let hop = HopBuild {
            index: i,
            count: hops.len(),
            hop: h,
            lock_path: &lock_path,
        };
        built.push(build_one_hop(a, &ctx, &keys, &out_dir, hop, warnings)?);
    }
    let catchup = match &whole {
        Some(name) => {
            let parts = CatchUpParts {
                name,
                locks: &locks,
                hops: hops.len(),
                skip,
                worker_only: &worker_only,
                catalog: &loaded.catalog,
            };
            Some(build_catch_up(a, &ctx, &keys, &out_dir, parts)?)
        }
        None => None,
    };
    if a.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "from": a.from, "to": a.to, "hops": built, "one_bundle": catchup,
                "schedule": skip, "drains": skip.map(drains),
            }))?
        )?;
    }
    Ok(())
}

/// What every hop's resolve and build share: the provenance set-up, the clients, the
/// store and the runtime.
fn build_ctx(a: &Args, arches: Vec<String>) -> anyhow::Result<Ctx> {
    let cache = a
        .hop
        .cache
        .clone()
        .unwrap_or_else(airlock::upstream_store::Store::default_root);
    Ok(Ctx {
        provenance: a.provenance.setup(&cache, &a.hop.with)?,
        arches,
        clients: a.hop.clients()?,
        store: a.hop.store()?,
        packages: a.hop.package_options()?,
        rt: runtime()?,
    })
}

/// One hop of the plan, its lock resolved.
struct HopBuild<'a> {
    index: usize,
    count: usize,
    hop: &'a airlock::catalog::plan::PlannedHop,
    lock_path: &'a std::path::Path,
}

/// Builds one hop's bundle from its lock; its line of the output (printed unless
/// --json) and its JSON entry.
fn build_one_hop(
    a: &Args,
    ctx: &Ctx,
    keys: &[crate::common::SignerBox],
    out_dir: &std::path::Path,
    b: HopBuild<'_>,
    warnings: Vec<airlock::resolve::Warning>,
) -> anyhow::Result<serde_json::Value> {
    let h = b.hop;
    let summary = build_lock(
        a,
        ctx,
        keys,
        b.lock_path,
        &out_dir.join(hop_name(&h.from, &h.to)),
    )
    .with_context(|| {
        format!(
            "hop {} of {} ({} -> {})",
            b.index + 1,
            b.count,
            h.from,
            h.to
        )
    })?;
    if !a.json {
        outln!(
            "{}. {} -> {}: lock {}, bundle {} (manifest sha256 {})",
            b.index + 1,
            h.from,
            h.to,
            b.lock_path.display(),
            summary.dir.display(),
            summary.manifest_sha256
        )?;
    }
    Ok(serde_json::json!({
        "from": h.from, "to": h.to, "lock": b.lock_path, "bundle": summary,
        "warnings": warnings,
    }))
}

/// The hops' locks that --one-bundle merges into one catch-up bundle.
struct CatchUpParts<'a> {
    name: &'a str,
    locks: &'a [airlock::lock::Lock],
    hops: usize,
    skip: Option<&'a Schedule>,
    worker_only: &'a WorkerOnly,
    catalog: &'a airlock::catalog::Catalog,
}

/// Merges the hops' locks (leaving out what skipping workers do not need) and builds
/// the one catch-up bundle; its JSON entry.
fn build_catch_up(
    a: &Args,
    ctx: &Ctx,
    keys: &[crate::common::SignerBox],
    out_dir: &std::path::Path,
    p: CatchUpParts<'_>,
) -> anyhow::Result<serde_json::Value> {
    let merged = match p.skip {
        Some(s) => airlock::resolve::skip_workers::merge(p.locks, s, p.worker_only, p.catalog)?,
        None => airlock::resolve::catchup::merge(p.locks)?,
    };
    let lock_path = out_dir.join(format!("{}.lock", p.name));
    write_lock(&lock_path, &merged, a.force)?;
    let summary = build_lock(a, ctx, keys, &lock_path, &out_dir.join(p.name))
        .with_context(|| format!("the catch-up bundle of {} hops", p.hops))?;
    if !a.json {
        outln!(
            "{} -> {}: one bundle for {} hops: lock {}, bundle {} (manifest sha256 {}, payload {} bytes)",
            a.from,
            a.to,
            p.hops,
            lock_path.display(),
            summary.dir.display(),
            summary.manifest_sha256,
            summary.payload_size
        )?;
    }
    Ok(serde_json::json!({ "lock": lock_path, "bundle": summary }))
}

/// With --two-step: split hop `h`'s lock into its two step locks and build both, or
/// `None` (the hop is built as one bundle) where the catalog does not offer the mode.
fn build_two_step(
    a: &Args,
    loaded: &airlock::catalog::Loaded,
    ctx: &Ctx,
    keys: &[crate::common::SignerBox],
    lock_path: &std::path::Path,
    out_dir: &std::path::Path,
    h: &airlock::catalog::plan::PlannedHop,
) -> anyhow::Result<Option<Vec<serde_json::Value>>> {
    if let TwoStep::Refused { reason } = two_step(&loaded.catalog, h) {
        if h.from.minor != h.to.minor {
            eprintln!(
                "note: {} -> {} is built as one bundle: {reason}",
                h.from, h.to
            );
        }
        return Ok(None);
    }
    let (lock, _) = airlock::lock::Lock::load(lock_path)?;
    let (one, two) = airlock::resolve::two_step::split(&loaded.catalog, lock, a.hop.etcd()?)?;
    let paths = airlock::resolve::two_step::lock_paths(lock_path);
    let mut out = Vec::new();
    for (n, (path, lock)) in [(&paths.0, &one), (&paths.1, &two)].into_iter().enumerate() {
        write_lock(path, lock, a.force)?;
        let dir = out_dir.join(format!("{}-step{}", hop_name(&h.from, &h.to), n + 1));
        let summary = build_lock(a, ctx, keys, path, &dir)
            .with_context(|| format!("step {} of {} -> {}", n + 1, h.from, h.to))?;
        if !a.json {
            outln!(
                "{} -> {} step {}: lock {}, bundle {} (manifest sha256 {})",
                h.from,
                h.to,
                n + 1,
                path.display(),
                summary.dir.display(),
                summary.manifest_sha256
            )?;
        }
        out.push(serde_json::json!({
            "from": h.from, "to": h.to, "two_step": n + 1, "lock": path, "bundle": summary,
        }));
    }
    Ok(Some(out))
}

/// What every hop's resolve and build share.
struct Ctx {
    provenance: Option<crate::provenance::Setup>,
    arches: Vec<String>,
    clients: (
        airlock::upstream_registry::UpstreamRegistry,
        airlock::http::HttpClient,
    ),
    store: airlock::upstream_store::Store,
    packages: Option<airlock::packages::PackageOptions>,
    rt: tokio::runtime::Runtime,
}

/// Refuse existing outputs before doing any work.
fn refuse_existing(
    a: &Args,
    out_dir: &std::path::Path,
    hops: &[airlock::catalog::plan::PlannedHop],
    whole: Option<&str>,
) -> anyhow::Result<()> {
    if a.force {
        return Ok(());
    }
    // Every hop's lock is written; bundles only per hop, or one for the whole plan.
    let mut paths: Vec<PathBuf> = Vec::new();
    for h in hops {
        let name = hop_name(&h.from, &h.to);
        paths.push(out_dir.join(format!("{name}.lock")));
        if whole.is_none() {
            paths.push(out_dir.join(&name));
        }
    }
    if let Some(name) = whole {
        paths.push(out_dir.join(format!("{name}.lock")));
        paths.push(out_dir.join(name));
    }
    for p in &paths {
        airlock::error::refuse_existing(p, a.force)?;
    }
    Ok(())
}

/// Resolve hop `i` and write its lock; returns the lock's path and the warnings.
fn resolve_hop(
    a: &Args,
    loaded: &airlock::catalog::Loaded,
    ctx: &Ctx,
    out_dir: &std::path::Path,
    hops: &[airlock::catalog::plan::PlannedHop],
    i: usize,
) -> anyhow::Result<(PathBuf, Vec<airlock::resolve::Warning>)> {
    let h = &hops[i];
    let lock_path = out_dir.join(format!("{}.lock", hop_name(&h.from, &h.to)));
    let lock_dir = parent_dir(&lock_path);
    let (reg, http) = &ctx.clients;
    let mut opts = a.hop.options(
        reg,
        http,
        &lock_dir,
        ctx.arches.clone(),
        ctx.packages.as_ref(),
        Some(&ctx.store),
    );
    opts.catalog = Some(loaded.identity.clone());
    opts.etcd = a.hop.etcd()?;
    let (mut lock, warnings) = ctx
        .rt
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
    let clients = airlock::provenance::Clients {
        registry: reg,
        http,
        store: &ctx.store,
    };
    let not_checked = a
        .provenance
        .apply(
            ctx.provenance.as_ref(),
            &ctx.rt,
            &mut lock,
            &clients,
            (a.hop.upstream.jobs, hops.len() > 1),
        )
        .with_context(|| format!("hop {} of {}: upstream provenance", i + 1, hops.len()))?;
    if let Some(w) = not_checked {
        eprintln!("warning: {w}");
    }
    write_lock(&lock_path, &lock, a.force)?;
    Ok((lock_path, warnings))
}

/// Fetch and pack one lock into `bundle_dir`.
fn build_lock(
    a: &Args,
    ctx: &Ctx,
    keys: &[crate::common::SignerBox],
    lock_path: &std::path::Path,
    bundle_dir: &std::path::Path,
) -> airlock::Result<airlock::pack::WriteSummary> {
    let (lock, lock_bytes) = airlock::lock::Lock::load(lock_path)?;
    let lock_dir = parent_dir(lock_path);
    let (reg, http) = &ctx.clients;
    pipeline::fetch_and_pack(
        &ctx.rt,
        &pipeline::Inputs {
            lock: &lock,
            lock_bytes: &lock_bytes,
            lock_path,
            lock_dir: &lock_dir,
        },
        &pipeline::Clients {
            store: &ctx.store,
            reg,
            http,
        },
        bundle_dir,
        keys,
        &pipeline::PackSettings {
            jobs: a.hop.upstream.jobs.min(8),
            level: a.level,
            threads: pipeline::default_threads(),
            force: a.force,
            show: !a.quiet && !a.json,
            validity: airlock::pack::Validity::default(),
            signer: airlock::pack::Signer {
                role: airlock::trust::policy::RoleName::new("builder")
                    .map_err(|e| airlock::Error::invalid("role", "builder", e))?,
                name: None,
                time: crate::common::build_time()?,
            },
            media: Default::default(),
            delta: None,
            verifier: None,
        },
    )
}

/// `--worker-packages`: formats among `--packages`, leaving at least one for the control
/// plane.
fn worker_package_formats(a: &Args) -> anyhow::Result<Vec<airlock::manifest::PackageFormat>> {
    let bad = |reason: String| airlock::Error::invalid("option", "--worker-packages", reason);
    if let Some(f) = a
        .worker_packages
        .iter()
        .find(|f| !a.hop.packages.contains(f))
    {
        return Err(bad(format!("{f} is not among --packages")).into());
    }
    if !a.worker_packages.is_empty() && a.hop.packages.iter().all(|f| a.worker_packages.contains(f))
    {
        return Err(bad(
            "names every --packages format: control-plane nodes would install from none".into(),
        )
        .into());
    }
    Ok(a.worker_packages.clone())
}

/// The architectures to resolve: `--arch`, plus each `--worker-arch` not among them (only
/// workers run those: resolved for every hop, then kept only where workers land), which
/// are returned again apart.
fn arches_with_workers(a: &Args) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let mut arches = a.hop.arches()?;
    if let Some(bad) = a.worker_arch.iter().find(|w| {
        w.is_empty()
            || !w
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    }) {
        return Err(airlock::Error::invalid(
            "option",
            "--worker-arch",
            format!("{bad:?} is not an architecture name"),
        )
        .into());
    }
    let worker_only: Vec<String> = a
        .worker_arch
        .iter()
        .filter(|w| !arches.contains(w))
        .cloned()
        .collect();
    arches.extend(worker_only.iter().cloned());
    Ok((arches, worker_only))
}
