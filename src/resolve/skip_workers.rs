//! Catch-up bundles whose workers skip minors (issue 26, `airlock plan --build --one-bundle
//! --workers skip`): the hops' locks merged as [`super::catchup::merge`] does, then
//! - the runbook ordered by the schedule's phases: a skew check before each phase's
//!   control-plane step, the worker steps only in phases that move the workers (in the
//!   others only the workers' kubeadm step where the schedule asks for it: kubeadm upgrades
//!   a node one minor at a time, its kubelet may stay), a stop-and-verify step between
//!   phases and a worker back-out per phase;
//! - the files and node packages of architectures only workers run (`--worker-arch`) kept
//!   only for the versions workers land on, and their kubeadm (with the package's
//!   cri-tools) for the kubeadm-only steps. Control-plane nodes run a kubelet too and take
//!   every minor, so on a site of one architecture the bundle hardly shrinks: the saving
//!   is drains.

use std::collections::BTreeSet;

use crate::catalog::{Catalog, Version};
use crate::checklist::reinstall_cmds;
use crate::error::{Error, Result};
use crate::lock::Lock;
use crate::manifest::{
    PackageFormat, PackageRepository, Phase, Role, Schedule, SchedulePhase, Step,
};
use crate::packages::{CRI_TOOLS, mirror_dir, package_arch};
use crate::paths::SafeRelPath;

/// The packages and binaries a worker's back-out reinstalls.
const KUBEADM: &str = "kubeadm";
const KUBELET: &str = "kubelet";
const KUBECTL: &str = "kubectl";

fn schedule_error(reason: String) -> Error {
    Error::invalid("plan", "--workers skip", reason)
}

/// What only worker nodes use: carried only where workers install it.
#[derive(Debug, Clone, Default)]
pub struct WorkerOnly {
    /// Architectures only workers run (`--worker-arch`): their binaries, tools and node
    /// packages.
    pub arches: Vec<String>,
    /// Package formats only workers install from (`--worker-packages`): every package of
    /// those repositories, whatever its architecture.
    pub package_formats: Vec<PackageFormat>,
}

