//! Where the passphrase of an encrypted secret key comes from, in order: a file named on
//! the command line (`--passphrase-file`), the `AIRLOCK_PASSPHRASE` environment variable,
//! or a prompt on the terminal (never echoed). A passphrase is never printed or logged,
//! and its memory is zeroed when dropped. A token's PIN comes the same way
//! ([`PassphraseSource::get_pin`]: `--pin-file`, `AIRLOCK_PKCS11_PIN`, a prompt).

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
        self.get_secret(what, confirm, &PASSPHRASE)
    }

    /// The PIN of the token holding `what` (a `pkcs11:` URI), asked once.
    pub fn get_pin(&self, what: &str) -> Result<Zeroizing<String>, TrustError> {
        self.get_secret(what, false, &PIN)
    }

    fn get_secret(
        &self,
        what: &str,
        confirm: bool,
        kind: &Kind,
    ) -> Result<Zeroizing<String>, TrustError> {
        if let Some(path) = &self.file {
            let bytes = Zeroizing::new(super::read_limited(path, MAX_PASSPHRASE_FILE)?);
            let text = std::str::from_utf8(&bytes).map_err(|_| TrustError::Malformed {
                artifact: path.display().to_string(),
                reason: format!("{} file is not UTF-8", kind.word),
            })?;
            let line = text.lines().next().unwrap_or("");
            return non_empty(
                Zeroizing::new(line.to_string()),
                &path.display().to_string(),
                kind,
            );
        }
        if let Ok(v) = std::env::var(kind.env) {
            return non_empty(Zeroizing::new(v), kind.env, kind);
        }
        if !std::io::stdin().is_terminal() {
            return Err(TrustError::InvalidKey {
                artifact: what.to_string(),
                reason: format!(
                    "needs a {}: give {} FILE or set {}, or run on a terminal",
                    kind.word, kind.flag, kind.env
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
        let first = prompt(&format!("{} for {what}: ", kind.prompt))?;
        if confirm {
            let again = prompt("Again: ")?;
            if *again != *first {
                return Err(TrustError::InvalidKey {
                    artifact: what.to_string(),
                    reason: format!("the two {}s differ", kind.word),
                });
            }
        }
        non_empty(first, "the terminal", kind)
    }
}

/// What is asked for, and where it may come from.
struct Kind {
    word: &'static str,
    prompt: &'static str,
    flag: &'static str,
    env: &'static str,
    empty: &'static str,
}

const PASSPHRASE: Kind = Kind {
    word: "passphrase",
    prompt: "Passphrase",
    flag: "--passphrase-file",
    env: PASSPHRASE_ENV,
    empty: "empty passphrase (use --no-passphrase for an unprotected key)",
};

const PIN: Kind = Kind {
    word: "PIN",
    prompt: "PIN",
    flag: "--pin-file",
    env: super::PKCS11_PIN_ENV,
    empty: "empty PIN",
};

fn non_empty(
    p: Zeroizing<String>,
    from: &str,
    kind: &Kind,
) -> Result<Zeroizing<String>, TrustError> {
    if p.is_empty() {
        return Err(TrustError::InvalidKey {
            artifact: from.to_string(),
            reason: kind.empty.into(),
        });
    }
    Ok(p)
}
