//! Fetch: lock -> content store. Walks each pinned image from its index down to its layers
//! ([`plan_images`]: the [`ImagePlan`]s the bundle writer packs), then downloads what the
//! store lacks ([`Missing`], [`download`]) with a bounded number of parallel transfers,
//! in the order asked for, so that packing can follow right behind.
//!
//! A rebuild of the same lock finds everything in the store and needs no network.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use futures::StreamExt;

use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::http::HttpClient;
use crate::image_ref::ImageRef;
use crate::lock::{FileSource, Lock, LockedFile, LockedImage};
use crate::manifest::{Carried, Role, ServedAs};
use crate::oci::{self, Descriptor, MAX_MANIFEST_BYTES, ManifestDoc, platform_matches};
use crate::upstream_registry::UpstreamRegistry;
use crate::upstream_store::Store;

/// Everything one locked image contributes to a bundle.
#[derive(Debug, Clone)]
pub struct ImagePlan {
    /// The locked image.
    pub locked: LockedImage,
    /// The upstream manifest or index (its digest is `locked.digest`).
    pub source: Carried,
    /// How the enclave serves it.
    pub served_as: ServedAs,
    /// What the enclave's tag points to.
    pub served: Carried,
    /// The bytes of a subset index written by airlock (only for [`ServedAs::SubsetIndex`]).
    pub subset_bytes: Option<Vec<u8>>,
    /// Platform manifests carried (for a single manifest: that manifest).
    pub manifests: Vec<Carried>,
    /// Configs and layers, each once.
    pub blobs: Vec<Carried>,
}

/// Options for [`download`].
pub struct FetchOptions<'a> {
    /// Parallel transfers (connections) at most.
    pub jobs: usize,
    /// Directory that relative `path:` entries of the lock are resolved against.
    pub lock_dir: &'a Path,
    /// Called with bytes transferred, for a progress bar.
    pub on_progress: Arc<dyn Fn(u64) + Send + Sync>,
    /// Called with the total bytes to transfer once known.
    pub on_total: Arc<dyn Fn(u64) + Send + Sync>,
}

async fn manifest_bytes(
    store: &Store,
    reg: &UpstreamRegistry,
    image: &ImageRef,
    digest: &Sha256Digest,
    hint: Option<&str>,
) -> Result<(Vec<u8>, ManifestDoc)> {
    let what = format!("{}@{}", image.repository_path(), digest);
    if store.has(digest, None) {
        let bytes = store.read_verified(digest, MAX_MANIFEST_BYTES)?;
        let doc = ManifestDoc::parse(&bytes, &what, hint)?;
        return Ok((bytes, doc));
    }
    let registry = reg.source_registry(image);
    let (bytes, doc) = reg
        .fetch_manifest(&registry, &image.repository, digest, hint)
        .await
        .map_err(|e| match e {
            Error::Upstream { reason, .. } => Error::Upstream {
                reference: format!("{} ({})", image, digest),
                reason,
            },
            other => other,
        })?;
    store.put_bytes(&bytes, &what, digest)?;
    Ok((bytes.to_vec(), doc))
}

fn carried(d: &Descriptor) -> Result<Carried> {
    Ok(Carried {
        digest: Sha256Digest::parse(&d.digest).map_err(|e| Error::Upstream {
            reference: d.digest.clone(),
            reason: e.to_string(),
        })?,
        media_type: d.media_type.clone(),
        size: d.size,
        platform: d.platform.as_ref().map(|p| p.to_platform()),
    })
}

/// How an image will be served, what it is served as, and the bytes of a subset index
/// airlock wrote (if any).
type Served = (ServedAs, Carried, Option<Vec<u8>>);

