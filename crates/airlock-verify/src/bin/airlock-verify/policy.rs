//! `airlock-verify policy`

use std::path::{Path, PathBuf};

use airlock_verify::escape::Untrusted;
use airlock_verify::trust::policy::{TrustPolicy, accept_update};

/// Show a trust policy, or accept its successor when the current policy's update rule
/// is met.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Check a policy file and print its keys, roles and rules.
    Show {
        /// The policy file.
        #[arg(long, value_name = "FILE")]
        policy: PathBuf,
    },
    /// Replace the policy file with a new version from a policy directory (policy.json
    /// and signatures/*.minisig made with `airlock sign DIR --role ROLE`). Accepted only
    /// when its version is exactly the current one plus one and the current policy's
    /// `update` rule is met by the current policy's keys. The old file is kept beside it
    /// as FILE.vN, a new file: if anything (a file, a link) is already there, nothing is
    /// changed (exit 4).
    Update {
        /// The current policy file (replaced atomically on success).
        #[arg(long, value_name = "FILE")]
        policy: PathBuf,
        /// The directory holding the new policy.json and its signatures.
        new: PathBuf,
    },
}

pub fn run(a: Args) -> anyhow::Result<()> {
    match a.command {
        Command::Show { policy } => {
            let p = TrustPolicy::load(&policy)?;
            println!(
                "policy {} version {}",
                policy.display(),
                p.version().unwrap_or(0)
            );
            for k in p.approvers() {
                let roles: Vec<&str> = k.roles.iter().map(|r| r.as_str()).collect();
                println!(
                    "  key {} {}: {}",
                    k.key.key_id(),
                    Untrusted(&k.name),
                    roles.join(", ")
                );
            }
            println!("  rules: {:?}", p.rules());
        }
        Command::Update { policy, new } => {
            // Read once: the bytes checked are the bytes kept as FILE.vN.
            let current_bytes = airlock_verify::fsutil::read_limited(
                &policy,
                airlock_verify::trust::policy::MAX_POLICY_BYTES,
                "trust policy",
            )?;
            let current = TrustPolicy::parse(&current_bytes, &policy.display().to_string())?;
            let path = new.join("policy.json");
            let bytes = airlock_verify::fsutil::read_limited(
                &path,
                airlock_verify::trust::policy::MAX_POLICY_BYTES,
                "trust policy",
            )?;
            let sigs = airlock_verify::verify::read_signature_dir(&new)?;
            let (next, eval) = accept_update(&current, &bytes, &path.display().to_string(), &sigs)?;
            let old = current.version().unwrap_or(0);
            let keep = PathBuf::from(format!("{}.v{old}", policy.display()));
            keep_copy(&keep, &current_bytes)?;
            if let Err(e) = airlock_verify::fsutil::write_atomic(&policy, &bytes, 0o644) {
                // The policy is unchanged: take back the copy so a rerun is not refused.
                let _ = std::fs::remove_file(&keep);
                return Err(e.into());
            }
            println!(
                "policy {} updated: version {old} -> {} (approved by {}); the old one is {}",
                policy.display(),
                next.version().unwrap_or(0),
                eval.counted
                    .iter()
                    .map(|c| Untrusted(&c.name).to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                keep.display()
            );
        }
    }
    Ok(())
}

/// Keep the current policy's bytes as `keep` (FILE.vN), a new file: an older copy or a
/// link already at that name is neither replaced nor written through.
fn keep_copy(keep: &Path, bytes: &[u8]) -> airlock_verify::Result<()> {
    airlock_verify::fsutil::write_new(keep, bytes, 0o644).map_err(|e| {
        if e.kind() != std::io::ErrorKind::AlreadyExists {
            return airlock_verify::Error::io("keep the current policy as", keep, e);
        }
        let what = match std::fs::symlink_metadata(keep) {
            Ok(m) if m.file_type().is_symlink() => "is a symbolic link",
            _ => "already exists",
        };
        airlock_verify::Error::invalid(
            "policy copy",
            keep.display(),
            format!(
                "{what}; policy update keeps the replaced policy under this name and \
                 replaces no file there: move it away and run the command again \
                 (nothing was changed)"
            ),
        )
    })
}
