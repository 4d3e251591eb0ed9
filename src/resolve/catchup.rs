//! Catch-up bundles: the locks of every hop of a plan merged into one lock, so a site
//! several minors behind approves and carries one bundle (`airlock plan --build
//! --one-bundle`).
//!
//! Each blob and file is carried once however many hops use it (the payload is keyed by
//! digest); each image once by name, with the platforms of every hop that carries it;
//! the checklist is every hop's steps in order (ids prefixed `hopN.`) with a
//! stop-and-verify step after each hop but the last; the upstream evidence is every
//! hop's, once per artifact, so the catch-up bundle carries the evidence of what it
//! carries.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::lock::{ArtifactProvenance, HopFacts, Lock, LockProvenance, ProvenanceStatus};
use crate::manifest::{Hop, Phase, Step};

/// Merge the locks of consecutive hops (`hops[i]` is the lock of hop `i`) into one.
pub fn merge(hops: &[Lock]) -> Result<Lock> {
    let (Some(first), Some(last)) = (hops.first(), hops.last()) else {
        return Err(Error::invalid(
            "plan",
            "--one-bundle",
            "the plan has no hops",
        ));
    };
    let hop_of = |l: &Lock| l.hop.clone();
    let mut out = Lock::new();
    out.hop = match (hop_of(first), hop_of(last)) {
        (Some(a), Some(b)) => Some(Hop {
            from: a.from,
            to: b.to,
        }),
        _ => None,
    };
    out.catalog = last.catalog.clone();
    let mut images: BTreeMap<String, crate::lock::LockedImage> = BTreeMap::new();
    let mut files: BTreeMap<String, crate::lock::LockedFile> = BTreeMap::new();
    let mut checklist: Vec<Step> = Vec::new();
    for (i, l) in hops.iter().enumerate() {
        let n = i + 1;
        let label = l
            .hop
            .as_ref()
            .map(|h| format!("{} -> {}", h.from, h.to))
            .unwrap_or_else(|| format!("hop {n}"));
        out.notes
            .extend(l.notes.iter().map(|x| format!("hop {n} ({label}): {x}")));
        for img in &l.images {
            let key = img.name.to_string();
            match images.get_mut(&key) {
                None => {
                    images.insert(key, img.clone());
                }
                Some(have) if have.digest != img.digest => {
                    return Err(Error::invalid(
                        "plan",
                        "--one-bundle",
                        format!(
                            "image {key} is {} in one hop and {} in hop {n}; build the hops separately",
                            have.digest, img.digest
                        ),
                    ));
                }
                Some(have) => {
                    for p in &img.platforms {
                        if !have.platforms.contains(p) {
                            have.platforms.push(p.clone());
                        }
                    }
                    // A target of a later hop outranks the back-out role of an earlier one.
                    if img.role == Some(crate::manifest::Role::Target) {
                        have.role = img.role;
                    }
                }
            }
        }
        for f in &l.files {
            let key = f.target.to_string();
            match files.get(&key) {
                Some(have) if have.sha256 != f.sha256 => {
                    return Err(Error::invalid(
                        "plan",
                        "--one-bundle",
                        format!(
                            "file target {key} has other content in hop {n}; build the hops separately"
                        ),
                    ));
                }
                Some(_) => {}
                None => {
                    files.insert(key, f.clone());
                }
            }
        }
        for s in l.checklist.iter().flatten() {
            let mut s = s.clone();
            s.id = format!("hop{n}.{}", s.id);
            s.title = format!("[hop {n}: {label}] {}", s.title);
            checklist.push(s);
        }
        if n < hops.len() {
            checklist.push(stop_step(n, &label, hops.len()));
        }
        for r in &l.package_repositories {
            match out.package_repositories.iter_mut().find(|x| x.dir == r.dir) {
                Some(have) => {
                    have.packages.extend(r.packages.iter().cloned());
                    have.packages.sort();
                    have.packages.dedup();
                }
                None => out.package_repositories.push(r.clone()),
            }
        }
    }
    out.images = images.into_values().collect();
    for img in &mut out.images {
        img.platforms.sort_by_key(|p| p.to_string());
    }
    out.files = files.into_values().collect();
    out.checklist = (!checklist.is_empty()).then_some(checklist);
    out.facts = merged_facts(hops);
    out.provenance = merged_provenance(hops, &out)?;
    out.validate("catch-up lock")?;
    Ok(out)
}

