//! Upstream-shaped release files for `airlock catalog update`, written under a folder that a
//! [`super::servers::FileServer`] serves (`WWW/<host>/<path>`, reached with `--mirror
//! https://raw.githubusercontent.com=URL/raw.githubusercontent.com` and `--mirror
//! https://dl.k8s.io=URL/dl.k8s.io`):
//!
//! * `kubernetes/kubernetes/vX.Y.Z/cmd/kubeadm/app/constants/constants.go`, in the shapes
//!   the real file has had from 1.27 to 1.37 (the declarations' shape copied, our values);
//! * `.../vX.Y.Z/build/dependencies.yaml`;
//! * `.../vX.Y.0/api/discovery/{api.json, api__v1.json, apis.json, aggregated_v2.json}`;
//! * `kubernetes/website/main/data/releases/{schedule,eol}.yaml`;
//! * `dl.k8s.io/release/stable-1.N.txt`.
//!
//! Nothing here uses airlock's parsers: the files are written from the test's own facts, so
//! the test can compare what `catalog update` derives with what was written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How a tag's `constants.go` declares the values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// 1.27-1.30: a long map of literal keys, a one-line comment, gofmt-aligned one-digit
    /// keys (`9:  "3.1.12",`).
    LongLiteral,
    /// 1.31-1.34: literal keys, a few entries (`29: "3.5.15-0",`).
    Literal,
    /// The 1.35 cycle: `uint8(getSkewedKubernetesVersion(N).Minor()): "TAG",` keys under a
    /// comment block (keys in [`Constants::map`] are skews).
    SkewKeys,
    /// The 1.36 cycle on: literal keys again, under a multi-line comment.
    CommentedLiteral,
}

/// The values one tag's kubeadm declares.
#[derive(Debug, Clone)]
pub struct Constants {
    /// `DefaultEtcdVersion`.
    pub default_etcd: String,
    /// `SupportedEtcdVersion` entries: minor keys, or skews for [`Shape::SkewKeys`].
    pub map: Vec<(i32, String)>,
    /// `CoreDNSVersion`.
    pub coredns: String,
    /// `PauseVersion`.
    pub pause: String,
}

