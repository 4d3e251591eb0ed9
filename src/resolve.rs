//! Resolve: one Kubernetes version hop -> a lock file.
//!
//! The catalog says which images, binaries and tools a version needs; the registry says
//! which digest each image tag points to today; the upstream checksum files say which
//! sha256 each binary has. Everything is checked before anything is written, so a failed
//! resolve never leaves a half-written lock. See `docs/resolve.md`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Component, Path, PathBuf};

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::catalog::{Catalog, ChecksumFormat, Confidence, Version, expand_template};
use crate::checklist::{self, ChecklistInput, ToolFile};
use crate::digest::{HashingReader, Sha256Digest};
use crate::error::{Error, Result};
use crate::http::HttpClient;
use crate::image_ref::ImageRef;
use crate::lock::{Hop, Lock, LockedFile, LockedImage, Mode, Platform};
use crate::oci::ManifestDoc;
use crate::paths::SafeRelPath;
use crate::registry::RegistryClient;

/// Largest checksum file accepted.
pub const MAX_CHECKSUM_BYTES: usize = 64 * 1024;
/// Largest hop manifest accepted.
pub const MAX_HOP_MANIFEST_BYTES: u64 = 1024 * 1024;
/// The hop manifest format this version reads.
pub const HOP_MANIFEST_FORMAT: u32 = 1;

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
}

/// One step of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PlannedHop {
    /// Version before the step.
    pub from: Version,
    /// Version after the step.
    pub to: Version,
}

/// The `airlock plan` command for a multi-step upgrade.
pub fn plan_command(from: &Version, to: &Version) -> String {
    format!("airlock plan --from {from} --to {to}")
}

fn hop_error(from: &Version, to: &Version, reason: String) -> Error {
    Error::invalid("hop", format!("{from} -> {to}"), reason)
}

/// Check that `from -> to` is a hop airlock resolves: both versions in the catalog, forward,
/// at most one minor. Returns warnings (e.g. `from` is not the newest patch of its minor).
pub fn check_hop(catalog: &Catalog, from: &Version, to: &Version) -> Result<Vec<Warning>> {
    let from_minor = catalog
        .check_known(from)
        .map_err(|e| hop_error(from, to, e))?;
    catalog
        .check_known(to)
        .map_err(|e| hop_error(from, to, e))?;
    if to == from {
        return Err(hop_error(
            from,
            to,
            "from and to are the same version".into(),
        ));
    }
    if to < from {
        return Err(hop_error(
            from,
            to,
            format!(
                "{to} is older than {from}: kubeadm does not downgrade, so airlock does not \
                 resolve backward hops. To go back, follow the back-out steps (backout.*) of \
                 the bundle that brought the cluster to {from}. If you meant to upgrade from \
                 {to} to {from}, run: {}",
                plan_command(to, from)
            ),
        ));
    }
    let mut warnings = Vec::new();
    let step = catalog.skew.kubeadm_max_minors_per_upgrade.max(1);
    if to.minor > from.minor + step {
        let skipped: Vec<String> = (from.minor + 1..to.minor)
            .map(|m| format!("1.{m}"))
            .collect();
        return Err(hop_error(
            from,
            to,
            format!(
                "the hop skips minor {}: kubeadm upgrades one minor at a time and kube-apiserver \
                 may not skip a minor. Plan the hops with: {}",
                skipped.join(", "),
                plan_command(from, to)
            ),
        ));
    }
    if to.minor > from.minor && from.patch < from_minor.latest_patch {
        let newest = Version::new(from.minor, from_minor.latest_patch);
        warnings.push(warning(format!(
            "{from} is not the newest patch of {} ({newest} is); upstream advises moving to the \
             newest patch before a minor upgrade: {}",
            from.minor_key(),
            plan_command(from, to)
        )));
    }
    Ok(warnings)
}

/// The ordered hops from `from` to `to`: the patch upgrade within `from`'s minor first
/// (when `from` is not its newest patch and the target is in a later minor), then one minor
/// at a time through the newest patch of each intermediate minor.
pub fn plan(catalog: &Catalog, from: &Version, to: &Version) -> Result<Vec<PlannedHop>> {
    catalog
        .check_known(from)
        .map_err(|e| hop_error(from, to, e))?;
    catalog
        .check_known(to)
        .map_err(|e| hop_error(from, to, e))?;
    if to <= from {
        return Err(hop_error(
            from,
            to,
            format!("{to} is not newer than {from}; airlock plans upgrades only"),
        ));
    }
    let newest = |minor: u32| -> Result<Version> {
        let key = format!("1.{minor}");
        catalog
            .latest_patch(&key)
            .map(|p| Version::new(minor, p))
            .ok_or_else(|| {
                hop_error(
                    from,
                    to,
                    format!("minor {key} is not in the catalog, so the path through it is unknown"),
                )
            })
    };
    let mut hops = Vec::new();
    let mut cur = *from;
    if to.minor > cur.minor {
        let top = newest(cur.minor)?;
        if cur < top {
            hops.push(PlannedHop { from: cur, to: top });
            cur = top;
        }
    }
    while cur.minor < to.minor {
        let next = if cur.minor + 1 == to.minor {
            *to
        } else {
            newest(cur.minor + 1)?
        };
        hops.push(PlannedHop {
            from: cur,
            to: next,
        });
        cur = next;
    }
    if cur < *to {
        hops.push(PlannedHop { from: cur, to: *to });
    }
    Ok(hops)
}

