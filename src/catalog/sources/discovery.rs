//! `api/discovery/` at a tag: what a release's API server serves, as generated with every
//! API enabled (so alpha group/versions are included).
//!
//! * `api.json` (`APIVersions`): the core group's versions, `["v1"]`;
//! * `api__v1.json` (`APIResourceList`): the core group's resources;
//! * `apis.json` (`APIGroupList`): every other group, its versions and preferred version;
//! * `aggregated_v2.json` (`APIGroupDiscoveryList`, `apidiscovery.k8s.io/v2`): every
//!   other group's versions with their resources and kinds.
//!
//! Each document's `kind` (and `apiVersion`) is checked first, so a document of another
//! schema is named as such; `apis.json` and `aggregated_v2.json` must list the same
//! group/versions.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use crate::catalog::{ServedGroupVersion, ServedResource};
use crate::escape::Untrusted;

/// What a release serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    /// Every served group/version with its resources, sorted.
    pub served: Vec<ServedGroupVersion>,
    /// Group -> preferred group/version (from `apis.json`).
    pub preferred: BTreeMap<String, String>,
}

impl Discovery {
    /// The served group/version `gv`.
    pub fn get(&self, gv: &str) -> Option<&ServedGroupVersion> {
        self.served.iter().find(|g| g.group_version == gv)
    }
}

#[derive(Deserialize)]
struct Kinded {
    kind: Option<String>,
    #[serde(rename = "apiVersion")]
    api_version: Option<String>,
}

/// A JSON parse error, which may quote the document, made safe to show.
fn json_error(e: &serde_json::Error) -> String {
    Untrusted(&e.to_string()).to_string()
}

/// Check `kind` (and `apiVersion` when `api_version` is given) before the real parse.
fn expect_kind(text: &str, kind: &str, api_version: Option<&str>) -> Result<(), String> {
    let k: Kinded = serde_json::from_str(text)
        .map_err(|e| format!("not a JSON object (expected a {kind}): {}", json_error(&e)))?;
    let found = k.kind.as_deref().unwrap_or("");
    if found != kind {
        return Err(format!(
            "kind {:?}, expected {kind}: a discovery document of another schema",
            Untrusted(found)
        ));
    }
    if let Some(want) = api_version {
        let got = k.api_version.as_deref().unwrap_or("");
        if got != want {
            return Err(format!(
                "apiVersion {:?}, expected {want}: a discovery document of another schema",
                Untrusted(got)
            ));
        }
    }
    Ok(())
}

#[derive(Deserialize)]
struct ApiVersions {
    versions: Vec<String>,
}

