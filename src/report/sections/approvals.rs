//! Section 9, approvals: every signature as the policy counted it, with the change
//! number its approval names, when a policy was given. Without one nothing is listed:
//! what a signature's comment claims is not an approval until a policy counts it, and the
//! report inside the bundle is written before any signature exists (so listing claims
//! would make a re-render differ from it). The approvals page beside the bundle
//! (`airlock report --policy`) is where a board reads them.

use crate::report::{ApprovalLine, Approvals, Inputs};
use crate::trust::policy::Evaluation;

/// The approvals of `i`.
pub(crate) fn build(i: &Inputs<'_>) -> Approvals {
    match i.approvals {
        Some(e) => checked(e),
        None => Approvals {
            checked: false,
            signatures: Vec::new(),
            still_needed: vec![
                "not checked against a policy: airlock report BUNDLE --policy FILE --out DIR \
                 writes the approvals page beside the bundle"
                    .into(),
            ],
        },
    }
}

/// Signatures as the policy counted them, and what it still needs.
fn checked(e: &Evaluation) -> Approvals {
    Approvals {
        checked: true,
        signatures: e
            .counted
            .iter()
            .map(|c| ApprovalLine {
                file: c.file.clone(),
                key_id: Some(c.key_id.clone()),
                name: Some(c.name.clone()),
                role: c.role.clone(),
                time: c.time.clone(),
                tsa_time: c
                    .timestamp
                    .as_ref()
                    .map(|t| format!("{} by {} (±{} s)", t.time, t.tsa, t.accuracy_secs)),
                change: c.change.clone(),
                counted: true,
                reason: None,
            })
            .chain(e.not_counted.iter().map(|n| ApprovalLine {
                file: n.file.clone(),
                key_id: None,
                name: None,
                role: None,
                time: None,
                tsa_time: None,
                change: None,
                counted: false,
                reason: Some(n.reason.clone()),
            }))
            .collect(),
        still_needed: e.missing(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::policy::{Counted, NotCounted, RuleStatus};

    #[test]
    fn without_a_policy_lists_nothing_and_says_how_to_check() {
        let a = build(&Inputs::default());
        assert!(!a.checked && a.signatures.is_empty());
        assert!(a.still_needed[0].contains("--policy"));
    }

    #[test]
    fn with_a_policy_says_what_counted_and_what_is_still_needed() {
        let e = Evaluation {
            counted: vec![Counted {
                file: "signatures/A.minisig".into(),
                key_id: "A".into(),
                name: "alice".into(),
                role: Some("builder".into()),
                claimed_signer: None,
                time: Some("2026-12-01T08:00:00Z".into()),
                change: Some("CHG-2211".into()),
                policy_version: None,
                timestamp: Some(crate::trust::timestamp::TimeStampFacts {
                    time: crate::time::Timestamp::parse("2026-12-01T08:00:03Z", true).unwrap(),
                    accuracy_secs: 1,
                    tsa: "corp tsa".into(),
                    serial: "01".into(),
                    policy_oid: "1.2.3.4".into(),
                }),
                timestamp_problem: None,
            }],
            not_counted: vec![NotCounted {
                file: "signatures/B.minisig".into(),
                reason: "key not in the policy".into(),
            }],
            rules: vec![RuleStatus {
                role: Some("change-board".into()),
                need: 1,
                have: vec![],
            }],
        };
        let a = build(&Inputs {
            approvals: Some(&e),
            ..Default::default()
        });
        assert!(a.checked);
        let counted: Vec<(&str, bool)> = a
            .signatures
            .iter()
            .map(|s| (s.file.as_str(), s.counted))
            .collect();
        assert_eq!(
            counted,
            [
                ("signatures/A.minisig", true),
                ("signatures/B.minisig", false)
            ]
        );
        assert_eq!(a.signatures[0].role.as_deref(), Some("builder"));
        assert_eq!(a.signatures[0].change.as_deref(), Some("CHG-2211"));
        assert_eq!(
            a.signatures[0].tsa_time.as_deref(),
            Some("2026-12-01T08:00:03Z by corp tsa (±1 s)")
        );
        assert_eq!(a.signatures[1].tsa_time, None);
        assert_eq!(
            a.signatures[1].reason.as_deref(),
            Some("key not in the policy")
        );
        assert_eq!(a.still_needed, ["1 more change-board"]);
    }
}
