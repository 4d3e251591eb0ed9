//! Node packages in catch-up bundles whose workers skip minors (issue 26): `airlock plan
//! --workers skip --build --one-bundle --packages ...` with an architecture
//! (`--worker-arch`) or a package format (`--worker-packages`) only workers use. Their
//! packages are carried only where workers install them: every package of a minor they
//! land on; kubeadm and the cri-tools its package asks for in a kubeadm-only minor; what
//! the workers' back-outs reinstall. Real apt-get and dnf, as a worker still at 1.29 after
//! the control plane's first phase, install that phase's kubeadm from the installed mirror
//! (cri-tools with it) and cannot get the kubelet the worker skips.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::catch_up::{files_of, minor_of};
use crate::common::cli::{self, Cli, ok};
use crate::common::packages::{
    PgpKey, PkgSpec, apt_on_node, build_deb_repo, build_rpm_repo, dnf, k8s_packages,
};
use crate::common::read_json;
use crate::common::servers::Registry;
use crate::common::upstream::{LATER_MINORS, Opts, Upstream};

/// The plan's versions: the test upstream's 1.29 and its later minors.
fn chain() -> [&'static str; 5] {
    [
        "v1.29.6",
        "v1.30.2",
        "v1.31.4",
        "v1.32.2",
        LATER_MINORS[2].0,
    ]
}

/// The five packages of version `v`, deb-versioned (`1.30.2-1.1`; rpm: `1.30.2` with the
/// release `150500.1.1`); cri-tools of the same minor.
fn packages_of(v: &str) -> Vec<PkgSpec> {
    let k8s = format!("{}-1.1", v.trim_start_matches('v'));
    k8s_packages(&k8s, &format!("1.{}.0-1.1", minor_of(v)), "1.4.0-1.1")
}

/// Whether workers of the 1.29.6 -> 1.33 skipping plan install package `name` of `v`:
/// landings at 1.32 and 1.33; kubeadm-only steps at 1.30 and 1.31, whose back-outs
/// reinstall 1.29's and 1.30's kubeadm; the landing at 1.32 backs out to 1.29's kubelet
/// and kubectl (and 1.31's kubeadm).
fn workers_install(v: &str, name: &str) -> bool {
    let lands = ["v1.32.2", LATER_MINORS[2].0].contains(&v);
    let kubeadm_step = ["v1.30.2", "v1.31.4"].contains(&v);
    let kubeadm_backout = ["v1.29.6", "v1.30.2", "v1.31.4"].contains(&v);
    lands
        || (kubeadm_step && ["kubeadm", "cri-tools"].contains(&name))
        || (kubeadm_backout && name == "kubeadm")
        || (v == "v1.29.6" && ["kubelet", "kubectl"].contains(&name))
}

/// A skipping catch-up bundle built from repositories for every minor of [`chain`]: deb
/// for `deb_arches`, rpm for `rpm_arches` (none: no rpm repositories).
struct Built {
    u: Upstream,
    pgp: PgpKey,
    key: PathBuf,
    bundle: PathBuf,
    /// Package targets the manifest's repositories list.
    carried: Vec<String>,
    /// target -> size of every file.
    files: BTreeMap<String, u64>,
}

