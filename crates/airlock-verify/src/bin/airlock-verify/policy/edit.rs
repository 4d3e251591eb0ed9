//! The drafting commands: read a policy file as a draft, make one checked edit, write it
//! back atomically, and say whether it is a valid policy yet.

use std::path::Path;

use airlock_verify::escape::Untrusted;
use airlock_verify::outln;
use airlock_verify::trust::PublicKey;
use airlock_verify::trust::policy::{
    DraftError, MAX_POLICY_BYTES, PolicyDraft, RoleName, RuleChange,
};
use anyhow::Context as _;

/// Read `path` as a draft.
pub fn read(path: &Path) -> anyhow::Result<PolicyDraft> {
    let bytes = airlock_verify::fsutil::read_limited(path, MAX_POLICY_BYTES, "trust policy")?;
    Ok(PolicyDraft::parse(&bytes, &path.display().to_string())?)
}

/// Why the draft is not a valid policy yet (the reason alone, without the file name).
pub fn not_valid_yet(d: &PolicyDraft, path: &Path) -> Option<String> {
    match d.check(&path.display().to_string()) {
        Ok(_) => None,
        Err(airlock_core::Error::Invalid { reason, .. }) => Some(reason),
        Err(e) => Some(airlock_verify::error::chain(&e)),
    }
}

/// A new file at `path` (its directory made first): refused if anything is there.
fn write_new(path: &Path, d: &PolicyDraft) -> anyhow::Result<()> {
    if std::fs::symlink_metadata(path).is_ok() {
        return Err(airlock_verify::Error::invalid(
            "policy draft",
            path.display(),
            "already exists: edit it with add-key, set-rule, ... or move it away \
             (nothing was changed)",
        )
        .into());
    }
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| airlock_verify::Error::io("create directory", dir, e))?;
    }
    airlock_verify::fsutil::write_atomic(path, &d.to_bytes(), 0o644)?;
    Ok(())
}

/// Print what was done and the draft's status; warn when signatures beside it were made
/// over its earlier content.
fn done(path: &Path, d: &PolicyDraft, what: &str) -> Result<(), airlock_verify::cli::StdoutError> {
    outln!("{}: {what}", path.display())?;
    match not_valid_yet(d, path) {
        None => outln!(
            "version {}: a valid policy, ready to sign (airlock sign DIR --role ROLE, \
             with the file as DIR/policy.json)",
            d.version()
        )?,
        Some(reason) => outln!("version {}: draft, not yet valid: {reason}", d.version())?,
    }
    Ok(())
}

fn warn_stale_signatures(path: &Path) {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join("signatures");
    let stale = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".minisig"))
                .count()
        })
        .unwrap_or(0);
    if stale > 0 {
        eprintln!(
            "warning: the {stale} signature(s) in {} were made over the earlier content and \
             no longer match it: sign again (they are left in place)",
            dir.display()
        );
    }
}

/// Read, edit, write back atomically, report.
fn edit(
    path: &Path,
    change: impl FnOnce(&mut PolicyDraft) -> Result<String, DraftError>,
) -> anyhow::Result<()> {
    let mut d = read(path)?;
    let what = change(&mut d).with_context(|| format!("policy draft {}", path.display()))?;
    airlock_verify::fsutil::write_atomic(path, &d.to_bytes(), 0o644)?;
    done(path, &d, &what)?;
    warn_stale_signatures(path);
    Ok(())
}

/// `policy init`.
pub fn init(path: &Path, description: Option<String>) -> anyhow::Result<()> {
    let d = PolicyDraft::new(description);
    write_new(path, &d)?;
    done(path, &d, "new draft policy")?;
    Ok(())
}

/// `policy next`.
pub fn next(current: &Path, out: &Path) -> anyhow::Result<()> {
    let d = read(current)?
        .next()
        .with_context(|| format!("policy {}", current.display()))?;
    write_new(out, &d)?;
    done(
        out,
        &d,
        &format!("draft of the version after {}", current.display()),
    )?;
    Ok(())
}

/// `policy add-key`.
pub fn add_key(path: &Path, name: &str, key: &Path, roles: &[RoleName]) -> anyhow::Result<()> {
    let key = PublicKey::load(key)?;
    edit(path, |d| {
        d.add_key(name, &key, roles)?;
        Ok(format!(
            "added key {} ({}) in role(s) {}",
            Untrusted(name),
            key.key_id(),
            join(roles)
        ))
    })
}

/// `policy remove-key`.
pub fn remove_key(path: &Path, key: &str) -> anyhow::Result<()> {
    edit(path, |d| {
        let name = d.remove_key(key)?;
        Ok(format!("removed key {}", Untrusted(&name)))
    })
}

/// `policy set-rule`, and with `--timestamp` whether the rule needs stamped approvals.
pub fn set_rule(
    path: &Path,
    role: &RoleName,
    n: usize,
    timestamp: Option<bool>,
) -> anyhow::Result<()> {
    edit(path, |d| {
        let change = d.set_rule(role, n)?;
        if let (Some(required), true) = (timestamp, change != RuleChange::Removed) {
            d.set_rule_timestamp(role, required)?;
        }
        let stamped = if d.timestamped_rules().contains(role) {
            ", each with a valid timestamp from a listed tsa"
        } else {
            ""
        };
        Ok(match change {
            RuleChange::Removed => format!("removed the rule for {role}"),
            change => format!(
                "{} rule: at least {n} {role} of the {} key(s) holding it{stamped}",
                if change == RuleChange::Added {
                    "added"
                } else {
                    "changed"
                },
                d.holders(role)
            ),
        })
    })
}

