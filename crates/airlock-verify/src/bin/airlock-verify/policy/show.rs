//! `policy show`: a policy as a table people read, or as its canonical file (`--json`).

use std::path::Path;

use airlock_verify::escape::Untrusted;
use airlock_verify::out;
use airlock_verify::trust::policy::PolicyDraft;

/// Print the policy at `path`; a draft that is not yet valid is printed, then refused.
pub fn run(path: &Path, json: bool) -> anyhow::Result<()> {
    let d = super::edit::read(path)?;
    if json {
        airlock_verify::cli::write_stdout_bytes(&d.to_bytes())?;
    } else {
        out!("{}", table(path, &d))?;
    }
    if let Err(e) = d.check(&path.display().to_string()) {
        return Err(anyhow::Error::new(e).context(format!(
            "{} is a draft, not yet a valid policy",
            path.display()
        )));
    }
    Ok(())
}

/// Rows padded to the widest cell of each column (two spaces between columns).
fn columns(rows: &[Vec<String>]) -> String {
    let width = |i: usize| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
    let n = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..n).map(width).collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::from("  ");
        for (i, cell) in r.iter().enumerate() {
            if i + 1 == n {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The readable form. Names and the description are shown through `Untrusted`: a policy
/// file is input, and a control character in a name must not reach the terminal.
fn table(path: &Path, d: &PolicyDraft) -> String {
    let mut out = format!("policy {}\n", path.display());
    out.push_str(&format!("  version      {}\n", d.version()));
    let status = match super::edit::not_valid_yet(d, path) {
        None => "valid".to_string(),
        Some(reason) => format!("draft, not yet valid: {reason}"),
    };
    out.push_str(&format!("  status       {status}\n"));
    if let Some(text) = d.description() {
        out.push_str(&format!("  description  {}\n", Untrusted(text)));
    }
    // Format 1 has no expiry: a policy holds until a signed update replaces it.
    out.push_str("  expires      never (replaced only by a signed policy update)\n");
    let keys = d.keys();
    out.push_str(&format!("\nkeys ({})\n", keys.len()));
    if !keys.is_empty() {
        let mut rows = vec![vec!["KEY ID".into(), "NAME".into(), "ROLES".into()]];
        rows.extend(keys.iter().map(|k| {
            let roles: Vec<&str> = k.roles.iter().map(|r| r.as_str()).collect();
            vec![
                k.key_id.to_string(),
                Untrusted(&k.name).to_string(),
                roles.join(", "),
            ]
        }));
        out.push_str(&columns(&rows));
    }
    let rules = d.rules();
    out.push_str(&format!("\nrules ({}, every one must hold)\n", rules.len()));
    if !rules.is_empty() {
        let stamped = d.timestamped_rules();
        let mut rows = vec![vec![
            "ROLE".into(),
            "AT LEAST".into(),
            "KEYS HOLDING IT".into(),
            "TIMESTAMP".into(),
        ]];
        rows.extend(rules.iter().map(|(r, n)| {
            let ts = if stamped.contains(r) {
                "required"
            } else {
                "optional"
            };
            vec![
                r.to_string(),
                n.to_string(),
                d.holders(r).to_string(),
                ts.to_string(),
            ]
        }));
        out.push_str(&columns(&rows));
    }
    let tsas = d.tsas();
    out.push_str(&format!(
        "
time-stamping authorities ({}, RFC 3161)
",
        tsas.len()
    ));
    if !tsas.is_empty() {
        let mut rows = vec![vec![
            "NAME".into(),
            "PINNED CERTIFICATE".into(),
            "SHA-256".into(),
            "POLICY OIDS".into(),
        ]];
        rows.extend(tsas.iter().map(|t| {
            let oids = if t.policy_oids.is_empty() {
                "any".to_string()
            } else {
                t.policy_oids.join(", ")
            };
            vec![
                Untrusted(&t.name).to_string(),
                Untrusted(&t.subject).to_string(),
                t.sha256.clone(),
                oids,
            ]
        }));
        out.push_str(&columns(&rows));
    }
    let (rule, pin) = d.provenance();
    let required = rule == airlock_verify::trust::policy::ProvenanceRule::Required;
    if required || pin.is_some() {
        out.push_str(&format!(
            "\nupstream provenance\n  {}; trusted root: {}\n",
            super::edit::provenance_words(rule),
            pin.map_or_else(
                || "any the bundle carries".to_owned(),
                |p| format!("pinned {p}")
            ),
        ));
        if required && pin.is_none() {
            out.push_str(&format!("  note: {}\n", super::edit::UNPINNED_NOTE));
        }
    }
    out.push_str(&format!(
        "\nupdate (who must sign the next version)\n  {}\n",
        super::edit::update_words(d)
    ));
    out
}
