//! What a cluster dump says: the objects and the API versions they use, the server and
//! node versions, and kubeadm's configuration. Read by the change report on the connected
//! side and by `airlock-verify preflight` inside the enclave, so both judge a cluster the
//! same way. Input is what `kubectl` prints with `-o json` (lists, single objects,
//! `kubectl version -o json`); the connected side also turns YAML manifests into the same
//! values.
//!
//! A live `kubectl get` returns objects in the version the server prefers, which hides
//! what the user wrote: the `kubectl.kubernetes.io/last-applied-configuration` annotation
//! holds the version actually applied, so it is read when present.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::escape::Untrusted;

pub mod helm;
pub mod metrics;
mod stream;
pub use stream::{Doc, Shape};

/// Largest dump file read.
pub const MAX_DUMP_BYTES: u64 = 256 * 1024 * 1024;

/// One Kubernetes object found in a dump.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Object {
    /// `apiVersion` as the dump shows it.
    pub api_version: String,
    /// The API version in its last-applied configuration, when present.
    pub applied_api_version: Option<String>,
    /// `kind`.
    pub kind: String,
    /// Namespace, if namespaced.
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
    /// The file it came from.
    pub source: String,
    /// The Helm release whose stored manifest holds it (`namespace/name revision N`),
    /// when it was read from a release Secret rather than from the object itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helm_release: Option<String>,
}

/// A node and the versions it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Node {
    /// Name.
    pub name: String,
    /// `status.nodeInfo.kubeletVersion`.
    pub kubelet: String,
    /// `status.nodeInfo.kubeProxyVersion` (may be empty in recent releases).
    pub kube_proxy: String,
    /// Labelled `node-role.kubernetes.io/control-plane` (or `master`).
    pub control_plane: bool,
}

/// Everything read from the dump files.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Dump {
    /// Every object.
    pub objects: Vec<Object>,
    /// `serverVersion.gitVersion` from `kubectl version -o json`.
    pub server_version: Option<String>,
    /// Nodes.
    pub nodes: Vec<Node>,
    /// `imageRepository` of the `kubeadm-config` ConfigMap's ClusterConfiguration.
    pub image_repository: Option<String>,
    /// `kubernetesVersion` of the same.
    pub kubeadm_version: Option<String>,
    /// The image of the `kube-proxy` container of the kube-system/kube-proxy DaemonSet
    /// (kubeadm's), the one record of kube-proxy's version once nodes stop reporting it.
    pub kube_proxy_image: Option<String>,
    /// Files read.
    pub files: Vec<String>,
    /// Deprecated API versions clients requested, from saved `/metrics` scrapes.
    pub requested: Vec<metrics::Requested>,
    /// The scrapes read (a scrape without the metric still says nothing was requested).
    pub metrics_files: Vec<String>,
    /// kube-system Pods whose containers run with `--emulated-version=`: `(pod, value)`
    /// (the static pods of a control plane part-way through a two-step hop).
    pub emulated: Vec<(String, String)>,
}

fn not_json(origin: &str, e: serde_json::Error) -> Error {
    Error::invalid(
        "cluster dump",
        origin,
        format!("not JSON ({e}); give `kubectl get ... -o json` output"),
    )
}

/// An API version a hop stops serving.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemovedApi {
    /// `group/version` (`batch/v1beta1`).
    pub group_version: String,
    /// Kinds it served that are affected (empty: every kind).
    #[serde(default)]
    pub kinds: Vec<String>,
    /// What to use instead.
    #[serde(default)]
    pub replacement: Option<String>,
    /// The Kubernetes minor that stops serving it (`1.25`).
    pub removed_in: String,
}

/// An object that uses an API the target version no longer serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The object.
    pub object: Object,
    /// The removed version it uses.
    pub uses: String,
    /// The source that found it: `apiVersion` (the object as the dump shows it),
    /// `last-applied-configuration` (its annotation), `helm-release` (the manifest in a
    /// Helm release Secret) or `metrics` (`apiserver_requested_deprecated_apis` in a
    /// `/metrics` scrape: a client requested it; no stored object is named).
    pub seen_in: &'static str,
    /// What to use instead.
    pub replacement: Option<String>,
    /// The minor that removed it.
    pub removed_in: String,
}

