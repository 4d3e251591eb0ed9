//! Which provenance policy covers each artifact of a lock (docs/resolve.md, "Upstream
//! provenance"): an add-on's own `provenance:` entry in its hop manifest first, then the
//! built-in Kubernetes identities for registry.k8s.io images and dl.k8s.io files. An
//! add-on artifact (an image or chart of a hop manifest, or one found in its documents,
//! or a file it lists) without an entry has no policy and is refused unless allowed;
//! anything else (catalog tools from other hosts, package files, local files) is outside
//! the policy and noted in the lock.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use airlock_provenance::{
    Identity, KUBERNETES_DOWNLOADS, KUBERNETES_FILES, KUBERNETES_IMAGES, KUBERNETES_REGISTRY,
    Policy, PublicKey,
};

use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::hop_manifest::{HopManifest, HopProvenance};
use crate::image_ref::ImageRef;
use crate::lock::{FileSource, Lock};
use crate::manifest::Role;

/// The largest cosign public key file read.
const MAX_KEY_FILE: u64 = 64 * 1024;

/// The add-on entries of the hop manifests.
#[derive(Debug, Default)]
pub struct AddonPolicies {
    /// By image or OCI chart reference, or file URL.
    by_name: BTreeMap<String, Policy>,
    /// Chart-repository archives, by the sha256 the hop manifest pins.
    by_sha256: BTreeMap<Sha256Digest, Policy>,
    /// Every add-on image name and file URL listed, with or without an entry.
    listed: BTreeSet<String>,
    /// Every chart-repository archive's sha256, with or without an entry.
    listed_sha256: BTreeSet<Sha256Digest>,
}

impl AddonPolicies {
    /// Reads the entries of `manifests` (path, parsed), each key file relative to its
    /// manifest's directory.
    pub fn from_manifests(manifests: &[(std::path::PathBuf, HopManifest)]) -> Result<Self> {
        let mut p = AddonPolicies::default();
        for (path, m) in manifests {
            let base = path.parent().unwrap_or(Path::new("."));
            for i in &m.images {
                p.add_name(i.name.to_string(), i.provenance.as_ref(), base)?;
            }
            for f in &m.files {
                p.add_name(f.url.clone(), f.provenance.as_ref(), base)?;
            }
            for c in &m.charts {
                if let Some(oci) = &c.oci {
                    let reference = oci.strip_prefix("oci://").unwrap_or(oci);
                    let name = ImageRef::parse(reference)
                        .map(|r| r.to_string())
                        .unwrap_or_else(|_| reference.to_owned());
                    p.add_name(name, c.provenance.as_ref(), base)?;
                } else if let (Some(_), Some(sha)) = (&c.repo, &c.sha256) {
                    let sha = Sha256Digest::from_hex(sha).map_err(|_| {
                        Error::invalid("hop manifest", path.display(), "chart sha256")
                    })?;
                    p.listed_sha256.insert(sha);
                    if let Some(e) = &c.provenance {
                        p.by_sha256.insert(sha, read_policy(e, base)?);
                    }
                }
            }
        }
        Ok(p)
    }

    fn add_name(&mut self, name: String, entry: Option<&HopProvenance>, base: &Path) -> Result<()> {
        if let Some(e) = entry {
            let policy = read_policy(e, base)?;
            if let Some(own) = kubernetes_own(&name)
                && policy != Policy::Keyless(own.clone())
            {
                // The enclave re-checks these under the built-in identity whatever the
                // bundle records; refuse here rather than build a bundle it will refuse.
                return Err(Error::invalid(
                    "hop manifest",
                    &name,
                    format!(
                        "its provenance entry names {policy}, but it is one of Kubernetes' own artifacts, signed by {} (issuer {}): remove the entry",
                        own.san, own.issuer
                    ),
                ));
            }
            self.by_name.insert(name.clone(), policy);
        }
        self.listed.insert(name);
        Ok(())
    }
}

/// The built-in identity of an image on registry.k8s.io or a file from dl.k8s.io, by the
/// name the hop manifest lists it under; `None` for anything else.
fn kubernetes_own(name: &str) -> Option<Identity> {
    if name
        .strip_prefix(KUBERNETES_REGISTRY)
        .is_some_and(|rest| rest.starts_with('/'))
    {
        Some(KUBERNETES_IMAGES)
    } else if name.starts_with(KUBERNETES_DOWNLOADS) {
        Some(KUBERNETES_FILES)
    } else {
        None
    }
}

