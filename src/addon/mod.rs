//! Add-ons that upgrade with the cluster: the CNI, the CSI driver, ingress, ... each
//! described by a hop manifest (`--with FILE`, see `docs/resolve.md`, "Add-ons").
//!
//! For every add-on, resolve
//! - reads each manifest file it names ([`kube`]) and collects the image of every pod
//!   template, with where it was found; images listed by hand are merged in;
//! - fetches its Helm charts, pinned by digest, from an OCI registry or a chart repository
//!   (`source`; a local archive is read as it is), and takes their images from the
//!   `artifacthub.io/images` annotation, plain `image:` entries of values.yaml
//!   ([`chart`]) and the rendered output the user gives; no template is rendered;
//! - checks it against the target version ([`compat`]): the charts' `kubeVersion`
//!   ([`constraint`]), the hop manifest's `compat:` range, every apiVersion/kind its
//!   manifests use;
//! - records all of it (`facts`) for the lock and the change report.
//!
//! An incompatible add-on fails the resolve unless `--allow-incompatible NAME` names it,
//! which the lock and the report then record.

pub mod chart;
pub mod compat;
pub mod constraint;
pub mod kube;
pub mod pin;
pub mod repo_index;
mod source;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::addon_facts::{
    AddonFacts, AddonImage, ChartCarried, ChartFacts, CompatCheck, FoundAt, ImageSource, Verdict,
};
use crate::catalog::{Catalog, Version};
use crate::checklist::{HelmChart, HelmChartAt};
use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::hop_manifest::{
    ChartSource, HopChart, HopManifest, LocalSpec, check_sha_text, local_file, url_file_name,
};
use crate::http::HttpClient;
use crate::image_ref::ImageRef;
use crate::lock::{FileSource, LockedFile, LockedImage};
use crate::manifest::{FileKind, Mode, Role};
use crate::oci::Platform;
use crate::paths::SafeRelPath;
use crate::upstream_registry::UpstreamRegistry;
use crate::upstream_store::Store;
use compat::ApiSeen;

pub use source::{HELM_CHART, HELM_CONFIG, HELM_PROVENANCE, helm_layer};

/// What add-on resolution needs.
pub struct Context<'a> {
    /// Upstream registries (mirrors configured).
    pub registry: &'a UpstreamRegistry,
    /// Downloads (URL mirrors configured).
    pub http: &'a HttpClient,
    /// The content cache: manifests and charts land here, checked.
    pub store: &'a Store,
    /// The catalog (removed and served APIs).
    pub catalog: &'a Catalog,
    /// The version the hop goes to.
    pub target: Version,
    /// The hop's platforms (add-on images default to them).
    pub platforms: &'a [Platform],
    /// The lock's directory (local paths are written relative to it).
    pub lock_dir: Option<&'a Path>,
    /// Add-ons whose incompatibility is accepted (`--allow-incompatible NAME`).
    pub allow_incompatible: &'a [String],
}

/// An image an add-on needs, to be pinned like the catalog's.
#[derive(Debug, Clone)]
pub struct WantedImage {
    /// The reference.
    pub name: ImageRef,
    /// Platforms to carry.
    pub platforms: Vec<Platform>,
    /// Role in the lock.
    pub role: Role,
}

/// Everything the add-ons add to the lock.
#[derive(Debug, Default)]
pub struct Addons {
    /// Images to pin (per add-on, sorted by name).
    pub images: Vec<WantedImage>,
    /// OCI charts, already pinned (role `chart`).
    pub charts: Vec<LockedImage>,
    /// Files: by URL, local documents, chart archives.
    pub files: Vec<LockedFile>,
    /// Targets of manifests to `kubectl apply` (the checklist).
    pub applies: Vec<String>,
    /// Charts to `helm upgrade` (the checklist).
    pub releases: Vec<HelmChart>,
    /// Per add-on: what was found and checked.
    pub facts: Vec<AddonFacts>,
    /// Notes for the lock.
    pub notes: Vec<String>,
    /// Warnings for the user.
    pub warnings: Vec<String>,
}