impl WorkerOnly {
    /// `arm64, rpm packages` for notes.
    fn describe(&self) -> String {
        let formats = self.package_formats.iter().map(|f| format!("{f} packages"));
        self.arches
            .iter()
            .cloned()
            .chain(formats)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Merge `hops` (one lock per schedule phase) into one lock for `schedule`; `catalog`
/// (the one the hops were resolved with) says which tools each landing minor installs.
pub fn merge(
    hops: &[Lock],
    schedule: &Schedule,
    worker_only: &WorkerOnly,
    catalog: &Catalog,
) -> Result<Lock> {
    if hops.len() != schedule.phases.len() {
        return Err(schedule_error(format!(
            "{} hops but {} phases in the schedule",
            hops.len(),
            schedule.phases.len()
        )));
    }
    let mut out = super::catchup::merge(hops)?;
    let befores = workers_before(schedule);
    let tools = landing_tools(schedule, catalog)?;
    let backout = workers_backout_set(schedule, &befores);
    let mut left_out = drop_skipped_worker_files(
        &mut out,
        hops,
        schedule,
        &worker_only.arches,
        &tools,
        &backout,
    );
    left_out.extend(drop_skipped_worker_packages(
        &mut out,
        hops,
        schedule,
        worker_only,
        &backout,
    ));
    // The runbook after the files: each worker back-out says whether the bundle carries
    // what it reinstalls.
    let carried = Carried {
        targets: out.files.iter().map(|f| f.target.to_string()).collect(),
        repositories: &out.package_repositories,
    };
    let mut steps = Vec::new();
    for ((l, p), before) in hops.iter().zip(&schedule.phases).zip(&befores) {
        steps.extend(phase_steps(l, p, before, &carried, schedule.phases.len())?);
    }
    out.checklist = Some(steps);
    if !left_out.is_empty() {
        out.notes.push(format!(
            "workers skip minors: {} file(s) only workers use ({}) are left out for the \
             versions workers do not land on: {}",
            left_out.len(),
            worker_only.describe(),
            left_out.join(", ")
        ));
    }
    out.schedule = Some(schedule.clone());
    out.validate("catch-up lock")?;
    Ok(out)
}

/// What the workers run as a phase starts: the kubelet's (and kubectl's) version and the
/// version of the kubeadm that last upgraded them (newer than the kubelet after
/// kubeadm-only steps). The phase's worker back-out returns them to these.
struct Before {
    kubelet: String,
    kubeadm: String,
}

/// [`Before`] of each phase.
fn workers_before(schedule: &Schedule) -> Vec<Before> {
    let (mut kubelet, mut kubeadm) = (schedule.from.clone(), schedule.from.clone());
    let mut out = Vec::new();
    for p in &schedule.phases {
        out.push(Before {
            kubelet: kubelet.clone(),
            kubeadm: kubeadm.clone(),
        });
        if let Some(v) = &p.workers {
            kubelet = v.clone();
        }
        if let Some(v) = p.workers.as_ref().or(p.workers_kubeadm.as_ref()) {
            kubeadm = v.clone();
        }
    }
    out
}

/// (version, binary or package name) that some phase's worker back-out reinstalls: after a
/// kubeadm-only step the kubeadm before it; after a landing the kubelet, kubectl and
/// kubeadm the workers ran before it. Carried for worker-only architectures too, so every
/// phase backs out from this bundle alone.
fn workers_backout_set(schedule: &Schedule, befores: &[Before]) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (p, b) in schedule.phases.iter().zip(befores) {
        if p.workers.is_some() {
            out.insert((b.kubelet.clone(), KUBELET.to_string()));
            out.insert((b.kubelet.clone(), KUBECTL.to_string()));
        }
        if p.workers.is_some() || p.workers_kubeadm.is_some() {
            out.insert((b.kubeadm.clone(), KUBEADM.to_string()));
        }
    }
    out
}

/// The architecture a file target is for: the segment after `linux/`.
fn arch_of(target: &str) -> Option<&str> {
    let mut parts = target.split('/');
    parts.by_ref().find(|p| *p == "linux")?;
    parts.next()
}

/// `bin/VERSION/...`: the Kubernetes version of a release binary.
fn bin_version(target: &str) -> Option<&str> {
    target.strip_prefix("bin/")?.split('/').next()
}

/// `bin/VERSION/linux/ARCH/NAME`: (VERSION, NAME) of a release binary.
fn bin_of(target: &str) -> Option<(String, String)> {
    let name = target.rsplit('/').next()?;
    Some((bin_version(target)?.to_string(), name.to_string()))
}

/// `tools/NAME/VERSION/`: the target prefix of each tool the minors workers land on
/// install. A landing hop's lock also carries the previous minor's tools for its back-out,
/// which workers that skipped that minor never ran.
fn landing_tools(schedule: &Schedule, catalog: &Catalog) -> Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    for w in schedule.phases.iter().filter_map(|p| p.workers.as_deref()) {
        let v: Version = w
            .parse()
            .map_err(|e| schedule_error(format!("phase version {w}: {e}")))?;
        let m = catalog.minor_of(&v).ok_or_else(|| {
            schedule_error(format!("minor {} is not in the catalog", v.minor_key()))
        })?;
        out.extend(
            m.tools
                .iter()
                .map(|t| format!("tools/{}/{}/", t.name, t.version)),
        );
    }
    Ok(out)
}

