//! Section 4, risks with mitigations: each drawn from facts the other sections hold (the
//! objects on removed APIs, node skew, component versions, the back-out set, the size,
//! uncertain catalog values, the add-ons), sorted by severity, then id.

use crate::addon_facts::{AddonFacts, Verdict};
use crate::cluster::Finding;
use crate::report::{Evaluated, Inputs, Inventory, Risk, Severity, human};

/// Every risk of `i`, most severe first. `in_use` is section 3's; `backout_carried` says
/// whether the bundle carries the previous version.
pub(crate) fn build(
    i: &Inputs<'_>,
    inv: &Inventory,
    in_use: &Evaluated<Finding>,
    backout_carried: bool,
) -> Vec<Risk> {
    let mut r: Vec<Risk> = removed_apis(in_use).into_iter().collect();
    r.extend(kubelet_skew(i));
    r.extend(versions(inv));
    r.push(restarts());
    if !backout_carried {
        r.push(backout_not_carried());
    }
    r.push(size(i, inv));
    r.extend(uncertain_catalog(i));
    if let Some(f) = i.facts {
        addon_risks(&f.addons, &mut r);
    }
    r.sort_by(|a, b| a.severity.cmp(&b.severity).then(a.id.cmp(&b.id)));
    r
}

fn risk(id: &str, severity: Severity, title: String, evidence: String, mitigation: &str) -> Risk {
    Risk {
        id: id.to_string(),
        severity,
        title,
        evidence,
        mitigation: mitigation.to_string(),
    }
}

