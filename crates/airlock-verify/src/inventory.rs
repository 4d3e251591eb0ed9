//! What an enclave holds, as digests only, signed by the enclave key: where policy lets
//! data out, `airlock-verify inventory` writes one and `airlock build --have` builds a
//! delta that leaves out everything listed.
//!
//! The file is the inventory as one line of JSON, then its minisign signature (like the
//! enclave state). The connected side checks the signature against the enclave's public
//! key before parsing a byte of the JSON; an unsigned inventory or one signed by another
//! enclave is refused.

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::layout::PayloadPath;
use crate::trust::PublicKey;

/// The format written and read.
pub const INVENTORY_FORMAT: u32 = 1;
/// Largest inventory read (some 300,000 digests).
pub const MAX_INVENTORY_BYTES: u64 = 24 * 1024 * 1024;
/// The trusted comment of an inventory signature.
pub const INVENTORY_COMMENT: &str = "airlock-inventory";

/// The kind tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InventoryKind {
    /// `airlock-inventory`
    #[serde(rename = "airlock-inventory")]
    AirlockInventory,
}

/// What the enclave holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryBody {
    /// [`INVENTORY_FORMAT`].
    pub format: u32,
    /// Always `airlock-inventory`.
    pub kind: InventoryKind,
    /// Key id of the enclave key that signs it.
    pub enclave_key: String,
    /// The registry listed (`HOST:PORT`).
    pub registry: String,
    /// Manifests, configs and layers in the registry, sorted, each once.
    pub blobs: Vec<Sha256Digest>,
    /// sha256 of the files under the destination, sorted, each once.
    pub files: Vec<Sha256Digest>,
}

/// A verified inventory: only [`Inventory::parse`] (and [`Inventory::load_verified`])
/// make one, after the signature check (private fields).
#[derive(Debug, Clone)]
pub struct Inventory {
    body: InventoryBody,
    sha256: Sha256Digest,
}

impl InventoryBody {
    /// Parse the JSON line strictly: known fields only, the right format and kind, digest
    /// lists sorted without repeats.
    pub fn parse(json: &str) -> Result<Self> {
        let bad = |r: String| Error::invalid("inventory", "<json>", r);
        let b: InventoryBody = serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
        if b.format != INVENTORY_FORMAT {
            return Err(bad(format!(
                "format {} is not {INVENTORY_FORMAT}",
                b.format
            )));
        }
        for (name, list) in [("blobs", &b.blobs), ("files", &b.files)] {
            if list.windows(2).any(|w| w[0] >= w[1]) {
                return Err(bad(format!(
                    "{name} are not sorted, or list a digest twice"
                )));
            }
        }
        Ok(b)
    }

    /// The JSON line (no newline).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The payload paths it covers: every blob and every file.
    pub fn payload_paths(&self) -> Vec<PayloadPath> {
        self.blobs
            .iter()
            .map(|d| PayloadPath::Blob(*d))
            .chain(self.files.iter().map(|d| PayloadPath::File(*d)))
            .collect()
    }
}

impl Inventory {
    /// Check the signature over the first line with `key`, then parse it.
    pub fn parse(text: &str, key: &PublicKey, what: &str) -> Result<Self> {
        let bad = |r: String| Error::record_check(what, r);
        let Some((json, sig)) = text.split_once('\n') else {
            return Err(bad(
                "is not signed (no signature after the JSON line)".into()
            ));
        };
        if sig.trim().is_empty() {
            return Err(bad(
                "is not signed (no signature after the JSON line)".into()
            ));
        }
        crate::trust::verify(std::slice::from_ref(key), json.as_bytes(), sig).map_err(|e| {
            bad(format!(
                "is not signed by the trusted enclave key {}: {}",
                key.key_id(),
                crate::error::chain(&e)
            ))
        })?;
        let body = InventoryBody::parse(json)?;
        if body.enclave_key != key.key_id().to_string() {
            return Err(bad(format!(
                "names enclave key {}, not {}",
                crate::escape::Untrusted(&body.enclave_key),
                key.key_id()
            )));
        }
        Ok(Inventory {
            body,
            sha256: Sha256Digest::of(text.as_bytes()),
        })
    }

    /// Read and verify an inventory file.
    pub fn load_verified(path: &Path, key: &PublicKey) -> Result<Self> {
        let text = crate::fsutil::read_text(path, MAX_INVENTORY_BYTES, "inventory")?;
        Self::parse(&text, key, &path.display().to_string())
    }

    /// The payload paths it covers.
    pub fn payload_paths(&self) -> Vec<PayloadPath> {
        self.body.payload_paths()
    }

    /// Its content.
    pub fn body(&self) -> &InventoryBody {
        &self.body
    }

    /// sha256 of the whole file (what a delta's manifest records).
    pub fn sha256(&self) -> Sha256Digest {
        self.sha256
    }
}

