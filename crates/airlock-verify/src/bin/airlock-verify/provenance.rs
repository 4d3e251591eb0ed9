//! `airlock-verify provenance`

use std::path::PathBuf;

use airlock_verify::escape::Untrusted;
use airlock_verify::outln;
use airlock_verify::provenance::{Outcome, recheck};

use crate::common::BundleArgs;

/// Check a bundle's signatures as `verify` does, then re-check offline the upstream Sigstore
/// evidence it carries under provenance/: each image and file's Sigstore bundle against the trusted
/// root (the carried one, or the enclave's own with --trusted-root) and the policy the
/// signed manifest records for it: the Kubernetes release identities (krel-trust@ for
/// images, krel-staging@ for files, issuer https://accounts.google.com), an add-on's
/// identity and issuer, or an add-on's carried cosign key. Prints one line per artifact: identity,
/// issuer, log index and integrated time, or `exception:` for an artifact resolve let in
/// with --allow-unsigned. Each evidence file is read against the size and sha256 the signed
/// manifest lists; the payload is not read (it holds no evidence, and the artifacts'
/// digests the evidence is checked against are the signed manifest's): `verify` and
/// `install` check every payload byte. Exit 0 when every signature passes; 3 when the
/// bundle's signatures fail the trust policy, it carries no evidence, an evidence file is
/// missing or altered, or one artifact's check fails (named); 4 for a trusted root that
/// cannot be read or parsed. Writes nothing.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    bundle: BundleArgs,
    /// The enclave's pinned Sigstore trusted_root.json to check against instead of the one
    /// the bundle carries (which the bundle's signers chose).
    #[arg(long, value_name = "FILE")]
    trusted_root: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    /// Accepted as on every command that takes a bundle; this one shows no progress bar
    /// either way (it reads no payload).
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let _no_bar_to_hide = a.quiet;
    let pinned = match &a.trusted_root {
        Some(p) => Some((
            p.display().to_string(),
            airlock_verify::fsutil::read_limited(
                p,
                airlock_provenance::MAX_TRUSTED_ROOT as u64,
                "trusted root",
            )?,
        )),
        None => None,
    };
    // The signed manifest is enough: the evidence files are checked against it, and
    // reading the payload would make this take as long as `verify` for no added proof.
    let bundle = a.bundle.open()?;
    let results = recheck(
        &bundle,
        pinned.as_ref().map(|(o, b)| (o.as_str(), b.as_slice())),
    )?;
    if a.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "bundle": a.bundle.path().display().to_string(),
                "trusted_root": a.trusted_root.as_ref().map_or_else(
                    || airlock_verify::layout::PROVENANCE_TRUSTED_ROOT.to_owned(),
                    |p| p.display().to_string(),
                ),
                "artifacts": results,
            }))?
        )?;
        return Ok(());
    }
    for r in &results {
        match &r.outcome {
            Outcome::Signed {
                identity,
                issuer,
                log_index,
                integrated_time,
            } => outln!(
                "{}: signed by {}{}, log index {log_index}, integrated time {}",
                Untrusted(&r.artifact),
                Untrusted(identity),
                // A cosign key (`key sha256:…`) has no OIDC issuer.
                if issuer.is_empty() {
                    String::new()
                } else {
                    format!(" (issuer {})", Untrusted(issuer))
                },
                airlock_verify::time::Timestamp(*integrated_time),
            )?,
            Outcome::Exception(reason) => outln!(
                "{}: exception: {}",
                Untrusted(&r.artifact),
                Untrusted(reason)
            )?,
        }
    }
    Ok(())
}
