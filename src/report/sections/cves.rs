//! Section 5, CVEs and the hop: the findings of the feed when one was given (read and
//! evaluated in [`crate::report::cve`]), or why there are none.

use crate::report::{CveFinding, Evaluated, Inputs};

/// The CVE section of `i`.
pub(crate) fn build(i: &Inputs<'_>) -> Evaluated<CveFinding> {
    match &i.cves {
        Some(c) => Evaluated::yes(c.clone()),
        None => Evaluated::no("no CVE feed given (--cve-feed)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::cve::CveStatus;

    #[test]
    fn lists_the_feed_findings_or_says_no_feed_was_given() {
        let none = build(&Inputs::default());
        assert!(!none.evaluated && none.items.is_empty());
        assert_eq!(
            none.reason.as_deref(),
            Some("no CVE feed given (--cve-feed)")
        );
        let finding = CveFinding {
            id: "CVE-2026-1001".into(),
            url: None,
            summary: "kubelet path traversal".into(),
            fixed_versions: vec!["v1.30.1".into()],
            status: CveStatus::FixedByHop,
        };
        let some = build(&Inputs {
            cves: Some(vec![finding]),
            ..Default::default()
        });
        assert!(some.evaluated && some.reason.is_none());
        assert_eq!(some.items[0].id, "CVE-2026-1001");
    }
}
