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
