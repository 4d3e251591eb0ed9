//! Kubernetes manifests as add-ons ship them: multi-document YAML (or JSON) files of
//! objects. The scanner reads one document at a time (memory follows the largest
//! document, not the file), with serde-saphyr's budgets, and collects
//!
//! - every image of every pod template (Pod, Deployment, DaemonSet, StatefulSet,
//!   ReplicaSet, ReplicationController, Job, CronJob, PodTemplate, and the items of a
//!   `List`): containers, init containers and ephemeral containers, each with where it
//!   was found;
//! - the apiVersion and kind of every object (for the compatibility check);
//! - the group/versions and kinds the file's CustomResourceDefinitions define.
//!
//! A document that is not a Kubernetes object (no `apiVersion` and `kind`), a workload
//! without a pod template, a container without an image, or an image that does not parse
//! is an error naming the file, the document and the line.

use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::image_ref::ImageRef;

/// Largest manifest file scanned.
pub const MAX_MANIFEST_BYTES: u64 = 64 * 1024 * 1024;
/// Most documents in one file (`---` storms).
pub const MAX_DOCUMENTS: usize = 20_000;
/// Deepest `List` nesting followed.
const MAX_LIST_DEPTH: usize = 4;

/// Which container list an image is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ContainerKind {
    /// `containers`.
    Container,
    /// `initContainers`.
    InitContainer,
    /// `ephemeralContainers`.
    EphemeralContainer,
}

impl ContainerKind {
    const ALL: [(&'static str, ContainerKind); 3] = [
        ("initContainers", ContainerKind::InitContainer),
        ("containers", ContainerKind::Container),
        ("ephemeralContainers", ContainerKind::EphemeralContainer),
    ];
}

/// An image found in a pod template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundImage {
    /// The reference as parsed (registry made explicit).
    pub image: ImageRef,
    /// Document number in the file (1-based, counting non-empty documents).
    pub document: u32,
    /// Line the document starts on (0 when unknown).
    pub line: u32,
    /// `DaemonSet kube-system/calico-node`.
    pub object: String,
    /// The container's name.
    pub container: String,
    /// Which list it is in.
    pub container_kind: ContainerKind,
}

/// An object's apiVersion and kind, and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiUse {
    /// `apps/v1`.
    pub api_version: String,
    /// `DaemonSet`.
    pub kind: String,
    /// Document number (1-based).
    pub document: u32,
    /// Line the document starts on (0 when unknown).
    pub line: u32,
    /// `DaemonSet kube-system/calico-node`.
    pub object: String,
}

/// A kind a CustomResourceDefinition of the file defines, at one of its versions.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Defined {
    /// `crd.projectcalico.org/v1`.
    pub group_version: String,
    /// `IPPool`.
    pub kind: String,
}

/// What a manifest file holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    /// Non-empty documents read.
    pub documents: u32,
    /// Images, in file order.
    pub images: Vec<FoundImage>,
    /// Every object's apiVersion and kind, in file order.
    pub apis: Vec<ApiUse>,
    /// Kinds defined by the file's CustomResourceDefinitions.
    pub defines: Vec<Defined>,
}

fn options(limit: u64) -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_reader_input_bytes = Some(usize::try_from(limit).unwrap_or(usize::MAX));
    budget.max_documents = MAX_DOCUMENTS;
    let mut o = serde_saphyr::Options::default();
    o.budget = Some(budget);
    o
}

/// Scan a manifest file (a regular file, at most [`MAX_MANIFEST_BYTES`]); `origin` names
/// it in errors.
pub fn scan_file(path: &Path, origin: &str) -> Result<Scan> {
    let f = airlock_verify::fsutil::open_regular(path, "Kubernetes manifest")?;
    let len = f.metadata().map_err(|e| Error::io("stat", path, e))?.len();
    if len > MAX_MANIFEST_BYTES {
        return Err(Error::invalid(
            "Kubernetes manifest",
            origin,
            format!("larger than {MAX_MANIFEST_BYTES} bytes"),
        ));
    }
    scan(
        std::io::BufReader::new(f.take(MAX_MANIFEST_BYTES + 1)),
        origin,
    )
}

