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
    /// In a phase where the workers stay: the kubeadm they install (the control plane's
    /// version) and run `kubeadm upgrade node` with, no drain, kubelet unchanged, because
    /// kubeadm upgrades a node only from the kubeadm one minor older. Absent: no such step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workers_kubeadm: Option<String>,
    /// Before the phase starts, every kubelet must be of this minor or newer (the
    /// phase's target minor less the kubelet skew kubeadm and the policy allow).
    pub kubelet_floor_minor: u32,
}

impl Schedule {
    /// Phases numbered 1.. in order, each starting where the previous ended, from `from`
    /// to the hop's target, the workers never ahead of the control plane's version in
    /// their phase; a reader plans on this, so a signed schedule that contradicts itself
    /// or the hop is refused.
    pub fn check(&self, hop: Option<&crate::manifest::Hop>) -> Result<(), String> {
        let mut cp = self.from.as_str();
        let mut workers = self.from.as_str();
        for (i, p) in self.phases.iter().enumerate() {
            if p.n as usize != i + 1 {
                return Err(format!("phase {} is listed as number {}", i + 1, p.n));
            }
            if p.control_plane_from != cp {
                return Err(format!(
                    "phase {} starts at {} but the control plane is at {cp}",
                    p.n, p.control_plane_from
                ));
            }
            if let Some(w) = &p.workers
                && *w != p.control_plane
            {
                return Err(format!(
                    "phase {} lands workers on {w}, not the control plane's {}",
                    p.n, p.control_plane
                ));
            }
            if let Some(k) = &p.workers_kubeadm {
                if p.workers.is_some() {
                    return Err(format!(
                        "phase {} lands workers and also lists a kubeadm-only step",
                        p.n
                    ));
                }
                if *k != p.control_plane {
                    return Err(format!(
                        "phase {} moves workers' kubeadm to {k}, not the control plane's {}",
                        p.n, p.control_plane
                    ));
                }
            }
            workers = p.workers.as_deref().unwrap_or(workers);
            if p.workers_after != workers {
                return Err(format!(
                    "phase {} says workers end at {}, but they are at {workers}",
                    p.n, p.workers_after
                ));
            }
            cp = &p.control_plane;
        }
        if let Some(h) = hop
            && (h.from != self.from || h.to != cp || workers != cp)
        {
            return Err(format!(
                "the hop is {} -> {} but the schedule goes {} -> {cp} with workers ending at {workers}",
                h.from, h.to, self.from
            ));
        }
        Ok(())
    }

    /// How many times each worker is drained (one per phase that moves workers).
    pub fn worker_stops(&self) -> usize {
        self.phases.iter().filter(|p| p.workers.is_some()).count()
    }

    /// How many times each worker runs `kubeadm upgrade node` without a drain.
    pub fn worker_kubeadm_steps(&self) -> usize {
        self.phases
            .iter()
            .filter(|p| p.workers_kubeadm.is_some())
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Hop;

    fn phase(n: u32, from: &str, to: &str, lands: bool, after: &str) -> SchedulePhase {
        SchedulePhase {
            n,
            control_plane_from: from.into(),
            control_plane: to.into(),
            workers: lands.then(|| to.to_string()),
            workers_after: after.into(),
            workers_kubeadm: None,
            kubelet_floor_minor: 0,
        }
    }

    #[test]
    fn a_schedule_that_contradicts_itself_or_the_hop_is_refused() {
        let good = Schedule {
            workers: WorkersMode::Skip,
            from: "v1.33.9".into(),
            phases: vec![
                phase(1, "v1.33.9", "v1.34.5", false, "v1.33.9"),
                phase(2, "v1.34.5", "v1.35.3", true, "v1.35.3"),
            ],
            accepted_uncertain: Vec::new(),
        };
        let hop = Hop {
            from: "v1.33.9".into(),
            to: "v1.35.3".into(),
        };
        good.check(Some(&hop)).unwrap();
        assert_eq!(good.worker_stops(), 1);
        let mut gap = good.clone();
        gap.phases[1].control_plane_from = "v1.34.4".into();
        assert!(
            gap.check(Some(&hop))
                .unwrap_err()
                .contains("starts at v1.34.4")
        );
        let mut ahead = good.clone();
        ahead.phases[0].workers_after = "v1.34.5".into();
        assert!(
            ahead
                .check(None)
                .unwrap_err()
                .contains("workers end at v1.34.5")
        );
        let other = Hop {
            from: "v1.33.9".into(),
            to: "v1.36.0".into(),
        };
        assert!(good.check(Some(&other)).unwrap_err().contains("the hop is"));
        let mut kubeadm = good.clone();
        kubeadm.phases[0].workers_kubeadm = Some("v1.34.5".into());
        kubeadm.check(Some(&hop)).unwrap();
        assert_eq!(kubeadm.worker_kubeadm_steps(), 1);
        kubeadm.phases[0].workers_kubeadm = Some("v1.34.4".into());
        assert!(
            kubeadm
                .check(None)
                .unwrap_err()
                .contains("kubeadm to v1.34.4, not the control plane's v1.34.5")
        );
        kubeadm.phases[0].workers_kubeadm = None;
        kubeadm.phases[1].workers_kubeadm = Some("v1.35.3".into());
        assert!(
            kubeadm
                .check(None)
                .unwrap_err()
                .contains("lands workers and also lists a kubeadm-only step")
        );
        let mut behind = good;
        behind.phases[1].workers = None;
        behind.phases[1].workers_after = "v1.33.9".into();
        assert!(
            behind
                .check(Some(&hop))
                .unwrap_err()
                .contains("workers ending at v1.33.9")
        );
    }
}