/// One add-on while it is gathered.
#[derive(Default)]
struct Gather {
    name: String,
    images: BTreeMap<String, Found>,
    apis: Vec<ApiSeen>,
    defined: BTreeSet<(String, String)>,
    charts: Vec<ChartFacts>,
    checks: Vec<CompatCheck>,
    counts: BTreeMap<ImageSource, usize>,
}

/// An image and everything known about where it came from.
struct Found {
    image: ImageRef,
    found: BTreeSet<FoundAt>,
    platforms: Option<Vec<Platform>>,
    role: Option<Role>,
}

/// Merge key: repository and tag (a digest written beside a tag pins it), or the digest.
fn image_key(r: &ImageRef) -> String {
    match (&r.tag, r.digest) {
        (Some(t), _) => format!("{}/{}:{t}", r.registry, r.repository),
        (None, Some(d)) => format!("{}/{}@{d}", r.registry, r.repository),
        (None, None) => format!("{}/{}:latest", r.registry, r.repository),
    }
}

impl Gather {
    /// Add an image found at `at`. A reference without tag or digest is Kubernetes'
    /// `:latest`, carried as such (with a warning); two different digests for one tag are
    /// an error naming both places.
    fn add(&mut self, image: ImageRef, at: FoundAt, warnings: &mut Vec<String>) -> Result<()> {
        let mut image = image;
        if image.tag.is_none() && image.digest.is_none() {
            warnings.push(format!(
                "add-on {}: image {image} ({at}) has no tag; Kubernetes pulls :latest, so airlock carries {image}:latest as it is today",
                self.name
            ));
            image.tag = Some("latest".into());
        }
        *self.counts.entry(at.source).or_default() += 1;
        let key = image_key(&image);
        match self.images.get_mut(&key) {
            None => {
                let mut found = BTreeSet::new();
                found.insert(at);
                self.images.insert(
                    key,
                    Found {
                        image,
                        found,
                        platforms: None,
                        role: None,
                    },
                );
            }
            Some(f) => {
                match (f.image.digest, image.digest) {
                    (Some(a), Some(b)) if a != b => {
                        let first = f
                            .found
                            .iter()
                            .next()
                            .map(|x| x.to_string())
                            .unwrap_or_default();
                        return Err(Error::invalid(
                            "add-on",
                            &self.name,
                            format!(
                                "{key} is pinned to {a} ({first}) and to {b} ({at}); make them agree"
                            ),
                        ));
                    }
                    (None, Some(_)) => f.image.digest = image.digest,
                    _ => {}
                }
                f.found.insert(at);
            }
        }
        Ok(())
    }

    /// The images of a scanned manifest file (and its APIs and CRD kinds).
    fn manifest(
        &mut self,
        scan: kube::Scan,
        file: &str,
        source: ImageSource,
        warnings: &mut Vec<String>,
    ) -> Result<()> {
        for f in scan.images {
            let at = FoundAt {
                source,
                file: Some(file.to_string()),
                document: Some(f.document),
                line: (f.line > 0).then_some(f.line),
                object: Some(f.object),
                container: Some(format!(
                    "{} ({})",
                    f.container,
                    match f.container_kind {
                        kube::ContainerKind::Container => "container",
                        kube::ContainerKind::InitContainer => "init-container",
                        kube::ContainerKind::EphemeralContainer => "ephemeral-container",
                    }
                )),
                path: None,
            };
            self.add(f.image, at, warnings)?;
        }
        for a in scan.apis {
            let line = if a.line > 0 {
                format!(" (line {})", a.line)
            } else {
                String::new()
            };
            self.apis.push(ApiSeen {
                at: format!("{file} document {}{line} {}", a.document, a.object),
                api_version: a.api_version,
                kind: a.kind,
            });
        }
        for d in scan.defines {
            self.defined.insert((d.group_version, d.kind));
        }
        Ok(())
    }
}

