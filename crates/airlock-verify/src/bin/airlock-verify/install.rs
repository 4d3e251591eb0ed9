//! `airlock-verify install`

use std::path::PathBuf;
use std::sync::Arc;

use airlock_verify::install::{
    ImageAction, InstallOptions, InstallReport, Next, PayloadRead, record,
};
use airlock_verify::outln;
use airlock_verify::state::Enclave;
use airlock_verify::time::Timestamp;
use airlock_verify::verify::{SignedBundle, VerifiedBundle};

use crate::common::{BundleArgs, RegistryArgs, StateArgs};

/// Verify a bundle completely, then install it: images into the enclave registry under the
/// same repository paths (manifest digests preserved), files under --dest with their
/// modes. Skips what is already there, so running it twice changes nothing.
///
/// Signatures, the manifest and the enclave's state are checked first; then a read-only
/// look at the registry and --dest. When the enclave already holds every image, tag and
/// file, the payload is not read at all (the report and receipt say `payload:
/// not-read`); --verify-payload checks every byte anyway.
///
/// Refuses a bundle outside its change window, a lower sequence than the channel already
/// installed (rollback), the same sequence with another bundle, and a clock earlier than
/// the latest time the enclave has seen. Every install, and every refused one, writes a
/// receipt signed with the enclave's key into the hash-chained receipt log of the state
/// directory (DEST/.airlock/receipts/ by default); `airlock-verify log --check` checks it.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    bundle: BundleArgs,
    #[command(flatten)]
    state: StateArgs,
    /// Enclave registry, HOST:PORT.
    #[arg(long, value_name = "HOST:PORT")]
    registry: String,
    #[command(flatten)]
    reg: RegistryArgs,
    /// Put every repository under this path (`k8s` gives `k8s/kube-apiserver`).
    #[arg(long)]
    prefix: Option<String>,
    /// Directory that files are installed under.
    #[arg(long, value_name = "DIR")]
    dest: PathBuf,
    /// Where the node package mirrors go (the bundle's packages/ subtree: metadata as
    /// upstream signed it, and the packages) [default: DEST/packages]. Serve it with any
    /// web server, or use it with file:; the report gives the sources.list and .repo
    /// lines.
    #[arg(long, value_name = "DIR")]
    packages_dir: Option<PathBuf>,
    /// The URL nodes reach --packages-dir at, for the report's sources.list and .repo
    /// lines [default: its file:// URL].
    #[arg(long, value_name = "URL")]
    packages_url: Option<String>,
    /// Parallel registry requests for presence checks.
    #[arg(long, default_value_t = 8)]
    jobs: usize,
    /// Blob uploads in flight at once; each waits, verified, in the spool directory while
    /// it uploads (disk use: at most this many blobs).
    #[arg(long, default_value_t = 3)]
    uploads: usize,
    /// Spool directory for verified blobs awaiting upload [default: system temp folder].
    #[arg(long, value_name = "DIR")]
    spool: Option<PathBuf>,
    /// Verify every payload byte even when the enclave already holds every image, tag
    /// and file (without it, such a re-install reads only the signatures and the
    /// manifest).
    #[arg(long)]
    verify_payload: bool,
    /// The log head the last change ticket carries (`RECEIPTS:SHA256`, as install and
    /// `log --check` print it): refuse a state directory whose log does not hold it (an
    /// older copy put back would let installs since then happen again).
    #[arg(long, value_name = "HEAD")]
    expect_head: Option<String>,
    /// Print the install record as JSON.
    #[arg(long)]
    json: bool,
    /// No progress bars.
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let started = Timestamp::now();
    // A mistyped option is said before the state directory, its key or a receipt exists.
    check_options(&a)?;
    let expect_head = a
        .expect_head
        .as_deref()
        .map(str::parse::<airlock_verify::state::Head>)
        .transpose()?;
    // So is a receipt key that cannot be opened (a wrong path, a wrong passphrase).
    let key = a.state.receipt_signer()?;
    let dir = a
        .state
        .dir(Some(&a.dest))?
        .ok_or_else(|| anyhow::anyhow!("no state directory"))?;
    // Output directories among the state's files would corrupt the log: refused before
    // any is created.
    for (what, out) in [
        ("--dest", Some(&a.dest)),
        ("--packages-dir", a.packages_dir.as_ref()),
        ("--spool", a.spool.as_ref()),
    ] {
        if let Some(out) = out {
            dir.refuse_overlap(what, out)?;
        }
    }
    // A state that fails its checks refuses the install before anything else.
    let mut enclave = Enclave::open(dir, key)?;
    // Neither is it recorded: this directory is not the one the ticket names.
    if let Some(h) = &expect_head {
        enclave.expect_head(h)?;
    }
    let bundle_arg = a.bundle.path().display().to_string();
    let mut known = None;
    match install(&a, &mut enclave, &mut known) {
        Ok((bundle, report)) => {
            let path =
                record::installed(&mut enclave, &bundle_arg, bundle.signed(), &report, started)?;
            let head = enclave.state().head().map(|h| h.to_string());
            print_report(&a, &report, &path, head.as_deref().unwrap_or("none"))
        }
        Err(e) => {
            let text = airlock_verify::error::chain(e.as_ref());
            match record::failed(&mut enclave, &bundle_arg, known.as_ref(), &text, started) {
                Ok(path) => eprintln!("receipt of the refusal: {path}"),
                Err(log_err) => eprintln!(
                    "warning: could not record the failure in the receipt log: {}",
                    airlock_verify::error::chain(&log_err)
                ),
            }
            Err(e)
        }
    }
}

