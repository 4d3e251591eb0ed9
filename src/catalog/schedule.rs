//! The catch-up schedule (issue 26): the control plane moves one hop per phase, as
//! [`super::plan::plan`] lists them; the workers either take every hop (the conservative
//! plan) or stay where they are until the next control-plane step would put the API server
//! further ahead of their kubelets than the skew policy or kubeadm allow, then land on the
//! control plane's current version, and at the end on the target. Landing as late as
//! possible gives the fewest worker stops: `ceil(d / 3)` for `d` minors with skew 3.
//!
//! kubeadm upgrades a node only from the kubeadm at most `node_kubeadm_max_minors_newer`
//! (one) minor older ("kubeadm's skew against kubeadm"), and only against a control plane of
//! its own minor, so workers that stay still run `kubeadm upgrade node` with the control
//! plane's kubeadm in a phase where the next phase's kubeadm would otherwise be too far ahead
//! of theirs: no drain, the kubelet unchanged (kubeadm accepts a kubelet three minors older).

use std::fmt;

use super::plan::{PlannedHop, plan};
use super::schema::{KubeadmSkew, MinorEntry, MinorSkew};
use super::{Catalog, Version};
use crate::error::{Error, Result};
pub use crate::manifest::{Schedule, SchedulePhase, WorkersMode};

/// The flag that accepts uncertain skew facts.
pub const ACCEPT_FLAG: &str = "--accept-uncertain-skew";

impl Catalog {
    /// The skew policy's limits against an API server of minor `m`: its own `skew` block,
    /// else the top-level one (which has no kube-proxy/kubelet limit of its own, so the
    /// kube-proxy/apiserver one stands for it).
    pub fn skew_of(&self, m: &MinorEntry) -> MinorSkew {
        m.skew.clone().unwrap_or_else(|| MinorSkew {
            kubelet_max_minors_older: self.skew.kubelet_max_minors_older,
            kube_proxy_max_minors_older: self.skew.kube_proxy_max_minors_older,
            kube_proxy_max_minors_from_kubelet: self.skew.kube_proxy_max_minors_older,
            control_plane_max_minors_older: self
                .skew
                .controller_manager_max_minors_older
                .min(self.skew.scheduler_max_minors_older),
            kubectl_max_minors_skew: self.skew.kubectl_max_minors_skew,
            source: self.skew.source.clone(),
            confidence: None,
            note: None,
        })
    }
}

/// How far kubelets may lag an API server of one minor, and which facts that rests on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeletLimit {
    /// Minors a kubelet may be older than the API server, by the policy and kubeadm.
    pub minors: u32,
    /// Minors the kubeadm of this minor may be newer than the kubeadm that last managed
    /// the node it upgrades.
    pub node_kubeadm_minors: u32,
    /// The uncertain facts used, each named (`1.36 kubeadm.kubelet_max_minors_older: ...`).
    pub uncertain: Vec<String>,
}

/// The kubelet limit when the control plane moves to minor `minor`: the policy's kubelet
/// and kube-proxy limits (kube-proxy runs the control plane's version on every node, so its
/// distance to the kubelet is the same lag), and the limit of the kubeadm doing the step.
pub fn kubelet_limit(catalog: &Catalog, minor: u32) -> std::result::Result<KubeletLimit, String> {
    let key = format!("1.{minor}");
    let m = catalog
        .minor(&key)
        .ok_or_else(|| format!("minor {key} is not in the catalog"))?;
    let skew = catalog.skew_of(m);
    let mut uncertain = Vec::new();
    if skew.confidence.is_some() {
        uncertain.push(format!(
            "{key} skew: {}",
            skew.note.as_deref().unwrap_or("uncertain")
        ));
    }
    let kubeadm = match &m.kubeadm {
        Some(k) => k.clone(),
        None => {
            return Err(format!(
                "minor {key} has no kubeadm skew facts (kubeadm.kubelet_max_minors_older) in the \
                 catalog, so how far workers may lag is unknown"
            ));
        }
    };
    if kubeadm.confidence.is_some() {
        uncertain.push(kubeadm_fact(&key, &kubeadm));
    }
    let minors = skew
        .kubelet_max_minors_older
        .min(skew.kube_proxy_max_minors_older)
        .min(skew.kube_proxy_max_minors_from_kubelet)
        .min(kubeadm.kubelet_max_minors_older);
    Ok(KubeletLimit {
        minors,
        node_kubeadm_minors: kubeadm.node_kubeadm_max_minors_newer,
        uncertain,
    })
}

fn kubeadm_fact(key: &str, k: &KubeadmSkew) -> String {
    format!(
        "{key} kubeadm.kubelet_max_minors_older = {} is uncertain: {}",
        k.kubelet_max_minors_older,
        k.note.as_deref().unwrap_or("no reason given")
    )
}

/// A skipping schedule that rests on uncertain facts, refused without [`ACCEPT_FLAG`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uncertain(pub Vec<String>);

impl fmt::Display for Uncertain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "leaving workers behind rests on catalog facts that are not confirmed: {}. Read them \
             at the tags (airlock catalog update) or pass {ACCEPT_FLAG} to plan on them anyway \
             (the bundle's lock records what was accepted)",
            self.0.join("; ")
        )
    }
}

