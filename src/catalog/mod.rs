//! The Kubernetes version catalog: which images, binaries and tools one Kubernetes version
//! needs, as data (`manifests/catalog/kubernetes.yaml`, documented in `docs/catalog.md`).
//!
//! The default catalog is compiled in; `--catalog FILE` replaces it at run time, so a new
//! patch release needs a data edit, not a new airlock. [`update`] derives a minor's facts
//! from upstream's own files at the release tags ([`sources`] parses them), [`compare`]
//! lists where two catalogs disagree, and [`support`] says which minors are supported on a
//! given day.

pub mod compare;
pub mod date;
pub mod plan;
pub mod sources;
pub mod support;
pub mod update;

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::digest::{Sha256Digest, bare_hex};
use crate::error::{Error, Result};
use crate::manifest::{CatalogIdentity, Mode};
pub use date::Date;

/// The catalog format this version reads.
pub const CATALOG_FORMAT: u32 = 1;
/// Largest catalog file accepted.
pub const MAX_CATALOG_BYTES: u64 = 4 * 1024 * 1024;
/// The catalog compiled into airlock.
pub const DEFAULT_CATALOG: &str = include_str!("../../manifests/catalog/kubernetes.yaml");
/// How the default catalog is named in errors.
pub const DEFAULT_CATALOG_ORIGIN: &str = "<built-in manifests/catalog/kubernetes.yaml>";

/// The whole catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// Format version; must be [`CATALOG_FORMAT`].
    pub format: u32,
    /// Always `airlock-kubernetes-catalog`.
    pub kind: String,
    /// Data version (date of the last edit).
    pub catalog_version: String,
    /// Every document a value comes from.
    pub sources: Vec<Source>,
    /// Documents read by `airlock catalog update`, each pinned by the sha256 of the exact
    /// bytes read; values refer to them by id like to `sources`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub documents: Vec<Document>,
    /// Registry, control-plane image names and release binaries.
    pub defaults: Defaults,
    /// Version-skew limits.
    pub skew: Skew,
    /// One entry per minor, ascending.
    pub minors: Vec<MinorEntry>,
    /// API versions removed before the first minor above (from the deprecation guide), so
    /// add-on manifests that still use them are caught at resolve time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier_removed_apis: Vec<EarlierRemovedApi>,
}

/// An API version removed in a minor older than the catalog's first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EarlierRemovedApi {
    /// The minor that stopped serving it, `"1.22"`.
    pub removed_in: String,
    /// `extensions/v1beta1`.
    pub group_version: String,
    /// The kinds no longer served.
    pub kinds: Vec<String>,
    /// The group/version to use instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
    /// Source ids.
    pub source: Vec<String>,
}

/// A document that values point to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// Short unique name.
    pub id: String,
    /// Where the fact can be checked.
    pub url: String,
    /// What the document is.
    pub title: String,
}

/// A document read from upstream, and the sha256 of the bytes that were read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    /// Short unique name (`kubeadm-constants@v1.36.2`).
    pub id: String,
    /// The canonical URL (mirrors are not recorded).
    pub url: String,
    /// sha256 of the document's bytes.
    #[serde(with = "bare_hex")]
    pub sha256: Sha256Digest,
}

/// `defaults`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// `registry.k8s.io`.
    pub registry: String,
    /// Images tagged with the Kubernetes version.
    pub control_plane_images: Vec<String>,
    /// kubeadm, kubelet, kubectl.
    pub binaries: Vec<Binary>,
}

/// How a checksum file is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChecksumFormat {
    /// Only the hex digest (maybe followed by a newline).
    Hex,
    /// `sha256sum` output: `HASH  FILENAME` lines.
    Sha256sum,
}

/// A release binary fetched for every version of the hop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Binary {
    /// `kubeadm`, `kubelet`, `kubectl`.
    pub name: String,
    /// URL template with `{version}` and `{arch}`.
    pub url: String,
    /// Checksum URL template with `{url}`.
    pub checksum_url: String,
    /// Checksum file layout.
    pub checksum_format: ChecksumFormat,
    /// Install mode.
    pub mode: Mode,
    /// Source ids.
    pub source: Vec<String>,
}