/// Parse an upstream checksum file. `file_name` is the last path segment of the file's URL
/// (used to pick the line of a `sha256sum` file).
pub fn parse_checksum(
    text: &str,
    format: ChecksumFormat,
    file_name: &str,
) -> std::result::Result<Sha256Digest, String> {
    let digest = |hex: &str| {
        Sha256Digest::from_hex(&hex.to_ascii_lowercase())
            .map_err(|_| format!("{:?} is not a sha256 hex digest", truncate(hex)))
    };
    match format {
        ChecksumFormat::Hex => {
            let mut words = text.split_whitespace();
            let first = words
                .next()
                .ok_or_else(|| "the checksum file is empty".to_string())?;
            if words.next().is_some() {
                return Err(
                    "expected only a hex digest (format hex), found more than one word".into(),
                );
            }
            digest(first)
        }
        ChecksumFormat::Sha256sum => {
            let mut found: Option<Sha256Digest> = None;
            for line in text.lines() {
                let line = line.trim_end_matches('\r');
                if line.trim().is_empty() {
                    continue;
                }
                let (hash, rest) = line
                    .split_once(char::is_whitespace)
                    .ok_or_else(|| format!("line {:?} is not `HASH  FILENAME`", truncate(line)))?;
                let name = rest.trim_start().trim_start_matches('*').trim_end();
                let base = name.rsplit('/').next().unwrap_or(name);
                if base == file_name {
                    let d = digest(hash)?;
                    if found.is_some_and(|f| f != d) {
                        return Err(format!("two different digests for {file_name}"));
                    }
                    found = Some(d);
                } else if name.is_empty() {
                    return Err(format!("line {:?} has no file name", truncate(line)));
                }
            }
            found.ok_or_else(|| format!("no line for {file_name}"))
        }
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

/// The architectures of the `linux` platforms, in order, once each.
pub fn arches_from_platforms(platforms: &[Platform]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in platforms {
        if p.os == "linux" && !out.contains(&p.architecture) {
            out.push(p.architecture.clone());
        }
    }
    out
}

// ---------------------------------------------------------------- hop manifest

/// A hop manifest (`--with FILE`): user components added to the hop.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HopManifest {
    /// Must be 1.
    pub format: u32,
    /// Always `airlock-hop-manifest`.
    pub kind: String,
    /// Short name (`calico`).
    #[serde(default)]
    pub name: Option<String>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Extra images, by tag.
    #[serde(default)]
    pub images: Vec<HopImage>,
    /// Files by URL and sha256.
    #[serde(default)]
    pub files: Vec<HopFile>,
    /// Local manifests and documents.
    #[serde(default)]
    pub documents: Vec<HopLocal>,
    /// Local Helm chart archives.
    #[serde(default)]
    pub charts: Vec<HopLocal>,
}

/// An extra image.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HopImage {
    /// Reference with a tag (and optionally the digest it must resolve to).
    pub name: ImageRef,
    /// Platforms to carry [default: `--platform`].
    #[serde(default)]
    pub platforms: Option<Vec<Platform>>,
    /// Role in the lock [default: `addon`].
    #[serde(default)]
    pub role: Option<String>,
}

/// A file downloaded by URL.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HopFile {
    /// Label [default: the URL's file name].
    #[serde(default)]
    pub name: Option<String>,
    /// http(s) URL.
    pub url: String,
    /// 64 hex digits.
    pub sha256: String,
    /// Size in bytes, when known.
    #[serde(default)]
    pub size: Option<u64>,
    /// Target below `--dest` [default: `addons/<file name>`].
    #[serde(default)]
    pub target: Option<SafeRelPath>,
    /// Mode [default: `"0644"`].
    #[serde(default)]
    pub mode: Option<Mode>,
    /// `manifest`, `chart`, `binary`, ... [default: `file`].
    #[serde(default)]
    pub kind: Option<String>,
}

