//! The report's model: the typed report the templates render and `change-report.json`
//! serialises (its schema is docs/report.md; keep the two together). Only types live
//! here; the sections that fill them are in `sections/`.

use serde::Serialize;

use super::CveFinding;
use crate::cluster::{Finding, RemovedApi};
use crate::lock::HopFacts;
use crate::manifest::{FileKind, Role, Step};

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

/// The report (its JSON form is documented in docs/report.md).
#[derive(Debug, Clone, Serialize)]
pub struct ChangeReport {
    /// [`REPORT_FORMAT`].
    pub format: u32,
    /// Always `airlock-change-report`.
    pub kind: &'static str,
    /// 1. What, where, when.
    pub summary: Summary,
    /// 2. Every artifact, and what changes.
    pub inventory: Inventory,
    /// 3. API versions the target no longer serves, and the objects that use them.
    pub apis: Apis,
    /// 3 (continued). Each add-on: its images and where they were found, its charts, and
    /// its compatibility with the target (recorded at resolve).
    pub addons: Vec<crate::addon_facts::AddonFacts>,
    /// 4. Risks, each with its mitigation.
    pub risks: Vec<Risk>,
    /// 5. CVEs and the hop.
    pub cves: Evaluated<CveFinding>,
    /// 6. The implementation runbook.
    pub runbook: Vec<Step>,
    /// Runbook and back-out steps left out because they have nothing to do, and why.
    pub runbook_left_out: Vec<crate::checklist::LeftOut>,
    /// 7. The back-out plan.
    pub backout: Backout,
    /// 8. Validation after the change.
    pub validation: Vec<Step>,
    /// 9. Approvals.
    pub approvals: Approvals,
    /// 10. How to verify inside the enclave.
    pub verification: Verification,
    /// The hop's facts the report was made with (for preflight inside the enclave).
    pub facts: Option<HopFacts>,
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
    /// Platforms.
    pub platforms: Vec<String>,
    /// Bytes of its manifests and blobs.
    pub bytes: u64,
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
    /// The steps.
    pub steps: Vec<Step>,
    /// Whether the bundle carries the previous version's images and binaries.
    pub previous_version_carried: bool,
    /// How long it takes, as far as the inputs tell.
    pub expected_duration: String,
    /// What "restored" means.
    pub restored_means: Vec<String>,
}

/// One approval.
#[derive(Debug, Clone, Serialize)]
pub struct ApprovalLine {
    /// The signature file.
    pub file: String,
    /// The name (the policy's, or the one the comment claims).
    pub name: Option<String>,
    /// The role.
    pub role: Option<String>,
    /// When.
    pub time: Option<String>,
    /// Whether it was checked against a policy and counted.
    pub counted: Option<bool>,
}

/// Section 9.
#[derive(Debug, Clone, Serialize)]
pub struct Approvals {
    /// Whether the signatures were checked against a policy.
    pub checked: bool,
    /// Every signature.
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