/// `skew`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Skew {
    /// kubelet may be this many minors older than kube-apiserver.
    pub kubelet_max_minors_older: u32,
    /// kube-proxy may be this many minors older than kube-apiserver.
    pub kube_proxy_max_minors_older: u32,
    /// kube-controller-manager may be this many minors older.
    pub controller_manager_max_minors_older: u32,
    /// kube-scheduler may be this many minors older.
    pub scheduler_max_minors_older: u32,
    /// kubectl within this many minors, either way.
    pub kubectl_max_minors_skew: u32,
    /// HA kube-apiservers within this many minors of each other.
    pub apiserver_ha_max_minors_skew: u32,
    /// kubeadm moves this many minors per upgrade.
    pub kubeadm_max_minors_per_upgrade: u32,
    /// Source ids.
    pub source: Vec<String>,
}

/// How sure the catalog is of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    /// Not read from the upstream file; inferred.
    Uncertain,
}

/// One minor release line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinorEntry {
    /// `"1.30"`.
    pub minor: String,
    /// Newest patch known to exist.
    pub latest_patch: u32,
    /// `uncertain` when `latest_patch` was not read from `stable-1.N.txt` or a release page
    /// (for example a patch recorded from its planned date).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_patch_confidence: Option<Confidence>,
    /// What `latest_patch` rests on, when it is uncertain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_patch_note: Option<String>,
    /// Date of `x.y.0`.
    pub released: Date,
    /// Upstream end-of-life date.
    pub end_of_life: Date,
    /// Source ids.
    pub source: Vec<String>,
    /// etcd, coredns, pause.
    pub images: Vec<CatalogImage>,
    /// crictl, cni-plugins.
    pub tools: Vec<Tool>,
    /// API versions no longer served from this minor on.
    pub removed_apis: Vec<RemovedApi>,
    /// What the minor's API server serves (from its discovery documents), when read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub served_apis: Option<ServedApis>,
}

/// The group/versions a minor serves, with their resources.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServedApis {
    /// Source ids (the discovery documents at `v1.N.0`).
    pub source: Vec<String>,
    /// Sorted by group/version.
    pub group_versions: Vec<ServedGroupVersion>,
}

/// One served group/version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServedGroupVersion {
    /// `apps/v1`; the core group is `v1`.
    pub group_version: String,
    /// Top-level resources (no subresources), sorted by resource name.
    pub resources: Vec<ServedResource>,
}

/// A resource and the kind it serves.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServedResource {
    /// Plural resource name, `deployments`.
    pub resource: String,
    /// Kind, `Deployment`.
    pub kind: String,
}

/// An image whose tag is not the Kubernetes version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogImage {
    /// `etcd`, `coredns`, `pause`.
    pub name: String,
    /// Path under `defaults.registry`.
    pub repository: String,
    /// Tag rows, ascending by `from_patch`, the first at 0.
    pub tags: Vec<TagRow>,
}

/// The tag an image has from one patch on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagRow {
    /// First patch of the minor that uses this tag.
    pub from_patch: u32,
    /// The tag.
    pub tag: String,
    /// Source ids.
    pub source: Vec<String>,
    /// `uncertain`, when inferred.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<Confidence>,
    /// What is and is not confirmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// crictl or cni-plugins for a minor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    /// `crictl`, `cni-plugins`.
    pub name: String,
    /// Tool version, `v1.30.1`.
    pub version: String,
    /// URL template with `{tool_version}` and `{arch}`.
    pub url: String,
    /// Checksum URL template with `{url}`.
    pub checksum_url: String,
    /// Checksum file layout.
    pub checksum_format: ChecksumFormat,
    /// Install mode.
    pub mode: Mode,
    /// Source ids.
    pub source: Vec<String>,
    /// `uncertain`, when inferred.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<Confidence>,
    /// What is and is not confirmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// An API version a minor stops serving.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemovedApi {
    /// `flowcontrol.apiserver.k8s.io/v1beta3`.
    pub group_version: String,
    /// `FlowSchema`, ...
    pub kinds: Vec<String>,
    /// The group/version to use instead, when the group is still served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
    /// The group/version is still served; only `kinds` are not.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
    /// Source ids.
    pub source: Vec<String>,
    /// `uncertain`, when inferred.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<Confidence>,
    /// Notes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A Kubernetes version `v1.MINOR.PATCH` (major 1 only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version {
    /// Minor number (30 for v1.30.2).
    pub minor: u32,
    /// Patch number (2 for v1.30.2).
    pub patch: u32,
}

