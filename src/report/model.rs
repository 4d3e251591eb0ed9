//! The report's model: the typed report the templates render and `change-report.json`
//! serialises (its schema is docs/report.md; keep the two together). Only types live
//! here; the sections that fill them are in `sections/`.

use serde::Serialize;

use super::CveFinding;
use crate::cluster::{Finding, RemovedApi};
use crate::lock::HopFacts;
use crate::manifest::{FileKind, Role, ServedAs, Step};

/// The report format this version writes.
pub const REPORT_FORMAT: u32 = 1;

/// A list that may not have been evaluated.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluated<T> {
    /// Whether the inputs to evaluate it were given.
    pub evaluated: bool,
    /// Why not, when not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The items.
    pub items: Vec<T>,
}

impl<T> Evaluated<T> {
    /// Evaluated, with these items.
    pub(super) fn yes(items: Vec<T>) -> Self {
        Evaluated {
            evaluated: true,
            reason: None,
            items,
        }
    }
    /// Not evaluated, and why.
    pub(super) fn no(reason: &str) -> Self {
        Evaluated {
            evaluated: false,
            reason: Some(reason.to_string()),
            items: Vec::new(),
        }
    }
}

/// The report (its JSON form is documented in docs/report.md). Fields are in reading
/// order, the order of the Markdown and HTML: the decision first, then risks, runbook,
/// back-out, validation, evidence, and the inventory as an appendix.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeReport {
    /// [`REPORT_FORMAT`].
    pub format: u32,
    /// Always `airlock-change-report`.
    pub kind: &'static str,
    /// The airlock that wrote it (the same binary writes the same bytes).
    pub generator: Generator,
    /// 1. The first page: what a board decides on.
    pub decision: Decision,
    /// 1 (continued). What, where, when.
    pub summary: Summary,
    /// 2. Risks, each with its mitigation.
    pub risks: Vec<Risk>,
    /// 3. API versions the target no longer serves, and the objects that use them.
    pub apis: Apis,
    /// 3 (continued). Each add-on: its images and where they were found, its charts, and
    /// its compatibility with the target (recorded at resolve).
    pub addons: Vec<crate::addon_facts::AddonFacts>,
    /// 4. CVEs and the hop.
    pub cves: Evaluated<CveFinding>,
    /// 5. The implementation runbook, numbered, each step with its estimate.
    pub runbook: Vec<RunbookStep>,
    /// 6. Duration: the estimates summed per phase and in all, against the window.
    pub timing: Timing,
    /// Runbook and back-out steps left out because they have nothing to do, and why.
    pub runbook_left_out: Vec<crate::lock::LeftOut>,
    /// 7. The back-out plan.
    pub backout: Backout,
    /// 8. Validation after the change.
    pub validation: Vec<RunbookStep>,
    /// 9. Approvals.
    pub approvals: Approvals,
    /// 10. How to verify inside the enclave.
    pub verification: Verification,
    /// 11. Upstream provenance: who signed each artifact, or the exception.
    pub provenance: ProvenanceSection,
    /// Appendix A. Every artifact, and what changes.
    pub inventory: Inventory,
    /// The hop's facts the report was made with (for preflight inside the enclave).
    pub facts: Option<HopFacts>,
    /// A catch-up bundle's schedule and the drains it saves (issue 26).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleView>,
}

/// The schedule and what it saves.
#[derive(Debug, Clone, Serialize)]
pub struct ScheduleView {
    /// As signed in the manifest.
    pub schedule: crate::manifest::Schedule,
    /// Times each worker is drained.
    pub drains_per_worker: usize,
    /// Times each worker would be drained if it took every hop.
    pub drains_per_worker_every_minor: usize,
    /// The difference, per worker.
    pub drains_saved_per_worker: usize,
    /// The difference for the whole site, when the worker count is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drains_saved: Option<usize>,
    /// What the workers' jumps rest on.
    pub note: String,
}

/// The program that wrote a report.
#[derive(Debug, Clone, Serialize)]
pub struct Generator {
    /// Always `airlock`.
    pub name: &'static str,
    /// Its version (`CARGO_PKG_VERSION`).
    pub version: &'static str,
}

impl Generator {
    /// This airlock.
    pub const THIS: Generator = Generator {
        name: "airlock",
        version: env!("CARGO_PKG_VERSION"),
    };
}

