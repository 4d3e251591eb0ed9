//! The images and how the enclave serves them. Guarantees: each image name is listed once;
//! every manifest it names (upstream, served, per platform) is a payload entry of its size
//! whose media type is a manifest type and the entry's; every config and layer is a payload
//! entry of its size (or, in a delta, omitted with it); `served_as` describes what is
//! served.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::entries::Contents;
use crate::digest::Sha256Digest;
use crate::error::{Checked, FormatError};
use crate::image_ref::ImageRef;
use crate::layout::PayloadPath;
use crate::oci::Platform;

/// How the enclave will serve an image, and so which digest its tag will point to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServedAs {
    /// The upstream index, unchanged: every platform it lists is carried, so the upstream
    /// index digest works in the enclave.
    Index,
    /// Some platforms of the upstream index are carried. A registry refuses an index whose
    /// children it does not hold, so airlock writes an index of the carried platforms: a
    /// new digest. Platform manifest digests are unchanged.
    SubsetIndex,
    /// The upstream reference was a single-platform manifest, carried unchanged.
    Manifest,
}

/// A manifest or blob carried for an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Carried {
    /// Digest.
    pub digest: Sha256Digest,
    /// Media type.
    pub media_type: String,
    /// Size in bytes.
    pub size: u64,
    /// For platform manifests: the platform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

/// Why an image is in the hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Needed by the version the hop goes to.
    Target,
    /// Needed only by the version the hop starts from (the back-out set).
    Backout,
    /// The etcd the cluster keeps running because kubeadm never downgrades etcd.
    CurrentEtcd,
    /// From a hop manifest.
    Addon,
    /// A Helm chart from a hop manifest, carried as an OCI artifact (no platforms).
    Chart,
}

impl Role {
    /// The name used in files and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Target => "target",
            Role::Backout => "backout",
            Role::CurrentEtcd => "current-etcd",
            Role::Addon => "addon",
            Role::Chart => "chart",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One image and how the enclave will serve it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageRecord {
    /// Canonical upstream reference.
    pub name: ImageRef,
    /// Why it is in the hop.
    pub role: Option<Role>,
    /// Platforms carried.
    pub platforms: Vec<Platform>,
    /// The upstream manifest or index the lock pinned.
    pub source: Carried,
    /// How the enclave serves it (see `docs/bundle-format.md`).
    pub served_as: ServedAs,
    /// The manifest or index the enclave's tag will point to.
    pub served: Carried,
    /// Platform manifests carried.
    pub manifests: Vec<Carried>,
    /// Configs and layers.
    pub blobs: Vec<Carried>,
}

/// Every image against the payload's contents.
pub(crate) fn check(images: &[ImageRecord], contents: &Contents) -> Checked {
    let mut names = BTreeSet::new();
    for img in images {
        let name = img.name.to_string();
        if !names.insert(name.clone()) {
            return Err(FormatError::ImageTwice { name });
        }
        let what = |c: &Carried, reason| FormatError::ImageCarried {
            image: name.clone(),
            digest: c.digest,
            reason: Box::new(reason),
        };
        let manifests = img.manifests.iter().chain([&img.served, &img.source]);
        for c in manifests {
            let e = contents.blob(c.digest, c.size).map_err(|r| what(c, r))?;
            if !crate::oci::is_manifest_type(&c.media_type) || e.media_type != c.media_type {
                let found = e.media_type.clone();
                let declared = c.media_type.clone();
                return Err(what(c, FormatError::ManifestMediaType { declared, found }));
            }
        }
        for c in &img.blobs {
            contents
                .carried_or_omitted(&PayloadPath::Blob(c.digest), c.size)
                .map_err(|r| what(c, r))?;
        }
        check_served_as(img).map_err(|reason| FormatError::ServedAs {
            image: name.clone(),
            reason,
        })?;
    }
    Ok(())
}

/// `served_as` must describe what `served` and `source` are.
fn check_served_as(img: &ImageRecord) -> std::result::Result<(), &'static str> {
    let is_index = crate::oci::is_index_type(&img.source.media_type);
    match img.served_as {
        ServedAs::Index if img.served != img.source || !is_index => {
            Err("served-as index, but the served index is not the upstream index")
        }
        ServedAs::SubsetIndex
            if img.served.digest == img.source.digest
                || !is_index
                || !crate::oci::is_index_type(&img.served.media_type) =>
        {
            Err("served-as subset-index, but no subset index of an upstream index is served")
        }
        ServedAs::Manifest if img.served != img.source || is_index => {
            Err("served-as manifest, but the served manifest is not the upstream one")
        }
        _ => Ok(()),
    }
}
