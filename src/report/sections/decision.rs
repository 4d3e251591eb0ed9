//! Section 1, the decision block: the first page a change board reads. Everything in it
//! is drawn from the other sections (the highest risk, the timing total, the runbook's
//! step numbers) or from the policy's evaluation, so it never says more than they do.

use crate::report::{
    ApprovalStatus, Change, Decision, Disruption, Evaluated, Inputs, OverallRisk, PointOfNoReturn,
    Risk, RunbookStep, Severity, Timing,
};
use crate::trust::policy::Evaluation;

use super::timing::minutes_text;

/// What [`build`] reads from the other sections.
pub(crate) struct Parts<'a> {
    pub risks: &'a [Risk],
    pub runbook: &'a [RunbookStep],
    pub timing: &'a Timing,
    pub changes: &'a [Change],
    pub in_use: &'a Evaluated<crate::cluster::Finding>,
    pub cves_reason: Option<&'a str>,
}

/// The decision block of `i`.
pub(crate) fn build(i: &Inputs<'_>, p: &Parts<'_>) -> Decision {
    Decision {
        change: change(i),
        now: i.now.map(|t| t.to_string()),
        overall_risk: overall(p.risks),
        duration: duration(p.timing),
        disruption: disruption(p),
        point_of_no_return: point_of_no_return(p),
        approvals: approvals(i.approvals),
        not_evaluated: not_evaluated(i, p),
    }
}

/// `--change`, else the change number(s) the counted approvals name.
fn change(i: &Inputs<'_>) -> Option<String> {
    i.change.clone().or_else(|| {
        let c = i.approvals?.changes();
        (!c.is_empty()).then(|| c.join(", "))
    })
}

/// The highest open risk (risks are sorted by severity), and how many of each.
fn overall(risks: &[Risk]) -> OverallRisk {
    let count = |s: Severity| risks.iter().filter(|r| r.severity == s).count();
    let counts = [
        count(Severity::High),
        count(Severity::Medium),
        count(Severity::Low),
    ];
    match risks.first() {
        Some(r) => OverallRisk {
            severity: Some(r.severity),
            risk: Some(r.id.clone()),
            reason: r.title.clone(),
            counts,
        },
        None => OverallRisk {
            severity: None,
            risk: None,
            reason: "no risk recorded".into(),
            counts,
        },
    }
}

fn duration(t: &Timing) -> String {
    if t.phases.is_empty() {
        return "not known: the lock has no checklist to time".into();
    }
    match (t.total_minutes, t.nodes) {
        (Some(m), Some(n)) => format!(
            "about {} for {} control plane(s) and {} worker(s) (estimate, section 6)",
            minutes_text(m),
            n.control_plane,
            n.workers
        ),
        _ => format!(
            "{} (estimate, section 6; give --nodes or --cluster-dump for a total)",
            t.formula
        ),
    }
}

/// Which components restart and how many node drains the runbook makes.
fn disruption(p: &Parts<'_>) -> Disruption {
    let changed = |name: &str| {
        p.changes
            .iter()
            .any(|c| c.component.ends_with(name) && c.from != c.to)
    };
    let mut restarts = vec![
        "kube-apiserver, kube-controller-manager, kube-scheduler (each control plane in turn)"
            .to_string(),
    ];
    if changed("etcd") {
        restarts.push("etcd (each member in turn)".into());
    }
    restarts.push("kubelet (every node)".into());
    restarts.push("kube-proxy (every node)".into());
    if changed("coredns") {
        restarts.push("CoreDNS".into());
    }
    restarts.push("every pod on a node while it is drained".into());
    Disruption {
        restarts,
        node_drains: p.timing.nodes.map(|n| n.control_plane + n.workers),
    }
}

/// The first control plane's `kubeadm upgrade apply`: it moves etcd to the target's
/// version; etcd does not go back a minor, so from then on back-out is a snapshot restore.
fn point_of_no_return(p: &Parts<'_>) -> Option<PointOfNoReturn> {
    let apply = p.runbook.iter().find(|s| s.step.id == "cp1.apply")?;
    let snapshot = p
        .runbook
        .iter()
        .find(|s| s.step.id == "pre.snapshot")
        .map(|s| format!("step {} ({})", s.number, s.step.id))
        .unwrap_or_else(|| "the snapshot taken before the window".into());
    let etcd = p
        .changes
        .iter()
        .find(|c| c.component.ends_with("etcd"))
        .and_then(|c| Some((c.from.clone()?, c.to.clone()?)));
    let when = match etcd {
        Some((from, to)) if minor(&from) != minor(&to) => {
            format!("etcd moves from {from} to {to} (a new minor)")
        }
        Some((from, to)) => format!(
            "etcd changes from {from} to {to} (same minor: a rollback of the binaries may \
             still work, but plan on the restore)"
        ),
        None => "etcd moves to the target's version if it changes minor".into(),
    };
    Some(PointOfNoReturn {
        step: apply.number,
        id: apply.step.id.clone(),
        text: format!(
            "After step {} ({}), {when}: backing out is then a snapshot restore from {snapshot} \
             that loses every write made to the cluster since the snapshot.",
            apply.number, apply.step.id
        ),
    })
}

/// `3.5.12-0` -> `3.5`.
fn minor(v: &str) -> String {
    v.trim_start_matches('v')
        .split('.')
        .take(2)
        .collect::<Vec<_>>()
        .join(".")
}

