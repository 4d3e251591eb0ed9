//! `airlock-verify state`

use std::path::PathBuf;

use airlock_verify::outln;
use airlock_verify::state::{self, Enclave, StateDir};

use crate::common::StateArgs;

/// Show the enclave's signed state, rebuild it from the receipt log, or reset its clock
/// floor.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Print the state (installed sequences per channel, latest time seen, log head).
    /// Reads only; the public key is enough (--receipt-pub).
    Show {
        #[command(flatten)]
        state: StateArgs,
        /// Check the state with this public key (the enclave's).
        #[arg(long, value_name = "KEY.pub")]
        receipt_pub: Option<PathBuf>,
    },
    /// Rebuild a missing or damaged state from the receipt log, after checking every
    /// receipt; a receipt half-written by a crash at the end of the log is removed and
    /// the recovery is recorded in a receipt of its own. Use it only when the receipts
    /// are intact: receipts deleted from the end cannot be told from receipts never
    /// written.
    Recover {
        #[command(flatten)]
        state: StateArgs,
    },
    /// Clear the clock floor (the latest time seen, which a clock earlier than is
    /// refused) when a wrong clock set it; the next install inside its bundle's window
    /// sets it again. Appends a signed receipt with the reason and the floor cleared.
    ResetClock {
        #[command(flatten)]
        state: StateArgs,
        /// Why (recorded in the receipt), e.g. the change ticket.
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
}

pub fn run(a: Args) -> anyhow::Result<()> {
    match a.command {
        Command::Show { state, receipt_pub } => show(&state, receipt_pub),
        Command::Recover { state } => {
            let dir = need_dir(&state)?;
            let key = secret_key(&state)?;
            let s = Enclave::recover(dir, key)?;
            outln!("state rebuilt from {} receipt(s):", s.receipts)?;
            outln!("{}", serde_json::to_string_pretty(&s)?)?;
            Ok(())
        }
        Command::ResetClock { state, reason } => {
            if reason.trim().is_empty() {
                return Err(airlock_verify::Error::usage(
                    "--reason must say why the clock floor is reset (it goes into the receipt)"
                        .into(),
                )
                .into());
            }
            let dir = need_dir(&state)?;
            let mut enclave = Enclave::open(dir, state.receipt_signer()?)?;
            let path = enclave.reset_clock(&reason)?;
            outln!("clock floor cleared; receipt: {path}")?;
            if let Some(h) = enclave.state().head() {
                outln!("log head: {h}")?;
            }
            Ok(())
        }
    }
}

fn show(state: &StateArgs, receipt_pub: Option<PathBuf>) -> anyhow::Result<()> {
    let path = state.state_dir.as_deref().ok_or_else(usage)?;
    let Some(dir) = StateDir::existing(Some(path), None)? else {
        return Err(state::nothing_here(path).into());
    };
    dir.lock(false)?;
    if state::is_empty(&dir)? {
        return Err(state::nothing_here(path).into());
    }
    let key = crate::common::reading_key(state, receipt_pub.as_deref(), &dir)?;
    // Without the state file, the audit names what is wrong (receipts beside no state).
    let s = match state::load(&dir, &key)? {
        Some(s) => s,
        None => state::audit(&dir, &key)?.state,
    };
    outln!("{}", serde_json::to_string_pretty(&s)?)?;
    Ok(())
}

fn secret_key(state: &StateArgs) -> anyhow::Result<Option<Box<dyn airlock_verify::sign::Signer>>> {
    Ok(state.receipt_signer()?)
}

fn usage() -> airlock_verify::Error {
    airlock_verify::Error::usage(
        "give --state-dir DIR (for an install's default, DEST/.airlock)".into(),
    )
}

fn need_dir(s: &StateArgs) -> anyhow::Result<StateDir> {
    let d = s.state_dir.as_ref().ok_or_else(usage)?;
    Ok(StateDir::at(d)?)
}
