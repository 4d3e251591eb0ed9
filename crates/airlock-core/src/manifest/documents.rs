//! The signed documents beside the payload (the change report, the SBOM). Guarantees:
//! each document is listed once, with its path's media type.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::digest::{Sha256Digest, bare_hex};
use crate::error::{Checked, FormatError};

/// A signed document of the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    /// Its path in the bundle directory.
    pub path: crate::layout::DocPath,
    /// Size in bytes.
    pub size: u64,
    /// sha256 of the content.
    #[serde(with = "bare_hex")]
    pub sha256: Sha256Digest,
    /// Media type.
    pub media_type: String,
}

/// Documents: each once, with its path's media type.
pub(crate) fn check(documents: &[Document]) -> Checked {
    let mut docs = BTreeSet::new();
    for d in documents {
        if !docs.insert(d.path) {
            return Err(FormatError::DocumentTwice { path: d.path });
        }
        if d.media_type != d.path.media_type() {
            return Err(FormatError::DocumentMediaType {
                path: d.path,
                found: d.media_type.clone(),
            });
        }
    }
    Ok(())
}
