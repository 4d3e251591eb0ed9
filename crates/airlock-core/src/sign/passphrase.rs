//! Where the passphrase of an encrypted secret key comes from, in order: a file named on
//! the command line (`--passphrase-file`), the `AIRLOCK_PASSPHRASE` environment variable,
//! or a prompt on the terminal (never echoed). A passphrase is never printed or logged,
//! and its memory is zeroed when dropped.

use std::io::IsTerminal;
use std::path::PathBuf;

use super::{TrustError, Zeroizing};

/// The environment variable read for a passphrase (automation; prefer a file).
pub const PASSPHRASE_ENV: &str = "AIRLOCK_PASSPHRASE";
/// Largest passphrase file read.
const MAX_PASSPHRASE_FILE: usize = 4096;

/// How to get a passphrase when one is needed.
#[derive(Debug, Clone, Default)]
pub struct PassphraseSource {
    /// A file holding the passphrase (its first line).
    pub file: Option<PathBuf>,
}

impl PassphraseSource {
    /// The passphrase for `what` (e.g. "secret key keys/alice.key"); `confirm` asks twice
    /// on a terminal (for a new key).
    pub fn get(&self, what: &str, confirm: bool) -> Result<Zeroizing<String>, TrustError> {
        if let Some(path) = &self.file {
            let bytes = Zeroizing::new(super::read_limited(path, MAX_PASSPHRASE_FILE)?);
            let text = std::str::from_utf8(&bytes).map_err(|_| TrustError::Malformed {
                artifact: path.display().to_string(),
                reason: "passphrase file is not UTF-8".into(),
            })?;
            let line = text.lines().next().unwrap_or("");
            return non_empty(
                Zeroizing::new(line.to_string()),
                &path.display().to_string(),
            );
        }
        if let Ok(v) = std::env::var(PASSPHRASE_ENV) {
            return non_empty(Zeroizing::new(v), PASSPHRASE_ENV);
        }
        if !std::io::stdin().is_terminal() {
            return Err(TrustError::InvalidKey {
                artifact: what.to_string(),
                reason: format!(
                    "needs a passphrase: give --passphrase-file FILE or set {PASSPHRASE_ENV}, \
                     or run on a terminal"
                ),
            });
        }
        let prompt = |p: &str| {
            rpassword::prompt_password(p)
                .map(Zeroizing::new)
                .map_err(|e| TrustError::Io {
                    path: PathBuf::from("/dev/tty"),
                    source: e,
                })
        };
        let first = prompt(&format!("Passphrase for {what}: "))?;
        if confirm {
            let again = prompt("Again: ")?;
            if *again != *first {
                return Err(TrustError::InvalidKey {
                    artifact: what.to_string(),
                    reason: "the two passphrases differ".into(),
                });
            }
        }
        non_empty(first, "the terminal")
    }
}

fn non_empty(p: Zeroizing<String>, from: &str) -> Result<Zeroizing<String>, TrustError> {
    if p.is_empty() {
        return Err(TrustError::InvalidKey {
            artifact: from.to_string(),
            reason: "empty passphrase (use --no-passphrase for an unprotected key)".into(),
        });
    }
    Ok(p)
}
