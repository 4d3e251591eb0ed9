//! A dump document as far as the checks read it. Dumps of large clusters run to hundreds
//! of megabytes, and a `serde_json::Value` of one costs dozens of times its size; these
//! types are deserialized straight from the stream instead: serde skips every field they
//! do not name without keeping it, and the two large strings that are read (the
//! last-applied configuration and kubeadm's ClusterConfiguration) are reduced to the
//! values needed while they are parsed. A value of an unexpected type is kept as
//! [`Shape::Other`] and read as absent, as the checks did when they read a `Value`.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// A value whose type the dump decides: a string, an object read as `T`, a list of
/// documents, null, or anything else (not kept).
#[derive(Debug, Default)]
pub enum Shape<T> {
    /// `null`, or absent.
    #[default]
    Null,
    /// A string.
    Str(String),
    /// An object.
    Map(Box<T>),
    /// A list (of documents: the only lists read are `items`).
    List(Vec<Shape<Doc>>),
    /// A number or boolean.
    Other,
}

impl<T> Shape<T> {
    /// The string, if this is one.
    pub fn into_str(self) -> Option<String> {
        match self {
            Shape::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The string, if this is one, without taking it.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Shape::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The object, if this is one.
    pub fn into_map(self) -> Option<T> {
        match self {
            Shape::Map(m) => Some(*m),
            _ => None,
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Shape<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ShapeVisitor(PhantomData))
    }
}

struct ShapeVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ShapeVisitor<T> {
    type Value = Shape<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Shape<T>, E> {
        Ok(Shape::Other)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Shape<T>, E> {
        Ok(Shape::Other)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Shape<T>, E> {
        Ok(Shape::Other)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Shape<T>, E> {
        Ok(Shape::Other)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Shape<T>, E> {
        Ok(Shape::Str(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Shape<T>, E> {
        Ok(Shape::Str(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Shape<T>, E> {
        Ok(Shape::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Shape<T>, E> {
        Ok(Shape::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Shape<T>, D::Error> {
        Shape::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Shape<T>, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = a.next_element()? {
            items.push(item);
        }
        Ok(Shape::List(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, a: A) -> Result<Shape<T>, A::Error> {
        T::deserialize(MapAccessDeserializer::new(a)).map(|t| Shape::Map(Box::new(t)))
    }
}

/// A field that counts as present even when it is `null`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// One document: a list, an object, or `kubectl version -o json` output.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Doc {
    #[serde(deserialize_with = "present")]
    pub(super) server_version: Option<Shape<ServerVersion>>,
    pub(super) items: Shape<IgnoredAny>,
    pub(super) api_version: Shape<IgnoredAny>,
    pub(super) kind: Shape<IgnoredAny>,
    pub(super) metadata: Shape<Metadata>,
    pub(super) status: Shape<Status>,
    pub(super) data: Shape<Data>,
    /// A workload's `spec`, read only down to its pod template's container images (the
    /// kube-proxy DaemonSet's image is the only record of kube-proxy's version from 1.33,
    /// when the kubelet stopped filling `nodeInfo.kubeProxyVersion`).
    pub(super) spec: Shape<Spec>,
    /// A Secret's type (`helm.sh/release.v1` for a Helm release).
    #[serde(rename = "type")]
    pub(super) secret_type: Shape<IgnoredAny>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct ServerVersion {
    pub git_version: Shape<IgnoredAny>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub(super) struct Metadata {
    pub name: Shape<IgnoredAny>,
    pub namespace: Shape<IgnoredAny>,
    pub annotations: Shape<Annotations>,
    pub labels: Shape<Labels>,
}

/// The labels, reduced to the control-plane role kubeadm gives its nodes
/// (`node-role.kubernetes.io/control-plane`, and `.../master` before 1.24).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub(super) struct Labels {
    #[serde(rename = "node-role.kubernetes.io/control-plane")]
    pub control_plane: Shape<IgnoredAny>,
    #[serde(rename = "node-role.kubernetes.io/master")]
    pub master: Shape<IgnoredAny>,
}

impl Labels {
    /// Whether either role label is present (kubeadm sets it to "").
    pub fn control_plane(&self) -> bool {
        !matches!(self.control_plane, Shape::Null) || !matches!(self.master, Shape::Null)
    }
}

/// The annotations, reduced to the API version of the last-applied configuration.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(from = "RawAnnotations")]
pub(super) struct Annotations {
    pub applied_api_version: Option<String>,
}

#[derive(Default, serde::Deserialize)]
#[serde(default)]
struct RawAnnotations {
    #[serde(rename = "kubectl.kubernetes.io/last-applied-configuration")]
    last_applied: Shape<IgnoredAny>,
}

#[derive(Default, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ApiVersionOnly {
    api_version: Shape<IgnoredAny>,
}

impl From<RawAnnotations> for Annotations {
    fn from(raw: RawAnnotations) -> Self {
        // The annotation is itself JSON text; an unreadable one is simply not used.
        let applied_api_version = raw
            .last_applied
            .into_str()
            .and_then(|s| serde_json::from_str::<Shape<ApiVersionOnly>>(&s).ok())
            .and_then(Shape::into_map)
            .and_then(|a| a.api_version.into_str());
        Annotations {
            applied_api_version,
        }
    }
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub(super) struct Spec {
    pub template: Shape<Template>,
    /// A Pod's own containers (a static pod's command line).
    pub containers: Containers,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub(super) struct Template {
    pub spec: Shape<PodSpec>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub(super) struct PodSpec {
    pub containers: Containers,
}

/// A pod's containers as `(name, image, command and args)`; anything that is not a list
/// of objects reads as none, like every other unexpected shape here.
#[derive(Debug, Default)]
pub(super) struct Containers(pub Vec<(String, String, Vec<String>)>);

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct Container {
    name: Shape<IgnoredAny>,
    image: Shape<IgnoredAny>,
    command: Shape<IgnoredAny>,
    args: Shape<IgnoredAny>,
}

/// The strings of a list (a container's command or args).
fn strings(v: Shape<IgnoredAny>) -> impl Iterator<Item = String> {
    let items = match v {
        Shape::List(items) => items,
        _ => Vec::new(),
    };
    items.into_iter().filter_map(Shape::into_str)
}

impl<'de> Deserialize<'de> for Containers {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Containers;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of containers")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Containers, A::Error> {
                let mut out = Vec::new();
                while let Some(c) = a.next_element::<Shape<Container>>()? {
                    if let Some(c) = c.into_map() {
                        let line = strings(c.command).chain(strings(c.args)).collect();
                        out.push((
                            c.name.into_str().unwrap_or_default(),
                            c.image.into_str().unwrap_or_default(),
                            line,
                        ));
                    }
                }
                Ok(Containers(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Containers, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Containers::default())
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Containers, E> {
                Ok(Containers::default())
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Containers, E> {
                Ok(Containers::default())
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Containers, E> {
                Ok(Containers::default())
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Containers, E> {
                Ok(Containers::default())
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Containers, E> {
                Ok(Containers::default())
            }
            fn visit_unit<E: de::Error>(self) -> Result<Containers, E> {
                Ok(Containers::default())
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct Status {
    pub node_info: Shape<NodeInfo>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct NodeInfo {
    pub kubelet_version: Shape<IgnoredAny>,
    pub kube_proxy_version: Shape<IgnoredAny>,
}

/// A ConfigMap's or Secret's `data`, reduced to the two values of a kubeadm
/// ClusterConfiguration that the checks read, and a Helm release Secret's `release`
/// (kept encoded: it is decoded only for a Secret of Helm's type).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(from = "RawData")]
pub(super) struct Data {
    pub image_repository: Option<String>,
    pub kubernetes_version: Option<String>,
    pub release: Option<String>,
}

#[derive(Default, serde::Deserialize)]
#[serde(default)]
struct RawData {
    #[serde(rename = "ClusterConfiguration")]
    cluster_configuration: Shape<IgnoredAny>,
    release: Shape<IgnoredAny>,
}

impl From<RawData> for Data {
    fn from(raw: RawData) -> Self {
        let mut out = Data {
            release: raw.release.into_str(),
            ..Data::default()
        };
        let cfg = raw.cluster_configuration.into_str().unwrap_or_default();
        // A YAML document; only two plain `key: value` lines are needed here.
        for line in cfg.lines() {
            let l = line.trim();
            let value = |r: &str| Some(r.trim().trim_matches('"').to_string());
            if let Some(r) = l.strip_prefix("imageRepository:") {
                out.image_repository = value(r);
            }
            if let Some(r) = l.strip_prefix("kubernetesVersion:") {
                out.kubernetes_version = value(r);
            }
        }
        out
    }
}
