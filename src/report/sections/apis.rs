//! Section 3, removed APIs: the API versions the target no longer serves (from the hop's
//! facts) and, with a cluster dump, the objects that use them.

use crate::report::{Apis, Evaluated, Inputs};

/// The removed-API section of `i`.
pub(crate) fn build(i: &Inputs<'_>) -> Apis {
    let removed = i.facts.map(|f| f.removed_apis.clone()).unwrap_or_default();
    let in_use = match i.dump {
        Some(d) if !d.can_show_api_use() => Evaluated::no(
            "the cluster dump holds no objects but Nodes and no --metrics scrape was given: which objects use a removed API was not checked",
        ),
        // Without the list a check would pass everything: say so instead.
        Some(_) if removed.is_empty() => Evaluated::no(
            "the hop's facts list no removed API versions: which objects use one was not checked",
        ),
        Some(d) => Evaluated::yes(d.removed_in_use(&removed)),
        None => Evaluated::no(
            "no cluster dump given (--cluster-dump, --metrics): which objects use a removed API was not checked",
        ),
    };
    Apis { removed, in_use }
}

#[cfg(test)]
mod tests {
    use super::super::fixture;
    use super::*;

    #[test]
    fn names_the_objects_on_a_removed_api_when_a_dump_is_given() {
        let (f, d) = (fixture::facts(), fixture::dump());
        let a = build(&Inputs {
            facts: Some(&f),
            dump: Some(&d),
            ..Default::default()
        });
        assert_eq!(a.removed.len(), 1);
        assert_eq!(a.removed[0].group_version, "batch/v1beta1");
        assert!(a.in_use.evaluated && a.in_use.reason.is_none());
        let uses: Vec<(&str, &str)> = a
            .in_use
            .items
            .iter()
            .map(|f| (f.object.name.as_str(), f.uses.as_str()))
            .collect();
        assert_eq!(uses, [("nightly", "batch/v1beta1")]);
    }

    #[test]
    fn says_why_objects_were_not_checked_without_a_dump() {
        let f = fixture::facts();
        let a = build(&Inputs {
            facts: Some(&f),
            ..Default::default()
        });
        assert_eq!(a.removed.len(), 1);
        assert!(!a.in_use.evaluated && a.in_use.items.is_empty());
        assert!(a.in_use.reason.unwrap().contains("--cluster-dump"));
    }
}