impl Dump {
    /// Add the objects of one JSON document (a list, a single object, or
    /// `kubectl version -o json` output). `origin` names the file in errors.
    pub fn add_json(&mut self, bytes: &[u8], origin: &str) -> Result<()> {
        let doc = serde_json::from_slice(bytes).map_err(|e| not_json(origin, e))?;
        self.add_document(doc, origin)
    }

    /// [`Dump::add_json`] from a stream, parsed as it is read: memory grows with the
    /// objects the dump lists, not with its size.
    pub fn add_json_reader(&mut self, r: impl std::io::Read, origin: &str) -> Result<()> {
        let mut de = serde_json::Deserializer::from_reader(std::io::BufReader::new(r));
        let doc = Shape::<Doc>::deserialize(&mut de).map_err(|e| not_json(origin, e))?;
        de.end().map_err(|e| not_json(origin, e))?;
        self.add_document(doc, origin)
    }

    /// Add every dump given on the command line: files, or directories of `.json` files
    /// (read in name order).
    pub fn add_paths(&mut self, paths: &[std::path::PathBuf]) -> Result<()> {
        for p in paths {
            let files: Vec<std::path::PathBuf> = if p.is_dir() {
                let mut v: Vec<std::path::PathBuf> = std::fs::read_dir(p)
                    .map_err(|e| Error::io("list", p, e))?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|f| f.extension().is_some_and(|x| x == "json"))
                    .collect();
                v.sort();
                v
            } else {
                vec![p.clone()]
            };
            for f in files {
                self.add_json_file(&f)?;
            }
        }
        Ok(())
    }

    /// Add one `kubectl ... -o json` file.
    pub fn add_json_file(&mut self, path: &std::path::Path) -> Result<()> {
        let file = crate::fsutil::open_limited(path, MAX_DUMP_BYTES, "cluster dump")?;
        self.add_json_reader(file, &path.display().to_string())
    }

    /// Add one parsed document (see [`Shape`]).
    pub fn add_document(&mut self, doc: Shape<Doc>, origin: &str) -> Result<()> {
        if !self.files.iter().any(|f| f == origin) {
            self.files.push(origin.to_string());
        }
        let doc = match doc {
            Shape::Null => return Ok(()), // an empty YAML document
            Shape::Map(doc) => doc,
            _ => {
                return Err(Error::invalid(
                    "cluster dump",
                    origin,
                    "a document is not a Kubernetes object or list",
                ));
            }
        };
        if let Some(sv) = doc.server_version {
            self.server_version = sv.into_map().and_then(|v| v.git_version.into_str());
            return Ok(());
        }
        if let Shape::List(items) = doc.items {
            for item in items {
                self.add_document(item, origin)?;
            }
            return Ok(());
        }
        self.add_object(*doc, origin)
    }

    fn add_object(&mut self, doc: Doc, origin: &str) -> Result<()> {
        let (Shape::Str(api), Shape::Str(kind)) = (doc.api_version, doc.kind) else {
            return Err(Error::invalid(
                "cluster dump",
                origin,
                "a document has no apiVersion and kind: not a Kubernetes object",
            ));
        };
        let meta = doc.metadata.into_map().unwrap_or_default();
        let name = meta.name.into_str().unwrap_or_default();
        let control_plane = meta.labels.into_map().is_some_and(|l| l.control_plane());
        let applied = meta
            .annotations
            .into_map()
            .and_then(|a| a.applied_api_version);
        if kind == "Node" {
            let info = doc
                .status
                .into_map()
                .and_then(|s| s.node_info.into_map())
                .unwrap_or_default();
            self.nodes.push(Node {
                name: name.clone(),
                kubelet: info.kubelet_version.into_str().unwrap_or_default(),
                kube_proxy: info.kube_proxy_version.into_str().unwrap_or_default(),
                control_plane,
            });
        }
        let spec = doc.spec.into_map();
        let kube_system = meta.namespace.as_str() == Some("kube-system");
        if kind == "Pod"
            && kube_system
            && let Some(spec) = &spec
        {
            for (_, _, line) in &spec.containers.0 {
                for v in line
                    .iter()
                    .filter_map(|a| a.strip_prefix("--emulated-version="))
                {
                    self.emulated.push((name.clone(), v.to_string()));
                }
            }
        }
        if kind == "DaemonSet"
            && name == "kube-proxy"
            && kube_system
            && let Some(image) = kube_proxy_image(spec)
        {
            self.kube_proxy_image = Some(image);
        }
        let data = doc.data.into_map();
        if kind == "Secret"
            && doc.secret_type.into_str().as_deref() == Some(helm::RELEASE_SECRET_TYPE)
            && let Some(value) = data.as_ref().and_then(|d| d.release.as_deref())
        {
            self.add_helm_release(value, origin)?;
        }
        if kind == "ConfigMap"
            && name == "kubeadm-config"
            && let Some(cfg) = data
        {
            if cfg.image_repository.is_some() {
                self.image_repository = cfg.image_repository;
            }
            if cfg.kubernetes_version.is_some() {
                self.kubeadm_version = cfg.kubernetes_version;
            }
        }
        self.objects.push(Object {
            api_version: api,
            applied_api_version: applied,
            kind,
            namespace: meta.namespace.into_str(),
            name,
            source: origin.to_string(),
            helm_release: None,
        });
        Ok(())
    }

    /// The objects of one Helm release Secret's stored manifest.
    fn add_helm_release(&mut self, value: &str, origin: &str) -> Result<()> {
        let r = helm::decode_secret_value(value, origin)?;
        let release = format!("{}/{} revision {}", r.namespace, r.name, r.version);
        for o in r.objects {
            self.objects.push(Object {
                api_version: o.api_version,
                applied_api_version: None,
                kind: o.kind,
                namespace: o.namespace.or_else(|| Some(r.namespace.clone())),
                name: o.name,
                source: origin.to_string(),
                helm_release: Some(release.clone()),
            });
        }
        Ok(())
    }

    /// Add a saved `/metrics` scrape, streamed.
    pub fn add_metrics_reader(&mut self, r: impl std::io::Read, origin: &str) -> Result<()> {
        for s in metrics::read(r, origin)? {
            if !self.requested.contains(&s) {
                self.requested.push(s);
            }
        }
        self.metrics_files.push(origin.to_string());
        Ok(())
    }

    /// Add a `/metrics` scrape file of at most [`metrics::MAX_METRICS_BYTES`].
    pub fn add_metrics_file(&mut self, path: &std::path::Path) -> Result<()> {
        let file = crate::fsutil::open_limited(path, metrics::MAX_METRICS_BYTES, "metrics scrape")?;
        self.add_metrics_reader(file, &path.display().to_string())
    }

    /// Whether anything was read that can show a removed API in use: an object other
    /// than a Node, or a metrics scrape.
    pub fn can_show_api_use(&self) -> bool {
        !self.metrics_files.is_empty() || self.objects.iter().any(|o| o.kind != "Node")
    }

    /// The objects that use an API in `removed` (by the version in the dump, the version
    /// they were last applied with, or the version a Helm release's manifest names), then
    /// the removed APIs a metrics scrape says clients requested.
    pub fn removed_in_use(&self, removed: &[RemovedApi]) -> Vec<Finding> {
        let mut out = Vec::new();
        for o in &self.objects {
            let own = if o.helm_release.is_some() {
                "helm-release"
            } else {
                "apiVersion"
            };
            let candidates = [
                (Some(&o.api_version), own),
                (o.applied_api_version.as_ref(), "last-applied-configuration"),
            ];
            for (gv, seen_in) in candidates {
                let Some(gv) = gv else { continue };
                if let Some(r) = removed.iter().find(|r| {
                    &r.group_version == gv
                        && (r.kinds.is_empty() || r.kinds.iter().any(|k| k == &o.kind))
                }) {
                    out.push(Finding {
                        object: o.clone(),
                        uses: gv.clone(),
                        seen_in,
                        replacement: r.replacement.clone(),
                        removed_in: r.removed_in.clone(),
                    });
                    break;
                }
            }
        }
        out.extend(self.requested_removed(removed));
        out
    }

    /// The scrapes' requests of a removed API (matched by group/version and the kind's
    /// resource name).
    fn requested_removed(&self, removed: &[RemovedApi]) -> Vec<Finding> {
        let mut out = Vec::new();
        for q in &self.requested {
            let gv = q.group_version();
            let hit = removed.iter().find_map(|r| {
                if r.group_version != gv {
                    return None;
                }
                if r.kinds.is_empty() {
                    return Some((r, q.resource.clone()));
                }
                r.kinds
                    .iter()
                    .find(|k| resource_of(k) == q.resource)
                    .map(|k| (r, k.clone()))
            });
            let Some((r, kind)) = hit else { continue };
            out.push(Finding {
                object: Object {
                    api_version: gv.clone(),
                    applied_api_version: None,
                    kind,
                    namespace: None,
                    name: format!("{} (requested by a client)", q.resource),
                    source: self.metrics_files.join(", "),
                    helm_release: None,
                },
                uses: gv,
                seen_in: "metrics",
                replacement: r.replacement.clone(),
                removed_in: r.removed_in.clone(),
            });
        }
        out
    }
}

