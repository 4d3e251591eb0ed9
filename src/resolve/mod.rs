//! Resolve: one Kubernetes version hop -> a lock file.
//!
//! The catalog says which images, binaries and tools a version needs ([`wanted`]); a hop
//! manifest adds the user's components ([`hop_manifest`]); the registry says which digest
//! each image tag points to today, and the upstream checksum files say which sha256 each
//! binary has ([`pin`]). Everything is checked before anything is written, so a failed
//! resolve never leaves a half-written lock. [`plan`] finds the hops of a longer way. See
//! `docs/resolve.md`.

pub mod catchup;
pub mod checksum;
pub mod hop_manifest;
mod pin;
pub mod plan;
mod wanted;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use futures::StreamExt;
use serde::Serialize;

use crate::catalog::{Catalog, Version, expand_template};
use crate::checklist::{self, ChecklistInput, ToolFile};
use crate::error::{Error, Result};
use crate::http::HttpClient;
use crate::image_ref::ImageRef;
use crate::lock::{FileSource, HopFacts, Lock, LockedFile, LockedImage};
use crate::manifest::{CatalogIdentity, FileKind, Hop, Mode, Role};
use crate::oci::Platform;
use crate::packages::PackageOptions;
use crate::paths::SafeRelPath;
use crate::registry::RegistryClient;
use crate::store::Store;
use hop_manifest::{HopManifest, check_sha_text, local_files, url_file_name};
use wanted::{WantedFile, WantedImage, catalog_files, catalog_images, etcd_version_key};

pub use checksum::parse_checksum;
pub use plan::{PlannedHop, check_hop, plan, plan_command};
pub use wanted::arches_from_platforms;

/// Something the user should know that does not stop the resolve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// The message.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

fn warning(message: impl Into<String>) -> Warning {
    Warning {
        message: message.into(),
    }
}

/// Options for [`resolve`].
pub struct ResolveOptions<'a> {
    /// Platforms every catalog image must carry (and hop-manifest images by default).
    pub platforms: Vec<Platform>,
    /// Architectures of the binaries (`amd64`, `arm64`).
    pub arches: Vec<String>,
    /// Carry the back-out set (the `from` version's images and binaries).
    pub backout: bool,
    /// A hop manifest with user components (`--with FILE`).
    pub hop_manifest: Option<&'a Path>,
    /// Directory the lock will be written to; local paths are written relative to it.
    pub lock_dir: Option<&'a Path>,
    /// Registry client (mirrors and insecure hosts configured).
    pub registry: &'a RegistryClient,
    /// HTTP client (URL mirrors configured).
    pub http: &'a HttpClient,
    /// Parallel requests at most.
    pub jobs: usize,
    /// The identity of the catalog used, recorded in the lock (and the bundle manifest).
    pub catalog: Option<CatalogIdentity>,
    /// Notes to add to the lock (e.g. what a check of the catalog against upstream found).
    pub notes: Vec<String>,
    /// Node packages to carry (`--packages`), with the repository key.
    pub packages: Option<&'a PackageOptions>,
    /// The content cache: verified package metadata is kept here for the build.
    pub store: Option<&'a Store>,
}

/// What the hop needs before anything is looked up upstream, and what was learnt on the
/// way (notes for the lock, warnings for the user, uncertain catalog values used).
#[derive(Default)]
struct Wants {
    images: Vec<WantedImage>,
    seen: BTreeSet<String>,
    files: Vec<WantedFile>,
    extra_files: Vec<LockedFile>,
    addon_manifests: Vec<String>,
    tools: Vec<ToolFile>,
    notes: Vec<String>,
    warnings: Vec<Warning>,
    uncertain: Vec<String>,
}

impl Wants {
    /// Add an image unless one of that name is already wanted; false if it was.
    fn add(&mut self, name: ImageRef, platforms: &[Platform], role: Role) -> bool {
        if !self.seen.insert(name.to_string()) {
            return false;
        }
        self.images.push(WantedImage {
            name,
            platforms: platforms.to_vec(),
            role,
        });
        true
    }
}