impl Version {
    /// `v1.MINOR.PATCH`.
    pub fn new(minor: u32, patch: u32) -> Self {
        Version { minor, patch }
    }

    /// The minor as the catalog writes it: `"1.30"`.
    pub fn minor_key(&self) -> String {
        format!("1.{}", self.minor)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v1.{}.{}", self.minor, self.patch)
    }
}

/// A decimal number without sign or leading zeros, at most 6 digits.
fn strict_number(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 6 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if s.len() > 1 && s.starts_with('0') {
        return None;
    }
    s.parse().ok()
}

impl FromStr for Version {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let err = || format!("version {s:?}: expected v1.MINOR.PATCH, e.g. v1.30.2");
        let rest = s.strip_prefix('v').ok_or_else(err)?;
        let parts: Vec<&str> = rest.split('.').collect();
        if parts.len() != 3 {
            return Err(err());
        }
        let nums: Vec<u32> = parts
            .iter()
            .map(|p| strict_number(p))
            .collect::<Option<_>>()
            .ok_or_else(err)?;
        if nums[0] != 1 {
            return Err(format!(
                "version {s:?}: only Kubernetes 1.x is supported (major {})",
                nums[0]
            ));
        }
        Ok(Version {
            minor: nums[1],
            patch: nums[2],
        })
    }
}

impl Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Parse a minor key `"1.30"` into 30.
pub fn parse_minor_key(s: &str) -> Option<u32> {
    let rest = s.strip_prefix("1.")?;
    strict_number(rest)
}

/// Substitute `{key}` placeholders; fails on a placeholder that is not in `vars`.
pub fn expand_template(
    template: &str,
    vars: &[(&str, &str)],
) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("template {template:?}: unclosed '{{'"))?;
        let key = &after[..end];
        let value = vars
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
            .ok_or_else(|| format!("template {template:?}: unknown placeholder {{{key}}}"))?;
        out.push_str(value);
        rest = &after[end + 1..];
    }
    if rest.contains('}') {
        return Err(format!("template {template:?}: stray '}}'"));
    }
    out.push_str(rest);
    Ok(out)
}

/// A catalog data version: a short label (`2026.11.25`, `test`) of ASCII letters, digits,
/// `.`, `-` and `_`, so it can be shown and recorded as it is.
pub fn is_catalog_version(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// A catalog and the identity of the bytes it was read from.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The catalog.
    pub catalog: Catalog,
    /// Its `catalog_version` and the sha256 of its bytes.
    pub identity: CatalogIdentity,
    /// Where it came from, for messages (a path, the built-in name, or "upstream").
    pub origin: String,
}