/// `constants.go` text for `c` in `shape`: the declarations as the real file has them
/// (const block, typed and untyped constants, the var block with the map, functions that
/// use the names), with our values.
pub fn constants_go(shape: Shape, c: &Constants) -> String {
    let entries: String = c
        .map
        .iter()
        .map(|(k, v)| match shape {
            Shape::SkewKeys => {
                let pad = if *k < 0 { "" } else { " " };
                format!("\t\tuint8(getSkewedKubernetesVersion({k}).Minor()): {pad}\"{v}\",\n")
            }
            Shape::LongLiteral if *k < 10 => format!("\t\t{k}:  \"{v}\",\n"),
            _ => format!("\t\t{k}: \"{v}\",\n"),
        })
        .collect();
    let map_comment = match shape {
        Shape::LongLiteral | Shape::Literal => "\t// SupportedEtcdVersion lists officially supported etcd versions with corresponding Kubernetes releases\n".to_string(),
        Shape::SkewKeys => "\t// SupportedEtcdVersion lists officially supported etcd versions with corresponding Kubernetes releases.\n\t// The current release and the previous one, so that the map does not need a manual update on a branch cut:\n\t// - MinExternalEtcdVersion: with the minimum etcd version from this map.\n\t// - DefaultEtcdVersion: with etcd version used for the current k8s release (0).\n\t// The maximum length of the map should be 2, as kubeadm supports a maximum skew of -1\n\t// with the control plane version.\n".to_string(),
        Shape::CommentedLiteral => "\t// SupportedEtcdVersion lists officially supported etcd versions with corresponding Kubernetes releases.\n\t// Update it with each release: kubeadm falls back to the nearest entry so it can deploy\n\t// an etcd version even if the map is not yet updated before a release. The user will\n\t// get a warning in that case, so ideally the map should be updated for each release.\n".to_string(),
    };
    format!(
        r#"/*
Copyright 2016 The Kubernetes Authors.

Licensed under the Apache License, Version 2.0 (the "License");
*/

package constants

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/util/version"
)

const (
	// KubernetesDir is the directory Kubernetes owns for storing various configuration files
	KubernetesDir = "/etc/kubernetes"

	// ModeNode is the node authorization mode
	ModeNode string = "Node"

	// KubeControllerManagerUserName defines the well-known user the control plane components use
	KubeControllerManagerUserName string = "kubeadm-kcm"

	// MinExternalEtcdVersion indicates minimum external etcd version which kubeadm supports
	MinExternalEtcdVersion = "3.5.11-0"

	// DefaultEtcdVersion indicates the default etcd version that kubeadm uses
	DefaultEtcdVersion = "{default}"

	// Etcd defines variable used internally when referring to etcd component
	Etcd = "etcd"

	// CoreDNSVersion is the version of CoreDNS to be deployed if it is used
	CoreDNSVersion = "{coredns}"

	// PauseVersion indicates the default pause image version for kubeadm
	PauseVersion = "{pause}"
)

var (
	// ControlPlaneTaint is the taint to apply on the PodSpec for being able to run that Pod on the control-plane
	ControlPlaneTaint = "node-role.kubernetes.io/control-plane"

	// CurrentKubernetesVersion specifies current Kubernetes version supported by kubeadm
	CurrentKubernetesVersion = getSkewedKubernetesVersion(0)

{map_comment}	SupportedEtcdVersion = map[uint8]string{{
{entries}	}}
)

// EtcdSupportedVersion returns officially supported version of etcd for a specific Kubernetes release
// If passed version is not in the given list, the function returns the nearest version with a warning
func EtcdSupportedVersion(supportedEtcdVersion map[uint8]string, versionString string) (etcdVersion *version.Version, warning, err error) {{
	desiredVersion, etcdStringVersion := uint8(kubernetesVersion.Minor()), ""
	if len(etcdStringVersion) == 0 {{
		etcdStringVersion = supportedEtcdVersion[max]
	}}
	return etcdVersion, warning, nil
}}

// GetDefaultEtcdVersion is used by tests, not by the image selection.
func GetDefaultEtcdVersion() string {{
	return DefaultEtcdVersion
}}

func timeout() time.Duration {{
	return 5 * time.Minute
}}

func unused() string {{
	return fmt.Sprintf("%s", PauseVersion)
}}
"#,
        default = c.default_etcd,
        coredns = c.coredns,
        pause = c.pause,
    )
}

/// `build/dependencies.yaml` with the entries it really has around crictl and cni.
pub fn dependencies_yaml(crictl: &str, cni: &str, etcd: &str, pause: &str) -> String {
    format!(
        r#"dependencies:
  # zeitgeist (https://github.com/kubernetes-sigs/zeitgeist) was inspired by
  # (and now replaces) the cmd/verifydependencies tool to verify external
  # dependencies across the repo.
  - name: "zeitgeist"
    version: "v0.5.4"
    refPaths:
    - path: hack/verify-external-dependencies-version.sh
      match: sigs.k8s.io/zeitgeist@v.*

  # CNI plugins
  - name: "cni"
    version: {cni}
    refPaths:
    - path: cluster/gce/config-common.sh
      match: WINDOWS_CNI_VERSION=
    - path: hack/local-up-cluster.sh
      match: CNI_PLUGINS_VERSION=

  - name: "coredns-kubeadm"
    version: 1.12.0
    refPaths:
    - path: cmd/kubeadm/app/constants/constants.go
      match: CoreDNSVersion =

  # CRI Tools
  - name: "crictl"
    version: {crictl}
    refPaths:
    - path: cluster/gce/windows/k8s-node-setup.psm1
      match: CRICTL_VERSION =

  # protoc
  - name: "protoc"
    version: 23.4
    refPaths:
    - path: hack/lib/protoc.sh
      match: PROTOC_VERSION=

  # etcd
  - name: "etcd"
    version: {etcd}
    refPaths:
    - path: cmd/kubeadm/app/constants/constants.go
      match: DefaultEtcdVersion =

  - name: "golang: upstream version"
    version: 1.24rc2
    refPaths:
    - path: .go-version

  - name: "registry.k8s.io/pause"
    version: {pause}
    refPaths:
    - path: build/pause/Makefile
      match: TAG\s*\?=

  - name: "gcr.io/cadvisor/cadvisor: dependents"
    version: "v0.47.2"
    refPaths:
    - path: test/e2e_node/image_list.go
      mathc: gcr.io\/cadvisor\/cadvisor:v\d+\.\d+\.\d+
"#
    )
}