/// A local file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HopLocal {
    /// Path, relative to the hop manifest's directory.
    pub path: PathBuf,
    /// Label [default: the file name].
    #[serde(default)]
    pub name: Option<String>,
    /// Expected sha256 (64 hex digits); computed when absent.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Target [default: `manifests/<file name>` or `charts/<file name>`].
    #[serde(default)]
    pub target: Option<SafeRelPath>,
    /// Mode [default: `"0644"`].
    #[serde(default)]
    pub mode: Option<Mode>,
    /// Kind [default: `manifest` for documents, `chart` for charts].
    #[serde(default)]
    pub kind: Option<String>,
}

const PLACEHOLDER_SHA: &str = "0000000000000000000000000000000000000000000000000000000000000000";

impl HopManifest {
    /// Parse hop manifest text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        #[derive(Deserialize)]
        struct Probe {
            format: Option<serde_json::Value>,
        }
        let probe: Probe =
            serde_saphyr::from_str(text).map_err(|e| Error::invalid("hop manifest", origin, e))?;
        match probe.format {
            Some(serde_json::Value::Number(n))
                if n.as_u64() == Some(HOP_MANIFEST_FORMAT as u64) => {}
            Some(v) => {
                return Err(Error::invalid(
                    "hop manifest",
                    origin,
                    format!(
                        "format {v} is not supported (this airlock reads format {HOP_MANIFEST_FORMAT})"
                    ),
                ));
            }
            None => {
                return Err(Error::invalid(
                    "hop manifest",
                    origin,
                    "missing `format: 1`",
                ));
            }
        }
        let m: HopManifest =
            serde_saphyr::from_str(text).map_err(|e| Error::invalid("hop manifest", origin, e))?;
        let bad = |r: String| Error::invalid("hop manifest", origin, r);
        if m.kind != "airlock-hop-manifest" {
            return Err(bad(format!(
                "kind {:?}: expected airlock-hop-manifest",
                m.kind
            )));
        }
        let mut names = BTreeSet::new();
        for i in &m.images {
            if i.name.tag.is_none() {
                return Err(bad(format!("image {}: give a tag (name:tag)", i.name)));
            }
            if !names.insert(i.name.to_string()) {
                return Err(bad(format!("image {} is listed twice", i.name)));
            }
            if let Some(p) = &i.platforms
                && p.is_empty()
            {
                return Err(bad(format!("image {}: platforms is empty", i.name)));
            }
        }
        for f in &m.files {
            if !(f.url.starts_with("https://") || f.url.starts_with("http://")) {
                return Err(bad(format!("file {}: url is not http(s)", f.url)));
            }
            check_sha_text(&f.sha256).map_err(|e| bad(format!("file {}: {e}", f.url)))?;
            url_file_name(&f.url).map_err(|e| bad(format!("file {}: {e}", f.url)))?;
        }
        for l in m.documents.iter().chain(&m.charts) {
            if let Some(s) = &l.sha256 {
                check_sha_text(s).map_err(|e| bad(format!("{}: {e}", l.path.display())))?;
            }
            if l.path.file_name().is_none() {
                return Err(bad(format!("{}: not a file path", l.path.display())));
            }
        }
        Ok(m)
    }

    /// Read and parse a hop manifest file.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = crate::lock::read_limited(path, MAX_HOP_MANIFEST_BYTES, "hop manifest")?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| Error::invalid("hop manifest", path.display(), "not UTF-8"))?;
        Self::parse(text, &path.display().to_string())
    }
}

fn check_sha_text(s: &str) -> std::result::Result<Sha256Digest, String> {
    if s == PLACEHOLDER_SHA {
        return Err(
            "sha256 is the all-zero placeholder of an example; put the file's real sha256".into(),
        );
    }
    Sha256Digest::from_hex(s)
        .map_err(|_| format!("sha256 {s:?}: expected 64 lower-case hex digits"))
}

fn url_file_name(url: &str) -> std::result::Result<String, String> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let name = path.rsplit('/').next().unwrap_or("");
    if name.is_empty() || name == "." || name == ".." || path.matches('/').count() < 3 {
        return Err(format!("url {url:?} does not end in a file name"));
    }
    Ok(name.to_string())
}

/// `target` written relative to `base` (both made absolute first); `target` itself when
/// they share no prefix.
pub fn relative_to(base: &Path, target: &Path) -> PathBuf {
    let (Ok(base), Ok(target)) = (std::path::absolute(base), std::path::absolute(target)) else {
        return target.to_path_buf();
    };
    let b: Vec<Component> = base.components().collect();
    let t: Vec<Component> = target.components().collect();
    let common = b.iter().zip(&t).take_while(|(x, y)| x == y).count();
    if common == 0 {
        return target;
    }
    let mut out = PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for c in &t[common..] {
        out.push(c.as_os_str());
    }
    out
}