/// Drop the worker-only architectures' files that no landing phase needs; returns their
/// targets.
fn drop_skipped_worker_files(
    out: &mut Lock,
    hops: &[Lock],
    schedule: &Schedule,
    worker_only_arches: &[String],
    landing_tools: &BTreeSet<String>,
    backout: &BTreeSet<(String, String)>,
) -> Vec<String> {
    let landings: BTreeSet<&str> = schedule
        .phases
        .iter()
        .filter_map(|p| p.workers.as_deref())
        .collect();
    let needed: BTreeSet<String> = hops
        .iter()
        .zip(&schedule.phases)
        .filter(|(_, p)| p.workers.is_some())
        .flat_map(|(l, _)| l.files.iter().map(|f| f.target.to_string()))
        .collect();
    let kubeadm_only: BTreeSet<&str> = schedule
        .phases
        .iter()
        .filter_map(|p| p.workers_kubeadm.as_deref())
        .collect();
    let mut left_out = Vec::new();
    out.files.retain(|f| {
        let target = f.target.to_string();
        let worker_only =
            arch_of(&target).is_some_and(|a| worker_only_arches.iter().any(|w| w == a));
        // A landing hop's lock also carries its back-out binaries and tools (the
        // previous control-plane version's), which workers never ran.
        let tool_kept = !target.starts_with("tools/")
            || landing_tools.iter().any(|t| target.starts_with(t.as_str()));
        let keep = !worker_only
            || (needed.contains(&target)
                && bin_version(&target).is_none_or(|v| landings.contains(v))
                && tool_kept)
            || bin_of(&target).is_some_and(|(v, name)| {
                (name == KUBEADM && kubeadm_only.contains(v.as_str()))
                    || backout.contains(&(v, name))
            });
        if !keep {
            left_out.push(target);
        }
        keep
    });
    left_out
}

/// Drop the node packages (`--packages`) of worker-only architectures and formats that no
/// worker installs; returns their targets. Kept: every package a landing phase installs; in a
/// kubeadm-only phase its kubeadm and cri-tools (kubeadm's package asks for cri-tools of
/// its minor, so apt and dnf upgrade cri-tools with it; the kubelet stays, and with it
/// kubernetes-cni and kubectl); and what the workers' back-outs reinstall (`backout`).
/// Packages of every architecture (`all`, `noarch`) are worker-only only in a worker-only
/// format. The signed metadata stays whole: it lists versions a partial mirror does not carry,
/// as for every hop, and the nodes' package managers fetch only what they install.
fn drop_skipped_worker_packages(
    out: &mut Lock,
    hops: &[Lock],
    schedule: &Schedule,
    worker_only: &WorkerOnly,
    backout: &BTreeSet<(String, String)>,
) -> Vec<String> {
    let mut keep: BTreeSet<&SafeRelPath> = BTreeSet::new();
    for (l, p) in hops.iter().zip(&schedule.phases) {
        let kubeadm_only = p.workers.is_none() && p.workers_kubeadm.is_some();
        let carried = l.package_repositories.iter().flat_map(|r| &r.packages);
        keep.extend(
            carried
                .filter(|c| c.role == Role::Target)
                .filter(|c| {
                    p.workers.is_some()
                        || (kubeadm_only && [KUBEADM, CRI_TOOLS].contains(&c.name.as_str()))
                })
                .map(|c| &c.target),
        );
    }
    // Back-out packages by name and version: `1.30.2-1.1` (deb), `1.30.2-150500.1.1` (rpm).
    let backout_packages: Vec<(String, &str)> = backout
        .iter()
        .map(|(v, name)| (format!("{}-", v.trim_start_matches('v')), name.as_str()))
        .collect();
    let mut drop: BTreeSet<SafeRelPath> = BTreeSet::new();
    for r in &out.package_repositories {
        let format_only = worker_only.package_formats.contains(&r.format);
        let arches: Vec<String> = worker_only
            .arches
            .iter()
            .map(|a| package_arch(r.format, a))
            .collect();
        for c in &r.packages {
            let is_backout = backout_packages
                .iter()
                .any(|(v, name)| c.name == *name && c.version.starts_with(v.as_str()));
            let only_workers = format_only || arches.contains(&c.arch);
            if only_workers && !keep.contains(&c.target) && !is_backout {
                drop.insert(c.target.clone());
            }
        }
    }
    for r in &mut out.package_repositories {
        r.packages.retain(|c| !drop.contains(&c.target));
    }
    out.files.retain(|f| !drop.contains(&f.target));
    drop.into_iter().map(|t| t.to_string()).collect()
}

fn step(id: String, phase: Phase, title: String, commands: &[&str], check: String) -> Step {
    Step {
        check: Some(check),
        commands: commands.iter().map(|c| c.to_string()).collect(),
        id,
        phase,
        title,
    }
}

/// Minor of `v1.M.P`.
fn minor(v: &str) -> &str {
    v.trim_start_matches("v1.").split('.').next().unwrap_or(v)
}

