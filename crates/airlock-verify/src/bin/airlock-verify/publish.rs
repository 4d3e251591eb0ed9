//! `airlock-verify publish`

use airlock_verify::artifact;
use airlock_verify::outln;

use crate::common::{BundleArgs, RegistryArgs};

/// Verify a bundle completely, then push it into a registry as an OCI artifact
/// (artifactType application/vnd.airlock.bundle.v1, one layer per bundle file:
/// manifest.json, each signature, SHA256SUMS, payload.tar.zst), so that registry
/// replication carries it to every site of a fleet. Each site then runs `airlock-verify
/// fetch`, which verifies it again. Files the repository already holds are not sent again.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    bundle: BundleArgs,
    /// Where to push: HOST:PORT/REPO:TAG.
    #[arg(long, value_name = "HOST:PORT/REPO:TAG")]
    registry: String,
    #[command(flatten)]
    reg: RegistryArgs,
    /// Print what was pushed as JSON.
    #[arg(long)]
    json: bool,
    /// No progress bars.
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let target = artifact::parse_target(&a.registry, "--registry")?;
    let Some(tag) = target.tag.clone().filter(|_| target.digest.is_none()) else {
        return Err(airlock_verify::Error::usage(
            "--registry needs a tag (HOST:PORT/REPO:TAG); the digest is the artifact's own".into(),
        )
        .into());
    };
    let reg = a.reg.client(&target.registry)?;
    let signed = a.bundle.open()?;
    let bundle = crate::common::verify_with_bar(signed, !a.quiet && !a.json)?;
    let bar = airlock_verify::progress::bytes_bar("publish", !a.quiet && !a.json);
    bar.set_length(bundle.manifest().payload.size + bundle.manifest_size());
    let cb = airlock_verify::progress::callback(&bar);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = rt.block_on(artifact::publish::publish(
        &bundle,
        &reg,
        &target.repository,
        &tag,
        &*cb,
    ))?;
    bar.finish_and_clear();
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&report)?)?;
        return Ok(());
    }
    outln!("OK: {} verified and published", a.bundle.shown())?;
    outln!("  {}@{}", report.reference, report.digest)?;
    for f in &report.files {
        let what = if f.uploaded { "uploaded" } else { "present" };
        outln!("  {what} {} ({} bytes)", f.file, f.size)?;
    }
    for s in &report.skipped {
        outln!("  not published: {s} (its name cannot travel)")?;
    }
    outln!(
        "  fetch it at each site: airlock-verify fetch {}/{}@{} --trust KEY.pub --out DIR",
        target.registry,
        target.repository,
        report.digest
    )?;
    Ok(())
}
