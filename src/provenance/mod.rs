//! Upstream provenance on the connected side (issue 23): finding the Sigstore evidence of
//! what the lock pins (`discover`, with the Rekor lookups in `rekor`), checking it offline
//! with `airlock_provenance::check_artifact`, keeping each passed bundle document in the
//! content cache, and recording the facts or the exception in the lock (`check_lock`).
//! Carrying the evidence into the bundle and re-checking it inside come next
//! (docs/design/provenance.md §6).

pub mod discover;
pub mod rekor;
pub mod trusted_root;

use std::collections::BTreeSet;
use std::path::Path;

use futures::StreamExt;

use airlock_provenance::{KUBERNETES_FILES, KUBERNETES_IMAGES, TrustedRoot};

use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::http::HttpClient;
use crate::lock::{
    ArtifactProvenance, FileSource, Lock, LockProvenance, ProvenanceStatus, SignatureRecord,
};
use crate::upstream_registry::UpstreamRegistry;
use crate::upstream_store::Store;
use discover::{Checker, Found};

pub use airlock_provenance::{KUBERNETES_DOWNLOADS, KUBERNETES_REGISTRY};

/// The warning a resolve without `--trusted-root` prints.
pub const NOT_CHECKED: &str = "provenance: not checked (no --trusted-root): the lock pins what the registries and download servers answered, without checking Kubernetes' Sigstore signatures";

/// What `check_lock` checks with.
pub struct ProvenanceOptions<'a> {
    /// `--trusted-root FILE`: its path (for errors) and bytes.
    pub trusted_root: (&'a Path, &'a [u8]),
    /// `--rekor-url`.
    pub rekor_url: &'a str,
    /// `--allow-unsigned NAME`: images (by reference) and files (by URL) let in without
    /// a passing signature.
    pub allow_unsigned: &'a [String],
    /// Parallel lookups at most (`--jobs`).
    pub jobs: usize,
}

/// Who may touch the network and the cache for `check_lock`.
pub struct Clients<'a> {
    /// Registry client (referrers, `.sig` tags).
    pub registry: &'a UpstreamRegistry,
    /// HTTP client (`.sig`/`.cert` files, Rekor).
    pub http: &'a HttpClient,
    /// Where passed bundle documents and payloads are kept.
    pub store: &'a Store,
}

/// One Kubernetes artifact of the lock: its name in errors and `--allow-unsigned`, its
/// digest, and what to look up.
enum Subject<'a> {
    Image(&'a crate::image_ref::ImageRef),
    File(&'a str),
}

/// A resolve without `--trusted-root`: the lock says `not-checked`; returns the warning
/// to print.
pub fn record_not_checked(lock: &mut Lock) -> &'static str {
    lock.provenance = Some(LockProvenance {
        status: ProvenanceStatus::NotChecked,
        trusted_root_sha256: None,
        artifacts: Vec::new(),
    });
    NOT_CHECKED
}

/// Checks every Kubernetes image and file `lock` pins and records the result in it.
/// A missing or refused signature that `--allow-unsigned` does not name is an error, and
/// the caller writes no lock.
pub async fn check_lock(
    lock: &mut Lock,
    opts: &ProvenanceOptions<'_>,
    clients: &Clients<'_>,
) -> Result<()> {
    let (root_path, root_bytes) = opts.trusted_root;
    let root = TrustedRoot::from_json(root_bytes)
        .map_err(|e| Error::invalid("trusted root", root_path.display(), e))?;
    let checker = Checker {
        registry: clients.registry,
        http: clients.http,
        rekor: rekor::Rekor::new(clients.http, opts.rekor_url),
        root: &root,
    };
    let subjects = kubernetes_subjects(lock);
    // An exception that names nothing here is a typo: refuse it before any lookup.
    let labels: BTreeSet<&str> = subjects.iter().map(|(l, _, _)| l.as_str()).collect();
    if let Some(unused) = opts
        .allow_unsigned
        .iter()
        .find(|a| !labels.contains(a.as_str()))
    {
        return Err(Error::invalid(
            "option",
            format!("--allow-unsigned {unused}"),
            "names no Kubernetes image (by reference) or release file (by URL) of this lock",
        ));
    }
    let found = look_up_all(&checker, &subjects, opts.jobs).await?;
    let mut artifacts = Vec::new();
    for ((label, digest, _), found) in subjects.iter().zip(found) {
        let allowed = opts.allow_unsigned.iter().any(|a| a == label);
        artifacts.push(record(label, digest, found, allowed, clients.store)?);
    }
    let outside = lock.images.len() + lock.files.len() - subjects.len();
    if outside > 0 {
        lock.notes.push(format!(
            "provenance: {outside} image(s) and file(s) outside registry.k8s.io and dl.k8s.io were not checked (policies for add-ons come later)"
        ));
    }
    // Kept beside the evidence so `airlock build` can carry the root it was checked with.
    let root_sha256 = keep(
        clients.store,
        root_bytes,
        &root_path.display().to_string(),
        "trusted root",
    )?;
    lock.provenance = Some(LockProvenance {
        status: ProvenanceStatus::Checked,
        trusted_root_sha256: Some(root_sha256),
        artifacts,
    });
    Ok(())
}

