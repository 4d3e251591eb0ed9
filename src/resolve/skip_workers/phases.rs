//! What the workers run as each phase of a skipping schedule starts, and so what their
//! back-outs reinstall: the facts both the carried files and the runbook are cut from.

use std::collections::BTreeSet;

use crate::error::Error;
use crate::manifest::Schedule;

/// The packages and binaries a worker's back-out reinstalls.
pub(super) const KUBEADM: &str = "kubeadm";
pub(super) const KUBELET: &str = "kubelet";
pub(super) const KUBECTL: &str = "kubectl";

pub(super) fn schedule_error(reason: String) -> Error {
    Error::invalid("plan", "--workers skip", reason)
}

/// What the workers run as a phase starts: the kubelet's (and kubectl's) version and the
/// version of the kubeadm that last upgraded them (newer than the kubelet after
/// kubeadm-only steps). The phase's worker back-out returns them to these.
pub(super) struct Before {
    pub(super) kubelet: String,
    pub(super) kubeadm: String,
}

/// [`Before`] of each phase.
pub(super) fn workers_before(schedule: &Schedule) -> Vec<Before> {
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
pub(super) fn workers_backout_set(
    schedule: &Schedule,
    befores: &[Before],
) -> BTreeSet<(String, String)> {
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
