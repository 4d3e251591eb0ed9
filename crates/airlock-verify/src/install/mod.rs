//! Install: a verified bundle -> the enclave's registry and filesystem.
//!
//! Install takes a [`VerifiedBundle`], so every byte was checked before it starts. It
//! then looks at what the enclave lacks ([`presence`]), checks that the destination and
//! the disks can take the rest ([`files::preflight`], [`space`]), and only then writes:
//! a second payload pass streams the entries the enclave lacks, re-checking each one
//! (a payload swapped between the passes installs nothing wrong): blobs go to the
//! registry through a spool ([`upload`]), files to a temporary name renamed into place
//! only after their hash matched ([`files`]).
//!
//! Registry push order never leaves a tag pointing at an incomplete image: blobs (each
//! uploaded once, then mounted into other repositories), platform manifests by digest,
//! the index by digest, and the tag last. Manifests are pushed as the exact bytes carried,
//! so their digests are the upstream ones. At the end every tag is read back and must
//! name the expected digest, so a registry that accepts pushes and stores nothing is
//! caught.
//!
//! Idempotent: what the registry or the destination already has is skipped, and when
//! nothing is missing the second pass is not run at all. The receipt of each install,
//! and of each refused one, is written by [`record`] into the enclave's state.

pub mod delta;
pub mod files;
pub mod mirror;
pub mod presence;
pub mod record;
pub mod space;
pub mod upload;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::image_ref::ImageRef;
use crate::layout::PayloadPath;
use crate::manifest::{Carried, FileRecord, Hop, ImageRecord, ServedAs};
use crate::oci::MAX_MANIFEST_BYTES;
use crate::registry::{EnclaveRegistry, ManifestRef};
use crate::verify::VerifiedBundle;
use presence::Needs;

/// Where to install.
#[derive(Debug, Clone)]
pub struct InstallOptions {
    /// Repository prefix in the enclave (`k8s` turns `kube-apiserver` into
    /// `k8s/kube-apiserver`).
    pub prefix: Option<String>,
    /// Directory that files are installed under.
    pub dest: PathBuf,
    /// Parallel registry requests for presence checks.
    pub jobs: usize,
    /// Blob uploads in flight at once. Each waits in the spool directory, verified, while
    /// it uploads, so disk use is at most this many blobs.
    pub uploads: usize,
    /// Where verified blobs wait for their upload [default: the system temporary folder].
    pub spool_dir: Option<PathBuf>,
    /// Where package repository mirrors go [default: `DEST/packages`].
    pub packages_dir: Option<PathBuf>,
    /// The URL nodes reach the packages directory at [default: its `file://` URL].
    pub packages_url: Option<String>,
}

impl InstallOptions {
    /// Where files go.
    pub fn roots(&self) -> files::FileRoots {
        files::FileRoots {
            dest: self.dest.clone(),
            packages: self.packages_dir.clone(),
        }
    }
}

/// What install did to an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageAction {
    /// Its manifests were pushed (and blobs uploaded or mounted).
    Pushed,
    /// The registry already held it complete.
    Present,
}

/// What install did to a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileAction {
    /// Written (it was missing or differed).
    Installed,
    /// Already in place with the same content and mode.
    Unchanged,
}

/// What happened to one image.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ImageOutcome {
    /// Canonical upstream name.
    pub name: String,
    /// Where it now is in the enclave.
    pub enclave_ref: String,
    /// The digest the enclave's tag points to.
    pub served_digest: String,
    /// How it is served.
    pub served_as: ServedAs,
    /// What was done.
    pub action: ImageAction,
    /// The digest the tag pointed to before, when the install moved it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag_moved_from: Option<String>,
}

/// What happened to one file.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileOutcome {
    /// Its target in the bundle (below `--dest`).
    pub target: String,
    /// Where it is (package files below `--packages-dir`, when given).
    pub path: String,
    /// What was done.
    pub action: FileAction,
}

