//! `airlock catalog update` against an upstream stand-in served by a real HTTP server
//! (kubeadm constants in the shapes of 1.27-1.37, build dependencies, discovery documents,
//! stable markers, website release data, reached through `--mirror`), then the derived
//! catalog through resolve, build, verify and install for a 1.36 -> 1.37 hop; and every
//! kind of bad upstream document, each refused naming its URL without writing a catalog.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::common::check::{assert_contains, assert_lacks};
use crate::common::cli::{self, Cli, Run, ok};
use crate::common::hop_upstream::{self, Sizes};
use crate::common::images::{push_image, sha256_hex};
use crate::common::release_files::{
    Constants, Shape, Tree, WebMinor, constants_go, dependencies_yaml, discovery_files,
    no_temporary_files, served, website_files,
};
use crate::common::scenario::assert_fails;
use crate::common::servers::{FileServer, Registry};
use crate::common::{each, read_json};

const TODAY: &str = "2026-11-25";

/// One patch's kubeadm: what its constants.go declares, and what kubeadm deploys (the
/// expected etcd tag is written down here, not computed).
struct Patch {
    constants: Constants,
    etcd: &'static str,
}

fn patch(
    default_etcd: &str,
    map: &[(i32, &str)],
    coredns: &str,
    pause: &str,
    etcd: &'static str,
) -> Patch {
    Patch {
        constants: Constants {
            default_etcd: default_etcd.into(),
            map: map.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            coredns: coredns.into(),
            pause: pause.into(),
        },
        etcd,
    }
}