/// Scan multi-document YAML from `reader`; `origin` names it in errors.
pub fn scan<R: Read>(mut reader: R, origin: &str) -> Result<Scan> {
    let mut out = Scan::default();
    let docs = serde_saphyr::read_with_options::<_, serde_saphyr::Spanned<Value>>(
        &mut reader,
        options(MAX_MANIFEST_BYTES),
    );
    for doc in docs {
        let n = out.documents + 1;
        let doc = doc.map_err(|e| {
            Error::invalid(
                "Kubernetes manifest",
                format!("{origin} document {n}"),
                format!("not YAML: {e}"),
            )
        })?;
        out.documents = n;
        let at = Place {
            origin,
            document: n,
            line: u32::try_from(doc.referenced.line()).unwrap_or(0),
        };
        object(&doc.value, &at, &mut out, 0)?;
    }
    Ok(out)
}

/// Where a document is, for errors and results.
struct Place<'a> {
    origin: &'a str,
    document: u32,
    line: u32,
}

impl Place<'_> {
    fn error(&self, reason: impl ToString) -> Error {
        let line = if self.line > 0 {
            format!(" (line {})", self.line)
        } else {
            String::new()
        };
        Error::invalid(
            "Kubernetes manifest",
            format!("{} document {}{line}", self.origin, self.document),
            reason,
        )
    }
}

fn str_at<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str)
}

/// One object (or a `List` of them).
fn object(v: &Value, at: &Place<'_>, out: &mut Scan, depth: usize) -> Result<()> {
    if !v.is_object() {
        return Err(at.error("not a Kubernetes object (a mapping with apiVersion and kind)"));
    }
    let (Some(api_version), Some(kind)) = (str_at(v, "apiVersion"), str_at(v, "kind")) else {
        return Err(at.error("not a Kubernetes object: apiVersion and kind must be strings"));
    };
    if api_version.is_empty() || kind.is_empty() {
        return Err(at.error("not a Kubernetes object: empty apiVersion or kind"));
    }
    let meta = v.get("metadata");
    let name = meta.and_then(|m| str_at(m, "name"));
    let namespace = meta.and_then(|m| str_at(m, "namespace"));
    let id = match (namespace, name) {
        (Some(ns), Some(n)) => format!("{kind} {ns}/{n}"),
        (None, Some(n)) => format!("{kind} {n}"),
        _ => kind.to_string(),
    };
    if kind == "List" || kind.ends_with("List") && v.get("items").is_some_and(Value::is_array) {
        if depth >= MAX_LIST_DEPTH {
            return Err(at.error("Lists nested too deep"));
        }
        for item in v
            .get("items")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            object(item, at, out, depth + 1)?;
        }
        return Ok(());
    }
    out.apis.push(ApiUse {
        api_version: api_version.to_string(),
        kind: kind.to_string(),
        document: at.document,
        line: at.line,
        object: id.clone(),
    });
    if kind == "CustomResourceDefinition" && api_version.starts_with("apiextensions.k8s.io/") {
        defined_kinds(v, at, out)?;
    }
    if let Some(spec) = pod_spec(api_version, kind, v, at, &id)? {
        containers(spec, at, &id, out)?;
    }
    Ok(())
}

/// The pod spec of a workload, if the object is one.
fn pod_spec<'v>(
    api_version: &str,
    kind: &str,
    v: &'v Value,
    at: &Place<'_>,
    id: &str,
) -> Result<Option<&'v Value>> {
    // Only the built-in groups: a custom resource may reuse a name like `Job`.
    let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    if !matches!(group, "" | "apps" | "batch" | "extensions") {
        return Ok(None);
    }
    let pointer = match kind {
        "Pod" => "/spec",
        "Deployment"
        | "DaemonSet"
        | "StatefulSet"
        | "ReplicaSet"
        | "ReplicationController"
        | "Job" => "/spec/template/spec",
        "CronJob" => "/spec/jobTemplate/spec/template/spec",
        "PodTemplate" => "/template/spec",
        _ => return Ok(None),
    };
    match v.pointer(pointer) {
        Some(spec) if spec.is_object() => Ok(Some(spec)),
        _ => Err(at.error(format!(
            "{id} has no pod template ({})",
            pointer.trim_start_matches('/').replace('/', ".")
        ))),
    }
}

