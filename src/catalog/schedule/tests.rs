use std::collections::BTreeMap;

use super::*;
use crate::catalog::parse_minor_key;

fn v(s: &str) -> Version {
    s.parse().unwrap()
}

fn minor_of(s: &str) -> u32 {
    v(s).minor
}

/// The state inside phase `p`, after its control-plane step and before its worker step,
/// meets every rule the catalog states for the control plane's minor (read here from the
/// catalog entry directly, not through `kubelet_limit`).
fn check_state(c: &Catalog, cp: u32, worker: u32) -> std::result::Result<(), String> {
    if worker > cp {
        return Err(format!(
            "kubelet 1.{worker} newer than the API server 1.{cp}"
        ));
    }
    let m = c.minor(&format!("1.{cp}")).unwrap();
    let s = c.skew_of(m);
    let lag = cp - worker;
    // kube-proxy is a DaemonSet the control plane's upgrade moves: it runs 1.cp everywhere.
    let rules = [
        ("kubelet", s.kubelet_max_minors_older),
        ("kube-proxy", s.kube_proxy_max_minors_older),
        ("kube-proxy/kubelet", s.kube_proxy_max_minors_from_kubelet),
        (
            "kubeadm",
            m.kubeadm.as_ref().unwrap().kubelet_max_minors_older,
        ),
    ];
    for (what, max) in rules {
        if lag > max {
            return Err(format!(
                "1.{cp} with kubelets at 1.{worker}: {what} allows {max}"
            ));
        }
    }
    Ok(())
}

/// The fewest worker stops any schedule over these control-plane steps can have, by
/// trying every worker version after every phase (workers end at the target).
fn fewest_stops(c: &Catalog, from: u32, cps: &[u32]) -> usize {
    // worker minor -> fewest stops so far
    let mut best: BTreeMap<u32, usize> = BTreeMap::from([(from, 0)]);
    for (i, &cp) in cps.iter().enumerate() {
        let mut next = BTreeMap::new();
        for (&w, &stops) in &best {
            if check_state(c, cp, w).is_err() {
                continue;
            }
            let mut put = |w2: u32, s: usize| {
                let e = next.entry(w2).or_insert(usize::MAX);
                *e = (*e).min(s);
            };
            if i + 1 < cps.len() {
                put(w, stops);
            }
            // A stop lands on the control plane's version of this phase.
            put(cp, stops + 1);
        }
        best = next;
    }
    best.get(cps.last().unwrap()).copied().unwrap_or(usize::MAX)
}

/// kubeadm of minor `cp` upgrades a node only from a kubeadm this many minors older.
fn node_kubeadm_limit(c: &Catalog, cp: u32) -> u32 {
    c.minor(&format!("1.{cp}"))
        .unwrap()
        .kubeadm
        .as_ref()
        .unwrap()
        .node_kubeadm_max_minors_newer
}

/// The fewest kubeadm-only worker steps over these phases (control-plane minor, workers
/// land), by trying every choice: a step (or a landing) runs the phase's kubeadm and needs
/// the workers' kubeadm within the limit.
fn fewest_kubeadm_steps(c: &Catalog, from: u32, phases: &[(u32, bool)]) -> usize {
    let mut best: BTreeMap<u32, usize> = BTreeMap::from([(from, 0)]);
    for &(cp, lands) in phases {
        let mut next: BTreeMap<u32, usize> = BTreeMap::new();
        for (&k, &steps) in &best {
            let can = cp - k <= node_kubeadm_limit(c, cp);
            let mut put = |k2: u32, s: usize| {
                let e = next.entry(k2).or_insert(usize::MAX);
                *e = (*e).min(s);
            };
            if lands {
                if can {
                    put(cp, steps);
                }
                continue;
            }
            put(k, steps);
            if can {
                put(cp, steps + 1);
            }
        }
        best = next;
    }
    best.values().copied().min().unwrap_or(usize::MAX)
}

