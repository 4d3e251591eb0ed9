//! Does an add-on work with the target version? Three checks, each a [`CompatCheck`]:
//!
//! - a chart's `kubeVersion` constraint, evaluated as Helm evaluates it;
//! - the hop manifest's `compat:` range (minimum and maximum minor, from the add-on's
//!   documentation);
//! - every apiVersion/kind the add-on's manifests use, against what the target serves:
//!   the catalog's `served_apis` of the target minor when known; otherwise every API
//!   version the catalog says was removed up to the target (`earlier_removed_apis` and
//!   each minor's `removed_apis`), and the verdict says the served set was unknown.
//!   Kinds the add-on defines itself (its CustomResourceDefinitions) are compatible;
//!   custom resources defined elsewhere are not checked, and say so.

use std::collections::{BTreeMap, BTreeSet};

use super::constraint::{Constraints, SemVer};
use crate::addon_facts::{CheckKind, CompatCheck, Verdict};
use crate::catalog::{Catalog, Version, parse_minor_key};
use crate::error::{Error, Result};

/// An apiVersion/kind an add-on uses, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiSeen {
    /// `apps/v1`.
    pub api_version: String,
    /// `DaemonSet`.
    pub kind: String,
    /// `calico.yaml document 4 (line 120) DaemonSet kube-system/calico-node`.
    pub at: String,
}

/// The target version as Helm's `.Capabilities.KubeVersion` (`v1.30.2`).
pub fn target_semver(target: &Version) -> SemVer {
    SemVer {
        major: 1,
        minor: u64::from(target.minor),
        patch: u64::from(target.patch),
        pre: String::new(),
        meta: String::new(),
    }
}

/// A chart's `kubeVersion` against the target. An unparseable constraint is invalid input
/// naming the chart (`origin`).
pub fn kube_version(
    subject: &str,
    constraint: &str,
    origin: &str,
    target: &Version,
) -> Result<CompatCheck> {
    let c = Constraints::parse(constraint).map_err(|e| {
        Error::invalid(
            "Helm chart",
            origin,
            format!(
                "{subject}: kubeVersion {:?} does not parse: {e}",
                crate::escape::Untrusted(constraint).to_string()
            ),
        )
    })?;
    let ok = c.check(&target_semver(target));
    Ok(CompatCheck {
        check: CheckKind::KubeVersion,
        subject: subject.to_string(),
        requirement: format!("kubeVersion {c}"),
        target: target.to_string(),
        verdict: if ok {
            Verdict::Compatible
        } else {
            Verdict::Incompatible
        },
        detail: if ok {
            format!("{target} satisfies {c:?}")
        } else {
            format!("{target} does not satisfy {c:?} (Helm would refuse to install it)")
        },
        source: Some(format!("{origin} Chart.yaml")),
    })
}

/// The hop manifest's `compat:` range against the target.
pub fn support_range(
    min: Option<u32>,
    max: Option<u32>,
    source: &str,
    target: &Version,
) -> CompatCheck {
    let show = |m: Option<u32>| m.map(|n| format!("1.{n}")).unwrap_or_else(|| "any".into());
    let range = format!("Kubernetes {} to {}", show(min), show(max));
    let ok = min.is_none_or(|m| target.minor >= m) && max.is_none_or(|m| target.minor <= m);
    CompatCheck {
        check: CheckKind::SupportRange,
        subject: "compat block".into(),
        requirement: range.clone(),
        target: target.to_string(),
        verdict: if ok {
            Verdict::Compatible
        } else {
            Verdict::Incompatible
        },
        detail: if ok {
            format!("{} is within {range}", target.minor_key())
        } else {
            format!(
                "{} is outside {range}, the range the add-on's documentation supports",
                target.minor_key()
            )
        },
        source: Some(source.to_string()),
    }
}

/// An API version the catalog says stopped being served, and when.
struct Removal<'a> {
    minor: &'a str,
    group_version: &'a str,
    kinds: &'a [String],
    replacement: Option<&'a str>,
    source: &'a [String],
}

/// Every removal up to and including the target's minor.
fn removals<'a>(catalog: &'a Catalog, target: &Version) -> Vec<Removal<'a>> {
    let mut out: Vec<Removal<'a>> = catalog
        .earlier_removed_apis
        .iter()
        .map(|r| Removal {
            minor: &r.removed_in,
            group_version: &r.group_version,
            kinds: &r.kinds,
            replacement: r.replacement.as_deref(),
            source: &r.source,
        })
        .collect();
    for m in &catalog.minors {
        if parse_minor_key(&m.minor).is_none_or(|n| n > target.minor) {
            continue;
        }
        out.extend(m.removed_apis.iter().map(|r| Removal {
            minor: &m.minor,
            group_version: &r.group_version,
            kinds: &r.kinds,
            replacement: r.replacement.as_deref(),
            source: &r.source,
        }));
    }
    out
}

