//! Whether the catalog offers a two-step hop (issue 27): new binaries first under the old
//! minor's behaviour (`--emulated-version`), the new behaviour in a later window. The
//! facts are per target minor (`compatibility` in the catalog); `docs/design/two-step.md`
//! has the reading behind them.

use super::{Catalog, Compatibility, TwoStepOffer, Version};
use crate::error::{Error, Result};

/// The control-plane components that take `--emulated-version` (kubernetes/kubernetes PRs
/// #125769, #125778, #126789); kubelet and kube-proxy do not.
pub const EMULATING_COMPONENTS: [&str; 3] = [
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
];

/// What a two-step hop rests on: the emulated minor and the target's facts.
#[derive(Debug, Clone)]
pub struct Offer<'a> {
    /// `"1.36"`: the minor the new control plane emulates in step 1.
    pub emulated: String,
    /// The target minor's compatibility facts.
    pub facts: &'a Compatibility,
}

fn refuse(from: &Version, to: &Version, reason: String) -> Error {
    Error::invalid(
        "two-step hop",
        format!("{from} -> {to}"),
        format!("{reason}; resolve it as a normal hop (without --two-step)"),
    )
}

/// The two-step offer for `from -> to`, or why there is none: the hop must go up exactly
/// one minor, and the target's catalog facts must offer the mode with a range that holds
/// the `from` minor.
pub fn offer<'a>(catalog: &'a Catalog, from: &Version, to: &Version) -> Result<Offer<'a>> {
    if to.minor != from.minor + 1 {
        return Err(refuse(
            from,
            to,
            "a two-step hop goes up exactly one minor (step 1 emulates the from-minor)".into(),
        ));
    }
    let key = to.minor_key();
    let emulated = from.minor_key();
    let facts = catalog
        .minor_of(to)
        .and_then(|m| m.compatibility.as_ref())
        .ok_or_else(|| {
            refuse(
                from,
                to,
                format!(
                    "the catalog records no compatibility-version facts for {key} (not established)"
                ),
            )
        })?;
    if facts.two_step == TwoStepOffer::Refused {
        let why = facts.refusal.as_deref().unwrap_or("refused by the catalog");
        return Err(refuse(from, to, format!("{key}: {why}")));
    }
    let holds = facts.emulated_version.as_ref().is_some_and(|r| {
        super::parse_minor_key(&r.min).is_some_and(|lo| lo <= from.minor)
            && super::parse_minor_key(&r.max).is_some_and(|hi| hi >= from.minor)
    });
    if !holds {
        return Err(refuse(
            from,
            to,
            format!("{key} does not accept --emulated-version={emulated}"),
        ));
    }
    Ok(Offer { emulated, facts })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    #[test]
    fn offered_only_where_the_target_emulates_the_from_minor() {
        let c = Catalog::builtin().unwrap();
        let o = offer(&c, &v("v1.36.4"), &v("v1.37.1")).unwrap();
        assert_eq!(o.emulated, "1.36");
        assert_eq!(o.facts.components, EMULATING_COMPONENTS);
        for (from, to, why) in [
            (
                "v1.30.14",
                "v1.31.14",
                "accepts only --emulated-version=1.31",
            ),
            ("v1.31.14", "v1.32.13", "1.32..1.32"),
            ("v1.29.15", "v1.30.14", "no --emulated-version"),
            ("v1.36.1", "v1.36.4", "exactly one minor"),
        ] {
            let e = offer(&c, &v(from), &v(to)).unwrap_err().to_string();
            assert!(e.contains(why), "{from} -> {to}: {e}");
            assert!(e.contains("without --two-step"), "{e}");
        }
    }

    #[test]
    fn a_minor_without_facts_is_refused_as_not_established() {
        let mut c = Catalog::builtin().unwrap();
        for m in &mut c.minors {
            if m.minor == "1.37" {
                m.compatibility = None;
            }
        }
        let e = offer(&c, &v("v1.36.4"), &v("v1.37.1"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no compatibility-version facts for 1.37"), "{e}");
        assert!(e.contains("not established"), "{e}");
    }

    #[test]
    fn validation_rejects_an_offer_the_facts_do_not_carry() {
        let base = Catalog::builtin().unwrap();
        let edit = |f: &dyn Fn(&mut Compatibility)| {
            let mut c = base.clone();
            for m in &mut c.minors {
                if m.minor == "1.37" {
                    f(m.compatibility.as_mut().unwrap());
                }
            }
            c.validate().unwrap_err()
        };
        let e = edit(&|c| c.components.pop().map(|_| ()).unwrap_or(()));
        assert!(e.contains("not all of"), "{e}");
        let e = edit(&|c| c.unconfirmed.push("kubeadm keeps extraArgs".into()));
        assert!(e.contains("unconfirmed"), "{e}");
        let e = edit(&|c| c.source = vec!["nowhere".into()]);
        assert!(e.contains("\"nowhere\" is not in `sources`"), "{e}");
        let e = edit(&|c| {
            c.two_step = TwoStepOffer::Refused;
            c.refusal = None;
        });
        assert!(e.contains("without a refusal reason"), "{e}");
        let e = edit(&|c| c.components.push("kubelet".into()));
        assert!(e.contains("\"kubelet\" is not one of"), "{e}");
        let e = edit(&|c| {
            if let Some(r) = c.emulated_version.as_mut() {
                r.min = "1.37".into();
            }
        });
        assert!(e.contains("does not hold 1.36"), "{e}");
    }
}
