//! "Probe the format version and the kind, then parse strictly": the one way airlock reads
//! its own versioned documents (bundle manifest, trust policy, lock, catalog, hop
//! manifest).
//!
//! The version and the kind are read first, on their own, so a document from a newer
//! airlock is refused with "format 2 is not supported by this version" and a document of
//! another kind with "kind ...: expected ...", instead of a confusing "unknown field";
//! then the whole document is parsed with unknown fields refused, because a field this
//! version ignored might be one its author relied on (say `expires`).

use serde::Deserialize;
use serde::de::DeserializeOwned;

pub use crate::error::DocumentError;
use crate::error::{Error, Result};

/// A text syntax a versioned document is written in.
pub trait Syntax {
    /// Why text does not parse (its message is shown to the operator).
    type Error: std::error::Error;
    /// Deserialize `text`.
    fn from_str<T: DeserializeOwned>(text: &str) -> std::result::Result<T, Self::Error>;
}

/// JSON (the signed manifest, policies, state, receipts).
pub struct Json;

impl Syntax for Json {
    type Error = serde_json::Error;
    fn from_str<T: DeserializeOwned>(text: &str) -> std::result::Result<T, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// What a versioned document must declare.
#[derive(Debug, Clone, Copy)]
pub struct Expect {
    /// The kind of document, for messages ("bundle manifest", "lock file").
    pub what: &'static str,
    /// Its `format`.
    pub format: u32,
    /// Its `kind` (`airlock-bundle`, `airlock-lock`, ...).
    pub kind: &'static str,
}

#[derive(Deserialize)]
struct Probe {
    format: Option<serde_json::Value>,
    kind: Option<serde_json::Value>,
}

/// Parse `text` as a `T` whose `format` and `kind` must be the expected ones, as a
/// [`DocumentError`].
pub fn parse_document<S: Syntax, T: DeserializeOwned>(
    text: &str,
    expect: Expect,
) -> std::result::Result<T, DocumentError> {
    let syntax = |e: S::Error| DocumentError::Syntax {
        reason: e.to_string(),
    };
    let probe: Probe = S::from_str(text).map_err(syntax)?;
    match probe.format {
        Some(serde_json::Value::Number(n)) if n.as_u64() == Some(u64::from(expect.format)) => {}
        Some(v) => {
            return Err(DocumentError::Format {
                found: v.to_string(),
                expected: expect.format,
            });
        }
        None => {
            return Err(DocumentError::MissingFormat {
                expected: expect.format,
            });
        }
    }
    match probe.kind {
        Some(serde_json::Value::String(k)) if k == expect.kind => {}
        Some(v) => {
            return Err(DocumentError::Kind {
                found: v.to_string(),
                expected: expect.kind,
            });
        }
        None => {
            return Err(DocumentError::MissingKind {
                expected: expect.kind,
            });
        }
    }
    S::from_str(text).map_err(syntax)
}

/// [`parse_document`] with the reason as [`Error::Invalid`] naming `expect.what` and
/// `origin` (where the text came from); callers that read signed bundle content map it to
/// a verification failure.
pub fn parse<S: Syntax, T: DeserializeOwned>(
    text: &str,
    expect: Expect,
    origin: &str,
) -> Result<T> {
    parse_document::<S, T>(text, expect).map_err(|e| Error::invalid(expect.what, origin, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        format: u32,
        kind: String,
        name: String,
    }

    const DOC: Expect = Expect {
        what: "doc",
        format: 1,
        kind: "airlock-doc",
    };

    fn parse_doc(text: &str) -> std::result::Result<Doc, DocumentError> {
        parse_document::<Json, Doc>(text, DOC)
    }

    #[test]
    fn version_and_kind_first_then_strict() {
        let ok = parse_doc(r#"{"format":1,"kind":"airlock-doc","name":"a"}"#).unwrap();
        assert_eq!(ok.name, "a");
        let e = parse_doc(r#"{"format":2,"x":1}"#).unwrap_err();
        assert!(matches!(e, DocumentError::Format { ref found, expected: 1 } if found == "2"));
        assert!(e.to_string().contains("format 2 is not supported"), "{e}");
        let e = parse_doc(r#"{"name":"a"}"#).unwrap_err();
        assert_eq!(e, DocumentError::MissingFormat { expected: 1 });
        let e = parse_doc(r#"{"format":1,"kind":"airlock-doc","name":"a","x":1}"#).unwrap_err();
        assert!(matches!(e, DocumentError::Syntax { .. }), "{e}");
        let e = parse_doc(r#"{"format":"1"}"#).unwrap_err();
        assert!(matches!(e, DocumentError::Format { ref found, .. } if found == "\"1\""));
        let e = parse_doc(r#"{"format":1,"kind":"airlock-lock","name":"a"}"#).unwrap_err();
        let found = "\"airlock-lock\"".to_owned();
        let expected = "airlock-doc";
        assert_eq!(e, DocumentError::Kind { found, expected });
        assert_eq!(e.to_string(), "kind \"airlock-lock\": expected airlock-doc");
        let e = parse_doc(r#"{"format":1,"name":"a"}"#).unwrap_err();
        assert_eq!(e, DocumentError::MissingKind { expected });
        let e = parse::<Json, Doc>("[", DOC, "t").unwrap_err();
        assert_eq!(e.exit_code(), 4, "{e}");
    }
}