fn group_of(gv: &str) -> &str {
    gv.rsplit_once('/').map(|(g, _)| g).unwrap_or("")
}

/// A group Kubernetes itself serves (the core group, `apps`, `*.k8s.io`, ...), as opposed
/// to a custom resource's.
fn builtin_group(g: &str) -> bool {
    g.is_empty() || !g.contains('.') || g.ends_with(".k8s.io")
}

/// Check every distinct apiVersion/kind in `seen` (sorted by both); `defined` are
/// the (group/version, kind) pairs the add-ons' CustomResourceDefinitions define.
pub fn apis(
    seen: &[ApiSeen],
    defined: &BTreeSet<(String, String)>,
    catalog: &Catalog,
    target: &Version,
) -> Vec<CompatCheck> {
    let mut uses: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
    for s in seen {
        uses.entry((s.api_version.as_str(), s.kind.as_str()))
            .or_default()
            .push(&s.at);
    }
    let removed = removals(catalog, target);
    let minor = target.minor_key();
    let served = catalog
        .minor_of(target)
        .and_then(|m| m.served_apis.as_ref());
    let mut out = Vec::new();
    for ((gv, kind), at) in uses {
        let used = match at.as_slice() {
            [one] => format!("used by {one}"),
            [first, rest @ ..] => format!("used by {first} and {} more", rest.len()),
            [] => String::new(),
        };
        let removal = removed.iter().find(|r| {
            r.group_version == gv && (r.kinds.is_empty() || r.kinds.iter().any(|k| k == kind))
        });
        let crd = defined.contains(&(gv.to_string(), kind.to_string()));
        let (verdict, why, source) = if let Some(s) = served {
            let served_kind = s
                .group_versions
                .iter()
                .find(|g| g.group_version == gv)
                .map(|g| g.resources.iter().any(|r| r.kind == kind));
            let group_known = s
                .group_versions
                .iter()
                .any(|g| group_of(&g.group_version) == group_of(gv));
            let src = Some(format!("catalog served_apis of {minor}"));
            match served_kind {
                Some(true) => (Verdict::Compatible, format!("served by {minor}"), src),
                _ if crd => (
                    Verdict::Compatible,
                    "defined by the add-on's own CustomResourceDefinition".into(),
                    None,
                ),
                Some(false) => (
                    Verdict::Incompatible,
                    format!("{minor} serves {gv} but not the kind {kind}"),
                    src,
                ),
                None if group_known || removal.is_some() => (
                    Verdict::Incompatible,
                    match removal {
                        Some(r) => removed_text(r, gv),
                        None => format!("{minor} does not serve {gv}"),
                    },
                    src,
                ),
                None => (
                    Verdict::Unchecked,
                    "a custom resource whose CustomResourceDefinition this add-on does not carry; not checked".into(),
                    None,
                ),
            }
        } else if let Some(r) = removal {
            (
                Verdict::Incompatible,
                removed_text(r, gv),
                Some(format!("catalog: {}", r.source.join(", "))),
            )
        } else if crd {
            (
                Verdict::Compatible,
                "defined by the add-on's own CustomResourceDefinition".into(),
                None,
            )
        } else if builtin_group(group_of(gv)) {
            (
                Verdict::NotRemoved,
                format!(
                    "not removed by any minor up to {minor}; the catalog does not list what {minor} serves, so this is not confirmed"
                ),
                Some("catalog removed_apis".into()),
            )
        } else {
            (
                Verdict::Unchecked,
                "a custom resource whose CustomResourceDefinition this add-on does not carry; not checked".into(),
                None,
            )
        };
        out.push(CompatCheck {
            check: CheckKind::Api,
            subject: format!("{gv} {kind}"),
            requirement: "served by the target".into(),
            target: target.to_string(),
            verdict,
            detail: format!("{why}; {used}"),
            source,
        });
    }
    out
}

