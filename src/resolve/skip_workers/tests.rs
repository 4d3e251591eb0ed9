use std::collections::BTreeSet;

use super::runbook::minor;
use super::*;
use crate::catalog::{Catalog, Version, schedule};
use crate::digest::Sha256Digest;
use crate::lock::{FileSource, LockedFile};
use crate::manifest::{FileKind, Hop, Mode, WorkersMode};
use crate::manifest::{Phase, Role, SchedulePhase, Step};

/// Workers alone run arm64.
fn arm64() -> WorkerOnly {
    WorkerOnly {
        arches: vec!["arm64".to_string()],
        package_formats: vec![],
    }
}

/// The builtin catalog, its skipping schedule 1.33 -> 1.37.0 and the plan's versions
/// (each minor's newest patch, then v1.37.0).
fn skip_33_to_37() -> (Catalog, Schedule, [String; 5]) {
    let c = Catalog::builtin().unwrap();
    let p = |m: &str| format!("v1.{m}.{}", c.latest_patch(&format!("1.{m}")).unwrap());
    let chain = [p("33"), p("34"), p("35"), p("36"), "v1.37.0".to_string()];
    let sched =
        schedule::schedule(&c, &v(&chain[0]), &v(&chain[4]), WorkersMode::Skip, true).unwrap();
    (c, sched, chain)
}

fn v(s: &str) -> Version {
    s.parse().unwrap()
}

/// A hop lock with kubeadm, kubelet and kubectl for amd64 and arm64 of both ends, and worker and
/// back-out steps, as resolve writes them.
fn hop_lock(from: &str, to: &str) -> Lock {
    let mut l = Lock::new();
    l.hop = Some(Hop {
        from: from.into(),
        to: to.into(),
    });
    for ver in [to, from] {
        for (arch, name) in [
            ("amd64", "kubeadm"),
            ("amd64", "kubelet"),
            ("amd64", "kubectl"),
            ("arm64", "kubeadm"),
            ("arm64", "kubelet"),
            ("arm64", "kubectl"),
        ] {
            let target = format!("bin/{ver}/linux/{arch}/{name}");
            l.files.push(LockedFile {
                name: name.into(),
                source: FileSource::Url(format!(
                    "https://dl.k8s.io/release/{ver}/bin/linux/{arch}/{name}"
                )),
                sha256: Sha256Digest::of(target.as_bytes()),
                size: Some(target.len() as u64),
                target: crate::paths::SafeRelPath::new(&target).unwrap(),
                mode: "0755".parse::<Mode>().unwrap(),
                kind: Some(FileKind::Binary),
            });
        }
    }
    let s = |id: &str, phase| Step {
        check: Some("ok".into()),
        commands: vec!["true".into()],
        id: id.into(),
        phase,
        title: id.into(),
    };
    l.checklist = Some(vec![
        s("cp1.apply", Phase::Cp1),
        s("workers.kubeadm", Phase::Workers),
        s("workers.drain", Phase::Workers),
        s("cni.plugins", Phase::Cni),
        s("post.versions", Phase::Post),
        s("backout.binaries", Phase::Backout),
    ]);
    l
}

