//! `airlock-verify verify`

use std::path::PathBuf;

use crate::common::TrustArgs;

/// Check a bundle: the signatures over manifest.json first, then one streaming pass over
/// the payload that checks every entry's name, type, size and sha256 and the payload's
/// own sha256. Writes nothing.
#[derive(clap::Args)]
pub struct Args {
    /// The bundle directory.
    bundle: PathBuf,
    #[command(flatten)]
    trust: TrustArgs,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let bundle = a.trust.open(&a.bundle)?;
    let bar = airlock::progress::bytes_bar("verify", !a.quiet && !a.json);
    bar.set_length(bundle.manifest.payload.tar_size);
    let cb = airlock::progress::callback(&bar);
    let summary = airlock::bundle::reader::verify(&bundle, &*cb)?;
    bar.finish_and_clear();
    let signers: Vec<String> = bundle
        .signatures
        .iter()
        .map(|s| s.key_id.to_string())
        .collect();
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "bundle": a.bundle,
                "verified": true,
                "manifest_sha256": bundle.manifest_sha256.hex(),
                "hop": bundle.manifest.hop,
                "signed_by": signers,
                "rejected_signatures": bundle.rejected_signatures,
                "entries": summary.entries,
                "bytes": summary.bytes,
                "images": bundle.manifest.images.len(),
                "files": bundle.manifest.files.len(),
            }))?
        );
    } else {
        println!("OK: {} verified", a.bundle.display());
        if let Some(h) = &bundle.manifest.hop {
            println!("  hop: {} -> {}", h.from, h.to);
        }
        println!("  signed by: {}", signers.join(", "));
        for (name, why) in &bundle.rejected_signatures {
            println!("  not counted: {name}: {why}");
        }
        println!(
            "  {} entries, {} bytes; {} images, {} files",
            summary.entries,
            summary.bytes,
            bundle.manifest.images.len(),
            bundle.manifest.files.len()
        );
    }
    Ok(())
}
