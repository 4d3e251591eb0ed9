//! Sections 6 and 8, the implementation runbook and the validation plan: the lock's
//! checklist, by phase. The back-out steps are section 7's ([`super::backout`]).

use crate::manifest::{Phase, Step};
use crate::report::Inputs;

/// The phases of the implementation runbook, in order.
const RUNBOOK: [Phase; 5] = [
    Phase::Pre,
    Phase::Cp1,
    Phase::Cp,
    Phase::Cni,
    Phase::Workers,
];

/// Section 6: the checklist's steps before, during and of the upgrade.
pub(crate) fn runbook(i: &Inputs<'_>) -> Vec<Step> {
    in_phase(i, &RUNBOOK)
}

/// Section 8: the checklist's post-checks.
pub(crate) fn validation(i: &Inputs<'_>) -> Vec<Step> {
    in_phase(i, &[Phase::Post])
}

/// The checklist's steps in `phases`, in checklist order (none without a checklist).
pub(crate) fn in_phase(i: &Inputs<'_>, phases: &[Phase]) -> Vec<Step> {
    i.manifest
        .and_then(|m| m.checklist.as_ref())
        .map(|steps| {
            steps
                .iter()
                .filter(|s| phases.contains(&s.phase))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::super::fixture;
    use super::*;

    fn ids(steps: Vec<Step>) -> Vec<String> {
        steps.into_iter().map(|s| s.id).collect()
    }

    #[test]
    fn the_runbook_and_the_validation_take_their_phases_in_checklist_order() {
        let m = fixture::manifest();
        let i = Inputs {
            manifest: Some(&m),
            ..Default::default()
        };
        assert_eq!(
            ids(runbook(&i)),
            ["pre.snapshot", "cp1.apply", "workers.drain"]
        );
        assert_eq!(ids(validation(&i)), ["post.nodes"]);
        assert_eq!(ids(in_phase(&i, &[Phase::Backout])), ["backout.restore"]);
    }

    #[test]
    fn without_a_checklist_there_are_no_steps() {
        let mut m = fixture::manifest();
        m.checklist = None;
        let i = Inputs {
            manifest: Some(&m),
            ..Default::default()
        };
        assert!(runbook(&i).is_empty() && validation(&i).is_empty());
        assert!(runbook(&Inputs::default()).is_empty());
    }
}
