//! `airlock-verify verify`

use airlock_verify::escape::Untrusted;
use airlock_verify::outln;

use crate::common::BundleArgs;

/// Check a bundle: the signatures over manifest.json first, then one streaming pass over
/// the payload that checks every entry's header, size and sha256 and the payload's own
/// sha256. A payload in volumes: each volume's size and start (parity volumes: all of
/// it) are checked first, each data volume's sha256 as the stream leaves it; on any
/// damage every volume is read and the error names every one that is missing,
/// truncated, corrupt, out of order or from another bundle (`repair` rebuilds them when
/// the bundle has parity). Writes nothing.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    bundle: BundleArgs,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let result = check(&a);
    if a.json
        && let Err(e) = &result
    {
        // A script reading --json gets an answer on failure too (the message is also on
        // stderr, as for every command).
        let answer = serde_json::json!({
            "bundle": a.bundle.path().display().to_string(),
            "verified": false,
            "error": airlock_verify::error::chain(e.as_ref()),
            "exit_code": airlock_verify::cli::exit_code(e, |_| None),
        });
        // The verdict's own exit code (3 for an untrusted bundle) wins over a reader that
        // went away before the answer was printed.
        let _ = outln!("{answer:#}");
    }
    result
}

fn check(a: &Args) -> anyhow::Result<()> {
    let signed = a.bundle.open()?;
    let bundle = crate::common::verify_with_bar(signed, !a.quiet && !a.json)?;
    let m = bundle.manifest();
    let eval = bundle.evaluation();
    let summary = bundle.summary();
    if a.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "bundle": a.bundle.path().display().to_string(),
                "verified": true,
                "manifest_sha256": bundle.manifest_sha256().hex(),
                "hop": m.hop,
                "channel": m.channel,
                "sequence": m.sequence,
                "not_before": m.not_before,
                "expires": m.expires,
                "outside_window": bundle.outside_window(),
                "signed_by": eval.counted.iter().map(|c| &c.key_id).collect::<Vec<_>>(),
                "approvals": eval,
                "entries": summary.entries,
                "bytes": summary.bytes,
                "images": m.images.len(),
                "files": m.files.len(),
                "volumes": m.payload.volumes.len(),
                "parity_volumes": m.payload.parity.as_ref().map(|p| p.volumes.len()).unwrap_or(0),
                "delta_bases": m.delta.as_ref().map(|d| &d.bases),
            }))?
        )?;
        return Ok(());
    }
    outln!("OK: {} verified", a.bundle.shown())?;
    if let Some(h) = &m.hop {
        outln!("  hop: {} -> {}", Untrusted(&h.from), Untrusted(&h.to))?;
    }
    if let (Some(ch), Some(seq)) = (&m.channel, m.sequence) {
        outln!("  channel {} sequence {seq}", Untrusted(ch))?;
    }
    if m.not_before.is_some() || m.expires.is_some() {
        let show = |t: Option<airlock_verify::time::Timestamp>| {
            t.map(|t| t.to_string()).unwrap_or_else(|| "-".into())
        };
        outln!("  window: {} to {}", show(m.not_before), show(m.expires))?;
    }
    if let Some(w) = bundle.outside_window() {
        outln!("  WARNING: accepted with --allow-expired: the bundle is {w}")?;
    }
    for c in &eval.counted {
        outln!(
            "  approved: {} ({}{})",
            Untrusted(&c.name),
            c.key_id,
            c.role
                .as_deref()
                .map(|r| format!(", {r}"))
                .unwrap_or_default()
        )?;
    }
    for n in &eval.not_counted {
        outln!("  not counted: {}: {}", n.file, n.reason)?;
    }
    if !m.payload.volumes.is_empty() {
        outln!(
            "  {} data volume(s), {} parity volume(s), each checked",
            m.payload.volumes.len(),
            m.payload
                .parity
                .as_ref()
                .map(|p| p.volumes.len())
                .unwrap_or(0)
        )?;
    }
    if let Some(d) = &m.delta {
        outln!(
            "  delta: {} blobs and files left out; install needs the enclave to hold what {} base(s) carried",
            d.omitted.len(),
            d.bases.len()
        )?;
    }
    outln!(
        "  {} entries, {} bytes; {} images, {} files",
        summary.entries,
        summary.bytes,
        m.images.len(),
        m.files.len()
    )?;
    Ok(())
}
