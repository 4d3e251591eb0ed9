//! `airlock-verify signers`

use std::path::PathBuf;

use airlock_verify::escape::Untrusted;

use crate::common::TrustArgs;

/// List a bundle's signatures: who made them (name and role from the policy, the signer
/// and time their trusted comment claims), which do not count and why, and what the
/// policy still needs. Checks signatures only, not the payload.
#[derive(clap::Args)]
pub struct Args {
    /// The bundle directory.
    bundle: PathBuf,
    #[command(flatten)]
    trust: TrustArgs,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let policy = a.trust.policy()?;
    let eval = airlock_verify::verify::evaluate_signatures(&a.bundle, &policy)?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "bundle": a.bundle,
                "policy_version": policy.trust().version(),
                "satisfied": eval.satisfied(),
                "missing": eval.missing(),
                "evaluation": eval,
            }))?
        );
        return Ok(());
    }
    for c in &eval.counted {
        println!(
            "counted: {} {} ({}){}{}",
            c.file,
            Untrusted(&c.name),
            c.key_id,
            c.role
                .as_deref()
                .map(|r| format!(" as {r}"))
                .unwrap_or_default(),
            c.time
                .as_deref()
                .map(|t| format!(" at {}", Untrusted(t)))
                .unwrap_or_default()
        );
    }
    for n in &eval.not_counted {
        println!("not counted: {}: {}", n.file, n.reason);
    }
    for r in &eval.rules {
        println!(
            "rule: {} {} of {}",
            r.role.as_deref().unwrap_or("signatures"),
            r.have.len(),
            r.need
        );
    }
    if eval.satisfied() {
        println!("the policy is met");
    } else {
        println!("still needed: {}", eval.missing().join(", "));
    }
    Ok(())
}
