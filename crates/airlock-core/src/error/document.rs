//! Why one of airlock's versioned documents was refused ([`crate::versioned`] reads them
//! all): it does not parse, or it declares another format or kind.

/// Why a versioned document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    /// Not UTF-8 text.
    #[error("is not UTF-8 JSON")]
    NotUtf8,
    /// The text does not parse, or does not fit the document's shape.
    #[error("{reason}")]
    Syntax {
        /// The parser's message.
        reason: String,
    },
    /// No `format` field.
    #[error("missing `format: {expected}`")]
    MissingFormat {
        /// The format this version reads.
        expected: u32,
    },
    /// A `format` this version does not read.
    #[error(
        "format {found} is not supported (this airlock {} reads format {expected}); use an \
         airlock at least as new as the one that wrote it",
        env!("CARGO_PKG_VERSION")
    )]
    Format {
        /// The `format` given, as written.
        found: String,
        /// The format this version reads.
        expected: u32,
    },
    /// No `kind` field.
    #[error("missing `kind: {expected}`")]
    MissingKind {
        /// The kind expected.
        expected: &'static str,
    },
    /// A document of another kind.
    #[error("kind {found}: expected {expected}")]
    Kind {
        /// The `kind` given, as written.
        found: String,
        /// The kind expected.
        expected: &'static str,
    },
}
