//! Install: a verified bundle -> the enclave's registry and filesystem.
//!
//! The bundle is verified completely first (signatures, then every byte of the payload);
//! only then does a second pass stream the payload again and install what the enclave
//! lacks. That second pass re-checks every entry as it goes (see
//! [`crate::bundle::reader::VerifyingReader`]): an upload whose bytes do not match is
//! aborted before the registry commits it, and a file is renamed into place only after its
//! hash matched. So a payload swapped between the two passes installs nothing wrong.
//!
//! Registry push order never leaves a tag pointing at an incomplete image: blobs (each
//! uploaded once, then mounted into other repositories), platform manifests by digest,
//! the index by digest, and the tag last. Manifests are pushed as the exact bytes carried,
//! so their digests are the upstream ones.
//!
//! Idempotent: what the registry (HEAD) or the destination (same sha256 and mode) already
//! has is skipped, and when nothing is missing the second pass is not run at all.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;

use crate::bundle::manifest::{Entry, FileRecord, blob_path};
use crate::bundle::reader::{OpenedBundle, VerifyingReader, walk_payload};
use crate::digest::{HashingReader, Sha256Digest};
use crate::error::{Error, Result};
use crate::fetch::ServedAs;
use crate::oci::MAX_MANIFEST_BYTES;
use crate::paths::create_parent_dirs;
use crate::registry::{ManifestTarget, RegistryClient};

/// Where to install.
#[derive(Debug, Clone)]
pub struct InstallOptions {
    /// Enclave registry `HOST:PORT`.
    pub registry: String,
    /// Repository prefix in the enclave (`k8s` turns `kube-apiserver` into
    /// `k8s/kube-apiserver`).
    pub prefix: Option<String>,
    /// Directory that files are installed under.
    pub dest: PathBuf,
    /// Parallel registry requests for presence checks.
    pub jobs: usize,
    /// Skip the payload pass that checks every byte (only when the caller has just run
    /// [`crate::bundle::reader::verify`] on the same bundle).
    pub already_verified: bool,
    /// Blob uploads in flight at once. Each waits in the spool directory, verified, while
    /// it uploads, so disk use is at most this many blobs.
    pub uploads: usize,
    /// Where verified blobs wait for their upload [default: the system temporary folder].
    pub spool_dir: Option<PathBuf>,
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
    /// `pushed` or `present`.
    pub action: &'static str,
    /// The digest the tag pointed to before, when the install moved it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag_moved_from: Option<String>,
}

/// What happened to one file.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileOutcome {
    /// Path below `--dest`.
    pub target: String,
    /// `installed` or `unchanged`.
    pub action: &'static str,
}

/// The record of one install (also appended to the audit log).
#[derive(Debug, Clone, serde::Serialize)]
pub struct InstallReport {
    /// Always `installed` (failed attempts are logged with `failed`).
    pub outcome: &'static str,
    /// sha256 of the bundle's manifest.json.
    pub bundle_manifest_sha256: String,
    /// Hop, if any.
    pub hop: Option<crate::lock::Hop>,
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

struct ImageTarget {
    record_idx: usize,
    repo: String,
}

fn repo_for(name: &crate::image_ref::ImageRef, prefix: Option<&str>) -> String {
    match prefix {
        Some(p) if !p.is_empty() => format!("{}/{}", p.trim_matches('/'), name.repository),
        _ => name.repository.clone(),
    }
}

fn file_matches(path: &Path, f: &FileRecord) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return false;
    };
    if !meta.is_file() || meta.len() != f.size || meta.permissions().mode() & 0o7777 != f.mode.0 {
        return false;
    }
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let mut r = HashingReader::new(file);
    if std::io::copy(&mut r, &mut std::io::sink()).is_err() {
        return false;
    }
    r.finish().1 == f.sha256
}