/// A minor of the stand-in and the facts `catalog update` must derive for it.
struct Minor {
    n: u32,
    shape: Shape,
    patches: Vec<Patch>,
    crictl: &'static str,
    cni: &'static str,
    released: &'static str,
    end_of_life: &'static str,
    ended: bool,
    /// (group/version, kinds, replacement, partial)
    removed: Vec<(&'static str, Vec<&'static str>, Option<&'static str>, bool)>,
}

fn minors() -> Vec<Minor> {
    let long: Vec<(i32, &str)> = vec![
        (9, "3.1.12"),
        (22, "3.5.6-0"),
        (23, "3.5.6-0"),
        (24, "3.5.6-0"),
        (25, "3.5.6-0"),
        (26, "3.5.7-0"),
    ];
    let mut long27 = long.clone();
    long27.push((27, "3.5.9-0"));
    vec![
        Minor {
            // v1.27.2 had no key 27: kubeadm falls back to the nearest key, 26.
            n: 27,
            shape: Shape::LongLiteral,
            patches: vec![
                patch("3.5.7-0", &long, "v1.10.1", "3.9", "3.5.7-0"),
                patch("3.5.7-0", &long, "v1.10.1", "3.9", "3.5.7-0"),
                patch("3.5.7-0", &long27, "v1.10.1", "3.9", "3.5.9-0"),
            ],
            crictl: "1.27.1",
            cni: "1.2.0",
            released: "2023-04-11",
            end_of_life: "2024-07-16",
            ended: true,
            removed: vec![(
                "storage.k8s.io/v1beta1",
                vec!["CSIStorageCapacity"],
                Some("storage.k8s.io/v1"),
                false,
            )],
        },
        Minor {
            // .0: a gap at 32 (kubeadm deploys DefaultEtcdVersion); .1: the map value wins
            // over a different DefaultEtcdVersion.
            n: 32,
            shape: Shape::Literal,
            patches: vec![
                patch(
                    "3.5.16-0",
                    &[
                        (29, "3.5.15-0"),
                        (30, "3.5.15-0"),
                        (31, "3.5.15-0"),
                        (33, "3.5.16-0"),
                    ],
                    "v1.11.3",
                    "3.10",
                    "3.5.16-0",
                ),
                patch(
                    "3.5.16-0",
                    &[
                        (29, "3.5.24-0"),
                        (30, "3.5.24-0"),
                        (31, "3.5.24-0"),
                        (32, "3.5.24-0"),
                    ],
                    "v1.11.3",
                    "3.10",
                    "3.5.24-0",
                ),
            ],
            crictl: "1.32.0",
            cni: "1.6.0",
            released: "2024-12-11",
            end_of_life: "2026-02-28",
            ended: true,
            removed: vec![(
                "flowcontrol.apiserver.k8s.io/v1beta3",
                vec!["FlowSchema", "PriorityLevelConfiguration"],
                Some("flowcontrol.apiserver.k8s.io/v1"),
                false,
            )],
        },
        Minor {
            n: 35,
            shape: Shape::SkewKeys,
            patches: vec![
                patch(
                    "3.6.6-0",
                    &[(-1, "3.5.24-0"), (0, "3.6.6-0")],
                    "v1.12.4",
                    "3.10.1",
                    "3.6.6-0",
                ),
                patch(
                    "3.6.6-0",
                    &[(-1, "3.5.24-0"), (0, "3.6.6-0")],
                    "v1.12.4",
                    "3.10.1",
                    "3.6.6-0",
                ),
            ],
            crictl: "1.34.0",
            cni: "1.8.0",
            released: "2025-12-17",
            end_of_life: "2027-02-28",
            ended: false,
            removed: vec![
                (
                    "storage.k8s.io/v1alpha1",
                    vec!["VolumeAttributesClass"],
                    None,
                    true,
                ),
                (
                    "storagemigration.k8s.io/v1alpha1",
                    vec!["StorageVersionMigration"],
                    Some("storagemigration.k8s.io/v1beta1"),
                    false,
                ),
            ],
        },
        Minor {
            n: 36,
            shape: Shape::CommentedLiteral,
            patches: {
                let m8 = [(34, "3.6.8-0"), (35, "3.6.8-0"), (36, "3.6.8-0")];
                let m11 = [(34, "3.6.11-0"), (35, "3.6.11-0"), (36, "3.6.11-0")];
                vec![
                    patch("3.6.8-0", &m8, "v1.14.2", "3.10.2", "3.6.8-0"),
                    patch("3.6.8-0", &m8, "v1.14.2", "3.10.2", "3.6.8-0"),
                    patch("3.6.8-0", &m8, "v1.14.2", "3.10.2", "3.6.8-0"),
                    patch("3.6.9-0", &m11, "v1.14.2", "3.10.2", "3.6.11-0"),
                    patch("3.6.9-0", &m11, "v1.14.3", "3.10.2", "3.6.11-0"),
                ]
            },
            crictl: "1.35.0",
            cni: "1.8.0",
            released: "2026-04-22",
            end_of_life: "2027-06-28",
            ended: false,
            removed: vec![(
                "scheduling.k8s.io/v1alpha1",
                vec!["Workload"],
                Some("scheduling.k8s.io/v1alpha2"),
                false,
            )],
        },
        Minor {
            n: 37,
            shape: Shape::CommentedLiteral,
            patches: {
                let m = [(35, "3.6.11-0"), (36, "3.6.11-0"), (37, "3.7.0-0")];
                vec![
                    patch("3.7.0-0", &m, "v1.14.6", "3.10.2", "3.7.0-0"),
                    patch("3.7.0-0", &m, "v1.14.6", "3.10.2", "3.7.0-0"),
                ]
            },
            crictl: "1.36.0",
            cni: "1.8.0",
            released: "2026-08-26",
            end_of_life: "2027-10-28",
            ended: false,
            removed: vec![(
                "scheduling.k8s.io/v1alpha2",
                vec!["PodGroup", "Workload"],
                Some("scheduling.k8s.io/v1beta1"),
                false,
            )],
        },
    ]
}

/// What each tag's API server serves in the stand-in.
fn served_at(n: u32) -> crate::common::release_files::Served {
    let mut list: Vec<(&str, &[(&str, &str)])> = vec![
        (
            "v1",
            &[
                ("configmaps", "ConfigMap"),
                ("pods", "Pod"),
                ("services", "Service"),
            ],
        ),
        (
            "apps/v1",
            &[("daemonsets", "DaemonSet"), ("deployments", "Deployment")],
        ),
        (
            "storage.k8s.io/v1",
            &[
                ("csistoragecapacities", "CSIStorageCapacity"),
                ("storageclasses", "StorageClass"),
            ],
        ),
        (
            "flowcontrol.apiserver.k8s.io/v1",
            &[
                ("flowschemas", "FlowSchema"),
                ("prioritylevelconfigurations", "PriorityLevelConfiguration"),
            ],
        ),
        (
            "scheduling.k8s.io/v1",
            &[("priorityclasses", "PriorityClass")],
        ),
    ];
    const FLOW: &[(&str, &str)] = &[
        ("flowschemas", "FlowSchema"),
        ("prioritylevelconfigurations", "PriorityLevelConfiguration"),
    ];
    match n {
        26 => {
            list.push((
                "storage.k8s.io/v1beta1",
                &[("csistoragecapacities", "CSIStorageCapacity")],
            ));
            list.push(("flowcontrol.apiserver.k8s.io/v1beta3", FLOW));
        }
        27 | 31 => list.push(("flowcontrol.apiserver.k8s.io/v1beta3", FLOW)),
        32 => {}
        34 => {
            list.push((
                "storagemigration.k8s.io/v1alpha1",
                &[("storageversionmigrations", "StorageVersionMigration")],
            ));
            list.push((
                "storage.k8s.io/v1alpha1",
                &[
                    ("volumeattachments", "VolumeAttachment"),
                    ("volumeattributesclasses", "VolumeAttributesClass"),
                ],
            ));
            list.push(("scheduling.k8s.io/v1alpha1", &[("workloads", "Workload")]));
        }
        35 => {
            list.push((
                "storagemigration.k8s.io/v1beta1",
                &[("storageversionmigrations", "StorageVersionMigration")],
            ));
            list.push((
                "storage.k8s.io/v1alpha1",
                &[("volumeattachments", "VolumeAttachment")],
            ));
            list.push(("scheduling.k8s.io/v1alpha1", &[("workloads", "Workload")]));
        }
        36 => {
            list.push((
                "storagemigration.k8s.io/v1beta1",
                &[("storageversionmigrations", "StorageVersionMigration")],
            ));
            list.push((
                "storage.k8s.io/v1alpha1",
                &[("volumeattachments", "VolumeAttachment")],
            ));
            list.push((
                "scheduling.k8s.io/v1alpha2",
                &[("podgroups", "PodGroup"), ("workloads", "Workload")],
            ));
        }
        37 => {
            list.push((
                "storagemigration.k8s.io/v1beta1",
                &[("storageversionmigrations", "StorageVersionMigration")],
            ));
            list.push((
                "storage.k8s.io/v1alpha1",
                &[("volumeattachments", "VolumeAttachment")],
            ));
            list.push((
                "scheduling.k8s.io/v1alpha3",
                &[("podgroups", "PodGroup"), ("workloads", "Workload")],
            ));
            list.push((
                "scheduling.k8s.io/v1beta1",
                &[("podgroups", "PodGroup"), ("workloads", "Workload")],
            ));
        }
        _ => panic!("no discovery for 1.{n} in the stand-in"),
    }
    served(&list)
}

/// The base catalog: templates, and 1.27, 1.32, 1.36, 1.37 with some stale values (1.35
/// missing), as a maintainer's catalog would be before an update.
fn base_catalog() -> String {
    let bin = |name: &str| {
        format!(
            "    - {{ name: {name}, url: \"https://dl.k8s.io/release/{{version}}/bin/linux/{{arch}}/{name}\", checksum_url: \"{{url}}.sha256\", checksum_format: hex, mode: \"0755\", source: [t] }}\n"
        )
    };
    let minor = |n: u32,
                 latest: u32,
                 rel: &str,
                 eol: &str,
                 etcd: &str,
                 coredns: &str,
                 pause: &str,
                 crictl: &str| {
        format!(
            r#"  - minor: "1.{n}"
    latest_patch: {latest}
    released: "{rel}"
    end_of_life: "{eol}"
    source: [t]
    images:
      - {{ name: etcd, repository: etcd, tags: [{{ from_patch: 0, tag: "{etcd}", source: [t], confidence: uncertain, note: "guessed" }}] }}
      - {{ name: coredns, repository: coredns/coredns, tags: [{{ from_patch: 0, tag: "{coredns}", source: [t] }}] }}
      - {{ name: pause, repository: pause, tags: [{{ from_patch: 0, tag: "{pause}", source: [t] }}] }}
    tools:
      - {{ name: crictl, version: "{crictl}", url: "https://github.com/kubernetes-sigs/cri-tools/releases/download/{{tool_version}}/crictl-{{tool_version}}-linux-{{arch}}.tar.gz", checksum_url: "{{url}}.sha256", checksum_format: hex, mode: "0644", source: [t], confidence: uncertain }}
      - {{ name: cni-plugins, version: "v1.8.0", url: "https://github.com/containernetworking/plugins/releases/download/{{tool_version}}/cni-plugins-linux-{{arch}}-{{tool_version}}.tgz", checksum_url: "{{url}}.sha256", checksum_format: sha256sum, mode: "0644", source: [t] }}
    removed_apis: []
"#
        )
    };
    format!(
        r#"format: 1
kind: airlock-kubernetes-catalog
catalog_version: "base"
sources:
  - {{ id: t, url: "https://example.com/maintainer-notes", title: hand-kept values }}
defaults:
  registry: registry.k8s.io
  control_plane_images: [kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy]
  binaries:
{kubeadm}{kubelet}{kubectl}skew:
  kubelet_max_minors_older: 3
  kube_proxy_max_minors_older: 3
  controller_manager_max_minors_older: 1
  scheduler_max_minors_older: 1
  kubectl_max_minors_skew: 1
  apiserver_ha_max_minors_skew: 1
  kubeadm_max_minors_per_upgrade: 1
  source: [t]
minors:
{m27}{m32}{m36}{m37}"#,
        kubeadm = bin("kubeadm"),
        kubelet = bin("kubelet"),
        kubectl = bin("kubectl"),
        m27 = minor(
            27,
            16,
            "2023-04-11",
            "2024-07-16",
            "3.5.7-0",
            "v1.10.1",
            "3.9",
            "v1.27.1"
        ),
        m32 = minor(
            32,
            13,
            "2024-12-11",
            "2026-02-28",
            "3.5.16-0",
            "v1.11.3",
            "3.10",
            "v1.32.0"
        ),
        m36 = minor(
            36,
            4,
            "2026-04-22",
            "2027-06-28",
            "3.6.8-0",
            "v1.14.2",
            "3.10.2",
            "v1.36.0"
        ),
        m37 = minor(
            37,
            1,
            "2026-08-26",
            "2027-10-28",
            "3.7.0-0",
            "v1.14.5",
            "3.10.2",
            "v1.37.0"
        ),
    )
}

/// The served folder with every release file of [`minors`], a file server on it, and the
/// base catalog.
struct StandIn {
    work: tempfile::TempDir,
    tree: Tree,
    files: FileServer,
    base: PathBuf,
}

impl StandIn {
    fn new() -> StandIn {
        let work = crate::common::workdir();
        let tree = Tree {
            www: work.path().join("www"),
        };
        let mut web = Vec::new();
        for m in minors() {
            let latest = m.patches.len() as u32 - 1;
            for (p, pt) in m.patches.iter().enumerate() {
                tree.put(
                    &Tree::constants_url(&format!("v1.{}.{p}", m.n)),
                    &constants_go(m.shape, &pt.constants),
                );
            }
            let last = &m.patches[latest as usize].constants;
            tree.put(
                &Tree::dependencies_url(&format!("v1.{}.{latest}", m.n)),
                &dependencies_yaml(
                    m.crictl,
                    m.cni,
                    last.default_etcd.trim_end_matches("-0"),
                    &last.pause,
                ),
            );
            tree.put(&Tree::stable_url(m.n), &format!("v1.{}.{latest}\n", m.n));
            for tag in [m.n - 1, m.n] {
                let served = served_at(tag);
                let mut preferred = BTreeMap::new();
                for (gv, _) in &served {
                    if let Some((g, v)) = gv.split_once('/') {
                        let entry = preferred.entry(g).or_insert(gv.as_str());
                        if v == "v1" {
                            *entry = gv.as_str();
                        }
                    }
                }
                for (file, text) in discovery_files(&served, &preferred) {
                    // Before 1.30 the aggregated document is apidiscovery v2beta1.
                    let (file, text) = if file == "aggregated_v2.json" && tag < 30 {
                        (
                            "aggregated_v2beta1.json".to_string(),
                            text.replace("apidiscovery.k8s.io/v2", "apidiscovery.k8s.io/v2beta1"),
                        )
                    } else {
                        (file, text)
                    };
                    tree.put(&Tree::discovery_url(&format!("v1.{tag}.0"), &file), &text);
                }
            }
            web.push(WebMinor {
                minor: m.n,
                released: m.released,
                end_of_life: m.end_of_life,
                ended: m.ended,
                latest,
            });
        }
        web.push(WebMinor {
            minor: 34,
            released: "2025-08-27",
            end_of_life: "2026-10-27",
            ended: true,
            latest: 13,
        });
        web.sort_by_key(|w| w.minor);
        let (schedule, eol) = website_files(&web);
        tree.put(&Tree::website_url("schedule.yaml"), &schedule);
        tree.put(&Tree::website_url("eol.yaml"), &eol);
        let files = FileServer::start(&tree.www);
        let base = work.path().join("base.yaml");
        std::fs::write(&base, base_catalog()).unwrap();
        StandIn {
            work,
            tree,
            files,
            base,
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.work.path().join(rel)
    }

    /// `airlock ARGS`, with the mirrors to the stand-in.
    fn airlock(&self, args: &[&str]) -> Run {
        self.cli()
            .args(args)
            .args(Tree::mirrors(&self.files.url()))
            .run()
    }

    /// `airlock` with the stand-in's cache and date, in its scratch folder.
    fn cli(&self) -> Cli {
        Cli::airlock()
            .env("DOCKER_CONFIG", self.path("no-docker-config"))
            .env("AIRLOCK_CACHE", self.path("cache"))
            .env("AIRLOCK_TODAY", TODAY)
            .dir(self.work.path())
    }

    /// `airlock catalog update --from-catalog BASE --out OUT --minor ...`.
    fn update(&self, base: &Path, out: &Path, minors: &[u32], extra: &[&str]) -> Run {
        let mut args: Vec<String> = vec![
            "catalog".into(),
            "update".into(),
            "--from-catalog".into(),
            base.display().to_string(),
            "--out".into(),
            out.display().to_string(),
        ];
        for m in minors {
            args.push("--minor".into());
            args.push(format!("1.{m}"));
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        self.airlock(&refs)
    }

    fn sha_of_url(&self, url: &str) -> String {
        sha256_hex(&std::fs::read(self.tree.path(url)).unwrap())
    }
}

fn yaml(path: &Path) -> serde_json::Value {
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn strs(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

const ALL: [u32; 5] = [27, 32, 35, 36, 37];

/// Every fact of every stand-in minor, as derived, against what was written upstream; and
/// every document id a value names resolves to the URL and sha256 of the file served.
fn check_catalog_facts(s: &StandIn, got: &serde_json::Value) {
    let docs: BTreeMap<String, (String, String)> = got["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["id"].as_str().unwrap().to_string(),
                (
                    d["url"].as_str().unwrap().to_string(),
                    d["sha256"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect();
    for (id, (url, sha)) in &docs {
        assert_eq!(&s.sha_of_url(url), sha, "document {id} ({url})");
    }
    let url_of = |id: &String| {
        docs.get(id)
            .unwrap_or_else(|| panic!("no document {id}"))
            .0
            .clone()
    };
    for m in minors() {
        let key = format!("1.{}", m.n);
        let e = got["minors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["minor"] == key.as_str())
            .unwrap_or_else(|| panic!("{key} missing"));
        let latest = m.patches.len() - 1;
        assert_eq!(e["latest_patch"], latest as u64, "{key}");
        assert_eq!(e["released"], m.released, "{key}");
        assert_eq!(e["end_of_life"], m.end_of_life, "{key}");
        let msrc: Vec<String> = strs(&e["source"])
            .iter()
            .filter(|i| docs.contains_key(*i))
            .map(url_of)
            .collect();
        assert!(msrc.contains(&Tree::stable_url(m.n)), "{key}: {msrc:?}");
        // Each image, patch by patch, from the constants of that very tag.
        for (name, want) in [
            (
                "etcd",
                m.patches
                    .iter()
                    .map(|p| p.etcd.to_string())
                    .collect::<Vec<_>>(),
            ),
            (
                "coredns",
                m.patches
                    .iter()
                    .map(|p| p.constants.coredns.clone())
                    .collect(),
            ),
            (
                "pause",
                m.patches
                    .iter()
                    .map(|p| p.constants.pause.clone())
                    .collect(),
            ),
        ] {
            let img = e["images"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["name"] == name)
                .unwrap();
            let rows = img["tags"].as_array().unwrap();
            for (p, want_tag) in want.iter().enumerate() {
                let row = rows
                    .iter()
                    .rev()
                    .find(|r| r["from_patch"].as_u64().unwrap() <= p as u64)
                    .unwrap();
                assert_eq!(row["tag"], want_tag.as_str(), "{key} {name} at .{p}");
                assert!(
                    row.get("confidence").is_none(),
                    "{key} {name}: read from the tag"
                );
                let urls: Vec<String> = strs(&row["source"]).iter().map(url_of).collect();
                assert!(
                    urls.contains(&Tree::constants_url(&format!("v1.{}.{p}", m.n))),
                    "{key} {name} .{p}: sources {urls:?}"
                );
            }
        }
        let tool = |n: &str| {
            e["tools"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["name"] == n)
                .unwrap()
                .clone()
        };
        assert_eq!(tool("crictl")["version"], format!("v{}", m.crictl));
        assert_eq!(tool("cni-plugins")["version"], format!("v{}", m.cni));
        assert_eq!(
            strs(&tool("crictl")["source"])
                .iter()
                .map(url_of)
                .collect::<Vec<_>>(),
            [Tree::dependencies_url(&format!("v1.{}.{latest}", m.n))]
        );
        let removed: Vec<(String, Vec<String>, Option<String>, bool)> = e["removed_apis"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["group_version"].as_str().unwrap().to_string(),
                    strs(&r["kinds"]),
                    r["replacement"].as_str().map(String::from),
                    r["partial"].as_bool().unwrap_or(false),
                )
            })
            .collect();
        let want: Vec<(String, Vec<String>, Option<String>, bool)> = m
            .removed
            .iter()
            .map(|(gv, k, r, p)| {
                (
                    gv.to_string(),
                    k.iter().map(|s| s.to_string()).collect(),
                    r.map(String::from),
                    *p,
                )
            })
            .collect();
        assert_eq!(removed, want, "{key} removed APIs");
        let served: Vec<(String, Vec<(String, String)>)> = e["served_apis"]["group_versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| {
                (
                    g["group_version"].as_str().unwrap().to_string(),
                    g["resources"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|r| {
                            (
                                r["resource"].as_str().unwrap().to_string(),
                                r["kind"].as_str().unwrap().to_string(),
                            )
                        })
                        .collect(),
                )
            })
            .collect();
        let mut want = served_at(m.n);
        want.sort();
        assert_eq!(served, want, "{key} served APIs");
    }
}

#[test]
fn update_derives_every_fact_from_the_tags_exactly_and_deterministically() {
    let s = StandIn::new();
    let got = s.path("got.yaml");
    let out = s.update(&s.base, &got, &ALL, &[]);
    ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // kubeadm's fallbacks are reported, and so are the changes from the base.
    assert_contains(
        &stderr,
        "1.27 etcd 3.5.7-0 from v1.27.0: SupportedEtcdVersion has no key 27",
    );
    assert!(stderr.contains("nearest key, 26"), "{stderr}");
    assert_contains(&stderr, "1.32 etcd 3.5.16-0 from v1.32.0");
    assert_contains(&stderr, "kubeadm deploys DefaultEtcdVersion");
    assert_contains(
        &stderr,
        "1.36 etcd at v1.36.3 to v1.36.4: the base catalog says 3.6.8-0, upstream says 3.6.11-0",
    );
    assert!(stderr.contains("1.35: not in the base catalog"), "{stderr}");
    assert_contains(
        &stderr,
        "1.27 newest patch: the base catalog says v1.27.16, upstream says v1.27.2",
    );
    let v = yaml(&got);
    assert_eq!(v["catalog_version"], "2026.11.25");
    check_catalog_facts(&s, &v);
    // The hand-kept parts of the base stay; the catalog loads and is usable.
    assert_eq!(v["sources"][0]["id"], "t");
    let status = s.cli().args(["catalog", "status", "--catalog"]).arg(&got);
    let status = status.arg("--json").ok().json();
    assert_eq!(strs(&status["supported"]), ["1.35", "1.36", "1.37"]);
    assert_eq!(
        status["catalog"]["sha256"],
        sha256_hex(&std::fs::read(&got).unwrap())
    );

    // The same inputs give the same bytes; updating the result changes nothing (and, with
    // no --minor, finds no minor after 1.37: stable-1.38.txt is 404).
    let again = s.path("again.yaml");
    ok(&s.update(&s.base, &again, &ALL, &[]));
    assert_eq!(std::fs::read(&got).unwrap(), std::fs::read(&again).unwrap());
    let third = s.path("third.yaml");
    let out = s.update(&got, &third, &[], &["--json"]);
    let summary: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(summary["changes"], serde_json::json!([]), "{summary}");
    assert_eq!(
        strs(&summary["minors"]),
        ["1.27", "1.32", "1.35", "1.36", "1.37"]
    );
    assert_eq!(std::fs::read(&got).unwrap(), std::fs::read(&third).unwrap());
    // Without --out the catalog goes to stdout, byte for byte.
    let stdout = s.airlock(&[
        "catalog",
        "update",
        "--from-catalog",
        got.to_str().unwrap(),
        "--minor",
        "1.36",
        "--minor",
        "1.37",
    ]);
    assert_eq!(ok(&stdout).as_bytes(), std::fs::read(&got).unwrap());
}

#[test]
fn update_then_resolve_build_verify_install_a_1_36_to_1_37_hop() {
    let s = StandIn::new();
    let got = s.path("got.yaml");
    ok(&s.update(&s.base, &got, &[36, 37], &[]));
    let catalog = airlock::catalog::Catalog::load(&got).unwrap();
    // Images, binaries and tools of the hop, as the derived catalog names them.
    let from: airlock::catalog::Version = "v1.36.4".parse().unwrap();
    let to: airlock::catalog::Version = "v1.37.1".parse().unwrap();
    let layout = s.path("layout");
    let up = hop_upstream::generate(
        &catalog,
        &[from, to],
        &layout,
        &s.tree.www,
        &Sizes {
            arches: &["amd64"],
            layer: 2048,
            binary: 1024,
            tool: 1024,
        },
    );
    let registry = Registry::start();
    for b in &up.images {
        push_image(&layout, b, &registry.host());
    }
    let h = registry.host();
    let mirror = format!("registry.k8s.io={h}");
    let reg_net = ["--insecure-registry", &h, "--mirror", &mirror];
    let hop = [
        "resolve",
        "--from",
        "v1.36.4",
        "--to",
        "v1.37.1",
        "--platform",
        "linux/amd64",
        // The generated upstream is unsigned; provenance has its own tests.
        "--no-provenance",
    ];
    // `airlock resolve` of the hop into OUT with CATALOG and `extra`.
    let resolve = |out: &Path, catalog: &Path, extra: &[&str]| {
        let (out, catalog) = (out.to_str().unwrap(), catalog.to_str().unwrap());
        let args = [
            &hop[..],
            &reg_net,
            &["--out", out, "--catalog", catalog],
            extra,
        ]
        .concat();
        s.airlock(&args)
    };
    let lock_path = s.path("hop.lock");
    let out = resolve(&lock_path, &got, &[]);
    ok(&out);
    // Every value came from the tags.
    assert_lacks(&String::from_utf8_lossy(&out.stderr), "uncertain");
    let lock = yaml(&lock_path);
    let got_sha = sha256_hex(&std::fs::read(&got).unwrap());
    assert_eq!(lock["catalog"]["version"], "2026.11.25");
    assert_eq!(lock["catalog"]["sha256"], got_sha.as_str());
    let names = each(&lock["images"], "name");
    for n in [
        "registry.k8s.io/etcd:3.7.0-0",
        "registry.k8s.io/etcd:3.6.11-0",
        "registry.k8s.io/coredns/coredns:v1.14.6",
        "registry.k8s.io/coredns/coredns:v1.14.3",
        "registry.k8s.io/kube-apiserver:v1.37.1",
    ] {
        assert!(names.contains(&n), "{n} not in {names:?}");
    }
    let removed = crate::common::find(&lock["checklist"], "id", "pre.removed-apis");
    let scheduling = "scheduling.k8s.io/v1alpha2 (PodGroup, Workload) -> scheduling.k8s.io/v1beta1";
    assert_contains(removed["title"].as_str().unwrap(), scheduling);

    // Build, verify, install; the signed manifest records the catalog.
    let key = cli::keygen(&s.path("keys/k"));
    let bundle = s.path("bundle");
    let (lock_arg, bundle_arg) = (lock_path.to_str().unwrap(), bundle.to_str().unwrap());
    let key_arg = cli::key_of(&key);
    let build = [
        "build", lock_arg, "--key", &key_arg, "--out", bundle_arg, "--quiet",
    ];
    ok(&s.airlock(&[&build[..], &reg_net].concat()));
    let manifest = read_json(&bundle.join("manifest.json"));
    assert_eq!(manifest["catalog"]["sha256"], got_sha.as_str());
    assert_eq!(manifest["catalog"]["version"], "2026.11.25");
    let enclave = Registry::start();
    let dest = s.path("dest");
    let install = Cli::verify()
        .env("DOCKER_CONFIG", s.path("no-docker-config"))
        .arg("install");
    let install = install.arg(&bundle).args(["--trust", &cli::pub_of(&key)]);
    let install = install.args(["--registry", &enclave.host(), "--insecure"]);
    install.arg("--dest").arg(&dest).arg("--quiet").ok();
    let kubeadm = "https://dl.k8s.io/release/v1.37.1/bin/linux/amd64/kubeadm";
    let placed = std::fs::read(dest.join("bin/v1.37.1/linux/amd64/kubeadm")).unwrap();
    assert_eq!(sha256_hex(&placed), up.sums[kubeadm]);
    let crictl = "tools/crictl/v1.36.0/linux/amd64/crictl-v1.36.0-linux-amd64.tar.gz";
    assert!(dest.join(crictl).is_file());
    let tags = enclave.get("/v2/etcd/tags/list").text();
    assert_contains(&tags, "3.7.0-0");
    assert_contains(&tags, "3.6.11-0");

    // --catalog-from-upstream: the base catalog's two minors re-derived first; the lock
    // names the derived catalog, which --save-catalog wrote; the base's stale values are
    // reported.
    let lock2 = s.path("hop2.lock");
    let saved = s.path("derived.yaml");
    let save = [
        "--catalog-from-upstream",
        "--save-catalog",
        saved.to_str().unwrap(),
    ];
    let out = resolve(&lock2, &s.base, &save);
    ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_contains(
        &stderr,
        "catalog check against upstream: 1.37 coredns at v1.37.0 to v1.37.1: the base catalog says v1.14.5, upstream says v1.14.6",
    );
    let l2 = yaml(&lock2);
    let saved_sha = sha256_hex(&std::fs::read(&saved).unwrap());
    assert_eq!(l2["catalog"]["sha256"], saved_sha.as_str());
    let same = "same images as with the updated catalog";
    assert_eq!(lock_images(&l2), lock_images(&lock), "{same}");
    assert!(l2["notes"].to_string().contains("checked against upstream"));

    // --check-catalog: resolve with the catalog as given, report where it disagrees.
    let edited = s.path("edited.yaml");
    let text = std::fs::read_to_string(&got).unwrap();
    std::fs::write(&edited, text.replace("2027-10-28", "2027-10-29")).unwrap();
    let lock3 = s.path("hop3.lock");
    let out = resolve(&lock3, &edited, &["--check-catalog"]);
    ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_contains(
        &stderr,
        "1.37 end of life: the base catalog says 2027-10-29, upstream says 2027-10-28",
    );
    let edited_sha = sha256_hex(&std::fs::read(&edited).unwrap());
    assert_eq!(yaml(&lock3)["catalog"]["sha256"], edited_sha.as_str());
}

fn lock_images(lock: &serde_json::Value) -> Vec<(String, String)> {
    lock["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["name"].as_str().unwrap().into(),
                i["digest"].as_str().unwrap().into(),
            )
        })
        .collect()
}

/// Upstream documents that are wrong, one test per document: each update is refused
/// naming the URL and the reason, leaving the previous catalog untouched.
mod bad_upstream_documents_are_refused_naming_the_source {
    use super::*;

    const PREVIOUS: &str = "previous catalog\n";

    /// A stand-in and an output file holding [`PREVIOUS`], which must survive every
    /// failed update untouched.
    fn with_previous_catalog() -> (StandIn, PathBuf) {
        let s = StandIn::new();
        let out_path = s.path("out.yaml");
        std::fs::write(&out_path, PREVIOUS).unwrap();
        (s, out_path)
    }

    /// Change the file at `url` with `change`, update `minor`, and assert the update is
    /// refused naming `url` and saying `needle`, with the previous catalog kept.
    fn assert_refused(url: String, change: impl Fn(&str) -> String, minor: u32, needle: &str) {
        let (s, out_path) = with_previous_catalog();
        let file = s.tree.path(&url);
        let original = std::fs::read_to_string(&file).unwrap();
        let changed = change(&original);
        assert_ne!(changed, original, "case {needle} did not change {url}");
        std::fs::write(&file, &changed).unwrap();
        let out = s.update(&s.base, &out_path, &[minor], &["--force"]);
        assert_fails(&out, 1, needle);
        assert_fails(&out, 1, &url);
        assert_eq!(
            std::fs::read_to_string(&out_path).unwrap(),
            PREVIOUS,
            "{needle}"
        );
    }

    #[test]
    fn constants_without_the_default_etcd_version() {
        let url = Tree::constants_url("v1.37.1");
        let change = |t: &str| t.replace("\tDefaultEtcdVersion = \"3.7.0-0\"\n", "");
        assert_refused(url, change, 37, "DefaultEtcdVersion not found");
    }

    #[test]
    fn the_supported_etcd_versions_declared_as_another_type() {
        let url = Tree::constants_url("v1.37.0");
        let change = |t: &str| t.replace("map[uint8]string{", "map[string]string{");
        assert_refused(url, change, 37, "SupportedEtcdVersion is declared as");
    }

    #[test]
    fn the_pause_version_declared_as_an_expression() {
        let url = Tree::constants_url("v1.36.2");
        let change =
            |t: &str| t.replace("PauseVersion = \"3.10.2\"", "PauseVersion = images.Pause");
        assert_refused(url, change, 36, "PauseVersion is declared as");
    }

    #[test]
    fn a_discovery_document_of_another_kind() {
        let url = Tree::discovery_url("v1.37.0", "apis.json");
        let list = "{\"kind\": \"APIResourceList\", \"groupVersion\": \"v1\", \"resources\": []}\n";
        let needle = "kind \"APIResourceList\", expected APIGroupList";
        assert_refused(url, |_| list.into(), 37, needle);
    }

    #[test]
    fn an_aggregated_discovery_document_of_another_version() {
        let url = Tree::discovery_url("v1.36.0", "aggregated_v2.json");
        let change = |t: &str| t.replace("apidiscovery.k8s.io/v2", "apidiscovery.k8s.io/v2beta1");
        assert_refused(url, change, 37, "expected apidiscovery.k8s.io/v2");
    }

    #[test]
    fn a_stable_marker_that_is_an_error_page() {
        let page = "<html><body>Service Unavailable</body></html>\n";
        let needle = "expected one version v1.37.PATCH";
        assert_refused(Tree::stable_url(37), |_| page.into(), 37, needle);
    }

    #[test]
    fn dependencies_without_crictl() {
        let url = Tree::dependencies_url("v1.37.1");
        let change = |t: &str| t.replace("name: \"crictl\"", "name: \"cri-tools\"");
        assert_refused(url, change, 37, "no entry `name: \"crictl\"`");
    }

    #[test]
    fn a_schedule_with_a_date_in_prose() {
        let url = Tree::website_url("schedule.yaml");
        let change = |t: &str| {
            t.replace(
                "releaseDate: \"2026-08-26\"",
                "releaseDate: \"26 August 2026\"",
            )
        };
        assert_refused(url, change, 37, "releaseDate");
    }

    /// Every patch up to stable's must exist; with everything restored the update goes
    /// through, and without --force an existing file is refused before any network work.
    #[test]
    fn a_missing_tag() {
        let (s, out_path) = with_previous_catalog();
        let tag_dir = s.tree.path(&Tree::constants_url("v1.36.3"));
        let moved = s.path("moved.go");
        std::fs::rename(&tag_dir, &moved).unwrap();
        let out = s.update(&s.base, &out_path, &[36], &["--force"]);
        assert_fails(&out, 1, &Tree::constants_url("v1.36.3"));
        assert_fails(
            &out,
            1,
            "HTTP 404: the tag v1.36.3 or this file at it does not exist",
        );
        assert_eq!(std::fs::read_to_string(&out_path).unwrap(), PREVIOUS);
        assert!(no_temporary_files(s.work.path()), "no temporary file left");
        std::fs::rename(&moved, &tag_dir).unwrap();
        ok(&s.update(&s.base, &out_path, &[36, 37], &["--force"]));
        assert_fails(
            &s.update(&s.base, &out_path, &[36], &[]),
            4,
            "already exists",
        );
    }

    #[test]
    fn a_minor_with_no_release() {
        let (s, out_path) = with_previous_catalog();
        let out = s.update(&s.base, &out_path, &[38], &["--force"]);
        assert_fails(&out, 1, "https://dl.k8s.io/release/stable-1.38.txt");
        assert_eq!(std::fs::read_to_string(&out_path).unwrap(), PREVIOUS);
        assert!(no_temporary_files(s.work.path()), "no temporary file left");
    }
}

#[test]
fn a_document_at_a_tag_that_changed_since_it_was_recorded_is_refused() {
    let s = StandIn::new();
    let got = s.path("got.yaml");
    ok(&s.update(&s.base, &got, &[36], &[]));
    let url = Tree::constants_url("v1.36.2");
    let file = s.tree.path(&url);
    let recorded = s.sha_of_url(&url);
    // The same facts, other bytes: a mirror serving a different document than the one the
    // catalog recorded.
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("Copyright 2016", "Copyright 2017");
    std::fs::write(&file, text).unwrap();
    let out_path = s.path("next.yaml");
    let out = s.update(&got, &out_path, &[36], &[]);
    assert_fails(&out, 5, &url);
    assert_fails(&out, 5, "sha256 mismatch");
    assert_fails(&out, 5, &recorded);
    assert_fails(&out, 5, "a file at a release tag, which never changes");
    assert!(!out_path.exists(), "no catalog written");
    // resolve --check-catalog reads through the same check.
    let out = s.airlock(&[
        "resolve",
        "--from",
        "v1.36.1",
        "--to",
        "v1.36.4",
        "--out",
        "x.lock",
        "--catalog",
        got.to_str().unwrap(),
        "--check-catalog",
        "--no-provenance",
    ]);
    assert_fails(&out, 5, &url);
    assert!(!s.path("x.lock").exists());
    // Documents that do change (stable markers, website data) are simply read again.
    std::fs::write(
        s.tree.path(&Tree::website_url("eol.yaml")),
        std::fs::read_to_string(s.tree.path(&Tree::website_url("eol.yaml"))).unwrap()
            + "# edited\n",
    )
    .unwrap();
    std::fs::write(
        &file,
        std::fs::read_to_string(&file)
            .unwrap()
            .replace("Copyright 2017", "Copyright 2016"),
    )
    .unwrap();
    ok(&s.update(&got, &out_path, &[36], &[]));
}

#[test]
fn plan_refuses_provenance_options_without_build() {
    // They act only on the hops --build resolves; unrefused they would be silently
    // ignored. Clap names the flag given in the usage line and --build as missing.
    let plan = || {
        Cli::airlock()
            .env("AIRLOCK_TODAY", TODAY)
            .args(["plan", "--from", "v1.33.1", "--to", "v1.34.11"])
    };
    for (flag, value) in [
        ("--trusted-root", Some("trusted_root.json")),
        ("--rekor-url", Some("http://127.0.0.1:9/")),
        ("--allow-unsigned", Some("registry.k8s.io/pause:3.9")),
        ("--no-provenance", None),
    ] {
        let run = plan().arg(flag).args(value).fails(2, "--build");
        let usage = format!("--build {flag}");
        assert_contains(&run.stderr(), &usage);
        assert!(
            run.stdout().is_empty(),
            "no plan is printed: {}",
            run.stdout()
        );
    }
    plan().ok();
}

#[test]
fn plan_shows_support_and_status_lists_the_windows() {
    let run = |args: &[&str]| Cli::airlock().env("AIRLOCK_TODAY", TODAY).args(args).run();
    let text = ok(&run(&["plan", "--from", "v1.33.1", "--to", "v1.37.1"]));
    assert!(text.contains("v1.33.1 -> v1.37.1: 5 hop(s)"), "{text}");
    assert_contains(
        &text,
        "1.33: end of life since 2026-06-28; 2 more hops to a supported minor",
    );
    assert_contains(
        &text,
        "1.34: end of life since 2026-10-27; 1 more hop to a supported minor",
    );
    assert!(text.contains("3. v1.34.11 -> v1.35.9 (minor)"), "{text}");
    assert!(text.contains("1.35: supported until 2027-02-28"), "{text}");
    let v: serde_json::Value = serde_json::from_str(&ok(&run(&[
        "plan",
        "--from",
        "v1.33.1",
        "--to",
        "v1.34.11",
        "--json",
        "--today",
        "2026-05-01",
    ])))
    .unwrap();
    assert_eq!(v["today"], "2026-05-01");
    assert_eq!(v["hops"][0]["target_support"], "supported");
    assert_eq!(v["hops"][1]["more_hops_to_supported"], 0);
    let v: serde_json::Value = serde_json::from_str(&ok(&run(&[
        "plan", "--from", "v1.33.1", "--to", "v1.34.11", "--json",
    ])))
    .unwrap();
    assert_eq!(v["hops"][1]["target_support"], "end-of-life");
    assert_eq!(
        v["hops"][1]["more_hops_to_supported"],
        serde_json::Value::Null
    );
    let text = ok(&run(&["catalog", "status"]));
    assert!(text.contains("supported: 1.35, 1.36, 1.37"), "{text}");
    assert_contains(&text, "1.34   2025-08-27  2026-10-27   end of life");
    // Issue 21 (17): the countdown has its own column; the last column of every row is
    // the count of uncertain values and nothing else.
    let header = text
        .lines()
        .find(|l| l.trim_start().starts_with("minor"))
        .unwrap();
    assert!(
        header.contains("days left") && header.trim_end().ends_with("uncertain values"),
        "{header}"
    );
    for row in text.lines().filter(|l| l.trim_start().starts_with("1.")) {
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert!(cells.last().unwrap().parse::<usize>().is_ok(), "{row}");
        if cells[3] == "supported" {
            assert!(cells[4].parse::<i64>().is_ok(), "{row}");
            assert_eq!(cells.len(), 7, "{row}");
        } else {
            assert!(row.contains(" - "), "{row}");
        }
    }
    assert_fails(
        &run(&["catalog", "status", "--today", "2026-13-01"]),
        2,
        "YYYY-MM-DD",
    );
}
