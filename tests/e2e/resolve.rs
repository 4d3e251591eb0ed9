//! `airlock resolve` and `airlock plan` against a real registry seeded under the real
//! repository names (kube-apiserver, ..., coredns/coredns, pause) and a file server laid out
//! like dl.k8s.io and the GitHub release pages, reached through `--mirror`. A tiny catalog
//! (`--catalog`) keeps the number of artifacts small.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Output;

use assert_cmd::Command;

use crate::common::images::{
    BuiltImage, ImageSpec, LayerSpec, build_layout, linux, push_image, random_bytes, sha256_hex,
    write_file_tree,
};
use crate::common::scenario::assert_fails;
use crate::common::servers::{FileServer, Registry};

const CP: [&str; 4] = [
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kube-proxy",
];

fn catalog_text() -> String {
    let bin = |name: &str| {
        format!(
            r#"    - {{ name: {name}, url: "https://dl.k8s.io/release/{{version}}/bin/linux/{{arch}}/{name}", checksum_url: "{{url}}.sha256", checksum_format: hex, mode: "0755", source: [t] }}
"#
        )
    };
    let tools = |crictl: &str, cni: &str| {
        format!(
            r#"    tools:
      - {{ name: crictl, version: "{crictl}", url: "https://github.com/kubernetes-sigs/cri-tools/releases/download/{{tool_version}}/crictl-{{tool_version}}-linux-{{arch}}.tar.gz", checksum_url: "{{url}}.sha256", checksum_format: hex, mode: "0644", source: [t] }}
      - {{ name: cni-plugins, version: "{cni}", url: "https://github.com/containernetworking/plugins/releases/download/{{tool_version}}/cni-plugins-linux-{{arch}}-{{tool_version}}.tgz", checksum_url: "{{url}}.sha256", checksum_format: sha256sum, mode: "0644", source: [t] }}
"#
        )
    };
    format!(
        r#"format: 1
kind: airlock-kubernetes-catalog
catalog_version: "test"
sources:
  - {{ id: t, url: "https://example.com/test", title: test }}
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
  - minor: "1.29"
    latest_patch: 15
    released: "2023-12-13"
    end_of_life: "2025-02-28"
    source: [t]
    images:
      - name: etcd
        repository: etcd
        tags:
          - {{ from_patch: 0, tag: "3.5.10-0", source: [t] }}
          - {{ from_patch: 3, tag: "3.5.12-0", source: [t] }}
      - {{ name: coredns, repository: coredns/coredns, tags: [{{ from_patch: 0, tag: "v1.11.1", source: [t] }}] }}
      - {{ name: pause, repository: pause, tags: [{{ from_patch: 0, tag: "3.9", source: [t] }}] }}
{tools129}    removed_apis: []
  - minor: "1.30"
    latest_patch: 2
    released: "2024-04-17"
    end_of_life: "2025-06-28"
    source: [t]
    images:
      - name: etcd
        repository: etcd
        tags:
          - {{ from_patch: 0, tag: "3.5.12-0", source: [t] }}
          - {{ from_patch: 2, tag: "3.5.15-0", source: [t], confidence: uncertain, note: "test row" }}
      - {{ name: coredns, repository: coredns/coredns, tags: [{{ from_patch: 0, tag: "v1.11.1", source: [t] }}] }}
      - {{ name: pause, repository: pause, tags: [{{ from_patch: 0, tag: "3.9", source: [t] }}] }}
{tools130}    removed_apis:
      - {{ group_version: flowcontrol.apiserver.k8s.io/v1beta2, kinds: [FlowSchema], replacement: flowcontrol.apiserver.k8s.io/v1, source: [t] }}
"#,
        kubeadm = bin("kubeadm"),
        kubelet = bin("kubelet"),
        kubectl = bin("kubectl"),
        tools129 = tools("v1.29.0", "v1.3.0"),
        tools130 = tools("v1.30.0", "v1.4.0"),
    )
}

