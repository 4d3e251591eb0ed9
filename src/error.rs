//! The connected side's error type.
//!
//! It wraps the enclave crate's [`airlock_verify::Error`] (files, input, paths, trust,
//! content mismatches) and adds what only the connected side meets: upstream registries
//! and downloads. As there, the cause is kept as `source()` and not repeated in the
//! message.

use std::path::{Path, PathBuf};

pub use airlock_verify::error::chain;

/// Result alias used across the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, with the artifact it went wrong on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Files, input, paths, signatures: shared with the enclave side.
    #[error(transparent)]
    Core(#[from] airlock_verify::Error),
    /// An upstream registry refused a request or served something unusable.
    #[error("registry: {reference}: {reason}")]
    Upstream {
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
    /// An upstream document (kubeadm constants, discovery, release data) is missing a fact
    /// airlock reads from it or is not in a shape airlock recognises.
    #[error("upstream document {url}: {reason}")]
    Document {
        /// The canonical URL (and the mirror it was read through, if any).
        url: String,
        /// What was expected and what was found.
        reason: String,
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
    /// A package repository's metadata is unusable or lacks what the hop needs.
    #[error("package repository: {url}: {reason}")]
    Repository {
        /// The file (URL).
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// A package repository's signed metadata disagrees with itself: one index listed
    /// in two compressions that hold different content (exit 5, as a digest mismatch).
    #[error("package repository: {url}: {reason}")]
    RepositoryMismatch {
        /// The file (URL).
        url: String,
        /// What differs.
        reason: String,
    },
    /// Upstream metadata whose OpenPGP signature does not verify with the given key.
    #[error("{artifact}: {reason}")]
    Signature {
        /// The file (URL).
        artifact: String,
        /// Why it does not verify.
        reason: String,
    },
    /// A time-stamping authority could not be reached or gave no usable timestamp
    /// (`--tsa`): nothing is wrong with the bundle, the stamp could not be made (exit 4).
    #[error("time-stamping authority {url}: {reason}")]
    Tsa {
        /// The TSA's URL.
        url: String,
        /// The transport failure or what was wrong with its answer.
        reason: String,
    },
    /// An upstream signature was found and refused (wrong identity, another digest, a
    /// log proof that does not hold...): a trust failure, exit 3.
    #[error(transparent)]
    Provenance(#[from] airlock_provenance::ProvenanceError),
    /// No upstream signature was found for an artifact the policy covers (exit 3).
    #[error(
        "{artifact}: no upstream signature found (no OCI referrer, no .sig tag, or no .sig/.cert beside the file); refused. Carry it anyway with --allow-unsigned {artifact} (recorded in the lock)"
    )]
    Unsigned {
        /// The image reference or file URL.
        artifact: String,
    },
    /// An add-on artifact whose hop manifest gives no `provenance:` entry, while
    /// provenance is checked (exit 3, like a missing signature).
    #[error(
        "{artifact}: an add-on artifact with no provenance policy (a `provenance:` entry in its hop manifest: identity and issuer, or key); refused. Carry it anyway with --allow-unsigned {artifact} (recorded in the lock)"
    )]
    NoProvenancePolicy {
        /// The image reference or file URL.
        artifact: String,
    },
    /// Provenance checking is on (the default) and no trusted root was found: a setup
    /// problem, not a trust failure (exit 4).
    #[error(
        "provenance: no Sigstore trusted root: --trusted-root not given and {default} does not exist. Fetch one with `airlock provenance trusted-root --root ROOT.json` (it writes there by default), give --trusted-root FILE, or resolve without checking with --no-provenance (recorded in the lock and the bundle as an exception)"
    )]
    NoTrustedRoot {
        /// The default location looked at.
        default: String,
    },
    /// Sigstore's trusted root could not be fetched through its TUF repository.
    #[error(transparent)]
    TrustedRoot(#[from] TrustedRootError),
    /// Something the user asked for that this version does not support.
    #[error("not supported: {0}")]
    Unsupported(String),
    /// An error with what airlock was doing when it happened.
    #[error("{context}")]
    Context {
        /// What airlock was doing.
        context: String,
        /// The error.
        #[source]
        source: Box<Error>,
    },
}

impl From<airlock_verify::trust::TrustError> for Error {
    fn from(e: airlock_verify::trust::TrustError) -> Self {
        Error::Core(e.into())
    }
}

impl From<airlock_verify::paths::UnsafePath> for Error {
    fn from(e: airlock_verify::paths::UnsafePath) -> Self {
        Error::Core(airlock_core::Error::from(e).into())
    }
}

impl From<airlock_core::Error> for Error {
    fn from(e: airlock_core::Error) -> Self {
        Error::Core(e.into())
    }
}

