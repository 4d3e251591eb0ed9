//! YAML for the connected side's documents (lock, catalog, hop manifests), through the
//! enclave crate's one "probe the version, then parse strictly" helper.

use serde::de::DeserializeOwned;

/// YAML syntax for [`airlock_verify::versioned::parse`], with serde-saphyr's size limits.
pub struct Yaml;

impl airlock_verify::versioned::Syntax for Yaml {
    type Error = serde_saphyr::Error;
    fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, serde_saphyr::Error> {
        serde_saphyr::from_str(text)
    }
}