#[test]
fn workers_steps_and_worker_arch_files_only_where_workers_land() {
    let (c, sched, chain) = skip_33_to_37();
    let p = |m: &str| format!("v1.{m}.{}", c.latest_patch(&format!("1.{m}")).unwrap());
    let (from, to) = (chain[0].clone(), chain[4].clone());
    let hops: Vec<Lock> = chain.windows(2).map(|w| hop_lock(&w[0], &w[1])).collect();
    let m = merge(&hops, &sched, &arm64(), &c).unwrap();
    let ids: Vec<&str> = m
        .checklist
        .iter()
        .flatten()
        .map(|s| s.id.as_str())
        .collect();
    let unique: BTreeSet<&&str> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");
    for n in 1..=4 {
        let pos = |id: String| {
            ids.iter()
                .position(|i| *i == id)
                .unwrap_or_else(|| panic!("{id} in {ids:?}"))
        };
        assert!(pos(format!("phase{n}.pre.schedule-skew")) < pos(format!("phase{n}.cp1.apply")));
        if n < 4 {
            let stop = pos(format!("phase{n}.post.stop-and-verify"));
            assert!(pos(format!("phase{n}.backout.workers")) < stop);
            assert!(stop < pos(format!("phase{}.pre.schedule-skew", n + 1)));
        }
    }
    // Workers are drained in phase 3 (to 1.36, a jump of three minors) and 4 only; in
    // phases 1 and 2 they take the control plane's kubeadm and kubeadm upgrade node only.
    let workers: Vec<&str> = ids
        .iter()
        .copied()
        .filter(|i| i.contains(".workers."))
        .collect();
    assert_eq!(
        workers,
        [
            "phase1.workers.stay",
            "phase1.workers.kubeadm",
            "phase2.workers.stay",
            "phase2.workers.kubeadm",
            "phase3.workers.jump",
            "phase3.workers.kubeadm",
            "phase3.workers.drain",
            "phase4.workers.kubeadm",
            "phase4.workers.drain",
        ]
    );
    let title = |id: &str| {
        m.checklist
            .iter()
            .flatten()
            .find(|s| s.id == id)
            .unwrap()
            .title
            .clone()
    };
    assert!(
        title("phase1.workers.kubeadm").contains("no drain, kubelet unchanged"),
        "{}",
        title("phase1.workers.kubeadm")
    );
    assert!(title("phase2.workers.stay").contains(&format!("takes kubeadm {}", p("35"))));
    // Where workers stay, the steps a hop runs on every node are the control plane's
    // only, and the post check expects the workers still at their version.
    for n in [1, 2] {
        let cni = title(&format!("phase{n}.cni.plugins"));
        assert!(
            cni.contains(&format!("Control-plane nodes only (workers stay at {from}")),
            "{cni}"
        );
        let post = title(&format!("phase{n}.post.versions"));
        assert!(
            post.contains(&format!("every worker still {from}")),
            "{post}"
        );
    }
    // Phase 1's kubeadm-only step backs out to the kubeadm the workers started with,
    // phase 2's to phase 1's.
    let backout = title("phase1.backout.workers");
    assert!(
        backout.contains(&format!("reinstall kubeadm {from} ")),
        "{backout}"
    );
    let backout = title("phase2.backout.workers");
    assert!(
        backout.contains(&format!("reinstall kubeadm {} ", p("34"))),
        "{backout}"
    );
    // A landing's back-out returns the workers to the kubelet, kubectl and kubeadm they ran
    // before it, all carried: phase 3 to 1.33's kubelet and 1.35's kubeadm.
    for (n, kubelet, kubeadm) in [(3, from.clone(), p("35")), (4, p("36"), p("36"))] {
        let backout = title(&format!("phase{n}.backout.workers"));
        let says = format!("reinstall kubelet and kubectl {kubelet} and kubeadm {kubeadm}, ");
        assert!(backout.contains(&says), "{backout}");
        assert!(backout.contains("in this bundle: "), "{backout}");
        // Its commands: drain, the loose binaries of those versions, restart, uncordon.
        let id = format!("phase{n}.backout.workers");
        let step = m.checklist.iter().flatten().find(|s| s.id == id).unwrap();
        let c = &step.commands;
        assert!(c[0].starts_with("kubectl drain"), "{c:?}");
        let installs = |v: &str, name: &str| {
            let path = format!("/bin/{v}/linux/\"${{ARCH}}\"/{name} ");
            c.iter()
                .any(|c| c.starts_with("install -m 0755 ") && c.contains(&path))
        };
        for (v, name) in [
            (&kubelet, "kubelet"),
            (&kubelet, "kubectl"),
            (&kubeadm, "kubeadm"),
        ] {
            assert!(installs(v, name), "{v} {name}: {c:?}");
        }
        let restart = c
            .iter()
            .position(|c| c.contains("restart kubelet"))
            .unwrap();
        assert!(c[restart + 1].starts_with("kubectl uncordon"), "{c:?}");
    }
    // A kubeadm-only step's back-out installs the kubeadm before it, nothing else.
    let step = m
        .checklist
        .iter()
        .flatten()
        .find(|s| s.id == "phase2.backout.workers");
    let c = &step.unwrap().commands;
    assert_eq!(c.len(), 2, "{c:?}");
    assert!(
        c[0].contains(&format!("/bin/{}/linux/", p("34"))) && c[0].ends_with("/usr/bin/kubeadm"),
        "{c:?}"
    );
    for n in [3, 4] {
        assert!(!title(&format!("phase{n}.cni.plugins")).contains("Control-plane nodes only"));
        assert!(!title(&format!("phase{n}.post.versions")).contains("every worker still"));
    }
    // amd64 (control plane) for every version; arm64 kubelets only for the landing
    // versions and 1.33, which phase 3's back-out returns the workers to; arm64 kubeadm
    // also for the kubeadm-only phases and for 1.33: phase 1's kubeadm-only step backs out
    // to it.
    let targets: Vec<String> = m.files.iter().map(|f| f.target.to_string()).collect();
    for ver in &chain {
        for name in ["kubeadm", "kubelet"] {
            assert!(
                targets.contains(&format!("bin/{ver}/linux/amd64/{name}")),
                "{ver}"
            );
        }
        let arm = targets.contains(&format!("bin/{ver}/linux/arm64/kubelet"));
        assert_eq!(
            arm,
            *ver == from || *ver == p("36") || *ver == to,
            "{ver}: {targets:?}"
        );
        assert!(
            targets.contains(&format!("bin/{ver}/linux/arm64/kubeadm")),
            "{ver}: {targets:?}"
        );
    }
    assert_eq!(m.schedule.as_ref(), Some(&sched));
    assert!(
        m.notes
            .iter()
            .any(|n| n.contains("4 file(s) only workers use (arm64)")),
        "{:?}",
        m.notes
    );
    // Every step says what to check and has a command.
    for s in m.checklist.iter().flatten() {
        assert!(s.check.is_some() && !s.commands.is_empty(), "{s:?}");
    }
}