/// A runbook step: its number, the checklist's step, and how long it takes.
#[derive(Debug, Clone, Serialize)]
pub struct RunbookStep {
    /// 1, 2, ... through the runbook and on through the validation; the back-out's own
    /// steps count from 1 again (shown as B1, B2, ...).
    pub number: usize,
    /// The checklist's step.
    #[serde(flatten)]
    pub step: Step,
    /// How long it takes.
    pub estimate: StepEstimate,
}

/// One step's estimate at the report's node count.
#[derive(Debug, Clone, Serialize)]
pub struct StepEstimate {
    /// What it scales with.
    pub basis: crate::checklist::estimate::Basis,
    /// Minutes per unit of the basis.
    pub minutes_each: u32,
    /// Minutes in all (none when the node count is not known and the basis is per node).
    pub minutes: Option<u64>,
    /// Where the figure comes from.
    pub source: String,
}

/// The node counts the estimates are multiplied by, and where they come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct NodeCount {
    /// Control planes.
    pub control_plane: u64,
    /// Workers.
    pub workers: u64,
    /// `nodes-option` (`--nodes`) or `cluster-dump`.
    pub source: &'static str,
}

/// One phase's minutes.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseTime {
    /// The phase.
    pub phase: crate::manifest::Phase,
    /// Minutes at the node count (none when it is not known).
    pub minutes: Option<u64>,
    /// How it is made up: `25 min + 10 min per additional control plane + 9 min per worker`.
    pub formula: String,
}

/// Section 6: how long the change takes.
#[derive(Debug, Clone, Serialize)]
pub struct Timing {
    /// The node count, when known.
    pub nodes: Option<NodeCount>,
    /// The runbook's phases (the validation counted as `post`).
    pub phases: Vec<PhaseTime>,
    /// Minutes in all (none without a node count).
    pub total_minutes: Option<u64>,
    /// How the total is made up.
    pub formula: String,
    /// The change window's length in minutes, when it has both ends.
    pub window_minutes: Option<u64>,
    /// Whether the total fits the window (none when either is not known).
    pub fits_window: Option<bool>,
    /// What the figures are.
    pub note: String,
}

/// The highest open risk.
#[derive(Debug, Clone, Serialize)]
pub struct OverallRisk {
    /// Its severity (none: no risk recorded).
    pub severity: Option<Severity>,
    /// The risk's id.
    pub risk: Option<String>,
    /// One line: why.
    pub reason: String,
    /// How many risks of each severity: high, medium, low.
    pub counts: [usize; 3],
}

/// What restarts and how many nodes are drained.
#[derive(Debug, Clone, Serialize)]
pub struct Disruption {
    /// Components that restart.
    pub restarts: Vec<String>,
    /// Node drains (none when the node count is not known).
    pub node_drains: Option<u64>,
}

/// After this step, backing out loses data.
#[derive(Debug, Clone, Serialize)]
pub struct PointOfNoReturn {
    /// Its number in the runbook.
    pub step: usize,
    /// Its id.
    pub id: String,
    /// What it means.
    pub text: String,
}

/// The approvals a policy requires and what is present.
#[derive(Debug, Clone, Serialize)]
pub struct ApprovalStatus {
    /// `met`, `not-met` or `not-checked`.
    pub status: &'static str,
    /// What the policy requires: `2 change-board`.
    pub required: Vec<String>,
    /// Who counted: `alice (change-board)`.
    pub present: Vec<String>,
    /// What is still needed.
    pub still_needed: Vec<String>,
}

/// Section 1, the decision block: what a board decides on, on the first page.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    /// The change request number (`--change`, or the one the counted approvals name).
    pub change: Option<String>,
    /// When the report was rendered for (`--now`), marked on the window.
    pub now: Option<String>,
    /// The highest open risk.
    pub overall_risk: OverallRisk,
    /// Expected duration (the timing section's total).
    pub duration: String,
    /// Expected disruption.
    pub disruption: Disruption,
    /// The point of no return (none without a runbook).
    pub point_of_no_return: Option<PointOfNoReturn>,
    /// Approvals under the policy.
    pub approvals: ApprovalStatus,
    /// What was not evaluated, and why.
    pub not_evaluated: Vec<String>,
}