/// Every subject's signatures, `jobs` lookups at a time, results in lock order.
async fn look_up_all(
    checker: &Checker<'_>,
    subjects: &[(String, Sha256Digest, Subject<'_>)],
    jobs: usize,
) -> Result<Vec<Found>> {
    futures::stream::iter(subjects.iter().map(|(label, digest, subject)| async move {
        match subject {
            Subject::Image(name) => checker.image(name, digest, &KUBERNETES_IMAGES).await,
            Subject::File(url) => checker.file(label, url, digest, &KUBERNETES_FILES).await,
        }
    }))
    .buffered(jobs.max(1))
    .collect::<Vec<_>>()
    .await
    .into_iter()
    .collect()
}

/// The images and files the built-in Kubernetes policy covers, in lock order: label (image
/// reference or URL), digest, and what to look up.
fn kubernetes_subjects(lock: &Lock) -> Vec<(String, Sha256Digest, Subject<'_>)> {
    let mut subjects: Vec<(String, Sha256Digest, Subject<'_>)> = Vec::new();
    for i in lock
        .images
        .iter()
        .filter(|i| i.name.registry == KUBERNETES_REGISTRY)
    {
        subjects.push((i.name.to_string(), i.digest, Subject::Image(&i.name)));
    }
    for f in &lock.files {
        if let FileSource::Url(u) = &f.source
            && u.starts_with(KUBERNETES_DOWNLOADS)
        {
            subjects.push((u.clone(), f.sha256, Subject::File(u)));
        }
    }
    subjects
}

/// The lock entry for one artifact, its evidence kept in the store; the error when
/// nothing passed and it is not allowed.
fn record(
    label: &str,
    digest: &Sha256Digest,
    found: Found,
    allowed: bool,
    store: &Store,
) -> Result<ArtifactProvenance> {
    let not_counted: Vec<String> = found
        .refused
        .iter()
        .map(|r| format!("{}: {}", r.source, r.error))
        .collect();
    let mut entry = ArtifactProvenance {
        artifact: label.to_owned(),
        digest: *digest,
        signature: None,
        unsigned_exception: None,
        not_counted,
    };
    if let Some(ev) = found.passed {
        let bundle_sha256 = keep(store, &ev.bundle, label, "Sigstore bundle")?;
        let payload_sha256 = match &ev.payload {
            Some(p) => Some(keep(store, p, label, "signed payload")?),
            None => None,
        };
        entry.signature = Some(SignatureRecord {
            source: ev.source,
            identity: ev.facts.identity,
            issuer: ev.facts.issuer,
            log_index: ev.facts.log_index,
            integrated_time: ev.facts.integrated_time,
            log_id: ev.facts.log_id,
            bundle_sha256,
            payload_sha256,
        });
        return Ok(entry);
    }
    if allowed {
        entry.unsigned_exception = Some(if entry.not_counted.is_empty() {
            format!("no signature found; carried anyway (--allow-unsigned {label})")
        } else {
            format!("no signature passed; carried anyway (--allow-unsigned {label})")
        });
        return Ok(entry);
    }
    match found.refused.into_iter().next() {
        Some(r) => Err(Error::Provenance(r.error)),
        None => Err(Error::Unsigned {
            artifact: label.to_owned(),
        }),
    }
}

fn keep(store: &Store, bytes: &[u8], label: &str, what: &str) -> Result<Sha256Digest> {
    let d = Sha256Digest::of(bytes);
    store.put_bytes(bytes, &format!("{label} {what}"), &d)?;
    Ok(d)
}