/// Resolve `from -> to` into a lock: images pinned by digest, binaries and tools pinned
/// by the upstream sha256, user components from the hop manifest, and the checklist.
pub async fn resolve(
    catalog: &Catalog,
    from: &Version,
    to: &Version,
    opts: &ResolveOptions<'_>,
) -> Result<(Lock, Vec<Warning>)> {
    let mut w = Wants {
        warnings: check_hop(catalog, from, to)?,
        ..Wants::default()
    };
    if opts.platforms.is_empty() {
        return Err(Error::invalid("option", "--platform", "no platform given"));
    }
    if opts.arches.is_empty() {
        return Err(Error::invalid("option", "--arch", "no architecture given"));
    }
    // Read the hop manifest (and hash its local files) before any network work.
    let hop_manifest = match opts.hop_manifest {
        Some(p) => Some((p, HopManifest::load(p)?)),
        None => None,
    };
    w.notes.push(summary_note(catalog, from, to, opts));
    w.notes.extend(opts.notes.iter().cloned());
    want_catalog_images(&mut w, catalog, from, to, opts)?;
    if let Some((path, m)) = &hop_manifest {
        want_hop_manifest(&mut w, path, m, opts)?;
    }
    want_catalog_files(&mut w, catalog, from, to, opts)?;

    // Network: tags -> digests, checksum files -> sha256, in parallel, order kept.
    let (images, mut files) = pin_all(&w, opts).await?;
    files.append(&mut w.extra_files);
    let packages = match opts.packages {
        Some(p) => Some(resolve_packages(p, from, to, opts).await?),
        None => None,
    };

    if !w.uncertain.is_empty() {
        w.warnings.push(warning(format!(
            "{} catalog value(s) used here are marked uncertain (see the lock's notes); check them against upstream",
            w.uncertain.len()
        )));
        for u in &w.uncertain {
            w.notes.push(format!("uncertain catalog value: {u}"));
        }
    }
    let steps = checklist::build(&ChecklistInput {
        catalog,
        from: *from,
        to: *to,
        backout: opts.backout,
        tools: std::mem::take(&mut w.tools),
        addon_manifests: std::mem::take(&mut w.addon_manifests),
        worker_batch: 1,
        packages: packages
            .as_ref()
            .map(|p| p.sources.clone())
            .unwrap_or_default(),
    });
    let mut lock = Lock::new();
    lock.hop = Some(Hop {
        from: from.to_string(),
        to: to.to_string(),
    });
    lock.catalog = opts.catalog.clone();
    lock.notes = w.notes;
    lock.images = images;
    lock.files = files;
    if let Some(p) = packages {
        lock.notes.extend(p.notes);
        lock.files.extend(p.files);
        lock.package_repositories = p.repositories;
    }
    lock.checklist = Some(steps);
    lock.facts = Some(hop_facts(catalog, from, to, &w.uncertain));
    lock.validate("resolved lock")?;
    Ok((lock, w.warnings))
}

fn summary_note(
    catalog: &Catalog,
    from: &Version,
    to: &Version,
    opts: &ResolveOptions<'_>,
) -> String {
    format!(
        "resolved {from} -> {to} with catalog {} ({}); platforms {}; binaries for {}",
        catalog.catalog_version,
        if opts.hop_manifest.is_some() {
            "plus a hop manifest"
        } else {
            "no hop manifest"
        },
        opts.platforms
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        opts.arches.join(", ")
    )
}

/// Images: the target's first, then the back-out set (or, without it, an etcd the
/// cluster keeps because kubeadm never downgrades etcd); each name once.
fn want_catalog_images(
    w: &mut Wants,
    catalog: &Catalog,
    from: &Version,
    to: &Version,
    opts: &ResolveOptions<'_>,
) -> Result<()> {
    let to_images = catalog_images(catalog, to, &mut w.uncertain)?;
    for img in to_images.iter().cloned() {
        w.add(img, &opts.platforms, Role::Target);
    }
    let from_images = catalog_images(catalog, from, &mut Vec::new())?;
    if opts.backout {
        for img in from_images {
            w.add(img, &opts.platforms, Role::Backout);
        }
        w.notes.push(format!(
            "back-out set included: the {from} images (role backout) and binaries under bin/{from}/"
        ));
        return Ok(());
    }
    w.notes.push(format!(
        "back-out set left out (--no-backout): this bundle does not carry the {from} images or binaries; a back-out needs them from another bundle"
    ));
    let etcd = |imgs: &[ImageRef]| imgs.iter().find(|i| i.repository == "etcd").cloned();
    if let (Some(cur), Some(tgt)) = (etcd(&from_images), etcd(&to_images))
        && etcd_version_key(cur.tag.as_deref().unwrap_or(""))
            > etcd_version_key(tgt.tag.as_deref().unwrap_or(""))
    {
        w.notes.push(format!(
            "etcd: {cur} (used by {from}) is newer than {tgt}; kubeadm does not downgrade etcd, so the cluster keeps running it and the bundle carries it (role current-etcd)"
        ));
        w.add(cur, &opts.platforms, Role::CurrentEtcd);
    }
    Ok(())
}

