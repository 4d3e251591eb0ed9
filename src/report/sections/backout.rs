//! Section 7, the back-out plan: when to back out, the checklist's back-out steps, whether
//! the bundle carries the previous version, how long it takes and what "restored" means.

use crate::manifest::{Phase, Role};
use crate::report::{Backout, Inputs};

/// Whether `i`'s bundle carries the previous version's images (built without
/// `--no-backout`).
pub(crate) fn carried(i: &Inputs<'_>) -> bool {
    i.manifest
        .is_some_and(|m| m.images.iter().any(|img| img.role == Some(Role::Backout)))
}

/// The back-out plan of `i`; the duration counts the dump's nodes when there is one.
pub(crate) fn build(i: &Inputs<'_>) -> Backout {
    let nodes = i.dump.map(|d| d.nodes.len()).filter(|n| *n > 0);
    Backout {
        triggers: vec![
            "kubeadm upgrade apply fails on the first control plane and its own rollback did not restore it".into(),
            "the API server or etcd is not healthy 15 minutes after a control-plane step".into(),
            "a post-check (section 8) fails and cannot be fixed inside the change window".into(),
            "workloads the change owner lists as critical are not running after the workers are upgraded".into(),
        ],
        steps: super::timing::numbered(i, super::runbook::in_phase(i, &[Phase::Backout]), 1),
        previous_version_carried: carried(i),
        expected_duration: match nodes {
            Some(n) => format!("about {} minutes for {n} nodes (30 minutes for etcd and the control planes, 5 minutes per node after)", 30 + 5 * n),
            None => "30 minutes for etcd and the control planes, then about 5 minutes per node (give --cluster-dump for the count)".into(),
        },
        restored_means: vec![
            "`kubectl version` reports the previous server version and every node's kubelet is the previous version".into(),
            "etcd reports healthy and the objects created before the window are present".into(),
            "the post-checks of section 8 pass against the previous version".into(),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture;
    use super::*;

    #[test]
    fn carries_the_back_out_steps_and_times_them_by_the_dumps_nodes() {
        let (m, d) = (fixture::manifest(), fixture::dump());
        let i = Inputs {
            manifest: Some(&m),
            dump: Some(&d),
            ..Default::default()
        };
        let b = build(&i);
        assert!(b.previous_version_carried && carried(&i));
        assert_eq!(b.steps.len(), 1);
        assert_eq!(b.steps[0].step.id, "backout.restore");
        assert!(
            b.expected_duration
                .starts_with("about 40 minutes for 2 nodes")
        );
        assert_eq!((b.triggers.len(), b.restored_means.len()), (4, 3));
    }

    #[test]
    fn without_a_back_out_set_or_a_dump_says_so() {
        let mut m = fixture::manifest();
        m.images.retain(|img| img.role != Some(Role::Backout));
        let b = build(&Inputs {
            manifest: Some(&m),
            ..Default::default()
        });
        assert!(!b.previous_version_carried);
        assert!(b.expected_duration.contains("give --cluster-dump"));
    }
}
