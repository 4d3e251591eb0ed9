//! The one upstream fixture for catalog-driven hops: a real registry seeded under the real
//! repository names (kube-apiserver, ..., coredns/coredns, pause) and a file server laid out
//! like dl.k8s.io and the GitHub release pages, reached through `--mirror`, with a tiny
//! catalog (`--catalog`) that keeps the number of artifacts small. `resolve`, `keygen`,
//! `build`, `verify` and `install` run the real binaries against it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

use super::cli::{self, Cli};
use super::images::{
    BuiltImage, ImageSpec, LayerSpec, build_layout, linux, push_image, random_bytes, sha256_hex,
    write_file_tree,
};
use super::servers::{FileServer, Registry};

pub const CP: [&str; 4] = [
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kube-proxy",
];

/// The tiny catalog: minors 1.29 and 1.30, with the top-level skew block only.
pub fn catalog_text() -> String {
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

/// The newest patch of each minor [`Opts::later_minors`] adds, and its tools (crictl,
/// cni-plugins) and images (etcd, coredns, pause); the tags follow the real releases.
pub const LATER_MINORS: [(&str, (&str, &str), [&str; 3]); 3] = [
    (
        "v1.31.4",
        ("v1.31.1", "v1.5.1"),
        ["3.5.15-0", "v1.11.3", "3.10"],
    ),
    (
        "v1.32.2",
        ("v1.32.0", "v1.6.0"),
        ["3.5.16-0", "v1.11.3", "3.10"],
    ),
    (
        "v1.33.1",
        ("v1.32.0", "v1.6.2"),
        ["3.5.21-0", "v1.12.0", "3.10"],
    ),
];

/// Adds the etcd, coredns and pause images of [`LATER_MINORS`] not yet in `refs`, in order.
fn later_image_refs(refs: &mut Vec<String>) {
    for (_, _, [etcd, coredns, pause]) in LATER_MINORS {
        for r in [
            format!("etcd:{etcd}"),
            format!("coredns/coredns:{coredns}"),
            format!("pause:{pause}"),
        ] {
            if !refs.contains(&r) {
                refs.push(r);
            }
        }
    }
}

/// The (crictl, cni-plugins) versions the file server holds: 1.29's and 1.30's, and with
/// `later` those of [`LATER_MINORS`], each once.
fn tool_versions(later: bool) -> Vec<(&'static str, &'static str)> {
    let mut tools = vec![("v1.29.0", "v1.3.0"), ("v1.30.0", "v1.4.0")];
    for (_, t, _) in LATER_MINORS.iter().filter(|_| later) {
        if !tools.contains(t) {
            tools.push(*t);
        }
    }
    tools
}

/// The skew policy's limits and kubeadm's, stated (not uncertain) for one minor.
const MINOR_FACTS: &str = "    skew: { kubelet_max_minors_older: 3, kube_proxy_max_minors_older: 3, kube_proxy_max_minors_from_kubelet: 3, control_plane_max_minors_older: 1, kubectl_max_minors_skew: 1, source: [t] }
    kubeadm: { kubelet_max_minors_older: 3, kubelet_too_old_is: skippable, upgrade_node_checks_version: false, node_kubeadm_max_minors_newer: 1, source: [t] }
";

/// `text` with [`MINOR_FACTS`] stated in every minor of the catalog.
pub fn with_minor_facts(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        out.push_str(line);
        out.push('\n');
        if line.starts_with("  - minor: \"1.") {
            out.push_str(MINOR_FACTS);
        }
    }
    out
}

