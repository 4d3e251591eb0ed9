//! `airlock-verify state`

use airlock_verify::state::{Enclave, StateDir};

use crate::common::StateArgs;

/// Show the enclave's signed state, or rebuild it from the receipt log.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Print the state (installed sequences per channel, latest time seen, log head).
    Show {
        #[command(flatten)]
        state: StateArgs,
    },
    /// Rebuild a missing or damaged state from the receipt log, after checking every
    /// receipt. Use it only when the receipts are intact: receipts deleted from the end
    /// cannot be told from receipts never written.
    Recover {
        #[command(flatten)]
        state: StateArgs,
    },
}

pub fn run(a: Args) -> anyhow::Result<()> {
    match a.command {
        Command::Show { state } => {
            let dir = need_dir(&state)?;
            let enclave = state.enclave(dir)?;
            println!("{}", serde_json::to_string_pretty(enclave.state())?);
        }
        Command::Recover { state } => {
            let dir = need_dir(&state)?;
            let key = match &state.receipt_key {
                Some(_) => Some(airlock_verify::trust::load_secret_key_with(
                    state
                        .receipt_key
                        .as_deref()
                        .unwrap_or(std::path::Path::new("")),
                    &airlock_verify::trust::PassphraseSource {
                        file: state.passphrase_file.clone(),
                    },
                )?),
                None => None,
            };
            let s = Enclave::recover(dir, key)?;
            println!("state rebuilt from {} receipt(s):", s.receipts);
            println!("{}", serde_json::to_string_pretty(&s)?);
        }
    }
    Ok(())
}

fn need_dir(s: &StateArgs) -> anyhow::Result<StateDir> {
    let d = s.state_dir.as_ref().ok_or_else(|| {
        airlock_verify::Error::Usage(
            "give --state-dir DIR (for an install's default, DEST/.airlock)".into(),
        )
    })?;
    Ok(StateDir::at(d)?)
}