impl Built {
    fn new(deb_arches: &[&str], rpm_arches: &[&str], plan_args: &[&str]) -> Built {
        let u = Upstream::new(Opts {
            later_minors: true,
            ..Opts::default()
        });
        let pgp = PgpKey::generate(&u.path("pgp"), "Kubernetes packages (test)");
        for v in chain() {
            let base = u.www.join(format!("pkgs/core:/stable:/v1.{}", minor_of(v)));
            build_deb_repo(&base.join("deb"), &packages_of(v), deb_arches, &pgp);
            if !rpm_arches.is_empty() {
                build_rpm_repo(&base.join("rpm"), &packages_of(v), rpm_arches, &pgp);
            }
        }
        let key = u.keygen("plan");
        let target = LATER_MINORS[2].0;
        let out = u
            .plan_build(
                ("v1.29.6", target),
                &key,
                &u.path("skip"),
                &u.catalog_129_6(),
            )
            .args(["--one-bundle", "--workers", "skip", "--package-key"])
            .arg(&pgp.armored)
            .args(plan_args)
            .args(u.net_args())
            .ok()
            .json();
        let phases = out["schedule"]["phases"].as_array().unwrap();
        let of = |k: &str| -> Vec<&str> { phases.iter().filter_map(|p| p[k].as_str()).collect() };
        assert_eq!(of("workers"), ["v1.32.2", target], "{out}");
        assert_eq!(of("workers_kubeadm"), ["v1.30.2", "v1.31.4"], "{out}");
        let bundle = u.path("skip").join(format!("airlock-v1.29.6-to-{target}"));
        let manifest = read_json(&bundle.join("manifest.json"));
        let carried = manifest["package_repositories"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["packages"].as_array().unwrap())
            .map(|p| p["target"].as_str().unwrap().to_string())
            .collect();
        let files = files_of(&bundle);
        Built {
            u,
            pgp,
            key,
            bundle,
            carried,
            files,
        }
    }

    /// Every package of every version, in each of `formats` (format, architecture), is
    /// carried (listed and a file) exactly when `expect(version, name, format, arch)`.
    fn assert_packages(
        &self,
        formats: &[(&str, &str)],
        expect: impl Fn(&str, &str, &str, &str) -> bool,
    ) {
        for v in chain() {
            for p in packages_of(v) {
                for (format, arch) in formats {
                    let file = target_of(v, &p, format, arch);
                    let want = expect(v, &p.name, format, arch);
                    assert_eq!(self.carried.contains(&file), want, "{file}");
                    assert_eq!(self.files.contains_key(&file), want, "{file}");
                }
            }
        }
    }

    /// Verified, then installed with the mirror under mirror/; the install's JSON report.
    fn install(&self) -> serde_json::Value {
        Cli::verify()
            .arg("verify")
            .arg(&self.bundle)
            .args(["--trust", &cli::pub_of(&self.key)])
            .ok();
        let enclave = Registry::start();
        Cli::verify()
            .env("DOCKER_CONFIG", self.u.path("no-docker-config"))
            .arg("install")
            .arg(&self.bundle)
            .args([
                "--trust",
                &cli::pub_of(&self.key),
                "--registry",
                &enclave.host(),
            ])
            .args(["--insecure", "--dest"])
            .arg(self.u.path("dest"))
            .arg("--packages-dir")
            .arg(self.u.path("mirror"))
            .args(["--json", "--quiet"])
            .ok()
            .json()
    }

    /// 1.30's kubeadm and cri-tools (the kubeadm-only step's) of `format` and `arch`, as a
    /// package manager fetched them into `dir` (it said `said`), are upstream's bytes.
    fn fetched_as_upstream(&self, dir: &std::path::Path, format: &str, arch: &str, said: &str) {
        let step = packages_of("v1.30.2");
        for p in step
            .iter()
            .filter(|p| ["kubeadm", "cri-tools"].contains(&p.name.as_str()))
        {
            let file = target_of("v1.30.2", p, format, arch);
            let name = file.rsplit('/').next().unwrap();
            let fetched = std::fs::read(dir.join(name))
                .unwrap_or_else(|e| panic!("{name} not fetched: {e}\n{said}"));
            let rel = file.strip_prefix("packages/").unwrap();
            let upstream = self.u.www.join("pkgs/core:/stable:").join(rel);
            assert_eq!(fetched, std::fs::read(upstream).unwrap(), "{name}");
        }
    }
}

/// The mirror path of package `p` of version `v` as pkgs.k8s.io lays it out.
fn target_of(v: &str, p: &PkgSpec, format: &str, arch: &str) -> String {
    let dir = format!("packages/v1.{}/{format}/{arch}", minor_of(v));
    match format {
        "deb" => format!("{dir}/{}_{}_{arch}.deb", p.name, p.version),
        _ => {
            let version = p.version.split('-').next().unwrap();
            format!("{dir}/{}-{version}-{}.{arch}.rpm", p.name, p.release)
        }
    }
}