/// The hop manifest's images, downloaded files and local files.
fn want_hop_manifest(
    w: &mut Wants,
    path: &Path,
    m: &HopManifest,
    opts: &ResolveOptions<'_>,
) -> Result<()> {
    for i in &m.images {
        let platforms = i
            .platforms
            .clone()
            .unwrap_or_else(|| opts.platforms.clone());
        if !w.add(i.name.clone(), &platforms, i.role.unwrap_or(Role::Addon)) {
            w.warnings.push(warning(format!(
                "{}: image {} is already part of the hop; listed once",
                path.display(),
                i.name
            )));
        }
    }
    let bad = |e: String| Error::invalid("hop manifest", path.display(), e);
    for f in &m.files {
        let file_name = url_file_name(&f.url).map_err(bad)?;
        let target = match &f.target {
            Some(t) => t.clone(),
            None => SafeRelPath::new(&format!("addons/{file_name}"))?,
        };
        let kind = f.kind.unwrap_or(FileKind::File);
        if kind == FileKind::Manifest {
            w.addon_manifests.push(target.to_string());
        }
        w.extra_files.push(LockedFile {
            name: f.name.clone().unwrap_or(file_name),
            source: FileSource::Url(f.url.clone()),
            sha256: check_sha_text(&f.sha256).map_err(bad)?,
            size: f.size,
            target,
            mode: f.mode.unwrap_or(Mode(0o644)),
            kind: Some(kind),
        });
    }
    let (locals, applies) = local_files(m, path, opts.lock_dir)?;
    w.extra_files.extend(locals);
    w.addon_manifests.extend(applies);
    w.notes.push(format!(
        "hop manifest {}: {} images, {} files, {} documents, {} charts",
        m.name.as_deref().unwrap_or("(unnamed)"),
        m.images.len(),
        m.files.len(),
        m.documents.len(),
        m.charts.len()
    ));
    Ok(())
}

/// Files: the target's binaries and tools, then the back-out ones; each target once.
/// Also the tool archives the checklist installs.
fn want_catalog_files(
    w: &mut Wants,
    catalog: &Catalog,
    from: &Version,
    to: &Version,
    opts: &ResolveOptions<'_>,
) -> Result<()> {
    let mut files = catalog_files(catalog, to, &opts.arches, true, &mut w.uncertain)?;
    if opts.backout {
        files.extend(catalog_files(
            catalog,
            from,
            &opts.arches,
            true,
            &mut Vec::new(),
        )?);
    }
    let mut targets = BTreeSet::new();
    files.retain(|f| targets.insert(f.target.clone()));
    w.files = files;
    if let Some(m) = catalog.minor_of(to) {
        for t in &m.tools {
            let url = expand_template(&t.url, &[("tool_version", &t.version), ("arch", "${ARCH}")])
                .map_err(|e| Error::invalid("catalog", "catalog", e))?;
            let file = url_file_name(&url).unwrap_or_default();
            w.tools.push(ToolFile {
                name: t.name.clone(),
                target: format!("tools/{}/{}/linux/${{ARCH}}/{file}", t.name, t.version),
            });
        }
    }
    Ok(())
}

/// Pin every wanted image and file upstream, `jobs` requests at a time, order kept.
async fn pin_all(
    w: &Wants,
    opts: &ResolveOptions<'_>,
) -> Result<(Vec<LockedImage>, Vec<LockedFile>)> {
    let jobs = opts.jobs.max(1);
    let images: Vec<LockedImage> = futures::stream::iter(
        w.images
            .iter()
            .map(|i| pin::resolve_image(opts.registry, i)),
    )
    .buffered(jobs)
    .collect::<Vec<_>>()
    .await
    .into_iter()
    .collect::<Result<_>>()?;
    let files: Vec<LockedFile> =
        futures::stream::iter(w.files.iter().map(|f| pin::resolve_file(opts.http, f)))
            .buffered(jobs)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_>>()?;
    Ok((images, files))
}

/// What the catalog says about the hop: removed APIs (for a minor hop), skew limits,
/// the target's end of life, and the uncertain values used.
fn hop_facts(catalog: &Catalog, from: &Version, to: &Version, uncertain: &[String]) -> HopFacts {
    let target = catalog.minor_of(to);
    let removed_apis = if from.minor == to.minor {
        Vec::new()
    } else {
        target
            .map(|m| {
                m.removed_apis
                    .iter()
                    .map(|r| airlock_verify::cluster::RemovedApi {
                        group_version: r.group_version.clone(),
                        kinds: r.kinds.clone(),
                        replacement: r.replacement.clone(),
                        removed_in: m.minor.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    HopFacts {
        removed_apis,
        kubelet_max_minors_older: catalog.skew.kubelet_max_minors_older,
        kube_proxy_max_minors_older: catalog.skew.kube_proxy_max_minors_older,
        target_end_of_life: target.map(|m| m.end_of_life.to_string()),
        uncertain: uncertain.to_vec(),
    }
}

/// The node packages of both versions (the `from` one only with the back-out set).
async fn resolve_packages(
    p: &PackageOptions,
    from: &Version,
    to: &Version,
    opts: &ResolveOptions<'_>,
) -> Result<crate::packages::Resolved> {
    let store = opts.store.ok_or_else(|| {
        Error::invalid(
            "option",
            "--packages",
            "needs a content cache for the verified metadata",
        )
    })?;
    let mut versions = vec![(*to, Role::Target)];
    if opts.backout && from != to {
        versions.push((*from, Role::Backout));
    }
    let ctx = crate::packages::Ctx {
        http: opts.http,
        store,
        key: &p.key,
    };
    crate::packages::resolve(&ctx, p, &versions, &opts.arches).await
}

/// Group images by role, for summaries.
pub fn image_counts(lock: &Lock) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for i in &lock.images {
        let role = i.role.map(|r| r.to_string()).unwrap_or_default();
        *m.entry(role).or_insert(0) += 1;
    }
    m
}
