//! The change-management report: the change request a change board approves, written
//! from facts airlock already holds (the signed manifest, the lock's hop facts, the
//! checklist), and optionally a cluster dump, the Kubernetes CVE feed and earlier bundles.
//!
//! Sections follow an RFC (ITIL) and NIST 800-53 CM-3/CM-4: summary, scope and
//! inventory, removed APIs, risks with mitigations, CVEs fixed, the implementation
//! runbook, the back-out plan, the validation plan, approvals, and how to verify. What
//! could not be evaluated is said, with why, never left out. Rendered as JSON
//! ([`ChangeReport`], schema in docs/report.md), Markdown and one self-contained HTML
//! file ([`render`]); a CycloneDX SBOM beside it ([`sbom`]). Deterministic: the same
//! inputs give the same bytes.

pub mod cve;
pub mod render;
pub mod sbom;
mod svg;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::cluster::{Dump, Finding, RemovedApi};
use crate::lock::HopFacts;
use crate::manifest::{BundleManifest, FileKind, Phase, Role, Step};
use crate::trust::policy::Evaluation;
pub use cve::CveFinding;

/// The report format this version writes.
pub const REPORT_FORMAT: u32 = 1;

/// Everything the report is made from.
#[derive(Default)]
pub struct Inputs<'a> {
    /// The bundle's signed manifest.
    pub manifest: Option<&'a BundleManifest>,
    /// The manifest's sha256, when known (not inside the bundle it describes).
    pub manifest_sha256: Option<String>,
    /// Facts the resolve recorded about the hop (removed APIs, skew, support dates).
    pub facts: Option<&'a HopFacts>,
    /// A cluster dump, when given.
    pub dump: Option<&'a Dump>,
    /// CVE findings, when a feed was given.
    pub cves: Option<Vec<CveFinding>>,
    /// Earlier bundles this one is compared with (`--since`): (manifest sha256, manifest).
    pub since: Vec<(String, &'a BundleManifest)>,
    /// How the signatures meet a policy, when one was given.
    pub approvals: Option<&'a Evaluation>,
    /// The signature files present (name, claimed trusted comment), for listing without
    /// a policy.
    pub signatures: Vec<(String, String)>,
}

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
    fn yes(items: Vec<T>) -> Self {
        Evaluated {
            evaluated: true,
            reason: None,
            items,
        }
    }
    fn no(reason: &str) -> Self {
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

/// Assemble the report.
pub fn assemble(i: &Inputs<'_>) -> ChangeReport {
    let m = i.manifest;
    let steps: Vec<Step> = m.and_then(|m| m.checklist.clone()).unwrap_or_default();
    let in_phase = |p: &[Phase]| -> Vec<Step> {
        steps
            .iter()
            .filter(|s| p.contains(&s.phase))
            .cloned()
            .collect()
    };
    let removed: Vec<RemovedApi> = i.facts.map(|f| f.removed_apis.clone()).unwrap_or_default();
    let in_use = match i.dump {
        Some(d) => Evaluated::yes(d.removed_in_use(&removed)),
        None => Evaluated::no(
            "no cluster dump given (--cluster-dump): which objects use a removed API was not checked",
        ),
    };
    let cves = match &i.cves {
        Some(c) => Evaluated::yes(c.clone()),
        None => Evaluated::no("no CVE feed given (--cve-feed)"),
    };
    let summary = summary(i);
    let inventory = inventory(i);
    let backout_carried =
        m.is_some_and(|m| m.images.iter().any(|img| img.role == Some(Role::Backout)));
    let risks = risks(i, &inventory, &in_use, backout_carried);
    let addons: Vec<_> = i.facts.map(|f| f.addons.clone()).unwrap_or_default();
    // The add-ons have their own section; `facts` keeps the rest for preflight.
    let facts = i.facts.cloned().map(|mut f| {
        f.addons.clear();
        f
    });
    ChangeReport {
        format: REPORT_FORMAT,
        kind: "airlock-change-report",
        summary,
        inventory,
        apis: Apis { removed, in_use },
        addons,
        risks,
        cves,
        runbook: in_phase(&[
            Phase::Pre,
            Phase::Cp1,
            Phase::Cp,
            Phase::Cni,
            Phase::Workers,
        ]),
        backout: backout(i, in_phase(&[Phase::Backout]), backout_carried),
        validation: in_phase(&[Phase::Post]),
        approvals: approvals(i),
        verification: verification(i),
        facts,
    }
}

fn summary(i: &Inputs<'_>) -> Summary {
    let m = i.manifest;
    let mut by_kind: BTreeMap<String, u64> = BTreeMap::new();
    if let Some(m) = m {
        for e in &m.entries {
            let label = if e.media_type.contains("layer") {
                "image layers"
            } else if e.media_type.contains("config") {
                "image configs"
            } else if e.media_type.starts_with("application/vnd.airlock.file.") {
                match e.media_type.rsplit('.').next().unwrap_or("file") {
                    "binary" => "Kubernetes binaries",
                    "tool" => "node tools",
                    "manifest" | "chart" => "add-on manifests and charts",
                    "package" | "package-metadata" => "node packages",
                    _ => "other files",
                }
            } else {
                "image manifests and layout"
            };
            *by_kind.entry(label.to_string()).or_default() += e.size;
        }
    }
    let mut bytes_by_kind: Vec<(String, u64)> = by_kind.into_iter().collect();
    bytes_by_kind.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    Summary {
        from: m.and_then(|m| m.hop.as_ref()).map(|h| h.from.clone()),
        to: m.and_then(|m| m.hop.as_ref()).map(|h| h.to.clone()),
        channel: m.and_then(|m| m.channel.clone()),
        sequence: m.and_then(|m| m.sequence),
        not_before: m.and_then(|m| m.not_before).map(|t| t.to_string()),
        expires: m.and_then(|m| m.expires).map(|t| t.to_string()),
        manifest_sha256: i.manifest_sha256.clone(),
        payload_sha256: m.map(|m| m.payload.sha256.hex()).unwrap_or_default(),
        payload_bytes: m.map(|m| m.payload.size).unwrap_or(0),
        content_bytes: m
            .map(|m| m.entries.iter().map(|e| e.size).sum())
            .unwrap_or(0),
        images: m.map(|m| m.images.len()).unwrap_or(0),
        blobs: m
            .map(|m| {
                m.entries
                    .iter()
                    .filter(|e| e.path.to_string().starts_with("blobs/"))
                    .count()
            })
            .unwrap_or(0),
        files: m.map(|m| m.files.len()).unwrap_or(0),
        bytes_by_kind,
        target_end_of_life: i.facts.and_then(|f| f.target_end_of_life.clone()),
    }
}

fn inventory(i: &Inputs<'_>) -> Inventory {
    let Some(m) = i.manifest else {
        return Inventory {
            images: vec![],
            files: vec![],
            changes: vec![],
            since: None,
        };
    };
    let images = m
        .images
        .iter()
        .map(|img| ImageLine {
            name: img.name.to_string(),
            role: img.role,
            digest: img.served.digest.to_string(),
            platforms: img.platforms.iter().map(|p| p.to_string()).collect(),
            bytes: img
                .manifests
                .iter()
                .chain(&img.blobs)
                .map(|c| c.size)
                .sum::<u64>()
                + img.served.size,
        })
        .collect();
    let files = m
        .files
        .iter()
        .map(|f| FileLine {
            target: f.target.to_string(),
            kind: f.kind,
            sha256: f.sha256.hex(),
            size: f.size,
            source: f.source.clone(),
        })
        .collect();
    Inventory {
        images,
        files,
        changes: changes(m),
        since: since(i),
    }
}

/// Component versions: the target's images against the back-out set's, by repository;
/// binaries by the version directory of their target.
fn changes(m: &BundleManifest) -> Vec<Change> {
    let mut by_repo: BTreeMap<String, (Option<String>, Option<String>)> = BTreeMap::new();
    for img in &m.images {
        let tag = img
            .name
            .tag
            .clone()
            .unwrap_or_else(|| img.served.digest.to_string());
        let e = by_repo.entry(img.name.repository.clone()).or_default();
        match img.role {
            Some(Role::Backout) | Some(Role::CurrentEtcd) => e.0 = Some(tag),
            _ => e.1 = Some(tag),
        }
    }
    if let Some(h) = &m.hop {
        for (_, (from, to)) in by_repo.iter_mut() {
            // Carried by both versions (listed once, role target): unchanged.
            if from.is_none() && m.images.iter().any(|i| i.role == Some(Role::Backout)) {
                *from = to.clone();
            }
        }
        for name in ["kubeadm", "kubelet", "kubectl"] {
            by_repo.insert(name.to_string(), (Some(h.from.clone()), Some(h.to.clone())));
        }
    }
    by_repo
        .into_iter()
        .map(|(component, (from, to))| Change {
            component,
            from,
            to,
        })
        .collect()
}

fn since(i: &Inputs<'_>) -> Option<SinceDiff> {
    let m = i.manifest?;
    if i.since.is_empty() {
        return None;
    }
    let before: std::collections::BTreeSet<_> = i
        .since
        .iter()
        .flat_map(|(_, s)| s.entries.iter().map(|e| e.sha256))
        .collect();
    let new: Vec<_> = m
        .entries
        .iter()
        .filter(|e| !before.contains(&e.sha256))
        .collect();
    let old_served: BTreeMap<String, String> = i
        .since
        .iter()
        .flat_map(|(_, s)| {
            s.images
                .iter()
                .map(|img| (img.name.repository.clone(), img.served.digest.to_string()))
        })
        .collect();
    Some(SinceDiff {
        bundles: i.since.iter().map(|(d, _)| d.clone()).collect(),
        new_entries: new.len(),
        new_bytes: new.iter().map(|e| e.size).sum(),
        carried_before: m.entries.len() - new.len(),
        images_changed: m
            .images
            .iter()
            .filter(|img| {
                old_served
                    .get(&img.name.repository)
                    .is_some_and(|d| d != &img.served.digest.to_string())
            })
            .map(|img| img.name.to_string())
            .collect(),
    })
}

fn risks(
    i: &Inputs<'_>,
    inv: &Inventory,
    in_use: &Evaluated<Finding>,
    backout_carried: bool,
) -> Vec<Risk> {
    let mut r = Vec::new();
    let mut add = |id: &str, severity, title: String, evidence: String, mitigation: &str| {
        r.push(Risk {
            id: id.to_string(),
            severity,
            title,
            evidence,
            mitigation: mitigation.to_string(),
        })
    };
    if in_use.evaluated && !in_use.items.is_empty() {
        add(
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
                .map(|f| format!("{} uses {}", crate::cluster::describe(&f.object), f.uses))
                .collect::<Vec<_>>()
                .join("; "),
            "migrate each object to the replacement API and re-apply it before the window (kubectl convert, or edit the manifests / Helm charts), then take a new cluster dump",
        );
    } else if !in_use.evaluated {
        add(
            "apis.not-checked",
            Severity::Medium,
            "Objects using removed APIs were not checked".into(),
            in_use.reason.clone().unwrap_or_default(),
            "render the report again with --cluster-dump, or run airlock-verify preflight inside the enclave before the window",
        );
    }
    if let (Some(d), Some(f)) = (i.dump, i.facts)
        && let Some(to) = i
            .manifest
            .and_then(|m| m.hop.as_ref())
            .and_then(|h| crate::cluster::parse_version(&h.to))
    {
        let too_old: Vec<&str> = d
            .nodes
            .iter()
            .filter(|n| {
                crate::cluster::parse_version(&n.kubelet)
                    .is_some_and(|(_, minor, _)| minor + f.kubelet_max_minors_older < to.1)
            })
            .map(|n| n.name.as_str())
            .collect();
        if !too_old.is_empty() {
            add(
                "skew.kubelet",
                Severity::High,
                format!(
                    "{} node(s) run a kubelet more than {} minors older than the target",
                    too_old.len(),
                    f.kubelet_max_minors_older
                ),
                too_old.join(", "),
                "upgrade those nodes' kubelets first (an earlier hop), or drain and replace them",
            );
        }
    }
    for c in &inv.changes {
        if c.from.is_some()
            && c.to.is_some()
            && c.from != c.to
            && (c.component == "etcd" || c.component.ends_with("coredns"))
        {
            add(
                &format!("version.{}", c.component.replace('/', "-")),
                if c.component == "etcd" {
                    Severity::Medium
                } else {
                    Severity::Low
                },
                format!(
                    "{} changes from {} to {}",
                    c.component,
                    c.from.as_deref().unwrap_or("-"),
                    c.to.as_deref().unwrap_or("-")
                ),
                "from the catalog's pins for both versions".into(),
                if c.component == "etcd" {
                    "take the etcd snapshot of step pre.snapshot and keep it off the node; kubeadm never downgrades etcd, so a back-out restores the snapshot"
                } else {
                    "CoreDNS restarts during the upgrade; check cluster DNS in the validation steps"
                },
            );
        }
    }
    add(
        "restart.control-plane",
        Severity::Medium,
        "Every control-plane component restarts, one node at a time; workloads move while nodes drain".into(),
        "kubeadm upgrade apply/node replaces the static pods; kubelet restarts on every node".into(),
        "upgrade control planes one at a time, drain workers in small batches, and keep PodDisruptionBudgets in place",
    );
    if !backout_carried {
        add(
            "backout.not-carried",
            Severity::High,
            "The bundle does not carry the previous version's images and binaries".into(),
            "built with --no-backout".into(),
            "keep the previous hop's bundle installed, or rebuild with the back-out set",
        );
    }
    let bytes: u64 = inv.images.iter().map(|i| i.bytes).sum::<u64>()
        + inv.files.iter().map(|f| f.size).sum::<u64>();
    add(
        "size",
        Severity::Low,
        format!(
            "{} images and {} files, {} in all",
            inv.images.len(),
            inv.files.len(),
            human(bytes)
        ),
        "the bundle's manifest".into(),
        "install into the enclave registry before the window (install is idempotent and resumable)",
    );
    if let Some(f) = i.facts
        && !f.uncertain.is_empty()
    {
        add(
            "catalog.uncertain",
            Severity::Medium,
            format!(
                "{} catalog value(s) used are not confirmed from a primary source",
                f.uncertain.len()
            ),
            f.uncertain.join("; "),
            "run `airlock catalog update` (or resolve with --catalog-from-upstream) on the connected side and rebuild",
        );
    }
    if let Some(f) = i.facts {
        addon_risks(&f.addons, &mut r);
    }
    r.sort_by(|a, b| a.severity.cmp(&b.severity).then(a.id.cmp(&b.id)));
    r
}

/// Add-ons carried although incompatible, chart images airlock could not determine, and
/// API checks the catalog could not confirm.
fn addon_risks(addons: &[crate::addon_facts::AddonFacts], r: &mut Vec<Risk>) {
    use crate::addon_facts::Verdict;
    for a in addons {
        if let Some(e) = &a.exception {
            r.push(Risk {
                id: format!("addon.{}.incompatible", a.name),
                severity: Severity::High,
                title: format!("Add-on {} is incompatible with the target and carried by exception", a.name),
                evidence: e.clone(),
                mitigation: "upgrade the add-on to a version that supports the target before the window, or test this combination and record who accepted it".into(),
            });
        }
        let undetermined: Vec<String> = a
            .charts
            .iter()
            .flat_map(|c| {
                c.undetermined
                    .iter()
                    .map(move |u| format!("{} {}: {u}", c.name, c.version))
            })
            .collect();
        if !undetermined.is_empty() {
            r.push(Risk {
                id: format!("addon.{}.images-undetermined", a.name),
                severity: Severity::Medium,
                title: format!("{} image entr(ies) of add-on {}'s charts could not be determined without rendering", undetermined.len(), a.name),
                evidence: undetermined.join("; "),
                mitigation: "give the chart's rendered output (rendered:) or list the images under images: in the hop manifest, so the bundle cannot lack one".into(),
            });
        }
        let unconfirmed: Vec<&str> = a
            .checks
            .iter()
            .filter(|c| matches!(c.verdict, Verdict::NotRemoved | Verdict::Unchecked))
            .map(|c| c.subject.as_str())
            .collect();
        if !unconfirmed.is_empty() {
            r.push(Risk {
                id: format!("addon.{}.apis-unconfirmed", a.name),
                severity: Severity::Low,
                title: format!("{} API(s) of add-on {} are not confirmed as served by the target", unconfirmed.len(), a.name),
                evidence: unconfirmed.join(", "),
                mitigation: "resolve with a catalog that lists the target's served APIs (airlock catalog update), and install the CRDs of custom resources first".into(),
            });
        }
    }
}

fn backout(i: &Inputs<'_>, steps: Vec<Step>, carried: bool) -> Backout {
    let nodes = i.dump.map(|d| d.nodes.len()).filter(|n| *n > 0);
    Backout {
        triggers: vec![
            "kubeadm upgrade apply fails on the first control plane and its own rollback did not restore it".into(),
            "the API server or etcd is not healthy 15 minutes after a control-plane step".into(),
            "a post-check (section 8) fails and cannot be fixed inside the change window".into(),
            "workloads the change owner lists as critical are not running after the workers are upgraded".into(),
        ],
        steps,
        previous_version_carried: carried,
        expected_duration: match nodes {
            Some(n) => format!("about {} minutes for {n} nodes (30 minutes for etcd and the control planes, 5 minutes per node after)", 30 + 5 * n),
            None => "30 minutes for etcd and the control planes, then about 5 minutes per node (give --cluster-dump for the count)".into(),
        },
        restored_means: vec![
            "`kubectl version` reports the previous server version and every node's kubelet is the previous version".into(),
            "etcd reports healthy and the objects created before the window are present".into(),
            "the post-checks of section 8 pass against the previous version".into(),
        ],
    }
}

fn approvals(i: &Inputs<'_>) -> Approvals {
    match i.approvals {
        Some(e) => Approvals {
            checked: true,
            signatures: e
                .counted
                .iter()
                .map(|c| ApprovalLine {
                    file: c.file.clone(),
                    name: Some(c.name.clone()),
                    role: c.role.clone(),
                    time: c.time.clone(),
                    counted: Some(true),
                })
                .chain(e.not_counted.iter().map(|n| ApprovalLine {
                    file: n.file.clone(),
                    name: None,
                    role: None,
                    time: None,
                    counted: Some(false),
                }))
                .collect(),
            still_needed: e.missing(),
        },
        None => Approvals {
            checked: false,
            signatures: i
                .signatures
                .iter()
                .map(|(file, comment)| {
                    let c = crate::trust::comment::parse(comment);
                    ApprovalLine {
                        file: file.clone(),
                        name: c.as_ref().and_then(|c| c.get("signer")).map(str::to_string),
                        role: c.as_ref().and_then(|c| c.get("role")).map(str::to_string),
                        time: c.as_ref().and_then(|c| c.get("time")).map(str::to_string),
                        counted: None,
                    }
                })
                .collect(),
            still_needed: vec![
                "not checked against a policy: render with --policy to see what is still needed"
                    .into(),
            ],
        },
    }
}

fn verification(i: &Inputs<'_>) -> Verification {
    let payload = i
        .manifest
        .map(|m| m.payload.sha256.hex())
        .unwrap_or_default();
    Verification {
        commands: vec![
            "airlock-verify signers BUNDLE --policy /etc/airlock/policy.json".into(),
            "airlock-verify preflight BUNDLE --policy /etc/airlock/policy.json --cluster-dump cluster.json --dest /srv/k8s --registry REGISTRY".into(),
            "airlock-verify install BUNDLE --policy /etc/airlock/policy.json --registry REGISTRY --dest /srv/k8s".into(),
            "airlock-verify log --check --dest /srv/k8s".into(),
        ],
        manual: vec![
            "minisign -V -p KEY.pub -m manifest.json -x signatures/KEYID.minisig   # once per approver".into(),
            "sha256sum -c SHA256SUMS".into(),
            format!("sha256sum payload.tar.zst   # must be {payload}, the payload_sha256 the signatures name"),
            "zstd -dc payload.tar.zst | tar -x -C OUT --no-same-owner --no-same-permissions".into(),
            "skopeo copy --all --preserve-digests oci:OUT:NAME docker://REGISTRY/NAME   # see docs/manual-verify.md".into(),
        ],
    }
}

/// Read a bundle's manifest (its signature is not checked here: the report says what
/// the manifest says; verification is `airlock-verify`'s job) and its sha256.
pub fn load_manifest(dir: &std::path::Path) -> crate::Result<(BundleManifest, String)> {
    let bytes = crate::fsutil::read_limited(
        &dir.join(crate::layout::MANIFEST_FILE),
        crate::manifest::MAX_MANIFEST_JSON_BYTES,
        "bundle manifest",
    )?;
    let m = BundleManifest::parse_verified(&bytes)?;
    Ok((m, crate::digest::Sha256Digest::of(&bytes).hex()))
}

/// The hop facts the build recorded in the bundle's own report.
pub fn facts_from_bundle(dir: &std::path::Path) -> crate::Result<Option<HopFacts>> {
    let path = dir.join(crate::layout::DocPath::ReportJson.file_name());
    if !path.exists() {
        return Ok(None);
    }
    let bytes = crate::fsutil::read_limited(&path, 64 * 1024 * 1024, "change report")?;
    let v: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| crate::Error::invalid("change report", path.display(), e))?;
    let removed: Vec<RemovedApi> = serde_json::from_value(v["apis"]["removed"].clone())
        .map_err(|e| crate::Error::invalid("change report", path.display(), e))?;
    // Reports of bundles without add-ons have none.
    let addons = match v.get("addons") {
        None => Vec::new(),
        Some(a) => serde_json::from_value(a.clone())
            .map_err(|e| crate::Error::invalid("change report", path.display(), e))?,
    };
    Ok(Some(HopFacts {
        removed_apis: removed,
        kubelet_max_minors_older: v["facts"]["kubelet_max_minors_older"].as_u64().unwrap_or(3)
            as u32,
        kube_proxy_max_minors_older: v["facts"]["kube_proxy_max_minors_older"]
            .as_u64()
            .unwrap_or(3) as u32,
        target_end_of_life: v["summary"]["target_end_of_life"]
            .as_str()
            .map(str::to_string),
        uncertain: Vec::new(),
        addons,
    }))
}

