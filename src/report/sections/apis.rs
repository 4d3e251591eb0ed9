//! Section 3, removed APIs: the API versions the target no longer serves (from the hop's
//! facts) and, with a cluster dump, the objects that use them.

use crate::report::{Apis, Evaluated, Inputs};

/// The removed-API section of `i`.
pub(crate) fn build(i: &Inputs<'_>) -> Apis {
    let removed = i.facts.map(|f| f.removed_apis.clone()).unwrap_or_default();
    let in_use = match i.dump {
        Some(d) => Evaluated::yes(d.removed_in_use(&removed)),
        None => Evaluated::no(
            "no cluster dump given (--cluster-dump): which objects use a removed API was not checked",
        ),
    };
    Apis { removed, in_use }
}
