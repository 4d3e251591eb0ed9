//! The catalog's schema: the types `manifests/catalog/kubernetes.yaml` is read into, and
//! the value forms (versions, minor keys, URL templates) they use. What serde cannot
//! check is in [`super::validate`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::date::Date;
use crate::digest::{Sha256Digest, bare_hex};
use crate::manifest::Mode;

/// The whole catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// Format version; must be `CATALOG_FORMAT`.
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
    /// The version skew policy's limits against a kube-apiserver of this minor; absent: the
    /// top-level `skew` holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skew: Option<MinorSkew>,
    /// What kubeadm of this minor enforces about older kubelets; absent: unknown, so a plan
    /// that leaves workers behind refuses this minor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeadm: Option<KubeadmSkew>,
    /// Compatibility-version facts (`--emulated-version`), for two-step hops into this
    /// minor; absent when not established.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compatibility: Option<Compatibility>,
}

/// What a minor's control plane offers for emulating an older minor (KEP-4330), with the
/// sources; `docs/design/two-step.md` §1 has the reading behind each value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Compatibility {
    /// The control-plane binaries of this minor take `--emulated-version`.
    pub emulated_version_flag: bool,
    /// The `kube` emulation versions the binaries accept, when the flag exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emulated_version: Option<MinorRange>,
    /// `--min-compatibility-version` exists (airlock never sets it).
    pub min_compatibility_flag: bool,
    /// The components that take `--emulated-version`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<String>,
    /// Whether a two-step hop into this minor is offered.
    pub two_step: TwoStepOffer,
    /// Why it is refused (required when `two_step: refused`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// Facts the mode needs that were not read at the tag; any one refuses the mode.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unconfirmed: Vec<String>,
    /// Source ids.
    pub source: Vec<String>,
    /// `uncertain`, when a value was read at a pre-release tag or inferred.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<Confidence>,
    /// What is and is not confirmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The skew policy's limits against a kube-apiserver of one minor (issue 26).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinorSkew {
    /// A kubelet may be this many minors older than kube-apiserver (never newer).
    pub kubelet_max_minors_older: u32,
    /// kube-proxy may be this many minors older than kube-apiserver (never newer).
    pub kube_proxy_max_minors_older: u32,
    /// kube-proxy within this many minors of the kubelet on its node, either way.
    pub kube_proxy_max_minors_from_kubelet: u32,
    /// kube-controller-manager, kube-scheduler, cloud-controller-manager: this many older.
    pub control_plane_max_minors_older: u32,
    /// kubectl within this many minors of kube-apiserver, either way.
    pub kubectl_max_minors_skew: u32,
    /// Source ids.
    pub source: Vec<String>,
    /// `uncertain`, when not read from the policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<Confidence>,
    /// What the values rest on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// An inclusive range of minors, `{ min: "1.33", max: "1.36" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinorRange {
    /// Lowest accepted minor.
    pub min: String,
    /// Highest accepted minor.
    pub max: String,
}

/// Whether the catalog offers two-step hops into a minor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TwoStepOffer {
    /// The facts hold: the mode is offered.
    Offered,
    /// Not offered; `refusal` says why.
    Refused,
}

/// How `kubeadm upgrade apply` treats kubelets older than its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TooOldKubelet {
    /// An error `--force` (or an ignored preflight error) passes; airlock never emits it.
    Skippable,
    /// An error nothing passes.
    Mandatory,
}

/// What kubeadm of one minor enforces about kubelet skew.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubeadmSkew {
    /// kubeadm accepts kubelets this many minors older than itself
    /// (`MaximumAllowedMinorVersionKubeletSkew`).
    pub kubelet_max_minors_older: u32,
    /// What `kubeadm upgrade apply` does with kubelets older than that.
    pub kubelet_too_old_is: TooOldKubelet,
    /// `kubeadm upgrade node` on a worker checks the node's version.
    pub upgrade_node_checks_version: bool,
    /// `kubeadm upgrade` on a node uses a kubeadm at most this many minors newer than the
    /// kubeadm that last managed the node ("kubeadm's skew against kubeadm"), so a worker
    /// whose kubelet stays behind still takes `kubeadm upgrade node` at every minor.
    pub node_kubeadm_max_minors_newer: u32,
    /// Source ids.
    pub source: Vec<String>,
    /// `uncertain`, when not read from kubeadm's source at the minor's tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<Confidence>,
    /// What the values rest on; required when uncertain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
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
