//! Which hops lead from one version to another: kubeadm moves one minor per upgrade, from
//! the newest patch of each minor.

use std::fmt;

use serde::Serialize;

use super::{Catalog, Version};
use crate::error::{Error, Result};

/// Something the user should know that does not stop the plan or the resolve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// The message.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A [`Warning`] with this message.
pub(crate) fn warning(message: impl Into<String>) -> Warning {
    Warning {
        message: message.into(),
    }
}

/// One step of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PlannedHop {
    /// Version before the step.
    pub from: Version,
    /// Version after the step.
    pub to: Version,
}

/// The `airlock plan` command for a multi-step upgrade.
pub fn plan_command(from: &Version, to: &Version) -> String {
    format!("airlock plan --from {from} --to {to}")
}

fn hop_error(from: &Version, to: &Version, reason: String) -> Error {
    Error::invalid("hop", format!("{from} -> {to}"), reason)
}

/// Check that `from -> to` is a hop airlock resolves: both versions in the catalog, forward,
/// at most one minor. Returns warnings (e.g. `from` is not the newest patch of its minor).
pub fn check_hop(catalog: &Catalog, from: &Version, to: &Version) -> Result<Vec<Warning>> {
    let from_minor = catalog
        .check_known(from)
        .map_err(|e| hop_error(from, to, e))?;
    catalog
        .check_known(to)
        .map_err(|e| hop_error(from, to, e))?;
    if to == from {
        return Err(hop_error(
            from,
            to,
            "from and to are the same version".into(),
        ));
    }
    if to < from {
        return Err(hop_error(
            from,
            to,
            format!(
                "{to} is older than {from}: kubeadm does not downgrade, so airlock does not \
                 resolve backward hops. To go back, follow the back-out steps (backout.*) of \
                 the bundle that brought the cluster to {from}. If you meant to upgrade from \
                 {to} to {from}, run: {}",
                plan_command(to, from)
            ),
        ));
    }
    let mut warnings = Vec::new();
    let step = catalog.skew.kubeadm_max_minors_per_upgrade.max(1);
    if to.minor > from.minor + step {
        let skipped: Vec<String> = (from.minor + 1..to.minor)
            .map(|m| format!("1.{m}"))
            .collect();
        return Err(hop_error(
            from,
            to,
            format!(
                "the hop skips minor {}: kubeadm upgrades one minor at a time and kube-apiserver \
                 may not skip a minor. Plan the hops with: {}",
                skipped.join(", "),
                plan_command(from, to)
            ),
        ));
    }
    if to.minor > from.minor && from.patch < from_minor.latest_patch {
        let newest = Version::new(from.minor, from_minor.latest_patch);
        warnings.push(warning(format!(
            "{from} is not the newest patch of {} ({newest} is); upstream advises moving to the \
             newest patch before a minor upgrade: {}",
            from.minor_key(),
            plan_command(from, to)
        )));
    }
    Ok(warnings)
}

/// The ordered hops from `from` to `to`: the patch upgrade within `from`'s minor first
/// (when `from` is not its newest patch and the target is in a later minor), then one minor
/// at a time through the newest patch of each intermediate minor.
pub fn plan(catalog: &Catalog, from: &Version, to: &Version) -> Result<Vec<PlannedHop>> {
    catalog
        .check_known(from)
        .map_err(|e| hop_error(from, to, e))?;
    catalog
        .check_known(to)
        .map_err(|e| hop_error(from, to, e))?;
    if to <= from {
        return Err(hop_error(
            from,
            to,
            format!("{to} is not newer than {from}; airlock plans upgrades only"),
        ));
    }
    let newest = |minor: u32| -> Result<Version> {
        let key = format!("1.{minor}");
        catalog
            .latest_patch(&key)
            .map(|p| Version::new(minor, p))
            .ok_or_else(|| {
                hop_error(
                    from,
                    to,
                    format!("minor {key} is not in the catalog, so the path through it is unknown"),
                )
            })
    };
    let mut hops = Vec::new();
    let mut cur = *from;
    if to.minor > cur.minor {
        let top = newest(cur.minor)?;
        if cur < top {
            hops.push(PlannedHop { from: cur, to: top });
            cur = top;
        }
    }
    while cur.minor < to.minor {
        let next = if cur.minor + 1 == to.minor {
            *to
        } else {
            newest(cur.minor + 1)?
        };
        hops.push(PlannedHop {
            from: cur,
            to: next,
        });
        cur = next;
    }
    if cur < *to {
        hops.push(PlannedHop { from: cur, to: *to });
    }
    Ok(hops)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    #[test]
    fn hop_validation() {
        let c = Catalog::builtin().unwrap();
        assert!(
            check_hop(&c, &v("v1.29.15"), &v("v1.30.2"))
                .unwrap()
                .is_empty()
        );
        let w = check_hop(&c, &v("v1.29.6"), &v("v1.30.2")).unwrap();
        assert_eq!(w.len(), 1);
        assert!(w[0].message.contains("v1.29.15"), "{}", w[0]);
        assert!(
            check_hop(&c, &v("v1.30.1"), &v("v1.30.2"))
                .unwrap()
                .is_empty()
        );
        let e = check_hop(&c, &v("v1.27.16"), &v("v1.30.2"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("skips minor 1.28, 1.29"), "{e}");
        assert!(
            e.contains("airlock plan --from v1.27.16 --to v1.30.2"),
            "{e}"
        );
        let e = check_hop(&c, &v("v1.30.2"), &v("v1.29.6"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("older"), "{e}");
        assert!(
            e.contains("airlock plan --from v1.29.6 --to v1.30.2"),
            "{e}"
        );
        assert!(check_hop(&c, &v("v1.30.2"), &v("v1.30.2")).is_err());
        let e = check_hop(&c, &v("v1.30.2"), &v("v1.31.99"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("--catalog"), "{e}");
        let e = check_hop(&c, &v("v1.20.0"), &v("v1.21.0"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("1.20"), "{e}");
    }

    #[test]
    fn plans() {
        let c = Catalog::builtin().unwrap();
        let p = plan(&c, &v("v1.27.16"), &v("v1.30.2")).unwrap();
        let s: Vec<String> = p.iter().map(|h| format!("{}>{}", h.from, h.to)).collect();
        assert_eq!(
            s,
            ["v1.27.16>v1.28.15", "v1.28.15>v1.29.15", "v1.29.15>v1.30.2"]
        );
        let p = plan(&c, &v("v1.29.6"), &v("v1.30.2")).unwrap();
        let s: Vec<String> = p.iter().map(|h| format!("{}>{}", h.from, h.to)).collect();
        assert_eq!(s, ["v1.29.6>v1.29.15", "v1.29.15>v1.30.2"]);
        let p = plan(&c, &v("v1.30.1"), &v("v1.30.2")).unwrap();
        assert_eq!(p.len(), 1);
        assert!(plan(&c, &v("v1.30.2"), &v("v1.29.2")).is_err());
        for h in plan(&c, &v("v1.27.0"), &v("v1.34.9")).unwrap() {
            check_hop(&c, &h.from, &h.to).unwrap();
        }
    }
}