/// The steps of one phase: skew check, the hop's steps (its worker steps only when the
/// workers move), the workers' back-out, and a stop before the next phase.
fn phase_steps(
    l: &Lock,
    p: &SchedulePhase,
    before: &Before,
    carried: &Carried<'_>,
    total: usize,
) -> Result<Vec<Step>> {
    let workers_before = before.kubelet.as_str();
    let n = p.n;
    let label = format!(
        "phase {n}: control plane {} -> {}; workers {}",
        p.control_plane_from,
        p.control_plane,
        match &p.workers {
            Some(w) => format!("{workers_before} -> {w}"),
            None => format!("stay at {workers_before}"),
        }
    );
    let mut out = vec![skew_step(p, workers_before, &label)];
    let mut workers_placed = false;
    for s in l.checklist.iter().flatten() {
        let is_worker = s.id.starts_with("workers.");
        // The workers' place in the hop's order: before its first worker, post or
        // back-out step.
        if !workers_placed && s.phase >= Phase::Workers {
            workers_placed = true;
            match &p.workers {
                None => out.push(stay_step(p, workers_before, &label)),
                Some(_) if minor(workers_before) != minor(&p.control_plane_from) => {
                    out.push(jump_step(p, workers_before, &label))
                }
                Some(_) => {}
            }
        }
        let kubeadm_only = p.workers.is_none() && p.workers_kubeadm.is_some();
        if is_worker && p.workers.is_none() && !(kubeadm_only && s.id == "workers.kubeadm") {
            continue;
        }
        let mut s = s.clone();
        if p.workers.is_none() {
            s = for_staying_workers(s, p, workers_before);
        }
        s.id = format!("phase{n}.{}", s.id);
        s.title = if is_worker && kubeadm_only {
            format!(
                "[{label}] Every worker, no drain, kubelet unchanged: {}",
                s.title
            )
        } else {
            format!("[{label}] {}", s.title)
        };
        out.push(s);
    }
    if !workers_placed && p.workers.is_none() {
        out.push(stay_step(p, workers_before, &label));
    }
    out.push(worker_backout(p, before, carried, &label)?);
    if (n as usize) < total {
        out.push(step(
            format!("phase{n}.post.stop-and-verify"),
            Phase::Post,
            format!("[{label}] STOP: phase {n} of {total} is done. Verify before phase {}", n + 1),
            &[
                "kubectl get nodes -o wide",
                "kubectl version",
                "kubectl get pods -n kube-system",
                "kubectl -n kube-system get daemonset kube-proxy -o jsonpath='{.spec.template.spec.containers[0].image}'",
            ],
            format!(
                "the control plane and kube-proxy run {} and every worker {}; every system pod is Running; only then start phase {}",
                p.control_plane,
                p.workers_after,
                n + 1
            ),
        ));
    }
    Ok(out)
}

/// A hop step that would touch every node, narrowed to the control plane in a phase where
/// workers stay: they keep their crictl and CNI plugins (the bundle may not carry this
/// minor's for a worker-only architecture) and still report their version afterwards.
fn for_staying_workers(mut s: Step, p: &SchedulePhase, workers_before: &str) -> Step {
    match s.id.as_str() {
        "cni.plugins" => {
            s.title = format!(
                "Control-plane nodes only (workers stay at {workers_before} and keep their tools until they land): {}",
                s.title
            );
        }
        "post.versions" => {
            s.title = format!(
                "Confirm the control plane runs {} and every worker still {workers_before}",
                p.control_plane
            );
            s.check = Some(format!(
                "the server and every control-plane node report {}; every worker reports {workers_before}",
                p.control_plane
            ));
        }
        _ => {}
    }
    s
}

/// Workers that do not move in this phase.
fn stay_step(p: &SchedulePhase, workers_before: &str, label: &str) -> Step {
    let title = match &p.workers_kubeadm {
        Some(k) => format!(
            "[{label}] Workers stay at {workers_before}: do not drain them or change their kubelet. kubeadm upgrades a node only from the kubeadm one minor older, so each worker takes kubeadm {k} and kubeadm upgrade node (next step; kubeadm accepts a kubelet up to three minors older)"
        ),
        None => format!(
            "[{label}] Workers stay at {workers_before}: do not drain or upgrade them in this phase"
        ),
    };
    step(
        format!("phase{}.workers.stay", p.n),
        Phase::Workers,
        title,
        &["kubectl get nodes -o wide"],
        format!(
            "every worker still reports {workers_before}; only control-plane nodes report {}",
            p.control_plane
        ),
    )
}