/// `api.json`: the core group's versions.
pub fn parse_api_versions(text: &str) -> Result<Vec<String>, String> {
    expect_kind(text, "APIVersions", None)?;
    let v: ApiVersions =
        serde_json::from_str(text).map_err(|e| format!("APIVersions: {}", json_error(&e)))?;
    for gv in &v.versions {
        crate::catalog::check_group_version(gv).map_err(|e| format!("versions: {e}"))?;
        if gv.contains('/') {
            return Err(format!(
                "versions: {:?} is not a core version",
                Untrusted(gv)
            ));
        }
    }
    Ok(v.versions)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResourceList {
    group_version: String,
    resources: Vec<ListedResource>,
}

#[derive(Deserialize)]
struct ListedResource {
    name: String,
    kind: String,
}

/// `api__v1.json`: the core group/version and its top-level resources.
pub fn parse_resource_list(text: &str) -> Result<(String, Vec<ServedResource>), String> {
    expect_kind(text, "APIResourceList", None)?;
    let l: ResourceList =
        serde_json::from_str(text).map_err(|e| format!("APIResourceList: {}", json_error(&e)))?;
    crate::catalog::check_group_version(&l.group_version)?;
    let resources = l
        .resources
        .into_iter()
        .filter(|r| !r.name.contains('/'))
        .map(|r| ServedResource {
            resource: r.name,
            kind: r.kind,
        });
    Ok((l.group_version, sorted_resources(resources)?))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupList {
    groups: Vec<Group>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Group {
    name: String,
    versions: Vec<GroupVersionRef>,
    #[serde(default)]
    preferred_version: Option<GroupVersionRef>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupVersionRef {
    group_version: String,
    version: String,
}

/// A group's versions from `apis.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupVersions {
    /// The group.
    pub name: String,
    /// Its group/versions, as listed.
    pub versions: Vec<String>,
    /// Its preferred group/version.
    pub preferred: Option<String>,
}

/// `apis.json`: groups and their versions.
pub fn parse_group_list(text: &str) -> Result<Vec<GroupVersions>, String> {
    expect_kind(text, "APIGroupList", None)?;
    let l: GroupList =
        serde_json::from_str(text).map_err(|e| format!("APIGroupList: {}", json_error(&e)))?;
    let check = |g: &Group, r: &GroupVersionRef| -> Result<String, String> {
        if r.group_version != format!("{}/{}", g.name, r.version) {
            return Err(format!(
                "group {}: groupVersion {:?} does not match version {:?}",
                Untrusted(&g.name),
                Untrusted(&r.group_version),
                Untrusted(&r.version)
            ));
        }
        crate::catalog::check_group_version(&r.group_version)?;
        Ok(r.group_version.clone())
    };
    l.groups
        .iter()
        .map(|g| {
            Ok(GroupVersions {
                name: g.name.clone(),
                versions: g
                    .versions
                    .iter()
                    .map(|r| check(g, r))
                    .collect::<Result<_, _>>()?,
                preferred: g
                    .preferred_version
                    .as_ref()
                    .map(|r| check(g, r))
                    .transpose()?,
            })
        })
        .collect()
}

#[derive(Deserialize)]
struct DiscoveryList {
    items: Vec<GroupDiscovery>,
}

#[derive(Deserialize)]
struct GroupDiscovery {
    metadata: Metadata,
    #[serde(default)]
    versions: Vec<VersionDiscovery>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
struct VersionDiscovery {
    version: String,
    #[serde(default)]
    resources: Vec<ResourceDiscovery>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResourceDiscovery {
    resource: String,
    response_kind: ResponseKind,
}

#[derive(Deserialize)]
struct ResponseKind {
    kind: String,
}

/// The `apiVersion` of `aggregated_v2.json`.
pub const AGGREGATED_API_VERSION: &str = "apidiscovery.k8s.io/v2";
/// The `apiVersion` of `aggregated_v2beta1.json` (same structure, before 1.30).
pub const AGGREGATED_V2BETA1_API_VERSION: &str = "apidiscovery.k8s.io/v2beta1";

/// `aggregated_v2.json` (or `aggregated_v2beta1.json`, with that `api_version`):
/// group/version -> resources.
pub fn parse_aggregated(
    text: &str,
    api_version: &str,
) -> Result<BTreeMap<String, Vec<ServedResource>>, String> {
    expect_kind(text, "APIGroupDiscoveryList", Some(api_version))?;
    let l: DiscoveryList = serde_json::from_str(text)
        .map_err(|e| format!("APIGroupDiscoveryList: {}", json_error(&e)))?;
    let mut out = BTreeMap::new();
    for g in l.items {
        for v in g.versions {
            let gv = if g.metadata.name.is_empty() {
                v.version.clone()
            } else {
                format!("{}/{}", g.metadata.name, v.version)
            };
            crate::catalog::check_group_version(&gv)?;
            let resources = sorted_resources(v.resources.into_iter().map(|r| ServedResource {
                resource: r.resource,
                kind: r.response_kind.kind,
            }))
            .map_err(|e| format!("{gv}: {e}"))?;
            if out.insert(gv.clone(), resources).is_some() {
                return Err(format!("{gv} is listed twice"));
            }
        }
    }
    Ok(out)
}

fn sorted_resources(
    it: impl Iterator<Item = ServedResource>,
) -> Result<Vec<ServedResource>, String> {
    let mut v: Vec<ServedResource> = it.collect();
    for r in &v {
        let name_ok = !r.resource.is_empty()
            && r.resource.len() <= 253
            && r.resource
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        let kind_ok = !r.kind.is_empty()
            && r.kind.len() <= 253
            && r.kind.bytes().all(|b| b.is_ascii_alphanumeric());
        if !name_ok || !kind_ok {
            return Err(format!(
                "resource {:?} (kind {:?}) is not a resource name and kind",
                Untrusted(&r.resource),
                Untrusted(&r.kind)
            ));
        }
    }
    v.sort();
    let before = v.len();
    v.dedup_by(|a, b| a.resource == b.resource);
    if v.len() != before {
        return Err("a resource is listed twice".into());
    }
    Ok(v)
}

/// Combine the four documents of one tag.
pub fn combine(
    core_versions: &[String],
    core_resources: &(String, Vec<ServedResource>),
    groups: &[GroupVersions],
    aggregated: &BTreeMap<String, Vec<ServedResource>>,
) -> Result<Discovery, String> {
    let mut served: BTreeMap<String, Vec<ServedResource>> = BTreeMap::new();
    for v in core_versions {
        let resources = if *v == core_resources.0 {
            core_resources.1.clone()
        } else {
            return Err(format!(
                "api.json lists core version {v}, but api__v1.json describes {}",
                core_resources.0
            ));
        };
        served.insert(v.clone(), resources);
    }
    let mut preferred = BTreeMap::new();
    let listed: BTreeSet<&String> = groups.iter().flat_map(|g| g.versions.iter()).collect();
    let described: BTreeSet<&String> = aggregated.keys().collect();
    if listed != described {
        let only = |a: &BTreeSet<&String>, b: &BTreeSet<&String>| {
            a.difference(b)
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(format!(
            "apis.json and aggregated_v2.json disagree: only in apis.json [{}], only in aggregated_v2.json [{}]",
            only(&listed, &described),
            only(&described, &listed)
        ));
    }
    for g in groups {
        if let Some(p) = &g.preferred {
            preferred.insert(g.name.clone(), p.clone());
        }
        for gv in &g.versions {
            served.insert(gv.clone(), aggregated[gv].clone());
        }
    }
    Ok(Discovery {
        served: served
            .into_iter()
            .map(|(group_version, resources)| ServedGroupVersion {
                group_version,
                resources,
            })
            .collect(),
        preferred,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const API: &str = r#"{
  "kind": "APIVersions",
  "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "10.10.10.10:8050"}],
  "versions": ["v1"]
}"#;
    const CORE: &str = r#"{"groupVersion": "v1", "kind": "APIResourceList", "resources": [
  {"kind": "ConfigMap", "name": "configmaps", "namespaced": true, "singularName": "configmap", "verbs": ["get"]},
  {"kind": "Pod", "name": "pods", "namespaced": true, "singularName": "pod", "verbs": ["get"]},
  {"kind": "Pod", "name": "pods/status", "namespaced": true, "singularName": "", "verbs": ["get"]}
]}"#;
    const APIS: &str = r#"{"apiVersion": "v1", "groups": [
  {"name": "apps", "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"},
   "versions": [{"groupVersion": "apps/v1", "version": "v1"}]},
  {"name": "scheduling.k8s.io", "preferredVersion": {"groupVersion": "scheduling.k8s.io/v1", "version": "v1"},
   "versions": [{"groupVersion": "scheduling.k8s.io/v1", "version": "v1"}, {"groupVersion": "scheduling.k8s.io/v1alpha2", "version": "v1alpha2"}]}
], "kind": "APIGroupList"}"#;
    const AGG: &str = r#"{"apiVersion": "apidiscovery.k8s.io/v2", "items": [
  {"metadata": {"creationTimestamp": null, "name": "apps"}, "versions": [{"freshness": "Current", "version": "v1", "resources": [
    {"resource": "deployments", "responseKind": {"group": "", "kind": "Deployment", "version": ""}, "scope": "Namespaced", "singularResource": "deployment", "verbs": ["get"],
     "subresources": [{"responseKind": {"group": "autoscaling", "kind": "Scale", "version": "v1"}, "subresource": "scale", "verbs": ["get"]}]},
    {"resource": "daemonsets", "responseKind": {"group": "", "kind": "DaemonSet", "version": ""}, "scope": "Namespaced", "singularResource": "daemonset", "verbs": ["get"]}
  ]}]},
  {"metadata": {"creationTimestamp": null, "name": "scheduling.k8s.io"}, "versions": [
    {"freshness": "Current", "version": "v1", "resources": [{"resource": "priorityclasses", "responseKind": {"group": "", "kind": "PriorityClass", "version": ""}, "scope": "Cluster", "singularResource": "priorityclass", "verbs": ["get"]}]},
    {"freshness": "Current", "version": "v1alpha2", "resources": [{"resource": "workloads", "responseKind": {"group": "", "kind": "Workload", "version": ""}, "scope": "Namespaced", "singularResource": "workload", "verbs": ["get"]}]}
  ]}
], "kind": "APIGroupDiscoveryList", "metadata": {}}"#;

    fn all() -> Result<Discovery, String> {
        combine(
            &parse_api_versions(API)?,
            &parse_resource_list(CORE)?,
            &parse_group_list(APIS)?,
            &parse_aggregated(AGG, AGGREGATED_API_VERSION)?,
        )
    }

    #[test]
    fn combines_the_four_documents() {
        let d = all().unwrap();
        let gvs: Vec<&str> = d.served.iter().map(|g| g.group_version.as_str()).collect();
        assert_eq!(
            gvs,
            [
                "apps/v1",
                "scheduling.k8s.io/v1",
                "scheduling.k8s.io/v1alpha2",
                "v1"
            ]
        );
        let apps = d.get("apps/v1").unwrap();
        assert_eq!(apps.resources[0].resource, "daemonsets");
        assert_eq!(apps.resources[1].kind, "Deployment");
        let core: Vec<&str> = d
            .get("v1")
            .unwrap()
            .resources
            .iter()
            .map(|r| r.kind.as_str())
            .collect();
        assert_eq!(core, ["ConfigMap", "Pod"], "subresources are left out");
        assert_eq!(d.preferred["scheduling.k8s.io"], "scheduling.k8s.io/v1");
    }

    #[test]
    fn documents_of_another_schema_are_named() {
        let e = parse_group_list(AGG).unwrap_err();
        assert!(
            e.contains("kind \"APIGroupDiscoveryList\", expected APIGroupList"),
            "{e}"
        );
        let e = parse_aggregated(
            &AGG.replace("apidiscovery.k8s.io/v2", "apidiscovery.k8s.io/v3"),
            AGGREGATED_API_VERSION,
        )
        .unwrap_err();
        assert!(e.contains("apiVersion \"apidiscovery.k8s.io/v3\""), "{e}");
        let e = parse_api_versions("<html>").unwrap_err();
        assert!(e.contains("not a JSON object"), "{e}");
        let e = parse_resource_list(API).unwrap_err();
        assert!(e.contains("expected APIResourceList"), "{e}");
        let e = parse_group_list(&APIS.replace(
            "\"groupVersion\": \"apps/v1\", \"version\": \"v1\"}]",
            "\"groupVersion\": \"apps/v2\", \"version\": \"v1\"}]",
        ))
        .unwrap_err();
        assert!(e.contains("does not match"), "{e}");
        let e = parse_aggregated(
            &AGG.replace(
                "\"resource\": \"daemonsets\"",
                "\"resource\": \"Daemon Sets\"",
            ),
            AGGREGATED_API_VERSION,
        )
        .unwrap_err();
        assert!(e.contains("not a resource name"), "{e}");
        // The v2beta1 file: same structure, its own apiVersion.
        let beta = AGG.replace("apidiscovery.k8s.io/v2", AGGREGATED_V2BETA1_API_VERSION);
        assert_eq!(
            parse_aggregated(&beta, AGGREGATED_V2BETA1_API_VERSION).unwrap(),
            parse_aggregated(AGG, AGGREGATED_API_VERSION).unwrap()
        );
        let e = parse_aggregated(&beta, AGGREGATED_API_VERSION).unwrap_err();
        assert!(e.contains("apidiscovery.k8s.io/v2beta1"), "{e}");
        // apis.json and aggregated_v2.json must agree.
        let e = combine(
            &parse_api_versions(API).unwrap(),
            &parse_resource_list(CORE).unwrap(),
            &parse_group_list(
                &APIS
                    .replace("scheduling.k8s.io/v1alpha2", "scheduling.k8s.io/v1alpha3")
                    .replace("\"v1alpha2\"", "\"v1alpha3\""),
            )
            .unwrap(),
            &parse_aggregated(AGG, AGGREGATED_API_VERSION).unwrap(),
        )
        .unwrap_err();
        assert!(
            e.contains("only in apis.json [scheduling.k8s.io/v1alpha3]"),
            "{e}"
        );
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(s in "\\PC{0,300}") {
            let _ = parse_api_versions(&s);
            let _ = parse_resource_list(&s);
            let _ = parse_group_list(&s);
            let _ = parse_aggregated(&s, AGGREGATED_API_VERSION);
        }

        #[test]
        fn parsers_never_panic_on_json_like_input(
            kind in proptest::sample::select(vec!["APIVersions", "APIResourceList", "APIGroupList", "APIGroupDiscoveryList"]),
            body in "[a-z\\[\\]{}\":, 0-9/]{0,120}",
        ) {
            let text = format!("{{\"kind\": \"{kind}\", \"apiVersion\": \"apidiscovery.k8s.io/v2\", {body}}}");
            let _ = parse_api_versions(&text);
            let _ = parse_resource_list(&text);
            let _ = parse_group_list(&text);
            let _ = parse_aggregated(&text, AGGREGATED_API_VERSION);
        }
    }
}
