//! What the resolve learnt about each add-on, recorded in the lock (`facts.addons`) and
//! shown in the change report: every image and where it was found, every chart and how
//! it is carried, every compatibility check and its verdict, and any exception.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where an add-on image came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImageSource {
    /// Listed by hand under `images:` in the hop manifest.
    Listed,
    /// A pod template of a manifest file (`files` or `documents` of kind manifest).
    Manifest,
    /// A chart's `artifacthub.io/images` annotation.
    ChartAnnotation,
    /// A chart's `values.yaml`.
    ChartValues,
    /// The rendered output of a chart the user gave (`rendered:`).
    Rendered,
}

impl ImageSource {
    /// The name used in files and output.
    pub fn as_str(self) -> &'static str {
        match self {
            ImageSource::Listed => "listed",
            ImageSource::Manifest => "manifest",
            ImageSource::ChartAnnotation => "chart-annotation",
            ImageSource::ChartValues => "chart-values",
            ImageSource::Rendered => "rendered",
        }
    }
}

impl fmt::Display for ImageSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One place an image was found.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FoundAt {
    /// Which kind of source.
    pub source: ImageSource,
    /// The file (manifest file name or URL, chart archive, rendered output).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Document number in the file (1-based, non-empty documents).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<u32>,
    /// The line the document starts on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// The object (`DaemonSet kube-system/calico-node`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// The container (`install-cni (init-container)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// A values path (`controller.image`) or an annotation entry's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

impl fmt::Display for FoundAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.source.as_str())?;
        if let Some(x) = &self.file {
            write!(f, " {x}")?;
        }
        if let Some(d) = self.document {
            write!(f, " document {d}")?;
        }
        if let Some(l) = self.line {
            write!(f, " (line {l})")?;
        }
        if let Some(o) = &self.object {
            write!(f, " {o}")?;
        }
        if let Some(c) = &self.container {
            write!(f, " container {c}")?;
        }
        if let Some(p) = &self.path {
            write!(f, " {p}")?;
        }
        Ok(())
    }
}

/// An image of an add-on, with every place it was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddonImage {
    /// The reference as the lock names it.
    pub name: String,
    /// Where it was found (listed by hand, manifests, charts), sorted.
    pub found_in: Vec<FoundAt>,
}

/// How a chart travels in the bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChartCarried {
    /// An OCI artifact (Helm's media types), pushed to the enclave registry.
    OciArtifact,
    /// A `.tgz` file, installed under `--dest`.
    File,
}

/// A chart of an add-on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChartFacts {
    /// `name` of its Chart.yaml.
    pub name: String,
    /// `version` of its Chart.yaml.
    pub version: String,
    /// Where it came from: `oci://...`, the repository URL, or the local path.
    pub source: String,
    /// The pin: the OCI manifest digest or the archive's sha256 (`sha256:...`).
    pub pinned: String,
    /// How it is carried.
    pub carried_as: ChartCarried,
    /// The image name (OCI) or file target it is carried under.
    pub carried: String,
    /// Its `kubeVersion` constraint, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_version: Option<String>,
    /// Which sources gave its images.
    pub image_sources: Vec<ImageSource>,
    /// Image entries of its values that airlock could not determine (path: reason).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub undetermined: Vec<String>,
}

/// What a compatibility check compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckKind {
    /// A chart's `kubeVersion` constraint.
    KubeVersion,
    /// The hop manifest's `compat:` block (a support range from the add-on's docs).
    SupportRange,
    /// An apiVersion and kind the add-on's manifests use.
    Api,
}

/// The outcome of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The target satisfies it (served, in range, constraint holds).
    Compatible,
    /// The target does not satisfy it: the resolve fails unless allowed.
    Incompatible,
    /// Not removed by any minor up to the target, but the catalog does not know the
    /// target's served APIs, so it is not confirmed.
    NotRemoved,
    /// A custom resource whose definition the add-on does not carry: not checked.
    Unchecked,
}

impl Verdict {
    /// The name used in files and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Compatible => "compatible",
            Verdict::Incompatible => "incompatible",
            Verdict::NotRemoved => "not-removed",
            Verdict::Unchecked => "unchecked",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One compatibility check of an add-on against the target version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompatCheck {
    /// What is checked.
    pub check: CheckKind,
    /// What it is about: `chart ingress-nginx 4.11.2`, `flowcontrol.apiserver.k8s.io/v1beta2
    /// FlowSchema`, `compat block`.
    pub subject: String,
    /// The requirement: the constraint, the range, or the API.
    pub requirement: String,
    /// The target version.
    pub target: String,
    /// The outcome.
    pub verdict: Verdict,
    /// Why, and where it was found.
    pub detail: String,
    /// Where the requirement comes from (a URL, the catalog's source ids).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// Everything about one add-on (one hop manifest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddonFacts {
    /// The hop manifest's `name` (or its file name).
    pub name: String,
    /// Its images.
    pub images: Vec<AddonImage>,
    /// Its charts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub charts: Vec<ChartFacts>,
    /// Its compatibility checks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CompatCheck>,
    /// Set when an incompatibility was allowed (`--allow-incompatible NAME`): says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exception: Option<String>,
}

impl AddonFacts {
    /// The checks that failed.
    pub fn incompatible(&self) -> impl Iterator<Item = &CompatCheck> {
        self.checks
            .iter()
            .filter(|c| c.verdict == Verdict::Incompatible)
    }
}