/// The resource name the API server gives a kind: lower case, plural by English rules
/// (`Ingress` -> `ingresses`, `NetworkPolicy` -> `networkpolicies`).
pub fn resource_of(kind: &str) -> String {
    let k = kind.to_ascii_lowercase();
    if k.ends_with('s') || k.ends_with('x') || k.ends_with("ch") || k.ends_with("sh") {
        format!("{k}es")
    } else if let Some(stem) = k.strip_suffix('y')
        && !stem.ends_with(['a', 'e', 'i', 'o', 'u'])
    {
        format!("{stem}ies")
    } else {
        format!("{k}s")
    }
}

/// The `kube-proxy` container's image of a DaemonSet's pod template.
fn kube_proxy_image(spec: Option<stream::Spec>) -> Option<String> {
    let pod = spec?.template.into_map()?.spec.into_map()?;
    pod.containers
        .0
        .into_iter()
        .find(|(name, _, _)| name == "kube-proxy")
        .map(|(_, image, _)| image)
        .filter(|image| !image.is_empty())
}

/// `vX.Y.Z[-suffix]` -> (X, Y, Z).
pub fn parse_version(v: &str) -> Option<(u32, u32, u32)> {
    let v = v.trim().strip_prefix('v').unwrap_or(v.trim());
    let core = v.split(['-', '+']).next()?;
    let mut it = core.split('.');
    let (a, b, c) = (it.next()?, it.next()?, it.next()?);
    if it.next().is_some() {
        return None;
    }
    Some((a.parse().ok()?, b.parse().ok()?, c.parse().ok()?))
}

