//! Which minors upstream supports on a given day, and what that means for a plan: teams
//! that cannot move every four months need to see how far they are from a supported
//! release.

use serde::Serialize;

use super::plan::PlannedHop;
use super::{Catalog, Date, MinorEntry};

/// Where a minor stands on a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Support {
    /// Released and not past its end-of-life date.
    Supported,
    /// Past its end-of-life date.
    EndOfLife,
    /// Not released yet (on the catalog's dates).
    NotReleased,
}

impl Support {
    /// The words used in output.
    pub fn as_str(self) -> &'static str {
        match self {
            Support::Supported => "supported",
            Support::EndOfLife => "end of life",
            Support::NotReleased => "not released",
        }
    }
}

/// The support of `m` on `today`: supported from its release date through its
/// end-of-life date.
pub fn support_of(m: &MinorEntry, today: Date) -> Support {
    if today < m.released {
        Support::NotReleased
    } else if today > m.end_of_life {
        Support::EndOfLife
    } else {
        Support::Supported
    }
}

/// One line of `airlock catalog status`.
#[derive(Debug, Clone, Serialize)]
pub struct MinorStatus {
    /// `1.36`.
    pub minor: String,
    /// Release date.
    pub released: Date,
    /// End-of-life date.
    pub end_of_life: Date,
    /// Support on the day asked about.
    pub support: Support,
    /// Days from that day to the end of life (negative once past).
    pub days_to_end_of_life: i64,
    /// Newest patch the catalog knows.
    pub latest_patch: String,
    /// Catalog values of this minor marked uncertain.
    pub uncertain_values: usize,
    /// The served APIs were read from discovery documents.
    pub served_apis_known: bool,
}

/// Every minor of the catalog on `today`.
pub fn status(catalog: &Catalog, today: Date) -> Vec<MinorStatus> {
    catalog
        .minors
        .iter()
        .map(|m| MinorStatus {
            minor: m.minor.clone(),
            released: m.released,
            end_of_life: m.end_of_life,
            support: support_of(m, today),
            days_to_end_of_life: today.days_until(&m.end_of_life),
            latest_patch: format!("v{}.{}", m.minor, m.latest_patch),
            uncertain_values: uncertain_count(m),
            served_apis_known: m.served_apis.is_some(),
        })
        .collect()
}

fn uncertain_count(m: &MinorEntry) -> usize {
    let rows = m
        .images
        .iter()
        .flat_map(|i| i.tags.iter())
        .filter(|r| r.confidence.is_some())
        .count();
    let tools = m.tools.iter().filter(|t| t.confidence.is_some()).count();
    let apis = m
        .removed_apis
        .iter()
        .filter(|r| r.confidence.is_some())
        .count();
    let latest = usize::from(m.latest_patch_confidence.is_some());
    rows + tools + apis + latest
}

/// Support facts of one planned hop's target.
#[derive(Debug, Clone, Serialize)]
pub struct HopSupport {
    /// The target minor, `1.35`.
    pub target_minor: String,
    /// Its support on the planning day.
    pub support: Support,
    /// Its end-of-life date.
    pub end_of_life: Date,
    /// After this hop, how many more hops until the cluster runs a supported minor: 0 when
    /// this hop's target is supported; `None` when no later hop of the plan reaches one.
    pub more_hops_to_supported: Option<usize>,
}

/// Support facts for each hop of a plan (same order). Minors the catalog does not list
/// cannot occur: plans are made from the catalog.
pub fn plan_support(catalog: &Catalog, hops: &[PlannedHop], today: Date) -> Vec<HopSupport> {
    let supports: Vec<Option<(Support, &MinorEntry)>> = hops
        .iter()
        .map(|h| catalog.minor_of(&h.to).map(|m| (support_of(m, today), m)))
        .collect();
    supports
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let (support, m) = (*s)?;
            let more = supports[i..]
                .iter()
                .position(|s| matches!(s, Some((Support::Supported, _))));
            Some(HopSupport {
                target_minor: m.minor.clone(),
                support,
                end_of_life: m.end_of_life,
                more_hops_to_supported: more,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Version;

    fn d(s: &str) -> Date {
        s.parse().unwrap()
    }

    #[test]
    fn supported_minors_on_the_day_of_the_issue() {
        let c = Catalog::builtin().unwrap();
        let s = status(&c, d("2026-11-25"));
        let supported: Vec<&str> = s
            .iter()
            .filter(|m| m.support == Support::Supported)
            .map(|m| m.minor.as_str())
            .collect();
        assert_eq!(supported, ["1.35", "1.36", "1.37"]);
        let m134 = s.iter().find(|m| m.minor == "1.34").unwrap();
        assert_eq!(m134.support, Support::EndOfLife);
        assert_eq!(m134.days_to_end_of_life, -29);
        let early = status(&c, d("2026-08-01"));
        let m137 = early.iter().find(|m| m.minor == "1.37").unwrap();
        assert_eq!(m137.support, Support::NotReleased);
    }

    #[test]
    fn hops_to_a_supported_minor() {
        let c = Catalog::builtin().unwrap();
        let from: Version = "v1.33.1".parse().unwrap();
        let to: Version = "v1.37.1".parse().unwrap();
        let hops = crate::catalog::plan::plan(&c, &from, &to).unwrap();
        let s = plan_support(&c, &hops, d("2026-11-25"));
        let more: Vec<Option<usize>> = s.iter().map(|h| h.more_hops_to_supported).collect();
        // 1.33.1 -> 1.33.13, -> 1.34, -> 1.35 (supported), -> 1.36, -> 1.37.
        assert_eq!(more, [Some(2), Some(1), Some(0), Some(0), Some(0)]);
        assert_eq!(s[1].support, Support::EndOfLife);
        // In 2030 nothing in this plan is supported.
        let s = plan_support(&c, &hops, d("2030-01-01"));
        assert!(s.iter().all(|h| h.more_hops_to_supported.is_none()));
    }
}