/// `hop_lock` plus, for both arches, the tools of both ends' minors (the from-minor's are
/// the back-out set), as resolve writes them.
fn hop_lock_with_tools(c: &Catalog, from: &str, to: &str) -> Lock {
    let mut l = hop_lock(from, to);
    for ver in [to, from] {
        for t in &c.minor_of(&v(ver)).unwrap().tools {
            for arch in ["amd64", "arm64"] {
                let target = format!("tools/{}/{}/linux/{arch}/{}.tgz", t.name, t.version, t.name);
                if l.files.iter().any(|f| f.target.to_string() == target) {
                    continue;
                }
                l.files.push(LockedFile {
                    name: t.name.clone(),
                    source: FileSource::Url(format!("https://example.com/{target}")),
                    sha256: Sha256Digest::of(target.as_bytes()),
                    size: Some(target.len() as u64),
                    target: crate::paths::SafeRelPath::new(&target).unwrap(),
                    mode: "0644".parse::<Mode>().unwrap(),
                    kind: Some(FileKind::Tool),
                });
            }
        }
    }
    l
}

#[test]
fn worker_arch_tools_only_of_the_minors_workers_land_on() {
    let (c, sched, chain) = skip_33_to_37();
    let p = |m: &str| format!("v1.{m}.{}", c.latest_patch(&format!("1.{m}")).unwrap());
    let hops: Vec<Lock> = chain
        .windows(2)
        .map(|w| hop_lock_with_tools(&c, &w[0], &w[1]))
        .collect();
    let m = merge(&hops, &sched, &arm64(), &c).unwrap();
    let targets: BTreeSet<String> = m.files.iter().map(|f| f.target.to_string()).collect();
    let landing: Vec<&str> = sched
        .phases
        .iter()
        .filter_map(|p| p.workers.as_deref())
        .collect();
    let tools_of = |ver: &str| -> Vec<String> {
        c.minor_of(&v(ver))
            .unwrap()
            .tools
            .iter()
            .map(|t| format!("tools/{}/{}/", t.name, t.version))
            .collect()
    };
    let kept: BTreeSet<String> = landing.iter().flat_map(|w| tools_of(w)).collect();
    for ver in &chain {
        for prefix in tools_of(ver) {
            let has = |arch: &str| {
                targets
                    .iter()
                    .any(|t| t.starts_with(&prefix) && t.contains(&format!("/linux/{arch}/")))
            };
            // The control plane's architecture keeps every minor's tools.
            assert!(has("amd64"), "{prefix}");
            assert_eq!(
                has("arm64"),
                kept.contains(&prefix),
                "{prefix}: {targets:?}"
            );
        }
    }
    // 1.35's tools (the back-out set of the landing hop to 1.36) are among those left out,
    // unless a landing minor shares them.
    assert!(tools_of(&p("35")).iter().any(|t| !kept.contains(t)));
}

/// A mirror file of `kind` at `target`.
fn mirror_file(target: &str, kind: FileKind) -> LockedFile {
    LockedFile {
        name: target.rsplit('/').next().unwrap().into(),
        source: FileSource::Url(format!("https://pkgs.k8s.io/core:/stable:/{target}")),
        sha256: Sha256Digest::of(target.as_bytes()),
        size: Some(target.len() as u64),
        target: crate::paths::SafeRelPath::new(target).unwrap(),
        mode: "0644".parse::<Mode>().unwrap(),
        kind: Some(kind),
    }
}