/// Install a bundle whose signatures were verified by
/// [`crate::bundle::reader::open_verified`].
pub async fn install(
    bundle: Arc<OpenedBundle>,
    reg: Arc<RegistryClient>,
    opts: InstallOptions,
    on_progress: Arc<dyn Fn(u64) + Send + Sync>,
) -> Result<InstallReport> {
    let m = &bundle.manifest;
    let host = opts.registry.clone();
    let prefix = opts.prefix.as_deref();

    // 1. Verify every byte before touching the enclave.
    if !opts.already_verified {
        let b = bundle.clone();
        let p = on_progress.clone();
        tokio::task::spawn_blocking(move || crate::bundle::reader::verify(&b, &*p))
            .await
            .map_err(|e| Error::Install {
                target: "verify".into(),
                reason: e.to_string(),
            })??;
    }

    // 2. What does the enclave lack?
    let targets: Vec<ImageTarget> = m
        .images
        .iter()
        .enumerate()
        .map(|(i, img)| ImageTarget {
            record_idx: i,
            repo: repo_for(&img.name, prefix),
        })
        .collect();
    let mut images_missing: BTreeSet<usize> = BTreeSet::new();
    let checks = futures::stream::iter(targets.iter().map(|t| {
        let img = &m.images[t.record_idx];
        let reg = &reg;
        let host = &host;
        async move {
            let have = reg
                .manifest_digest(host, &t.repo, ManifestTarget::Digest(&img.served.digest))
                .await?;
            Ok::<_, Error>((t.record_idx, have.is_some()))
        }
    }))
    .buffer_unordered(opts.jobs.max(1))
    .collect::<Vec<_>>()
    .await;
    for c in checks {
        let (i, present) = c?;
        if !present {
            images_missing.insert(i);
        }
    }
    // Blobs needed per repository, for images not already complete.
    let mut blob_repos: BTreeMap<Sha256Digest, BTreeSet<String>> = BTreeMap::new();
    for t in &targets {
        if images_missing.contains(&t.record_idx) {
            for b in &m.images[t.record_idx].blobs {
                blob_repos
                    .entry(b.digest)
                    .or_default()
                    .insert(t.repo.clone());
            }
        }
    }
    let pairs: Vec<(Sha256Digest, String)> = blob_repos
        .iter()
        .flat_map(|(d, repos)| repos.iter().map(move |r| (*d, r.clone())))
        .collect();
    let presence = futures::stream::iter(pairs.into_iter().map(|(d, repo)| {
        let reg = &reg;
        let host = &host;
        async move {
            let there = reg.blob_exists(host, &repo, &d).await?;
            Ok::<_, Error>((d, repo, there))
        }
    }))
    .buffer_unordered(opts.jobs.max(1))
    .collect::<Vec<_>>()
    .await;
    let mut have: BTreeMap<Sha256Digest, Vec<String>> = BTreeMap::new();
    let mut lack: BTreeMap<Sha256Digest, Vec<String>> = BTreeMap::new();
    for p in presence {
        let (d, repo, there) = p?;
        if there {
            have.entry(d).or_default().push(repo)
        } else {
            lack.entry(d).or_default().push(repo)
        }
    }
    let blobs_present = have.values().map(|v| v.len()).sum::<usize>();
    let mut blobs_mounted = 0usize;
    // Mount what another repository of this registry already holds.
    let mut to_upload: BTreeMap<Sha256Digest, Vec<String>> = BTreeMap::new();
    for (d, repos) in lack {
        let mut unmounted = Vec::new();
        match have.get(&d).and_then(|v| v.first()).cloned() {
            Some(from) => {
                for r in repos {
                    // Some registries (or policies) refuse cross-repository mounts; the
                    // blob is then uploaded like any other.
                    match reg.mount_blob(&host, &r, &from, &d).await {
                        Ok(()) => blobs_mounted += 1,
                        Err(e) => {
                            tracing::warn!(
                                "mount of {d} into {r} refused ({e}); uploading instead"
                            );
                            unmounted.push(r);
                        }
                    }
                }
            }
            None => unmounted = repos,
        }
        if !unmounted.is_empty() {
            to_upload.insert(d, unmounted);
        }
    }
    let files_needed: Vec<&FileRecord> = m
        .files
        .iter()
        .filter(|f| !file_matches(&f.target.under(&opts.dest), f))
        .collect();
    let needed_manifests: BTreeSet<Sha256Digest> = images_missing
        .iter()
        .flat_map(|&i| {
            let img = &m.images[i];
            img.manifests
                .iter()
                .map(|c| c.digest)
                .chain([img.served.digest])
        })
        .collect();

    // Fail now, not half-way, when the disk cannot hold what is about to be written.
    check_free_space(&opts, &files_needed, &to_upload, m)?;

    // 3. Second pass, only if something is missing.
    let payload_pass =
        !to_upload.is_empty() || !files_needed.is_empty() || !needed_manifests.is_empty();
    let mut manifests: BTreeMap<Sha256Digest, Bytes> = BTreeMap::new();
    let mut blobs_pushed = 0usize;
    let mut bytes_pushed = 0u64;
    if payload_pass {
        let files_by_sha: BTreeMap<Sha256Digest, Vec<FileRecord>> =
            files_needed.iter().fold(BTreeMap::new(), |mut acc, f| {
                acc.entry(f.sha256)
                    .or_insert_with(Vec::new)
                    .push((*f).clone());
                acc
            });
        let handle = tokio::runtime::Handle::current();
        let b = bundle.clone();
        let reg2 = reg.clone();
        let host2 = host.clone();
        let dest = opts.dest.clone();
        let progress = on_progress.clone();
        let wanted_manifests = needed_manifests.clone();
        let spool_dir = opts.spool_dir.clone();
        let uploads = opts.uploads.max(1);
        let (mans, pushed, pbytes, mounted) = tokio::task::spawn_blocking(move || {
            let mut mans: BTreeMap<Sha256Digest, Bytes> = BTreeMap::new();
            let mut pushed = 0usize;
            let mut pbytes = 0u64;
            let mut uploader = Uploader::new(handle, reg2, host2, spool_dir.as_deref(), uploads)?;
            walk_payload(
                &b,
                &mut |entry: &Entry, r: &mut VerifyingReader<'_>| {
                    let path = entry.path.as_str();
                    if let Some(hex) = path.strip_prefix("blobs/sha256/") {
                        let d = Sha256Digest::from_hex(hex)
                            .map_err(|e| Error::verification(path, e))?;
                        if wanted_manifests.contains(&d) {
                            if entry.size > MAX_MANIFEST_BYTES {
                                return Err(Error::verification(
                                    path,
                                    "manifest larger than 4 MiB",
                                ));
                            }
                            let mut buf = Vec::with_capacity(entry.size as usize);
                            r.read_to_end(&mut buf)
                                .map_err(|e| Error::io("read payload entry", path, e))?;
                            mans.insert(d, Bytes::from(buf));
                        } else if let Some(repos) = to_upload.get(&d) {
                            uploader.submit(d, entry.size, repos.clone(), r)?;
                            pushed += 1;
                            pbytes += entry.size;
                        }
                    } else if let Some(hex) = path.strip_prefix("files/sha256/") {
                        let d = Sha256Digest::from_hex(hex)
                            .map_err(|e| Error::verification(path, e))?;
                        if let Some(list) = files_by_sha.get(&d) {
                            install_files(&dest, list, r)?;
                        }
                    }
                    Ok(())
                },
                &*progress,
            )?;
            let mounted = uploader.finish()?;
            Ok::<_, Error>((mans, pushed, pbytes, mounted))
        })
        .await
        .map_err(|e| Error::Install {
            target: "payload".into(),
            reason: e.to_string(),
        })??;
        manifests = mans;
        blobs_pushed = pushed;
        bytes_pushed = pbytes;
        blobs_mounted += mounted;
    }

    // 4. Manifests (children first), then tags.
    let mut images = Vec::new();
    for t in &targets {
        let img = &m.images[t.record_idx];
        let missing = images_missing.contains(&t.record_idx);
        if missing {
            let mut order: Vec<&crate::fetch::Carried> = img.manifests.iter().collect();
            if img.served_as != ServedAs::Manifest {
                order.push(&img.served);
            }
            for c in order {
                let bytes = manifests
                    .get(&c.digest)
                    .cloned()
                    .ok_or_else(|| Error::Install {
                        target: format!("{host}/{}", t.repo),
                        reason: format!("manifest {} was not found in the payload", c.digest),
                    })?;
                reg.push_manifest(
                    &host,
                    &t.repo,
                    ManifestTarget::Digest(&c.digest),
                    bytes,
                    &c.media_type,
                )
                .await?;
            }
        }
        let mut moved = None;
        if let Some(tag) = &img.name.tag {
            let current = reg
                .manifest_digest(&host, &t.repo, ManifestTarget::Tag(tag))
                .await?;
            if current != Some(img.served.digest) {
                let bytes = match manifests.get(&img.served.digest) {
                    Some(b) => b.clone(),
                    None => {
                        // Present by digest but not tagged: fetch it back and check it.
                        let (b, _) = reg
                            .fetch_manifest(
                                &host,
                                &t.repo,
                                &img.served.digest,
                                Some(&img.served.media_type),
                            )
                            .await?;
                        b
                    }
                };
                reg.push_manifest(
                    &host,
                    &t.repo,
                    ManifestTarget::Tag(tag),
                    bytes,
                    &img.served.media_type,
                )
                .await?;
                moved = current.map(|d| d.to_string());
            }
        }
        let mut enclave = img.name.relocated(&host, prefix);
        enclave.digest = None;
        images.push(ImageOutcome {
            name: img.name.to_string(),
            enclave_ref: enclave.to_string(),
            served_digest: img.served.digest.to_string(),
            served_as: img.served_as,
            action: if missing { "pushed" } else { "present" },
            tag_moved_from: moved,
        });
    }
    let needed_targets: BTreeSet<String> =
        files_needed.iter().map(|f| f.target.to_string()).collect();
    let files = m
        .files
        .iter()
        .map(|f| FileOutcome {
            target: f.target.to_string(),
            action: if needed_targets.contains(f.target.as_str()) {
                "installed"
            } else {
                "unchanged"
            },
        })
        .collect();
    let report = InstallReport {
        outcome: "installed",
        bundle_manifest_sha256: bundle.manifest_sha256.hex(),
        hop: m.hop.clone(),
        signed_by: bundle
            .signatures
            .iter()
            .map(|s| s.key_id.to_string())
            .collect(),
        registry: host.clone(),
        dest: opts.dest.display().to_string(),
        images,
        files,
        blobs_pushed,
        bytes_pushed,
        blobs_mounted,
        blobs_present,
        payload_pass,
        finished_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    };
    append_audit_log(&opts.dest, &report)?;
    Ok(report)
}