impl Loaded {
    /// Parse catalog bytes and remember their identity.
    pub fn from_bytes(bytes: &[u8], origin: &str) -> Result<Self> {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| Error::invalid("catalog", origin, "not UTF-8"))?;
        let catalog = Catalog::parse(text, origin)?;
        let identity = CatalogIdentity {
            version: catalog.catalog_version.clone(),
            sha256: Sha256Digest::of(bytes),
        };
        Ok(Loaded {
            catalog,
            identity,
            origin: origin.to_string(),
        })
    }

    /// The compiled-in catalog.
    pub fn builtin() -> Result<Self> {
        Self::from_bytes(DEFAULT_CATALOG.as_bytes(), DEFAULT_CATALOG_ORIGIN)
    }

    /// Read, parse and validate a catalog file.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = crate::fsutil::read_limited(path, MAX_CATALOG_BYTES, "catalog")?;
        Self::from_bytes(&bytes, &path.display().to_string())
    }

    /// `--catalog FILE`, or the built-in catalog.
    pub fn file_or_builtin(path: Option<&Path>) -> Result<Self> {
        match path {
            Some(p) => Self::load(p),
            None => Self::builtin(),
        }
    }
}

impl Catalog {
    /// The compiled-in catalog.
    pub fn builtin() -> Result<Self> {
        Self::parse(DEFAULT_CATALOG, DEFAULT_CATALOG_ORIGIN)
    }

    /// Read, parse and validate a catalog file.
    pub fn load(path: &Path) -> Result<Self> {
        Loaded::load(path).map(|l| l.catalog)
    }

    /// The catalog as a file: a header comment, then YAML. Deterministic; it reads back as
    /// the same catalog (checked).
    pub fn to_file_text(&self) -> Result<String> {
        let body =
            serde_saphyr::to_string(self).map_err(|e| Error::invalid("catalog", "<memory>", e))?;
        let text = format!(
            "# airlock Kubernetes catalog {}. Format and how to update it: docs/catalog.md.\n{body}",
            self.catalog_version
        );
        let again = Catalog::parse(&text, "<memory>")?;
        if &again != self {
            return Err(Error::invalid(
                "catalog",
                "<memory>",
                "internal error: the catalog does not read back identically",
            ));
        }
        Ok(text)
    }

    /// The document with this id.
    pub fn document(&self, id: &str) -> Option<&Document> {
        self.documents.iter().find(|d| d.id == id)
    }

