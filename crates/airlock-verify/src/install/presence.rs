//! What the enclave already has, in two steps. [`look`] only reads (manifests by digest
//! and by tag, files hashed in place) and needs nothing but the signed manifest: every
//! install starts with it, and when it finds nothing missing the payload is not read at
//! all. [`plan`] runs only after verification, for what is missing: blobs per repository,
//! and cross-repository mounts (registry writes) for blobs one repository already holds.

use std::collections::{BTreeMap, BTreeSet};

use futures::StreamExt;

use crate::digest::Sha256Digest;
use crate::enclave_registry::{EnclaveRegistry, ManifestRef, Mount};
use crate::error::Result;
use crate::manifest::{BundleManifest, FileRecord};

/// What the enclave lacks, found by reading only (indexes into the manifest's lists).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Lacks {
    /// Images whose served digest is not in their repository.
    pub images: BTreeSet<usize>,
    /// Tagged images whose tag is missing or points at another digest.
    pub tags: BTreeSet<usize>,
    /// Files missing from their target, or with other content or mode.
    pub files: Vec<usize>,
}

impl Lacks {
    /// True when the enclave already holds every image, tag and file.
    pub fn is_empty(&self) -> bool {
        self.images.is_empty() && self.tags.is_empty() && self.files.is_empty()
    }
}

/// What must be written, after looking at the registry and the destination.
#[derive(Debug, Default)]
pub struct Needs {
    /// Indexes (into the manifest's images) of images whose served digest is missing.
    pub images_missing: BTreeSet<usize>,
    /// Blobs to upload, with the repositories that need them.
    pub to_upload: BTreeMap<Sha256Digest, Vec<String>>,
    /// Manifests (platform manifests and served indexes) to push.
    pub manifests: BTreeSet<Sha256Digest>,
    /// Targets whose file is missing or differs.
    pub files: Vec<usize>,
    /// Blob/repository pairs already present.
    pub blobs_present: usize,
    /// Blobs linked from another repository without upload.
    pub blobs_mounted: usize,
}

impl Needs {
    /// True when nothing at all needs the payload.
    pub fn payload_needed(&self) -> bool {
        !self.to_upload.is_empty() || !self.files.is_empty() || !self.manifests.is_empty()
    }

    /// The file records to install.
    pub fn files<'a>(&self, m: &'a BundleManifest) -> Vec<&'a FileRecord> {
        self.files.iter().map(|&i| &m.files[i]).collect()
    }
}

/// Look at the registry (`repos[i]` is image `i`'s repository) and the destination,
/// reading only: each image's served digest by digest, its tag, each file's content and
/// mode. Writes nothing anywhere, so it may run before the payload is verified.
pub async fn look(
    m: &BundleManifest,
    repos: &[String],
    reg: &EnclaveRegistry,
    roots: &super::files::FileRoots,
    jobs: usize,
) -> Result<Lacks> {
    let mut lacks = Lacks::default();
    let checks = futures::stream::iter(m.images.iter().enumerate().map(|(i, img)| {
        let repo = &repos[i];
        async move {
            let want = Some(img.served.digest);
            let present = reg
                .manifest_digest(repo, ManifestRef::Digest(&img.served.digest))
                .await?
                == want;
            // An untagged image is reached by digest only: nothing more to check.
            let tagged = match &img.name.tag {
                Some(_) if !present => false,
                Some(t) => reg.manifest_digest(repo, ManifestRef::Tag(t)).await? == want,
                None => true,
            };
            Ok::<_, crate::Error>((i, present, tagged))
        }
    }))
    .buffer_unordered(jobs.max(1))
    .collect::<Vec<_>>()
    .await;
    for c in checks {
        let (i, present, tagged) = c?;
        if !present {
            lacks.images.insert(i);
        }
        if !tagged {
            lacks.tags.insert(i);
        }
    }
    lacks.files = m
        .files
        .iter()
        .enumerate()
        .filter(|(_, f)| !super::files::matches(&roots.path(f), f))
        .map(|(i, _)| i)
        .collect();
    Ok(lacks)
}

/// What a verified install must write for `lacks`: the blobs each missing image's
/// repository lacks, mounted from another repository where one holds them (registry
/// writes: only after verification), the rest left to upload from the payload.
pub async fn plan(
    m: &BundleManifest,
    repos: &[String],
    reg: &EnclaveRegistry,
    lacks: &Lacks,
    jobs: usize,
) -> Result<Needs> {
    let mut needs = Needs {
        images_missing: lacks.images.clone(),
        files: lacks.files.clone(),
        ..Needs::default()
    };
    let jobs = jobs.max(1);
    // Blobs needed per repository, for images not already complete.
    let mut blob_repos: BTreeMap<Sha256Digest, BTreeSet<&str>> = BTreeMap::new();
    for &i in &needs.images_missing {
        let img = &m.images[i];
        for b in &img.blobs {
            blob_repos.entry(b.digest).or_default().insert(&repos[i]);
        }
        needs
            .manifests
            .extend(img.manifests.iter().map(|c| c.digest));
        needs.manifests.insert(img.served.digest);
    }
    let pairs: Vec<(Sha256Digest, &str)> = blob_repos
        .iter()
        .flat_map(|(d, rs)| rs.iter().map(move |r| (*d, *r)))
        .collect();
    let presence = futures::stream::iter(pairs.into_iter().map(|(d, repo)| async move {
        let there = reg.blob_exists(repo, &d).await?;
        Ok::<_, crate::Error>((d, repo, there))
    }))
    .buffer_unordered(jobs)
    .collect::<Vec<_>>()
    .await;
    let mut have: BTreeMap<Sha256Digest, Vec<String>> = BTreeMap::new();
    let mut lack: BTreeMap<Sha256Digest, Vec<String>> = BTreeMap::new();
    for p in presence {
        let (d, repo, there) = p?;
        let side = if there { &mut have } else { &mut lack };
        side.entry(d).or_default().push(repo.to_string());
    }
    needs.blobs_present = have.values().map(Vec::len).sum();
    mount_or_upload(reg, &have, lack, &mut needs).await?;
    Ok(needs)
}

/// Mount what another repository of this registry already holds; the rest (and what the
/// registry would not mount) is uploaded during the payload pass.
async fn mount_or_upload(
    reg: &EnclaveRegistry,
    have: &BTreeMap<Sha256Digest, Vec<String>>,
    lack: BTreeMap<Sha256Digest, Vec<String>>,
    needs: &mut Needs,
) -> Result<()> {
    for (d, repos) in lack {
        let mut unmounted = Vec::new();
        match have.get(&d).and_then(|v| v.first()) {
            Some(from) => {
                for r in repos {
                    match reg.mount_blob(&r, from, &d).await? {
                        Mount::Linked => needs.blobs_mounted += 1,
                        Mount::Session(_) | Mount::Refused => {
                            // Not mounted; a session is left to expire, and the blob is
                            // uploaded from the spool like any other.
                            tracing::info!("{r}: registry did not mount {d}; uploading");
                            unmounted.push(r);
                        }
                    }
                }
            }
            None => unmounted = repos,
        }
        if !unmounted.is_empty() {
            needs.to_upload.insert(d, unmounted);
        }
    }
    Ok(())
}
