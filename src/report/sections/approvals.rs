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
