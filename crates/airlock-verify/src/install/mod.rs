//! Install: a signed bundle -> the enclave's registry and filesystem.
//!
//! Every install starts with a read-only survey from the signed manifest alone
//! ([`survey`], [`presence::look`]): each image's served digest in its repository, each
//! tag, each file's content and mode. When the enclave already holds all of it, [`held`]
//! finishes without reading the payload (the report and receipt say so: [`PayloadRead`]).
//!
//! Otherwise [`install`] takes a [`VerifiedBundle`], so every byte was checked before it
//! starts. It then looks at what the enclave lacks ([`presence`]), checks that the
//! destination and the disks can take the rest ([`files::preflight`], [`space`]), and
//! only then writes: a second payload pass streams the entries the enclave lacks,
//! re-checking each one (a payload swapped between the passes installs nothing wrong):
//! blobs go to the registry through a spool ([`upload`]), files to a temporary name
//! renamed into place only after their hash matched ([`files`]).
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
use crate::enclave_registry::{EnclaveRegistry, ManifestRef};
use crate::error::{Error, Result};
use crate::image_ref::ImageRef;
use crate::layout::PayloadPath;
use crate::manifest::{Carried, FileRecord, Hop, ImageRecord, ServedAs};
use crate::oci::MAX_MANIFEST_BYTES;
use crate::verify::{SignedBundle, VerifiedBundle};
use presence::{Lacks, Needs};

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
    /// Whether the payload was verified before the install, or not read at all.
    pub payload: PayloadRead,
    /// Why, in words.
    pub payload_reason: String,
    /// Seconds since the epoch when the install finished.
    pub finished_unix: u64,
}

/// Whether an install read the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PayloadRead {
    /// Every byte verified before anything was written: the enclave lacked something.
    Verified,
    /// Every byte verified on request (`--verify-payload`), though the enclave lacked
    /// nothing.
    VerifiedOnRequest,
    /// Not read: the enclave already held every image, tag and file the signed manifest
    /// lists. Only the signatures, the manifest and SHA256SUMS were checked.
    NotRead,
}

impl PayloadRead {
    /// True when every payload byte was checked.
    pub fn verified(self) -> bool {
        self != PayloadRead::NotRead
    }
}

/// What the read-only survey decides.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// The enclave holds everything: finish with [`held`], without the payload.
    Finish(Held),
    /// Verify the whole payload, then [`install`].
    Verify(Reading),
}

/// Why a verified install read the payload, for its report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    /// How it was read.
    pub payload: PayloadRead,
    /// Why, in words.
    pub reason: String,
}

/// Proof that the read-only survey found nothing missing; only [`decide`] makes one.
#[derive(Debug, PartialEq, Eq)]
pub struct Held(());

const HELD_REASON: &str = "the enclave already held every image, tag and file";

/// Decide from the read-only survey whether the payload must be read: only when the
/// enclave lacks something, or when `verify_payload` asks for every byte anyway.
pub fn decide(lacks: &Lacks, verify_payload: bool) -> Next {
    if !lacks.is_empty() {
        return Next::Verify(Reading {
            payload: PayloadRead::Verified,
            reason: format!(
                "the enclave lacked {} image(s), {} tag(s) and {} file(s)",
                lacks.images.len(),
                lacks.tags.len(),
                lacks.files.len()
            ),
        });
    }
    if verify_payload {
        return Next::Verify(Reading {
            payload: PayloadRead::VerifiedOnRequest,
            reason: format!("--verify-payload, although {HELD_REASON}"),
        });
    }
    Next::Finish(Held(()))
}

/// The read-only survey every install starts with, from the signed manifest alone:
/// reads the registry and the destination, writes nothing.
pub async fn survey(
    bundle: &SignedBundle,
    reg: &EnclaveRegistry,
    opts: &InstallOptions,
) -> Result<Lacks> {
    let m = bundle.manifest();
    let repos = repos(m, opts);
    presence::look(m, &repos, reg, &opts.roots(), opts.jobs).await
}

/// Finish an install whose survey found nothing missing, without reading the payload:
/// nothing is written to the registry or the destination; every tag is still read back.
pub async fn held(
    bundle: &SignedBundle,
    reg: &EnclaveRegistry,
    opts: &InstallOptions,
    _proof: Held,
) -> Result<InstallReport> {
    let m = bundle.manifest();
    let repos = repos(m, opts);
    confirm(reg, m.images.iter().zip(&repos)).await?;
    let images = m
        .images
        .iter()
        .map(|img| outcome(reg, opts, img, ImageAction::Present, None))
        .collect();
    let roots = opts.roots();
    Ok(InstallReport {
        bundle_manifest_sha256: bundle.manifest_sha256().hex(),
        hop: m.hop.clone(),
        signed_by: signed_by(bundle),
        registry: reg.host().to_string(),
        dest: opts.dest.display().to_string(),
        images,
        files: file_outcomes(&m.files, &[], &roots),
        packages: packages_report(m, &roots, opts.packages_url.as_deref()),
        blobs_pushed: 0,
        bytes_pushed: 0,
        blobs_mounted: 0,
        blobs_present: 0,
        payload_pass: false,
        payload: PayloadRead::NotRead,
        payload_reason: HELD_REASON.into(),
        finished_unix: now_unix(),
    })
}

