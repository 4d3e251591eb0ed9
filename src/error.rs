//! The library's error type.
//!
//! Every variant names the artifact it is about (a path, a URL, an image reference, a
//! bundle entry) and the reason, because the person reading the error is often on the
//! far side of an air gap and cannot rerun anything with more logging.

use std::path::PathBuf;

use crate::trust::TrustError;

/// Result alias used across the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, with the artifact it went wrong on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A filesystem operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What airlock was doing ("read", "create", "rename", ...).
        action: &'static str,
        /// The path it was doing it to.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// A lock file, catalog or hop manifest is malformed or inconsistent.
    #[error("invalid {what} {path}: {reason}")]
    InvalidInput {
        /// "lock file", "catalog", "hop manifest", ...
        what: &'static str,
        /// Where it came from.
        path: String,
        /// Why it was rejected.
        reason: String,
    },
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
    /// Content was longer or shorter than it was pinned to.
    #[error("{artifact}: size mismatch (expected {expected} bytes, got {actual})")]
    SizeMismatch {
        /// The artifact.
        artifact: String,
        /// The pinned size.
        expected: u64,
        /// The size seen (for an over-long stream: the size when airlock stopped reading).
        actual: u64,
    },
    /// A registry request failed.
    #[error("registry: {reference}: {reason}")]
    Registry {
        /// The image reference or repository.
        reference: String,
        /// The registry's answer or the transport failure.
        reason: String,
    },
    /// An HTTP download failed.
    #[error("download {url}: {reason}")]
    Http {
        /// The URL.
        url: String,
        /// The reason.
        reason: String,
    },
    /// A bundle failed verification: it must not be trusted or installed.
    #[error("bundle verification failed: {artifact}: {reason}")]
    Verification {
        /// The bundle file or payload entry.
        artifact: String,
        /// Why.
        reason: String,
    },
    /// Signature or key problem.
    #[error(transparent)]
    Trust(#[from] TrustError),
    /// A path from an input would escape its directory or is otherwise unsafe.
    #[error("unsafe path {path:?}: {reason}")]
    UnsafePath {
        /// The path as given.
        path: String,
        /// Why it is refused.
        reason: String,
    },
    /// The output already exists and airlock will not overwrite it silently.
    #[error("{path} already exists (use --force to replace it)")]
    AlreadyExists {
        /// The existing output.
        path: PathBuf,
    },
    /// Something the user asked for that this version does not support.
    #[error("not supported: {0}")]
    Unsupported(String),
    /// Installing into the enclave failed.
    #[error("install {target}: {reason}")]
    Install {
        /// The registry repository or destination file.
        target: String,
        /// Why.
        reason: String,
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

    /// Helper for [`Error::InvalidInput`].
    pub fn invalid(what: &'static str, path: impl ToString, reason: impl ToString) -> Self {
        Error::InvalidInput {
            what,
            path: path.to_string(),
            reason: reason.to_string(),
        }
    }

    /// Helper for [`Error::Verification`].
    pub fn verification(artifact: impl ToString, reason: impl ToString) -> Self {
        Error::Verification {
            artifact: artifact.to_string(),
            reason: reason.to_string(),
        }
    }

    /// The process exit code the CLIs use for this error (see `docs/cli.md`).
    ///
    /// 3 means "the bundle or its signatures cannot be trusted", which scripts must treat
    /// differently from an operational failure (1) or bad input (4).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Verification { .. } | Error::Trust(_) => 3,
            Error::InvalidInput { .. }
            | Error::UnsafePath { .. }
            | Error::Unsupported(_)
            | Error::AlreadyExists { .. } => 4,
            Error::DigestMismatch { .. } | Error::SizeMismatch { .. } => 5,
            _ => 1,
        }
    }
}
