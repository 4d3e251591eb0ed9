//! `airlock-verify preflight`

use std::path::PathBuf;

use airlock_verify::cluster::{Dump, RemovedApi};
use airlock_verify::layout::DocPath;
use airlock_verify::outln;
use airlock_verify::preflight::{Status, Target, run as checks};
use airlock_verify::state::{Outcome, Receipt};
use airlock_verify::time::Timestamp;

use crate::common::{BundleArgs, StateArgs};

/// Check the cluster against a bundle before the change window, inside the enclave:
/// the API server runs the hop's from-minor; kubelet and kube-proxy are within the skew
/// policy of the target; no object uses an API the target no longer serves (read from
/// the bundle's signed change report); --dest has room for the files; and the cluster's
/// kubeadm imageRepository names the registry the bundle goes into. Each check passes,
/// fails or cannot be evaluated (with why). With --state-dir (or --dest) the result is
/// recorded in the enclave's receipt log. Exit 0 when no check failed, 1 when one did.
///
/// Dumps are `kubectl ... -o json` output: `kubectl version -o json`, `kubectl get nodes
/// -o json`, `kubectl get -A -o json <kinds>`, `kubectl -n kube-system get configmap
/// kubeadm-config -o json`; files or directories of .json files. Helm release Secrets
/// among them (`kubectl get secrets -A --field-selector type=helm.sh/release.v1 -o json`)
/// are decoded and their stored manifests checked too; a saved `kubectl get --raw
/// /metrics` (--metrics) adds the removed APIs clients still request. Every API version
/// removed since 1.16 up to the target is checked, and each finding names its source.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    bundle: BundleArgs,
    /// `kubectl ... -o json` output (a file or a directory of .json files). Repeatable.
    #[arg(long = "cluster-dump", value_name = "FILE|DIR", required = true)]
    cluster_dump: Vec<PathBuf>,
    /// A saved `kubectl get --raw /metrics` of the API server: its
    /// apiserver_requested_deprecated_apis names removed APIs clients still request.
    /// Repeatable (one per API server).
    #[arg(long, value_name = "FILE")]
    metrics: Vec<PathBuf>,
    /// Where the bundle's files will be installed (for the disk check).
    #[arg(long, value_name = "DIR")]
    dest: Option<PathBuf>,
    /// The registry images will be installed into, HOST:PORT (for the imageRepository check).
    #[arg(long, value_name = "HOST:PORT")]
    registry: Option<String>,
    /// The repository prefix images will be installed under.
    #[arg(long)]
    prefix: Option<String>,
    #[command(flatten)]
    state: StateArgs,
    /// Print the checks as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let started = Timestamp::now();
    let signed = a.bundle.open()?;
    let report = signed.read_document(DocPath::ReportJson, 64 * 1024 * 1024)?;
    let report: serde_json::Value = serde_json::from_slice(&report)
        .map_err(|e| airlock_verify::Error::verification(DocPath::ReportJson.file_name(), e))?;
    let removed: Vec<RemovedApi> = serde_json::from_value(report["apis"]["removed"].clone())
        .map_err(|e| airlock_verify::Error::verification(DocPath::ReportJson.file_name(), e))?;
    // Step 1 of a two-step hop lists the APIs step 2 removes apart (absent otherwise).
    let removed_in_step2: Vec<RemovedApi> = match report["apis"].get("due_in_step2") {
        None => Vec::new(),
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|e| airlock_verify::Error::verification(DocPath::ReportJson.file_name(), e))?,
    };
    let older = report["facts"]["kubelet_max_minors_older"]
        .as_u64()
        .unwrap_or(3) as u32;
    let mut dump = Dump::default();
    dump.add_paths(&a.cluster_dump)?;
    for m in &a.metrics {
        dump.add_metrics_file(m)?;
    }
    let image_repository = a.registry.as_ref().map(|r| match &a.prefix {
        Some(p) => format!("{r}/{}", p.trim_matches('/')),
        None => r.clone(),
    });
    let results = checks(
        signed.manifest(),
        &dump,
        &Target {
            dest: a.dest.as_deref(),
            image_repository,
            kubelet_max_minors_older: older,
            removed: &removed,
            removed_in_step2: &removed_in_step2,
            two_step: report["facts"]["two_step"]["step"]
                .as_u64()
                .and_then(|n| u8::try_from(n).ok()),
        },
    );
    let failed = results.iter().filter(|c| c.status == Status::Fail).count();
    if let Some(mut enclave) = a.state.enclave(a.dest.as_deref())? {
        let mut r = Receipt::new(
            Outcome::Preflight,
            &a.bundle.path().display().to_string(),
            started,
        );
        r.verified = Some(airlock_verify::install::record::verified(&signed));
        r.install = Some(serde_json::json!({ "preflight": results, "failed": failed }));
        let path = enclave.record(r, None)?;
        if !a.json {
            outln!("recorded in {path}")?;
        }
    }
    if a.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({ "checks": results, "failed": failed })
            )?
        )?;
    } else {
        for c in &results {
            let s = match c.status {
                Status::Pass => "pass",
                Status::Fail => "FAIL",
                Status::NotEvaluated => "not evaluated",
            };
            outln!("{s:>13}  {}: {}", c.id, c.detail)?;
        }
    }
    if failed > 0 {
        return Err(anyhow::anyhow!("{failed} preflight check(s) failed"));
    }
    Ok(())
}
