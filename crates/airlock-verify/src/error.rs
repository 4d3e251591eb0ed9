//! The enclave side's error type.
//!
//! It wraps the trust core's [`airlock_core::Error`] (files, input, paths, the bundle
//! format, trust) and adds what only the enclave meets: registries, installs, its state.
//!
//! Every variant names the artifact it is about (a path, an image, a bundle entry) and
//! what failed; the underlying cause, when there is one, is kept as the error's `source()`
//! rather than pasted into the message, so a chain printed with `{:#}` shows each reason
//! once. The person reading it is often on the far side of an air gap and cannot rerun
//! anything with more logging.
//!
//! Exit codes (see `docs/cli.md`): 3 means "do not trust this bundle", which scripts must
//! treat differently from bad input (4), a usage error (2) or an operational failure (1).

use std::path::PathBuf;

use airlock_core::trust::TrustError;

pub use airlock_core::error::chain;

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, with the artifact it went wrong on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Files, input, paths, the bundle format, signatures: the trust core's cases.
    #[error(transparent)]
    Core(#[from] airlock_core::Error),
    /// A registry answered something other than what the distribution spec allows, or
    /// refused the request.
    #[error("registry {target}: {action}: {reason}")]
    Registry {
        /// `HOST/REPOSITORY[@DIGEST|:TAG]`.
        target: String,
        /// What airlock asked for ("upload blob", "push manifest", ...).
        action: &'static str,
        /// The registry's answer.
        reason: String,
    },
    /// A registry could not be reached or the transfer broke off.
    #[error("registry {target}: {action}: transfer failed")]
    RegistryTransport {
        /// `HOST/REPOSITORY...`.
        target: String,
        /// What airlock asked for.
        action: &'static str,
        /// The transport's reason (connection refused, TLS, timeout ...).
        #[source]
        source: reqwest::Error,
    },
    /// Installing into the enclave failed for a reason that is not one of the above.
    #[error("install {target}: {reason}")]
    Install {
        /// The registry repository or destination file.
        target: String,
        /// Why.
        reason: String,
    },
    /// The enclave key that signed a state directory is gone; minting a new one would
    /// make every receipt unverifiable, so nothing is written (exit 4).
    #[error(
        "the enclave key is missing; restore it: {}/enclave.key signed this state and its \
         receipts (or give --receipt-key KEY if they were signed with a key kept elsewhere)",
        dir.display()
    )]
    EnclaveKeyMissing {
        /// The state directory.
        dir: PathBuf,
    },
    /// The receipt log holds an append that a crash interrupted; `state recover`
    /// finishes it on record (exit 1: nothing was tampered with).
    #[error(
        "receipt log {}: {what}: an append was interrupted (a crash between its writes); \
         run `airlock-verify state recover --state-dir {}` to finish it, on record",
        dir.join("receipts").display(),
        dir.display()
    )]
    StateInterrupted {
        /// The state directory.
        dir: PathBuf,
        /// What was found.
        what: String,
    },
    /// The system clock reads a time airlock will not record (exit 1: fix the clock).
    #[error("clock: {reason}")]
    Clock {
        /// What is wrong with it, and what to do.
        reason: String,
    },
    /// An error with what airlock was doing when it happened.
    #[error("{context}")]
    Context {
        /// What airlock was doing ("hop 2 of 3", "writing bundle DIR").
        context: String,
        /// The error.
        #[source]
        source: Box<Error>,
    },
}

impl From<TrustError> for Error {
    fn from(e: TrustError) -> Self {
        Error::Core(e.into())
    }
}

impl From<airlock_core::paths::UnsafePath> for Error {
    fn from(e: airlock_core::paths::UnsafePath) -> Self {
        Error::Core(e.into())
    }
}

impl airlock_core::verify::VisitError for Error {
    fn as_core(&self) -> Option<&airlock_core::Error> {
        match self {
            Error::Core(c) => Some(c),
            _ => None,
        }
    }
}