/// `hop_lock` plus, as `resolve --packages deb,rpm` writes them, the deb and rpm
/// repositories of both ends' minors: the five node packages of `to` (role target) and of
/// `from` (role back-out), for amd64 and arm64, and one metadata file each.
fn hop_lock_with_packages(from: &str, to: &str) -> Lock {
    use crate::manifest::{CarriedPackage, PackageFormat, PackageRepository};
    let mut l = hop_lock(from, to);
    for (ver, role) in [(to, Role::Target), (from, Role::Backout)] {
        let minor = minor(ver);
        for format in [PackageFormat::Deb, PackageFormat::Rpm] {
            let dir = format!("packages/v1.{minor}/{format}");
            l.files.push(mirror_file(
                &format!("{dir}/InRelease"),
                FileKind::PackageMetadata,
            ));
            let mut packages = Vec::new();
            for arch in ["amd64", "arm64"] {
                let arch = crate::packages::package_arch(format, arch);
                for name in [
                    "kubeadm",
                    "kubelet",
                    "kubectl",
                    "cri-tools",
                    "kubernetes-cni",
                ] {
                    let version = match name {
                        "cri-tools" => format!("1.{minor}.0-1.1"),
                        "kubernetes-cni" => "1.4.0-1.1".to_string(),
                        _ => format!("{}-1.1", ver.trim_start_matches('v')),
                    };
                    let target = format!("{dir}/{arch}/{name}_{version}_{arch}.{format}");
                    l.files.push(mirror_file(&target, FileKind::Package));
                    packages.push(CarriedPackage {
                        name: name.into(),
                        version,
                        arch: arch.clone(),
                        role,
                        target: crate::paths::SafeRelPath::new(&target).unwrap(),
                    });
                }
            }
            packages.sort();
            l.package_repositories.push(PackageRepository {
                format,
                source: format!("https://pkgs.k8s.io/core:/stable:/v1.{minor}/{format}/"),
                dir: crate::paths::SafeRelPath::new(&dir).unwrap(),
                signed_by: "DE15B14486CD377B9E876E1A234654DA9A296436".into(),
                packages,
            });
        }
    }
    l
}

/// Merges the 1.33 -> 1.37 skipping plan's hops (`hop_lock_with_packages`) with
/// `worker_only` and checks each package of each (format, architecture) against
/// `only_workers`: those are carried only where workers install them (every package of a
/// landing minor; kubeadm and cri-tools of a kubeadm-only minor; what the back-outs
/// reinstall), the others always. Returns how many packages were left out.
fn packages_follow_the_workers(
    worker_only: &WorkerOnly,
    only_workers: impl Fn(&str, &str) -> bool,
) -> usize {
    let (c, sched, chain) = skip_33_to_37();
    let p = |m: &str| format!("v1.{m}.{}", c.latest_patch(&format!("1.{m}")).unwrap());
    let (from, to) = (chain[0].clone(), chain[4].clone());
    let hops: Vec<Lock> = chain
        .windows(2)
        .map(|w| hop_lock_with_packages(&w[0], &w[1]))
        .collect();
    let m = merge(&hops, &sched, worker_only, &c).unwrap();
    // 1.33 -> 1.37: kubeadm-only steps at 1.34 and 1.35 (their back-outs reinstall
    // kubeadm 1.33 and 1.34), landings at 1.36 and 1.37.
    let field = |f: fn(&SchedulePhase) -> &Option<String>| -> Vec<String> {
        sched.phases.iter().filter_map(|p| f(p).clone()).collect()
    };
    assert_eq!(field(|p| &p.workers), [p("36"), to.clone()]);
    assert_eq!(field(|p| &p.workers_kubeadm), [p("34"), p("35")]);
    let carried: BTreeSet<String> = m
        .package_repositories
        .iter()
        .flat_map(|r| &r.packages)
        .map(|c| c.target.to_string())
        .collect();
    let files: BTreeSet<String> = m.files.iter().map(|f| f.target.to_string()).collect();
    for r in &m.package_repositories {
        assert!(files.contains(&format!("{}/InRelease", r.dir)), "{}", r.dir);
    }
    let has = |name: &str, ver: &str, format: &str, arch: &str| {
        let version = match name {
            "cri-tools" => format!("1.{}.0-1.1", minor(ver)),
            "kubernetes-cni" => "1.4.0-1.1".to_string(),
            _ => format!("{}-1.1", ver.trim_start_matches('v')),
        };
        let target = format!(
            "packages/v1.{}/{format}/{arch}/{name}_{version}_{arch}.{format}",
            minor(ver)
        );
        let listed = carried.contains(&target);
        assert_eq!(listed, files.contains(&target), "{target}");
        listed
    };
    let names = [
        "kubeadm",
        "kubelet",
        "kubectl",
        "cri-tools",
        "kubernetes-cni",
    ];
    let mut left_out = 0;
    for ver in &chain {
        let lands = sched
            .phases
            .iter()
            .any(|ph| ph.workers.as_ref() == Some(ver));
        let kubeadm_step = field(|p| &p.workers_kubeadm).contains(ver);
        // The back-outs of the kubeadm-only steps reinstall kubeadm 1.33 and 1.34; the
        // landing at 1.36 backs out to kubelet and kubectl 1.33 (and kubeadm 1.35).
        let kubeadm_backout = *ver == from || *ver == p("34");
        let kubelet_backout = *ver == from;
        for name in names {
            let workers_use = lands
                || (kubeadm_step && (name == "kubeadm" || name == "cri-tools"))
                || (kubeadm_backout && name == "kubeadm")
                || (kubelet_backout && (name == "kubelet" || name == "kubectl"));
            for (format, arch) in [
                ("deb", "amd64"),
                ("deb", "arm64"),
                ("rpm", "x86_64"),
                ("rpm", "aarch64"),
            ] {
                let want = workers_use || !only_workers(format, arch);
                assert_eq!(has(name, ver, format, arch), want, "{name} {ver} {arch}");
                left_out += usize::from(!want);
            }
        }
    }
    // Phase 3's worker back-out goes back through the package managers: 1.33's kubelet
    // and kubectl from 1.33's mirrors, 1.35's kubeadm from 1.35's, downgrading.
    let step = m
        .checklist
        .iter()
        .flatten()
        .find(|s| s.id == "phase3.backout.workers");
    let text = step.unwrap().commands.join("\n");
    let (v33, v35) = (&from[1..], &p("35")[1..]);
    for want in [
        "v1.33/deb".to_string(),
        "v1.33/rpm".to_string(),
        format!("apt-get install -y --allow-downgrades kubelet='{v33}-*' kubectl='{v33}-*'"),
        format!("yum downgrade -y kubeadm-'{v35}-*'"),
        "v1.35/deb".to_string(),
    ] {
        assert!(text.contains(&want), "{want} in {text}");
    }
    assert!(!text.contains("install -m 0755"), "{text}");
    // The note names each package left out.
    let note = m.notes.iter().find(|n| n.contains("left out")).unwrap();
    let named = note.matches(".deb").count() + note.matches(".rpm").count();
    assert_eq!(named, left_out, "{note}");
    left_out
}

