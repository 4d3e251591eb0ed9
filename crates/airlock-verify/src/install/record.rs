//! The receipt of an install (or of a refusal): what was verified, who approved under
//! which policy, what was installed or already present, when and where.

use serde_json::{Value, json};

use super::InstallReport;
use crate::error::Result;
use crate::state::{Enclave, Outcome, Receipt};
use crate::time::Timestamp;
use crate::verify::SignedBundle;

/// What the signed manifest says about the bundle.
pub fn verified(b: &SignedBundle) -> Value {
    let m = b.manifest();
    json!({
        "manifest_sha256": b.manifest_sha256().hex(),
        "payload_sha256": m.payload.sha256.hex(),
        "payload_size": m.payload.size,
        "hop": m.hop,
        "channel": m.channel,
        "sequence": m.sequence,
        "not_before": m.not_before,
        "expires": m.expires,
        "outside_window": b.outside_window(),
        "time": clocks(b),
    })
}

/// Both clocks (issue 24): the enclave's, and the latest time valid timestamps of counted
/// signatures prove; the window was checked at the later one (`effective`).
fn clocks(b: &SignedBundle) -> Value {
    let clock = b.clock();
    let (effective, source) = match b.tsa_time() {
        Some(t) if t > clock => (t, "tsa"),
        _ => (clock, "clock"),
    };
    json!({
        "enclave": clock,
        "tsa": b.tsa_time(),
        "effective": effective,
        "source": source,
    })
}

/// Who approved, the change request(s) their approvals name (`airlock sign --change`),
/// and the policy that counted them.
pub fn approvals(b: &SignedBundle) -> Value {
    let (version, sha) = b.policy_identity();
    json!({
        "change": b.evaluation().changes(),
        "policy_version": version,
        "policy_sha256": sha.map(|d| d.hex()),
        "evaluation": b.evaluation(),
    })
}

/// Record a completed install; returns the receipt's path. Works from the signed bundle
/// (a verified one derefs to it) and the report, which says whether the payload was
/// verified or not read at all; `verified` in the receipt says it too, so nobody reads
/// the signed payload sha256 there as checked when it was not.
pub fn installed(
    enclave: &mut Enclave,
    bundle_arg: &str,
    b: &SignedBundle,
    report: &InstallReport,
    started: Timestamp,
) -> Result<String> {
    let mut r = Receipt::new(Outcome::Installed, bundle_arg, started);
    let mut v = verified(b);
    v["payload"] = json!(report.payload);
    v["payload_reason"] = json!(report.payload_reason);
    r.verified = Some(v);
    r.approvals = Some(approvals(b));
    r.install = serde_json::to_value(report).ok();
    r.allow_expired = b.outside_window().is_some();
    enclave.record(r, Some(&b.identity()))
}

/// What the signatures proved about a bundle, kept for the receipt of an install that
/// fails later (verification consumes the signed bundle).
#[derive(Debug, Clone)]
pub struct Known {
    verified: Value,
    approvals: Value,
    allow_expired: bool,
}

impl Known {
    /// Take note of a signed bundle.
    pub fn of(b: &SignedBundle) -> Self {
        Known {
            verified: verified(b),
            approvals: approvals(b),
            allow_expired: b.outside_window().is_some(),
        }
    }
}

/// Record a refused or failed install, with what was known by then.
pub fn failed(
    enclave: &mut Enclave,
    bundle_arg: &str,
    known: Option<&Known>,
    error: &str,
    started: Timestamp,
) -> Result<String> {
    let mut r = Receipt::new(Outcome::Failed, bundle_arg, started);
    r.error = Some(crate::escape::Untrusted(error).to_string());
    if let Some(k) = known {
        r.verified = Some(k.verified.clone());
        r.approvals = Some(k.approvals.clone());
        r.allow_expired = k.allow_expired;
    }
    enclave.record(r, None)
}
