//! `airlock-verify log`

use std::path::PathBuf;

use airlock_verify::outln;
use airlock_verify::state::{self, Head, StateDir};

use crate::common::StateArgs;

/// Check and list the enclave's receipt log: every receipt's signature (with the enclave's
/// public key), its place in the chain (index and the hash of the receipt before it), and
/// that the signed state names the last one. Names the first bad entry: an edit, a
/// deletion, an insertion or a reordering is found. Reads only: writes nothing.
///
/// An older copy of the whole state directory put back passes these checks (every
/// signature in it is good); --expect-head, with the head the last install printed and
/// its change ticket carries, finds it.
#[derive(clap::Args)]
pub struct Args {
    /// Check the whole chain (the default; kept for scripts that say it).
    #[arg(long)]
    check: bool,
    /// The destination directory whose `.airlock` state to read (or give --state-dir).
    #[arg(long, value_name = "DIR")]
    dest: Option<PathBuf>,
    #[command(flatten)]
    state: StateArgs,
    /// Check receipts with this public key (the enclave's; for auditors, and for state
    /// whose receipts were signed with a --receipt-key kept elsewhere).
    #[arg(long, value_name = "KEY.pub")]
    receipt_pub: Option<PathBuf>,
    /// The log head the last change ticket carries (`RECEIPTS:SHA256`, as install prints
    /// it): the log must still hold that receipt, or it is an older copy put back.
    #[arg(long, value_name = "HEAD")]
    expect_head: Option<String>,
    /// Print the receipts as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let _ = a.check;
    let expect_head = a
        .expect_head
        .as_deref()
        .map(str::parse::<Head>)
        .transpose()?;
    let Some(dir) = StateDir::existing(a.state.state_dir.as_deref(), a.dest.as_deref())? else {
        let path = a
            .state
            .state_dir
            .clone()
            .or_else(|| a.dest.as_ref().map(|d| d.join(".airlock")))
            .unwrap_or_default();
        return Err(state::nothing_here(&path).into());
    };
    // Readers share the lock: an install never rewrites the chain under a check.
    dir.lock(false)?;
    if state::is_empty(&dir)? {
        return Err(state::nothing_here(dir.path()).into());
    }
    let key = crate::common::reading_key(&a.state, a.receipt_pub.as_deref(), &dir)?;
    let audit = state::audit(&dir, &key)?;
    let log = dir.path().join(state::receipts::RECEIPTS_DIR);
    if let Some(h) = &expect_head {
        h.check(&audit.chain, &log)?;
    }
    let head = audit.state.head();
    if a.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "ok": true,
                "receipts": audit.chain.receipts,
                "head_sha256": audit.chain.head.map(|d| d.hex()),
                "head": head.map(|h| h.to_string()),
                "expected_head_held": expect_head.is_some(),
                "entries": audit.chain.entries,
            }))?
        )?;
        return Ok(());
    }
    for r in &audit.chain.entries {
        outln!(
            "{:06} {} {:?} {}",
            r.index,
            r.finished,
            r.outcome,
            r.verified
                .as_ref()
                .and_then(|v| v["manifest_sha256"].as_str())
                .unwrap_or("-")
        )?;
    }
    let head_text = head.map(|h| h.to_string()).unwrap_or_else(|| "none".into());
    outln!(
        "OK: {} receipt(s), chain intact, state agrees; head {head_text}",
        audit.chain.receipts
    )?;
    match &expect_head {
        Some(h) => outln!("the log holds the expected head {h}: not an older copy")?,
        None => outln!(
            "note: this shows the log authentic and whole up to its head, not that it is the \
             latest: an older copy of this directory put back passes too. Compare the head \
             with the one on the last change ticket (--expect-head HEAD)."
        )?,
    }
    Ok(())
}