/// The record of one install (also appended to the install log).
#[derive(Debug, Clone, serde::Serialize)]
pub struct InstallReport {
    /// sha256 of the bundle's manifest.json.
    pub bundle_manifest_sha256: String,
    /// Hop, if any.
    pub hop: Option<Hop>,
    /// Key ids whose signatures were accepted.
    pub signed_by: Vec<String>,
    /// Registry installed into.
    pub registry: String,
    /// Destination directory.
    pub dest: String,
    /// Per image.
    pub images: Vec<ImageOutcome>,
    /// Per file.
    pub files: Vec<FileOutcome>,
    /// The package repository mirrors and how nodes use them (bundles with packages).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packages: Option<mirror::PackagesReport>,
    /// Blobs uploaded.
    pub blobs_pushed: usize,
    /// Bytes uploaded.
    pub bytes_pushed: u64,
    /// Blobs linked from another repository without upload.
    pub blobs_mounted: usize,
    /// Blobs the registry already had.
    pub blobs_present: usize,
    /// Whether the second payload pass ran.
    pub payload_pass: bool,
    /// Seconds since the epoch when the install finished.
    pub finished_unix: u64,
}

/// The enclave repository for an image: its upstream path, under `prefix` if given.
pub fn repo_for(name: &ImageRef, prefix: Option<&str>) -> String {
    match prefix {
        Some(p) if !p.is_empty() => format!("{}/{}", p.trim_matches('/'), name.repository),
        _ => name.repository.clone(),
    }
}

/// Install a verified bundle.
pub async fn install(
    bundle: Arc<VerifiedBundle>,
    reg: Arc<EnclaveRegistry>,
    opts: InstallOptions,
    on_progress: Arc<dyn Fn(u64) + Send + Sync>,
) -> Result<InstallReport> {
    let m = bundle.manifest();
    let spool = opts.spool_dir.clone().unwrap_or_else(std::env::temp_dir);
    upload::remove_stale_spools(&spool);
    let repos: Vec<String> = m
        .images
        .iter()
        .map(|img| repo_for(&img.name, opts.prefix.as_deref()))
        .collect();

    // 1. What does the enclave lack, and can it take it? Nothing is written before this.
    let roots = opts.roots();
    let mut needs = presence::survey(m, &repos, &reg, &roots, opts.jobs).await?;
    delta::mount_omitted(m, &repos, &reg, &mut needs).await?;
    delta::check(m, &needs)?;
    let files_needed = needs.files(m);
    files::preflight(&roots, &files_needed)?;
    space::check(
        &roots,
        &spool,
        opts.uploads,
        &files_needed,
        &needs.to_upload,
        m,
    )?;

    // 2. Second pass, only if something is missing.
    let pass = if needs.payload_needed() {
        payload_pass(&bundle, &reg, &opts, &spool, &needs, on_progress).await?
    } else {
        PassResult::default()
    };
    needs.blobs_mounted += pass.mounted;

    // 3. Manifests (children first), then tags; then read every tag back.
    let mut images = Vec::new();
    for (i, img) in m.images.iter().enumerate() {
        let missing = needs.images_missing.contains(&i);
        if missing {
            push_manifests(&reg, &repos[i], img, &pass.manifests).await?;
        }
        let moved = tag(&reg, &repos[i], img, &pass.manifests).await?;
        let mut enclave = img.name.relocated(reg.host(), opts.prefix.as_deref());
        enclave.digest = None;
        images.push(ImageOutcome {
            name: img.name.to_string(),
            enclave_ref: enclave.to_string(),
            served_digest: img.served.digest.to_string(),
            served_as: img.served_as,
            action: if missing {
                ImageAction::Pushed
            } else {
                ImageAction::Present
            },
            tag_moved_from: moved,
        });
    }
    confirm(&reg, m.images.iter().zip(&repos)).await?;

    let report = InstallReport {
        bundle_manifest_sha256: bundle.manifest_sha256().hex(),
        hop: m.hop.clone(),
        signed_by: bundle
            .evaluation()
            .counted
            .iter()
            .map(|c| c.key_id.clone())
            .collect(),
        registry: reg.host().to_string(),
        dest: opts.dest.display().to_string(),
        images,
        files: file_outcomes(&m.files, &needs, &roots),
        packages: packages_report(m, &roots, opts.packages_url.as_deref()),
        blobs_pushed: pass.blobs,
        bytes_pushed: pass.bytes,
        blobs_mounted: needs.blobs_mounted,
        blobs_present: needs.blobs_present,
        payload_pass: needs.payload_needed(),
        finished_unix: now_unix(),
    };
    Ok(report)
}

