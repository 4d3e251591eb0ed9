//! `airlock-verify plan`

use std::path::PathBuf;

use airlock_verify::cluster::Dump;
use airlock_verify::outln;
use airlock_verify::plan::{Next, PlanError, next};

use crate::common::BundleArgs;

/// Say which phase of a catch-up bundle comes next, inside the enclave.
///
/// Reads the schedule the bundle's signed manifest carries (`airlock plan --build
/// --one-bundle --workers ...` writes it: the control plane's and the workers' version
/// after each phase) and the cluster's nodes from `kubectl get nodes -o json` (plus,
/// optionally, `kubectl version -o json` for the API server's version and `kubectl -n
/// kube-system get daemonset kube-proxy -o json` for kube-proxy's). Prints the phase that
/// is done, and the next step: a phase's control-plane step, the workers still to move in
/// the current phase, or that the cluster runs the target. Refuses (exit 1, naming each
/// node) when a kubelet or kube-proxy is older than the next control-plane step allows.
/// Checks the bundle's signatures, not its payload (`verify` does that).
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    bundle: BundleArgs,
    /// `kubectl ... -o json` output (a file or a directory of .json files). Repeatable.
    #[arg(long = "cluster-dump", value_name = "FILE|DIR", required = true)]
    cluster_dump: Vec<PathBuf>,
    /// Print the next step as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let signed = a.bundle.open()?;
    let schedule = signed
        .manifest()
        .schedule
        .clone()
        .ok_or(PlanError::NoSchedule)?;
    let mut dump = Dump::default();
    dump.add_paths(&a.cluster_dump)?;
    let n = next(&schedule, &dump)?;
    if a.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "schedule": schedule, "next": n,
            }))?
        )?;
        return Ok(());
    }
    match &n {
        Next::Phase { phase } => {
            let workers = match &phase.workers {
                Some(w) => format!("workers land on {w}"),
                None => match &phase.workers_kubeadm {
                    // The kubelet stays; kubeadm still moves one minor (its skew against kubeadm).
                    Some(k) => format!(
                        "workers stay at {} but take kubeadm {k} and kubeadm upgrade node, without a drain",
                        phase.workers_after
                    ),
                    None => format!("workers stay at {}", phase.workers_after),
                },
            };
            outln!(
                "next: phase {} of {}: control plane {} -> {}; {workers} (every kubelet is 1.{} or newer)",
                phase.n,
                schedule.phases.len(),
                phase.control_plane_from,
                phase.control_plane,
                phase.kubelet_floor_minor
            )?;
        }
        Next::Workers { phase, behind } => outln!(
            "next: phase {} of {} is not done: the control plane runs {}; move these workers to {} (runbook phase{}.workers.*): {}",
            phase.n,
            schedule.phases.len(),
            phase.control_plane,
            phase.workers.as_deref().unwrap_or(&phase.control_plane),
            phase.n,
            behind.join(", ")
        )?,
        Next::Done { version } => outln!("done: every node runs {version}")?,
    }
    Ok(())
}
