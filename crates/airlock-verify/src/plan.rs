//! Where a site stands in a catch-up schedule (issue 26), decided inside the enclave from
//! the bundle's signed schedule and a cluster dump, without the connected side's catalog:
//! which phase is done, which comes next, and whether the nodes allow it.

use serde::Serialize;

use crate::cluster::{Dump, parse_version};
use crate::manifest::{Schedule, SchedulePhase};

/// Why the next step cannot be named or must not start.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    /// The bundle is not a catch-up bundle with a schedule.
    #[error(
        "bundle has no catch-up schedule (build it with airlock plan --build --one-bundle --workers ...)"
    )]
    NoSchedule,
    /// The dump names no node.
    #[error("cluster dump has no nodes: add `kubectl get nodes -o json`")]
    NoNodes,
    /// A node reports a version that is not `vMAJOR.MINOR.PATCH`.
    #[error("node {node}: kubelet version {version:?} is not vMAJOR.MINOR.PATCH")]
    BadVersion {
        /// Node name.
        node: String,
        /// What it reports.
        version: String,
    },
    /// The control plane runs a version no phase starts or ends at.
    #[error(
        "control plane runs {found}, which no phase of this schedule starts or ends at ({known})"
    )]
    OffSchedule {
        /// The control plane's version.
        found: String,
        /// The versions the schedule knows.
        known: String,
    },
    /// Nodes too old for the next control-plane step.
    #[error(
        "phase {phase} moves the control plane to {to}, which needs every kubelet and kube-proxy at 1.{floor} or newer; too old: {nodes}"
    )]
    TooOld {
        /// The phase that must not start.
        phase: u32,
        /// Its control-plane version.
        to: String,
        /// The oldest minor allowed.
        floor: u32,
        /// `name (version)`, comma-separated.
        nodes: String,
    },
}

/// What the site does next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "next", rename_all = "kebab-case")]
pub enum Next {
    /// Start this phase with its control-plane step (skew checked).
    Phase {
        /// The phase.
        phase: SchedulePhase,
    },
    /// The control plane finished this phase; its workers must still land.
    Workers {
        /// The phase.
        phase: SchedulePhase,
        /// Workers not yet at the phase's version: `name (version)`.
        behind: Vec<String>,
    },
    /// Every node runs the target.
    Done {
        /// The target.
        version: String,
    },
}

fn minor(v: &str) -> Option<u32> {
    parse_version(v).map(|(_, m, _)| m)
}

/// The control plane's version: the API server's, else the newest control-plane kubelet.
fn control_plane(dump: &Dump) -> Option<String> {
    if let Some(v) = &dump.server_version {
        return Some(v.clone());
    }
    dump.nodes
        .iter()
        .filter(|n| n.control_plane)
        .filter_map(|n| parse_version(&n.kubelet).map(|v| (v, n.kubelet.clone())))
        .max()
        .map(|(_, s)| s)
}

/// Same version, ignoring build metadata (`v1.30.2+k3s1` is not expected, but a
/// distribution's suffix must not read as another version).
fn same(a: &str, b: &str) -> bool {
    parse_version(a).is_some() && parse_version(a) == parse_version(b)
}

/// Decide the next step of `schedule` for the cluster in `dump`.
pub fn next(schedule: &Schedule, dump: &Dump) -> Result<Next, PlanError> {
    if dump.nodes.is_empty() {
        return Err(PlanError::NoNodes);
    }
    for n in &dump.nodes {
        if parse_version(&n.kubelet).is_none() {
            return Err(PlanError::BadVersion {
                node: n.name.clone(),
                version: n.kubelet.clone(),
            });
        }
    }
    let cp = control_plane(dump).ok_or(PlanError::NoNodes)?;
    let done = if same(&cp, &schedule.from) {
        None
    } else {
        let p = schedule
            .phases
            .iter()
            .find(|p| same(&p.control_plane, &cp))
            .ok_or_else(|| PlanError::OffSchedule {
                found: cp.clone(),
                known: std::iter::once(schedule.from.as_str())
                    .chain(schedule.phases.iter().map(|p| p.control_plane.as_str()))
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        Some(p)
    };
    if let Some(p) = done
        && let Some(w) = &p.workers
    {
        let behind: Vec<String> = dump
            .nodes
            .iter()
            .filter(|n| !n.control_plane && !same(&n.kubelet, w))
            .map(|n| format!("{} ({})", n.name, n.kubelet))
            .collect();
        if !behind.is_empty() {
            return Ok(Next::Workers {
                phase: p.clone(),
                behind,
            });
        }
    }
    let next_n = done.map_or(1, |p| p.n + 1);
    let Some(q) = schedule.phases.iter().find(|p| p.n == next_n) else {
        return Ok(Next::Done {
            version: done.map_or(schedule.from.clone(), |p| p.control_plane.clone()),
        });
    };
    check_floor(q, dump)?;
    Ok(Next::Phase { phase: q.clone() })
}

/// Every kubelet, and kube-proxy's DaemonSet image, at the phase's floor or newer.
fn check_floor(q: &SchedulePhase, dump: &Dump) -> Result<(), PlanError> {
    let mut old: Vec<String> = dump
        .nodes
        .iter()
        .filter(|n| minor(&n.kubelet).is_some_and(|m| m < q.kubelet_floor_minor))
        .map(|n| format!("{} (kubelet {})", n.name, n.kubelet))
        .collect();
    // The node field kubeProxyVersion is not set from 1.33 on: the DaemonSet's image is.
    if let Some(img) = &dump.kube_proxy_image {
        let tag = img.rsplit_once(':').map_or("", |(_, t)| t);
        if minor(tag).is_some_and(|m| m < q.kubelet_floor_minor) {
            old.push(format!("kube-system/kube-proxy DaemonSet ({img})"));
        }
    }
    if old.is_empty() {
        return Ok(());
    }
    Err(PlanError::TooOld {
        phase: q.n,
        to: q.control_plane.clone(),
        floor: q.kubelet_floor_minor,
        nodes: old.join(", "),
    })
}

#[cfg(test)]
mod tests;
