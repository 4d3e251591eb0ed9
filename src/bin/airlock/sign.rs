//! `airlock sign`

use std::path::PathBuf;

use airlock::approve::{Approval, sign};
use airlock::time::Timestamp;
use airlock::trust::policy::RoleName;
use airlock_verify::outln;

use crate::common::KeyArgs;

/// Add one approver's signature to a bundle (or to a policy directory) after the build.
///
/// Writes signatures/<KEYID>.minisig and changes nothing else: not the manifest, not the
/// payload, not the other signatures. The trusted comment records role, signer, key id,
/// time, the change number, the comment and the digests signed, so `minisign -V` shows who approved what.
/// Inside the enclave, `airlock-verify signers BUNDLE --policy FILE` lists the
/// signatures and what the policy still needs.
///
///   airlock sign bundles/airlock-v1.36.4-to-v1.37.1 --key keys/alice.key \
///       --role change-board --signer "Alice Smith" --change CHG-2211
#[derive(clap::Args)]
pub struct Args {
    /// The bundle directory (or a policy directory holding policy.json).
    dir: PathBuf,
    #[command(flatten)]
    key: KeyArgs,
    /// The role you approve in (`change-board`, `security`, ...); the enclave's policy
    /// must give your key this role for the signature to count.
    #[arg(long, value_parser = parse_role)]
    role: RoleName,
    /// Your name, as recorded in the trusted comment.
    #[arg(long)]
    signer: Option<String>,
    /// Free text recorded in the trusted comment (a condition, a note).
    #[arg(long)]
    comment: Option<String>,
    /// The change request this approval is for (`CHG-2211`): recorded in the trusted
    /// comment as `change=`, shown on the report's approvals page and in the enclave's
    /// receipt. Letters, digits, '.', '_', '-', '/'; at most 64.
    #[arg(long, value_name = "ID")]
    change: Option<String>,
    /// Replace this key's existing signature file.
    #[arg(long)]
    force: bool,
    /// Also get an RFC 3161 timestamp over the new signature file from the
    /// time-stamping authority at URL and store it as signatures/<KEYID>.tsr. The enclave
    /// counts it when its policy lists that TSA; a policy can require one per role. An
    /// unreachable TSA or an unusable answer fails the command (exit 4) after the
    /// signature is written.
    #[arg(long, value_name = "URL")]
    tsa: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

fn parse_role(s: &str) -> Result<RoleName, String> {
    RoleName::new(s).map_err(|e| e.to_string())
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let key = a.key.load_one()?;
    let signed = sign(
        &a.dir,
        &Approval {
            key: &*key,
            role: a.role.clone(),
            signer: a.signer.clone(),
            comment: a.comment.clone(),
            change: a.change.clone(),
            force: a.force,
            time: Timestamp::now(),
        },
    )?;
    let stamped = match &a.tsa {
        Some(url) => {
            let http = airlock::http::HttpClient::new(Default::default())?;
            let rt = crate::common::runtime()?;
            Some(rt.block_on(airlock::timestamp::stamp(&http, url, &signed.file))?)
        }
        None => None,
    };
    if a.json {
        let mut out = serde_json::to_value(&signed)?;
        if let (Some(s), Some(map)) = (&stamped, out.as_object_mut()) {
            map.insert("timestamp".into(), serde_json::to_value(s)?);
        }
        outln!("{}", serde_json::to_string_pretty(&out)?)?;
    } else {
        outln!("signed: {}", signed.file.display())?;
        outln!("  trusted comment: {}", signed.comment)?;
        if let Some(s) = &stamped {
            outln!(
                "  timestamped: {} (TSA time {}, by {})",
                s.file.display(),
                s.facts.time,
                s.facts.tsa
            )?;
        }
    }
    Ok(())
}
