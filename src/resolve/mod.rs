//! Resolve: one Kubernetes version hop -> a lock file.
//!
//! The catalog says which images, binaries and tools a version needs (`wanted`); a hop
//! manifest adds the user's components ([`crate::hop_manifest`]); the registry says which digest
//! each image tag points to today, and the upstream checksum files say which sha256 each
//! binary has (`pin`). Everything is checked before anything is written, so a failed
//! resolve never leaves a half-written lock. The catalog's [`crate::catalog::plan`] finds the hops
//! of a longer way. See
//! `docs/resolve.md`.

pub mod catchup;
pub mod checksum;
mod pin;
pub mod skip_workers;
pub mod two_step;
mod wanted;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use futures::StreamExt;

use crate::catalog::plan::{check_hop, warning};
use crate::catalog::{Catalog, Version, expand_template};
use crate::checklist::{self, ChecklistInput, ToolFile};
use crate::error::{Error, Result};
use crate::hop_manifest::{HopManifest, url_file_name};
use crate::http::HttpClient;
use crate::image_ref::ImageRef;
use crate::lock::{HopFacts, Lock, LockedFile, LockedImage};
use crate::manifest::{CatalogIdentity, Hop, Role};
use crate::oci::Platform;
use crate::packages::PackageOptions;
use crate::upstream_registry::UpstreamRegistry;
use crate::upstream_store::Store;
use wanted::{WantedFile, WantedImage, catalog_files, catalog_images, etcd_version_key};

// The resolve's warnings are the planner's: a hop check is the first thing a resolve does.
pub use crate::catalog::plan::Warning;
pub use checksum::parse_checksum;
pub use wanted::arches_from_platforms;

/// Options for [`resolve`].
pub struct ResolveOptions<'a> {
    /// Platforms every catalog image must carry (and hop-manifest images by default).
    pub platforms: Vec<Platform>,
    /// Architectures of the binaries (`amd64`, `arm64`).
    pub arches: Vec<String>,
    /// Carry the back-out set (the `from` version's images and binaries).
    pub backout: bool,
    /// Hop manifests, one per add-on (`--with FILE`, repeatable).
    pub hop_manifests: Vec<&'a Path>,
    /// Add-ons carried even when incompatible with the target (`--allow-incompatible`).
    pub allow_incompatible: Vec<String>,
    /// Directory the lock will be written to; local paths are written relative to it.
    pub lock_dir: Option<&'a Path>,
    /// Registry client (mirrors and insecure hosts configured).
    pub registry: &'a UpstreamRegistry,
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
    /// The content cache: verified package metadata, add-on manifests and charts are kept
    /// here for the build.
    pub store: Option<&'a Store>,
    /// The etcd members (`--etcd-manifest`), for a per-member restore in the runbook.
    pub etcd: Option<crate::etcd::EtcdCluster>,
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
    addon_charts: Vec<checklist::HelmChart>,
    chart_images: Vec<LockedImage>,
    addon_facts: Vec<crate::addon_facts::AddonFacts>,
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
    // Read the hop manifests before any network work.
    let hop_manifests = opts
        .hop_manifests
        .iter()
        .map(|p| Ok((p.to_path_buf(), HopManifest::load(p)?)))
        .collect::<Result<Vec<_>>>()?;
    w.notes.push(summary_note(catalog, from, to, opts));
    w.notes.extend(opts.notes.iter().cloned());
    want_catalog_images(&mut w, catalog, from, to, opts)?;
    if !hop_manifests.is_empty() {
        want_addons(&mut w, catalog, to, &hop_manifests, opts).await?;
    } else if !opts.allow_incompatible.is_empty() {
        return Err(Error::invalid(
            "option",
            "--allow-incompatible",
            "names an add-on, but no hop manifest was given (--with FILE)",
        ));
    }
    want_catalog_files(&mut w, catalog, from, to, opts)?;

    // Network: tags -> digests, checksum files -> sha256, in parallel, order kept.
    let (mut images, mut files) = pin_all(&w, opts).await?;
    images.append(&mut w.chart_images);
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
    let checklist = checklist::build(&ChecklistInput {
        catalog,
        from: *from,
        to: *to,
        backout: opts.backout,
        tools: std::mem::take(&mut w.tools),
        addon_manifests: std::mem::take(&mut w.addon_manifests),
        addon_charts: std::mem::take(&mut w.addon_charts),
        worker_batch: 1,
        packages: packages
            .as_ref()
            .map(|p| p.sources.clone())
            .unwrap_or_default(),
        etcd: opts.etcd.clone(),
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
    lock.checklist = Some(checklist.steps);
    let mut facts = hop_facts(catalog, to, &w.uncertain);
    facts.left_out_steps = checklist.left_out;
    facts.addons = std::mem::take(&mut w.addon_facts);
    lock.facts = Some(facts);
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
        match opts.hop_manifests.len() {
            0 => "no hop manifest".to_string(),
            1 => "plus a hop manifest".to_string(),
            n => format!("plus {n} hop manifests"),
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

/// The add-ons of the hop manifests: their images (found in their manifests and charts,
/// and listed), files, charts, and compatibility with the target.
async fn want_addons(
    w: &mut Wants,
    catalog: &Catalog,
    to: &Version,
    manifests: &[(std::path::PathBuf, HopManifest)],
    opts: &ResolveOptions<'_>,
) -> Result<()> {
    let store = opts.store.ok_or_else(|| {
        Error::invalid(
            "option",
            "--with",
            "needs a content cache for the add-ons' manifests and charts",
        )
    })?;
    let ctx = crate::addon::Context {
        registry: opts.registry,
        http: opts.http,
        store,
        catalog,
        target: *to,
        platforms: &opts.platforms,
        lock_dir: opts.lock_dir,
        allow_incompatible: &opts.allow_incompatible,
    };
    let a = crate::addon::resolve(&ctx, manifests).await?;
    for i in a.images {
        if !w.add(i.name.clone(), &i.platforms, i.role) {
            w.warnings.push(warning(format!(
                "image {} of an add-on is already part of the hop; listed once",
                i.name
            )));
        }
    }
    w.extra_files.extend(a.files);
    w.addon_manifests.extend(a.applies);
    w.addon_charts.extend(a.releases);
    w.chart_images.extend(a.charts);
    w.notes.extend(a.notes);
    w.warnings.extend(a.warnings.into_iter().map(warning));
    w.addon_facts = a.facts;
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

/// What the catalog says about the hop: every API removed up to the target, skew limits,
/// the target's end of life, and the uncertain values used.
fn hop_facts(catalog: &Catalog, to: &Version, uncertain: &[String]) -> HopFacts {
    let target = catalog.minor_of(to);
    // Every API the target no longer serves, not only the hop's own minor's: a manifest
    // or Helm release still on batch/v1beta1 (gone since 1.25) fails as surely as one on
    // an API this hop removes, and a check that only knew the latter would pass it.
    let removed_apis = catalog.removed_apis_up_to(to);
    HopFacts {
        removed_apis,
        kubelet_max_minors_older: catalog.skew.kubelet_max_minors_older,
        kube_proxy_max_minors_older: catalog.skew.kube_proxy_max_minors_older,
        target_end_of_life: target.map(|m| m.end_of_life.to_string()),
        uncertain: uncertain.to_vec(),
        addons: Vec::new(),
        left_out_steps: Vec::new(),
        two_step: None,
        removed_apis_in_step2: Vec::new(),
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