fn approvals(e: Option<&Evaluation>) -> ApprovalStatus {
    let Some(e) = e else {
        return ApprovalStatus {
            status: "not-checked",
            required: Vec::new(),
            present: Vec::new(),
            still_needed: Vec::new(),
        };
    };
    ApprovalStatus {
        status: if e.satisfied() { "met" } else { "not-met" },
        required: e
            .rules
            .iter()
            .map(|r| match &r.role {
                Some(role) => format!("{} {role}", r.need),
                None => format!("{} distinct trusted key(s)", r.need),
            })
            .collect(),
        present: e
            .counted
            .iter()
            .map(|c| match &c.role {
                Some(role) => format!("{} ({role})", c.name),
                None => c.name.clone(),
            })
            .collect(),
        still_needed: e.missing(),
    }
}

fn not_evaluated(i: &Inputs<'_>, p: &Parts<'_>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(r) = &p.in_use.reason {
        out.push(format!("objects on removed APIs: {r}"));
    }
    if let Some(r) = p.cves_reason {
        out.push(format!("CVEs: {r}"));
    }
    if p.timing.nodes.is_none() {
        out.push("total duration: no node count (--nodes or --cluster-dump)".into());
    }
    if i.approvals.is_none() {
        out.push("approvals: no trust policy given (--policy)".into());
    }
    if p.runbook.is_empty() {
        out.push("runbook, timing and point of no return: the lock has no checklist".into());
    }
    for u in i.facts.map(|f| f.uncertain.as_slice()).unwrap_or_default() {
        out.push(format!("catalog value marked uncertain: {u}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{fixture, runbook, timing};
    use super::*;
    use crate::report::NodeCount;
    use crate::trust::policy::{Counted, RuleStatus};

    fn risk(id: &str, severity: Severity) -> Risk {
        Risk {
            id: id.into(),
            severity,
            title: format!("{id} title"),
            evidence: String::new(),
            mitigation: String::new(),
        }
    }

    #[test]
    fn decides_on_the_highest_risk_the_total_and_the_point_of_no_return() {
        let m = fixture::manifest();
        let e = Evaluation {
            counted: vec![Counted {
                file: "signatures/A.minisig".into(),
                key_id: "A".into(),
                name: "alice".into(),
                role: Some("change-board".into()),
                claimed_signer: None,
                time: None,
                change: Some("CHG-2211".into()),
                policy_version: None,
                timestamp: None,
                timestamp_problem: None,
            }],
            not_counted: vec![],
            rules: vec![RuleStatus {
                role: Some("change-board".into()),
                need: 2,
                have: vec!["alice".into()],
            }],
        };
        let i = Inputs {
            manifest: Some(&m),
            approvals: Some(&e),
            nodes: Some(NodeCount {
                control_plane: 3,
                workers: 2,
                source: "nodes-option",
            }),
            ..Default::default()
        };
        let rb = timing::numbered(&i, runbook::runbook(&i), 1);
        let t = timing::build(&i, &rb, &[]);
        let risks = [
            risk("skew.kubelet", Severity::High),
            risk("size", Severity::Low),
        ];
        let changes = [Change {
            component: "etcd".into(),
            from: Some("3.5.12-0".into()),
            to: Some("3.6.1-0".into()),
        }];
        let in_use = Evaluated::no("no cluster dump given");
        let d = build(
            &i,
            &Parts {
                risks: &risks,
                runbook: &rb,
                timing: &t,
                changes: &changes,
                in_use: &in_use,
                cves_reason: None,
            },
        );
        assert_eq!(d.change.as_deref(), Some("CHG-2211"));
        assert_eq!(d.overall_risk.severity, Some(Severity::High));
        assert_eq!(d.overall_risk.reason, "skew.kubelet title");
        assert_eq!(d.overall_risk.counts, [1, 0, 1]);
        assert!(
            d.duration
                .starts_with("about 35 min for 3 control plane(s)"),
            "{}",
            d.duration
        );
        assert_eq!(d.disruption.node_drains, Some(5));
        assert!(d.disruption.restarts.iter().any(|r| r.starts_with("etcd")));
        let p = d.point_of_no_return.unwrap();
        assert_eq!((p.step, p.id.as_str()), (2, "cp1.apply"));
        assert!(
            p.text.contains("3.5.12-0 to 3.6.1-0 (a new minor)"),
            "{}",
            p.text
        );
        assert!(p.text.contains("step 1 (pre.snapshot)") && p.text.contains("loses every write"));
        assert_eq!(d.approvals.status, "not-met");
        assert_eq!(d.approvals.required, ["2 change-board"]);
        assert_eq!(d.approvals.present, ["alice (change-board)"]);
        assert_eq!(
            d.not_evaluated,
            ["objects on removed APIs: no cluster dump given"]
        );
    }

    #[test]
    fn without_a_policy_or_a_runbook_says_what_was_not_evaluated() {
        let i = Inputs::default();
        let t = timing::build(&i, &[], &[]);
        let in_use = Evaluated::yes(vec![]);
        let d = build(
            &i,
            &Parts {
                risks: &[],
                runbook: &[],
                timing: &t,
                changes: &[],
                in_use: &in_use,
                cves_reason: Some("no CVE feed given"),
            },
        );
        assert_eq!((d.overall_risk.severity, d.change), (None, None));
        assert!(d.point_of_no_return.is_none());
        assert_eq!(d.approvals.status, "not-checked");
        assert_eq!(d.not_evaluated.len(), 4, "{:?}", d.not_evaluated);
    }
}