/// Walk one image's manifests (fetching them into the store) and plan what to carry.
async fn plan_image(
    store: &Store,
    reg: &UpstreamRegistry,
    locked: &LockedImage,
) -> Result<ImagePlan> {
    let name = &locked.name;
    let (src_bytes, doc) = manifest_bytes(store, reg, name, &locked.digest, None).await?;
    let source = Carried {
        digest: locked.digest,
        media_type: doc.media_type().to_string(),
        size: src_bytes.len() as u64,
        platform: None,
    };
    let mut manifests = Vec::new();
    let (served_as, served, subset_bytes) = match &doc {
        ManifestDoc::Index {
            manifests: entries, ..
        } => plan_index(store, locked, &source, &src_bytes, entries, &mut manifests)?,
        ManifestDoc::Image { .. } if locked.role == Some(Role::Chart) => {
            plan_chart(locked, &source, &doc, &mut manifests)?
        }
        ManifestDoc::Image { .. } => plan_single(locked, &source, &mut manifests)?,
    };
    let blobs = plan_blobs(store, reg, locked, &doc, &manifests).await?;
    Ok(ImagePlan {
        locked: locked.clone(),
        source,
        served_as,
        served,
        subset_bytes,
        manifests,
        blobs,
    })
}

/// An index: pick the wanted platforms' manifests; serve the upstream index when every
/// platform is carried, else a subset index airlock writes.
fn plan_index(
    store: &Store,
    locked: &LockedImage,
    source: &Carried,
    src_bytes: &[u8],
    entries: &[Descriptor],
    manifests: &mut Vec<Carried>,
) -> Result<Served> {
    let name = &locked.name;
    let mut chosen: Vec<Carried> = Vec::new();
    for want in &locked.platforms {
        let matches: Vec<&Descriptor> = entries
            .iter()
            .filter(|e| {
                e.platform
                    .as_ref()
                    .is_some_and(|p| platform_matches(want, &p.to_platform()))
            })
            .collect();
        match matches.as_slice() {
            [one] => chosen.push(carried(one)?),
            [] => {
                let have: Vec<String> = entries
                    .iter()
                    .filter_map(|e| e.platform.as_ref().map(|p| p.to_platform().to_string()))
                    .collect();
                return Err(Error::Upstream {
                    reference: format!("{name}@{}", locked.digest),
                    reason: format!(
                        "the image index has no {want} manifest (it has: {})",
                        have.join(", ")
                    ),
                });
            }
            _ => {
                return Err(Error::Upstream {
                    reference: format!("{name}@{}", locked.digest),
                    reason: format!("platform {want} matches several manifests; name the variant"),
                });
            }
        }
    }
    // The chosen order follows the index, not the request, for a stable plan.
    chosen.sort_by_key(|c| {
        entries
            .iter()
            .position(|e| e.digest == c.digest.to_string())
    });
    chosen.dedup_by_key(|c| c.digest);
    let all_carried = entries
        .iter()
        .all(|e| chosen.iter().any(|c| c.digest.to_string() == e.digest));
    for child in &chosen {
        if !oci::is_manifest_type(&child.media_type) || oci::is_index_type(&child.media_type) {
            return Err(Error::Unsupported(format!(
                "{name}: index entry {} has media type {} (nested indexes are not supported)",
                child.digest, child.media_type
            )));
        }
        manifests.push(child.clone());
    }
    if all_carried {
        return Ok((ServedAs::Index, source.clone(), None));
    }
    let keep: Vec<Sha256Digest> = chosen.iter().map(|c| c.digest).collect();
    let bytes = subset_index(src_bytes, &locked.digest, &keep)?;
    let d = Sha256Digest::of(&bytes);
    store.put_bytes(&bytes, &format!("subset index of {name}"), &d)?;
    Ok((
        ServedAs::SubsetIndex,
        Carried {
            digest: d,
            media_type: source.media_type.clone(),
            size: bytes.len() as u64,
            platform: None,
        },
        Some(bytes),
    ))
}