/// Before the phase's control-plane step: no kubelet (nor kube-proxy) older than the
/// phase's floor, none newer than the control plane.
fn skew_step(p: &SchedulePhase, workers_before: &str, label: &str) -> Step {
    let plan_cmd = format!(
        "airlock-verify plan {} --policy {} --cluster-dump airlock-plan-dump",
        crate::checklist::BUNDLE_PARAM,
        crate::checklist::POLICY_PARAM
    );
    step(
        format!("phase{}.pre.schedule-skew", p.n),
        Phase::Pre,
        format!(
            "[{label}] Skew check before the control plane moves to {}: every kubelet and kube-proxy is 1.{} or newer",
            p.control_plane, p.kubelet_floor_minor
        ),
        &[
            "kubectl get nodes -o custom-columns=NAME:.metadata.name,KUBELET:.status.nodeInfo.kubeletVersion",
            "kubectl -n kube-system get daemonset kube-proxy -o jsonpath='{.spec.template.spec.containers[0].image}'",
            "mkdir -p airlock-plan-dump && kubectl get nodes -o json > airlock-plan-dump/nodes.json && kubectl version -o json > airlock-plan-dump/version.json && kubectl -n kube-system get daemonset kube-proxy -o json > airlock-plan-dump/kube-proxy.json",
            &plan_cmd,
        ],
        format!(
            "airlock-verify plan names phase {} as next (it refuses, naming them, nodes older than the floor); workers report {workers_before} and control-plane nodes {}; no kubelet is older than 1.{} or newer than {}; kube-proxy's image tag is {} (the node field kubeProxyVersion is not set from 1.33 on: read the DaemonSet)",
            p.n,
            p.control_plane_from,
            p.kubelet_floor_minor,
            p.control_plane_from,
            p.control_plane_from
        ),
    )
}

/// Workers that lag move several minors at once: what upstream does and does not document.
fn jump_step(p: &SchedulePhase, workers_before: &str, label: &str) -> Step {
    let to = p.workers.as_deref().unwrap_or(&p.control_plane);
    step(
        format!("phase{}.workers.jump", p.n),
        Phase::Workers,
        format!(
            "[{label}] Workers jump from {workers_before} to {to}. An in-place kubelet upgrade across several minors is not documented upstream: drain every worker (below) before its kubelet changes; with the static CPU or memory manager policy, remove /var/lib/kubelet/cpu_manager_state and memory_manager_state after the drain"
        ),
        &[
            "kubectl get nodes -o custom-columns=NAME:.metadata.name,KUBELET:.status.nodeInfo.kubeletVersion",
        ],
        format!("every worker reports {workers_before} before it is drained"),
    )
}

/// What the merged bundle carries, for the workers' back-outs: its file targets and its
/// package repositories.
struct Carried<'a> {
    targets: BTreeSet<String>,
    repositories: &'a [PackageRepository],
}

impl Carried<'_> {
    /// The mirrors of `v`'s minor, one per carried format, as the runbook names them
    /// (`v1.30/deb`, below the packages directory); none without node packages.
    fn mirrors_of(&self, v: &Version) -> Vec<(PackageFormat, String)> {
        let formats: BTreeSet<PackageFormat> = self.repositories.iter().map(|r| r.format).collect();
        formats
            .into_iter()
            .map(|f| (f, mirror_dir(v.minor, f)))
            .filter(|(_, dir)| {
                let full = format!("{}/{dir}", crate::layout::PACKAGES_DIR);
                self.repositories.iter().any(|r| r.dir.as_str() == full)
            })
            .collect()
    }

    /// Commands that put each (version, names) of `items` back on a worker.
    fn reinstall(&self, items: &[(&str, &[&str])]) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for (v, names) in items {
            let version: Version = v
                .parse()
                .map_err(|e| schedule_error(format!("phase version {v}: {e}")))?;
            out.extend(reinstall_cmds(&self.mirrors_of(&version), names, &version));
        }
        Ok(out)
    }
}