/// Every signature file and its trusted comment (not verified: for listing).
pub fn signature_comments(dir: &std::path::Path) -> crate::Result<Vec<(String, String)>> {
    let sigs = airlock_verify::verify::read_signature_dir(dir)?;
    Ok(sigs
        .into_iter()
        .map(|(f, text)| {
            let comment = text
                .lines()
                .find_map(|l| l.strip_prefix("trusted comment: "))
                .unwrap_or("")
                .to_string();
            (f, comment)
        })
        .collect())
}

/// Read cluster dumps: JSON or YAML files (several YAML documents each), or directories
/// of them (manifests, rendered Helm charts), walked in name order.
pub fn load_dump(paths: &[std::path::PathBuf]) -> crate::Result<Dump> {
    let mut d = Dump::default();
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<_> = std::fs::read_dir(p)
                .map_err(|e| crate::Error::io("list", p, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| {
                    f.extension()
                        .is_some_and(|x| x == "json" || x == "yaml" || x == "yml")
                })
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(p.clone());
        }
    }
    for f in files {
        add_dump_file(&mut d, &f)?;
    }
    Ok(d)
}

/// Add one dump file, JSON or YAML by its first character, parsed as it is read (a dump
/// can be hundreds of megabytes; only what the checks read is kept).
fn add_dump_file(d: &mut Dump, f: &std::path::Path) -> crate::Result<()> {
    use std::io::BufRead;
    let origin = f.display().to_string();
    let file = crate::fsutil::open_limited(f, crate::cluster::MAX_DUMP_BYTES, "cluster dump")?;
    let mut r = std::io::BufReader::new(file);
    let first = loop {
        let buf = r.fill_buf().map_err(|e| crate::Error::io("read", f, e))?;
        let Some(&b) = buf.first() else { break None };
        if !b.is_ascii_whitespace() {
            break Some(b);
        }
        r.consume(1);
    };
    if matches!(first, Some(b'{' | b'[')) {
        return Ok(d.add_json_reader(r, &origin)?);
    }
    for doc in serde_saphyr::read::<_, crate::cluster::Shape<crate::cluster::Doc>>(&mut r) {
        let doc = doc.map_err(|e| {
            crate::Error::invalid("cluster dump", &origin, format!("not JSON or YAML: {e}"))
        })?;
        d.add_document(doc, &origin)?;
    }
    Ok(())
}

