//! A resolved hop split into the two locks of a two-step hop (issue 27): step 1 is the
//! hop's lock with the control plane emulating the from-minor, step 2 carries no image or
//! file, only its runbook and facts, so it can be built, signed and approved on its own.

use std::path::{Path, PathBuf};

use crate::catalog::two_step::offer;
use crate::catalog::{Catalog, Version};
use crate::checklist::two_step::{Step2Input, emulate_in_step1, step2};
use crate::error::{Error, Result};
use crate::etcd::EtcdCluster;
use crate::lock::{Lock, TwoStepLock};
use crate::manifest::Hop;

/// The lock files of a two-step hop resolved with `--out FILE`: `NAME.step1.lock` and
/// `NAME.step2.lock` beside it (`NAME` is FILE without a `.lock` ending).
pub fn lock_paths(out: &Path) -> (PathBuf, PathBuf) {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.strip_suffix(".lock").unwrap_or(&name);
    (
        out.with_file_name(format!("{stem}.step1.lock")),
        out.with_file_name(format!("{stem}.step2.lock")),
    )
}

fn hop_versions(lock: &Lock) -> Result<(Version, Version)> {
    let bad = |r: &str| Error::invalid("lock", "resolved lock", r.to_string());
    let h = lock.hop.as_ref().ok_or_else(|| bad("no hop"))?;
    let v = |s: &str| s.parse::<Version>().map_err(|e| bad(&e));
    Ok((v(&h.from)?, v(&h.to)?))
}

/// Turn a resolved hop's lock into step 1 and step 2; refused (with the catalog's reason)
/// when the target's facts do not offer the mode.
pub fn split(catalog: &Catalog, mut lock: Lock, etcd: Option<EtcdCluster>) -> Result<(Lock, Lock)> {
    let (from, to) = hop_versions(&lock)?;
    let o = offer(catalog, &from, &to)?;
    let marker = |step| TwoStepLock {
        step,
        emulated_version: o.emulated.clone(),
        components: o.facts.components.clone(),
    };
    let checklist = lock.checklist.get_or_insert_with(Vec::new);
    emulate_in_step1(checklist, &o.emulated, &o.facts.components);
    let key = to.minor_key();
    for s in checklist.iter_mut().filter(|s| s.id == "pre.removed-apis") {
        s.title.push_str(&format!(
            " (step 1 of a two-step hop: the preflight fails only on APIs removed before {key}; those {key} removes stay served while the control plane emulates {} and are checked by step 2)",
            o.emulated
        ));
    }
    lock.two_step = Some(marker(1));
    let second_facts = lock.facts.clone().map(|mut f| {
        f.addons.clear();
        f.two_step = Some(marker(2));
        f
    });
    if let Some(f) = lock.facts.as_mut() {
        // The target minor's own removals land in step 2 (docs/design/two-step.md §4).
        let (later, now) = std::mem::take(&mut f.removed_apis)
            .into_iter()
            .partition(|r| r.removed_in == key);
        f.removed_apis = now;
        f.removed_apis_in_step2 = later;
        f.two_step = Some(marker(1));
    }
    let after = format!(
        "step 2 (its own bundle) lifts the emulation in a later window; the APIs and features {} removes or adds take effect there",
        to.minor_key()
    );
    lock.notes.push(format!(
        "two-step hop, step 1 of 2: {to} binaries and images, kube-apiserver, kube-controller-manager and kube-scheduler started with --emulated-version={} ({} behaviour); {after}",
        o.emulated, o.emulated
    ));
    if let Some(n) = &o.facts.note {
        lock.notes
            .push(format!("compatibility facts of {}: {n}", to.minor_key()));
    }
    let runbook = step2(&Step2Input {
        catalog,
        version: to,
        emulated: o.emulated.clone(),
        components: o.facts.components.clone(),
        etcd,
    });
    let mut second = Lock::new();
    second.hop = Some(Hop {
        from: to.to_string(),
        to: to.to_string(),
    });
    second.catalog = lock.catalog.clone();
    second.notes = vec![format!(
        "two-step hop, step 2 of 2: the {to} control plane stops emulating {} and takes {} behaviour; no images or binaries (step 1's bundle brought them)",
        o.emulated,
        to.minor_key()
    )];
    second.checklist = Some(runbook.steps);
    second.facts = second_facts.map(|mut f| {
        f.left_out_steps = runbook.left_out;
        f
    });
    // Nothing to sign upstream: the same trust root, no artifacts.
    second.provenance = lock.provenance.clone().map(|mut p| {
        p.artifacts.clear();
        p
    });
    second.two_step = Some(marker(2));
    lock.validate("step 1 lock")?;
    second.validate("step 2 lock")?;
    Ok((lock, second))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_paths_sit_beside_the_given_name() {
        let (a, b) = lock_paths(Path::new("out/hop.lock"));
        assert_eq!(a, Path::new("out/hop.step1.lock"));
        assert_eq!(b, Path::new("out/hop.step2.lock"));
        let (a, _) = lock_paths(Path::new("hop"));
        assert_eq!(a, Path::new("hop.step1.lock"));
    }

    #[test]
    fn step2_carries_nothing_and_a_refused_hop_writes_no_lock() {
        let cat = Catalog::builtin().unwrap();
        let mut lock = Lock::new();
        lock.hop = Some(Hop {
            from: "v1.36.4".into(),
            to: "v1.37.1".into(),
        });
        lock.checklist = Some(Vec::new());
        let (one, two) = split(&cat, lock.clone(), None).unwrap();
        assert_eq!(one.two_step.as_ref().unwrap().step, 1);
        let t = two.two_step.as_ref().unwrap();
        assert_eq!((t.step, t.emulated_version.as_str()), (2, "1.36"));
        assert!(two.images.is_empty() && two.files.is_empty());
        assert_eq!(two.hop.as_ref().unwrap().from, "v1.37.1");
        let again = Lock::parse(&two.to_yaml().unwrap(), "again").unwrap();
        assert_eq!(again, two);
        lock.hop = Some(Hop {
            from: "v1.31.14".into(),
            to: "v1.32.13".into(),
        });
        let e = split(&cat, lock, None).unwrap_err().to_string();
        assert!(e.contains("1.32..1.32"), "{e}");
    }
}
