//! What `serve` answers for: repositories, their tags, manifests and blobs, all taken
//! from the signed manifest. A digest is served only under a repository whose image
//! carries it, as a registry would after `install`.

use std::collections::{BTreeMap, BTreeSet};

use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::escape::Untrusted;
use crate::install::repo_for;
use crate::layout::PayloadPath;
use crate::manifest::{BundleManifest, ServedAs};

/// A manifest a repository serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedManifest {
    /// Its media type (the `Content-Type` of the answer).
    pub media_type: String,
    /// Its size in bytes.
    pub size: u64,
}

/// One repository.
#[derive(Debug, Default)]
pub struct Repo {
    /// Tag -> the digest the enclave's tag would point to after `install`.
    pub tags: BTreeMap<String, Sha256Digest>,
    /// The served manifests (platform manifests and served indexes), by digest.
    pub manifests: BTreeMap<Sha256Digest, ServedManifest>,
    /// Configs and layers, by digest, with their sizes.
    pub blobs: BTreeMap<Sha256Digest, u64>,
}

impl Repo {
    /// The size of a blob this repository serves (manifests count as blobs too, as with
    /// a registry's `/blobs/` endpoint).
    pub fn blob_size(&self, d: &Sha256Digest) -> Option<u64> {
        self.blobs
            .get(d)
            .copied()
            .or_else(|| self.manifests.get(d).map(|m| m.size))
    }
}

/// An image as served, for the start-up listing.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ServedImage {
    /// Canonical upstream name.
    pub name: String,
    /// `REPO:TAG` (or `REPO@DIGEST` for an image without a tag) on this server.
    pub reference: String,
    /// The digest the tag points to.
    pub digest: String,
    /// How it is served.
    pub served_as: ServedAs,
}

/// Everything served.
#[derive(Debug, Default)]
pub struct ServedCatalog {
    repos: BTreeMap<String, Repo>,
    images: Vec<ServedImage>,
}

impl ServedCatalog {
    /// Build from a (verified) manifest; repositories are the images' upstream paths,
    /// under `prefix` if given. Two images the server would serve under the same tag
    /// with different digests are refused.
    pub fn build(m: &BundleManifest, prefix: Option<&str>) -> Result<Self> {
        let mut c = ServedCatalog::default();
        for img in &m.images {
            let name = repo_for(&img.name, prefix);
            let repo = c.repos.entry(name.clone()).or_default();
            let served = std::iter::once(&img.served).chain(&img.manifests);
            for carried in served {
                repo.manifests.insert(
                    carried.digest,
                    ServedManifest {
                        media_type: carried.media_type.clone(),
                        size: carried.size,
                    },
                );
            }
            for b in &img.blobs {
                repo.blobs.insert(b.digest, b.size);
            }
            let reference = match &img.name.tag {
                Some(tag) => {
                    if let Some(prev) = repo.tags.insert(tag.clone(), img.served.digest)
                        && prev != img.served.digest
                    {
                        return Err(Error::invalid(
                            "bundle",
                            format!("image {}", Untrusted(&img.name.to_string())),
                            format!(
                                "{name}:{tag} would be served as both {prev} and {}",
                                img.served.digest
                            ),
                        ));
                    }
                    format!("{name}:{tag}")
                }
                None => format!("{name}@{}", img.served.digest),
            };
            c.images.push(ServedImage {
                name: img.name.to_string(),
                reference,
                digest: img.served.digest.to_string(),
                served_as: img.served_as,
            });
        }
        Ok(c)
    }

    /// A repository by name.
    pub fn repo(&self, name: &str) -> Option<&Repo> {
        self.repos.get(name)
    }

    /// Repository names, sorted.
    pub fn repo_names(&self) -> impl Iterator<Item = &str> {
        self.repos.keys().map(String::as_str)
    }

    /// The images, in manifest order.
    pub fn images(&self) -> &[ServedImage] {
        &self.images
    }

    /// Every digest served anywhere: what the spool must hold.
    pub fn digests(&self) -> BTreeSet<Sha256Digest> {
        self.repos
            .values()
            .flat_map(|r| r.manifests.keys().chain(r.blobs.keys()).copied())
            .collect()
    }

    /// Bytes the spool needs: each served digest once, at its payload entry's size.
    pub fn spool_bytes(&self, m: &BundleManifest) -> u64 {
        let wanted = self.digests();
        m.entries
            .iter()
            .filter(|e| matches!(e.path, PayloadPath::Blob(d) if wanted.contains(&d)))
            .fold(0u64, |a, e| a.saturating_add(e.size))
    }
}
