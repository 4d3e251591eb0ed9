//! `airlock-verify verify`

use std::path::PathBuf;

use airlock_verify::escape::Untrusted;

use crate::common::TrustArgs;

/// Check a bundle: the signatures over manifest.json first, then one streaming pass over
/// the payload that checks every entry's header, size and sha256 and the payload's own
/// sha256. Writes nothing.
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
    let signed = a.trust.open(&a.bundle)?;
    let bar = airlock_verify::progress::bytes_bar("verify", !a.quiet && !a.json);
    bar.set_length(signed.manifest().payload.tar_size);
    let cb = airlock_verify::progress::callback(&bar);
    let bundle = signed.verify(&*cb)?;
    bar.finish_and_clear();
    let m = bundle.manifest();
    let signers: Vec<String> = bundle
        .signatures()
        .iter()
        .map(|s| s.key_id.to_string())
        .collect();
    let summary = bundle.summary();
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "bundle": a.bundle,
                "verified": true,
                "manifest_sha256": bundle.manifest_sha256().hex(),
                "hop": m.hop,
                "signed_by": signers,
                "rejected_signatures": bundle.rejected(),
                "entries": summary.entries,
                "bytes": summary.bytes,
                "images": m.images.len(),
                "files": m.files.len(),
            }))?
        );
    } else {
        println!("OK: {} verified", a.bundle.display());
        if let Some(h) = &m.hop {
            println!("  hop: {} -> {}", Untrusted(&h.from), Untrusted(&h.to));
        }
        println!("  signed by: {}", signers.join(", "));
        for r in bundle.rejected() {
            println!("  not counted: {}: {}", r.file, r.reason);
        }
        println!(
            "  {} entries, {} bytes; {} images, {} files",
            summary.entries,
            summary.bytes,
            m.images.len(),
            m.files.len()
        );
    }
    Ok(())
}