/// The options that can be wrong on their own, checked before anything is written.
fn check_options(a: &Args) -> airlock_verify::Result<()> {
    airlock_verify::enclave_registry::EnclaveRegistry::check_address(&a.registry)?;
    if let Some(p) = &a.prefix {
        airlock_verify::image_ref::validate_prefix(p)
            .map_err(|e| airlock_verify::Error::invalid("option", "--prefix", e))?;
    }
    if let Some(u) = &a.packages_url {
        airlock_verify::install::mirror::check_url(u)
            .map_err(|e| airlock_verify::Error::invalid("option", "--packages-url", e))?;
    }
    Ok(())
}

/// The bundle an install worked from: signed only (its payload was not read) or verified.
enum Worked {
    Signed(Box<SignedBundle>),
    Verified(Arc<VerifiedBundle>),
}

impl Worked {
    fn signed(&self) -> &SignedBundle {
        match self {
            Worked::Signed(b) => b,
            Worked::Verified(b) => b,
        }
    }
}

fn install(
    a: &Args,
    enclave: &mut Enclave,
    known: &mut Option<record::Known>,
) -> anyhow::Result<(Worked, InstallReport)> {
    for dir in std::iter::once(&a.dest).chain(a.packages_dir.as_ref()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| airlock_verify::Error::io("create directory", dir, e))?;
    }
    let signed = a.bundle.open()?;
    *known = Some(record::Known::of(&signed));
    enclave.check(&signed.identity(), Timestamp::now())?;
    // Before the survey: an install that finds everything held re-checks it too.
    airlock_verify::provenance::require(&signed)?;
    let reg = Arc::new(a.reg.client(&a.registry)?);
    let opts = InstallOptions {
        prefix: a.prefix.clone(),
        dest: a.dest.clone(),
        jobs: a.jobs,
        uploads: a.uploads,
        spool_dir: a.spool.clone(),
        packages_dir: a.packages_dir.clone(),
        packages_url: a.packages_url.clone(),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    // Read-only, from the signed manifest: nothing is written before verification.
    let lacks = rt.block_on(airlock_verify::install::survey(&signed, &reg, &opts))?;
    let why = match airlock_verify::install::decide(&lacks, a.verify_payload) {
        Next::Finish(held) => {
            let report = rt.block_on(airlock_verify::install::held(&signed, &reg, &opts, held))?;
            return Ok((Worked::Signed(Box::new(signed)), report));
        }
        Next::Verify(why) => why,
    };
    let bundle = Arc::new(crate::common::verify_with_bar(signed, !a.quiet && !a.json)?);
    let bar = airlock_verify::progress::bytes_bar("install", !a.quiet && !a.json);
    bar.set_length(bundle.manifest().payload.tar_size);
    let cb = airlock_verify::progress::callback(&bar);
    let report = rt.block_on(airlock_verify::install::install(
        bundle.clone(),
        reg,
        opts,
        why,
        cb,
    ))?;
    bar.finish_and_clear();
    Ok((Worked::Verified(bundle), report))
}