/// `policy add-tsa`: the certificate file as PEM (its first CERTIFICATE block) or DER.
pub fn add_tsa(
    path: &Path,
    name: &str,
    cert: &Path,
    policy_oids: Vec<String>,
) -> anyhow::Result<()> {
    let bytes = airlock_verify::fsutil::read_limited(cert, 64 * 1024, "TSA certificate")?;
    let der = pem_or_der(&bytes).ok_or_else(|| {
        airlock_verify::Error::invalid(
            "TSA certificate",
            cert.display(),
            "a PEM file without a CERTIFICATE block, or its base64 does not decode",
        )
    })?;
    edit(path, |d| {
        let t = d.add_tsa(name, &der, policy_oids)?;
        Ok(format!(
            "added tsa {}: {} (certificate sha256 {})",
            Untrusted(&t.name),
            Untrusted(&t.subject),
            t.sha256
        ))
    })
}

/// `policy remove-tsa`.
pub fn remove_tsa(path: &Path, name: &str) -> anyhow::Result<()> {
    edit(path, |d| {
        d.remove_tsa(name)?;
        Ok(format!("removed tsa {}", Untrusted(name)))
    })
}

/// `policy pin-trusted-root FILE | --remove`: the file must be a Sigstore trusted root
/// with a CA and a log (as `airlock-verify provenance` reads it) before its sha256 is
/// pinned.
pub fn pin_trusted_root(path: &Path, file: Option<&Path>) -> anyhow::Result<()> {
    let pin = match file {
        None => None,
        Some(f) => {
            let bytes = airlock_verify::fsutil::read_limited(
                f,
                airlock_provenance::MAX_TRUSTED_ROOT as u64,
                "trusted root",
            )?;
            airlock_provenance::TrustedRoot::from_json(&bytes)
                .map_err(|e| airlock_verify::Error::invalid("trusted root", f.display(), e))?;
            Some(airlock_verify::digest::Sha256Digest::of(&bytes))
        }
    };
    edit(path, |d| {
        let was = d.pin_trusted_root(pin);
        let was = was.map_or_else(|| "none".to_owned(), |w| w.to_string());
        Ok(match pin {
            Some(p) => format!(
                "pinned Sigstore trusted root {p} (was {was}); compare it with sha256sum of \
                 the file where it was fetched"
            ),
            None => format!("removed the trusted root pin (was {was})"),
        })
    })
}

/// `policy require-provenance [--optional]`.
pub fn require_provenance(path: &Path, required: bool) -> anyhow::Result<()> {
    use airlock_verify::trust::policy::ProvenanceRule;
    let rule = if required {
        ProvenanceRule::Required
    } else {
        ProvenanceRule::Optional
    };
    edit(path, |d| {
        let was = d.set_provenance(rule);
        let (now, was) = (provenance_words(rule), provenance_words(was));
        Ok(match (rule, d.provenance().1) {
            (ProvenanceRule::Optional, _) => format!("upstream provenance {now} (was {was})"),
            (ProvenanceRule::Required, Some(pin)) => format!(
                "upstream provenance {now} (was {was}), checked against the pinned trusted \
                 root {pin}"
            ),
            (ProvenanceRule::Required, None) => {
                format!("upstream provenance {now} (was {was}); {}", UNPINNED_NOTE)
            }
        })
    })
}

/// The rule in words, as `policy show` prints it.
pub fn provenance_words(rule: airlock_verify::trust::policy::ProvenanceRule) -> &'static str {
    match rule {
        airlock_verify::trust::policy::ProvenanceRule::Required => "required at install",
        airlock_verify::trust::policy::ProvenanceRule::Optional => "optional",
    }
}

/// Why a required rule without a pinned root proves less (printed by the edit and `show`).
pub const UNPINNED_NOTE: &str = "no trusted root is pinned: evidence is re-checked against \
    the root each bundle carries, which its builder chose (pin the enclave's own with \
    policy pin-trusted-root)";

/// The DER of the first `CERTIFICATE` block of a PEM file, or the bytes themselves when
/// they are not PEM (DER is checked as a certificate by the draft).
fn pem_or_der(bytes: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Some(bytes.to_vec());
    };
    let Some(start) = text.find("-----BEGIN CERTIFICATE-----") else {
        return Some(bytes.to_vec());
    };
    let body = &text[start + "-----BEGIN CERTIFICATE-----".len()..];
    let body = &body[..body.find("-----END CERTIFICATE-----")?];
    let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

/// `policy set-update-rule`.
pub fn set_update_rule(path: &Path, n: usize, role: Option<&RoleName>) -> anyhow::Result<()> {
    edit(path, |d| {
        d.set_update_rule(n, role)?;
        Ok(format!("update rule: {}", update_words(d)))
    })
}

fn join(roles: &[RoleName]) -> String {
    roles
        .iter()
        .map(RoleName::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The update rule in words: "at least 2 change-board of the 3 key(s) holding it".
pub fn update_words(d: &PolicyDraft) -> String {
    match d.update_rule() {
        (0, _) => "not set (policy set-update-rule N [--role ROLE])".to_string(),
        (n, Some(role)) => format!(
            "at least {n} {role} of the {} key(s) holding it",
            d.holders(role)
        ),
        (n, None) => format!("at least {n} of the {} key(s), any role", d.keys().len()),
    }
}