/// List what `reg` holds: every tag of every repository, the manifests they name (and
/// the children of indexes), their configs and layers.
pub async fn registry_digests(
    reg: &crate::enclave_registry::EnclaveRegistry,
) -> Result<BTreeSet<Sha256Digest>> {
    use crate::enclave_registry::ManifestRef;
    let mut out = BTreeSet::new();
    for repo in reg.repositories().await? {
        let mut todo: Vec<Sha256Digest> = Vec::new();
        for tag in reg.tags(&repo).await? {
            if let Some(b) = reg.get_manifest(&repo, ManifestRef::Tag(&tag)).await? {
                let d = Sha256Digest::of(&b);
                if out.insert(d) {
                    todo.extend(referenced(&b, &mut out));
                }
            }
        }
        while let Some(d) = todo.pop() {
            if let Some(b) = reg.get_manifest(&repo, ManifestRef::Digest(&d)).await? {
                todo.extend(referenced(&b, &mut out));
            }
        }
    }
    Ok(out)
}

/// Add a manifest's config and layers to `out`; return the child manifests of an index.
fn referenced(bytes: &[u8], out: &mut BTreeSet<Sha256Digest>) -> Vec<Sha256Digest> {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Vec::new();
    };
    let digest = |x: &serde_json::Value| {
        x["digest"]
            .as_str()
            .and_then(|s| Sha256Digest::parse(s).ok())
    };
    for b in v["layers"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(v.get("config"))
    {
        if let Some(d) = digest(b) {
            out.insert(d);
        }
    }
    v["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(digest)
        .filter(|d| out.insert(*d))
        .collect()
}

/// sha256 of every regular file below `dest` (not the enclave's state directory).
pub fn file_digests(dest: &Path) -> Result<BTreeSet<Sha256Digest>> {
    let mut out = BTreeSet::new();
    let mut dirs = vec![dest.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let listing = match std::fs::read_dir(&dir) {
            Ok(l) => l,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("list", &dir, e)),
        };
        for ent in listing {
            let ent = ent.map_err(|e| Error::io("list", &dir, e))?;
            let path = ent.path();
            if dir == dest && ent.file_name() == crate::paths::STATE_DIR {
                continue;
            }
            let ft = ent
                .file_type()
                .map_err(|e| Error::io("inspect", &path, e))?;
            if ft.is_dir() {
                dirs.push(path);
            } else if ft.is_file() {
                let f = std::fs::File::open(&path).map_err(|e| Error::io("open", &path, e))?;
                let mut r = crate::digest::HashingReader::new(f);
                std::io::copy(&mut r, &mut std::io::sink())
                    .map_err(|e| Error::io("read", &path, e))?;
                out.insert(r.finish().1);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::SecretKey;

    fn body(key: &SecretKey) -> InventoryBody {
        InventoryBody {
            format: 1,
            kind: InventoryKind::AirlockInventory,
            enclave_key: key.key_id().to_string(),
            registry: "r:5000".into(),
            blobs: vec![Sha256Digest::of(b"a"), Sha256Digest::of(b"b")]
                .into_iter()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
            files: vec![],
        }
    }

    #[test]
    fn only_the_trusted_enclave_signs_an_inventory() {
        let key = SecretKey::generate().unwrap();
        let other = SecretKey::generate().unwrap();
        let json = body(&key).to_json();
        let sig = crate::sign::sign(&key, json.as_bytes(), INVENTORY_COMMENT).unwrap();
        let text = format!("{json}\n{sig}");
        let inv = Inventory::parse(&text, &key.public_key(), "inv").unwrap();
        assert_eq!(inv.payload_paths().len(), 2);
        let e = Inventory::parse(&text, &other.public_key(), "inv").unwrap_err();
        assert_eq!(e.exit_code(), 3, "{e}");
        assert!(
            e.to_string()
                .contains("not signed by the trusted enclave key"),
            "{e}"
        );
        assert!(
            Inventory::parse(&format!("{json}\n"), &key.public_key(), "inv")
                .unwrap_err()
                .to_string()
                .contains("not signed")
        );
        // Signed by the other enclave's key, naming it: still refused.
        let json2 = body(&other).to_json();
        let sig2 = crate::sign::sign(&other, json2.as_bytes(), INVENTORY_COMMENT).unwrap();
        assert!(Inventory::parse(&format!("{json2}\n{sig2}"), &key.public_key(), "inv").is_err());
        // An edited line no longer verifies.
        let edited = text.replacen("r:5000", "r:5001", 1);
        assert!(Inventory::parse(&edited, &key.public_key(), "inv").is_err());
    }

    #[test]
    fn bodies_are_strict() {
        let key = SecretKey::generate().unwrap();
        let mut b = body(&key);
        b.blobs.reverse();
        assert!(InventoryBody::parse(&b.to_json()).is_err());
        let extra = body(&key).to_json().replacen('{', "{\"x\":1,", 1);
        assert!(InventoryBody::parse(&extra).is_err());
        assert!(
            InventoryBody::parse(
                &body(&key)
                    .to_json()
                    .replacen("\"format\":1", "\"format\":2", 1)
            )
            .is_err()
        );
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,200}") {
            let _ = InventoryBody::parse(&s);
        }

        #[test]
        fn parsed_lists_are_sorted_and_unique(n in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..20)) {
            let mut blobs: Vec<Sha256Digest> = n.iter().map(|b| Sha256Digest::of(&[*b])).collect();
            blobs.sort();
            let json = serde_json::json!({
                "format": 1, "kind": "airlock-inventory", "enclave_key": "K", "registry": "r",
                "blobs": blobs, "files": []
            }).to_string();
            if let Ok(b) = InventoryBody::parse(&json) {
                proptest::prop_assert!(b.blobs.windows(2).all(|w| w[0] < w[1]));
            }
        }
    }
}