#[test]
fn the_1_33_to_1_37_catch_up_lands_workers_twice() {
    let c = Catalog::builtin().unwrap();
    let (from, to) = (v("v1.33.0"), v("v1.37.0"));
    let skip = schedule(&c, &from, &to, WorkersMode::Skip, true).unwrap();
    let every = schedule(&c, &from, &to, WorkersMode::EveryMinor, true).unwrap();
    let row = |p: &SchedulePhase| {
        format!(
            "{}>{} w:{} k:{} floor:1.{}",
            p.control_plane_from,
            p.control_plane,
            p.workers.as_deref().unwrap_or("-"),
            p.workers_kubeadm.as_deref().unwrap_or("-"),
            p.kubelet_floor_minor
        )
    };
    let latest = |m: &str| c.latest_patch(m).unwrap();
    let (p33, p34, p35, p36) = (
        latest("1.33"),
        latest("1.34"),
        latest("1.35"),
        latest("1.36"),
    );
    // Workers stay on 1.33 until the step to 1.37 would leave them four minors behind, but
    // their kubeadm follows the control plane one minor at a time (no drain): kubeadm 1.36
    // upgrades a node only from kubeadm 1.35 or 1.36.
    let want = [
        format!("v1.33.0>v1.33.{p33} w:- k:- floor:1.30"),
        format!("v1.33.{p33}>v1.34.{p34} w:- k:v1.34.{p34} floor:1.31"),
        format!("v1.34.{p34}>v1.35.{p35} w:- k:v1.35.{p35} floor:1.32"),
        format!("v1.35.{p35}>v1.36.{p36} w:v1.36.{p36} k:- floor:1.33"),
        format!("v1.36.{p36}>v1.37.0 w:v1.37.0 k:- floor:1.34"),
    ];
    let got: Vec<String> = skip.phases.iter().map(row).collect();
    assert_eq!(got, want);
    assert_eq!(skip.worker_stops(), 2);
    assert_eq!(skip.worker_kubeadm_steps(), 2);
    assert_eq!(every.worker_kubeadm_steps(), 0);
    assert_eq!(every.worker_stops(), 5, "the patch hop and four minors");
    assert!(
        every.accepted_uncertain.is_empty(),
        "{:?}",
        every.accepted_uncertain
    );
    // The built-in catalog's kubeadm facts are not read at the tags yet: named, refused.
    let e = schedule(&c, &from, &to, WorkersMode::Skip, false)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("1.34 kubeadm.kubelet_max_minors_older = 3 is uncertain"),
        "{e}"
    );
    assert!(e.contains(ACCEPT_FLAG), "{e}");
    assert_eq!(
        skip.accepted_uncertain.len(),
        5,
        "{:?}",
        skip.accepted_uncertain
    );
}

#[test]
fn workers_kubeadm_steps_follow_the_catalogs_node_kubeadm_limit() {
    // A kubeadm that upgraded nodes from two minors back would let the workers' kubeadm
    // skip every other minor: the schedule reads the limit, it does not assume one.
    let mut c = Catalog::builtin().unwrap();
    for m in c.minors.iter_mut() {
        if let Some(k) = m.kubeadm.as_mut() {
            k.node_kubeadm_max_minors_newer = 2;
        }
    }
    // From 1.33's newest patch: no patch hop first.
    let from = Version::new(33, c.latest_patch("1.33").unwrap());
    let s = schedule(&c, &from, &v("v1.37.0"), WorkersMode::Skip, true).unwrap();
    let steps: Vec<Option<u32>> = s
        .phases
        .iter()
        .map(|p| p.workers_kubeadm.as_deref().map(minor_of))
        .collect();
    // 1.34: none (1.35's kubeadm is two ahead of 1.33); 1.35: one, so 1.36 can land.
    assert_eq!(steps, [None, Some(35), None, None]);
    // A limit the workers' kubeadm cannot meet (0, which validation also refuses) stops the
    // plan at the phase, by name, instead of planning a step kubeadm would not take.
    let mut zero = Catalog::builtin().unwrap();
    zero.minors
        .iter_mut()
        .find(|m| m.minor == "1.34")
        .unwrap()
        .kubeadm
        .as_mut()
        .unwrap()
        .node_kubeadm_max_minors_newer = 0;
    let e = zero.validate().unwrap_err();
    assert!(e.contains("node_kubeadm_max_minors_newer 0"), "{e}");
    let e = schedule(&zero, &v("v1.33.9"), &v("v1.35.0"), WorkersMode::Skip, true)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("upgrades a node only from kubeadm 0 minor(s) older"),
        "{e}"
    );
}