impl Error {
    /// Helper for [`airlock_core::Error::Io`].
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        airlock_core::Error::io(action, path, source).into()
    }

    /// Helper for [`airlock_core::Error::Invalid`].
    pub fn invalid(what: &'static str, origin: impl ToString, reason: impl ToString) -> Self {
        airlock_core::Error::invalid(what, origin, reason).into()
    }

    /// Helper for [`airlock_core::Error::RecordCheck`]: the enclave's own state, receipts
    /// or inventory fail their checks (exit 3).
    pub fn record_check(artifact: impl AsRef<str>, reason: impl ToString) -> Self {
        airlock_core::Error::record_check(artifact, reason).into()
    }

    /// Helper for [`airlock_core::Error::Verification`]; the artifact name is escaped
    /// because it may come from the bundle.
    pub fn verification(artifact: impl AsRef<str>, reason: impl ToString) -> Self {
        airlock_core::Error::verification(artifact, reason).into()
    }

    /// Helper for [`airlock_core::Error::Usage`] (exit code 2).
    pub fn usage(reason: String) -> Self {
        airlock_core::Error::Usage(reason).into()
    }

    /// Helper for [`airlock_core::Error::AlreadyExists`].
    pub fn already_exists(path: impl Into<PathBuf>) -> Self {
        airlock_core::Error::AlreadyExists { path: path.into() }.into()
    }

    /// Helper for [`airlock_core::Error::UnsafePath`].
    pub fn unsafe_path(path: impl Into<String>, reason: impl Into<String>) -> Self {
        airlock_core::Error::UnsafePath {
            path: path.into(),
            reason: reason.into(),
        }
        .into()
    }

    /// Wrap with what was being done.
    pub fn context(self, context: impl Into<String>) -> Self {
        Error::Context {
            context: context.into(),
            source: Box::new(self),
        }
    }

    /// The innermost airlock error (under any number of [`Error::Context`] layers).
    pub fn root(&self) -> &Error {
        match self {
            Error::Context { source, .. } => source.root(),
            other => other,
        }
    }

    /// The innermost trust core error, if the root is one (under the core's own
    /// context layers too).
    pub fn core_root(&self) -> Option<&airlock_core::Error> {
        match self.root() {
            Error::Core(c) => Some(c.root()),
            _ => None,
        }
    }

    /// The process exit code the CLIs use for this error (see `docs/cli.md`).
    pub fn exit_code(&self) -> u8 {
        match self.root() {
            Error::Core(c) => c.exit_code(),
            Error::EnclaveKeyMissing { .. } => 4,
            _ => 1,
        }
    }
}

/// `.context(...)` on results, like anyhow's, but keeping the typed error.
pub trait ResultExt<T> {
    /// Wrap the error with what was being done.
    fn context(self, context: impl Into<String>) -> Result<T>;
    /// Wrap the error with what was being done, computed only on error.
    fn with_context<F: FnOnce() -> String>(self, f: F) -> Result<T>;
}

impl<T, E: Into<Error>> ResultExt<T> for std::result::Result<T, E> {
    fn context(self, context: impl Into<String>) -> Result<T> {
        self.map_err(|e| e.into().context(context))
    }
    fn with_context<F: FnOnce() -> String>(self, f: F) -> Result<T> {
        self.map_err(|e| e.into().context(f()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_code_looks_through_context() {
        let e = Error::verification("payload.tar.zst", "bad").context("verifying B");
        assert_eq!(e.exit_code(), 3);
        assert_eq!(Error::usage("x".into()).context("c").exit_code(), 2);
        let missing = Error::EnclaveKeyMissing { dir: "/s".into() };
        assert_eq!(missing.context("c").exit_code(), 4);
    }

    #[test]
    fn chain_prints_each_cause_once() {
        let e = Error::io(
            "read",
            "/nope",
            std::io::Error::from(std::io::ErrorKind::NotFound),
        )
        .context("loading key");
        let text = chain(&e);
        assert_eq!(text, "loading key: read /nope: entity not found");
    }

    #[test]
    fn untrusted_artifact_names_are_escaped() {
        let e = Error::verification("a\u{1b}[2Jb", "x");
        assert!(!e.to_string().contains('\u{1b}'), "{e}");
    }
}