/// Section 1.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// `vX.Y.Z`.
    pub from: Option<String>,
    /// `vX.Y.Z`.
    pub to: Option<String>,
    /// The site.
    pub channel: Option<String>,
    /// Its place in the channel's order.
    pub sequence: Option<u64>,
    /// The change window.
    pub not_before: Option<String>,
    /// The change window's end.
    pub expires: Option<String>,
    /// The bundle's identity (absent inside the bundle it describes).
    pub manifest_sha256: Option<String>,
    /// The payload's sha256.
    pub payload_sha256: String,
    /// Compressed bytes.
    pub payload_bytes: u64,
    /// Uncompressed bytes.
    pub content_bytes: u64,
    /// Images carried.
    pub images: usize,
    /// Blobs carried.
    pub blobs: usize,
    /// Files carried.
    pub files: usize,
    /// What the bytes are made of: (label, bytes), largest first.
    pub bytes_by_kind: Vec<(String, u64)>,
    /// End of life of the target minor, when known.
    pub target_end_of_life: Option<String>,
}

/// One image in the inventory.
#[derive(Debug, Clone, Serialize)]
pub struct ImageLine {
    /// Canonical name.
    pub name: String,
    /// Why it is carried.
    pub role: Option<Role>,
    /// The digest the enclave serves.
    pub digest: String,
    /// How the enclave serves it: the upstream `index` or `manifest` unchanged (the served
    /// digest is the upstream one), or a `subset-index` of the carried platforms (a new
    /// digest; the platform manifests keep theirs).
    pub served_as: ServedAs,
    /// The digest upstream publishes (and signs) for the tag: its index or manifest.
    pub upstream_digest: String,
    /// Platforms.
    pub platforms: Vec<String>,
    /// Each platform manifest carried and its digest, the same upstream and in the enclave.
    pub platform_manifests: Vec<PlatformManifest>,
    /// Bytes of its manifests and blobs.
    pub bytes: u64,
}

/// A platform manifest of an image.
#[derive(Debug, Clone, Serialize)]
pub struct PlatformManifest {
    /// `os/arch[/variant]`, or none when the record names none (a single manifest).
    pub platform: Option<String>,
    /// Its digest.
    pub digest: String,
}

/// One file in the inventory.
#[derive(Debug, Clone, Serialize)]
pub struct FileLine {
    /// Where it goes below `--dest`.
    pub target: String,
    /// What it is.
    pub kind: Option<FileKind>,
    /// sha256.
    pub sha256: String,
    /// Bytes.
    pub size: u64,
    /// Where it came from.
    pub source: String,
}

/// A component's version before and after.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    /// `kube-apiserver`, `etcd`, `kubeadm`, ...
    pub component: String,
    /// Before (none: added).
    pub from: Option<String>,
    /// After (none: removed).
    pub to: Option<String>,
}

/// Against earlier bundles.
#[derive(Debug, Clone, Serialize)]
pub struct SinceDiff {
    /// The earlier bundles' manifest sha256.
    pub bundles: Vec<String>,
    /// Payload entries not in any of them.
    pub new_entries: usize,
    /// Their bytes.
    pub new_bytes: u64,
    /// Entries already delivered.
    pub carried_before: usize,
    /// Images whose served digest differs from the earlier bundles'.
    pub images_changed: Vec<String>,
}

/// Section 2.
#[derive(Debug, Clone, Serialize)]
pub struct Inventory {
    /// Images.
    pub images: Vec<ImageLine>,
    /// Files.
    pub files: Vec<FileLine>,
    /// What changes against the version the cluster runs.
    pub changes: Vec<Change>,
    /// Against earlier bundles (`--since`).
    pub since: Option<SinceDiff>,
}

/// Section 3.
#[derive(Debug, Clone, Serialize)]
pub struct Apis {
    /// API versions the target minor no longer serves.
    pub removed: Vec<RemovedApi>,
    /// Objects of the cluster that use them.
    pub in_use: Evaluated<Finding>,
    /// In a two-step hop: which step this is, and where the removals land.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub two_step: Option<String>,
    /// Step 1 of a two-step hop: the API versions the target minor removes, still served
    /// under emulation and removed by step 2 (preflight does not fail on them here).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub due_in_step2: Vec<RemovedApi>,
}

