//! `airlock-verify export`

use std::path::PathBuf;

use airlock_verify::export::{ExportOptions, Format};
use airlock_verify::oci::Platform;
use airlock_verify::outln;

use crate::common::BundleArgs;

/// Verify a bundle completely, then write one archive per image into --out, for nodes
/// without any registry: `ctr images import`, `docker load`, `skopeo copy
/// oci-archive:FILE ...` or `docker-archive:FILE ...`.
///
/// oci-archive keeps every platform the bundle carries (an OCI image layout with the
/// image's index), unless --platform picks one. docker-archive (the `docker save` layout)
/// holds one platform: linux/amd64 unless --platform says otherwise. Archives are
/// byte-for-byte reproducible and appear under their names only once every byte in them
/// verified again.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    bundle: BundleArgs,
    /// Archive format: oci-archive or docker-archive.
    #[arg(long, value_name = "FORMAT")]
    format: Format,
    /// Directory the archives are written to (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// One platform per archive, os/arch[/variant] [docker-archive default: linux/amd64].
    #[arg(long, value_name = "OS/ARCH")]
    platform: Option<Platform>,
    /// Replace archives that already exist.
    #[arg(long)]
    force: bool,
    /// Print what was written as JSON.
    #[arg(long)]
    json: bool,
    /// No progress bars.
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let signed = a.bundle.open()?;
    let tar_size = signed.manifest().payload.tar_size;
    let bundle = crate::common::verify_with_bar(signed, !a.quiet && !a.json)?;
    let bar = airlock_verify::progress::bytes_bar("export", !a.quiet && !a.json);
    // A second pass reads the platform manifests first when one platform is picked.
    let passes = if a.platform.is_some() || a.format == Format::DockerArchive {
        2
    } else {
        1
    };
    bar.set_length(tar_size * passes);
    let cb = airlock_verify::progress::callback(&bar);
    let opts = ExportOptions {
        format: a.format,
        out: a.out.clone(),
        platform: a.platform.clone(),
        force: a.force,
    };
    let written = airlock_verify::export::export(&bundle, &opts, &*cb)?;
    bar.finish_and_clear();
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&written)?)?;
        return Ok(());
    }
    outln!(
        "OK: {} verified; {} archives in {}",
        a.bundle.path().display(),
        written.len(),
        a.out.display()
    )?;
    for e in &written {
        let platform = e
            .platform
            .as_ref()
            .map(|p| format!(" [{p}]"))
            .unwrap_or_default();
        outln!(
            "  {} <- {}@{}{platform} ({} bytes)",
            e.archive.display(),
            e.image,
            e.digest,
            e.size
        )?;
    }
    Ok(())
}