/// A served group/version and its `(resource, Kind)` pairs.
pub type Served = Vec<(String, Vec<(String, String)>)>;

/// `served` from `(gv, [(resource, Kind)])` literals.
pub fn served(list: &[(&str, &[(&str, &str)])]) -> Served {
    list.iter()
        .map(|(gv, rs)| {
            (
                gv.to_string(),
                rs.iter()
                    .map(|(r, k)| (r.to_string(), k.to_string()))
                    .collect(),
            )
        })
        .collect()
}

/// The four discovery documents for `served` (the core `v1` among them), with `preferred`
/// group/versions per group (default: the group's first listed), as
/// `(file name, text)`.
pub fn discovery_files(served: &Served, preferred: &BTreeMap<&str, &str>) -> Vec<(String, String)> {
    use serde_json::json;
    let core: Vec<_> = served.iter().filter(|(gv, _)| !gv.contains('/')).collect();
    let api = json!({
        "kind": "APIVersions",
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "10.10.10.10:8050"}],
        "versions": core.iter().map(|(gv, _)| gv).collect::<Vec<_>>(),
    });
    let mut core_resources = Vec::new();
    for (r, k) in core.iter().flat_map(|(_, rs)| rs) {
        core_resources.push(json!({"kind": k, "name": r, "namespaced": true, "singularName": r.trim_end_matches('s'), "verbs": ["get", "list"]}));
        // A subresource, as the real file lists them.
        core_resources.push(json!({"kind": k, "name": format!("{r}/status"), "namespaced": true, "singularName": "", "verbs": ["get"]}));
    }
    let api_v1 =
        json!({"groupVersion": "v1", "kind": "APIResourceList", "resources": core_resources});
    // group -> [(group/version, version, resources)]
    type Versions<'a> = Vec<(&'a str, &'a str, &'a Vec<(String, String)>)>;
    let mut groups: BTreeMap<&str, Versions<'_>> = BTreeMap::new();
    for (gv, rs) in served.iter().filter(|(gv, _)| gv.contains('/')) {
        let (g, v) = gv.split_once('/').unwrap();
        groups.entry(g).or_default().push((gv.as_str(), v, rs));
    }
    let gvref = |gv: &str| json!({"groupVersion": gv, "version": gv.split_once('/').unwrap().1});
    let apis = json!({
        "apiVersion": "v1",
        "groups": groups.iter().map(|(g, vs)| {
            let p = preferred.get(g).copied().unwrap_or(vs[0].0);
            json!({"name": g, "preferredVersion": gvref(p), "versions": vs.iter().map(|(gv, _, _)| gvref(gv)).collect::<Vec<_>>()})
        }).collect::<Vec<_>>(),
        "kind": "APIGroupList",
    });
    let aggregated = json!({
        "apiVersion": "apidiscovery.k8s.io/v2",
        "items": groups.iter().map(|(g, vs)| json!({
            "metadata": {"creationTimestamp": null, "name": g},
            "versions": vs.iter().map(|(_, v, rs)| json!({
                "freshness": "Current",
                "resources": rs.iter().map(|(r, k)| json!({
                    "resource": r,
                    "responseKind": {"group": "", "kind": k, "version": ""},
                    "scope": "Namespaced",
                    "singularResource": r.trim_end_matches('s'),
                    "subresources": [{"responseKind": {"group": "", "kind": k, "version": ""}, "subresource": "status", "verbs": ["get"]}],
                    "verbs": ["get", "list"],
                })).collect::<Vec<_>>(),
                "version": v,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "kind": "APIGroupDiscoveryList",
        "metadata": {},
    });
    let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap() + "\n";
    vec![
        ("api.json".into(), pretty(&api)),
        ("api__v1.json".into(), pretty(&api_v1)),
        ("apis.json".into(), pretty(&apis)),
        ("aggregated_v2.json".into(), pretty(&aggregated)),
    ]
}

/// A minor the website lists: supported (schedule.yaml) or ended (eol.yaml).
pub struct WebMinor {
    /// `36` for 1.36.
    pub minor: u32,
    /// Release date, `YYYY-MM-DD` (schedule.yaml only).
    pub released: &'static str,
    /// End-of-life date.
    pub end_of_life: &'static str,
    /// Listed in eol.yaml (ended) rather than schedule.yaml.
    pub ended: bool,
    /// Newest patch (the next patch is planned in schedule.yaml, the final in eol.yaml).
    pub latest: u32,
}

/// `schedule.yaml` and `eol.yaml` as schedule-builder writes them.
pub fn website_files(minors: &[WebMinor]) -> (String, String) {
    let header = "# Use \"schedule-builder\" to maintain this file:\n# https://github.com/kubernetes/release/tree/master/cmd/schedule-builder\n---\n";
    let mut schedule = format!("{header}schedules:\n");
    let mut eol = format!("{header}branches:\n");
    for m in minors.iter().rev() {
        if m.ended {
            eol.push_str(&format!(
                "- endOfLifeDate: \"{}\"\n  finalPatchRelease: 1.{}.{}\n  release: \"1.{}\"\n",
                m.end_of_life, m.minor, m.latest, m.minor
            ));
        } else {
            schedule.push_str(&format!(
                "- endOfLifeDate: \"{eol}\"\n  maintenanceModeStartDate: \"{eol}\"\n  next:\n    cherryPickDeadline: \"2026-12-05\"\n    release: 1.{m}.{next}\n    targetDate: \"2026-12-09\"\n  previousPatches:\n  - cherryPickDeadline: \"2026-11-07\"\n    release: 1.{m}.{latest}\n    targetDate: \"2026-11-11\"\n  - cherryPickDeadline: N/A\n    note: Unplanned release to include CVE fixes\n    release: 1.{m}.0\n    targetDate: \"{rel}\"\n  release: \"1.{m}\"\n  releaseDate: \"{rel}\"\n",
                eol = m.end_of_life,
                m = m.minor,
                next = m.latest + 1,
                latest = m.latest,
                rel = m.released,
            ));
        }
    }
    schedule.push_str(
        "upcoming_releases:\n- cherryPickDeadline: \"2026-12-05\"\n  targetDate: \"2026-12-09\"\n",
    );
    (schedule, eol)
}

/// Where each upstream file lives below the served folder.
pub struct Tree {
    /// The served folder.
    pub www: PathBuf,
}

impl Tree {
    /// The file for a canonical URL.
    pub fn path(&self, url: &str) -> PathBuf {
        self.www.join(url.split_once("://").unwrap().1)
    }

    /// Write `text` at the canonical `url`.
    pub fn put(&self, url: &str, text: &str) {
        let p = self.path(url);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
    }

    /// kubeadm's constants at tag `v`.
    pub fn constants_url(v: &str) -> String {
        format!(
            "https://raw.githubusercontent.com/kubernetes/kubernetes/{v}/cmd/kubeadm/app/constants/constants.go"
        )
    }

    /// build/dependencies.yaml at tag `v`.
    pub fn dependencies_url(v: &str) -> String {
        format!(
            "https://raw.githubusercontent.com/kubernetes/kubernetes/{v}/build/dependencies.yaml"
        )
    }

    /// A discovery document at tag `v`.
    pub fn discovery_url(v: &str, file: &str) -> String {
        format!("https://raw.githubusercontent.com/kubernetes/kubernetes/{v}/api/discovery/{file}")
    }

    /// `stable-1.N.txt`.
    pub fn stable_url(minor: u32) -> String {
        format!("https://dl.k8s.io/release/stable-1.{minor}.txt")
    }

    /// The website's release data.
    pub fn website_url(file: &str) -> String {
        format!("https://raw.githubusercontent.com/kubernetes/website/main/data/releases/{file}")
    }

    /// The `--mirror` flags that send the canonical hosts to `server_url`.
    pub fn mirrors(server_url: &str) -> Vec<String> {
        vec![
            "--mirror".into(),
            format!("https://raw.githubusercontent.com={server_url}/raw.githubusercontent.com"),
            "--mirror".into(),
            format!("https://dl.k8s.io={server_url}/dl.k8s.io"),
            "--mirror".into(),
            format!("https://github.com={server_url}/github.com"),
        ]
    }
}

/// Is `dir` free of files a failed write could leave (`.airlock-tmp-*`, `.tmp*`)?
pub fn no_temporary_files(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().all(|e| {
        let name = e.unwrap().file_name().to_string_lossy().to_string();
        !name.starts_with(".airlock-tmp") && !name.starts_with(".tmp")
    })
}