/// The workers' part of the phase's back-out: back to the kubelet, kubectl and kubeadm they
/// ran before it (`before`), with the commands, saying where in the bundle they are or
/// which files it lacks.
fn worker_backout(
    p: &SchedulePhase,
    before: &Before,
    carried: &Carried<'_>,
    label: &str,
) -> Result<Step> {
    let (kubelet, kubeadm) = (before.kubelet.as_str(), before.kubeadm.as_str());
    let cp_only = "run backout.binaries on control-plane nodes only";
    let targets = &carried.targets;
    let (title, check, mut commands) = match (&p.workers, &p.workers_kubeadm) {
        (None, Some(k)) => (
            format!(
                "[{label}] Back-out, workers: their kubelet was not changed; on workers that took kubeadm {k}, reinstall kubeadm {kubeadm} ({}); {cp_only}",
                where_carried(&[(kubeadm, KUBEADM)], targets)
            ),
            format!("every worker still reports {kubelet}; kubeadm version prints {kubeadm}"),
            carried.reinstall(&[(kubeadm, &[KUBEADM])])?,
        ),
        (None, None) => (
            format!("[{label}] Back-out, workers: this phase did not touch them; {cp_only}"),
            format!("every worker still reports {kubelet}"),
            Vec::new(),
        ),
        (Some(w), _) => {
            let items: Vec<(&str, &[&str])> = if kubelet == kubeadm {
                vec![(kubelet, &[KUBEADM, KUBELET, KUBECTL])]
            } else {
                vec![(kubelet, &[KUBELET, KUBECTL]), (kubeadm, &[KUBEADM])]
            };
            let mut cmds = vec![
                "kubectl drain \"${NODE}\" --ignore-daemonsets --delete-emptydir-data".to_string(),
            ];
            cmds.extend(carried.reinstall(&items)?);
            cmds.push("systemctl daemon-reload && systemctl restart kubelet".into());
            cmds.push("kubectl uncordon \"${NODE}\"".into());
            (
                format!(
                    "[{label}] Back-out, workers: on each worker already at {w}, drain, reinstall kubelet and kubectl {kubelet} and kubeadm {kubeadm}, what they ran before this phase ({}), restart kubelet and uncordon; {cp_only}",
                    where_carried(
                        &[(kubelet, KUBELET), (kubelet, KUBECTL), (kubeadm, KUBEADM)],
                        targets
                    )
                ),
                format!("kubelet --version prints Kubernetes {kubelet} on every worker"),
                cmds,
            )
        }
    };
    commands.push("kubectl get nodes -o wide".into());
    let commands: Vec<&str> = commands.iter().map(String::as_str).collect();
    Ok(step(
        format!("phase{}.backout.workers", p.n),
        Phase::Backout,
        title,
        &commands,
        check,
    ))
}

/// Where the bundle carries each (version, binary) of `wanted` for every architecture it
/// has binaries of, or which it lacks (a hop built with `--no-backout` carries no back-out
/// set).
fn where_carried(wanted: &[(&str, &str)], carried: &BTreeSet<String>) -> String {
    let arches: BTreeSet<&str> = carried
        .iter()
        .filter(|t| t.starts_with("bin/"))
        .filter_map(|t| arch_of(t))
        .collect();
    let mut missing = Vec::new();
    for (v, name) in wanted {
        for a in &arches {
            let t = format!("bin/{v}/linux/{a}/{name}");
            if !carried.contains(&t) {
                missing.push(t);
            }
        }
    }
    let files: Vec<String> = wanted
        .iter()
        .map(|(v, name)| format!("bin/{v}/linux/ARCH/{name}"))
        .collect();
    if missing.is_empty() {
        format!(
            "in this bundle: {}, for every architecture",
            files.join(", ")
        )
    } else {
        format!(
            "this bundle lacks {}: take them from the bundle that installed them",
            missing.join(", ")
        )
    }
}

#[cfg(test)]
mod tests;
