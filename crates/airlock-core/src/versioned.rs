//! "Probe the format version, then parse strictly": the one way airlock reads its own
//! versioned documents (bundle manifest, trust policy, enclave state, lock, catalog, hop
//! manifest).
//!
//! The version is read first, on its own, so a document from a newer airlock is refused
//! with "format 2 is not supported by this version" instead of a confusing "unknown field";
//! then the whole document is parsed with unknown fields refused, because a field this
//! version ignored might be one its author relied on (say `expires`).

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// A text syntax a versioned document is written in.
pub trait Syntax {
    /// Deserialize `text`; the error is a human-readable reason.
    fn from_str<T: DeserializeOwned>(text: &str) -> std::result::Result<T, String>;
}

/// JSON (the signed manifest, policies, state, receipts).
pub struct Json;

impl Syntax for Json {
    fn from_str<T: DeserializeOwned>(text: &str) -> std::result::Result<T, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }
}

#[derive(Deserialize)]
struct Probe {
    format: Option<serde_json::Value>,
}

/// Parse `text` as a `T` whose `format` field must equal `expected`.
///
/// `what` names the kind of document and `origin` where it came from, for errors, which
/// are [`Error::Invalid`]; callers that read signed bundle content map them to
/// verification failures.
pub fn parse<S: Syntax, T: DeserializeOwned>(
    text: &str,
    expected: u32,
    what: &'static str,
    origin: &str,
) -> Result<T> {
    let probe: Probe = S::from_str(text).map_err(|e| Error::invalid(what, origin, e))?;
    match probe.format {
        Some(serde_json::Value::Number(n)) if n.as_u64() == Some(u64::from(expected)) => {}
        Some(v) => {
            return Err(Error::invalid(
                what,
                origin,
                format!(
                    "format {v} is not supported (this airlock {} reads format {expected}); \
                     use an airlock at least as new as the one that wrote it",
                    env!("CARGO_PKG_VERSION")
                ),
            ));
        }
        None => {
            return Err(Error::invalid(
                what,
                origin,
                format!("missing `format: {expected}`"),
            ));
        }
    }
    S::from_str(text).map_err(|e| Error::invalid(what, origin, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        format: u32,
        name: String,
    }

    #[test]
    fn version_first_then_strict() {
        let ok: Doc = parse::<Json, _>(r#"{"format":1,"name":"a"}"#, 1, "doc", "t").unwrap();
        assert_eq!(ok.name, "a");
        let e = parse::<Json, Doc>(r#"{"format":2,"x":1}"#, 1, "doc", "t").unwrap_err();
        assert!(e.to_string().contains("format 2 is not supported"), "{e}");
        let e = parse::<Json, Doc>(r#"{"name":"a"}"#, 1, "doc", "t").unwrap_err();
        assert!(e.to_string().contains("missing `format: 1`"), "{e}");
        let e = parse::<Json, Doc>(r#"{"format":1,"name":"a","x":1}"#, 1, "doc", "t").unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
        let e = parse::<Json, Doc>(r#"{"format":"1"}"#, 1, "doc", "t").unwrap_err();
        assert!(e.to_string().contains("format \"1\""), "{e}");
    }
}
