//! The trust core's error type: files, input, paths, the bundle format, signatures; and
//! the typed reasons it carries ([`FormatError`], [`TrustError`]).
//!
//! The ground floor of the crate's reasons: it imports only what names artifacts (layout,
//! paths, digests, key ids, times), never the checks that produce the reasons.
//!
//! It knows nothing of registries, HTTP or the enclave's state: `airlock-verify` wraps it
//! with those cases (and the same exit codes), so a reviewer reading the core reads no
//! transport.
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

use crate::escape::Untrusted;
use crate::paths::UnsafePath;

mod bundle;
mod document;
mod format;
mod payload;
mod trust;

pub use bundle::BundleError;
pub use document::DocumentError;
pub(crate) use format::Checked;
pub use format::FormatError;
pub use payload::PayloadError;
pub use trust::TrustError;

/// Why a bundle was rejected: a typed reason where the check has one (match on it), else
/// the check's text. Either way the message reads the same.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The signed manifest disagrees with itself.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// A signed document (the manifest) does not parse or is of another format or kind.
    #[error(transparent)]
    Document(#[from] DocumentError),
    /// The payload stream differs from the manifest.
    #[error(transparent)]
    Payload(#[from] PayloadError),
    /// A file around the payload differs from the manifest.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// Any other reason, as text.
    #[error("{0}")]
    Text(String),
}

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, with the artifact it went wrong on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A filesystem operation failed.
    #[error("{action} {}", crate::escape::ShownPath(path))]
    Io {
        /// What airlock was doing ("read", "create", "rename", ...).
        action: &'static str,
        /// The path it was doing it to.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// An input file named on the command line cannot be opened (missing, unreadable).
    #[error("cannot open {what} {}", crate::escape::ShownPath(path))]
    Input {
        /// "public key", "lock file", "trust policy", ...
        what: &'static str,
        /// The path given.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// An input file or option (policy, state, key, lock, catalog ...) is malformed.
    #[error("invalid {what} {origin}: {reason}")]
    Invalid {
        /// "lock file", "trust policy", "--threshold", ...
        what: &'static str,
        /// Where it came from (a path or an option name).
        origin: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The command line asks for something that cannot work (exit code 2).
    #[error("usage: {0}")]
    Usage(String),
    /// Content did not match the digest or checksum it was pinned to.
    #[error("{artifact}: sha256 mismatch (expected {expected}, got {actual})")]
    DigestMismatch {
        /// The artifact (image blob, file URL, bundle entry).
        artifact: String,
        /// The pinned digest.
        expected: String,
        /// What the bytes hash to.
        actual: String,
    },
    /// A bundle failed verification: it must not be trusted or installed.
    #[error("bundle verification failed: {artifact}: {reason}")]
    Verification {
        /// The bundle file or payload entry (already escaped for display).
        artifact: String,
        /// Why.
        reason: Rejection,
    },
    /// The enclave's own signed records (its state, receipt log, an inventory) fail their
    /// checks: they were changed outside airlock, so what they say cannot be trusted.
    #[error("enclave records fail their checks: {artifact}: {reason}")]
    RecordCheck {
        /// The record (already escaped for display).
        artifact: String,
        /// Why.
        reason: String,
    },
    /// Signature, key or policy problem.
    #[error(transparent)]
    Trust(#[from] TrustError),
    /// A path from an input would escape its directory or is otherwise unsafe.
    #[error("unsafe path {}: {reason}", Untrusted(path))]
    UnsafePath {
        /// The path as given.
        path: String,
        /// Why it is refused.
        reason: String,
    },
    /// The output already exists and airlock will not overwrite it silently.
    #[error("{} already exists (use --force to replace it)", path.display())]
    AlreadyExists {
        /// The existing output.
        path: PathBuf,
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

impl Error {
    /// Helper for [`Error::Io`].
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// Helper for [`Error::Invalid`].
    pub fn invalid(what: &'static str, origin: impl ToString, reason: impl ToString) -> Self {
        Error::Invalid {
            what,
            origin: origin.to_string(),
            reason: reason.to_string(),
        }
    }

    /// Helper for [`Error::Verification`]; the artifact name is escaped because it may
    /// come from the bundle.
    pub fn verification(artifact: impl AsRef<str>, reason: impl ToString) -> Self {
        Error::Verification {
            artifact: Untrusted(artifact.as_ref()).to_string(),
            reason: Rejection::Text(reason.to_string()),
        }
    }

    /// Helper for [`Error::RecordCheck`] (the record's name is escaped).
    pub fn record_check(artifact: impl AsRef<str>, reason: impl ToString) -> Self {
        Error::RecordCheck {
            artifact: Untrusted(artifact.as_ref()).to_string(),
            reason: reason.to_string(),
        }
    }

    /// [`Error::Verification`] with a typed reason: the manifest `artifact` disagrees
    /// with itself.
    pub fn format(artifact: impl AsRef<str>, reason: FormatError) -> Self {
        Self::rejected(artifact, reason)
    }

    /// [`Error::Verification`] with a typed reason (the artifact name is escaped).
    pub fn rejected(artifact: impl AsRef<str>, reason: impl Into<Rejection>) -> Self {
        Error::Verification {
            artifact: Untrusted(artifact.as_ref()).to_string(),
            reason: reason.into(),
        }
    }

    /// Why a bundle was rejected, if that is what this is (under any context).
    pub fn rejection(&self) -> Option<&Rejection> {
        match self.root() {
            Error::Verification { reason, .. } => Some(reason),
            _ => None,
        }
    }

    /// The typed reason a bundle's manifest was rejected, if that is what this is
    /// (under any context).
    pub fn format_error(&self) -> Option<&FormatError> {
        match self.root() {
            Error::Verification {
                reason: Rejection::Format(f),
                ..
            } => Some(f),
            _ => None,
        }
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

    /// The process exit code the CLIs use for this error (see `docs/cli.md`).
    pub fn exit_code(&self) -> u8 {
        match self.root() {
            Error::Trust(t) => t.exit_code(),
            Error::Verification { .. } | Error::RecordCheck { .. } => 3,
            Error::Usage(_) => 2,
            Error::Input { .. }
            | Error::Invalid { .. }
            | Error::UnsafePath { .. }
            | Error::AlreadyExists { .. } => 4,
            Error::DigestMismatch { .. } => 5,
            _ => 1,
        }
    }
}

impl From<UnsafePath> for Error {
    fn from(e: UnsafePath) -> Self {
        Error::UnsafePath {
            path: e.path,
            reason: e.reason,
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

/// The whole chain of an error as one line, `outer: inner: cause`, for logs and records.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        // A transparent wrapper repeats its inner message; print each reason once.
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_code_looks_through_context() {
        let e = Error::verification("payload.tar.zst", "bad").context("verifying B");
        assert_eq!(e.exit_code(), 3);
        assert_eq!(Error::Usage("x".into()).context("c").exit_code(), 2);
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