#[test]
fn a_minor_without_kubeadm_facts_is_refused_by_name() {
    let mut c = Catalog::builtin().unwrap();
    c.minors
        .iter_mut()
        .find(|m| m.minor == "1.35")
        .unwrap()
        .kubeadm = None;
    let e = schedule(&c, &v("v1.34.0"), &v("v1.36.0"), WorkersMode::Skip, true)
        .unwrap_err()
        .to_string();
    assert!(e.contains("minor 1.35 has no kubeadm skew facts"), "{e}");
    // The conservative plan needs no skew fact.
    schedule(
        &c,
        &v("v1.34.0"),
        &v("v1.36.0"),
        WorkersMode::EveryMinor,
        false,
    )
    .unwrap();
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
    /// Over every pair of minors the catalog knows (and any starting patch): no state
    /// inside or after a phase breaks the catalog's rules, the control plane moves at most
    /// one minor per phase, the end state is the target, and the worker stops are the
    /// fewest possible (ceil(d/3) wherever every limit on the way is 3).
    #[test]
    fn every_pair_of_minors(a in 0usize..64, b in 0usize..64, patch in 0u32..40) {
        let c = Catalog::builtin().unwrap();
        let minors: Vec<u32> = c.minors.iter().filter_map(|m| parse_minor_key(&m.minor)).collect();
        let (a, b) = (a % minors.len(), b % minors.len());
        proptest::prop_assume!(a < b);
        let from_latest = c.latest_patch(&format!("1.{}", minors[a])).unwrap();
        let from = Version::new(minors[a], patch % (from_latest + 1));
        let to = Version::new(minors[b], c.latest_patch(&format!("1.{}", minors[b])).unwrap());
        for mode in [WorkersMode::Skip, WorkersMode::EveryMinor] {
            let s = schedule(&c, &from, &to, mode, true).unwrap();
            let mut worker = from.minor;
            let mut kubeadm = from.minor;
            let mut cp_prev = from;
            for p in &s.phases {
                let cp = v(&p.control_plane);
                // Every kubeadm upgrade node (a landing or a kubeadm-only step) runs the
                // control plane's kubeadm, within the node-kubeadm limit of the workers'.
                if p.workers.is_some() || p.workers_kubeadm.is_some() {
                    proptest::prop_assert!(p.workers.is_none() || p.workers_kubeadm.is_none(), "{p:?}");
                    proptest::prop_assert!(cp.minor - kubeadm <= node_kubeadm_limit(&c, cp.minor), "{p:?}");
                    kubeadm = cp.minor;
                }
                if let Some(k) = &p.workers_kubeadm {
                    proptest::prop_assert_eq!(k, &p.control_plane);
                }
                proptest::prop_assert!(cp.minor - cp_prev.minor <= 1, "{p:?}");
                proptest::prop_assert_eq!(v(&p.control_plane_from), cp_prev);
                proptest::prop_assert!(worker >= p.kubelet_floor_minor || mode == WorkersMode::EveryMinor, "{p:?}");
                check_state(&c, cp.minor, worker).map_err(proptest::test_runner::TestCaseError::fail)?;
                if let Some(w) = &p.workers {
                    proptest::prop_assert_eq!(w, &p.control_plane);
                    worker = minor_of(w);
                }
                proptest::prop_assert_eq!(minor_of(&p.workers_after), worker);
                cp_prev = cp;
            }
            proptest::prop_assert_eq!(cp_prev, to);
            let last = s.phases.last().unwrap().workers.clone();
            proptest::prop_assert_eq!(last, Some(to.to_string()));
            if mode == WorkersMode::Skip {
                let cps: Vec<u32> = s.phases.iter().map(|p| minor_of(&p.control_plane)).collect();
                proptest::prop_assert_eq!(s.worker_stops(), fewest_stops(&c, from.minor, &cps));
                let d = (to.minor - from.minor) as usize;
                if from.minor >= 28 {
                    proptest::prop_assert_eq!(s.worker_stops(), d.div_ceil(3));
                }
                let phases: Vec<(u32, bool)> = s.phases.iter().map(|p| (minor_of(&p.control_plane), p.workers.is_some())).collect();
                proptest::prop_assert_eq!(s.worker_kubeadm_steps(), fewest_kubeadm_steps(&c, from.minor, &phases));
                let every = schedule(&c, &from, &to, WorkersMode::EveryMinor, true).unwrap();
                proptest::prop_assert!(s.worker_stops() <= every.worker_stops());
                proptest::prop_assert_eq!(every.worker_kubeadm_steps(), 0);
            }
        }
    }
}