// ---------------------------------------------------------------- resolve

struct WantedImage {
    name: ImageRef,
    platforms: Vec<Platform>,
    role: String,
}

struct WantedFile {
    name: String,
    url: String,
    checksum_url: String,
    format: ChecksumFormat,
    target: String,
    mode: Mode,
    kind: &'static str,
}

fn catalog_images(
    catalog: &Catalog,
    v: &Version,
    uncertain: &mut Vec<String>,
) -> Result<Vec<ImageRef>> {
    let reg = &catalog.defaults.registry;
    let minor = catalog.minor_of(v).ok_or_else(|| {
        Error::invalid("catalog", "catalog", format!("no minor {}", v.minor_key()))
    })?;
    let mut out = Vec::new();
    for name in &catalog.defaults.control_plane_images {
        out.push(parse_ref(&format!("{reg}/{name}:{v}"))?);
    }
    for img in &minor.images {
        let row = catalog
            .image_tag(&minor.minor, &img.name, v.patch)
            .ok_or_else(|| {
                Error::invalid(
                    "catalog",
                    "catalog",
                    format!("{}: no tag for {v}", img.name),
                )
            })?;
        if row.confidence == Some(Confidence::Uncertain) {
            uncertain.push(format!(
                "{} {} for {v}{}",
                img.name,
                row.tag,
                row.note
                    .as_deref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default()
            ));
        }
        out.push(parse_ref(&format!("{reg}/{}:{}", img.repository, row.tag))?);
    }
    Ok(out)
}

fn parse_ref(s: &str) -> Result<ImageRef> {
    ImageRef::parse(s).map_err(|e| Error::invalid("image reference", s, e.reason))
}

fn catalog_files(
    catalog: &Catalog,
    v: &Version,
    arches: &[String],
    with_tools: bool,
    uncertain: &mut Vec<String>,
) -> Result<Vec<WantedFile>> {
    let bad = |e: String| Error::invalid("catalog", "catalog", e);
    let version = v.to_string();
    let mut out = Vec::new();
    for arch in arches {
        for b in &catalog.defaults.binaries {
            let url =
                expand_template(&b.url, &[("version", &version), ("arch", arch)]).map_err(bad)?;
            let checksum_url = expand_template(&b.checksum_url, &[("url", &url)]).map_err(bad)?;
            out.push(WantedFile {
                name: b.name.clone(),
                url,
                checksum_url,
                format: b.checksum_format,
                target: format!("bin/{version}/linux/{arch}/{}", b.name),
                mode: b.mode,
                kind: "binary",
            });
        }
    }
    if with_tools {
        let minor = catalog
            .minor_of(v)
            .ok_or_else(|| bad(format!("no minor {}", v.minor_key())))?;
        for t in &minor.tools {
            if t.confidence == Some(Confidence::Uncertain) {
                uncertain.push(format!(
                    "{} {} for {}{}",
                    t.name,
                    t.version,
                    minor.minor,
                    t.note
                        .as_deref()
                        .map(|n| format!(" ({n})"))
                        .unwrap_or_default()
                ));
            }
            for arch in arches {
                let url = expand_template(&t.url, &[("tool_version", &t.version), ("arch", arch)])
                    .map_err(bad)?;
                let checksum_url =
                    expand_template(&t.checksum_url, &[("url", &url)]).map_err(bad)?;
                let file = url_file_name(&url).map_err(bad)?;
                out.push(WantedFile {
                    name: t.name.clone(),
                    url,
                    checksum_url,
                    format: t.checksum_format,
                    target: format!("tools/{}/{}/linux/{arch}/{file}", t.name, t.version),
                    mode: t.mode,
                    kind: "tool",
                });
            }
        }
    }
    Ok(out)
}

fn platform_matches(want: &Platform, have: &Platform) -> bool {
    want.os == have.os
        && want.architecture == have.architecture
        && (want.variant.is_none() || want.variant == have.variant)
}