/// Objects on a removed API (the first ten named), or that they were not checked.
fn removed_apis(in_use: &Evaluated<Finding>) -> Option<Risk> {
    if in_use.evaluated && !in_use.items.is_empty() {
        Some(risk(
            "apis.removed-in-use",
            Severity::High,
            format!(
                "{} object(s) use an API the target version no longer serves",
                in_use.items.len()
            ),
            in_use
                .items
                .iter()
                .take(10)
                .map(|f| {
                    format!(
                        "{} uses {} (found in {})",
                        crate::cluster::describe(&f.object),
                        f.uses,
                        f.seen_in
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
            "migrate each object to the replacement API and re-apply it before the window (kubectl convert, or edit the manifests / Helm charts), then take a new cluster dump",
        ))
    } else if !in_use.evaluated {
        Some(risk(
            "apis.not-checked",
            Severity::Medium,
            "Objects using removed APIs were not checked".into(),
            in_use.reason.clone().unwrap_or_default(),
            "render the report again with --cluster-dump, or run airlock-verify preflight inside the enclave before the window",
        ))
    } else {
        None
    }
}

/// Nodes of the dump whose kubelet is further behind the target than the skew policy
/// allows (needs the dump, the facts and a readable target version).
fn kubelet_skew(i: &Inputs<'_>) -> Option<Risk> {
    let (d, f) = (i.dump?, i.facts?);
    let to = i
        .manifest
        .and_then(|m| m.hop.as_ref())
        .and_then(|h| crate::cluster::parse_version(&h.to))?;
    let too_old: Vec<&str> = d
        .nodes
        .iter()
        .filter(|n| {
            crate::cluster::parse_version(&n.kubelet)
                .is_some_and(|(_, minor, _)| minor + f.kubelet_max_minors_older < to.1)
        })
        .map(|n| n.name.as_str())
        .collect();
    if too_old.is_empty() {
        return None;
    }
    Some(risk(
        "skew.kubelet",
        Severity::High,
        format!(
            "{} node(s) run a kubelet more than {} minors older than the target",
            too_old.len(),
            f.kubelet_max_minors_older
        ),
        too_old.join(", "),
        "upgrade those nodes' kubelets first (an earlier hop), or drain and replace them",
    ))
}

/// etcd and CoreDNS version changes (etcd is never downgraded by kubeadm).
fn versions(inv: &Inventory) -> Vec<Risk> {
    inv.changes
        .iter()
        .filter(|c| {
            c.from.is_some()
                && c.to.is_some()
                && c.from != c.to
                && (c.component == "etcd" || c.component.ends_with("coredns"))
        })
        .map(|c| {
            let etcd = c.component == "etcd";
            risk(
                &format!("version.{}", c.component.replace('/', "-")),
                if etcd { Severity::Medium } else { Severity::Low },
                format!(
                    "{} changes from {} to {}",
                    c.component,
                    c.from.as_deref().unwrap_or("-"),
                    c.to.as_deref().unwrap_or("-")
                ),
                "from the catalog's pins for both versions".into(),
                if etcd {
                    "take the etcd snapshot of step pre.snapshot and keep it off the node; kubeadm never downgrades etcd, so a back-out restores the snapshot"
                } else {
                    "CoreDNS restarts during the upgrade; check cluster DNS in the validation steps"
                },
            )
        })
        .collect()
}

/// Every upgrade restarts the control plane and drains nodes.
fn restarts() -> Risk {
    risk(
        "restart.control-plane",
        Severity::Medium,
        "Every control-plane component restarts, one node at a time; workloads move while nodes drain".into(),
        "kubeadm upgrade apply/node replaces the static pods; kubelet restarts on every node".into(),
        "upgrade control planes one at a time, drain workers in small batches, and keep PodDisruptionBudgets in place",
    )
}

fn backout_not_carried() -> Risk {
    risk(
        "backout.not-carried",
        Severity::High,
        "The bundle does not carry the previous version's images and binaries".into(),
        "built with --no-backout".into(),
        "keep the previous hop's bundle installed, or rebuild with the back-out set",
    )
}

/// The bundle's size, so the install is planned before the window. The figure is the
/// summary's "content": every payload entry once (images share blobs, so summing each
/// image's bytes would count a shared layer twice).
fn size(i: &Inputs<'_>, inv: &Inventory) -> Risk {
    let bytes: u64 = i
        .manifest
        .map(|m| m.entries.iter().map(|e| e.size).sum())
        .unwrap_or(0);
    risk(
        "size",
        Severity::Low,
        format!(
            "{} images and {} files, {} of content",
            inv.images.len(),
            inv.files.len(),
            human(bytes)
        ),
        "the bundle's manifest".into(),
        "install into the enclave registry before the window (install is idempotent and resumable)",
    )
}

/// Catalog values the resolve used without a primary source.
fn uncertain_catalog(i: &Inputs<'_>) -> Option<Risk> {
    let f = i.facts.filter(|f| !f.uncertain.is_empty())?;
    Some(risk(
        "catalog.uncertain",
        Severity::Medium,
        format!(
            "{} catalog value(s) used are not confirmed from a primary source",
            f.uncertain.len()
        ),
        f.uncertain.join("; "),
        "run `airlock catalog update` (or resolve with --catalog-from-upstream) on the connected side and rebuild",
    ))
}

/// Add-ons carried although incompatible, chart images airlock could not determine, and
/// API checks the catalog could not confirm.
fn addon_risks(addons: &[AddonFacts], r: &mut Vec<Risk>) {
    for a in addons {
        r.extend(addon_exception(a));
        r.extend(addon_undetermined_images(a));
        r.extend(addon_unconfirmed_apis(a));
    }
}

fn addon_exception(a: &AddonFacts) -> Option<Risk> {
    let e = a.exception.as_ref()?;
    Some(Risk {
        id: format!("addon.{}.incompatible", a.name),
        severity: Severity::High,
        title: format!("Add-on {} is incompatible with the target and carried by exception", a.name),
        evidence: e.clone(),
        mitigation: "upgrade the add-on to a version that supports the target before the window, or test this combination and record who accepted it".into(),
    })
}

fn addon_undetermined_images(a: &AddonFacts) -> Option<Risk> {
    let undetermined: Vec<String> = a
        .charts
        .iter()
        .flat_map(|c| {
            c.undetermined
                .iter()
                .map(move |u| format!("{} {}: {u}", c.name, c.version))
        })
        .collect();
    if undetermined.is_empty() {
        return None;
    }
    Some(Risk {
        id: format!("addon.{}.images-undetermined", a.name),
        severity: Severity::Medium,
        title: format!("{} image entr(ies) of add-on {}'s charts could not be determined without rendering", undetermined.len(), a.name),
        evidence: undetermined.join("; "),
        mitigation: "give the chart's rendered output (rendered:) or list the images under images: in the hop manifest, so the bundle cannot lack one".into(),
    })
}

fn addon_unconfirmed_apis(a: &AddonFacts) -> Option<Risk> {
    let unconfirmed: Vec<&str> = a
        .checks
        .iter()
        .filter(|c| matches!(c.verdict, Verdict::NotRemoved | Verdict::Unchecked))
        .map(|c| c.subject.as_str())
        .collect();
    if unconfirmed.is_empty() {
        return None;
    }
    Some(Risk {
        id: format!("addon.{}.apis-unconfirmed", a.name),
        severity: Severity::Low,
        title: format!("{} API(s) of add-on {} are not confirmed as served by the target", unconfirmed.len(), a.name),
        evidence: unconfirmed.join(", "),
        mitigation: "resolve with a catalog that lists the target's served APIs (airlock catalog update), and install the CRDs of custom resources first".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::{apis, backout, fixture, inventory};
    use super::*;

    /// The risks of `i`, from its own inventory and removed APIs, as the report makes them.
    fn risks_of(i: &Inputs<'_>) -> Vec<Risk> {
        build(
            i,
            &inventory::build(i),
            &apis::build(i).in_use,
            backout::carried(i),
        )
    }

    fn ids(r: &[Risk]) -> Vec<&str> {
        r.iter().map(|r| r.id.as_str()).collect()
    }

    #[test]
    fn with_a_dump_names_objects_on_removed_apis_and_old_kubelets_first() {
        let (m, f, d) = (fixture::manifest(), fixture::facts(), fixture::dump());
        let r = risks_of(&Inputs {
            manifest: Some(&m),
            facts: Some(&f),
            dump: Some(&d),
            ..Default::default()
        });
        assert_eq!(
            ids(&r),
            [
                "apis.removed-in-use",
                "skew.kubelet",
                "catalog.uncertain",
                "restart.control-plane",
                "version.etcd",
                "size"
            ]
        );
        assert_eq!(r[0].severity, Severity::High);
        assert_eq!(
            r[0].evidence,
            "CronJob shop/nightly uses batch/v1beta1 (found in apiVersion)"
        );
        assert_eq!(r[1].evidence, "worker-old");
        assert!(r[1].title.contains("more than 3 minors older"));
        assert_eq!(r[4].title, "etcd changes from 3.5.10-0 to 3.5.12-0");
        // The payload's entries, each once: the summary's content figure (5,050 bytes).
        assert_eq!(r[5].title, "5 images and 1 files, 4.9 KiB of content");
    }

    #[test]
    fn without_a_dump_or_a_back_out_set_says_what_was_not_checked_or_carried() {
        let mut m = fixture::manifest();
        m.images
            .retain(|img| img.role != Some(crate::manifest::Role::Backout));
        let r = risks_of(&Inputs {
            manifest: Some(&m),
            ..Default::default()
        });
        assert_eq!(
            ids(&r),
            [
                "backout.not-carried",
                "apis.not-checked",
                "restart.control-plane",
                "version.etcd",
                "size"
            ]
        );
        assert!(r[1].evidence.contains("--cluster-dump"));
    }

    #[test]
    fn add_ons_carried_by_exception_undetermined_or_unconfirmed_are_risks() {
        let addon: AddonFacts = serde_json::from_value(serde_json::json!({
            "name": "ingress",
            "images": [],
            "exception": "accepted by the change board",
            "charts": [{
                "name": "ingress-nginx", "version": "4.10.0", "source": "s", "pinned": "p",
                "carried_as": "file", "carried": "c", "image_sources": [],
                "undetermined": ["controller.image"]
            }],
            "checks": [{
                "check": "api", "subject": "networking.k8s.io/v1 Ingress", "requirement": "served",
                "target": "v1.30.2", "verdict": "unchecked", "detail": "not in the catalog"
            }]
        }))
        .expect("add-on facts");
        let mut r = Vec::new();
        addon_risks(&[addon], &mut r);
        assert_eq!(
            ids(&r),
            [
                "addon.ingress.incompatible",
                "addon.ingress.images-undetermined",
                "addon.ingress.apis-unconfirmed"
            ]
        );
        assert_eq!(r[0].evidence, "accepted by the change board");
        assert_eq!(r[1].evidence, "ingress-nginx 4.10.0: controller.image");
        assert_eq!(r[2].evidence, "networking.k8s.io/v1 Ingress");
    }
}
