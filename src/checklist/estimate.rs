//! How long each checklist step takes: an estimate per step id, with what it scales with
//! (its basis) and where the figure comes from. These are planning figures for a change
//! board, not measurements: the report says so beside every total. Steps of a hop are
//! this module's ids; an id it does not know gets a fixed 5 minutes, marked as such.

use serde::Serialize;

/// What a step's estimate is multiplied by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Basis {
    /// Once.
    Fixed,
    /// Every node, one after the other.
    PerNode,
    /// Every control plane after the first.
    PerAdditionalControlPlane,
    /// Every worker (batches of `--worker-batch` run side by side; this counts them one
    /// after the other, the upper bound).
    PerWorker,
    /// Every image the bundle carries.
    PerImage,
    /// Every GiB (rounded up) of the bundle's content.
    PerGib,
}

/// One step's estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Estimate {
    /// What it is multiplied by.
    pub basis: Basis,
    /// Minutes for one unit of the basis.
    pub minutes: u32,
    /// Where the figure comes from.
    pub source: &'static str,
}

const PLANNING: &str =
    "airlock planning figure (an operator typing and reading the check), not measured";
const KUBEADM_APPLY: &str = "kubeadm upgrade apply waits up to 5 minutes for each of the \
     static pods it replaces (etcd, kube-apiserver, kube-controller-manager, kube-scheduler): \
     kubeadm's upgradeManifests timeout, 5m by default (kubeadm.k8s.io/v1beta4 Timeouts; \
     UpgradeManifestTimeout in cmd/kubeadm/app/phases/upgrade/staticpods.go before)";
const KUBEADM_NODE: &str = "kubeadm upgrade node replaces the node's static pods with the \
     same 5-minute wait per pod as apply; etcd, kube-apiserver, controller-manager and scheduler restart one after another";
const DRAIN: &str = "kubectl drain evicts every pod and waits for each to stop: the default \
     terminationGracePeriodSeconds is 30 s (Pod spec), PodDisruptionBudgets and rescheduling \
     add minutes; airlock plans 5 minutes per node";
const KUBELET: &str = "installing kubelet and kubectl from the bundle and restarting kubelet: \
     airlock planning figure of 3 minutes per node";
const PULL: &str = "pre-pulling from the enclave registry on the same network: airlock plans \
     3 minutes per GiB of content (a node pulling at 10 MiB/s, slow disks included)";
const ETCD_RESTORE: &str = "etcdutl snapshot restore on every member and restarting the \
     static pods: airlock planning figure of 20 minutes for the control planes";

/// The estimate of step `id`.
pub fn estimate(id: &str) -> Estimate {
    use Basis::*;
    let (basis, minutes, source) = match id {
        "pre.snapshot" => (Fixed, 5, PLANNING),
        "pre.images" => (PerGib, 3, PULL),
        "pre.packages" => (PerNode, 2, PLANNING),
        "cp1.apply" => (Fixed, 20, KUBEADM_APPLY),
        "cp.upgrade" => (PerAdditionalControlPlane, 10, KUBEADM_NODE),
        "cp1.drain" => (Fixed, 5, DRAIN),
        "workers.drain" => (PerWorker, 5, DRAIN),
        "cp.drain" => (PerAdditionalControlPlane, 5, DRAIN),
        "cp1.kubelet" => (Fixed, 3, KUBELET),
        "cp.kubelet" => (PerAdditionalControlPlane, 3, KUBELET),
        "workers.kubelet" => (PerWorker, 3, KUBELET),
        "cp.kubeadm" | "cp.uncordon" => (PerAdditionalControlPlane, 1, PLANNING),
        "workers.kubeadm" | "workers.uncordon" => (PerWorker, 1, PLANNING),
        "cni.upgrade" | "cni.plugins" => (Fixed, 10, PLANNING),
        "backout.etcd-restore" => (Fixed, 20, ETCD_RESTORE),
        "backout.binaries" => (PerNode, 5, KUBELET),
        "backout.images" => (PerImage, 1, PULL),
        _ if id.starts_with("pre.") || id.starts_with("post.") || id.starts_with("cp1.") => {
            (Fixed, 2, PLANNING)
        }
        _ => (Fixed, 5, PLANNING),
    };
    Estimate {
        basis,
        minutes,
        source,
    }
}

/// The node counts an estimate is multiplied by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Scale {
    /// Control planes (the first included).
    pub control_planes: u64,
    /// Workers.
    pub workers: u64,
    /// Images the bundle carries.
    pub images: u64,
    /// Bytes of the bundle's content.
    pub content_bytes: u64,
}

impl Estimate {
    /// How many units of the basis `scale` has.
    pub fn units(&self, scale: &Scale) -> u64 {
        const GIB: u64 = 1 << 30;
        match self.basis {
            Basis::Fixed => 1,
            Basis::PerNode => scale.control_planes + scale.workers,
            Basis::PerAdditionalControlPlane => scale.control_planes.saturating_sub(1),
            Basis::PerWorker => scale.workers,
            Basis::PerImage => scale.images,
            Basis::PerGib => scale.content_bytes.div_ceil(GIB).max(1),
        }
    }

    /// Minutes at `scale`.
    pub fn total(&self, scale: &Scale) -> u64 {
        u64::from(self.minutes) * self.units(scale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_scale_with_their_basis() {
        let s = Scale {
            control_planes: 3,
            workers: 40,
            images: 12,
            content_bytes: (5 << 30) + 1,
        };
        assert_eq!(estimate("cp1.apply").total(&s), 20);
        assert_eq!(estimate("cp.upgrade").total(&s), 20);
        assert_eq!(estimate("workers.drain").total(&s), 200);
        assert_eq!(estimate("cp1.drain").total(&s), 5);
        assert_eq!(estimate("pre.images").total(&s), 18);
        assert_eq!(estimate("backout.binaries").total(&s), 215);
        assert_eq!(estimate("backout.images").total(&s), 12);
        // One control plane: no additional ones to upgrade.
        let one = Scale {
            control_planes: 1,
            workers: 0,
            ..s
        };
        assert_eq!(estimate("cp.upgrade").total(&one), 0);
        assert_eq!(estimate("pre.version").basis, Basis::Fixed);
        assert_eq!(estimate("something.new").minutes, 5);
    }
}