/// Resolve every add-on: fetch and read what each names, pin its charts, check it against
/// the target. Fails on the first add-on that is incompatible and not allowed.
pub async fn resolve(ctx: &Context<'_>, manifests: &[(PathBuf, HopManifest)]) -> Result<Addons> {
    let mut out = Addons::default();
    let mut gathered = Vec::new();
    let mut names = BTreeSet::new();
    for (path, m) in manifests {
        let name = addon_name(path, m);
        if !names.insert(name.clone()) {
            return Err(Error::invalid(
                "hop manifest",
                path.display(),
                format!("two hop manifests name the add-on {name}; give each its own `name:`"),
            ));
        }
        let g = gather(ctx, path, m, name, &mut out)
            .await
            .map_err(|e| e.context(format!("add-on from {}", path.display())))?;
        gathered.push(g);
    }
    for a in ctx.allow_incompatible {
        if !names.contains(a) {
            return Err(Error::invalid(
                "option",
                "--allow-incompatible",
                format!(
                    "no add-on is named {a} (the hop manifests name: {})",
                    names.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
    }
    // Kinds one add-on defines (a CRD) may be used by another.
    let defined: BTreeSet<(String, String)> = gathered
        .iter()
        .flat_map(|g| g.defined.iter().cloned())
        .collect();
    for mut g in gathered {
        g.checks
            .extend(compat::apis(&g.apis, &defined, ctx.catalog, &ctx.target));
        let facts = finish(ctx, g, &mut out)?;
        out.facts.push(facts);
    }
    Ok(out)
}

/// The add-on's name: the hop manifest's `name`, else its file name without extension.
fn addon_name(path: &Path, m: &HopManifest) -> String {
    m.name.clone().unwrap_or_else(|| {
        path.file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_else(|| "addon".into())
    })
}

async fn gather(
    ctx: &Context<'_>,
    path: &Path,
    m: &HopManifest,
    name: String,
    out: &mut Addons,
) -> Result<Gather> {
    let mut g = Gather {
        name,
        ..Gather::default()
    };
    let bad = |e: String| Error::invalid("hop manifest", path.display(), e);
    for f in &m.files {
        let file_name = url_file_name(&f.url).map_err(bad)?;
        let target = match &f.target {
            Some(t) => t.clone(),
            None => SafeRelPath::new(&format!("addons/{file_name}"))?,
        };
        let kind = f.kind.unwrap_or(FileKind::File);
        let sha256 = check_sha_text(&f.sha256).map_err(bad)?;
        let label = f.name.clone().unwrap_or(file_name);
        if kind == FileKind::Manifest {
            out.applies.push(target.to_string());
            let stored = source::pinned_file(ctx.http, ctx.store, &f.url, &sha256, f.size).await?;
            let scan = kube::scan_file(&stored, &label)?;
            g.manifest(scan, &label, ImageSource::Manifest, &mut out.warnings)?;
        }
        out.files.push(LockedFile {
            name: label,
            source: FileSource::Url(f.url.clone()),
            sha256,
            size: f.size,
            target,
            mode: f.mode.unwrap_or(Mode(0o644)),
            kind: Some(kind),
        });
    }
    for d in &m.documents {
        let kind = d.kind.unwrap_or(FileKind::Manifest);
        let (locked, full) = local_file(
            &LocalSpec {
                path: &d.path,
                name: d.name.as_deref(),
                sha256: d.sha256.as_deref(),
                target: d.target.as_ref(),
                mode: d.mode,
                kind,
                default_dir: "manifests",
            },
            path,
            ctx.lock_dir,
        )?;
        if kind == FileKind::Manifest {
            out.applies.push(locked.target.to_string());
            let label = d.path.display().to_string();
            let scan = kube::scan_file(&full, &label)?;
            g.manifest(scan, &label, ImageSource::Manifest, &mut out.warnings)?;
        }
        out.files.push(locked);
    }
    for c in &m.charts {
        chart(ctx, &mut g, path, c, out)
            .await
            .map_err(|e| e.context(format!("chart {}", c.label())))?;
    }
    for i in &m.images {
        let at = FoundAt {
            source: ImageSource::Listed,
            file: Some(
                path.file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default(),
            ),
            document: None,
            line: None,
            object: None,
            container: None,
            path: None,
        };
        g.add(i.name.clone(), at, &mut out.warnings)?;
        if let Some(f) = g.images.get_mut(&image_key(&i.name)) {
            f.platforms = i.platforms.clone();
            f.role = i.role;
        }
    }
    if let Some(c) = &m.compat {
        g.checks.push(compat::support_range(
            c.min.map(|x| x.0),
            c.max.map(|x| x.0),
            &c.source,
            &ctx.target,
        ));
    }
    Ok(g)
}

/// One chart: fetched (or read) by its pin, its images and kubeVersion read.
async fn chart(
    ctx: &Context<'_>,
    g: &mut Gather,
    manifest_path: &Path,
    c: &HopChart,
    out: &mut Addons,
) -> Result<()> {
    let src = c
        .source()
        .map_err(|e| Error::invalid("hop manifest", manifest_path.display(), e))?;
    let got = match &src {
        ChartSource::Local(p) => read_local_chart(ctx, manifest_path, c, p, out)?,
        ChartSource::Oci { reference, digest } => {
            fetch_oci_chart(ctx, reference, digest, out).await?
        }
        ChartSource::Repo {
            url,
            chart: name,
            version,
            sha256,
        } => fetch_repo_chart(ctx, c, url, name, version, sha256, out).await?,
    };
    let mut sources = chart_images(g, &got.info, &got.label, out)?;
    if let Some(r) = &c.rendered {
        rendered_images(g, manifest_path, r, &mut sources, out)?;
    }
    let undetermined = undetermined(&got.info);
    let root = &got.info.root;
    let subject = format!("chart {} {}", root.name, root.version);
    if c.rendered.is_none() {
        warn_unread_images(&g.name, &subject, &undetermined, &sources, out);
    }
    if let Some(kv) = &root.kube_version {
        g.checks
            .push(compat::kube_version(&subject, kv, &got.label, &ctx.target)?);
    }
    out.releases.push(HelmChart {
        name: root.name.clone(),
        version: root.version.clone(),
        at: got.at,
    });
    g.charts.push(ChartFacts {
        name: root.name.clone(),
        version: root.version.clone(),
        source: got.source,
        pinned: got.pinned,
        carried_as: got.carried_as,
        carried: got.carried,
        kube_version: root.kube_version.clone(),
        image_sources: sources.into_iter().collect(),
        undetermined,
    });
    Ok(())
}

/// A chart read by its pin, and how it is named and carried.
struct FetchedChart {
    /// The chart and its subcharts as read.
    info: chart::ChartInfo,
    /// How messages name the chart (a path, `oci://...` or a file name).
    label: String,
    /// Where it came from, for the facts.
    source: String,
    /// Its pin: a sha256 or a digest.
    pinned: String,
    /// A file in the bundle or an OCI artifact.
    carried_as: ChartCarried,
    /// The target path or the reference it is carried as.
    carried: String,
    /// Where the checklist's `helm upgrade` finds it.
    at: HelmChartAt,
}

/// A chart archive beside the hop manifest, carried as a file.
fn read_local_chart(
    ctx: &Context<'_>,
    manifest_path: &Path,
    c: &HopChart,
    p: &Path,
    out: &mut Addons,
) -> Result<FetchedChart> {
    let (locked, full) = local_file(
        &LocalSpec {
            path: p,
            name: c.name.as_deref(),
            sha256: c.sha256.as_deref(),
            target: c.target.as_ref(),
            mode: c.mode,
            kind: c.kind.unwrap_or(FileKind::Chart),
            default_dir: "charts",
        },
        manifest_path,
        ctx.lock_dir,
    )?;
    let label = p.display().to_string();
    let info = chart::read_chart_file(&full, &label)?;
    let target = locked.target.to_string();
    let pinned = locked.sha256.to_string();
    out.files.push(locked);
    Ok(FetchedChart {
        info,
        source: label.clone(),
        label,
        pinned,
        carried_as: ChartCarried::File,
        carried: target.clone(),
        at: HelmChartAt::File(target),
    })
}

/// A chart in an OCI registry, pinned by digest and carried as an OCI artifact.
async fn fetch_oci_chart(
    ctx: &Context<'_>,
    reference: &ImageRef,
    digest: &Sha256Digest,
    out: &mut Addons,
) -> Result<FetchedChart> {
    let o = source::oci_chart(ctx.registry, ctx.store, reference, digest).await?;
    let label = format!("oci://{reference}");
    let info = chart::read_chart_file(&o.archive, &label)?;
    let base = reference
        .repository
        .rsplit('/')
        .next()
        .unwrap_or(&reference.repository);
    if info.root.name != base {
        out.warnings.push(format!(
            "{label}: the chart inside is named {}, not {base} (helm pushes a chart to a repository of its own name)",
            info.root.name
        ));
    }
    out.charts.push(LockedImage {
        name: reference.clone(),
        digest: *digest,
        platforms: Vec::new(),
        role: Some(Role::Chart),
    });
    Ok(FetchedChart {
        info,
        source: label.clone(),
        label,
        pinned: digest.to_string(),
        carried_as: ChartCarried::OciArtifact,
        carried: reference.to_string(),
        at: HelmChartAt::Registry(reference.repository.clone()),
    })
}

/// A chart from a chart repository, pinned by sha256 and carried as a file.
async fn fetch_repo_chart(
    ctx: &Context<'_>,
    c: &HopChart,
    url: &str,
    name: &str,
    version: &str,
    sha256: &Sha256Digest,
    out: &mut Addons,
) -> Result<FetchedChart> {
    let r = source::repo_chart(ctx.http, ctx.store, url, name, version, sha256).await?;
    let file_name = url_file_name(&r.url).unwrap_or_else(|_| format!("{name}-{version}.tgz"));
    let label = file_name.clone();
    let info = chart::read_chart_file(&r.path, &label)?;
    let target = match &c.target {
        Some(t) => t.clone(),
        None => SafeRelPath::new(&format!("charts/{file_name}"))?,
    };
    out.files.push(LockedFile {
        name: c.name.clone().unwrap_or(file_name),
        source: FileSource::Url(r.url.clone()),
        sha256: *sha256,
        size: Some(r.size),
        target: target.clone(),
        mode: c.mode.unwrap_or(Mode(0o644)),
        kind: Some(FileKind::Chart),
    });
    Ok(FetchedChart {
        info,
        label,
        source: format!("{url} (chart {name} {version})"),
        pinned: sha256.to_string(),
        carried_as: ChartCarried::File,
        carried: target.to_string(),
        at: HelmChartAt::File(target.to_string()),
    })
}

/// The images the chart and its subcharts name (annotation, values.yaml); returns where
/// they were read.
fn chart_images(
    g: &mut Gather,
    info: &chart::ChartInfo,
    label: &str,
    out: &mut Addons,
) -> Result<BTreeSet<ImageSource>> {
    let mut sources = BTreeSet::new();
    for meta in info.all() {
        let sub = (meta.dir != info.root.dir).then(|| format!("{}: ", meta.name));
        let prefixed = |p: &str| format!("{}{p}", sub.as_deref().unwrap_or(""));
        for i in &meta.annotated {
            sources.insert(ImageSource::ChartAnnotation);
            let at = chart_at(
                ImageSource::ChartAnnotation,
                label,
                prefixed(&format!("{} {}", chart::IMAGES_ANNOTATION, i.at)),
            );
            g.add(i.image.clone(), at, &mut out.warnings)?;
        }
        for i in &meta.values {
            sources.insert(ImageSource::ChartValues);
            let at = chart_at(
                ImageSource::ChartValues,
                label,
                prefixed(&format!("values.yaml {}", i.at)),
            );
            g.add(i.image.clone(), at, &mut out.warnings)?;
        }
    }
    Ok(sources)
}

/// The images of the chart's rendered output the user gave (`rendered:`, relative to the
/// hop manifest).
fn rendered_images(
    g: &mut Gather,
    manifest_path: &Path,
    r: &Path,
    sources: &mut BTreeSet<ImageSource>,
    out: &mut Addons,
) -> Result<()> {
    let base = manifest_path.parent().unwrap_or(Path::new("."));
    let full = if r.is_absolute() {
        r.to_path_buf()
    } else {
        base.join(r)
    };
    let rlabel = r.display().to_string();
    let scan = kube::scan_file(&full, &rlabel)?;
    if !scan.images.is_empty() {
        sources.insert(ImageSource::Rendered);
    }
    g.manifest(scan, &rlabel, ImageSource::Rendered, &mut out.warnings)
}

/// Each values.yaml entry that may name an image airlock could not read, with its place.
fn undetermined(info: &chart::ChartInfo) -> Vec<String> {
    info.all()
        .flat_map(|meta| {
            let sub = (meta.dir != info.root.dir).then(|| format!("{}: ", meta.name));
            meta.undetermined.iter().map(move |u| {
                format!(
                    "{}values.yaml {}: {}",
                    sub.as_deref().unwrap_or(""),
                    u.at,
                    u.reason
                )
            })
        })
        .collect()
}

/// Without rendered output, images airlock could not read are the user's to list.
fn warn_unread_images(
    addon: &str,
    subject: &str,
    undetermined: &[String],
    sources: &BTreeSet<ImageSource>,
    out: &mut Addons,
) {
    for u in undetermined {
        out.warnings.push(format!(
            "add-on {addon}: {subject}: {u}; list the image under images: or give the chart's rendered output (rendered:)"
        ));
    }
    if sources.is_empty() {
        out.warnings.push(format!(
            "add-on {addon}: {subject} names no image airlock can read (no {} annotation, no plain image entries in values.yaml); list them under images: or give rendered:",
            chart::IMAGES_ANNOTATION
        ));
    }
}

fn chart_at(source: ImageSource, file: &str, path: String) -> FoundAt {
    FoundAt {
        source,
        file: Some(file.to_string()),
        document: None,
        line: None,
        object: None,
        container: None,
        path: Some(path),
    }
}

/// The add-on's images to pin, its facts, and the verdict: an incompatibility stops the
/// resolve unless the add-on is allowed.
fn finish(ctx: &Context<'_>, g: Gather, out: &mut Addons) -> Result<AddonFacts> {
    let mut images = Vec::new();
    for f in g.images.into_values() {
        images.push(AddonImage {
            name: f.image.to_string(),
            found_in: f.found.into_iter().collect(),
        });
        out.images.push(WantedImage {
            name: f.image,
            platforms: f.platforms.unwrap_or_else(|| ctx.platforms.to_vec()),
            role: f.role.unwrap_or(Role::Addon),
        });
    }
    let mut facts = AddonFacts {
        name: g.name,
        images,
        charts: g.charts,
        checks: g.checks,
        exception: None,
    };
    let count = |v: Verdict| facts.checks.iter().filter(|c| c.verdict == v).count();
    let by_source: Vec<String> = g
        .counts
        .iter()
        .map(|(s, n)| format!("{n} in {s}"))
        .collect();
    out.notes.push(format!(
        "add-on {}: {} images (found at: {}), {} charts; against {}: {} compatible, {} incompatible, {} not removed (served APIs unknown), {} unchecked",
        facts.name,
        facts.images.len(),
        if by_source.is_empty() { "none".into() } else { by_source.join(", ") },
        facts.charts.len(),
        ctx.target,
        count(Verdict::Compatible),
        count(Verdict::Incompatible),
        count(Verdict::NotRemoved),
        count(Verdict::Unchecked),
    ));
    let bad: Vec<String> = facts
        .incompatible()
        .map(|c| format!("{}: {} ({})", c.subject, c.requirement, c.detail))
        .collect();
    if !bad.is_empty() {
        if ctx.allow_incompatible.contains(&facts.name) {
            let text = format!(
                "incompatible with {} and carried anyway (--allow-incompatible {}): {}",
                ctx.target,
                facts.name,
                bad.join("; ")
            );
            out.warnings.push(format!("add-on {}: {text}", facts.name));
            out.notes.push(format!("add-on {}: {text}", facts.name));
            facts.exception = Some(text);
        } else {
            return Err(Error::invalid(
                "add-on",
                &facts.name,
                format!(
                    "incompatible with {}: {}. Use another version of the add-on, or carry it anyway with --allow-incompatible {} (recorded in the lock and the report)",
                    ctx.target,
                    bad.join("; "),
                    facts.name
                ),
            ));
        }
    }
    Ok(facts)
}