fn print_report(a: &Args, report: &InstallReport, receipt: &str, head: &str) -> anyhow::Result<()> {
    if a.json {
        let mut v = serde_json::to_value(report)?;
        v["receipt"] = receipt.into();
        v["log_head"] = head.into();
        outln!("{}", serde_json::to_string_pretty(&v)?)?;
        return Ok(());
    }
    outln!("OK: {} installed", a.bundle.shown())?;
    match report.payload {
        PayloadRead::NotRead => outln!(
            "  payload not read: {} (signatures, manifest and SHA256SUMS checked; \
             --verify-payload checks every byte)",
            report.payload_reason
        )?,
        PayloadRead::Verified | PayloadRead::VerifiedOnRequest => {
            outln!("  payload verified, every byte: {}", report.payload_reason)?
        }
    }
    for i in &report.images {
        let moved = i
            .tag_moved_from
            .as_deref()
            .map(|d| format!(" (tag moved from {d})"))
            .unwrap_or_default();
        let action = serde_json::to_value(i.action)?;
        outln!(
            "  {} {} -> {}@{}{}",
            action.as_str().unwrap_or_default(),
            i.name,
            i.enclave_ref,
            i.served_digest,
            moved
        )?;
    }
    for f in &report.files {
        let action = serde_json::to_value(f.action)?;
        outln!("  {} {}", action.as_str().unwrap_or_default(), f.path)?;
    }
    if let Some(p) = &report.packages {
        outln!(
            "  package mirrors below {} (AIRLOCK_PACKAGES_URL={}):",
            p.dir,
            p.url
        )?;
        for r in &p.repositories {
            outln!(
                "    {} mirror of {} at {} (metadata signed by {})",
                r.format,
                r.upstream,
                r.path,
                r.signed_by
            )?;
            if let Some(line) = &r.sources_list {
                outln!("      /etc/apt/sources.list.d/kubernetes.list:")?;
                outln!("        {line}")?;
            }
            if let Some(file) = &r.repo_file {
                outln!("      /etc/yum.repos.d/kubernetes.repo:")?;
                for l in file.lines() {
                    outln!("        {l}")?;
                }
            }
        }
        outln!(
            "    the nodes check upstream's signature with the repository key they hold ({} or {})",
            airlock_verify::install::mirror::APT_KEYRING,
            airlock_verify::install::mirror::RPM_KEY
        )?;
    }
    let present = report
        .images
        .iter()
        .filter(|i| i.action == ImageAction::Present)
        .count();
    outln!(
        "  images: {} pushed, {} already complete; blobs: {} uploaded ({} bytes), {} mounted, {} already present",
        report.images.len() - present,
        present,
        report.blobs_pushed,
        report.bytes_pushed,
        report.blobs_mounted,
        report.blobs_present
    )?;
    outln!("  receipt: {receipt}")?;
    outln!(
        "  log head: {head} (carry it on the change ticket; the next install and log --check \
         take it as --expect-head)"
    )?;
    Ok(())
}