/// A Helm chart (an OCI artifact of Helm's media types): carried and served unchanged,
/// without a platform.
fn plan_chart(
    locked: &LockedImage,
    source: &Carried,
    doc: &ManifestDoc,
    manifests: &mut Vec<Carried>,
) -> Result<Served> {
    crate::addon::helm_layer(doc).map_err(|reason| Error::Upstream {
        reference: format!("{}@{}", locked.name, locked.digest),
        reason,
    })?;
    manifests.push(source.clone());
    Ok((ServedAs::Manifest, source.clone(), None))
}

/// A single-platform manifest: carried and served unchanged.
fn plan_single(
    locked: &LockedImage,
    source: &Carried,
    manifests: &mut Vec<Carried>,
) -> Result<Served> {
    let name = &locked.name;
    if locked.platforms.len() != 1 {
        return Err(Error::Upstream {
            reference: format!("{name}@{}", locked.digest),
            reason: format!(
                "is a single-platform manifest, but {} platforms were asked for",
                locked.platforms.len()
            ),
        });
    }
    let mut m = source.clone();
    m.platform = Some(locked.platforms[0].clone());
    manifests.push(m);
    Ok((ServedAs::Manifest, source.clone(), None))
}

/// The configs and layers of the carried platform manifests, each once.
async fn plan_blobs(
    store: &Store,
    reg: &UpstreamRegistry,
    locked: &LockedImage,
    doc: &ManifestDoc,
    manifests: &[Carried],
) -> Result<Vec<Carried>> {
    let name = &locked.name;
    let mut blobs: BTreeMap<Sha256Digest, Carried> = BTreeMap::new();
    for m in manifests {
        let doc = if m.digest == locked.digest {
            doc.clone()
        } else {
            manifest_bytes(store, reg, name, &m.digest, Some(&m.media_type))
                .await?
                .1
        };
        match doc {
            ManifestDoc::Image { config, layers, .. } => {
                for d in std::iter::once(&config).chain(layers.iter()) {
                    let c = carried(d)?;
                    blobs.entry(c.digest).or_insert(c);
                }
            }
            ManifestDoc::Index { .. } => {
                return Err(Error::Unsupported(format!(
                    "{name}: {} is an index inside an index (not supported)",
                    m.digest
                )));
            }
        }
    }
    Ok(blobs.into_values().collect())
}

/// Walk every image of `lock` down to its blobs (fetching manifests into `store`), a few
/// images at a time.
pub async fn plan_images(
    lock: &Lock,
    store: &Store,
    reg: &UpstreamRegistry,
    jobs: usize,
) -> Result<Vec<ImagePlan>> {
    let plans: Vec<Result<ImagePlan>> = futures::stream::iter(lock.images.iter())
        .map(|img| plan_image(store, reg, img))
        .buffered(jobs.max(1))
        .collect()
        .await;
    plans.into_iter().collect()
}

/// What the store still lacks: every blob once (from the first image that names it) and
/// every file.
pub struct Missing<'a> {
    jobs: Vec<Job<'a>>,
}

enum Job<'a> {
    Blob(&'a ImageRef, &'a Carried),
    File(&'a LockedFile),
}

impl Job<'_> {
    fn digest(&self) -> Sha256Digest {
        match self {
            Job::Blob(_, b) => b.digest,
            Job::File(f) => f.sha256,
        }
    }
}

impl<'a> Missing<'a> {
    /// What of `lock` and its `plans` is not in `store` yet.
    pub fn find(lock: &'a Lock, plans: &'a [ImagePlan], store: &Store) -> Self {
        let mut blobs: BTreeMap<Sha256Digest, Job<'a>> = BTreeMap::new();
        for p in plans {
            for b in &p.blobs {
                if !store.has(&b.digest, Some(b.size)) {
                    blobs
                        .entry(b.digest)
                        .or_insert(Job::Blob(&p.locked.name, b));
                }
            }
        }
        let files = lock
            .files
            .iter()
            .filter(|f| !store.has(&f.sha256, f.size))
            .map(Job::File);
        Missing {
            jobs: blobs.into_values().chain(files).collect(),
        }
    }