/// The mirrors' report, when the bundle carries package repositories.
fn packages_report(
    m: &crate::manifest::BundleManifest,
    roots: &files::FileRoots,
    url: Option<&str>,
) -> Option<mirror::PackagesReport> {
    if m.package_repositories.is_empty() {
        return None;
    }
    let root = roots.packages_root();
    let root = std::path::absolute(&root).unwrap_or(root);
    let url = url
        .map(str::to_string)
        .unwrap_or_else(|| mirror::file_url(&root));
    Some(mirror::report(&m.package_repositories, &root, &url))
}

fn file_outcomes(
    files: &[FileRecord],
    needs: &Needs,
    roots: &files::FileRoots,
) -> Vec<FileOutcome> {
    files
        .iter()
        .enumerate()
        .map(|(i, f)| FileOutcome {
            target: f.target.to_string(),
            path: roots.path(f).display().to_string(),
            action: if needs.files.contains(&i) {
                FileAction::Installed
            } else {
                FileAction::Unchanged
            },
        })
        .collect()
}

/// Seconds since the epoch (0 if the clock is before 1970).
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[derive(Default)]
struct PassResult {
    manifests: BTreeMap<Sha256Digest, Bytes>,
    blobs: usize,
    bytes: u64,
    mounted: usize,
}

/// Stream the payload once more and take what the enclave lacks: manifests into memory
/// (each at most 4 MiB), blobs to the uploader, files to their targets.
async fn payload_pass(
    bundle: &Arc<VerifiedBundle>,
    reg: &Arc<EnclaveRegistry>,
    opts: &InstallOptions,
    spool: &Path,
    needs: &Needs,
    on_progress: Arc<dyn Fn(u64) + Send + Sync>,
) -> Result<PassResult> {
    let m = bundle.manifest();
    let mut files_by_sha: BTreeMap<Sha256Digest, Vec<FileRecord>> = BTreeMap::new();
    for f in needs.files(m) {
        files_by_sha.entry(f.sha256).or_default().push(f.clone());
    }
    let handle = tokio::runtime::Handle::current();
    let (b, reg, roots, spool) = (
        bundle.clone(),
        reg.clone(),
        opts.roots(),
        spool.to_path_buf(),
    );
    let (wanted, to_upload, uploads) = (
        needs.manifests.clone(),
        needs.to_upload.clone(),
        opts.uploads,
    );
    tokio::task::spawn_blocking(move || {
        let mut out = PassResult::default();
        let mut uploader = upload::Uploader::new(handle, reg, &spool, uploads)?;
        b.walk(
            &mut |entry, r| {
                match entry.path {
                    PayloadPath::Blob(d) if wanted.contains(&d) => {
                        if entry.size > MAX_MANIFEST_BYTES {
                            return Err(Error::verification(
                                entry.path.to_string(),
                                "manifest larger than 4 MiB",
                            ));
                        }
                        let mut buf = Vec::with_capacity(entry.size as usize);
                        r.read_to_end(&mut buf).map_err(|e| {
                            Error::io("read payload entry", entry.path.to_string(), e)
                        })?;
                        out.manifests.insert(d, Bytes::from(buf));
                    }
                    PayloadPath::Blob(d) => {
                        if let Some(repos) = to_upload.get(&d) {
                            uploader.submit(d, entry.size, repos.clone(), r)?;
                            out.blobs += 1;
                            out.bytes += entry.size;
                        }
                    }
                    PayloadPath::File(d) => {
                        if let Some(list) = files_by_sha.get(&d) {
                            files::place(&roots, list, r)?;
                        }
                    }
                    PayloadPath::OciLayout | PayloadPath::OciIndex => {}
                }
                Ok(())
            },
            &*on_progress,
        )?;
        out.mounted = uploader.finish()?;
        Ok::<_, Error>(out)
    })
    .await
    .map_err(|e| Error::Install {
        target: "payload pass".into(),
        reason: e.to_string(),
    })?
}

