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
//!
//! Split by job: [`model`] is the typed report the templates render; `sections` builds
//! it, one module per section; [`inputs`] reads what it is made from (the CVE feed in
//! [`cve`]).

pub mod approvals_page;
pub mod cve;
pub mod inputs;
pub mod model;
pub mod render;
pub mod sbom;
mod sections;
mod svg;

#[cfg(test)]
mod byte_identity;

pub use cve::CveFinding;
pub use inputs::{
    Inputs, facts_from_bundle, load_dump, load_manifest, parse_nodes, signature_comments,
};
pub use model::*;

use sections::{
    apis, approvals, backout, cves, decision, inventory, provenance, risks, runbook, schedule,
    summary, timing, verification,
};

/// Assemble the report from its sections.
pub fn assemble(i: &Inputs<'_>) -> ChangeReport {
    let inventory = inventory::build(i);
    let apis = apis::build(i);
    let summary = summary::build(i);
    let risks = risks::build(i, &inventory, &apis.in_use, backout::carried(i));
    let addons: Vec<_> = i.facts.map(|f| f.addons.clone()).unwrap_or_default();
    // The add-ons have their own section; `facts` keeps the rest for preflight.
    let facts = i.facts.cloned().map(|mut f| {
        f.addons.clear();
        f
    });
    let cves = cves::build(i);
    let runbook = timing::numbered(i, runbook::runbook(i), 1);
    let validation = timing::numbered(i, runbook::validation(i), runbook.len() + 1);
    let timing = timing::build(i, &runbook, &validation);
    let schedule = schedule::build(i, timing.nodes.as_ref().map(|n| n.workers));
    let decision = decision::build(
        i,
        &decision::Parts {
            risks: &risks,
            runbook: &runbook,
            timing: &timing,
            changes: &inventory.changes,
            in_use: &apis.in_use,
            cves_reason: cves.reason.as_deref(),
        },
    );
    ChangeReport {
        format: REPORT_FORMAT,
        kind: "airlock-change-report",
        generator: Generator::THIS,
        decision,
        summary,
        risks,
        apis,
        addons,
        cves,
        runbook,
        timing,
        runbook_left_out: i
            .facts
            .map(|f| f.left_out_steps.clone())
            .unwrap_or_default(),
        backout: backout::build(i),
        validation,
        approvals: approvals::build(i),
        verification: verification::build(i),
        provenance: provenance::build(i),
        schedule,
        inventory,
        facts,
    }
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