/// What to leave out of or change in the upstream fixture.
#[derive(Default)]
pub(crate) struct Opts {
    /// `repo:tag` not pushed.
    pub(crate) skip: Vec<&'static str>,
    /// `repo:tag` built for linux/amd64 only.
    pub(crate) amd64_only: Vec<&'static str>,
    /// Extra images `repo:tag` (pushed under docker.io names via the same registry).
    pub(crate) extra: Vec<&'static str>,
    /// Kubernetes versions beyond v1.29.6 and v1.30.2 with images and binaries.
    pub(crate) versions: Vec<&'static str>,
}

pub(crate) struct Upstream {
    pub(crate) work: tempfile::TempDir,
    pub(crate) registry: Registry,
    pub(crate) files: FileServer,
    pub(crate) catalog: PathBuf,
    pub(crate) images: BTreeMap<String, BuiltImage>,
    /// Canonical URL -> hex sha256 of the content.
    sums: BTreeMap<String, String>,
    pub(crate) www: PathBuf,
}

impl Upstream {
    pub(crate) fn new(o: Opts) -> Upstream {
        let work = crate::common::workdir();
        let registry = Registry::start();
        let mut refs: Vec<String> = Vec::new();
        let versions: Vec<&str> = ["v1.29.6", "v1.30.2"]
            .into_iter()
            .chain(o.versions.iter().copied())
            .collect();
        for v in &versions {
            for n in CP {
                refs.push(format!("{n}:{v}"));
            }
        }
        for r in [
            "etcd:3.5.12-0",
            "etcd:3.5.15-0",
            "coredns/coredns:v1.11.1",
            "pause:3.9",
        ] {
            refs.push(r.into());
        }
        refs.extend(o.extra.iter().map(|s| s.to_string()));
        let specs: Vec<ImageSpec> = refs
            .iter()
            .enumerate()
            .filter(|(_, r)| !o.skip.contains(&r.as_str()))
            .map(|(i, r)| {
                let (repo, tag) = r.split_once(':').unwrap();
                let archs: &[&str] = if o.amd64_only.contains(&r.as_str()) {
                    &["amd64"]
                } else {
                    &["amd64", "arm64"]
                };
                ImageSpec {
                    repository: repo.into(),
                    tag: tag.into(),
                    platforms: linux(archs),
                    layers: vec![
                        LayerSpec::shared("base"),
                        LayerSpec::Random {
                            seed: 100 + i as u64,
                            size: 2048,
                            gzip: true,
                        },
                    ],
                }
            })
            .collect();
        let layout = work.path().join("layout");
        let built = build_layout(&layout, &specs);
        let mut images = BTreeMap::new();
        for b in built {
            push_image(&layout, &b, &registry.host());
            images.insert(format!("{}:{}", b.repository, b.tag), b);
        }

        // Files like dl.k8s.io and the GitHub release pages.
        let www = work.path().join("www");
        let mut tree: Vec<(String, String, Vec<u8>)> = Vec::new(); // (server path, canonical url, bytes)
        let mut seed = 1000;
        let mut add = |path: String, url: String| {
            seed += 1;
            tree.push((path, url, random_bytes(seed, 1024)));
        };
        for v in &versions {
            for arch in ["amd64", "arm64"] {
                for b in ["kubeadm", "kubelet", "kubectl"] {
                    let p = format!("release/{v}/bin/linux/{arch}/{b}");
                    add(format!("dl/{p}"), format!("https://dl.k8s.io/{p}"));
                }
            }
        }
        for (crictl, cni) in [("v1.29.0", "v1.3.0"), ("v1.30.0", "v1.4.0")] {
            for arch in ["amd64", "arm64"] {
                let p = format!(
                    "kubernetes-sigs/cri-tools/releases/download/{crictl}/crictl-{crictl}-linux-{arch}.tar.gz"
                );
                add(format!("gh/{p}"), format!("https://github.com/{p}"));
                let p = format!(
                    "containernetworking/plugins/releases/download/{cni}/cni-plugins-linux-{arch}-{cni}.tgz"
                );
                add(format!("gh/{p}"), format!("https://github.com/{p}"));
            }
        }
        let entries: Vec<(&str, &[u8])> = tree
            .iter()
            .map(|(p, _, b)| (p.as_str(), b.as_slice()))
            .collect();
        write_file_tree(&www, &entries);
        let mut sums = BTreeMap::new();
        for (path, url, bytes) in &tree {
            let hex = sha256_hex(bytes);
            if path.contains("cni-plugins") {
                // sha256sum format, with a line for another file first.
                let name = path.rsplit('/').next().unwrap();
                std::fs::write(
                    www.join(format!("{path}.sha256")),
                    format!("{}  other.tgz\n{hex}  {name}\n", "1".repeat(64)),
                )
                .unwrap();
            }
            sums.insert(url.clone(), hex);
        }
        let files = FileServer::start(&www);
        let catalog = work.path().join("catalog.yaml");
        std::fs::write(&catalog, catalog_text()).unwrap();
        Upstream {
            work,
            registry,
            files,
            catalog,
            images,
            sums,
            www,
        }
    }

    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.work.path().join(rel)
    }

    pub(crate) fn airlock(&self, args: &[String]) -> Command {
        let mut c = Command::cargo_bin("airlock").expect("airlock binary");
        c.env("AIRLOCK_CACHE", self.path("cache"))
            .env("DOCKER_CONFIG", self.path("no-docker-config"))
            .env_remove("AIRLOCK_CONFIG")
            .current_dir(self.work.path());
        c.args(args);
        c
    }

    pub(crate) fn net_args(&self) -> Vec<String> {
        let h = self.registry.host();
        let u = self.files.url();
        [
            "--insecure-registry",
            &h,
            "--mirror",
            &format!("registry.k8s.io={h}"),
            "--mirror",
            &format!("docker.io={h}"),
            "--mirror",
            &format!("https://dl.k8s.io={u}/dl"),
            "--mirror",
            &format!("https://github.com={u}/gh"),
            "--mirror",
            &format!("https://raw.example.com={u}/raw"),
            "--mirror",
            &format!("https://pkgs.k8s.io={u}/pkgs"),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    /// `airlock resolve --from v1.29.6 --to v1.30.2 --out hop.lock --catalog ... NET EXTRA`.
    pub(crate) fn resolve(&self, extra: &[&str]) -> Output {
        let mut args: Vec<String> = ["resolve", "--from", "v1.29.6", "--to", "v1.30.2", "--out"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.push(self.path("hop.lock").display().to_string());
        args.push("--catalog".into());
        args.push(self.catalog.display().to_string());
        args.extend(self.net_args());
        args.extend(extra.iter().map(|s| s.to_string()));
        self.airlock(&args).output().expect("run airlock resolve")
    }

    /// `airlock keygen` into keys/k, then `airlock build hop.lock` into bundle/ through the
    /// mirrors; returns the key prefix and the build's output.
    pub(crate) fn keygen_and_build(&self) -> (PathBuf, Output) {
        let key = self.path("keys/k");
        ok(&self
            .airlock(&[
                "keygen".into(),
                "--no-passphrase".into(),
                "--out".into(),
                key.display().to_string(),
            ])
            .output()
            .unwrap());
        let mut args: Vec<String> = vec![
            "build".into(),
            self.path("hop.lock").display().to_string(),
            "--key".into(),
            format!("{}.key", key.display()),
            "--out".into(),
            self.path("bundle").display().to_string(),
            "--quiet".into(),
        ];
        args.extend(self.net_args());
        let out = self.airlock(&args).output().unwrap();
        (key, out)
    }

    pub(crate) fn lock(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.path("hop.lock")).expect("read lock");
        serde_saphyr::from_str(&text).expect("lock is YAML")
    }

    pub(crate) fn digest(&self, r: &str) -> String {
        self.images[r].index_digest.clone()
    }
}

pub(crate) fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "command failed ({:?}):\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

pub(crate) fn lock_images(lock: &serde_json::Value) -> BTreeMap<String, (String, String)> {
    lock["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["name"].as_str().unwrap().to_string(),
                (
                    i["digest"].as_str().unwrap().to_string(),
                    i["role"].as_str().unwrap_or("").to_string(),
                ),
            )
        })
        .collect()
}