/// The step between two hops: the cluster must run the hop's target everywhere before
/// the next hop starts.
fn stop_step(n: usize, label: &str, total: usize) -> Step {
    let to = label.rsplit(" -> ").next().unwrap_or(label);
    Step {
        check: Some(format!(
            "every node reports {to} and every system pod is Running; only then start hop {}",
            n + 1
        )),
        commands: vec![
            "kubectl get nodes -o wide".into(),
            "kubectl version".into(),
            "kubectl get pods -n kube-system".into(),
        ],
        id: format!("hop{n}.post.stop-and-verify"),
        phase: Phase::Post,
        title: format!(
            "STOP: hop {n} of {total} ({label}) is done. Verify the cluster runs {to} before hop {}",
            n + 1
        ),
    }
}

/// The hops' provenance as one: `checked` only if every hop was checked, against the same
/// trusted root (the bundle carries one); `not-checked` if any hop was not (its artifacts
/// would carry no evidence); none if any hop's lock predates the section. Artifacts are
/// the union by name and digest, in the merged lock's order; a signature outranks another
/// hop's exception for the same artifact, and exceptions are kept.
fn merged_provenance(hops: &[Lock], out: &Lock) -> Result<Option<LockProvenance>> {
    let mut sections = Vec::with_capacity(hops.len());
    for l in hops {
        match &l.provenance {
            Some(p) => sections.push(p),
            None => return Ok(None),
        }
    }
    if sections
        .iter()
        .any(|p| p.status == ProvenanceStatus::NotChecked)
    {
        return Ok(Some(LockProvenance {
            status: ProvenanceStatus::NotChecked,
            trusted_root_sha256: None,
            artifacts: Vec::new(),
        }));
    }
    let root = sections.first().and_then(|p| p.trusted_root_sha256);
    if let Some(p) = sections.iter().find(|p| p.trusted_root_sha256 != root) {
        return Err(Error::invalid(
            "plan",
            "--one-bundle",
            format!(
                "the hops were checked against different trusted roots ({} and {}); resolve them with one --trusted-root or build the hops separately",
                root.map(|d| d.to_string()).unwrap_or_default(),
                p.trusted_root_sha256
                    .map(|d| d.to_string())
                    .unwrap_or_default()
            ),
        ));
    }
    let mut by_name: BTreeMap<(&str, _), &ArtifactProvenance> = BTreeMap::new();
    for a in sections.iter().flat_map(|p| &p.artifacts) {
        let have = by_name.entry((a.artifact.as_str(), a.digest)).or_insert(a);
        if have.signature.is_none() && a.signature.is_some() {
            *have = a;
        }
    }
    // The merged lock's order; an entry whose artifact the merge did not keep (a file of
    // the same content under another URL) has nothing to vouch for here.
    let order = out
        .images
        .iter()
        .map(|i| (i.name.to_string(), i.digest))
        .chain(out.files.iter().filter_map(|f| match &f.source {
            crate::lock::FileSource::Url(u) => Some((u.clone(), f.sha256)),
            crate::lock::FileSource::Path(_) => None,
        }));
    let artifacts = order
        .filter_map(|(name, digest)| by_name.get(&(name.as_str(), digest)).map(|a| (*a).clone()))
        .collect();
    Ok(Some(LockProvenance {
        status: ProvenanceStatus::Checked,
        trusted_root_sha256: root,
        artifacts,
    }))
}