    /// Parse and validate catalog text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let catalog: Catalog = airlock_verify::versioned::parse::<crate::yaml::Yaml, _>(
            text,
            CATALOG_FORMAT,
            "catalog",
            origin,
        )?;
        catalog
            .validate()
            .map_err(|reason| Error::invalid("catalog", origin, reason))?;
        Ok(catalog)
    }

    /// Structural checks serde cannot express.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.kind != "airlock-kubernetes-catalog" {
            return Err(format!(
                "kind {:?}: expected airlock-kubernetes-catalog",
                self.kind
            ));
        }
        if !is_catalog_version(&self.catalog_version) {
            return Err(format!(
                "catalog_version {:?}: expected a short label of letters, digits, '.', '-' or '_'",
                self.catalog_version
            ));
        }
        let mut ids = BTreeSet::new();
        for s in &self.sources {
            if !ids.insert(s.id.as_str()) {
                return Err(format!("source id {:?} is listed twice", s.id));
            }
            if !s.url.starts_with("https://") {
                return Err(format!("source {}: url {:?} is not https", s.id, s.url));
            }
        }
        for d in &self.documents {
            if !ids.insert(d.id.as_str()) {
                return Err(format!(
                    "document id {:?} is listed twice (or is also a source id)",
                    d.id
                ));
            }
            if !d.url.starts_with("https://") {
                return Err(format!("document {}: url {:?} is not https", d.id, d.url));
            }
        }
        let check_sources = |where_: &str, list: &[String]| -> std::result::Result<(), String> {
            for id in list {
                if !ids.contains(id.as_str()) {
                    return Err(format!("{where_}: source {id:?} is not in `sources`"));
                }
            }
            Ok(())
        };
        crate::image_ref::ImageRef::parse(&format!("{}/x:y", self.defaults.registry)).map_err(
            |_| {
                format!(
                    "defaults.registry {:?} is not a registry host",
                    self.defaults.registry
                )
            },
        )?;
        for name in &self.defaults.control_plane_images {
            check_image(&self.defaults.registry, name, "v1.0.0")
                .map_err(|e| format!("defaults.control_plane_images: {e}"))?;
        }
        let mut names = BTreeSet::new();
        for b in &self.defaults.binaries {
            let what = format!("defaults.binaries {}", b.name);
            if !names.insert(b.name.as_str()) {
                return Err(format!("{what}: listed twice"));
            }
            check_file_name(&b.name).map_err(|e| format!("{what}: {e}"))?;
            check_sources(&what, &b.source)?;
            check_url_templates(&b.url, &b.checksum_url, &[("version", "v1.0.0")])
                .map_err(|e| format!("{what}: {e}"))?;
        }
        check_sources("skew", &self.skew.source)?;
        let mut previous: Option<u32> = None;
        for m in &self.minors {
            let what = format!("minor {}", m.minor);
            let n = parse_minor_key(&m.minor)
                .ok_or_else(|| format!("minor {:?}: expected \"1.N\"", m.minor))?;
            if let Some(p) = previous
                && n <= p
            {
                return Err(format!("{what}: minors must ascend (after 1.{p})"));
            }
            previous = Some(n);
            check_sources(&what, &m.source)?;
            if m.end_of_life < m.released {
                return Err(format!(
                    "{what}: end_of_life {} is before released {}",
                    m.end_of_life, m.released
                ));
            }
            let mut image_names = BTreeSet::new();
            for img in &m.images {
                let w = format!("{what} image {}", img.name);
                if !image_names.insert(img.name.as_str()) {
                    return Err(format!("{w}: listed twice"));
                }
                if img.tags.is_empty() {
                    return Err(format!("{w}: no tags"));
                }
                for (i, row) in img.tags.iter().enumerate() {
                    if i == 0 && row.from_patch != 0 {
                        return Err(format!("{w}: the first tag row must have from_patch: 0"));
                    }
                    if i > 0 && row.from_patch <= img.tags[i - 1].from_patch {
                        return Err(format!(
                            "{w}: tag rows must ascend by from_patch ({} after {})",
                            row.from_patch,
                            img.tags[i - 1].from_patch
                        ));
                    }
                    check_image(&self.defaults.registry, &img.repository, &row.tag)
                        .map_err(|e| format!("{w}: {e}"))?;
                    check_sources(&w, &row.source)?;
                }
            }
            let mut tool_names = BTreeSet::new();
            for t in &m.tools {
                let w = format!("{what} tool {}", t.name);
                if !tool_names.insert(t.name.as_str()) {
                    return Err(format!("{w}: listed twice"));
                }
                check_file_name(&t.name).map_err(|e| format!("{w}: {e}"))?;
                check_file_name(&t.version).map_err(|e| format!("{w}: version: {e}"))?;
                check_sources(&w, &t.source)?;
                check_url_templates(&t.url, &t.checksum_url, &[("tool_version", &t.version)])
                    .map_err(|e| format!("{w}: {e}"))?;
            }
            for r in &m.removed_apis {
                let w = format!("{what} removed api {}", r.group_version);
                check_group_version(&r.group_version).map_err(|e| format!("{w}: {e}"))?;
                if let Some(rep) = &r.replacement {
                    check_group_version(rep).map_err(|e| format!("{w}: replacement: {e}"))?;
                }
                if r.partial && r.kinds.is_empty() {
                    return Err(format!("{w}: partial removal without kinds"));
                }
                check_sources(&w, &r.source)?;
            }
            if let Some(served) = &m.served_apis {
                let w = format!("{what} served_apis");
                check_sources(&w, &served.source)?;
                check_served(&served.group_versions).map_err(|e| format!("{w}: {e}"))?;
            }
        }
        let first = self
            .minors
            .first()
            .and_then(|m| parse_minor_key(&m.minor))
            .unwrap_or(u32::MAX);
        for r in &self.earlier_removed_apis {
            let w = format!("earlier_removed_apis {} {}", r.removed_in, r.group_version);
            if parse_minor_key(&r.removed_in).is_none_or(|n| n >= first) {
                return Err(format!(
                    "{w}: removed_in must be a minor (\"1.22\") older than the first of `minors`"
                ));
            }
            check_group_version(&r.group_version).map_err(|e| format!("{w}: {e}"))?;
            if let Some(rep) = &r.replacement {
                check_group_version(rep).map_err(|e| format!("{w}: replacement: {e}"))?;
            }
            if r.kinds.is_empty() {
                return Err(format!("{w}: kinds is empty"));
            }
            check_sources(&w, &r.source)?;
        }
        Ok(())
    }

    /// The entry of minor `"1.30"`.
    pub fn minor(&self, minor: &str) -> Option<&MinorEntry> {
        self.minors.iter().find(|m| m.minor == minor)
    }

    /// The entry of a version's minor.
    pub fn minor_of(&self, v: &Version) -> Option<&MinorEntry> {
        self.minor(&v.minor_key())
    }

    /// Newest known patch of minor `"1.30"`.
    pub fn latest_patch(&self, minor: &str) -> Option<u32> {
        self.minor(minor).map(|m| m.latest_patch)
    }

    /// The tag image `name` has in `minor` at `patch`: the last row with
    /// `from_patch <= patch`.
    pub fn image_tag(&self, minor: &str, name: &str, patch: u32) -> Option<&TagRow> {
        let img = self.minor(minor)?.images.iter().find(|i| i.name == name)?;
        img.tags.iter().rev().find(|r| r.from_patch <= patch)
    }

    /// The version is in the catalog (its minor is listed and the patch is not newer than
    /// `latest_patch`); the error says how to fix it.
    pub fn check_known(&self, v: &Version) -> std::result::Result<&MinorEntry, String> {
        let m = self.minor_of(v).ok_or_else(|| {
            let known = match (self.minors.first(), self.minors.last()) {
                (Some(a), Some(b)) => format!("it knows 1.{}..{}", &a.minor[2..], b.minor),
                _ => "it lists no minors".into(),
            };
            format!(
                "{v}: minor {} is not in the catalog ({known}); update it or pass a newer one with --catalog FILE",
                v.minor_key()
            )
        })?;
        if v.patch > m.latest_patch {
            return Err(format!(
                "{v}: the catalog knows {} up to v{}.{} (catalog may be outdated); update it or pass a newer one with --catalog FILE",
                m.minor, m.minor, m.latest_patch
            ));
        }
        Ok(m)
    }
}