fn schedule_error(from: &Version, to: &Version, reason: String) -> Error {
    Error::invalid("schedule", format!("{from} -> {to}"), reason)
}

/// The schedule from `from` to `to`. With [`WorkersMode::Skip`], refuses when a fact it
/// needs is uncertain unless `accept_uncertain`, and then records those facts.
pub fn schedule(
    catalog: &Catalog,
    from: &Version,
    to: &Version,
    workers: WorkersMode,
    accept_uncertain: bool,
) -> Result<Schedule> {
    let hops = plan(catalog, from, to)?;
    let mut limits = Vec::with_capacity(hops.len());
    let mut uncertain = Vec::new();
    for h in &hops {
        let l = match workers {
            // Workers never lag more than the hop itself: no skew fact is needed.
            WorkersMode::EveryMinor => KubeletLimit {
                minors: h.to.minor - h.from.minor,
                node_kubeadm_minors: h.to.minor - h.from.minor,
                uncertain: Vec::new(),
            },
            WorkersMode::Skip => {
                kubelet_limit(catalog, h.to.minor).map_err(|e| schedule_error(from, to, e))?
            }
        };
        for u in &l.uncertain {
            if !uncertain.contains(u) {
                uncertain.push(u.clone());
            }
        }
        limits.push(l);
    }
    if !uncertain.is_empty() && !accept_uncertain {
        return Err(schedule_error(from, to, Uncertain(uncertain).to_string()));
    }
    let kubelet: Vec<u32> = limits.iter().map(|l| l.minors).collect();
    let (landings, kubeadm_steps) = match workers {
        WorkersMode::EveryMinor => (vec![true; hops.len()], vec![false; hops.len()]),
        WorkersMode::Skip => {
            let landings =
                greedy_landings(&hops, &kubelet, from).map_err(|e| schedule_error(from, to, e))?;
            let node: Vec<u32> = limits.iter().map(|l| l.node_kubeadm_minors).collect();
            let steps = kubeadm_steps(&hops, &landings, &node, from)
                .map_err(|e| schedule_error(from, to, e))?;
            (landings, steps)
        }
    };
    Ok(Schedule {
        workers,
        from: from.to_string(),
        phases: phases(&hops, &landings, &kubeadm_steps, &kubelet, from),
        accepted_uncertain: uncertain,
    })
}

/// Which phases where the workers stay give them a kubeadm-only step: one where the next
/// phase's kubeadm would be more than its limit ahead of the workers' kubeadm. The workers
/// start with the kubeadm of their own minor (the one that last upgraded them).
fn kubeadm_steps(
    hops: &[PlannedHop],
    landings: &[bool],
    node_limits: &[u32],
    from: &Version,
) -> std::result::Result<Vec<bool>, String> {
    let mut kubeadm = from.minor;
    let mut out = vec![false; hops.len()];
    for (i, h) in hops.iter().enumerate() {
        if h.to.minor.saturating_sub(kubeadm) > node_limits[i] {
            return Err(format!(
                "kubeadm {} upgrades a node only from kubeadm {} minor(s) older, and the \
                 workers' kubeadm is 1.{kubeadm}",
                h.to, node_limits[i]
            ));
        }
        let needed = hops
            .get(i + 1)
            .is_some_and(|next| next.to.minor.saturating_sub(kubeadm) > node_limits[i + 1]);
        if landings[i] || needed {
            out[i] = !landings[i];
            kubeadm = h.to.minor;
        }
    }
    Ok(out)
}

/// Which phases move the workers: a phase does when the next one would leave them too far
/// behind, and the last one always does.
fn greedy_landings(
    hops: &[PlannedHop],
    limits: &[u32],
    from: &Version,
) -> std::result::Result<Vec<bool>, String> {
    let mut worker = from.minor;
    let mut out = vec![false; hops.len()];
    for (i, h) in hops.iter().enumerate() {
        if h.to.minor.saturating_sub(worker) > limits[i] {
            return Err(format!(
                "the step to {} needs kubelets within {} minor(s), and the workers cannot be \
                 newer than the control plane before it",
                h.to, limits[i]
            ));
        }
        let forced = hops
            .get(i + 1)
            .is_some_and(|next| next.to.minor.saturating_sub(worker) > limits[i + 1]);
        if forced || i + 1 == hops.len() {
            out[i] = true;
            worker = h.to.minor;
        }
    }
    Ok(out)
}

fn phases(
    hops: &[PlannedHop],
    landings: &[bool],
    kubeadm_steps: &[bool],
    limits: &[u32],
    from: &Version,
) -> Vec<SchedulePhase> {
    let mut workers_at = *from;
    hops.iter()
        .zip(landings)
        .zip(limits)
        .zip(kubeadm_steps)
        .enumerate()
        .map(|(i, (((h, &lands), &limit), &kubeadm))| {
            let floor = h.to.minor.saturating_sub(limit);
            if lands {
                workers_at = h.to;
            }
            SchedulePhase {
                n: i as u32 + 1,
                control_plane_from: h.from.to_string(),
                control_plane: h.to.to_string(),
                workers: lands.then(|| h.to.to_string()),
                workers_after: workers_at.to_string(),
                workers_kubeadm: kubeadm.then(|| h.to.to_string()),
                kubelet_floor_minor: floor,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