/// Bytes available to an unprivileged writer on the filesystem holding `path`, and that
/// filesystem's device id (to tell whether two paths share it).
fn free_space(path: &Path) -> Result<(u64, u64)> {
    let st = rustix::fs::statvfs(path)
        .map_err(|e| Error::io("inspect free space of", path, e.into()))?;
    let meta = std::fs::metadata(path).map_err(|e| Error::io("inspect", path, e))?;
    use std::os::unix::fs::MetadataExt;
    Ok((st.f_bavail.saturating_mul(st.f_frsize), meta.dev()))
}

/// Files go to `--dest`; blobs wait in the spool, at most `--uploads` of them at once
/// (counted as the largest ones, to be safe).
fn check_free_space(
    opts: &InstallOptions,
    files: &[&FileRecord],
    to_upload: &BTreeMap<Sha256Digest, Vec<String>>,
    m: &crate::bundle::manifest::BundleManifest,
) -> Result<()> {
    // Content shared by several targets is written once per target.
    let file_bytes: u64 = files.iter().map(|f| f.size).sum();
    let mut sizes: Vec<u64> = to_upload
        .keys()
        .filter_map(|d| m.entry(&blob_path(d)).map(|e| e.size))
        .collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    let spool_bytes: u64 = sizes.iter().take(opts.uploads.max(1)).sum();
    let spool_base = opts.spool_dir.clone().unwrap_or_else(std::env::temp_dir);
    let dest = free_space(&opts.dest)?;
    let spool = free_space(&spool_base)?;
    match space_shortfall(file_bytes, spool_bytes, dest, spool) {
        None => Ok(()),
        Some((on_dest, need, have)) => Err(Error::Install {
            target: if on_dest {
                opts.dest.display().to_string()
            } else {
                spool_base.display().to_string()
            },
            reason: format!(
                "needs {need} bytes free, has {have} (free some space, or choose another --spool/--dest)"
            ),
        }),
    }
}