impl Error {
    /// A filesystem operation failed.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        airlock_verify::Error::io(action, path, source).into()
    }

    /// An input file or option is malformed.
    pub fn invalid(what: &'static str, origin: impl ToString, reason: impl ToString) -> Self {
        airlock_verify::Error::invalid(what, origin, reason).into()
    }

    /// An output exists and `--force` was not given.
    pub fn already_exists(path: impl Into<PathBuf>) -> Self {
        airlock_verify::Error::already_exists(path).into()
    }

    /// Content did not hash to what it was pinned to.
    pub fn digest_mismatch(
        artifact: impl ToString,
        expected: impl ToString,
        actual: impl ToString,
    ) -> Self {
        airlock_core::Error::DigestMismatch {
            artifact: artifact.to_string(),
            expected: expected.to_string(),
            actual: actual.to_string(),
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

    /// The process exit code the CLIs use for this error (see `docs/cli.md`).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Core(e) => e.exit_code(),
            Error::Context { source, .. } => source.exit_code(),
            Error::Unsupported(_) | Error::Tsa { .. } | Error::NoTrustedRoot { .. } => 4,
            Error::Provenance(
                airlock_provenance::ProvenanceError::BadTrustedRoot { .. }
                | airlock_provenance::ProvenanceError::IncompleteTrustedRoot { .. },
            ) => 4,
            Error::Provenance(_) | Error::Unsigned { .. } | Error::NoProvenancePolicy { .. } => 3,
            Error::TrustedRoot(e) => e.exit_code(),
            Error::SizeMismatch { .. }
            | Error::Signature { .. }
            | Error::RepositoryMismatch { .. } => 5,
            Error::Upstream { .. }
            | Error::Http { .. }
            | Error::Document { .. }
            | Error::Repository { .. } => 1,
        }
    }

    /// The exit code for any error in a chain that is one of ours (for the CLI edge).
    pub fn code_of(e: &(dyn std::error::Error + 'static)) -> Option<u8> {
        e.downcast_ref::<Error>().map(Error::exit_code)
    }
}

/// The rule every `airlock` writer follows: an output that exists is refused unless
/// `force`. Commands call it before any network work; writers call it again where they
/// write.
pub fn refuse_existing(path: &Path, force: bool) -> Result<()> {
    if path.exists() && !force {
        return Err(Error::already_exists(path));
    }
    Ok(())
}

/// `.context(...)` on results, keeping the typed error.
pub trait ResultExt<T> {
    /// Wrap the error with what was being done, computed only on error.
    fn with_context<F: FnOnce() -> String>(self, f: F) -> Result<T>;
}

impl<T, E: Into<Error>> ResultExt<T> for std::result::Result<T, E> {
    fn with_context<F: FnOnce() -> String>(self, f: F) -> Result<T> {
        self.map_err(|e| e.into().context(f()))
    }
}

/// Kept here rather than beside the TUF client (`provenance::trusted_root`) so that
/// `error`, on the lowest floor, imports nothing above it (tests/layering.rs).
/// Why a trusted root could not be fetched, naming the repository and the reason.
#[derive(Debug, thiserror::Error)]
pub enum TrustedRootError {
    /// tough refused the repository's metadata: a signature threshold not met (wrong or
    /// unknown keys), a rollback, a version mismatch, or metadata that does not parse.
    #[error("TUF repository {url}: untrusted metadata: {reason}")]
    Untrusted {
        /// The repository.
        url: String,
        /// tough's reason.
        reason: String,
    },
    /// A role's metadata is past its `expires` (a freeze or replay, or a stale mirror).
    #[error("TUF repository {url}: {role} metadata is expired")]
    Expired {
        /// The repository.
        url: String,
        /// root, timestamp, snapshot or targets.
        role: String,
    },
    /// The signed targets metadata does not list the target.
    #[error("TUF repository {url}: target {target} is not listed in its signed targets")]
    TargetMissing {
        /// The repository.
        url: String,
        /// The target's name.
        target: String,
    },
    /// The served target's bytes are not the ones its signed metadata pins.
    #[error(
        "TUF repository {url}: target {target} does not match its signed hash or length: {reason}"
    )]
    TargetMismatch {
        /// The repository.
        url: String,
        /// The target's name.
        target: String,
        /// tough's reason.
        reason: String,
    },
    /// The repository could not be reached (connection refused, DNS, TLS, timeout).
    #[error("TUF repository {url}: network: {reason}")]
    Network {
        /// The URL that failed.
        url: String,
        /// The transport's reason.
        reason: String,
    },
    /// The signed target is not a usable Sigstore trusted root.
    #[error("TUF repository {url}: target {target} is not a Sigstore trusted root: {reason}")]
    NotATrustedRoot {
        /// The repository.
        url: String,
        /// The target's name.
        target: String,
        /// Why.
        reason: String,
    },
}

impl TrustedRootError {
    /// Trust failures exit 3, content mismatches 5, a bad document 4, the network 1.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Untrusted { .. } | Self::Expired { .. } | Self::TargetMissing { .. } => 3,
            Self::TargetMismatch { .. } => 5,
            Self::NotATrustedRoot { .. } => 4,
            Self::Network { .. } => 1,
        }
    }
}