fn removed_text(r: &Removal<'_>, gv: &str) -> String {
    match r.replacement {
        Some(rep) => format!("{gv} was removed in {}; use {rep}", r.minor),
        None => format!("{gv} was removed in {} (no replacement)", r.minor),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(gv: &str, kind: &str, at: &str) -> ApiSeen {
        ApiSeen {
            api_version: gv.into(),
            kind: kind.into(),
            at: at.into(),
        }
    }

    #[test]
    fn removed_apis_fail_and_the_rest_says_what_was_known() {
        let catalog = crate::catalog::Catalog::builtin().unwrap();
        let target: Version = "v1.30.2".parse().unwrap();
        let defined =
            BTreeSet::from([("crd.projectcalico.org/v1".to_string(), "IPPool".to_string())]);
        let checks = apis(
            &[
                seen("apps/v1", "DaemonSet", "a.yaml document 1"),
                seen(
                    "flowcontrol.apiserver.k8s.io/v1beta2",
                    "FlowSchema",
                    "a.yaml document 2",
                ),
                seen("policy/v1beta1", "PodSecurityPolicy", "a.yaml document 3"),
                seen("crd.projectcalico.org/v1", "IPPool", "a.yaml document 4"),
                seen("cert-manager.io/v1", "Certificate", "a.yaml document 5"),
                seen("apps/v1", "DaemonSet", "a.yaml document 6"),
            ],
            &defined,
            &catalog,
            &target,
        );
        let v: Vec<(&str, Verdict)> = checks
            .iter()
            .map(|c| (c.subject.as_str(), c.verdict))
            .collect();
        assert_eq!(
            v,
            [
                ("apps/v1 DaemonSet", Verdict::NotRemoved),
                ("cert-manager.io/v1 Certificate", Verdict::Unchecked),
                ("crd.projectcalico.org/v1 IPPool", Verdict::Compatible),
                (
                    "flowcontrol.apiserver.k8s.io/v1beta2 FlowSchema",
                    Verdict::Incompatible
                ),
                ("policy/v1beta1 PodSecurityPolicy", Verdict::Incompatible),
            ]
        );
        assert!(
            checks[0].detail.contains("and 1 more"),
            "{}",
            checks[0].detail
        );
        assert!(
            checks[3]
                .detail
                .contains("removed in 1.29; use flowcontrol.apiserver.k8s.io/v1"),
            "{}",
            checks[3].detail
        );
        assert!(
            checks[4].detail.contains("removed in 1.25"),
            "{}",
            checks[4].detail
        );
        // The same API is fine for a target before its removal.
        let old: Version = "v1.28.3".parse().unwrap();
        let c = apis(
            &[seen(
                "flowcontrol.apiserver.k8s.io/v1beta2",
                "FlowSchema",
                "x",
            )],
            &defined,
            &catalog,
            &old,
        );
        assert_eq!(c[0].verdict, Verdict::NotRemoved);
    }

    #[test]
    fn served_apis_are_authoritative_when_known() {
        use crate::catalog::{ServedApis, ServedGroupVersion, ServedResource};
        let mut catalog = crate::catalog::Catalog::builtin().unwrap();
        let target: Version = "v1.30.2".parse().unwrap();
        let m = catalog
            .minors
            .iter_mut()
            .find(|m| m.minor == "1.30")
            .unwrap();
        m.served_apis = Some(ServedApis {
            source: vec!["deprecation-guide".into()],
            group_versions: vec![
                ServedGroupVersion {
                    group_version: "apps/v1".into(),
                    resources: vec![ServedResource {
                        resource: "daemonsets".into(),
                        kind: "DaemonSet".into(),
                    }],
                },
                ServedGroupVersion {
                    group_version: "v1".into(),
                    resources: vec![ServedResource {
                        resource: "pods".into(),
                        kind: "Pod".into(),
                    }],
                },
            ],
        });
        let checks = apis(
            &[
                seen("apps/v1", "DaemonSet", "x"),
                seen("apps/v1beta2", "Deployment", "x"),
                seen("v1", "Frobnicator", "x"),
                seen("example.com/v1", "Widget", "x"),
            ],
            &BTreeSet::new(),
            &catalog,
            &target,
        );
        let v: Vec<Verdict> = checks.iter().map(|c| c.verdict).collect();
        assert_eq!(
            v,
            [
                Verdict::Compatible,
                Verdict::Incompatible,
                Verdict::Unchecked,
                Verdict::Incompatible
            ]
        );
    }

    #[test]
    fn kube_version_and_ranges() {
        let t: Version = "v1.30.2".parse().unwrap();
        assert_eq!(
            kube_version("chart x 1.0", ">=1.21.0-0", "x.tgz", &t)
                .unwrap()
                .verdict,
            Verdict::Compatible
        );
        let c = kube_version("chart x 1.0", ">=1.19.0-0 <1.30.0-0", "x.tgz", &t).unwrap();
        assert_eq!(c.verdict, Verdict::Incompatible);
        assert!(
            c.detail.contains("v1.30.2 does not satisfy"),
            "{}",
            c.detail
        );
        let e = kube_version("chart x 1.0", ">= one.two", "x.tgz", &t).unwrap_err();
        assert_eq!(e.exit_code(), 4);
        assert!(
            format!("{e}").contains("x.tgz") && format!("{e}").contains("does not parse"),
            "{e}"
        );
        assert_eq!(
            support_range(Some(28), Some(31), "https://x", &t).verdict,
            Verdict::Compatible
        );
        assert_eq!(
            support_range(Some(31), None, "https://x", &t).verdict,
            Verdict::Incompatible
        );
        assert_eq!(
            support_range(None, Some(29), "https://x", &t).verdict,
            Verdict::Incompatible
        );
    }
}
