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