    /// Their digests.
    pub fn digests(&self) -> impl Iterator<Item = Sha256Digest> + '_ {
        self.jobs.iter().map(Job::digest)
    }

    /// Download in this order (digests not named go last): the order packing reads in.
    pub fn order_by(&mut self, order: &[Sha256Digest]) {
        let rank: std::collections::HashMap<&Sha256Digest, usize> =
            order.iter().enumerate().map(|(i, d)| (d, i)).collect();
        self.jobs
            .sort_by_key(|j| rank.get(&j.digest()).copied().unwrap_or(usize::MAX));
    }

    /// Bytes to download (files of unknown size count nothing; local files are copied,
    /// not downloaded).
    fn download_bytes(&self) -> u64 {
        self.jobs
            .iter()
            .map(|j| match j {
                Job::Blob(_, b) => b.size,
                Job::File(f) if matches!(f.source, FileSource::Url(_)) => f.size.unwrap_or(0),
                Job::File(_) => 0,
            })
            .sum()
    }
}

/// Bring everything `missing` into `store`, `opts.jobs` transfers at a time, started in
/// the order of `missing` (they finish in any order).
pub async fn download(
    missing: Missing<'_>,
    store: &Store,
    reg: &UpstreamRegistry,
    http: &HttpClient,
    opts: &FetchOptions<'_>,
) -> Result<()> {
    (opts.on_total)(missing.download_bytes());
    let transfers = missing.jobs.into_iter().map(|job| match job {
        Job::Blob(image, blob) => fetch_blob(store, reg, image, blob.clone(), opts).boxed(),
        Job::File(f) => fetch_file(store, http, f, opts).boxed(),
    });
    let results: Vec<Result<()>> = futures::stream::iter(transfers)
        .buffer_unordered(opts.jobs.max(1))
        .collect()
        .await;
    // Report the first failure; the others are usually the same cause.
    results.into_iter().collect()
}

async fn fetch_blob(
    store: &Store,
    reg: &UpstreamRegistry,
    image: &ImageRef,
    blob: Carried,
    opts: &FetchOptions<'_>,
) -> Result<()> {
    let progress = opts.on_progress.clone();
    let registry = reg.source_registry(image);
    let stream = reg
        .blob_stream(&registry, &image.repository, &blob.digest, blob.size)
        .await?;
    let what = format!("{} blob {}", image.repository_path(), blob.digest);
    // Hashing is the CPU cost of a fetch: a task of its own lets the runtime's
    // workers hash several blobs at once (polled inline, every blob was hashed on
    // the one thread that drives [`download`]).
    let store = store.clone();
    let digest = blob.digest;
    let task = tokio::spawn(async move {
        store
            .put_stream(stream, &what, &blob.digest, Some(blob.size), |n| {
                progress(n)
            })
            .await
            .map(|_| ())
    });
    match task.await {
        Ok(r) => r,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(Error::Upstream {
            reference: format!("{} blob {digest}", image.repository_path()),
            reason: format!("transfer cancelled: {e}"),
        }),
    }
}

async fn fetch_file(
    store: &Store,
    http: &HttpClient,
    f: &LockedFile,
    opts: &FetchOptions<'_>,
) -> Result<()> {
    let progress = opts.on_progress.clone();
    match &f.source {
        FileSource::Url(url) => http
            .download_to_store(store, url, &f.sha256, f.size, |n| progress(n))
            .await
            .map(|_| ()),
        FileSource::Path(path) => {
            let full = if path.is_absolute() {
                path.clone()
            } else {
                opts.lock_dir.join(path)
            };
            store.put_file(&full, &f.sha256, f.size).map(|_| ())
        }
    }
}

/// Check each single-platform manifest's platform against its config, once the configs
/// are in the store.
pub fn check_platforms(store: &Store, plans: &[ImagePlan]) -> Result<()> {
    for p in plans {
        if p.served_as == ServedAs::Manifest && p.locked.role != Some(Role::Chart) {
            check_single_platform(store, p)?;
        }
    }
    Ok(())
}

