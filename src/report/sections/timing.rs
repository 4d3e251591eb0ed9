//! Section 6, duration: every runbook step numbered and estimated
//! ([`crate::checklist::estimate`]), summed per phase and in all for the node count
//! (`--nodes`, or counted from the cluster dump), and set against the change window.

use crate::checklist::estimate::{Basis, Estimate, Scale, estimate};
use crate::manifest::{Phase, Step};
use crate::report::{Inputs, NodeCount, PhaseTime, RunbookStep, StepEstimate, Timing};

/// The node count: `--nodes`, else the dump's nodes (those labelled control-plane, the
/// rest workers; a dump without the label counts one control plane).
pub(crate) fn nodes(i: &Inputs<'_>) -> Option<NodeCount> {
    if let Some(n) = i.nodes {
        return Some(n);
    }
    let d = i.dump.filter(|d| !d.nodes.is_empty())?;
    let total = d.nodes.len() as u64;
    let labelled = d.nodes.iter().filter(|n| n.control_plane).count() as u64;
    let control_plane = labelled.max(1);
    Some(NodeCount {
        control_plane,
        workers: total - control_plane,
        source: "cluster-dump",
    })
}

/// The scale of `i`'s bundle at `n` nodes.
fn scale(i: &Inputs<'_>, n: Option<NodeCount>) -> Option<Scale> {
    let n = n?;
    Some(Scale {
        control_planes: n.control_plane,
        workers: n.workers,
        images: bundle_images(i),
        content_bytes: bundle_bytes(i),
    })
}

fn bundle_images(i: &Inputs<'_>) -> u64 {
    i.manifest.map(|m| m.images.len() as u64).unwrap_or(0)
}

fn bundle_bytes(i: &Inputs<'_>) -> u64 {
    i.manifest
        .map(|m| m.entries.iter().map(|e| e.size).sum())
        .unwrap_or(0)
}

/// `steps` numbered from `first`, each with its estimate at `i`'s node count.
pub(crate) fn numbered(i: &Inputs<'_>, steps: Vec<Step>, first: usize) -> Vec<RunbookStep> {
    let s = scale(i, nodes(i));
    steps
        .into_iter()
        .enumerate()
        .map(|(k, step)| {
            let e = estimate(&step.id);
            let known = s.or_else(|| {
                // Steps that do not scale with nodes have a total without a node count.
                matches!(e.basis, Basis::Fixed | Basis::PerImage | Basis::PerGib).then(|| Scale {
                    control_planes: 1,
                    workers: 0,
                    images: bundle_images(i),
                    content_bytes: bundle_bytes(i),
                })
            });
            RunbookStep {
                number: first + k,
                estimate: StepEstimate {
                    basis: e.basis,
                    minutes_each: e.minutes,
                    minutes: known.map(|s| e.total(&s)),
                    source: e.source.to_string(),
                },
                step,
            }
        })
        .collect()
}

/// Minutes as a linear form in the node counts: fixed, per additional control plane,
/// per worker, per node.
#[derive(Default, Clone, Copy)]
struct Form([u64; 4]);

impl Form {
    fn add(&mut self, e: &Estimate, i: &Inputs<'_>) {
        let m = u64::from(e.minutes);
        let one = Scale {
            control_planes: 1,
            workers: 0,
            images: bundle_images(i),
            content_bytes: bundle_bytes(i),
        };
        match e.basis {
            Basis::Fixed | Basis::PerImage | Basis::PerGib => self.0[0] += e.total(&one),
            Basis::PerAdditionalControlPlane => self.0[1] += m,
            Basis::PerWorker => self.0[2] += m,
            Basis::PerNode => self.0[3] += m,
        }
    }

    fn at(&self, n: NodeCount) -> u64 {
        let [f, acp, w, node] = self.0;
        f + acp * n.control_plane.saturating_sub(1)
            + w * n.workers
            + node * (n.control_plane + n.workers)
    }

    fn text(&self) -> String {
        let [f, acp, w, node] = self.0;
        let mut parts = vec![format!("{f} min")];
        for (m, what) in [
            (acp, "per additional control plane"),
            (w, "per worker"),
            (node, "per node"),
        ] {
            if m > 0 {
                parts.push(format!("{m} min {what}"));
            }
        }
        parts.join(" + ")
    }
}

/// Minutes as people read them: `2 h 05 min`, `45 min`.
pub(crate) fn minutes_text(m: u64) -> String {
    if m < 60 {
        format!("{m} min")
    } else {
        format!("{} h {:02} min", m / 60, m % 60)
    }
}

