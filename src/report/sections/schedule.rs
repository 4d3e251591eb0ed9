//! The catch-up schedule (issue 26): the control plane's and the workers' versions over
//! the phases, and the drains the skipping plan saves against one-minor-at-a-time.

use crate::manifest::WorkersMode;
use crate::report::Inputs;
use crate::report::model::ScheduleView;

/// The view, when the bundle carries a schedule.
pub(in crate::report) fn build(i: &Inputs<'_>, workers: Option<u64>) -> Option<ScheduleView> {
    let schedule = i.manifest?.schedule.clone()?;
    let every = schedule.phases.len();
    let stops = schedule.worker_stops();
    let saved = every - stops;
    let mut note = match schedule.workers {
        WorkersMode::Skip => "Workers stay behind the control plane within the skew the catalog states (kubelet and kube-proxy up to 3 minors older from 1.28, kubeadm's kubelet skew N-3 from 1.29) and jump several minors at once where they land. An in-place kubelet upgrade across several minors is not documented upstream: every worker is drained first.".to_string(),
        WorkersMode::EveryMinor => "Every node takes every hop.".to_string(),
    };
    let kubeadm_steps = schedule.worker_kubeadm_steps();
    if kubeadm_steps > 0 {
        note.push_str(&format!(
            " kubeadm upgrades a node only from the kubeadm one minor older, so in {kubeadm_steps} phase(s) where workers stay each worker still takes the control plane's kubeadm and kubeadm upgrade node, without a drain and with its kubelet unchanged."
        ));
    }
    if !schedule.accepted_uncertain.is_empty() {
        note.push_str(&format!(
            " Planned on facts the catalog marks uncertain, accepted with --accept-uncertain-skew: {}.",
            schedule.accepted_uncertain.join("; ")
        ));
    }
    Some(ScheduleView {
        drains_per_worker: stops,
        drains_per_worker_every_minor: every,
        drains_saved_per_worker: saved,
        drains_saved: workers.map(|w| w as usize * saved),
        note,
        schedule,
    })
}

#[cfg(test)]
mod tests {
    use super::super::fixture;
    use super::*;
    use crate::manifest::{Schedule, SchedulePhase};

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
    fn counts_the_drains_saved_and_draws_both_lines() {
        let mut m = fixture::manifest();
        m.schedule = Some(Schedule {
            workers: WorkersMode::Skip,
            from: "v1.33.9".into(),
            phases: vec![
                phase(1, "v1.33.9", "v1.34.5", false, "v1.33.9"),
                phase(2, "v1.34.5", "v1.35.3", false, "v1.33.9"),
                phase(3, "v1.35.3", "v1.36.2", true, "v1.36.2"),
                phase(4, "v1.36.2", "v1.37.1", true, "v1.37.1"),
            ],
            accepted_uncertain: vec!["1.34 kubeadm: not read".into()],
        });
        // Workers' kubeadm moves with the control plane where they stay.
        let s = m.schedule.as_mut().unwrap();
        s.phases[0].workers_kubeadm = Some("v1.34.5".into());
        s.phases[1].workers_kubeadm = Some("v1.35.3".into());
        let i = Inputs {
            manifest: Some(&m),
            ..Default::default()
        };
        let v = build(&i, Some(40)).unwrap();
        assert_eq!(
            (v.drains_per_worker, v.drains_per_worker_every_minor),
            (2, 4)
        );
        assert_eq!((v.drains_saved_per_worker, v.drains_saved), (2, Some(80)));
        assert!(v.note.contains("1.34 kubeadm: not read"), "{}", v.note);
        assert!(
            v.note
                .contains("in 2 phase(s) where workers stay each worker still takes"),
            "{}",
            v.note
        );
        let mut r = crate::report::assemble(&i);
        r.schedule = Some(v);
        let svg = crate::report::svg::schedule(&r);
        // Rows 1.33 (bottom) .. 1.37 (top), 28 px apart from y=20: the control plane climbs
        // one row per phase; the workers stay on 1.33 for two phases, then jump to 1.36.
        assert!(
            svg.contains(r#"d="M60.0,132.0 H200.0 V104.0 H340.0 V76.0 H480.0 V48.0 H620.0 V20.0""#),
            "{svg}"
        );
        assert!(
            svg.contains(
                r#"d="M60.0,132.0 H200.0 V132.0 H340.0 V132.0 H480.0 V48.0 H620.0 V20.0""#
            ),
            "{svg}"
        );
        assert!(svg.contains(">1.33</text>") && svg.contains(">phase 4</text>"));
    }
}