fn check_single_platform(store: &Store, p: &ImagePlan) -> Result<()> {
    #[derive(serde::Deserialize)]
    struct Cfg {
        os: Option<String>,
        architecture: Option<String>,
    }
    let Some(config) = p.blobs.iter().find(|b| b.media_type.contains("config")) else {
        return Ok(());
    };
    let bytes = crate::fsutil::read_limited(
        &store.path(&config.digest),
        MAX_MANIFEST_BYTES,
        "image config",
    )?;
    let Ok(cfg) = serde_json::from_slice::<Cfg>(&bytes) else {
        return Ok(());
    };
    let want = &p.locked.platforms[0];
    if let (Some(os), Some(arch)) = (cfg.os, cfg.architecture)
        && (os != want.os || arch != want.architecture)
    {
        return Err(Error::Upstream {
            reference: format!("{}@{}", p.locked.name, p.locked.digest),
            reason: format!("is a single-platform image for {os}/{arch}, not {want}"),
        });
    }
    Ok(())
}

/// Build an index that lists only `keep` of `original`'s manifests: used when a bundle
/// carries some platforms of a multi-platform image, because a registry refuses an index
/// whose children it does not hold. Deterministic: the entries keep their original order
/// and bytes; keys are sorted; no whitespace. An annotation names the upstream index.
pub fn subset_index(
    original: &[u8],
    source_digest: &Sha256Digest,
    keep: &[Sha256Digest],
) -> Result<Vec<u8>> {
    let mut v: serde_json::Value =
        serde_json::from_slice(original).map_err(|e| Error::Upstream {
            reference: source_digest.to_string(),
            reason: format!("index is not valid JSON: {e}"),
        })?;
    let obj = v.as_object_mut().ok_or_else(|| Error::Upstream {
        reference: source_digest.to_string(),
        reason: "index is not a JSON object".into(),
    })?;
    if let Some(serde_json::Value::Array(list)) = obj.get_mut("manifests") {
        list.retain(|m| {
            m.get("digest")
                .and_then(|d| d.as_str())
                .and_then(|d| Sha256Digest::parse(d).ok())
                .is_some_and(|d| keep.contains(&d))
        });
    }
    let ann = obj
        .entry("annotations")
        .or_insert_with(|| serde_json::Value::Object(Default::default()));
    if let Some(a) = ann.as_object_mut() {
        a.insert(
            "io.airlock.subset-of".into(),
            serde_json::Value::String(source_digest.to_string()),
        );
    }
    // serde_json's map is ordered by key, so this output is canonical.
    serde_json::to_vec(&v).map_err(|e| Error::Upstream {
        reference: source_digest.to_string(),
        reason: e.to_string(),
    })
}

use futures::FutureExt;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subset_index_keeps_only_the_carried_children_deterministically() {
        let a = Sha256Digest::of(b"a");
        let b = Sha256Digest::of(b"b");
        let idx = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{a}","size":10,"platform":{{"os":"linux","architecture":"amd64"}}}},{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{b}","size":10,"platform":{{"os":"linux","architecture":"arm64"}}}}]}}"#
        );
        let src = Sha256Digest::of(idx.as_bytes());
        let sub = subset_index(idx.as_bytes(), &src, &[a]).unwrap();
        match ManifestDoc::parse(&sub, "t", None).unwrap() {
            ManifestDoc::Index { manifests, .. } => {
                assert_eq!(manifests.len(), 1);
                assert_eq!(manifests[0].digest, a.to_string());
            }
            other => panic!("{other:?}"),
        }
        assert!(String::from_utf8_lossy(&sub).contains(&src.to_string()));
        assert_eq!(sub, subset_index(idx.as_bytes(), &src, &[a]).unwrap());
    }
}