/// Which filesystem is short, if any: `(is it --dest's, bytes needed, bytes free)`.
/// `dest` and `spool` are (free bytes, device id); on one device the needs add up.
fn space_shortfall(
    file_bytes: u64,
    spool_bytes: u64,
    dest: (u64, u64),
    spool: (u64, u64),
) -> Option<(bool, u64, u64)> {
    if dest.1 == spool.1 {
        let need = file_bytes + spool_bytes;
        return (need > dest.0).then_some((true, need, dest.0));
    }
    if file_bytes > dest.0 {
        return Some((true, file_bytes, dest.0));
    }
    (spool_bytes > spool.0).then_some((false, spool_bytes, spool.0))
}

/// Uploads blobs while the payload pass goes on. The pass writes each needed blob to a
/// spool file (checked by the [`VerifyingReader`] as it is written) and moves on; up to
/// `uploads` spooled blobs upload concurrently, then are mounted into the other
/// repositories that need them and deleted. The tar stream is strictly sequential, so
/// without the spool one slow upload would hold up everything behind it.
struct Uploader {
    handle: tokio::runtime::Handle,
    reg: Arc<RegistryClient>,
    host: String,
    spool: tempfile::TempDir,
    slots: Arc<tokio::sync::Semaphore>,
    tasks: Vec<tokio::task::JoinHandle<Result<usize>>>,
    /// Mounts made by uploads already joined.
    mounted: usize,
}

