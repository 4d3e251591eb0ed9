//! `airlock-verify fetch`

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use airlock_verify::artifact::{self, fetch::Deadlines, fetch::Progress, fetch::Source};
use airlock_verify::enclave_registry::ManifestRef;
use airlock_verify::outln;

use crate::common::{RegistryArgs, TrustArgs};

/// Pull a bundle that `publish` pushed (HOST:PORT/REPO:TAG or HOST:PORT/REPO@sha256:...)
/// into --out, verify it exactly as `verify` would, and only then give the directory its
/// name. Every file is checked against the artifact's digests as it arrives; a bundle
/// that fails verification is removed, never left looking valid. Install it from --out.
#[derive(clap::Args)]
pub struct Args {
    /// The artifact: HOST:PORT/REPO:TAG or HOST:PORT/REPO@sha256:DIGEST.
    #[arg(value_name = "HOST:PORT/REPO:TAG")]
    reference: String,
    #[command(flatten)]
    trust: TrustArgs,
    /// The bundle directory to create (must not exist).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    #[command(flatten)]
    reg: RegistryArgs,
    /// Give up when the download (artifact and every layer; not the verification after it)
    /// has not finished after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 4 * 3600)]
    timeout: u64,
    /// Give up when the registry sends no byte of a layer for this many seconds.
    #[arg(long = "stall-timeout", value_name = "SECS", default_value_t = 60)]
    stall_timeout: u64,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    /// No progress bars.
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let target = artifact::parse_target(&a.reference, "reference")?;
    let reference = match (&target.digest, &target.tag) {
        (Some(d), _) => ManifestRef::Digest(d),
        (None, Some(t)) => ManifestRef::Tag(t),
        (None, None) => {
            return Err(airlock_verify::Error::usage(
                "the reference needs a tag or a digest (HOST:PORT/REPO:TAG)".into(),
            )
            .into());
        }
    };
    for (secs, name) in [
        (a.timeout, "--timeout"),
        (a.stall_timeout, "--stall-timeout"),
    ] {
        if secs == 0 {
            return Err(airlock_verify::Error::usage(format!("{name} must be at least 1")).into());
        }
    }
    let deadlines = Deadlines {
        total: Duration::from_secs(a.timeout),
        stall: Duration::from_secs(a.stall_timeout),
    };
    let policy = a.trust.policy()?;
    let reg = a.reg.client(&target.registry)?;
    // Downloaded, then verified, bytes: one bar, started again with each phase's total
    // (known only once the artifact, then the bundle's manifest, is read).
    let bar = airlock_verify::progress::bytes_bar("fetch", !a.quiet && !a.json);
    let phase_bar = bar.clone();
    let progress = Progress {
        on_phase: Arc::new(move |name, total| {
            phase_bar.set_message(name);
            phase_bar.set_position(0);
            phase_bar.set_length(total);
        }),
        on_bytes: airlock_verify::progress::callback(&bar),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = rt.block_on(artifact::fetch::fetch(
        &reg,
        Source {
            repo: &target.repository,
            reference,
        },
        &a.out,
        policy,
        deadlines,
        progress,
    ))?;
    bar.finish_and_clear();
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&report)?)?;
        return Ok(());
    }
    outln!("OK: {} fetched and verified", report.reference)?;
    outln!("  artifact {}", report.digest)?;
    outln!(
        "  bundle {} (manifest sha256 {})",
        report.dir.display(),
        report.bundle_manifest_sha256
    )?;
    outln!("  signed by: {}", report.signed_by.join(", "))?;
    Ok(())
}