/// The tiny catalog with minors 1.29 to 1.33 ([`LATER_MINORS`]), each with its skew and
/// kubeadm facts, so a catch-up whose workers stay three minors behind can be planned.
pub fn catalog_text_later_minors() -> String {
    let tools = |crictl: &str, cni: &str| {
        format!(
            r#"    tools:
      - {{ name: crictl, version: "{crictl}", url: "https://github.com/kubernetes-sigs/cri-tools/releases/download/{{tool_version}}/crictl-{{tool_version}}-linux-{{arch}}.tar.gz", checksum_url: "{{url}}.sha256", checksum_format: hex, mode: "0644", source: [t] }}
      - {{ name: cni-plugins, version: "{cni}", url: "https://github.com/containernetworking/plugins/releases/download/{{tool_version}}/cni-plugins-linux-{{arch}}-{{tool_version}}.tgz", checksum_url: "{{url}}.sha256", checksum_format: sha256sum, mode: "0644", source: [t] }}
"#
        )
    };
    // Release and end-of-life dates of the real minors.
    let dates = [
        ("2024-08-13", "2025-11-11"),
        ("2024-12-11", "2026-02-28"),
        ("2025-04-23", "2026-06-28"),
    ];
    let mut text = catalog_text();
    for ((v, (crictl, cni), [etcd, coredns, pause]), (released, eol)) in
        LATER_MINORS.iter().zip(dates)
    {
        let (minor, patch) = v[1..].rsplit_once('.').expect("vMAJOR.MINOR.PATCH");
        let removed = if minor == "1.32" {
            "\n      - { group_version: flowcontrol.apiserver.k8s.io/v1beta3, kinds: [FlowSchema], replacement: flowcontrol.apiserver.k8s.io/v1, source: [t] }"
        } else {
            " []"
        };
        text.push_str(&format!(
            r#"  - minor: "{minor}"
    latest_patch: {patch}
    released: "{released}"
    end_of_life: "{eol}"
    source: [t]
    images:
      - {{ name: etcd, repository: etcd, tags: [{{ from_patch: 0, tag: "{etcd}", source: [t] }}] }}
      - {{ name: coredns, repository: coredns/coredns, tags: [{{ from_patch: 0, tag: "{coredns}", source: [t] }}] }}
      - {{ name: pause, repository: pause, tags: [{{ from_patch: 0, tag: "{pause}", source: [t] }}] }}
{tools}    removed_apis:{removed}
"#,
            tools = tools(crictl, cni),
        ));
    }
    with_minor_facts(&text)
}

/// The layers of the `i`th image: two small ones, or the bench hop's shapes when
/// `big_mib` is not 0 (see [`Opts::big_layer_mib`]).
fn layers(i: u64, big_mib: usize) -> Vec<LayerSpec> {
    const MIB: usize = 1024 * 1024;
    let random = |seed: u64, size: usize, gzip: bool| LayerSpec::Random { seed, size, gzip };
    if big_mib == 0 {
        return vec![LayerSpec::shared("base"), random(100 + i, 2048, true)];
    }
    vec![
        // Same seed and size in every image: one shared blob per platform.
        random(1_000_000, 32 * MIB, true),
        random(10_000 + i * 10 + 1, big_mib * MIB, true),
        random(10_000 + i * 10 + 2, 16 * MIB, true),
        random(10_000 + i * 10 + 3, 4 * MIB, true),
        random(10_000 + i * 10 + 4, MIB, false),
    ]
}

/// What to leave out of or change in the upstream fixture.
#[derive(Default)]
pub struct Opts {
    /// `repo:tag` not pushed.
    pub skip: Vec<&'static str>,
    /// `repo:tag` built for linux/amd64 only.
    pub amd64_only: Vec<&'static str>,
    /// Extra images `repo:tag` (pushed under docker.io names via the same registry).
    pub extra: Vec<&'static str>,
    /// Kubernetes versions beyond v1.29.6 and v1.30.2 with images and binaries.
    pub versions: Vec<&'static str>,
    /// When not 0, every image gets the bench hop's layer shapes (`examples/gen_hop.rs`):
    /// a 32 MiB base shared by all images, gzip layers of this many MiB, 16 and 4 MiB,
    /// and 1 MiB uncompressed; all seeded random, as incompressible as real layers.
    /// 0 (the default): two small layers, for tests.
    pub big_layer_mib: usize,
    /// Also serve minors 1.31 to 1.33 ([`LATER_MINORS`]: their images, binaries and
    /// tools) and write [`catalog_text_later_minors`] as the catalog.
    pub later_minors: bool,
}