impl Uploader {
    fn new(
        handle: tokio::runtime::Handle,
        reg: Arc<RegistryClient>,
        host: String,
        spool_dir: Option<&Path>,
        uploads: usize,
    ) -> Result<Self> {
        let base = spool_dir
            .map(Path::to_path_buf)
            .unwrap_or_else(std::env::temp_dir);
        let spool = tempfile::Builder::new()
            .prefix("airlock-spool-")
            .tempdir_in(&base)
            .map_err(|e| Error::io("create spool directory in", &base, e))?;
        Ok(Uploader {
            handle,
            reg,
            host,
            spool,
            slots: Arc::new(tokio::sync::Semaphore::new(uploads)),
            tasks: Vec::new(),
            mounted: 0,
        })
    }

    /// Spool one verified blob and start its upload.
    fn submit(
        &mut self,
        digest: Sha256Digest,
        size: u64,
        repos: Vec<String>,
        r: &mut VerifyingReader<'_>,
    ) -> Result<()> {
        let permit = self
            .handle
            .block_on(self.slots.clone().acquire_owned())
            .map_err(|e| Error::Install {
                target: self.host.clone(),
                reason: e.to_string(),
            })?;
        // Fail early if an upload already failed.
        if let Some(i) = self.tasks.iter().position(|t| t.is_finished()) {
            let t = self.tasks.swap_remove(i);
            self.mounted += self.join(t)?;
        }
        let path = self.spool.path().join(digest.hex());
        let mut f = std::fs::File::create(&path).map_err(|e| Error::io("create", &path, e))?;
        std::io::copy(r, &mut f).map_err(|e| {
            if e.kind() == std::io::ErrorKind::InvalidData {
                Error::verification(blob_path(&digest), e)
            } else {
                Error::io("write", &path, e)
            }
        })?;
        drop(f);
        let (reg, host) = (self.reg.clone(), self.host.clone());
        self.tasks.push(self.handle.spawn(async move {
            let _permit = permit;
            let file = tokio::fs::File::open(&path)
                .await
                .map_err(|e| Error::io("open", &path, e))?;
            reg.push_blob(&host, &repos[0], &digest, size, file_stream(file))
                .await?;
            let _ = tokio::fs::remove_file(&path).await;
            for other in &repos[1..] {
                reg.mount_blob(&host, other, &repos[0], &digest).await?;
            }
            Ok(repos.len() - 1)
        }));
        Ok(())
    }

    fn join(&self, t: tokio::task::JoinHandle<Result<usize>>) -> Result<usize> {
        self.handle.block_on(t).map_err(|e| Error::Install {
            target: self.host.clone(),
            reason: e.to_string(),
        })?
    }

    /// Wait for every upload; returns how many mounts were made.
    fn finish(mut self) -> Result<usize> {
        for t in std::mem::take(&mut self.tasks) {
            self.mounted += self.join(t)?;
        }
        Ok(self.mounted)
    }
}

impl Drop for Uploader {
    fn drop(&mut self) {
        // The pass failed: stop uploads still running before the spool goes away.
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// A file as a stream of chunks for an upload body.
fn file_stream(
    file: tokio::fs::File,
) -> impl futures::Stream<Item = std::result::Result<Bytes, String>> + Send + 'static {
    use tokio::io::AsyncReadExt;
    futures::stream::unfold(Some(file), |state| async move {
        let mut f = state?;
        let mut buf = vec![0u8; 256 * 1024];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), Some(f)))
            }
            Err(e) => Some((Err(e.to_string()), None)),
        }
    })
}