/// `group/version` or the core `v1`: lowercase DNS-ish group, lowercase version.
pub fn check_group_version(gv: &str) -> std::result::Result<(), String> {
    let ok_part = |p: &str| {
        !p.is_empty()
            && p.len() <= 253
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    };
    let (group, version) = match gv.split_once('/') {
        Some((g, v)) => (Some(g), v),
        None => (None, gv),
    };
    if group.is_some_and(|g| !ok_part(g)) || !ok_part(version) || version.contains('.') {
        return Err(format!(
            "{:?} is not a group/version",
            crate::escape::Untrusted(gv)
        ));
    }
    Ok(())
}

fn check_served(gvs: &[ServedGroupVersion]) -> std::result::Result<(), String> {
    for (i, gv) in gvs.iter().enumerate() {
        check_group_version(&gv.group_version)?;
        if i > 0 && gv.group_version <= gvs[i - 1].group_version {
            return Err(format!(
                "group/versions must ascend, each once ({} after {})",
                gv.group_version,
                gvs[i - 1].group_version
            ));
        }
        for (j, r) in gv.resources.iter().enumerate() {
            if r.resource.is_empty() || r.kind.is_empty() {
                return Err(format!(
                    "{}: a resource without name or kind",
                    gv.group_version
                ));
            }
            if j > 0 && r.resource <= gv.resources[j - 1].resource {
                return Err(format!(
                    "{}: resources must ascend, each once ({} after {})",
                    gv.group_version,
                    r.resource,
                    gv.resources[j - 1].resource
                ));
            }
        }
    }
    Ok(())
}

