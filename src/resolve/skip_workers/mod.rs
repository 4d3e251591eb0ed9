//! Catch-up bundles whose workers skip minors (issue 26, `airlock plan --build --one-bundle
//! --workers skip`): the hops' locks merged as [`super::catchup::merge`] does, then
//! - the runbook ordered by the schedule's phases: a skew check before each phase's
//!   control-plane step, the worker steps only in phases that move the workers (in the
//!   others only the workers' kubeadm step where the schedule asks for it: kubeadm upgrades
//!   a node one minor at a time, its kubelet may stay), a stop-and-verify step between
//!   phases and a worker back-out per phase;
//! - the files and node packages of architectures (`--worker-arch`) and package formats
//!   (`--worker-packages`) only workers use kept only for the versions workers land on,
//!   their kubeadm (with the package's cri-tools) for the kubeadm-only steps, and what
//!   their back-outs reinstall. Control-plane nodes run a kubelet too and take every
//!   minor, so on a site of one architecture the bundle hardly shrinks: the saving is
//!   drains.
//!
//! One way down: `phases` (what workers run as each phase starts), then `carry` (what
//! the bundle keeps for them) and `runbook` (the steps), then [`merge`] here.

use crate::catalog::Catalog;
use crate::error::Result;
use crate::lock::Lock;
use crate::manifest::Schedule;

mod carry;
mod phases;
mod runbook;

pub use carry::WorkerOnly;
use carry::{drop_skipped_worker_files, drop_skipped_worker_packages, landing_tools};
use phases::{schedule_error, workers_backout_set, workers_before};
use runbook::{Carried, phase_steps};

/// Merge `hops` (one lock per schedule phase) into one lock for `schedule`; `catalog`
/// (the one the hops were resolved with) says which tools each landing minor installs.
pub fn merge(
    hops: &[Lock],
    schedule: &Schedule,
    worker_only: &WorkerOnly,
    catalog: &Catalog,
) -> Result<Lock> {
    if hops.len() != schedule.phases.len() {
        return Err(schedule_error(format!(
            "{} hops but {} phases in the schedule",
            hops.len(),
            schedule.phases.len()
        )));
    }
    let mut out = super::catchup::merge(hops)?;
    let befores = workers_before(schedule);
    let tools = landing_tools(schedule, catalog)?;
    let backout = workers_backout_set(schedule, &befores);
    let mut left_out = drop_skipped_worker_files(
        &mut out,
        hops,
        schedule,
        &worker_only.arches,
        &tools,
        &backout,
    );
    left_out.extend(drop_skipped_worker_packages(
        &mut out,
        hops,
        schedule,
        worker_only,
        &backout,
    ));
    // The runbook after the files: each worker back-out says whether the bundle carries
    // what it reinstalls.
    let carried = Carried {
        targets: out.files.iter().map(|f| f.target.to_string()).collect(),
        repositories: &out.package_repositories,
    };
    let mut steps = Vec::new();
    for ((l, p), before) in hops.iter().zip(&schedule.phases).zip(&befores) {
        steps.extend(phase_steps(l, p, before, &carried, schedule.phases.len())?);
    }
    out.checklist = Some(steps);
    if !left_out.is_empty() {
        out.notes.push(format!(
            "workers skip minors: {} file(s) only workers use ({}) are left out for the \
             versions workers do not land on: {}",
            left_out.len(),
            worker_only.describe(),
            left_out.join(", ")
        ));
    }
    out.schedule = Some(schedule.clone());
    out.validate("catch-up lock")?;
    Ok(out)
}

#[cfg(test)]
mod tests;