pub struct Upstream {
    pub work: tempfile::TempDir,
    pub registry: Registry,
    pub files: FileServer,
    pub catalog: PathBuf,
    pub images: BTreeMap<String, BuiltImage>,
    /// Canonical URL -> hex sha256 of the content.
    pub sums: BTreeMap<String, String>,
    pub www: PathBuf,
}

impl Upstream {
    pub fn new(o: Opts) -> Upstream {
        let work = super::workdir();
        let registry = Registry::start();
        let mut refs: Vec<String> = Vec::new();
        let versions: Vec<&str> = ["v1.29.6", "v1.30.2"]
            .into_iter()
            .chain(o.versions.iter().copied())
            .chain(
                o.later_minors
                    .then_some(LATER_MINORS.map(|m| m.0))
                    .into_iter()
                    .flatten(),
            )
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
        if o.later_minors {
            later_image_refs(&mut refs);
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
                    layers: layers(i as u64, o.big_layer_mib),
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
        for (crictl, cni) in tool_versions(o.later_minors) {
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
        let text = if o.later_minors {
            catalog_text_later_minors()
        } else {
            catalog_text()
        };
        std::fs::write(&catalog, text).unwrap();
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

    pub fn path(&self, rel: &str) -> PathBuf {
        self.work.path().join(rel)
    }

    pub fn airlock(&self, args: &[String]) -> Command {
        let mut c = Command::cargo_bin("airlock").expect("airlock binary");
        c.env("AIRLOCK_CACHE", self.path("cache"))
            .env("DOCKER_CONFIG", self.path("no-docker-config"))
            .env_remove("AIRLOCK_CONFIG")
            .current_dir(self.work.path());
        c.args(args);
        c
    }

    pub fn net_args(&self) -> Vec<String> {
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
    pub fn resolve(&self, extra: &[&str]) -> Output {
        self.airlock(&self.resolve_args(extra))
            .output()
            .expect("run airlock resolve")
    }

    /// The arguments of [`Upstream::resolve`]. Upstream provenance is checked by default
    /// and the test upstream is unsigned unless a test signs it (tests/e2e/provenance.rs),
    /// so `--no-provenance` is added unless EXTRA gives a trusted root or says itself.
    pub fn resolve_args(&self, extra: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = ["resolve", "--from", "v1.29.6", "--to", "v1.30.2", "--out"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.push(self.path("hop.lock").display().to_string());
        args.push("--catalog".into());
        args.push(self.catalog.display().to_string());
        args.extend(self.net_args());
        args.extend(extra.iter().map(|s| s.to_string()));
        if !extra
            .iter()
            .any(|a| matches!(*a, "--trusted-root" | "--no-provenance"))
        {
            args.push("--no-provenance".into());
        }
        args
    }

    /// `airlock keygen` into keys/k, then `airlock build hop.lock` into bundle/ through the
    /// mirrors; returns the key prefix and the build's output.
    pub fn keygen_and_build(&self) -> (PathBuf, Output) {
        let key = self.keygen("k");
        (key, self.build("hop.lock", "bundle", &[]).run().output)
    }

    /// `airlock keygen --no-passphrase` into keys/NAME, asserted; returns the key prefix.
    pub fn keygen(&self, name: &str) -> PathBuf {
        cli::keygen(&self.path(&format!("keys/{name}")))
    }

    /// `airlock ARGS` with this upstream's cache and no credentials, in the scratch folder.
    pub fn cli(&self) -> Cli {
        Cli::airlock()
            .env("AIRLOCK_CACHE", self.path("cache"))
            .env("DOCKER_CONFIG", self.path("no-docker-config"))
            .dir(self.work.path())
    }

    /// `airlock build LOCK --key keys/k.key --out OUT --quiet NET EXTRA` (LOCK and OUT
    /// relative to the scratch folder), to run.
    pub fn build(&self, lock: &str, out: &str, extra: &[&str]) -> Cli {
        self.cli()
            .arg("build")
            .arg(self.path(lock))
            .args(["--key", &cli::key_of(&self.path("keys/k"))])
            .arg("--out")
            .arg(self.path(out))
            .arg("--quiet")
            .args(self.net_args())
            .args(extra)
    }

    /// `airlock-verify verify bundle --trust KEY.pub --quiet EXTRA`, to run.
    pub fn verify(&self, key: &Path, extra: &[&str]) -> Cli {
        Cli::verify()
            .arg("verify")
            .arg(self.path("bundle"))
            .args(["--trust", &cli::pub_of(key), "--quiet"])
            .args(extra)
    }

    /// This upstream's catalog with `latest_patch: 6` for 1.29, so v1.29.6 is its newest
    /// patch (written to catalog-129-6.yaml).
    pub fn catalog_129_6(&self) -> PathBuf {
        let path = self.path("catalog-129-6.yaml");
        let text = std::fs::read_to_string(&self.catalog).expect("read the test catalog");
        let text = text.replace("latest_patch: 15", "latest_patch: 6");
        std::fs::write(&path, text).expect("write catalog-129-6.yaml");
        path
    }

    /// `airlock plan --from FROM --to TO --build --json -q --key KEY.key --out-dir OUT
    /// --catalog CATALOG --no-provenance EXTRA NET`, to run (the test upstream is unsigned;
    /// see `resolve_args`).
    pub fn plan_build(&self, hop: (&str, &str), key: &Path, out: &Path, catalog: &Path) -> Cli {
        self.plan_build_checked(hop, key, out, catalog)
            .arg("--no-provenance")
    }

    /// As [`Upstream::plan_build`] without `--no-provenance`: give `--trusted-root`.
    pub fn plan_build_checked(
        &self,
        hop: (&str, &str),
        key: &Path,
        out: &Path,
        catalog: &Path,
    ) -> Cli {
        self.cli()
            .args([
                "plan", "--from", hop.0, "--to", hop.1, "--build", "--json", "-q",
            ])
            .args(["--key", &cli::key_of(key), "--out-dir"])
            .arg(out)
            .arg("--catalog")
            .arg(catalog)
    }

    /// `airlock-verify install bundle --trust KEY.pub --registry ENCLAVE --insecure --dest
    /// DEST --json --quiet`, to run.
    pub fn install(&self, key: &Path, enclave: &Registry, dest: &Path) -> Cli {
        Cli::verify()
            .env("DOCKER_CONFIG", self.path("no-docker-config"))
            .arg("install")
            .arg(self.path("bundle"))
            .args(["--trust", &cli::pub_of(key), "--registry", &enclave.host()])
            .args(["--insecure", "--dest"])
            .arg(dest)
            .args(["--json", "--quiet"])
    }

    /// `airlock-verify install bundle --policy POLICY --registry ENCLAVE --insecure --dest
    /// work/dest --json --quiet`, to run.
    pub fn install_under_policy(&self, policy: &Path, enclave: &Registry) -> Cli {
        Cli::verify()
            .env("DOCKER_CONFIG", self.path("no-docker-config"))
            .arg("install")
            .arg(self.path("bundle"))
            .arg("--policy")
            .arg(policy)
            .args(["--registry", &enclave.host(), "--insecure", "--dest"])
            .arg(self.path("dest"))
            .args(["--json", "--quiet"])
    }

    pub fn lock(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.path("hop.lock")).expect("read lock");
        serde_saphyr::from_str(&text).expect("lock is YAML")
    }

    pub fn digest(&self, r: &str) -> String {
        self.images[r].index_digest.clone()
    }
}

pub fn lock_images(lock: &serde_json::Value) -> BTreeMap<String, (String, String)> {
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
