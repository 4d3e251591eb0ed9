//! Section 9, approvals: every signature, counted against the policy when one was given,
//! otherwise as its trusted comment claims (not verified: for listing).

use crate::report::{ApprovalLine, Approvals, Inputs};
use crate::trust::policy::Evaluation;

/// The approvals of `i`.
pub(crate) fn build(i: &Inputs<'_>) -> Approvals {
    match i.approvals {
        Some(e) => checked(e),
        None => unchecked(&i.signatures),
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
                name: Some(c.name.clone()),
                role: c.role.clone(),
                time: c.time.clone(),
                counted: Some(true),
            })
            .chain(e.not_counted.iter().map(|n| ApprovalLine {
                file: n.file.clone(),
                name: None,
                role: None,
                time: None,
                counted: Some(false),
            }))
            .collect(),
        still_needed: e.missing(),
    }
}

/// Signatures (file, trusted comment) as their comments claim, without a policy.
fn unchecked(signatures: &[(String, String)]) -> Approvals {
    Approvals {
        checked: false,
        signatures: signatures
            .iter()
            .map(|(file, comment)| {
                let c = crate::trust::comment::parse(comment);
                let field = |k: &str| c.as_ref().and_then(|c| c.get(k)).map(str::to_string);
                ApprovalLine {
                    file: file.clone(),
                    name: field("signer"),
                    role: field("role"),
                    time: field("time"),
                    counted: None,
                }
            })
            .collect(),
        still_needed: vec![
            "not checked against a policy: render with --policy to see what is still needed".into(),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::policy::{Counted, NotCounted, RuleStatus};

    #[test]
    fn without_a_policy_lists_what_the_comments_claim_and_counts_nothing() {
        let a = build(&Inputs {
            signatures: vec![
                (
                    "A.minisig".into(),
                    "airlock-approval signer=alice role=change-board time=2026-12-01T08:00:00Z"
                        .into(),
                ),
                ("B.minisig".into(), "written by hand".into()),
            ],
            ..Default::default()
        });
        assert!(!a.checked);
        let alice = &a.signatures[0];
        assert_eq!(alice.name.as_deref(), Some("alice"));
        assert_eq!(alice.role.as_deref(), Some("change-board"));
        assert_eq!(alice.time.as_deref(), Some("2026-12-01T08:00:00Z"));
        assert_eq!(alice.counted, None);
        // A comment airlock did not write names no one.
        assert_eq!(a.signatures[1].file, "B.minisig");
        assert_eq!(a.signatures[1].name, None);
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
        let counted: Vec<(&str, Option<bool>)> = a
            .signatures
            .iter()
            .map(|s| (s.file.as_str(), s.counted))
            .collect();
        assert_eq!(
            counted,
            [
                ("signatures/A.minisig", Some(true)),
                ("signatures/B.minisig", Some(false))
            ]
        );
        assert_eq!(a.signatures[0].role.as_deref(), Some("builder"));
        assert_eq!(a.still_needed, ["1 more change-board"]);
    }
}