#[test]
fn resolves_a_correct_hop_with_backout() {
    let u = Upstream::new(Opts::default());
    let out = u.resolve(&[]);
    ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("v1.29.6 is not the newest patch of 1.29 (v1.29.15 is)"),
        "{stderr}"
    );
    assert!(stderr.contains("uncertain"), "{stderr}");

    let lock = u.lock();
    assert_eq!(lock["hop"]["from"], "v1.29.6");
    assert_eq!(lock["hop"]["to"], "v1.30.2");
    let images = lock_images(&lock);
    let mut expected = BTreeMap::new();
    for n in CP {
        expected.insert(
            format!("registry.k8s.io/{n}:v1.30.2"),
            (u.digest(&format!("{n}:v1.30.2")), "target".to_string()),
        );
        expected.insert(
            format!("registry.k8s.io/{n}:v1.29.6"),
            (u.digest(&format!("{n}:v1.29.6")), "backout".to_string()),
        );
    }
    expected.insert(
        "registry.k8s.io/etcd:3.5.15-0".into(),
        (u.digest("etcd:3.5.15-0"), "target".into()),
    );
    expected.insert(
        "registry.k8s.io/etcd:3.5.12-0".into(),
        (u.digest("etcd:3.5.12-0"), "backout".into()),
    );
    // Same name in from and to: listed once, as target.
    expected.insert(
        "registry.k8s.io/coredns/coredns:v1.11.1".into(),
        (u.digest("coredns/coredns:v1.11.1"), "target".into()),
    );
    expected.insert(
        "registry.k8s.io/pause:3.9".into(),
        (u.digest("pause:3.9"), "target".into()),
    );
    assert_eq!(images, expected);

    // Every binary and tool, with the upstream sha256 and the documented target.
    let files: BTreeMap<String, (String, String)> = lock["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["url"].as_str().unwrap().to_string(),
                (
                    f["sha256"].as_str().unwrap().to_string(),
                    f["target"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect();
    assert_eq!(files.len(), 10, "{files:#?}");
    for (url, (sha, target)) in &files {
        assert_eq!(&u.sums[url], sha, "{url}");
        assert!(
            url.contains("amd64"),
            "{url}: only linux/amd64 was asked for"
        );
        assert!(
            target.starts_with("bin/v1.30.2/linux/amd64/")
                || target.starts_with("bin/v1.29.6/linux/amd64/")
                || target.starts_with("tools/"),
            "{target}"
        );
    }
    assert_eq!(
        files["https://github.com/containernetworking/plugins/releases/download/v1.4.0/cni-plugins-linux-amd64-v1.4.0.tgz"].1,
        "tools/cni-plugins/v1.4.0/linux/amd64/cni-plugins-linux-amd64-v1.4.0.tgz"
    );
    assert_eq!(
        files["https://dl.k8s.io/release/v1.29.6/bin/linux/amd64/kubelet"].1,
        "bin/v1.29.6/linux/amd64/kubelet"
    );

    // The checklist: ordered steps with stable ids.
    let ids: Vec<&str> = lock["checklist"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    for id in [
        "pre.version",
        "pre.snapshot",
        "cp1.apply",
        "cp.upgrade",
        "workers.drain",
        "cni.plugins",
        "post.versions",
        "backout.etcd-restore",
        "backout.binaries",
    ] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
    let removed = lock["checklist"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "pre.removed-apis")
        .unwrap();
    assert!(
        removed["title"]
            .as_str()
            .unwrap()
            .contains("flowcontrol.apiserver.k8s.io/v1beta2")
    );
    assert!(lock["notes"].to_string().contains("back-out set included"));

    // No overwrite without --force; with --force the same lock again.
    let before = std::fs::read(u.path("hop.lock")).unwrap();
    let out = u.resolve(&[]);
    assert_fails(&out, 4, "already exists");
    ok(&u.resolve(&["--force"]));
    assert_eq!(
        std::fs::read(u.path("hop.lock")).unwrap(),
        before,
        "resolve is deterministic"
    );
}

#[test]
fn refuses_skipped_minor_and_backward_hops_with_the_plan_command() {
    let work = crate::common::workdir();
    let run = |from: &str, to: &str| {
        Command::cargo_bin("airlock")
            .unwrap()
            .current_dir(work.path())
            .args(["resolve", "--from", from, "--to", to, "--out", "hop.lock"])
            .output()
            .unwrap()
    };
    let out = run("v1.27.16", "v1.30.2");
    assert_fails(&out, 4, "skips minor 1.28, 1.29");
    assert_fails(&out, 4, "airlock plan --from v1.27.16 --to v1.30.2");
    let out = run("v1.30.2", "v1.29.6");
    assert_fails(&out, 4, "kubeadm does not downgrade");
    assert_fails(&out, 4, "airlock plan --from v1.29.6 --to v1.30.2");
    assert_fails(&run("v1.30.99", "v1.31.0"), 4, "--catalog");
    assert_fails(&run("v1.30", "v1.31.0"), 2, "v1.MINOR.PATCH");
    assert!(
        !work.path().join("hop.lock").exists(),
        "no lock may be written"
    );
}

#[test]
fn a_tag_missing_upstream_names_the_image_and_writes_nothing() {
    let u = Upstream::new(Opts {
        skip: vec!["kube-scheduler:v1.30.2"],
        ..Default::default()
    });
    let out = u.resolve(&[]);
    assert_fails(&out, 1, "registry.k8s.io/kube-scheduler:v1.30.2");
    assert!(!u.path("hop.lock").exists(), "no half-written lock");
    assert!(
        std::fs::read_dir(u.work.path()).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".tmp")),
        "no temporary file left"
    );
}

#[test]
fn missing_or_malformed_checksum_files_fail_clearly() {
    let u = Upstream::new(Opts::default());
    let sum = u
        .www
        .join("dl/release/v1.30.2/bin/linux/amd64/kubectl.sha256");
    std::fs::remove_file(&sum).unwrap();
    let out = u.resolve(&[]);
    assert_fails(
        &out,
        1,
        "https://dl.k8s.io/release/v1.30.2/bin/linux/amd64/kubectl.sha256",
    );
    assert_fails(&out, 1, "404");
    std::fs::write(&sum, "not a checksum\n").unwrap();
    assert_fails(&u.resolve(&[]), 1, "malformed checksum file");
    assert!(!u.path("hop.lock").exists());
}

#[test]
fn a_checksum_mismatch_fails_the_build_naming_the_url() {
    let u = Upstream::new(Opts::default());
    ok(&u.resolve(&["--no-backout"]));
    // Upstream content changes after the checksum was published.
    std::fs::write(
        u.www.join("dl/release/v1.30.2/bin/linux/amd64/kubelet"),
        b"tampered",
    )
    .unwrap();
    let (_key, out) = u.keygen_and_build();
    assert_fails(
        &out,
        5,
        "https://dl.k8s.io/release/v1.30.2/bin/linux/amd64/kubelet",
    );
    assert_fails(&out, 5, "sha256 mismatch");
}

#[test]
fn an_index_without_a_requested_platform_is_refused() {
    let u = Upstream::new(Opts {
        amd64_only: vec!["etcd:3.5.15-0"],
        ..Default::default()
    });
    let out = u.resolve(&["--platform", "linux/amd64,linux/arm64"]);
    assert_fails(&out, 1, "registry.k8s.io/etcd:3.5.15-0");
    assert_fails(&out, 1, "no linux/arm64 manifest");
    assert!(!u.path("hop.lock").exists());
    // With amd64 only it resolves; mirrors and insecure hosts from a config file this time.
    let h = u.registry.host();
    let f = u.files.url();
    let config = u.path("airlock.yaml");
    std::fs::write(
        &config,
        format!("mirrors:\n  registry.k8s.io: \"{h}\"\n  https://dl.k8s.io: {f}/dl\n  https://github.com: {f}/gh\ninsecure_registries: [\"{h}\"]\n"),
    )
    .unwrap();
    let args: Vec<String> = [
        "resolve",
        "--from",
        "v1.29.6",
        "--to",
        "v1.30.2",
        "--out",
        "hop.lock",
        "--platform",
        "linux/amd64",
        "--catalog",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([
        u.catalog.display().to_string(),
        "--config".into(),
        config.display().to_string(),
    ])
    .collect();
    ok(&u.airlock(&args).output().unwrap());
    assert!(u.lock()["files"].to_string().contains("amd64"));
}

#[test]
fn a_hop_manifest_adds_images_files_documents_and_charts() {
    let u = Upstream::new(Opts {
        extra: vec!["calico/node:v3.28.1"],
        ..Default::default()
    });
    let calico = b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: calico}\n";
    write_file_tree(&u.www, &[("raw/calico/v3.28.1/calico.yaml", calico)]);
    let dir = u.path("addons");
    std::fs::create_dir_all(dir.join("charts")).unwrap();
    let chart = crate::common::charts::chart_tgz(
        "csi",
        &[("Chart.yaml", b"apiVersion: v2\nname: csi\nversion: 0.1.0\n")],
    );
    std::fs::write(dir.join("charts/csi-0.1.0.tgz"), &chart).unwrap();
    std::fs::write(
        dir.join("storageclass.yaml"),
        b"apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: nfs}\nprovisioner: nfs.csi.k8s.io\n",
    )
    .unwrap();
    let manifest = format!(
        r#"format: 1
kind: airlock-hop-manifest
name: test-addons
images:
  - name: docker.io/calico/node:v3.28.1
files:
  - url: https://raw.example.com/calico/v3.28.1/calico.yaml
    sha256: {calico_sha}
    kind: manifest
    target: addons/calico/calico.yaml
documents:
  - path: storageclass.yaml
charts:
  - path: charts/csi-0.1.0.tgz
    sha256: {chart_sha}
"#,
        calico_sha = sha256_hex(calico),
        chart_sha = sha256_hex(&chart),
    );
    let mpath = dir.join("hop.yaml");
    std::fs::write(&mpath, &manifest).unwrap();
    ok(&u.resolve(&["--with", mpath.to_str().unwrap()]));
    let lock = u.lock();
    let images = lock_images(&lock);
    assert_eq!(
        images["docker.io/calico/node:v3.28.1"],
        (u.digest("calico/node:v3.28.1"), "addon".to_string())
    );
    let files = lock["files"].as_array().unwrap();
    let by_target = |t: &str| {
        files
            .iter()
            .find(|f| f["target"] == t)
            .unwrap_or_else(|| panic!("{t} missing"))
    };
    assert_eq!(
        by_target("addons/calico/calico.yaml")["url"],
        "https://raw.example.com/calico/v3.28.1/calico.yaml"
    );
    let c = by_target("charts/csi-0.1.0.tgz");
    assert_eq!(c["sha256"], sha256_hex(&chart));
    assert_eq!(
        c["path"], "addons/charts/csi-0.1.0.tgz",
        "paths are relative to the lock's directory"
    );
    assert_eq!(c["kind"], "chart");
    assert_eq!(by_target("manifests/storageclass.yaml")["kind"], "manifest");
    let cni = lock["checklist"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "cni.upgrade")
        .unwrap();
    assert!(
        cni["commands"]
            .to_string()
            .contains("addons/calico/calico.yaml"),
        "{cni}"
    );

    // A local file that does not match its pinned sha256 is refused.
    std::fs::write(dir.join("charts/csi-0.1.0.tgz"), b"changed").unwrap();
    let out = u.resolve(&["--with", mpath.to_str().unwrap(), "--force"]);
    assert_fails(&out, 5, "csi-0.1.0.tgz");
    // A malformed hop manifest names the file.
    std::fs::write(
        &mpath,
        "format: 1\nkind: airlock-hop-manifest\nimages: [{name: x, oops: 1}]\n",
    )
    .unwrap();
    assert_fails(
        &u.resolve(&["--with", mpath.to_str().unwrap(), "--force"]),
        4,
        "hop.yaml",
    );
}

#[test]
fn plans_three_hops_through_the_newest_patches() {
    let out = Command::cargo_bin("airlock")
        .unwrap()
        .args(["plan", "--from", "v1.27.16", "--to", "v1.30.2", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    let hops: Vec<(String, String)> = v["hops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["from"].as_str().unwrap().into(),
                h["to"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        hops,
        [
            ("v1.27.16", "v1.28.15"),
            ("v1.28.15", "v1.29.15"),
            ("v1.29.15", "v1.30.2")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    let out = Command::cargo_bin("airlock")
        .unwrap()
        .args(["plan", "--from", "v1.29.6", "--to", "v1.30.2"])
        .output()
        .unwrap();
    let text = ok(&out);
    assert!(text.contains("1. v1.29.6 -> v1.29.15 (patch)"), "{text}");
    assert!(text.contains("2. v1.29.15 -> v1.30.2 (minor)"), "{text}");
}

#[test]
fn resolve_build_install_end_to_end() {
    let u = Upstream::new(Opts::default());
    ok(&u.resolve(&[]));
    let (key, out) = u.keygen_and_build();
    ok(&out);
    // The change report in the bundle carries the resolved runbook and back-out plan, in
    // the air-gap form: images pre-pulled from the enclave registry, etcd tools run from
    // the etcd image.
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(u.path("bundle/report/change-report.json")).unwrap())
            .unwrap();
    let ids = |k: &str| -> Vec<String> {
        report[k]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|s| s["id"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert!(ids("runbook").contains(&"cp1.apply".to_string()));
    assert!(ids("runbook").contains(&"pre.images".to_string()));
    assert!(ids("validation").contains(&"post.etcd".to_string()));
    let backout: Vec<String> = report["backout"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    assert!(backout.contains(&"backout.etcd-restore".to_string()));
    let text = report.to_string();
    assert!(
        text.contains("AIRLOCK_REGISTRY") && text.contains("crictl exec"),
        "{text}"
    );
    assert!(!text.contains("\\\"etcdutl snapshot restore"));

    let enclave = Registry::start();
    let dest = u.path("dest");
    let out = Command::new(crate::common::verify_bin())
        .env("DOCKER_CONFIG", u.path("no-docker-config"))
        .args([
            "install",
            u.path("bundle").to_str().unwrap(),
            "--trust",
            &format!("{}.pub", key.display()),
            "--registry",
            &enclave.host(),
            "--insecure",
            "--dest",
            dest.to_str().unwrap(),
            "--json",
            "--quiet",
        ])
        .output()
        .unwrap();
    ok(&out);
    let installed =
        |rel: &str| std::fs::read(dest.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    assert_eq!(
        sha256_hex(&installed("bin/v1.30.2/linux/amd64/kubeadm")),
        u.sums["https://dl.k8s.io/release/v1.30.2/bin/linux/amd64/kubeadm"]
    );
    assert_eq!(
        sha256_hex(&installed("bin/v1.29.6/linux/amd64/kubelet")),
        u.sums["https://dl.k8s.io/release/v1.29.6/bin/linux/amd64/kubelet"]
    );
    installed("tools/crictl/v1.30.0/linux/amd64/crictl-v1.30.0-linux-amd64.tar.gz");
    // Images are in the enclave registry under their repository names, tags kept.
    let resp = enclave.get("/v2/kube-apiserver/tags/list");
    assert_eq!(resp.status, 200);
    let tags = resp.text();
    assert!(
        tags.contains("v1.30.2") && tags.contains("v1.29.6"),
        "{tags}"
    );
}

#[test]
fn plan_build_resolves_and_builds_each_hop_in_order() {
    let u = Upstream::new(Opts::default());
    // With v1.29.6 as the newest 1.29 patch, v1.29.6 -> v1.30.2 is one minor hop.
    let catalog = u.path("catalog-129-6.yaml");
    std::fs::write(
        &catalog,
        catalog_text().replace("latest_patch: 15", "latest_patch: 6"),
    )
    .unwrap();
    let key = u.path("keys/plan");
    ok(&u
        .airlock(&[
            "keygen".into(),
            "--no-passphrase".into(),
            "--out".into(),
            key.display().to_string(),
        ])
        .output()
        .unwrap());
    let out_dir = u.path("hops");
    let mut args: Vec<String> = [
        "plan", "--from", "v1.29.6", "--to", "v1.30.2", "--build", "--json", "-q",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend([
        "--key".into(),
        format!("{}.key", key.display()),
        "--out-dir".into(),
        out_dir.display().to_string(),
        "--catalog".into(),
        catalog.display().to_string(),
    ]);
    args.extend(u.net_args());
    ok(&u.airlock(&args).output().unwrap());
    let bundle = out_dir.join("airlock-v1.29.6-to-v1.30.2");
    assert!(out_dir.join("airlock-v1.29.6-to-v1.30.2.lock").is_file());
    let out = Command::new(crate::common::verify_bin())
        .args([
            "verify",
            bundle.to_str().unwrap(),
            "--trust",
            &format!("{}.pub", key.display()),
            "--json",
        ])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(v["verified"], true);
    assert_eq!(v["hop"]["to"], "v1.30.2");
    // The bundle carries the resolved images: the target apiserver among them.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("manifest.json")).unwrap()).unwrap();
    let names: Vec<&str> = manifest["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"registry.k8s.io/kube-apiserver:v1.30.2"),
        "{names:?}"
    );
}

#[test]
fn plan_one_bundle_carries_every_hop_once_with_a_stop_between() {
    let u = Upstream::new(Opts {
        versions: vec!["v1.29.3"],
        ..Opts::default()
    });
    // v1.29.3 -> v1.29.6 (patch) -> v1.30.2 (minor) with v1.29.6 the newest 1.29 patch.
    let catalog = u.path("catalog-129-6.yaml");
    std::fs::write(
        &catalog,
        catalog_text().replace("latest_patch: 15", "latest_patch: 6"),
    )
    .unwrap();
    let key = u.path("keys/plan");
    ok(&u
        .airlock(&[
            "keygen".into(),
            "--no-passphrase".into(),
            "--out".into(),
            key.display().to_string(),
        ])
        .output()
        .unwrap());
    let plan = |out_dir: &str, extra: &[&str]| {
        let mut args: Vec<String> = [
            "plan", "--from", "v1.29.3", "--to", "v1.30.2", "--build", "--json", "-q",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend([
            "--key".into(),
            format!("{}.key", key.display()),
            "--out-dir".into(),
            u.path(out_dir).display().to_string(),
            "--catalog".into(),
            catalog.display().to_string(),
        ]);
        args.extend(extra.iter().map(|s| s.to_string()));
        args.extend(u.net_args());
        let out = u.airlock(&args).output().unwrap();
        serde_json::from_str::<serde_json::Value>(&ok(&out)).unwrap()
    };
    let separate = plan("hops", &[]);
    let one = plan("one", &["--one-bundle"]);
    let payload = |b: &serde_json::Value| b["payload_size"].as_u64().unwrap();
    let sum: u64 = separate["hops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| payload(&h["bundle"]))
        .sum();
    let catchup = payload(&one["one_bundle"]["bundle"]);
    // BENCHMARKS.md quotes these figures.
    eprintln!("catch-up payload {catchup} bytes; separate hop payloads {sum} bytes");
    assert!(
        catchup < sum,
        "catch-up {catchup} bytes is not below the hops' {sum}"
    );
    let bundle = u.path("one/airlock-v1.29.3-to-v1.30.2");
    assert!(!u.path("one/airlock-v1.29.3-to-v1.29.6").exists());
    let out = Command::new(crate::common::verify_bin())
        .args([
            "verify",
            bundle.to_str().unwrap(),
            "--trust",
            &format!("{}.pub", key.display()),
            "--json",
        ])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(v["hop"]["from"], "v1.29.3");
    assert_eq!(v["hop"]["to"], "v1.30.2");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("manifest.json")).unwrap()).unwrap();
    let ids: Vec<&str> = manifest["checklist"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    let stop = ids
        .iter()
        .position(|i| *i == "hop1.post.stop-and-verify")
        .expect("a stop between the hops");
    assert!(
        ids[..stop].iter().all(|i| i.starts_with("hop1.")),
        "{ids:?}"
    );
    assert!(
        ids[stop + 1..].iter().all(|i| i.starts_with("hop2.")),
        "{ids:?}"
    );
    assert!(ids.len() > stop + 1);
    // Each blob once: the same pause and coredns of both hops are one entry each.
    let entries: Vec<&str> = manifest["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    let unique: std::collections::BTreeSet<_> = entries.iter().collect();
    assert_eq!(unique.len(), entries.len());
    let names: Vec<&str> = manifest["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    for want in [
        "registry.k8s.io/kube-apiserver:v1.29.6",
        "registry.k8s.io/kube-apiserver:v1.30.2",
    ] {
        assert!(names.contains(&want), "{names:?}");
    }
}