async fn resolve_image(reg: &RegistryClient, w: &WantedImage) -> Result<LockedImage> {
    let name = &w.name;
    let source = reg.source_registry(name);
    let label = if source == name.registry {
        name.to_string()
    } else {
        format!("{name} (via {source})")
    };
    let tag = name.tag.as_deref().unwrap_or("latest");
    let (digest, _bytes, doc) = reg
        .resolve_tag(&source, &name.repository, tag)
        .await
        .map_err(|e| match e {
            Error::Registry { reason, .. } => Error::Registry {
                reference: label.clone(),
                reason: format!("cannot resolve the tag: {reason}"),
            },
            other => other,
        })?;
    if let Some(pinned) = name.digest
        && pinned != digest
    {
        return Err(Error::DigestMismatch {
            artifact: label,
            expected: pinned.to_string(),
            actual: digest.to_string(),
        });
    }
    match &doc {
        ManifestDoc::Index { manifests, .. } => {
            let have: Vec<Platform> = manifests
                .iter()
                .filter_map(|m| m.platform.as_ref().map(|p| p.to_platform()))
                .collect();
            for want in &w.platforms {
                if !have.iter().any(|h| platform_matches(want, h)) {
                    let listed: Vec<String> = have.iter().map(|p| p.to_string()).collect();
                    return Err(Error::Registry {
                        reference: label,
                        reason: format!(
                            "the index has no {want} manifest (it lists: {})",
                            if listed.is_empty() {
                                "none".into()
                            } else {
                                listed.join(", ")
                            }
                        ),
                    });
                }
            }
        }
        ManifestDoc::Image { .. } => {
            if w.platforms.len() != 1 {
                return Err(Error::Registry {
                    reference: label,
                    reason: format!(
                        "is a single-platform manifest, but {} platforms were asked for ({})",
                        w.platforms.len(),
                        w.platforms
                            .iter()
                            .map(|p| p.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
        }
    }
    Ok(LockedImage {
        name: name.clone(),
        digest,
        platforms: w.platforms.clone(),
        role: Some(w.role.clone()),
    })
}

async fn resolve_file(http: &HttpClient, w: &WantedFile) -> Result<LockedFile> {
    let text = http
        .fetch_small(&w.checksum_url, MAX_CHECKSUM_BYTES)
        .await
        .map_err(|e| match e {
            Error::Http { url, reason } => Error::Http {
                url,
                reason: format!("checksum file for {} ({}): {reason}", w.name, w.url),
            },
            other => other,
        })?;
    let file_name = url_file_name(&w.url).unwrap_or_default();
    let sha256 = parse_checksum(&text, w.format, &file_name).map_err(|reason| Error::Http {
        url: w.checksum_url.clone(),
        reason: format!("malformed checksum file for {}: {reason}", w.url),
    })?;
    Ok(LockedFile {
        name: w.name.clone(),
        url: Some(w.url.clone()),
        path: None,
        sha256,
        size: None,
        target: SafeRelPath::new(&w.target)?,
        mode: w.mode,
        kind: Some(w.kind.to_string()),
    })
}

fn hash_local(path: &Path) -> Result<(Sha256Digest, u64)> {
    let f = std::fs::File::open(path).map_err(|e| Error::io("open", path, e))?;
    let mut r = HashingReader::new(f);
    std::io::copy(&mut r, &mut std::io::sink()).map_err(|e| Error::io("read", path, e))?;
    let (_, d, n) = r.finish();
    Ok((d, n))
}

fn local_files(
    m: &HopManifest,
    manifest_path: &Path,
    lock_dir: Option<&Path>,
) -> Result<(Vec<LockedFile>, Vec<String>)> {
    let base = manifest_path.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    let mut applies = Vec::new();
    for (list, default_kind, default_dir) in [
        (&m.documents, "manifest", "manifests"),
        (&m.charts, "chart", "charts"),
    ] {
        for l in list {
            let full = if l.path.is_absolute() {
                l.path.clone()
            } else {
                base.join(&l.path)
            };
            let file_name = l
                .path
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            let (actual, size) = hash_local(&full)?;
            if let Some(s) = &l.sha256 {
                let expected = check_sha_text(s)
                    .map_err(|e| Error::invalid("hop manifest", manifest_path.display(), e))?;
                if expected != actual {
                    return Err(Error::DigestMismatch {
                        artifact: full.display().to_string(),
                        expected: expected.to_string(),
                        actual: actual.to_string(),
                    });
                }
            }
            let target = match &l.target {
                Some(t) => t.clone(),
                None => SafeRelPath::new(&format!("{default_dir}/{file_name}"))?,
            };
            let kind = l.kind.clone().unwrap_or_else(|| default_kind.to_string());
            if kind == "manifest" {
                applies.push(target.to_string());
            }
            let abs =
                std::path::absolute(&full).map_err(|e| Error::io("resolve path", &full, e))?;
            let path = match lock_dir {
                Some(d) => relative_to(d, &abs),
                None => abs,
            };
            out.push(LockedFile {
                name: l.name.clone().unwrap_or(file_name),
                url: None,
                path: Some(path),
                sha256: actual,
                size: Some(size),
                target,
                mode: l.mode.unwrap_or(Mode(0o644)),
                kind: Some(kind),
            });
        }
    }
    Ok((out, applies))
}

fn etcd_version_key(tag: &str) -> Vec<u64> {
    tag.split(['.', '-'])
        .map(|p| p.trim_start_matches('v').parse().unwrap_or(0))
        .collect()
}

/// Resolve `from -> to` into a lock: images pinned by digest, binaries and tools pinned
/// by the upstream sha256, user components from the hop manifest, and the checklist.
pub async fn resolve(
    catalog: &Catalog,
    from: &Version,
    to: &Version,
    opts: &ResolveOptions<'_>,
) -> Result<(Lock, Vec<Warning>)> {
    let mut warnings = check_hop(catalog, from, to)?;
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

    let mut notes = vec![format!(
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
    )];
    let mut uncertain = Vec::new();

    // Images: target first, then the back-out set; each name once.
    let mut wanted: Vec<WantedImage> = Vec::new();
    let mut seen = BTreeSet::new();
    let mut add = |wanted: &mut Vec<WantedImage>,
                   name: ImageRef,
                   platforms: &[Platform],
                   role: &str|
     -> bool {
        if seen.insert(name.to_string()) {
            wanted.push(WantedImage {
                name,
                platforms: platforms.to_vec(),
                role: role.to_string(),
            });
            true
        } else {
            false
        }
    };
    for img in catalog_images(catalog, to, &mut uncertain)? {
        add(&mut wanted, img, &opts.platforms, "target");
    }
    let from_images = catalog_images(catalog, from, &mut Vec::new())?;
    if opts.backout {
        for img in from_images.iter().cloned() {
            add(&mut wanted, img, &opts.platforms, "backout");
        }
        notes.push(format!(
            "back-out set included: the {from} images (role backout) and binaries under bin/{from}/"
        ));
    } else {
        notes.push(format!(
            "back-out set left out (--no-backout): this bundle does not carry the {from} images or binaries; a back-out needs them from another bundle"
        ));
        // kubeadm never downgrades etcd: if the running etcd is newer than the target's,
        // the cluster keeps it, so carry it.
        let etcd = |imgs: &[ImageRef]| imgs.iter().find(|i| i.repository == "etcd").cloned();
        let to_imgs = catalog_images(catalog, to, &mut Vec::new())?;
        if let (Some(cur), Some(tgt)) = (etcd(&from_images), etcd(&to_imgs))
            && etcd_version_key(cur.tag.as_deref().unwrap_or(""))
                > etcd_version_key(tgt.tag.as_deref().unwrap_or(""))
        {
            notes.push(format!(
                "etcd: {cur} (used by {from}) is newer than {tgt}; kubeadm does not downgrade etcd, so the cluster keeps running it and the bundle carries it (role current-etcd)"
            ));
            add(&mut wanted, cur, &opts.platforms, "current-etcd");
        }
    }
    let mut extra_files: Vec<LockedFile> = Vec::new();
    let mut addon_manifests = Vec::new();
    if let Some((path, m)) = &hop_manifest {
        for i in &m.images {
            let platforms = i
                .platforms
                .clone()
                .unwrap_or_else(|| opts.platforms.clone());
            let role = i.role.clone().unwrap_or_else(|| "addon".into());
            if !add(&mut wanted, i.name.clone(), &platforms, &role) {
                warnings.push(warning(format!(
                    "{}: image {} is already part of the hop; listed once",
                    path.display(),
                    i.name
                )));
            }
        }
        for f in &m.files {
            let file_name = url_file_name(&f.url)
                .map_err(|e| Error::invalid("hop manifest", path.display(), e))?;
            let target = match &f.target {
                Some(t) => t.clone(),
                None => SafeRelPath::new(&format!("addons/{file_name}"))?,
            };
            let kind = f.kind.clone().unwrap_or_else(|| "file".into());
            if kind == "manifest" {
                addon_manifests.push(target.to_string());
            }
            extra_files.push(LockedFile {
                name: f.name.clone().unwrap_or(file_name),
                url: Some(f.url.clone()),
                path: None,
                sha256: check_sha_text(&f.sha256)
                    .map_err(|e| Error::invalid("hop manifest", path.display(), e))?,
                size: f.size,
                target,
                mode: f.mode.unwrap_or(Mode(0o644)),
                kind: Some(kind),
            });
        }
        let (locals, applies) = local_files(m, path, opts.lock_dir)?;
        extra_files.extend(locals);
        addon_manifests.extend(applies);
        notes.push(format!(
            "hop manifest {}: {} images, {} files, {} documents, {} charts",
            m.name.as_deref().unwrap_or("(unnamed)"),
            m.images.len(),
            m.files.len(),
            m.documents.len(),
            m.charts.len()
        ));
    }

    // Files: target binaries and tools, then the back-out binaries and tools.
    let mut wanted_files = catalog_files(catalog, to, &opts.arches, true, &mut uncertain)?;
    if opts.backout {
        let mut ignore = Vec::new();
        wanted_files.extend(catalog_files(
            catalog,
            from,
            &opts.arches,
            true,
            &mut ignore,
        )?);
    }
    let mut targets = BTreeSet::new();
    wanted_files.retain(|f| targets.insert(f.target.clone()));
    let mut tools = Vec::new();
    if let Some(m) = catalog.minor_of(to) {
        for t in &m.tools {
            let url = expand_template(&t.url, &[("tool_version", &t.version), ("arch", "${ARCH}")])
                .map_err(|e| Error::invalid("catalog", "catalog", e))?;
            let file = url_file_name(&url).unwrap_or_default();
            tools.push(ToolFile {
                name: t.name.clone(),
                target: format!("tools/{}/{}/linux/${{ARCH}}/{file}", t.name, t.version),
            });
        }
    }

    // Network: tags -> digests, checksum files -> sha256, in parallel, order kept.
    let jobs = opts.jobs.max(1);
    let images: Vec<LockedImage> =
        futures::stream::iter(wanted.iter().map(|w| resolve_image(opts.registry, w)))
            .buffered(jobs)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_>>()?;
    let mut files: Vec<LockedFile> =
        futures::stream::iter(wanted_files.iter().map(|w| resolve_file(opts.http, w)))
            .buffered(jobs)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_>>()?;
    files.extend(extra_files);

    if !uncertain.is_empty() {
        warnings.push(warning(format!(
            "{} catalog value(s) used here are marked uncertain (see the lock's notes); check them against upstream",
            uncertain.len()
        )));
        for u in &uncertain {
            notes.push(format!("uncertain catalog value: {u}"));
        }
    }

    let steps = checklist::build(&ChecklistInput {
        catalog,
        from: *from,
        to: *to,
        backout: opts.backout,
        tools,
        addon_manifests,
        worker_batch: 1,
    });
    let mut lock = Lock::new();
    lock.hop = Some(Hop {
        from: from.to_string(),
        to: to.to_string(),
    });
    lock.notes = notes;
    lock.images = images;
    lock.files = files;
    lock.checklist =
        Some(serde_json::to_value(&steps).map_err(|e| Error::invalid("checklist", "<memory>", e))?);
    lock.validate("resolved lock")?;
    Ok((lock, warnings))
}

/// Group images by role, for summaries.
pub fn image_counts(lock: &Lock) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for i in &lock.images {
        *m.entry(i.role.clone().unwrap_or_default()).or_insert(0) += 1;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    #[test]
    fn hop_validation() {
        let c = Catalog::builtin().unwrap();
        assert!(
            check_hop(&c, &v("v1.29.15"), &v("v1.30.2"))
                .unwrap()
                .is_empty()
        );
        let w = check_hop(&c, &v("v1.29.6"), &v("v1.30.2")).unwrap();
        assert_eq!(w.len(), 1);
        assert!(w[0].message.contains("v1.29.15"), "{}", w[0]);
        assert!(
            check_hop(&c, &v("v1.30.1"), &v("v1.30.2"))
                .unwrap()
                .is_empty()
        );
        let e = check_hop(&c, &v("v1.27.16"), &v("v1.30.2"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("skips minor 1.28, 1.29"), "{e}");
        assert!(
            e.contains("airlock plan --from v1.27.16 --to v1.30.2"),
            "{e}"
        );
        let e = check_hop(&c, &v("v1.30.2"), &v("v1.29.6"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("older"), "{e}");
        assert!(
            e.contains("airlock plan --from v1.29.6 --to v1.30.2"),
            "{e}"
        );
        assert!(check_hop(&c, &v("v1.30.2"), &v("v1.30.2")).is_err());
        let e = check_hop(&c, &v("v1.30.2"), &v("v1.31.99"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("--catalog"), "{e}");
        let e = check_hop(&c, &v("v1.20.0"), &v("v1.21.0"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("1.20"), "{e}");
    }

    #[test]
    fn plans() {
        let c = Catalog::builtin().unwrap();
        let p = plan(&c, &v("v1.27.16"), &v("v1.30.2")).unwrap();
        let s: Vec<String> = p.iter().map(|h| format!("{}>{}", h.from, h.to)).collect();
        assert_eq!(
            s,
            ["v1.27.16>v1.28.15", "v1.28.15>v1.29.15", "v1.29.15>v1.30.2"]
        );
        let p = plan(&c, &v("v1.29.6"), &v("v1.30.2")).unwrap();
        let s: Vec<String> = p.iter().map(|h| format!("{}>{}", h.from, h.to)).collect();
        assert_eq!(s, ["v1.29.6>v1.29.15", "v1.29.15>v1.30.2"]);
        let p = plan(&c, &v("v1.30.1"), &v("v1.30.2")).unwrap();
        assert_eq!(p.len(), 1);
        assert!(plan(&c, &v("v1.30.2"), &v("v1.29.2")).is_err());
        for h in plan(&c, &v("v1.27.0"), &v("v1.34.9")).unwrap() {
            check_hop(&c, &h.from, &h.to).unwrap();
        }
    }

    const H: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn checksum_parsing() {
        let d = Sha256Digest::from_hex(H).unwrap();
        assert_eq!(
            parse_checksum(&format!("{H}\n"), ChecksumFormat::Hex, "x").unwrap(),
            d
        );
        assert_eq!(
            parse_checksum(
                &format!("  {}  ", H.to_uppercase()),
                ChecksumFormat::Hex,
                "x"
            )
            .unwrap(),
            d
        );
        assert!(parse_checksum("", ChecksumFormat::Hex, "x").is_err());
        assert!(parse_checksum(&format!("{H}  file"), ChecksumFormat::Hex, "x").is_err());
        assert!(parse_checksum("abc", ChecksumFormat::Hex, "x").is_err());
        let other = "0".repeat(64);
        let text = format!("{other}  a.tgz\n{H}  cni-plugins-linux-amd64-v1.4.0.tgz\n");
        assert_eq!(
            parse_checksum(
                &text,
                ChecksumFormat::Sha256sum,
                "cni-plugins-linux-amd64-v1.4.0.tgz"
            )
            .unwrap(),
            d
        );
        assert_eq!(
            parse_checksum(
                &format!("{H} *dir/f.tgz\r\n"),
                ChecksumFormat::Sha256sum,
                "f.tgz"
            )
            .unwrap(),
            d
        );
        let e = parse_checksum(&text, ChecksumFormat::Sha256sum, "b.tgz").unwrap_err();
        assert!(e.contains("no line for b.tgz"), "{e}");
        assert!(parse_checksum(&format!("{H}\n"), ChecksumFormat::Sha256sum, "f").is_err());
        assert!(
            parse_checksum(
                &format!("{H}  f\n{other}  f\n"),
                ChecksumFormat::Sha256sum,
                "f"
            )
            .is_err()
        );
    }

    #[test]
    fn hop_manifest_parsing() {
        let ok = format!(
            "format: 1\nkind: airlock-hop-manifest\nimages:\n  - name: docker.io/calico/node:v3.28.1\nfiles:\n  - url: https://example.com/x/calico.yaml\n    sha256: {H}\n"
        );
        let m = HopManifest::parse(&ok, "t").unwrap();
        assert_eq!(m.images.len(), 1);
        for (bad, needle) in [
            (ok.replace("format: 1", "format: 3"), "format 3"),
            (ok.replace("kind: airlock-hop-manifest", "kind: x"), "kind"),
            (ok.replace(":v3.28.1", ""), "tag"),
            (ok.replace(H, PLACEHOLDER_SHA), "placeholder"),
            (format!("{ok}surprise: 1\n"), "surprise"),
        ] {
            let e = HopManifest::parse(&bad, "t").unwrap_err().to_string();
            assert!(e.contains(needle), "{needle}: {e}");
        }
    }

    #[test]
    fn examples_follow_the_schema() {
        let calico = include_str!("../manifests/examples/cni-calico.yaml");
        let e = HopManifest::parse(calico, "cni-calico.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("placeholder"), "{e}");
        let m = HopManifest::parse(&calico.replace(PLACEHOLDER_SHA, H), "cni-calico.yaml").unwrap();
        assert_eq!(m.images.len(), 3);
        let m = HopManifest::parse(include_str!("../manifests/examples/csi-driver.yaml"), "csi")
            .unwrap();
        assert_eq!(m.charts.len(), 1);
    }

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative_to(Path::new("/a/b"), Path::new("/a/c/d")),
            PathBuf::from("../c/d")
        );
        assert_eq!(
            relative_to(Path::new("/a"), Path::new("/a/x")),
            PathBuf::from("x")
        );
    }

    proptest::proptest! {
        #[test]
        fn checksum_parsers_never_panic(s in "\\PC{0,200}", name in "[a-z.]{0,10}") {
            let _ = parse_checksum(&s, ChecksumFormat::Hex, &name);
            let _ = parse_checksum(&s, ChecksumFormat::Sha256sum, &name);
        }

        #[test]
        fn hop_manifest_parse_never_panics(s in "\\PC{0,300}") {
            let _ = HopManifest::parse(&s, "prop");
        }
    }
}