/// Write one verified entry to every target that wants its content: a temporary name in
/// the target's directory first, renamed only after the content verified.
fn install_files(dest: &Path, list: &[FileRecord], r: &mut VerifyingReader<'_>) -> Result<()> {
    let first = &list[0];
    let mut verified = temp_beside(dest, first)?;
    std::io::copy(r, verified.as_file_mut()).map_err(|e| {
        if e.kind() == std::io::ErrorKind::InvalidData {
            Error::verification(format!("file {}", first.target), e)
        } else {
            Error::io("write", verified.path().to_path_buf(), e)
        }
    })?;
    // Several targets may share this content: the others get copies of the verified file.
    for f in &list[1..] {
        let mut copy = temp_beside(dest, f)?;
        let mut src = std::fs::File::open(verified.path())
            .map_err(|e| Error::io("open", verified.path().to_path_buf(), e))?;
        std::io::copy(&mut src, copy.as_file_mut())
            .map_err(|e| Error::io("write", copy.path().to_path_buf(), e))?;
        commit_file(dest, f, copy)?;
    }
    commit_file(dest, first, verified)
}

fn temp_beside(dest: &Path, f: &FileRecord) -> Result<tempfile::NamedTempFile> {
    let target = create_parent_dirs(dest, &f.target)?;
    let dir = target.parent().unwrap_or(dest);
    tempfile::Builder::new()
        .prefix(".airlock-incoming-")
        .tempfile_in(dir)
        .map_err(|e| Error::io("create temporary file in", dir, e))
}

fn commit_file(dest: &Path, f: &FileRecord, tmp: tempfile::NamedTempFile) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let target = f.target.under(dest);
    if let Ok(meta) = std::fs::symlink_metadata(&target)
        && meta.is_dir()
    {
        return Err(Error::Install {
            target: target.display().to_string(),
            reason: "is a directory".into(),
        });
    }
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io("sync", tmp.path().to_path_buf(), e))?;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(f.mode.0))
        .map_err(|e| Error::io("set permissions on", tmp.path().to_path_buf(), e))?;
    // rename() replaces a symlink at the target rather than following it.
    tmp.persist(&target)
        .map_err(|e| Error::io("rename into place", &target, e.error))?;
    Ok(())
}

/// Record an install that did not happen (bad signature, failed verification, registry
/// error) in the same log, so the enclave's audit trail shows refused bundles too.
pub fn append_failure_record(dest: &Path, bundle: &Path, error: &str) -> Result<()> {
    let record = serde_json::json!({
        "outcome": "failed",
        "bundle": bundle.display().to_string(),
        "error": error,
        "finished_unix": std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    });
    append_line(dest, &record)
}

/// Append the report to `DEST/.airlock/install-log.jsonl`: one JSON object per install,
/// the enclave's record of what went in and when.
fn append_audit_log(dest: &Path, report: &InstallReport) -> Result<()> {
    append_line(dest, report)
}

fn append_line(dest: &Path, record: &impl serde::Serialize) -> Result<()> {
    let dir = dest.join(".airlock");
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("create directory", &dir, e))?;
    let path = dir.join("install-log.jsonl");
    let mut line = serde_json::to_vec(record).map_err(|e| Error::Install {
        target: path.display().to_string(),
        reason: e.to_string(),
    })?;
    line.push(b'\n');
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| Error::io("open", &path, e))?;
    f.write_all(&line)
        .map_err(|e| Error::io("append to", &path, e))?;
    f.sync_all().map_err(|e| Error::io("sync", &path, e))
}

#[cfg(test)]
mod tests {
    use super::space_shortfall;

    #[test]
    fn free_space_needs_add_up_on_one_filesystem() {
        assert_eq!(
            space_shortfall(60, 50, (100, 1), (100, 1)),
            Some((true, 110, 100))
        );
        assert_eq!(space_shortfall(60, 50, (100, 1), (100, 2)), None);
        assert_eq!(
            space_shortfall(160, 0, (100, 1), (100, 2)),
            Some((true, 160, 100))
        );
        assert_eq!(
            space_shortfall(0, 150, (100, 1), (100, 2)),
            Some((false, 150, 100))
        );
    }
}