/// Bytes for people.
pub fn human(n: u64) -> String {
    const U: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < U.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", U[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dumps_are_read_as_json_or_yaml_documents_by_their_first_character() {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("a.json");
        std::fs::write(
            &json,
            "\n  {\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[\
             {\"apiVersion\":\"batch/v1beta1\",\"kind\":\"CronJob\",\"metadata\":{\"name\":\"j\"}}]}",
        )
        .unwrap();
        let yaml = dir.path().join("b.yaml");
        std::fs::write(
            &yaml,
            "---\n---\napiVersion: v1\nkind: Node\nmetadata: {name: n1}\n\
             status: {nodeInfo: {kubeletVersion: v1.29.6}}\n---\n\
             serverVersion: {gitVersion: v1.29.6}\n",
        )
        .unwrap();
        let d = load_dump(&[dir.path().to_path_buf()]).unwrap();
        assert_eq!(d.objects.len(), 2);
        assert_eq!(d.objects[0].kind, "CronJob");
        assert_eq!(d.nodes[0].kubelet, "v1.29.6");
        assert_eq!(d.server_version.as_deref(), Some("v1.29.6"));
        std::fs::write(&yaml, "- 1\n- 2\n").unwrap();
        let e = load_dump(std::slice::from_ref(&yaml))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("b.yaml") && e.contains("not a Kubernetes object"),
            "{e}"
        );
        std::fs::write(&yaml, "a: [\n").unwrap();
        let e = load_dump(&[yaml]).unwrap_err().to_string();
        assert!(e.contains("not JSON or YAML"), "{e}");
    }
}