/// The field `field` of the install report's repository at `dir` (`v1.30/deb`).
fn repository(report: &serde_json::Value, dir: &str, field: &str) -> String {
    let repos = report["packages"]["repositories"].as_array().unwrap();
    let r = repos
        .iter()
        .find(|r| r["path"].as_str().unwrap().ends_with(dir))
        .unwrap_or_else(|| panic!("{dir} in {report}"));
    r[field].as_str().unwrap().to_string()
}

#[test]
fn worker_arch_packages_follow_the_workers_and_apt_installs_the_kubeadm_only_step() {
    let b = Built::new(
        &["amd64", "arm64"],
        &[],
        &[
            "--arch",
            "amd64",
            "--worker-arch",
            "arm64",
            "--packages",
            "deb",
            "--platform",
            "linux/amd64,linux/arm64",
        ],
    );
    b.assert_packages(&[("deb", "amd64"), ("deb", "arm64")], |v, name, _, arch| {
        arch == "amd64" || workers_install(v, name)
    });
    let report = b.install();
    let sources = |minor: u32| {
        repository(&report, &format!("v1.{minor}/deb"), "sources_list").replace(
            "/etc/apt/keyrings/kubernetes-apt-keyring.gpg",
            &b.pgp.keyring.display().to_string(),
        )
    };
    // An arm64 worker at 1.29.6, as dpkg records it, during phase 1 (control plane to 1.30).
    let installed = dpkg_status("v1.29.6", "arm64");
    let aptdir = b.u.path("apt-worker");
    let line = sources(30);
    let apt = |args: &[&str]| apt_on_node(&aptdir, &line, Some("arm64"), &installed, args);
    ok(&apt(&["update"]));
    // The runbook's phase1.workers.kubeadm: kubeadm of 1.30, which asks for cri-tools 1.30.
    let text = ok(&apt(&[
        "install",
        "-y",
        "--download-only",
        "kubeadm=1.30.2-*",
    ]));
    assert!(
        text.contains("The following packages will be upgraded:\n  cri-tools kubeadm\n"),
        "{text}"
    );
    // The same two, fetched into download/ to compare with upstream's bytes (a file: mirror
    // is read in place, not copied into apt's cache).
    let text = ok(&apt(&[
        "download",
        "kubeadm=1.30.2-1.1",
        "cri-tools=1.30.0-1.1",
    ]));
    b.fetched_as_upstream(&aptdir.join("download"), "deb", "arm64", &text);
    // The kubelet the worker skips is listed by the signed index but not carried.
    // (`download` takes no dependencies: kubelet's iptables and the rest are not here.)
    let skipped = apt(&["download", "kubelet=1.30.2-1.1"]);
    let text = String::from_utf8_lossy(&skipped.stderr);
    assert!(
        !skipped.status.success() && text.contains("kubelet_1.30.2-1.1_arm64.deb"),
        "kubelet 1.30.2 arm64 is left out: {text}"
    );
    // Where workers land (1.32) apt gets the kubelet too.
    let line = sources(32);
    let landing = |args: &[&str]| {
        apt_on_node(
            &b.u.path("apt-land"),
            &line,
            Some("arm64"),
            &installed,
            args,
        )
    };
    ok(&landing(&["update"]));
    ok(&landing(&["download", "kubelet=1.32.2-1.1"]));

    // Phase 3's worker back-out, as on an arm64 worker that landed on 1.32.2: kubelet and
    // kubectl 1.29.6 from 1.29's mirror, kubeadm 1.31.4 (the kubeadm-only step's) from
    // 1.31's, downgrading; real apt resolves both from the installed mirror.
    let manifest = read_json(&b.bundle.join("manifest.json"));
    let steps = manifest["checklist"].as_array().unwrap();
    let backout = steps
        .iter()
        .find(|s| s["id"] == "phase3.backout.workers")
        .unwrap();
    let text = backout["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap());
    let text: Vec<&str> = text.collect();
    let text = text.join("\n");
    for want in [
        " v1.29/deb > ",
        "--allow-downgrades kubelet='1.29.6-*' kubectl='1.29.6-*'",
        " v1.31/deb > ",
        "--allow-downgrades kubeadm='1.31.4-*'",
    ] {
        assert!(text.contains(want), "{want} in {text}");
    }
    let landed = dpkg_status("v1.32.2", "arm64");
    for (minor, pins, said) in [
        (
            29,
            ["kubelet=1.29.6-*", "kubectl=1.29.6-*"].as_slice(),
            "kubectl kubelet",
        ),
        (31, ["kubeadm=1.31.4-*"].as_slice(), "kubeadm"),
    ] {
        let line = sources(minor);
        let dir = b.u.path(&format!("apt-backout-{minor}"));
        let apt = |args: &[&str]| apt_on_node(&dir, &line, Some("arm64"), &landed, args);
        ok(&apt(&["update"]));
        let mut args = vec!["install", "-y", "--download-only", "--allow-downgrades"];
        args.extend(pins);
        let text = ok(&apt(&args));
        let downgraded = format!("The following packages will be DOWNGRADED:\n  {said}\n");
        assert!(text.contains(&downgraded), "{text}");
    }
}

/// A dpkg status file of a node of `arch` running version `v`'s packages, and what the
/// kubelet package asks for (as a node's base system has it).
fn dpkg_status(v: &str, arch: &str) -> String {
    let system = [
        "iptables",
        "iproute2",
        "socat",
        "util-linux",
        "mount",
        "ethtool",
        "ebtables",
        "conntrack",
    ]
    .map(|name| (name.to_string(), "1.8.9-2".to_string()));
    let ours = packages_of(v).into_iter().map(|p| (p.name, p.version));
    ours.chain(system)
        .map(|(name, version)| {
            format!(
                "Package: {name}\nStatus: install ok installed\nPriority: optional\nSection: admin\nMaintainer: test\nArchitecture: {arch}\nVersion: {version}\nDescription: {name}\n\n"
            )
        })
        .collect()
}

/// Control plane on deb, workers on rpm (`--worker-packages rpm`): every deb package of
/// every version, the rpm ones only where workers install them; real dnf on the installed
/// rpm mirror of a kubeadm-only minor gets kubeadm and cri-tools, not the kubelet.
#[test]
fn worker_package_format_follows_the_workers_and_dnf_reads_the_kubeadm_only_minor() {
    let b = Built::new(
        &["amd64"],
        &["x86_64"],
        &[
            "--arch",
            "amd64",
            "--packages",
            "deb,rpm",
            "--worker-packages",
            "rpm",
        ],
    );
    b.assert_packages(
        &[("deb", "amd64"), ("rpm", "x86_64")],
        |v, name, format, _| format == "deb" || workers_install(v, name),
    );
    let report = b.install();
    let repo_file = repository(&report, "v1.30/rpm", "repo_file").replace(
        "file:///etc/pki/rpm-gpg/kubernetes.key",
        &format!("file://{}", b.pgp.armored.display()),
    );
    let dnfdir = b.u.path("dnf");
    let dest = dnfdir.join("download");
    let download = |what: &[&str]| {
        let mut args = vec!["--disableexcludes=kubernetes", "download", "--destdir"];
        let d = dest.display().to_string();
        args.push(&d);
        args.extend(what);
        dnf(&dnfdir, &repo_file, &args)
    };
    let text = ok(&download(&[
        "kubeadm-1.30.2-150500.1.1",
        "cri-tools-1.30.0-150500.1.1",
    ]));
    b.fetched_as_upstream(&dest, "rpm", "x86_64", &text);
    // Listed by the signed repodata, not carried: dnf fails fetching that very file.
    let skipped = download(&["kubelet-1.30.2-150500.1.1"]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&skipped.stdout),
        String::from_utf8_lossy(&skipped.stderr)
    );
    assert!(
        !skipped.status.success() && said.contains("kubelet-1.30.2-150500.1.1.x86_64.rpm"),
        "kubelet 1.30.2 rpm is left out: {said}"
    );
    assert!(!dest.join("kubelet-1.30.2-150500.1.1.x86_64.rpm").exists());
}