fn check_image(registry: &str, repository: &str, tag: &str) -> std::result::Result<(), String> {
    let r = format!("{registry}/{repository}:{tag}");
    crate::image_ref::ImageRef::parse(&r)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn check_file_name(name: &str) -> std::result::Result<(), String> {
    crate::paths::SafeRelPath::new(name)
        .map_err(|e| e.to_string())
        .and_then(|p| {
            if p.as_str().contains('/') {
                Err(format!("{name:?} must be a single path component"))
            } else {
                Ok(())
            }
        })
}

fn check_url_templates(
    url: &str,
    checksum_url: &str,
    vars: &[(&str, &str)],
) -> std::result::Result<(), String> {
    let mut all = vars.to_vec();
    all.push(("arch", "amd64"));
    let u = expand_template(url, &all)?;
    if !u.starts_with("https://") && !u.starts_with("http://") {
        return Err(format!("url {url:?} is not http(s)"));
    }
    let c = expand_template(checksum_url, &[("url", &u)])?;
    if !c.starts_with("https://") && !c.starts_with("http://") {
        return Err(format!("checksum_url {checksum_url:?} is not http(s)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    /// Issue 21 item 19: the embedded data against upstream's own files. Alpha removals
    /// count (the discovery documents list every API); crictl is the pin of
    /// build/dependencies.yaml at the tag; a newest patch not read from stable-1.N.txt or a
    /// release page is marked uncertain and says why.
    #[test]
    fn builtin_catalog_agrees_with_upstreams_files() {
        let c = Catalog::builtin().unwrap();
        let removed = |minor: &str| -> Vec<String> {
            let m = c.minor(minor).unwrap();
            m.removed_apis
                .iter()
                .map(|r| r.group_version.clone())
                .collect()
        };
        assert!(removed("1.33").contains(&"admissionregistration.k8s.io/v1alpha1".into()));
        assert!(removed("1.34").contains(&"resource.k8s.io/v1alpha3".into()));
        assert!(removed("1.34").contains(&"networking.k8s.io/v1alpha1".into()));
        assert!(removed("1.35").contains(&"certificates.k8s.io/v1alpha1".into()));
        let crictl = |minor: &str| {
            let m = c.minor(minor).unwrap();
            m.tools
                .iter()
                .find(|t| t.name == "crictl")
                .unwrap()
                .version
                .clone()
        };
        assert_eq!(crictl("1.33"), "v1.32.0");
        assert_eq!(crictl("1.34"), "v1.33.0");
        for minor in ["1.35", "1.37"] {
            let m = c.minor(minor).unwrap();
            assert_eq!(
                m.latest_patch_confidence,
                Some(Confidence::Uncertain),
                "{minor}"
            );
            assert!(
                m.latest_patch_note
                    .as_deref()
                    .is_some_and(|n| n.contains("planned")),
                "{minor}"
            );
        }
    }

    #[test]
    fn builtin_catalog_loads() {
        let c = Catalog::builtin().unwrap();
        assert_eq!(c.format, 1);
        assert!(c.minor("1.30").is_some());
        assert_eq!(c.latest_patch("1.29"), Some(15));
    }

    #[test]
    fn version_parsing_is_strict() {
        assert_eq!(v("v1.30.2"), Version::new(30, 2));
        assert_eq!(v("v1.30.2").to_string(), "v1.30.2");
        for bad in [
            "1.30.2",
            "v1.30",
            "v1.30.2.1",
            "v2.0.0",
            "v1.030.2",
            "v1.30.02",
            "v1.30.x",
            "v1.30.-1",
            "v1..2",
            "V1.30.2",
            "v1.30.2-rc.1",
            " v1.30.2",
            "",
        ] {
            assert!(bad.parse::<Version>().is_err(), "{bad} accepted");
        }
        assert!(v("v1.9.0") < v("v1.10.0"));
    }

    #[test]
    fn tag_selection_takes_the_last_row_at_or_below_the_patch() {
        let c = Catalog::builtin().unwrap();
        let tag = |m: &str, n: &str, p: u32| c.image_tag(m, n, p).unwrap().tag.clone();
        assert_eq!(tag("1.30", "etcd", 0), "3.5.12-0");
        assert_eq!(tag("1.30", "etcd", 2), "3.5.12-0");
        assert_eq!(tag("1.30", "etcd", 5), "3.5.15-0");
        assert_eq!(tag("1.30", "etcd", 14), "3.5.15-0");
        assert_eq!(tag("1.29", "etcd", 2), "3.5.10-0");
        assert_eq!(tag("1.29", "etcd", 3), "3.5.12-0");
        assert_eq!(tag("1.29", "etcd", 15), "3.5.16-0");
        assert_eq!(tag("1.31", "coredns", 0), "v1.11.1");
        assert_eq!(tag("1.31", "coredns", 1), "v1.11.3");
        assert!(c.image_tag("1.99", "etcd", 0).is_none());
        assert!(c.image_tag("1.30", "nope", 0).is_none());
    }

    #[test]
    fn known_versions() {
        let c = Catalog::builtin().unwrap();
        assert!(c.check_known(&v("v1.30.2")).is_ok());
        let e = c.check_known(&v("v1.30.99")).unwrap_err();
        assert!(e.contains("--catalog"), "{e}");
        let e = c.check_known(&v("v1.12.0")).unwrap_err();
        assert!(e.contains("1.12"), "{e}");
    }

    #[test]
    fn validation_rejects_bad_catalogs() {
        let base = DEFAULT_CATALOG;
        let cases = [
            (
                base.replacen("format: 1", "format: 2", 1),
                "format 2 is not supported",
            ),
            (
                base.replacen("catalog_version:", "surprise: 1\ncatalog_version:", 1),
                "surprise",
            ),
            (
                base.replacen("source: [dl-k8s-io]", "source: [no-such-source]", 1),
                "no-such-source",
            ),
            (
                base.replacen(r#"minor: "1.28""#, r#"minor: "1.26""#, 1),
                "ascend",
            ),
            (
                base.replacen(
                    "{ from_patch: 0, tag: \"3.5.7-0\"",
                    "{ from_patch: 1, tag: \"3.5.7-0\"",
                    1,
                ),
                "from_patch: 0",
            ),
            (
                base.replacen(
                    "{ from_patch: 10, tag: \"3.5.10-0\"",
                    "{ from_patch: 5, tag: \"3.5.10-0\"",
                    1,
                ),
                "ascend",
            ),
            (
                base.replacen(
                    "/bin/linux/{arch}/kubeadm\"",
                    "/bin/linux/{arch}/{nope}\"",
                    1,
                ),
                "nope",
            ),
        ];
        for (text, needle) in cases {
            assert_ne!(text, base, "case for {needle} did not change the catalog");
            let e = Catalog::parse(&text, "t").unwrap_err().to_string();
            assert!(e.contains(needle), "{needle}: {e}");
        }
    }

    #[test]
    fn templates() {
        assert_eq!(
            expand_template(
                "a/{version}/{arch}",
                &[("version", "v1"), ("arch", "arm64")]
            )
            .unwrap(),
            "a/v1/arm64"
        );
        assert!(expand_template("a/{x}", &[]).is_err());
        assert!(expand_template("a/{x", &[("x", "1")]).is_err());
        assert!(expand_template("a/}x", &[]).is_err());
    }

    proptest::proptest! {
        #[test]
        fn version_parse_never_panics_and_round_trips(s in "\\PC{0,20}") {
            if let Ok(v) = s.parse::<Version>() {
                proptest::prop_assert_eq!(v.to_string(), s);
            }
        }

        #[test]
        fn catalog_parse_never_panics(s in "\\PC{0,300}") {
            let _ = Catalog::parse(&s, "prop");
        }
    }
}