/// How an object is named in reports: `Kind namespace/name`.
pub fn describe(o: &Object) -> String {
    match &o.namespace {
        Some(ns) => format!(
            "{} {}/{}",
            Untrusted(&o.kind),
            Untrusted(ns),
            Untrusted(&o.name)
        ),
        None => format!("{} {}", Untrusted(&o.kind), Untrusted(&o.name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

    fn removed() -> Vec<RemovedApi> {
        vec![RemovedApi {
            group_version: "batch/v1beta1".into(),
            kinds: vec!["CronJob".into()],
            replacement: Some("batch/v1".into()),
            removed_in: "1.25".into(),
        }]
    }

    #[test]
    fn finds_removed_apis_live_and_last_applied() {
        let mut d = Dump::default();
        let list = serde_json::json!({
            "apiVersion": "v1", "kind": "List",
            "items": [
                {"apiVersion": "batch/v1beta1", "kind": "CronJob", "metadata": {"name": "old", "namespace": "a"}},
                {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "hidden", "namespace": "b",
                  "annotations": {LAST_APPLIED: "{\"apiVersion\":\"batch/v1beta1\",\"kind\":\"CronJob\"}"}}},
                {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "fine", "namespace": "c"}},
                {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
                  "status": {"nodeInfo": {"kubeletVersion": "v1.24.3", "kubeProxyVersion": "v1.24.3"}}},
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kubeadm-config", "namespace": "kube-system"},
                  "data": {"ClusterConfiguration": "apiVersion: kubeadm.k8s.io/v1beta3\nimageRepository: registry.enclave:5000/k8s\nkubernetesVersion: v1.24.3\n"}}
            ]
        });
        d.add_json(list.to_string().as_bytes(), "dump.json")
            .unwrap();
        d.add_json(
            br#"{"serverVersion":{"gitVersion":"v1.24.3"}}"#,
            "version.json",
        )
        .unwrap();
        let f = d.removed_in_use(&removed());
        assert_eq!(f.len(), 2);
        assert_eq!(f[1].seen_in, "last-applied-configuration");
        assert_eq!(d.nodes[0].kubelet, "v1.24.3");
        assert_eq!(
            d.image_repository.as_deref(),
            Some("registry.enclave:5000/k8s")
        );
        assert_eq!(d.server_version.as_deref(), Some("v1.24.3"));
        assert!(d.add_json(b"not json", "x").is_err());
        assert!(d.add_json(br#"{"foo": 1}"#, "x").is_err());
        assert_eq!(parse_version("v1.30.2-eks-1"), Some((1, 30, 2)));
    }

    #[test]
    fn helm_release_secrets_and_metrics_are_sources_of_findings() {
        use base64::Engine;
        use std::io::Write;
        let release = serde_json::json!({"name": "web", "namespace": "shop", "version": 2,
            "manifest": "---\napiVersion: batch/v1beta1\nkind: CronJob\nmetadata:\n  name: tidy\n"});
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(release.to_string().as_bytes()).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD;
        let value = b64.encode(b64.encode(gz.finish().unwrap()));
        let secret = serde_json::json!({"apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
            "metadata": {"name": "sh.helm.release.v1.web.v2", "namespace": "shop"}, "data": {"release": value}});
        let mut d = Dump::default();
        assert!(!d.can_show_api_use());
        d.add_json(secret.to_string().as_bytes(), "secrets.json")
            .unwrap();
        d.add_metrics_reader(
            &b"apiserver_requested_deprecated_apis{group=\"batch\",removed_release=\"1.25\",resource=\"cronjobs\",subresource=\"\",version=\"v1beta1\"} 1\n"[..],
            "metrics.txt",
        )
        .unwrap();
        let f = d.removed_in_use(&removed());
        let got: Vec<(&str, &str, Option<&str>)> = f
            .iter()
            .map(|x| {
                (
                    x.seen_in,
                    x.object.name.as_str(),
                    x.object.helm_release.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("helm-release", "tidy", Some("shop/web revision 2")),
                ("metrics", "cronjobs (requested by a client)", None)
            ]
        );
        assert_eq!(f[0].object.namespace.as_deref(), Some("shop"));
        // A Secret of another type is not decoded; a broken Helm one is named.
        let other = secret.to_string().replace("helm.sh/release.v1", "Opaque");
        d.add_json(other.as_bytes(), "o.json").unwrap();
        let broken = serde_json::json!({"apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
            "metadata": {"name": "x"}, "data": {"release": "bm90IGJhc2U2NA=="}});
        let e = d
            .add_json(broken.to_string().as_bytes(), "b.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("b.json") && e.contains("Helm release"), "{e}");
        for (kind, res) in [
            ("Ingress", "ingresses"),
            ("NetworkPolicy", "networkpolicies"),
            ("CronJob", "cronjobs"),
            ("CSIStorageCapacity", "csistoragecapacities"),
            ("Gateway", "gateways"),
        ] {
            assert_eq!(resource_of(kind), res);
        }
    }

    /// A dump generated as it is read, never whole in memory: `n` Nodes, each with a
    /// large annotation and status the checks do not read.
    struct LazyDump {
        n: usize,
        next: usize,
        pending: std::collections::VecDeque<u8>,
    }

    impl std::io::Read for LazyDump {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.pending.is_empty() {
                let chunk = match self.next {
                    0 => "{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[".to_string(),
                    i if i <= self.n => format!(
                        "{}{{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{{\"name\":\"n{i}\",\
                         \"annotations\":{{\"big\":\"{}\",\"{LAST_APPLIED}\":\"{{\\\"apiVersion\\\":\\\"v1\\\"}}\"}}}},\
                         \"status\":{{\"images\":[{}],\"nodeInfo\":{{\"kubeletVersion\":\"v1.30.{i}\"}}}}}}",
                        if i > 1 { "," } else { "" },
                        "x".repeat(64 * 1024),
                        vec!["{\"sizeBytes\":1}"; 2000].join(","),
                    ),
                    i if i == self.n + 1 => "]}".to_string(),
                    _ => return Ok(0),
                };
                self.next += 1;
                self.pending.extend(chunk.into_bytes());
            }
            let k = buf.len().min(self.pending.len());
            for (b, p) in buf.iter_mut().zip(self.pending.drain(..k)) {
                *b = p;
            }
            Ok(k)
        }
    }

    #[test]
    fn a_streamed_dump_keeps_only_what_the_checks_read() {
        let mut d = Dump::default();
        let n = 300; // about 27 MiB of JSON
        let lazy = LazyDump {
            n,
            next: 0,
            pending: Default::default(),
        };
        d.add_json_reader(lazy, "big.json").unwrap();
        assert_eq!(d.nodes.len(), n);
        assert_eq!(d.objects.len(), n);
        assert_eq!(d.nodes[41].kubelet, "v1.30.42");
        assert_eq!(d.nodes[41].kube_proxy, "");
        assert_eq!(d.objects[0].applied_api_version.as_deref(), Some("v1"));
        // Trailing bytes after the document are refused, as from a slice.
        let r = d.add_json_reader(&b"{\"serverVersion\":{}} x"[..], "t.json");
        assert!(r.unwrap_err().to_string().contains("t.json"));
    }

    #[test]
    fn control_planes_are_the_nodes_kubeadm_labels_so() {
        let mut d = Dump::default();
        let doc = br#"{"apiVersion":"v1","kind":"List","items":[
            {"apiVersion":"v1","kind":"Node","metadata":{"name":"cp1","labels":{"node-role.kubernetes.io/control-plane":""}}},
            {"apiVersion":"v1","kind":"Node","metadata":{"name":"old","labels":{"node-role.kubernetes.io/master":""}}},
            {"apiVersion":"v1","kind":"Node","metadata":{"name":"w1","labels":{"kubernetes.io/os":"linux"}}},
            {"apiVersion":"v1","kind":"Node","metadata":{"name":"w2","labels":7}}]}"#;
        d.add_json(doc, "nodes.json").unwrap();
        let roles: Vec<(&str, bool)> = d
            .nodes
            .iter()
            .map(|n| (n.name.as_str(), n.control_plane))
            .collect();
        assert_eq!(
            roles,
            [("cp1", true), ("old", true), ("w1", false), ("w2", false)]
        );
    }

    #[test]
    fn values_of_unexpected_types_read_as_absent() {
        let mut d = Dump::default();
        let doc =
            br#"{"apiVersion":"v1","kind":"Node","metadata":{"name":7,"namespace":[1,{"a":2}],
            "annotations":{"kubectl.kubernetes.io/last-applied-configuration":"not json"}},
            "status":"up","data":null}"#;
        d.add_json(doc, "odd.json").unwrap();
        assert_eq!(d.nodes[0].name, "");
        assert_eq!(d.objects[0].namespace, None);
        assert_eq!(d.objects[0].applied_api_version, None);
        d.add_json(br#"{"serverVersion":null}"#, "v.json").unwrap();
        assert_eq!(d.server_version, None);
        assert!(d.add_json(b"[1]", "l.json").is_err());
        assert!(d.add_json(br#"{"items":[1]}"#, "i.json").is_err());
        d.add_json(b"null", "n.json").unwrap();
    }

    proptest::proptest! {
        #[test]
        fn reading_never_panics(s in "\\PC{0,300}") {
            let mut d = Dump::default();
            let _ = d.add_json(s.as_bytes(), "p");
            let _ = d.add_json_reader(s.as_bytes(), "p");
            let _ = parse_version(&s);
        }
    }
}
