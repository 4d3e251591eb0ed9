//! `airlock-verify signers`

use airlock_verify::escape::Untrusted;
use airlock_verify::outln;
use airlock_verify::trust::TrustError;

use crate::common::BundleArgs;

/// List a bundle's signatures: who made them (name and role from the policy, the signer
/// and time their trusted comment claims), which do not count and why, and what the
/// policy still needs. Checks signatures only, not the payload.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    bundle: BundleArgs,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let policy = a.bundle.trust.policy()?;
    let eval = airlock_verify::verify::evaluate_signatures(a.bundle.path(), &policy)?;
    let printed = print(&a, &policy, &eval);
    // The verdict's code (3 when the policy is not met) wins over a failure to print it.
    unmet(&eval).and(printed)
}

/// The evaluation, as JSON or as lines.
fn print(
    a: &Args,
    policy: &airlock_verify::verify::Policy,
    eval: &airlock_verify::trust::policy::Evaluation,
) -> anyhow::Result<()> {
    if a.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "bundle": a.bundle.path().display().to_string(),
                "policy_version": policy.trust().version(),
                "satisfied": eval.satisfied(),
                "missing": eval.missing(),
                "evaluation": eval,
            }))?
        )?;
        return Ok(());
    }
    for c in &eval.counted {
        outln!(
            "counted: {} {} ({}){}{}{}",
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
                .unwrap_or_default(),
            c.change
                .as_deref()
                .map(|ch| format!(" for {}", Untrusted(ch)))
                .unwrap_or_default()
        )?;
        // The signer's `time=` is its word; a TSA's time is not (docs/trust.md).
        if let Some(t) = &c.timestamp {
            outln!("  timestamp: {} by TSA {}", t.time, Untrusted(&t.tsa))?;
        }
        if let Some(p) = &c.timestamp_problem {
            outln!("  timestamp not accepted: {p}")?;
        }
    }
    for n in &eval.not_counted {
        outln!("not counted: {}: {}", n.file, n.reason)?;
    }
    for r in &eval.rules {
        outln!(
            "rule: {}: {} required, {} counted",
            r.role.as_deref().unwrap_or("signatures"),
            r.need,
            r.have.len()
        )?;
    }
    if eval.satisfied() {
        outln!("the policy is met")?;
    } else {
        outln!("still needed: {}", eval.missing().join(", "))?;
    }
    Ok(())
}

/// A policy not met is exit 3, as `verify` would give, so a script can rely on the code.
fn unmet(eval: &airlock_verify::trust::policy::Evaluation) -> anyhow::Result<()> {
    if eval.satisfied() {
        return Ok(());
    }
    Err(airlock_verify::Error::from(TrustError::PolicyNotMet {
        missing: eval.missing().join(", "),
        details: String::new(),
    })
    .into())
}