/// A hop manifest entry as a checker policy, reading and checking the key file.
fn read_policy(e: &HopProvenance, base: &Path) -> Result<Policy> {
    match (&e.identity, &e.issuer, &e.key) {
        (Some(i), Some(u), None) => Ok(Policy::Keyless(Identity::new(i.clone(), u.clone()))),
        (None, None, Some(k)) => {
            let path = if k.is_absolute() {
                k.clone()
            } else {
                base.join(k)
            };
            let bytes = crate::fsutil::read_limited(&path, MAX_KEY_FILE, "cosign public key")?;
            let text = std::str::from_utf8(&bytes)
                .map_err(|_| Error::invalid("cosign public key", path.display(), "not UTF-8"))?;
            let key = PublicKey::from_pem(&path.display().to_string(), text)
                .map_err(|e| Error::invalid("cosign public key", path.display(), e))?;
            Ok(Policy::Key(key))
        }
        // HopManifest::parse checked the shape.
        _ => Err(Error::invalid(
            "hop manifest",
            "provenance",
            "give identity and issuer, or key",
        )),
    }
}

/// What to look up for one artifact.
pub enum Subject<'a> {
    /// An image (or OCI chart) by reference.
    Image(&'a ImageRef),
    /// A file by URL.
    File(&'a str),
}

/// One artifact of the lock the policy covers: its label (image reference or URL), its
/// digest, what to look up, and who must have signed it (`None`: an add-on artifact with
/// no entry, refused unless allowed).
pub struct Covered<'a> {
    /// The image reference or file URL, as the lock and `--allow-unsigned` name it.
    pub label: String,
    /// The image digest or the file's sha256.
    pub digest: Sha256Digest,
    /// What to look up.
    pub subject: Subject<'a>,
    /// Who must have signed it.
    pub policy: Option<Policy>,
}

/// Every artifact of `lock` the policy covers, in lock order, and how many it leaves
/// outside (not add-ons, not Kubernetes': noted, not checked).
pub fn covered<'a>(lock: &'a Lock, addons: &AddonPolicies) -> (Vec<Covered<'a>>, usize) {
    let mut out = Vec::new();
    let mut outside = 0;
    for i in &lock.images {
        let label = i.name.to_string();
        let addon =
            matches!(i.role, Some(Role::Addon | Role::Chart)) || addons.listed.contains(&label);
        let policy = match addons.by_name.get(&label) {
            Some(p) => Some(p.clone()),
            None if i.name.registry == KUBERNETES_REGISTRY => {
                Some(Policy::Keyless(KUBERNETES_IMAGES))
            }
            None => None,
        };
        if policy.is_none() && !addon {
            outside += 1;
            continue;
        }
        out.push(Covered {
            label,
            digest: i.digest,
            subject: Subject::Image(&i.name),
            policy,
        });
    }
    for f in &lock.files {
        let FileSource::Url(u) = &f.source else {
            outside += 1;
            continue;
        };
        let addon = addons.listed.contains(u) || addons.listed_sha256.contains(&f.sha256);
        let policy = match addons
            .by_name
            .get(u)
            .or_else(|| addons.by_sha256.get(&f.sha256))
        {
            Some(p) => Some(p.clone()),
            None if u.starts_with(KUBERNETES_DOWNLOADS) => Some(Policy::Keyless(KUBERNETES_FILES)),
            None => None,
        };
        if policy.is_none() && !addon {
            outside += 1;
            continue;
        }
        out.push(Covered {
            label: u.clone(),
            digest: f.sha256,
            subject: Subject::File(u),
            policy,
        });
    }
    (out, outside)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policies(image: &str, identity: &str) -> Result<AddonPolicies> {
        let text = format!(
            "format: 1\nkind: airlock-hop-manifest\nimages:\n  - name: {image}\n    provenance:\n      identity: {identity}\n      issuer: https://accounts.google.com\n"
        );
        let m = HopManifest::parse(&text, "addons.yaml")?;
        AddonPolicies::from_manifests(&[("addons.yaml".into(), m)])
    }

    #[test]
    fn an_entry_may_not_give_kubernetes_own_images_another_signer() {
        let other = policies(
            "registry.k8s.io/ingress-nginx/controller:v1.12.0",
            "me@example.com",
        );
        let err = other.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("one of Kubernetes' own artifacts"), "{err}");
        // Kubernetes' own identity is accepted (it says what the default says), and another
        // registry's images take whatever signer their entry names.
        policies(
            "registry.k8s.io/ingress-nginx/controller:v1.12.0",
            &KUBERNETES_IMAGES.san,
        )
        .unwrap();
        policies("registry.k8s.io.example.com/x:v1", "me@example.com").unwrap();
    }
}
