//! `airlock-verify log`

use std::path::PathBuf;

use airlock_verify::state::receipts;

use crate::common::StateArgs;

/// Check and list the enclave's receipt log: every receipt's signature (with the enclave
/// key), its place in the chain (index and the hash of the receipt before it), and that
/// the signed state names the last one. Names the first bad entry: an edit, a deletion,
/// an insertion or a reordering is found.
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
    /// Check receipts with this public key instead of the receipt key (for auditors who
    /// hold only the enclave's public key).
    #[arg(long, value_name = "KEY.pub")]
    receipt_pub: Option<PathBuf>,
    /// Print the receipts as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let _ = a.check;
    let dir = match (&a.state.state_dir, &a.dest) {
        (Some(d), _) => airlock_verify::state::StateDir::at(d)?,
        (None, Some(dest)) => airlock_verify::state::StateDir::under_dest(dest)?,
        (None, None) => {
            return Err(
                airlock_verify::Error::Usage("give --dest DIR or --state-dir DIR".into()).into(),
            );
        }
    };
    // Readers share the lock: an install never rewrites the chain under a check.
    dir.lock(false)?;
    let (report, state) = match &a.receipt_pub {
        Some(p) => {
            let key = airlock_verify::trust::PublicKey::load(p)?;
            (receipts::check_chain(&dir, &key)?, None)
        }
        None => {
            let enclave = a.state.enclave(dir)?;
            let report = receipts::check_chain(enclave.dir(), &enclave.public_key())?;
            let state = enclave.state().clone();
            (report, Some(state))
        }
    };
    // The signed state names the last receipt: a deleted tail shows here.
    if let Some(s) = &state
        && (s.receipts != report.receipts || s.last_receipt_sha256 != report.head)
    {
        return Err(airlock_verify::Error::verification(
            "receipt log",
            format!(
                "the signed state names {} receipts (last {}), the log holds {}: receipts \
                 at the end were deleted or replaced",
                s.receipts,
                s.last_receipt_sha256
                    .map(|d| d.hex())
                    .unwrap_or_else(|| "none".into()),
                report.receipts
            ),
        )
        .into());
    }
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "ok": true,
                "receipts": report.receipts,
                "head_sha256": report.head.map(|d| d.hex()),
                "entries": report.entries,
            }))?
        );
        return Ok(());
    }
    for r in &report.entries {
        println!(
            "{:06} {} {:?} {}",
            r.index,
            r.finished,
            r.outcome,
            r.verified
                .as_ref()
                .and_then(|v| v["manifest_sha256"].as_str())
                .unwrap_or("-")
        );
    }
    println!(
        "OK: {} receipt(s), chain intact{}",
        report.receipts,
        if state.is_some() {
            ", state agrees"
        } else {
            ""
        }
    );
    Ok(())
}
