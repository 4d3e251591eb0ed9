//! Approvals after the build: `airlock sign DIR --key KEY --role ROLE` adds one
//! approver's signature to a bundle (or to a policy directory) without touching anything
//! else, so a change board can sign what was built, where and when its members are.
//!
//! The trusted comment records the role, the signer's name, the key id, the time, an
//! optional comment and the digests signed, so anyone can see offline who approved what
//! with `minisign -V` alone:
//!
//! ```text
//! airlock-approval role=change-board signer="Alice Smith" key_id=8E3F... time=2026-12-01T10:00:00Z change=CHG-2211 manifest_sha256=... payload_sha256=...
//! ```
//!
//! `change` (from `--change`) is the change request the approval is for; the report's
//! approvals page and the enclave's receipt carry it. Signatures without it (older ones)
//! verify and count as before.

use std::path::{Path, PathBuf};

use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::layout::{self, MANIFEST_FILE, SIGNATURES_DIR};
use crate::manifest::{BundleManifest, MAX_MANIFEST_JSON_BYTES};
use crate::sign::Signer;
use crate::time::Timestamp;
use crate::trust::comment::{CommentKind, render};
use crate::trust::policy::{MAX_POLICY_BYTES, RoleName, TrustPolicy};

/// The policy file inside a policy directory.
pub const POLICY_FILE: &str = "policy.json";
/// Longest free-text comment accepted.
const MAX_COMMENT: usize = 200;
/// Longest change number accepted.
const MAX_CHANGE: usize = 64;

/// Who approves, and why.
pub struct Approval<'a> {
    /// The key.
    pub key: &'a dyn Signer,
    /// The role approved in.
    pub role: RoleName,
    /// The approver's name (the policy's name for the key is what counts).
    pub signer: Option<String>,
    /// Free text (a condition, a note).
    pub comment: Option<String>,
    /// The change request approved (`CHG-2211`).
    pub change: Option<String>,
    /// Replace this key's existing signature file.
    pub force: bool,
    /// The time recorded (now, unless a test fixes it).
    pub time: Timestamp,
}

/// What was signed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Signed {
    /// The signature file written.
    pub file: PathBuf,
    /// The trusted comment.
    pub comment: String,
}

/// Sign a bundle directory (it has `manifest.json`) or a policy directory (it has
/// `policy.json`).
pub fn sign(dir: &Path, a: &Approval<'_>) -> Result<Signed> {
    if let Some(c) = &a.comment
        && (c.len() > MAX_COMMENT || c.chars().any(char::is_control))
    {
        return Err(Error::invalid(
            "option",
            "--comment",
            format!("at most {MAX_COMMENT} bytes on one line"),
        ));
    }
    if let Some(c) = &a.change {
        check_change(c)?;
    }
    let key_id = a.key.key_id().to_string();
    let time = a.time.to_string();
    let mut fields: Vec<(&str, String)> = vec![("role", a.role.to_string())];
    if let Some(s) = &a.signer {
        fields.push(("signer", s.clone()));
    }
    fields.push(("key_id", key_id.clone()));
    fields.push(("time", time));
    if let Some(c) = &a.comment {
        fields.push(("comment", c.clone()));
    }
    if let Some(c) = &a.change {
        fields.push(("change", c.clone()));
    }
    let (kind, data) = if dir.join(MANIFEST_FILE).exists() {
        let bytes = crate::fsutil::read_limited(
            &dir.join(MANIFEST_FILE),
            MAX_MANIFEST_JSON_BYTES,
            "bundle manifest",
        )?;
        // Never approve what a verifier would refuse.
        let m = BundleManifest::parse_verified(&bytes)?;
        fields.push(("manifest_sha256", Sha256Digest::of(&bytes).hex()));
        fields.push(("payload_sha256", m.payload.sha256.hex()));
        (CommentKind::Approval, bytes)
    } else if dir.join(POLICY_FILE).exists() {
        let path = dir.join(POLICY_FILE);
        let bytes = crate::fsutil::read_limited(&path, MAX_POLICY_BYTES, "trust policy")?;
        let p = TrustPolicy::parse(&bytes, &path.display().to_string())?;
        fields.insert(0, ("version", p.version().unwrap_or(0).to_string()));
        fields.push(("policy_sha256", Sha256Digest::of(&bytes).hex()));
        (CommentKind::Policy, bytes)
    } else {
        return Err(Error::invalid(
            "directory",
            dir.display(),
            format!("holds neither {MANIFEST_FILE} (a bundle) nor {POLICY_FILE} (a policy)"),
        ));
    };
    let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let comment = render(kind, &refs);
    let sig = crate::sign::sign(a.key, &data, &comment)?;
    let sig_dir = dir.join(SIGNATURES_DIR);
    std::fs::create_dir_all(&sig_dir).map_err(|e| Error::io("create directory", &sig_dir, e))?;
    let file = sig_dir.join(layout::signature_file(&key_id));
    if file.exists() && !a.force {
        return Err(Error::already_exists(&file));
    }
    crate::fsutil::write_atomic(&file, sig.as_bytes(), 0o644)?;
    Ok(Signed { file, comment })
}

/// A change number is a ticket id: letters, digits, `.`, `_`, `-` and `/`, so it reads
/// the same in a comment, a file name and a shell.
fn check_change(c: &str) -> Result<()> {
    let ok = !c.is_empty()
        && c.len() <= MAX_CHANGE
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "option",
            "--change",
            format!(
                "{:?}: 1 to {MAX_CHANGE} letters, digits, '.', '_', '-' or '/'",
                crate::escape::Untrusted(c).to_string()
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_numbers_are_ticket_ids_and_others_are_named() {
        for ok in ["CHG-2211", "INC0012345", "ops/2026.12_7"] {
            assert!(check_change(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "CHG 2211",
            "CHG\u{1b}[2J",
            "a\"b",
            &"x".repeat(MAX_CHANGE + 1),
        ] {
            let e = check_change(bad).unwrap_err();
            assert_eq!(e.exit_code(), 4, "{bad:?}");
            assert!(e.to_string().contains("--change"), "{e}");
        }
    }
}