fn containers(spec: &Value, at: &Place<'_>, id: &str, out: &mut Scan) -> Result<()> {
    for (list, ck) in ContainerKind::ALL {
        let Some(items) = spec.get(list) else {
            continue;
        };
        let Some(items) = items.as_array() else {
            return Err(at.error(format!("{id}: {list} is not a list")));
        };
        for (i, c) in items.iter().enumerate() {
            let cname = str_at(c, "name").unwrap_or("").to_string();
            let label = if cname.is_empty() {
                format!("{list}[{i}]")
            } else {
                cname.clone()
            };
            let Some(image) = str_at(c, "image") else {
                return Err(at.error(format!("{id}: container {label} has no image")));
            };
            let parsed = ImageRef::parse(image.trim()).map_err(|e| {
                at.error(format!(
                    "{id}: container {label}: image {:?} does not parse: {}",
                    crate::escape::Untrusted(image),
                    e.reason
                ))
            })?;
            out.images.push(FoundImage {
                image: parsed,
                document: at.document,
                line: at.line,
                object: id.to_string(),
                container: label,
                container_kind: ck,
            });
        }
    }
    Ok(())
}

/// The kinds a CustomResourceDefinition defines, per version (`spec.versions[].name`, or
/// `spec.version` in v1beta1).
fn defined_kinds(v: &Value, at: &Place<'_>, out: &mut Scan) -> Result<()> {
    let spec = v.get("spec");
    let group = spec.and_then(|s| str_at(s, "group"));
    let kind = spec
        .and_then(|s| s.get("names"))
        .and_then(|n| str_at(n, "kind"));
    let (Some(group), Some(kind)) = (group, kind) else {
        return Err(at.error("CustomResourceDefinition without spec.group and spec.names.kind"));
    };
    let mut versions: Vec<&str> = spec
        .and_then(|s| s.get("versions"))
        .and_then(Value::as_array)
        .map(|l| l.iter().filter_map(|x| str_at(x, "name")).collect())
        .unwrap_or_default();
    if let Some(one) = spec.and_then(|s| str_at(s, "version")) {
        versions.push(one);
    }
    for ver in versions {
        out.defines.push(Defined {
            group_version: format!("{group}/{ver}"),
            kind: kind.to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example manifest that `manifests/examples/cni-calico.yaml` names holds calico's
    /// images (the hop manifest lists none by hand).
    #[test]
    fn the_calico_example_manifest_holds_its_images() {
        let scan = scan(
            include_str!("../../manifests/examples/addons/calico.yaml").as_bytes(),
            "calico.yaml",
        )
        .unwrap();
        let mut images: Vec<String> = scan.images.iter().map(|f| f.image.to_string()).collect();
        images.sort();
        images.dedup();
        assert_eq!(
            images,
            [
                "docker.io/calico/cni:v3.28.1",
                "docker.io/calico/kube-controllers:v3.28.1",
                "docker.io/calico/node:v3.28.1"
            ]
        );
    }

    const CNI: &str = r#"# Source: calico/templates/calico-node.yaml
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: calico-node, namespace: kube-system}
---
# an empty document (helm template leaves these)
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: calico-node
  namespace: kube-system
spec:
  selector: {matchLabels: {k8s-app: calico-node}}
  template:
    spec:
      initContainers:
        - name: install-cni
          image: docker.io/calico/cni:v3.28.1
      containers:
        - name: calico-node
          image: "calico/node:v3.28.1"
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: cleanup}
spec:
  schedule: "@daily"
  jobTemplate:
    spec:
      template:
        spec:
          containers:
            - {name: c, image: "registry.k8s.io/kubectl@sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: ippools.crd.projectcalico.org}
spec:
  group: crd.projectcalico.org
  names: {kind: IPPool, plural: ippools}
  versions: [{name: v1, served: true, storage: true}]
---
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Pod
    metadata: {name: debug}
    spec:
      containers: [{name: x, image: busybox}]
      ephemeralContainers: [{name: dbg, image: "busybox:1.36"}]
"#;

    #[test]
    fn finds_every_container_image_with_its_place() {
        let s = scan(CNI.as_bytes(), "calico.yaml").unwrap();
        assert_eq!(s.documents, 5);
        let got: Vec<(String, u32, &str, &str, ContainerKind)> = s
            .images
            .iter()
            .map(|f| {
                (
                    f.image.to_string(),
                    f.document,
                    f.object.as_str(),
                    f.container.as_str(),
                    f.container_kind,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "docker.io/calico/cni:v3.28.1".into(),
                    2,
                    "DaemonSet kube-system/calico-node",
                    "install-cni",
                    ContainerKind::InitContainer
                ),
                (
                    "docker.io/calico/node:v3.28.1".into(),
                    2,
                    "DaemonSet kube-system/calico-node",
                    "calico-node",
                    ContainerKind::Container
                ),
                (
                    "registry.k8s.io/kubectl@sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".into(),
                    3,
                    "CronJob cleanup",
                    "c",
                    ContainerKind::Container
                ),
                ("docker.io/library/busybox".into(), 5, "Pod debug", "x", ContainerKind::Container),
                (
                    "docker.io/library/busybox:1.36".into(),
                    5,
                    "Pod debug",
                    "dbg",
                    ContainerKind::EphemeralContainer
                ),
            ]
        );
        assert_eq!(
            s.images[0].line, 9,
            "the DaemonSet document starts on line 9"
        );
        let apis: Vec<String> = s
            .apis
            .iter()
            .map(|a| format!("{} {}", a.api_version, a.kind))
            .collect();
        assert_eq!(
            apis,
            [
                "v1 ServiceAccount",
                "apps/v1 DaemonSet",
                "batch/v1 CronJob",
                "apiextensions.k8s.io/v1 CustomResourceDefinition",
                "v1 Pod"
            ]
        );
        assert_eq!(
            s.defines,
            vec![Defined {
                group_version: "crd.projectcalico.org/v1".into(),
                kind: "IPPool".into()
            }]
        );
    }

    #[test]
    fn bad_input_names_the_file_and_document() {
        for (text, needle) in [
            ("apiVersion: v1\nkind: [unclosed\n", "document 1"),
            (
                "apiVersion: v1\nkind: A\n---\njust a string\n",
                "document 2",
            ),
            ("---\nkey: value\n", "not a Kubernetes object"),
            (
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {}\n",
                "Deployment d has no pod template (spec.template.spec)",
            ),
            (
                "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c}]\n",
                "container c has no image",
            ),
            (
                "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c, image: \"Not/A:Valid:Ref\"}]\n",
                "does not parse",
            ),
            (
                "apiVersion: v1\nkind: Pod\nspec:\n  containers: [{name: c, image: \"{{ .Values.image }}\"}]\n",
                "does not parse",
            ),
        ] {
            let e = scan(text.as_bytes(), "addon.yaml").unwrap_err();
            let msg = format!("{e}");
            assert!(msg.contains("addon.yaml"), "{msg}");
            assert!(msg.contains(needle), "{needle}: {msg}");
            assert_eq!(e.exit_code(), 4, "{msg}");
        }
    }

    #[test]
    fn custom_resources_named_like_workloads_are_not_pod_templates() {
        let s = scan(
            "apiVersion: batch.volcano.sh/v1alpha1\nkind: Job\nmetadata: {name: j}\nspec: {tasks: []}\n"
                .as_bytes(),
            "x",
        )
        .unwrap();
        assert!(s.images.is_empty());
        assert_eq!(s.apis.len(), 1);
    }

    proptest::proptest! {
        #[test]
        fn scan_never_panics(s in "\\PC{0,400}") {
            let _ = scan(s.as_bytes(), "prop");
        }

        /// Whatever images a generated workload has, the scanner reports each once, in
        /// order, with its container.
        #[test]
        fn reports_each_generated_container(
            names in proptest::collection::vec("[a-z]{1,8}", 1..6),
            kind in 0usize..3,
        ) {
            let (k, head) = [
                ("Deployment", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: w}\nspec:\n  template:\n    spec:\n"),
                ("Job", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: w}\nspec:\n  template:\n    spec:\n"),
                ("Pod", "apiVersion: v1\nkind: Pod\nmetadata: {name: w}\nspec:\n    spec_unused: 1\n"),
            ][kind];
            let mut text = head.to_string();
            if k == "Pod" {
                text = "apiVersion: v1\nkind: Pod\nmetadata: {name: w}\nspec:\n".into();
            }
            let indent = if k == "Pod" { "  " } else { "      " };
            text.push_str(&format!("{indent}containers:\n"));
            for (i, n) in names.iter().enumerate() {
                text.push_str(&format!("{indent}  - name: c{i}\n{indent}    image: example.com/{n}:v{i}\n"));
            }
            let s = scan(text.as_bytes(), "gen").unwrap();
            proptest::prop_assert_eq!(s.images.len(), names.len());
            for (i, (f, n)) in s.images.iter().zip(&names).enumerate() {
                proptest::prop_assert_eq!(f.image.to_string(), format!("example.com/{n}:v{i}"));
                proptest::prop_assert_eq!(&f.container, &format!("c{i}"));
            }
        }
    }
}
