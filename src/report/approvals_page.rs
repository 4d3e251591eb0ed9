//! The approvals page: what a change board files beside the report. It is written by
//! `airlock report BUNDLE --policy FILE` next to the bundle, never into it (the bundle's
//! signatures cover its report, and approvals are signatures made after it), from the
//! signatures verified against the policy: the same evaluation `airlock-verify signers
//! --policy` prints. Markdown, HTML and JSON, like the report; deterministic.

use serde::Serialize;

use super::render::{Format, md_text};
use super::{ApprovalLine, ApprovalStatus, Approvals};
use crate::error::{Error, Result};

/// The page's data (`approvals.json`).
#[derive(Debug, Clone, Serialize)]
pub struct ApprovalsPage {
    /// Always `airlock-approvals`.
    pub kind: &'static str,
    /// `vX.Y.Z -> vX.Y.Z`.
    pub hop: String,
    /// The change number (`--change`, or the one the counted approvals name).
    pub change: Option<String>,
    /// The bundle the signatures sign: its manifest's sha256.
    pub manifest_sha256: String,
    /// And its payload's.
    pub payload_sha256: String,
    /// The policy's version.
    pub policy_version: Option<u64>,
    /// The policy file's sha256.
    pub policy_sha256: String,
    /// Met, not met, what is required and who counted.
    pub status: ApprovalStatus,
    /// Every signature, counted or not, and why not.
    pub signatures: Vec<ApprovalLine>,
}

impl ApprovalsPage {
    /// The file name in `format`.
    pub fn file_name(format: Format) -> &'static str {
        match format {
            Format::Markdown => "approvals.md",
            Format::Html => "approvals.html",
            Format::Json => "approvals.json",
        }
    }

    /// The page from the report's approvals and decision status.
    pub fn new(
        hop: String,
        change: Option<String>,
        (manifest_sha256, payload_sha256): (String, String),
        (policy_version, policy_sha256): (Option<u64>, String),
        status: ApprovalStatus,
        approvals: &Approvals,
    ) -> Self {
        ApprovalsPage {
            kind: "airlock-approvals",
            hop,
            change,
            manifest_sha256,
            payload_sha256,
            policy_version,
            policy_sha256,
            status,
            signatures: approvals.signatures.clone(),
        }
    }

    /// Render in `format`.
    pub fn render(&self, format: Format) -> Result<Vec<u8>> {
        match format {
            Format::Json => {
                let mut v = serde_json::to_vec_pretty(self)
                    .map_err(|e| Error::invalid("approvals page", "<memory>", e))?;
                v.push(b'\n');
                Ok(v)
            }
            Format::Markdown => Ok(self.rows(&md_text, " | ", "\n").into_bytes()),
            Format::Html => Ok(self.rows(&html, "</td><td>", "").into_bytes()),
        }
    }

    /// The page as Markdown or HTML: the same rows, escaped by `esc`.
    fn rows(&self, esc: &dyn Fn(&str) -> String, sep: &str, nl: &str) -> String {
        let opt = |s: &Option<String>| esc(s.as_deref().unwrap_or("-"));
        let head = [
            ("Hop", esc(&self.hop)),
            ("Change", opt(&self.change)),
            ("Status", esc(self.status.status)),
            ("Required", esc(&self.status.required.join(", "))),
            ("Present", esc(&self.status.present.join(", "))),
            ("Still needed", esc(&self.status.still_needed.join("; "))),
            ("Bundle manifest sha256", esc(&self.manifest_sha256)),
            ("Payload sha256", esc(&self.payload_sha256)),
            (
                "Policy",
                esc(&format!(
                    "version {} sha256 {}",
                    self.policy_version
                        .map(|v| v.to_string())
                        .unwrap_or("-".into()),
                    self.policy_sha256
                )),
            ),
        ];
        let sigs = self.signatures.iter().map(|s| {
            [
                esc(&s.file),
                opt(&s.name),
                opt(&s.role),
                opt(&s.key_id),
                opt(&s.time),
                opt(&s.tsa_time),
                opt(&s.change),
                esc(if s.counted { "yes" } else { "no" }),
                opt(&s.reason),
            ]
            .join(sep)
        });
        let cols = "Signature|Name|Role|Key|Time|TSA time|Change|Counted|Why not";
        if nl.is_empty() {
            let mut out = format!(
                "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\"><title>Approvals: {}</title><style>body{{font-family:\"DejaVu Sans\",Arial,sans-serif;max-width:60em;margin:2em auto}}table{{border-collapse:collapse;width:100%}}th,td{{border:1px solid #bbb;padding:.25em .4em;text-align:left;vertical-align:top;overflow-wrap:anywhere}}th{{background:#eee}}</style></head><body>\n<h1>Approvals: {}</h1>\n<p>Verified against the trust policy; written beside the bundle, not inside it.</p>\n<table>\n",
                esc(&self.hop),
                esc(&self.hop)
            );
            for (k, v) in head {
                out.push_str(&format!(
                    "<tr><th>{k}</th><td id=\"{}\">{v}</td></tr>\n",
                    id(k)
                ));
            }
            out.push_str("</table>\n<table>\n<tr><th>");
            out.push_str(&cols.replace('|', "</th><th>"));
            out.push_str("</th></tr>\n");
            for row in sigs {
                out.push_str(&format!("<tr><td>{row}</td></tr>\n"));
            }
            out.push_str("</table>\n</body></html>\n");
            out
        } else {
            let mut out = format!(
                "# Approvals: {}\n\n*Verified against the trust policy; written beside the bundle, not inside it.*\n\n| | |\n|---|---|\n",
                esc(&self.hop)
            );
            for (k, v) in head {
                out.push_str(&format!("| {k} | {v} |\n"));
            }
            out.push_str(&format!(
                "\n| {} |\n|{}\n",
                cols.replace('|', " | "),
                "---|".repeat(cols.split('|').count())
            ));
            for row in sigs {
                out.push_str(&format!("| {row} |\n"));
            }
            out
        }
    }
}

fn id(k: &str) -> String {
    k.to_lowercase().replace(' ', "-")
}

/// HTML text.
fn html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