/// How bad a risk is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Must be resolved before the window.
    High,
    /// Needs a plan.
    Medium,
    /// Noted.
    Low,
}

/// Section 4: one risk.
#[derive(Debug, Clone, Serialize)]
pub struct Risk {
    /// Stable id.
    pub id: String,
    /// How bad.
    pub severity: Severity,
    /// What.
    pub title: String,
    /// The facts it comes from.
    pub evidence: String,
    /// What reduces it.
    pub mitigation: String,
}

/// Section 7.
#[derive(Debug, Clone, Serialize)]
pub struct Backout {
    /// When to back out.
    pub triggers: Vec<String>,
    /// The steps, numbered from 1 (shown as B1, B2, ...).
    pub steps: Vec<RunbookStep>,
    /// Whether the bundle carries the previous version's images and binaries.
    pub previous_version_carried: bool,
    /// How long it takes, as far as the inputs tell.
    pub expected_duration: String,
    /// What "restored" means.
    pub restored_means: Vec<String>,
}

/// One signature, as the policy counted it.
#[derive(Debug, Clone, Serialize)]
pub struct ApprovalLine {
    /// The signature file.
    pub file: String,
    /// The key that made it (when it verified).
    pub key_id: Option<String>,
    /// The policy's name for the key.
    pub name: Option<String>,
    /// The role it counted for.
    pub role: Option<String>,
    /// When it says it was made.
    pub time: Option<String>,
    /// When an RFC 3161 timestamp from a TSA the policy lists proves it existed by
    /// (`TIME by TSA (±N s)`), when it has a valid one (issue 24).
    pub tsa_time: Option<String>,
    /// The change number its trusted comment names (`airlock sign --change`).
    pub change: Option<String>,
    /// Whether it counted.
    pub counted: bool,
    /// Why not, when it did not.
    pub reason: Option<String>,
}

/// Section 9.
#[derive(Debug, Clone, Serialize)]
pub struct Approvals {
    /// Whether the signatures were checked against a policy (without one, none is listed).
    pub checked: bool,
    /// Every signature, counted or not.
    pub signatures: Vec<ApprovalLine>,
    /// What the policy still needs (when checked).
    pub still_needed: Vec<String>,
}

/// Section 10.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    /// airlock-verify commands.
    pub commands: Vec<String>,
    /// The manual procedure with Debian's tools.
    pub manual: Vec<String>,
}

/// Section 11: who signed each Kubernetes artifact upstream, as resolve checked it and
/// the bundle carries the evidence of it, or what let it in without.
#[derive(Debug, Clone, Serialize)]
pub struct ProvenanceSection {
    /// Whether resolve checked signatures (`--trusted-root`); when not, every line says so.
    pub checked: bool,
    /// The line the board reads first: how many are signed, by whom, and the exceptions.
    pub summary: String,
    /// sha256 of the Sigstore trusted root the signatures were checked against (the
    /// bundle carries it as `provenance/trusted_root.json`).
    pub trusted_root_sha256: Option<String>,
    /// Every image and file the bundle carries, images first, in manifest order.
    pub artifacts: Vec<ProvenanceLine>,
}

/// One artifact's signature, or the exception that let it in.
#[derive(Debug, Clone, Serialize)]
pub struct ProvenanceLine {
    /// The image reference or the file's URL (or path).
    pub artifact: String,
    /// `image` or `file`.
    pub kind: &'static str,
    /// The digest the signature covers (the image's upstream digest, the file's sha256).
    pub digest: String,
    /// The signature, when one passed.
    pub signature: Option<ProvenanceSignature>,
    /// Otherwise why it was let in: the `--allow-unsigned` exception or "not checked".
    pub exception: Option<String>,
}

/// The facts a passed signature proved.
#[derive(Debug, Clone, Serialize)]
pub struct ProvenanceSignature {
    /// The certificate's SAN.
    pub identity: String,
    /// The OIDC issuer.
    pub issuer: String,
    /// The entry's global index in the transparency log (Rekor).
    pub log_index: u64,
    /// The signing time the log vouches for, UTC (RFC 3339).
    pub integrated_time: String,
    /// Where it was found: `referrer`, `sig-tag` or `blob` (none in older bundles).
    pub source: Option<String>,
}