/// The facts of the last hop, with every hop's removed APIs (all of them are gone once
/// the last hop is done).
fn merged_facts(hops: &[Lock]) -> Option<HopFacts> {
    let mut facts = hops.last()?.facts.clone()?;
    let mut apis = Vec::new();
    for f in hops.iter().filter_map(|l| l.facts.as_ref()) {
        for a in &f.removed_apis {
            if !apis.contains(a) {
                apis.push(a.clone());
            }
        }
    }
    facts.removed_apis = apis;
    for f in hops.iter().filter_map(|l| l.facts.as_ref()) {
        for u in &f.uncertain {
            if !facts.uncertain.contains(u) {
                facts.uncertain.push(u.clone());
            }
        }
    }
    Some(facts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Sha256Digest;
    use crate::image_ref::ImageRef;
    use crate::lock::LockedImage;

    fn lock(from: &str, to: &str, images: &[(&str, &[u8])]) -> Lock {
        let mut l = Lock::new();
        l.hop = Some(Hop {
            from: from.into(),
            to: to.into(),
        });
        l.images = images
            .iter()
            .map(|(n, d)| LockedImage {
                name: ImageRef::parse(n).unwrap(),
                digest: Sha256Digest::of(d),
                platforms: vec!["linux/amd64".parse().unwrap()],
                role: None,
            })
            .collect();
        l.checklist = Some(vec![Step {
            check: None,
            commands: vec![],
            id: "cp1.apply".into(),
            phase: Phase::Cp1,
            title: "apply".into(),
        }]);
        l
    }

    #[test]
    fn hops_merge_once_each_in_order_with_a_stop_between() {
        let a = lock(
            "v1.29.3",
            "v1.29.6",
            &[
                ("registry.k8s.io/pause:3.9", b"p"),
                ("registry.k8s.io/etcd:3.5.12-0", b"e"),
            ],
        );
        let b = lock(
            "v1.29.6",
            "v1.30.2",
            &[
                ("registry.k8s.io/pause:3.9", b"p"),
                ("registry.k8s.io/etcd:3.5.15-0", b"f"),
            ],
        );
        let m = merge(&[a.clone(), b]).unwrap();
        assert_eq!(m.hop.as_ref().unwrap().from, "v1.29.3");
        assert_eq!(m.hop.as_ref().unwrap().to, "v1.30.2");
        assert_eq!(m.images.len(), 3);
        let ids: Vec<&str> = m
            .checklist
            .as_ref()
            .unwrap()
            .iter()
            .map(|s| s.id.as_str())
            .collect();
        assert_eq!(
            ids,
            [
                "hop1.cp1.apply",
                "hop1.post.stop-and-verify",
                "hop2.cp1.apply"
            ]
        );
        // The same name with two digests cannot be one bundle.
        let c = lock(
            "v1.29.6",
            "v1.30.2",
            &[("registry.k8s.io/pause:3.9", b"other")],
        );
        assert!(
            merge(&[a, c])
                .unwrap_err()
                .to_string()
                .contains("build the hops separately")
        );
    }

    fn checked(l: &mut Lock, root: &[u8], entries: &[(&str, &[u8], Option<&str>)]) {
        l.provenance = Some(LockProvenance {
            status: ProvenanceStatus::Checked,
            trusted_root_sha256: Some(Sha256Digest::of(root)),
            artifacts: entries
                .iter()
                .map(|(n, d, exception)| ArtifactProvenance {
                    artifact: (*n).into(),
                    digest: Sha256Digest::of(d),
                    signature: exception.is_none().then(|| crate::lock::SignatureRecord {
                        source: crate::lock::ProvenanceSource::SigTag,
                        identity: "who".into(),
                        issuer: "https://issuer".into(),
                        log_index: 1,
                        integrated_time: 2,
                        log_id: "00".into(),
                        bundle_sha256: Sha256Digest::of(n.as_bytes()),
                        payload_sha256: None,
                        key_sha256: None,
                    }),
                    unsigned_exception: exception.map(str::to_owned),
                    not_counted: vec![],
                })
                .collect(),
        });
    }

    #[test]
    fn provenance_is_the_union_of_the_hops_with_one_status_and_root() {
        let (pause, e1, e2) = (
            "registry.k8s.io/pause:3.9",
            "registry.k8s.io/etcd:3.5.12-0",
            "registry.k8s.io/etcd:3.5.15-0",
        );
        let mut a = lock("v1.29.3", "v1.29.6", &[(pause, b"p"), (e1, b"e")]);
        let mut b = lock("v1.29.6", "v1.30.2", &[(pause, b"p"), (e2, b"f")]);
        checked(
            &mut a,
            b"root",
            &[(pause, b"p", Some("allowed")), (e1, b"e", None)],
        );
        checked(
            &mut b,
            b"root",
            &[(pause, b"p", None), (e2, b"f", Some("allowed"))],
        );
        let m = merge(&[a.clone(), b.clone()]).unwrap();
        let p = m.provenance.as_ref().unwrap();
        assert_eq!(p.status, ProvenanceStatus::Checked);
        assert_eq!(p.trusted_root_sha256, Some(Sha256Digest::of(b"root")));
        let got: Vec<(&str, bool)> = p
            .artifacts
            .iter()
            .map(|x| (x.artifact.as_str(), x.signature.is_some()))
            .collect();
        // Lock order (by name); pause signed in hop 2 outranks hop 1's exception; etcd
        // 3.5.15's exception is kept.
        assert_eq!(got, [(e1, true), (e2, false), (pause, true)]);
        // One hop unchecked: the whole bundle is.
        let mut unchecked = b.clone();
        unchecked.provenance = Some(LockProvenance {
            status: ProvenanceStatus::NotChecked,
            trusted_root_sha256: None,
            artifacts: vec![],
        });
        let m = merge(&[a.clone(), unchecked]).unwrap();
        assert_eq!(
            m.provenance.map(|p| p.status),
            Some(ProvenanceStatus::NotChecked)
        );
        // Two roots cannot travel as one.
        checked(&mut b, b"other root", &[(pause, b"p", None)]);
        let e = merge(&[a, b]).unwrap_err().to_string();
        assert!(e.contains("different trusted roots"), "{e}");
    }
}
