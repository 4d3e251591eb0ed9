//! Upstream provenance on the connected side (issue 23): finding the Sigstore evidence of
//! what the lock pins (`discover`, with the Rekor lookups in `rekor`), checking it offline
//! with `airlock_provenance::check_artifact`, keeping each passed bundle document in the
//! content cache (with an add-on's cosign key), and recording the facts or the exception
//! in the lock (`check_lock`). `pack::provenance` carries it into the bundle.

pub mod discover;
pub mod policy;
pub mod rekor;
pub mod trusted_root;

use std::collections::BTreeSet;
use std::path::Path;

use futures::StreamExt;

use airlock_provenance::{Policy, TrustedRoot};

use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::http::HttpClient;
use crate::lock::{ArtifactProvenance, Lock, LockProvenance, ProvenanceStatus, SignatureRecord};
use crate::upstream_registry::UpstreamRegistry;
use crate::upstream_store::Store;
use discover::{Checker, Found};
use policy::{AddonPolicies, Covered, Subject};

pub use airlock_provenance::{KUBERNETES_DOWNLOADS, KUBERNETES_REGISTRY};

/// The warning a resolve with `--no-provenance` prints; the lock's notes (signed into the
/// bundle) say the same.
pub const NOT_CHECKED: &str = "provenance: not checked (--no-provenance): the lock pins what the registries and download servers answered, without checking their Sigstore signatures";

/// Where `airlock provenance trusted-root` writes by default and `resolve` looks when
/// `--trusted-root` is not given: `<cache>/sigstore/trusted_root.json` (per cache, so
/// each `--cache`/`$AIRLOCK_CACHE` has its own).
pub fn default_trusted_root(cache: &Path) -> std::path::PathBuf {
    cache.join("sigstore").join("trusted_root.json")
}

/// The trusted root's path and bytes: `given`, else the default under `cache`; neither is
/// [`Error::NoTrustedRoot`].
pub fn load_trusted_root(
    given: Option<&Path>,
    cache: &Path,
) -> Result<(std::path::PathBuf, Vec<u8>)> {
    let path = match given {
        Some(p) => p.to_path_buf(),
        None => {
            let d = default_trusted_root(cache);
            if !d.exists() {
                return Err(Error::NoTrustedRoot {
                    default: d.display().to_string(),
                });
            }
            d
        }
    };
    let bytes = crate::fsutil::read_limited(
        &path,
        airlock_provenance::MAX_TRUSTED_ROOT as u64,
        "trusted root",
    )?;
    Ok((path, bytes))
}

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
    /// The add-ons' `provenance:` entries.
    pub addons: &'a AddonPolicies,
    /// Refuse an `--allow-unsigned` that names nothing of this lock (a typo). Off for the
    /// hops of `plan --build`, where a name may belong to another hop's lock.
    pub refuse_unused_exceptions: bool,
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

/// A resolve with `--no-provenance`: the lock says `not-checked` and a note records the
/// exception; returns the warning to print.
pub fn record_not_checked(lock: &mut Lock) -> &'static str {
    lock.notes.push(NOT_CHECKED.to_owned());
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
        root: std::sync::Arc::new(root),
    };
    let (subjects, outside) = policy::covered(lock, opts.addons);
    // An exception that names nothing here is a typo: refuse it before any lookup, as an
    // add-on without a policy that is not allowed.
    let labels: BTreeSet<&str> = subjects.iter().map(|c| c.label.as_str()).collect();
    if let Some(unused) = opts
        .allow_unsigned
        .iter()
        .find(|a| opts.refuse_unused_exceptions && !labels.contains(a.as_str()))
    {
        return Err(Error::invalid(
            "option",
            format!("--allow-unsigned {unused}"),
            "names no image (by reference) or file (by URL) of this lock that a provenance policy covers",
        ));
    }
    let allowed = |label: &str| opts.allow_unsigned.iter().any(|a| a == label);
    if let Some(c) = subjects
        .iter()
        .find(|c| c.policy.is_none() && !allowed(&c.label))
    {
        return Err(Error::NoProvenancePolicy {
            artifact: c.label.clone(),
        });
    }
    let found = look_up_all(&checker, &subjects, opts.jobs).await?;
    let mut artifacts = Vec::new();
    for (c, found) in subjects.iter().zip(found) {
        artifacts.push(record(c, found, allowed(&c.label), clients.store)?);
    }
    if outside > 0 {
        lock.notes.push(format!(
            "provenance: {outside} image(s) and file(s) neither from registry.k8s.io or dl.k8s.io nor listed by a hop manifest were not checked (catalog tools from other hosts, package files checked by their repository key, local files)"
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

/// Every subject's signatures, `jobs` lookups at a time, results in lock order (an
/// add-on without a policy, let in by name, is not looked up).
async fn look_up_all(
    checker: &Checker<'_>,
    subjects: &[Covered<'_>],
    jobs: usize,
) -> Result<Vec<Found>> {
    futures::stream::iter(subjects.iter().map(|c| async move {
        match (&c.subject, &c.policy) {
            (_, None) => Ok(Found::default()),
            (Subject::Image(name), Some(p)) => checker.image(name, &c.digest, p).await,
            (Subject::File(url), Some(p)) => checker.file(&c.label, url, &c.digest, p).await,
        }
    }))
    .buffered(jobs.max(1))
    .collect::<Vec<_>>()
    .await
    .into_iter()
    .collect()
}

/// The lock entry for one artifact, its evidence kept in the store; the error when
/// nothing passed and it is not allowed.
fn record(
    c: &Covered<'_>,
    found: Found,
    allowed: bool,
    store: &Store,
) -> Result<ArtifactProvenance> {
    let label = c.label.as_str();
    let not_counted: Vec<String> = found
        .refused
        .iter()
        .map(|r| format!("{}: {}", r.source, r.error))
        .collect();
    let mut entry = ArtifactProvenance {
        artifact: label.to_owned(),
        digest: c.digest,
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
        let key_sha256 = match &c.policy {
            Some(Policy::Key(k)) => Some(keep(store, k.pem().as_bytes(), label, "cosign key")?),
            _ => None,
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
            key_sha256,
        });
        return Ok(entry);
    }
    if allowed {
        entry.unsigned_exception = Some(if c.policy.is_none() {
            format!(
                "no provenance policy for this add-on artifact; carried anyway (--allow-unsigned {label})"
            )
        } else if entry.not_counted.is_empty() {
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