/// Push an image's platform manifests, then its served index, by digest.
async fn push_manifests(
    reg: &EnclaveRegistry,
    repo: &str,
    img: &ImageRecord,
    manifests: &BTreeMap<Sha256Digest, Bytes>,
) -> Result<()> {
    let mut order: Vec<&Carried> = img.manifests.iter().collect();
    if img.served_as != ServedAs::Manifest {
        order.push(&img.served);
    }
    for c in order {
        let bytes = manifests
            .get(&c.digest)
            .cloned()
            .ok_or_else(|| Error::Install {
                target: format!("{}/{repo}", reg.host()),
                reason: format!("manifest {} was not found in the payload", c.digest),
            })?;
        reg.put_manifest(repo, ManifestRef::Digest(&c.digest), bytes, &c.media_type)
            .await?;
    }
    Ok(())
}

/// Point the image's tag at the served digest; returns the digest it pointed to before,
/// when it moved.
async fn tag(
    reg: &EnclaveRegistry,
    repo: &str,
    img: &ImageRecord,
    manifests: &BTreeMap<Sha256Digest, Bytes>,
) -> Result<Option<String>> {
    let Some(tag) = &img.name.tag else {
        return Ok(None);
    };
    let current = reg.manifest_digest(repo, ManifestRef::Tag(tag)).await?;
    if current == Some(img.served.digest) {
        return Ok(None);
    }
    let bytes = match manifests.get(&img.served.digest) {
        Some(b) => b.clone(),
        None => {
            // Present by digest but not tagged: read it back and check it.
            reg.get_manifest(repo, ManifestRef::Digest(&img.served.digest))
                .await?
                .filter(|b| Sha256Digest::of(b) == img.served.digest)
                .ok_or_else(|| Error::Install {
                    target: format!("{}/{repo}@{}", reg.host(), img.served.digest),
                    reason: "the registry no longer serves this manifest".into(),
                })?
        }
    };
    reg.put_manifest(repo, ManifestRef::Tag(tag), bytes, &img.served.media_type)
        .await?;
    Ok(current.map(|d| d.to_string()))
}

/// Read every image back by tag (or digest) and compare: a registry that answered every
/// push with success but stored nothing, or another writer moving a tag meanwhile, is
/// caught here instead of at the first pull.
async fn confirm<'a>(
    reg: &EnclaveRegistry,
    images: impl Iterator<Item = (&'a ImageRecord, &'a String)>,
) -> Result<()> {
    for (img, repo) in images {
        let reference = match &img.name.tag {
            Some(t) => ManifestRef::Tag(t),
            None => ManifestRef::Digest(&img.served.digest),
        };
        let got = reg.manifest_digest(repo, reference).await?;
        if got != Some(img.served.digest) {
            return Err(Error::Install {
                target: format!("{}/{repo}{reference}", reg.host()),
                reason: format!(
                    "after the push the registry serves {} instead of {}",
                    got.map(|d| d.to_string())
                        .unwrap_or_else(|| "nothing".into()),
                    img.served.digest
                ),
            });
        }
    }
    Ok(())
}
