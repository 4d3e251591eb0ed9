//! `airlock-verify fetch`

use std::path::PathBuf;

use airlock_verify::artifact::{self, fetch::Source};
use airlock_verify::registry::ManifestRef;

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
            return Err(airlock_verify::Error::Usage(
                "the reference needs a tag or a digest (HOST:PORT/REPO:TAG)".into(),
            )
            .into());
        }
    };
    let policy = a.trust.policy()?;
    let reg = a.reg.client(&target.registry)?;
    // Downloaded, then verified, bytes; the total is known only once the artifact is read.
    let bar = airlock_verify::progress::bytes_counter("fetch", !a.quiet && !a.json);
    let cb = airlock_verify::progress::callback(&bar);
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
        cb,
    ))?;
    bar.finish_and_clear();
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!("OK: {} fetched and verified", report.reference);
    println!("  artifact {}", report.digest);
    println!(
        "  bundle {} (manifest sha256 {})",
        report.dir.display(),
        report.bundle_manifest_sha256
    );
    println!("  signed by: {}", report.signed_by.join(", "));
    Ok(())
}