#[test]
fn worker_arch_packages_only_where_workers_install_them() {
    // Per format: 1.33's cri-tools and kubernetes-cni, 1.34's and 1.35's kubelet, kubectl
    // and kubernetes-cni.
    let n = packages_follow_the_workers(&arm64(), |_, arch| arch == "arm64" || arch == "aarch64");
    assert_eq!(n, 16);
}

#[test]
fn worker_package_format_only_where_workers_install_it() {
    // Workers alone install from rpm repositories: every architecture of those.
    let rpm = WorkerOnly {
        arches: vec![],
        package_formats: vec![crate::manifest::PackageFormat::Rpm],
    };
    let n = packages_follow_the_workers(&rpm, |format, _| format == "rpm");
    assert_eq!(n, 16);
}

#[test]
fn a_landing_back_out_names_what_the_bundle_lacks() {
    let (c, sched, chain) = skip_33_to_37();
    let from = chain[0].clone();
    // As `--no-backout` resolves them: no hop carries its starting version.
    let hops: Vec<Lock> = chain
        .windows(2)
        .map(|w| {
            let mut l = hop_lock(&w[0], &w[1]);
            l.files
                .retain(|f| !f.target.to_string().starts_with(&format!("bin/{}/", w[0])));
            l
        })
        .collect();
    let m = merge(&hops, &sched, &arm64(), &c).unwrap();
    let title = |id: &str| {
        let s = m.checklist.iter().flatten().find(|s| s.id == id).unwrap();
        s.title.clone()
    };
    let backout = title("phase3.backout.workers");
    for arch in ["amd64", "arm64"] {
        let f = format!("bin/{from}/linux/{arch}/kubelet");
        assert!(backout.contains(&f), "{backout}");
    }
    assert!(backout.contains("this bundle lacks "), "{backout}");
    assert!(!backout.contains("in this bundle: "), "{backout}");
    // Phase 4 goes back to 1.36, which workers landed on: carried.
    let backout = title("phase4.backout.workers");
    assert!(backout.contains("in this bundle: "), "{backout}");
}