/// Section 6 from the numbered runbook and validation.
pub(crate) fn build(i: &Inputs<'_>, runbook: &[RunbookStep], validation: &[RunbookStep]) -> Timing {
    let n = nodes(i);
    let mut phases: Vec<(Phase, Form)> = Vec::new();
    let mut all = Form::default();
    for s in runbook.iter().chain(validation) {
        let e = estimate(&s.step.id);
        if phases.last().map(|(p, _)| *p) != Some(s.step.phase) {
            phases.push((s.step.phase, Form::default()));
        }
        if let Some((_, f)) = phases.last_mut() {
            f.add(&e, i);
        }
        all.add(&e, i);
    }
    let window_minutes = i
        .manifest
        .and_then(|m| Some((m.not_before?, m.expires?)))
        .map(|(a, b)| (b.0 - a.0).max(0) as u64 / 60);
    // Nothing to time is not "0 minutes".
    let total_minutes = n.filter(|_| !phases.is_empty()).map(|n| all.at(n));
    Timing {
        nodes: n,
        phases: phases
            .into_iter()
            .map(|(phase, f)| PhaseTime {
                phase,
                minutes: n.map(|n| f.at(n)),
                formula: f.text(),
            })
            .collect(),
        total_minutes,
        formula: all.text(),
        window_minutes,
        fits_window: total_minutes.zip(window_minutes).map(|(t, w)| t <= w),
        note: "Estimates, not measurements: each step's figure and where it comes from is \
               beside the step. Per-worker steps are counted one node after another; workers \
               drained in batches take less."
            .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture;
    use super::*;
    use crate::manifest::Phase;

    #[test]
    fn steps_are_numbered_and_summed_per_phase_for_the_node_count() {
        let m = fixture::manifest();
        let i = Inputs {
            manifest: Some(&m),
            nodes: Some(NodeCount {
                control_plane: 3,
                workers: 40,
                source: "nodes-option",
            }),
            ..Default::default()
        };
        let rb = numbered(&i, super::super::runbook::runbook(&i), 1);
        let numbers: Vec<(usize, &str)> =
            rb.iter().map(|s| (s.number, s.step.id.as_str())).collect();
        assert_eq!(
            numbers,
            [(1, "pre.snapshot"), (2, "cp1.apply"), (3, "workers.drain")]
        );
        assert_eq!(rb[2].estimate.minutes, Some(200));
        let val = numbered(&i, super::super::runbook::validation(&i), rb.len() + 1);
        assert_eq!(val[0].number, 4);
        let t = build(&i, &rb, &val);
        let per: Vec<(Phase, Option<u64>)> =
            t.phases.iter().map(|p| (p.phase, p.minutes)).collect();
        assert_eq!(
            per,
            [
                (Phase::Pre, Some(5)),
                (Phase::Cp1, Some(20)),
                (Phase::Workers, Some(200)),
                (Phase::Post, Some(2))
            ]
        );
        assert_eq!(t.total_minutes, Some(227));
        assert_eq!(t.formula, "27 min + 5 min per worker");
        // The fixture's window is 3 days.
        assert_eq!((t.window_minutes, t.fits_window), (Some(4320), Some(true)));
        assert_eq!(minutes_text(227), "3 h 47 min");
    }

    #[test]
    fn without_a_node_count_the_total_is_a_formula_and_the_dump_counts_nodes() {
        let m = fixture::manifest();
        let i = Inputs {
            manifest: Some(&m),
            ..Default::default()
        };
        let rb = numbered(&i, super::super::runbook::runbook(&i), 1);
        assert_eq!(rb[0].estimate.minutes, Some(5));
        assert_eq!(rb[2].estimate.minutes, None);
        let t = build(&i, &rb, &[]);
        assert_eq!((t.total_minutes, t.fits_window), (None, None));
        let empty = build(
            &Inputs {
                nodes: Some(NodeCount {
                    control_plane: 1,
                    workers: 1,
                    source: "nodes-option",
                }),
                ..Default::default()
            },
            &[],
            &[],
        );
        assert!(empty.phases.is_empty() && empty.total_minutes.is_none());
        let d = fixture::dump();
        let n = nodes(&Inputs {
            dump: Some(&d),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(n.source, "cluster-dump");
        assert_eq!(n.control_plane + n.workers, d.nodes.len() as u64);
    }
}
