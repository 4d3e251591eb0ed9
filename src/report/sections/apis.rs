//! Section 3, removed APIs: the API versions the target no longer serves (from the hop's
//! facts) and, with a cluster dump, the objects that use them.

use crate::cluster::RemovedApi;
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
    let (two_step, due_in_step2) = placement(i);
    Apis {
        removed,
        in_use,
        two_step,
        due_in_step2,
    }
}

/// Where a two-step hop's API removals land: the target minor's own in step 2, not in
/// step 1, whose control plane emulates the from-minor (docs/design/two-step.md §4).
fn placement(i: &Inputs<'_>) -> (Option<String>, Vec<RemovedApi>) {
    let Some(f) = i.facts else {
        return (None, Vec::new());
    };
    let Some(t) = &f.two_step else {
        return (None, Vec::new());
    };
    let text = if t.step == 1 {
        format!(
            "Step 1 of a two-step hop: {} run with --emulated-version={}, so the API versions the new minor removes are expected to stay served (upstream documents this; the kube-apiserver code that applies it was not read) and are removed in step 2; the list above is what stops being served now. The new minor's new APIs and feature-gate defaults also arrive in step 2, not here (emulation keeps the old minor's); the catalog holds no per-minor list of them, so this report does not enumerate them",
            t.components.join(", "),
            t.emulated_version
        )
    } else {
        format!(
            "Step 2 of a two-step hop: the control plane stops emulating {}; the API versions the new minor removes stop being served in this step, and its new APIs and feature-gate defaults take effect (the catalog holds no per-minor list of those, so this report does not enumerate them)",
            t.emulated_version
        )
    };
    (Some(text), f.removed_apis_in_step2.clone())
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