fn repos(m: &crate::manifest::BundleManifest, opts: &InstallOptions) -> Vec<String> {
    m.images
        .iter()
        .map(|img| repo_for(&img.name, opts.prefix.as_deref()))
        .collect()
}

fn signed_by(bundle: &SignedBundle) -> Vec<String> {
    bundle
        .evaluation()
        .counted
        .iter()
        .map(|c| c.key_id.clone())
        .collect()
}

fn outcome(
    reg: &EnclaveRegistry,
    opts: &InstallOptions,
    img: &ImageRecord,
    action: ImageAction,
    tag_moved_from: Option<String>,
) -> ImageOutcome {
    let mut enclave = img.name.relocated(reg.host(), opts.prefix.as_deref());
    enclave.digest = None;
    ImageOutcome {
        name: img.name.to_string(),
        enclave_ref: enclave.to_string(),
        served_digest: img.served.digest.to_string(),
        served_as: img.served_as,
        action,
        tag_moved_from,
    }
}

/// The enclave repository for an image: its upstream path, under `prefix` if given.
pub fn repo_for(name: &ImageRef, prefix: Option<&str>) -> String {
    match prefix {
        Some(p) if !p.is_empty() => format!("{}/{}", p.trim_matches('/'), name.repository),
        _ => name.repository.clone(),
    }
}

/// Install a verified bundle; `why` says why its payload was read (for the report).
pub async fn install(
    bundle: Arc<VerifiedBundle>,
    reg: Arc<EnclaveRegistry>,
    opts: InstallOptions,
    why: Reading,
    on_progress: Arc<dyn Fn(u64) + Send + Sync>,
) -> Result<InstallReport> {
    let m = bundle.manifest();
    let spool = opts.spool_dir.clone().unwrap_or_else(std::env::temp_dir);
    upload::remove_stale_spools(&spool);
    let repos = repos(m, &opts);

    // 1. What does the enclave lack, and can it take it? Nothing is written before the
    // mounts. Looked at again after verification rather than trusting the survey made
    // before it: the enclave may have changed while the payload was being read.
    let roots = opts.roots();
    let lacks = presence::look(m, &repos, &reg, &roots, opts.jobs).await?;
    let mut needs = presence::plan(m, &repos, &reg, &lacks, opts.jobs).await?;
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
        let action = if missing {
            ImageAction::Pushed
        } else {
            ImageAction::Present
        };
        images.push(outcome(&reg, &opts, img, action, moved));
    }
    confirm(&reg, m.images.iter().zip(&repos)).await?;

    let report = InstallReport {
        bundle_manifest_sha256: bundle.manifest_sha256().hex(),
        hop: m.hop.clone(),
        signed_by: signed_by(&bundle),
        registry: reg.host().to_string(),
        dest: opts.dest.display().to_string(),
        images,
        files: file_outcomes(&m.files, &needs.files, &roots),
        packages: packages_report(m, &roots, opts.packages_url.as_deref()),
        blobs_pushed: pass.blobs,
        bytes_pushed: pass.bytes,
        blobs_mounted: needs.blobs_mounted,
        blobs_present: needs.blobs_present,
        payload_pass: needs.payload_needed(),
        payload: why.payload,
        payload_reason: why.reason,
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

/// Each file's outcome; `installed` holds the indexes of those written.
fn file_outcomes(
    files: &[FileRecord],
    installed: &[usize],
    roots: &files::FileRoots,
) -> Vec<FileOutcome> {
    files
        .iter()
        .enumerate()
        .map(|(i, f)| FileOutcome {
            target: f.target.to_string(),
            path: roots.path(f).display().to_string(),
            action: if installed.contains(&i) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payload_is_read_only_when_something_is_missing_or_asked_for() {
        let nothing = Lacks::default();
        assert_eq!(decide(&nothing, false), Next::Finish(Held(())));
        let Next::Verify(r) = decide(&nothing, true) else {
            panic!("--verify-payload must verify");
        };
        assert_eq!(r.payload, PayloadRead::VerifiedOnRequest);
        assert!(r.payload.verified());
        assert!(!PayloadRead::NotRead.verified());
        // Any one missing image, tag or file takes the verified path.
        let one_each = [
            Lacks {
                images: [0].into(),
                ..Lacks::default()
            },
            Lacks {
                tags: [2].into(),
                ..Lacks::default()
            },
            Lacks {
                files: vec![1],
                ..Lacks::default()
            },
        ];
        for lacks in &one_each {
            assert!(!lacks.is_empty());
            for force in [false, true] {
                let Next::Verify(r) = decide(lacks, force) else {
                    panic!("{lacks:?} finished without the payload");
                };
                assert_eq!(r.payload, PayloadRead::Verified, "{lacks:?}");
            }
        }
        let Next::Verify(r) = decide(&one_each[1], false) else {
            unreachable!()
        };
        assert_eq!(
            r.reason,
            "the enclave lacked 0 image(s), 1 tag(s) and 0 file(s)"
        );
    }

    #[test]
    fn the_payload_field_is_spelled_for_people_and_scripts() {
        let s = |p: PayloadRead| serde_json::to_value(p).unwrap();
        assert_eq!(s(PayloadRead::NotRead), "not-read");
        assert_eq!(s(PayloadRead::Verified), "verified");
        assert_eq!(s(PayloadRead::VerifiedOnRequest), "verified-on-request");
    }
}
