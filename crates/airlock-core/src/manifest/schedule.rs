//! The catch-up schedule (issue 26): which version the control plane and the workers run
//! after each phase of a multi-minor plan. Written into the signed lock and the bundle
//! manifest on the connected side, so `airlock-verify plan` can say inside the enclave which
//! phase comes next without the catalog code.

use serde::{Deserialize, Serialize};

/// How workers move through a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkersMode {
    /// Workers take every hop with the control plane (the conservative plan).
    EveryMinor,
    /// Workers stay behind as far as the skew limits allow and move only when forced.
    Skip,
}

/// The phases of a plan, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// How workers move.
    pub workers: WorkersMode,
    /// The version every node runs before phase 1.
    pub from: String,
    /// One per hop.
    pub phases: Vec<SchedulePhase>,
    /// Uncertain catalog facts the plan rests on, accepted with
    /// `--accept-uncertain-skew`; empty when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accepted_uncertain: Vec<String>,
}

/// One phase: the control plane moves one hop; the workers move in it or stay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulePhase {
    /// 1-based.
    pub n: u32,
    /// The control plane's version before the phase, `v1.34.9`.
    pub control_plane_from: String,
    /// The control plane's version after the phase (API server, controller-manager,
    /// scheduler, the control-plane nodes' kubelets, and the kube-proxy DaemonSet).
    pub control_plane: String,
    /// The version workers land on in this phase; absent: workers stay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workers: Option<String>,
    /// The workers' version after the phase.
    pub workers_after: String,
    /// Before the phase starts, every kubelet must be of this minor or newer (the
    /// phase's target minor less the kubelet skew kubeadm and the policy allow).
    pub kubelet_floor_minor: u32,
}

impl Schedule {
    /// How many times each worker is drained (one per phase that moves workers).
    pub fn worker_stops(&self) -> usize {
        self.phases.iter().filter(|p| p.workers.is_some()).count()
    }
}
