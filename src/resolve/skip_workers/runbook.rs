//! The runbook of a skipping catch-up bundle, phase by phase: the skew check, the hop's
//! steps (its worker steps only where workers move), the workers' stay, jump and back-out
//! steps, and a stop between phases.

use std::collections::BTreeSet;

use super::carry::arch_of;
use super::phases::{Before, KUBEADM, KUBECTL, KUBELET, schedule_error};
use crate::catalog::Version;
use crate::checklist::reinstall_cmds;
use crate::error::Result;
use crate::lock::Lock;
use crate::manifest::{PackageFormat, PackageRepository, Phase, SchedulePhase, Step};
use crate::packages::mirror_dir;

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
pub(super) fn minor(v: &str) -> &str {
    v.trim_start_matches("v1.").split('.').next().unwrap_or(v)
}

/// The steps of one phase: skew check, the hop's steps (its worker steps only when the
/// workers move), the workers' back-out, and a stop before the next phase.
pub(super) fn phase_steps(
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
pub(super) struct Carried<'a> {
    pub(super) targets: BTreeSet<String>,
    pub(super) repositories: &'a [PackageRepository],
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
