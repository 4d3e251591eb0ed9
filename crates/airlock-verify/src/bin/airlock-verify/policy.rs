//! `airlock-verify policy`: show a policy, write a draft of one by commands, and accept a
//! signed new version.

mod edit;
mod show;

use std::path::{Path, PathBuf};

use airlock_verify::escape::Untrusted;
use airlock_verify::outln;
use airlock_verify::trust::policy::{RoleName, TrustPolicy, accept_update};

/// Shown under `policy --help`: the drafting commands, then the signed update.
const EXAMPLES: &str = "\
The drafting commands (init, next, add-key, remove-key, set-rule, set-update-rule,
add-tsa, remove-tsa, pin-trusted-root, require-provenance) edit
the --policy file and nothing else: never the enclave's state. An enclave's policy changes
only through `policy update`, with the signatures its current update rule asks for:

  airlock-verify policy next --policy /etc/airlock/policy.json --out v2/policy.json
  airlock-verify policy add-key \"Dave Brown\" --key dave.pub --role change-board --policy v2/policy.json
  airlock-verify policy remove-key \"Carol White\" --policy v2/policy.json
  airlock-verify policy add-tsa corp-tsa --cert tsa-root.pem --policy v2/policy.json
  airlock-verify policy set-rule change-board 2 --timestamp required --policy v2/policy.json
  airlock-verify policy pin-trusted-root trusted_root.json --policy v2/policy.json
  airlock-verify policy require-provenance --policy v2/policy.json
  airlock-verify policy show --policy v2/policy.json
  airlock sign v2 --key alice.key --role change-board    # as many as the update rule needs
  airlock-verify policy update --policy /etc/airlock/policy.json v2

Edits that could never give a valid policy are refused by name (exit 4), the file unchanged.";

/// Show a trust policy, write a draft of one by commands, or accept a signed new version.
#[derive(clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Print a policy: its version and status, every key (id, name, roles), the rules and
    /// the update rule. A draft that is not yet a valid policy is printed too, then
    /// refused (exit 4) with the reason.
    Show {
        /// The policy file.
        #[arg(long, value_name = "FILE")]
        policy: PathBuf,
        /// Print the policy file itself, in the canonical form the drafting commands write
        /// (docs/schemas/trust-policy.schema.json); given back as --policy it is the same
        /// policy.
        #[arg(long)]
        json: bool,
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
    /// Write a new draft policy: version 1, no keys, no rules, no update rule yet. Refuses
    /// a file that exists. Then add keys, then rules, then the update rule.
    Init {
        /// The draft to write (its directory is created; use DIR/policy.json to sign it
        /// with `airlock sign DIR`).
        #[arg(long, value_name = "FILE")]
        policy: PathBuf,
        /// A free-text description kept in the policy.
        #[arg(long, value_name = "TEXT")]
        description: Option<String>,
    },
    /// Copy a policy as a draft of its next version (version + 1), to edit, sign and
    /// install with `policy update`. Refuses an --out that exists.
    Next {
        /// The current policy (read only).
        #[arg(long, value_name = "FILE")]
        policy: PathBuf,
        /// The draft to write (its directory is created).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Add a key under a name, with the roles it may sign in. Refuses a name or a key
    /// already in the policy.
    AddKey {
        /// The name the policy gives the key (shown in signers, reports and receipts).
        name: String,
        /// The key's minisign public key file (`airlock keygen`, `minisign -G`).
        #[arg(long, value_name = "FILE.pub")]
        key: PathBuf,
        /// A role the key may sign in (lower-case letters, digits, '-'); repeat for more.
        #[arg(long = "role", value_name = "ROLE", required = true, value_parser = role)]
        roles: Vec<RoleName>,
        /// The draft to edit.
        #[arg(long, value_name = "FILE")]
        policy: PathBuf,
    },
    /// Remove a key, by name or key id. Refused while a rule or the update rule still
    /// needs it: lower the rule first.
    RemoveKey {
        /// The key's name or key id (as in `signatures/<KEYID>.minisig`).
        key: String,
        /// The draft to edit.
        #[arg(long, value_name = "FILE")]
        policy: PathBuf,
    },
    /// Require at least N approvals in ROLE (every rule must hold); N = 0 removes the
    /// rule. N must be at most the number of keys holding ROLE.
    SetRule {
        /// The role.
        #[arg(value_parser = role)]
        role: RoleName,
        /// Approvals required.
        n: usize,
        /// `required`: an approval counts only with a valid RFC 3161 timestamp from a TSA
        /// the policy lists (add-tsa first), and windows and expiry are judged on its time;
        /// `optional`: the default. Left as it was when not given.
        #[arg(long, value_name = "required|optional", value_parser = ["required", "optional"])]
        timestamp: Option<String>,
        /// The draft to edit.
        #[arg(long, value_name = "FILE")]
        policy: PathBuf,
    },
    /// Pin a time-stamping authority: its root, an intermediate or its own certificate
    /// (PEM or DER). Its timestamps then count (`airlock sign --tsa URL`); compare the
    /// printed SHA-256 with the TSA operator's out of band. Refuses a name already listed
    /// or a file that is not an X.509 certificate.
    AddTsa {
        /// The name the policy gives the TSA (shown in receipts and signers).
        name: String,
        /// The certificate file, PEM or DER.
        #[arg(long, value_name = "FILE")]
        cert: PathBuf,
        /// Accept only timestamps issued under this TSA policy OID (dotted); repeat for
        /// more. Without it any policy OID is accepted.
        #[arg(long = "policy-oid", value_name = "OID")]
        policy_oids: Vec<String>,
        /// The draft to edit.
        #[arg(long, value_name = "FILE")]
        policy: PathBuf,
    },
    /// Remove a pinned TSA by name. Refused when it is the last one and a rule requires
    /// timestamps: make that rule's timestamps optional first.
    RemoveTsa {
        /// The TSA's name.
        name: String,
        /// The draft to edit.
        #[arg(long, value_name = "FILE")]
        policy: PathBuf,
    },
    /// Pin the Sigstore trusted root (trusted_root.json) the enclave accepts upstream
    /// evidence checked against: its sha256 goes into the policy
    /// ("provenance_trusted_root"). `airlock-verify provenance` and an install under
    /// "provenance": "required" then refuse (exit 3) a bundle whose carried
    /// provenance/trusted_root.json, or a --trusted-root given, has another sha256.
    /// Compare the printed sha256 with `sha256sum trusted_root.json` where it was fetched
    /// (`airlock provenance trusted-root`). Refuses a file that is not a trusted root with
    /// a certificate authority and a transparency log (exit 4).
    PinTrustedRoot {
        /// The trusted_root.json to pin.
        #[arg(required_unless_present = "remove", conflicts_with = "remove")]
        file: Option<PathBuf>,
        /// Remove the pin: any trusted root a bundle carries is accepted again.
        #[arg(long)]
        remove: bool,
        /// The draft to edit.
        #[arg(long, value_name = "FILE")]
        policy: PathBuf,
    },
    /// Require upstream provenance at install ("provenance": "required"), or with
    /// --optional take the requirement out (the default). Under it `install` refuses
    /// (exit 3, naming the bundle or the artifact, before anything is written, also when
    /// the enclave already holds everything) a bundle that carries no upstream Sigstore
    /// evidence (resolved with --no-provenance or without a trusted root), that lists none
    /// for one of its registry.k8s.io images or dl.k8s.io files, that let any image, chart
    /// or file in with --allow-unsigned, or one of whose carried signatures (Kubernetes' or
    /// an add-on's) is missing or does not re-check offline. Allowed without a pinned
    /// trusted root: the evidence is then re-checked against the root each bundle carries,
    /// which its builder chose; pin the enclave's own with pin-trusted-root (`policy show`
    /// says which). `--trust` installs never require it.
    RequireProvenance {
        /// Take the requirement out: install accepts bundles with and without evidence.
        #[arg(long)]
        optional: bool,
        /// The draft to edit.
        #[arg(long, value_name = "FILE")]
        policy: PathBuf,
    },
    /// Say who must sign the policy's next version: at least N keys (N >= 1), of ROLE
    /// when --role is given, else of any role.
    SetUpdateRule {
        /// Approvals required.
        n: usize,
        /// The role the approvals must be in.
        #[arg(long, value_name = "ROLE", value_parser = role)]
        role: Option<RoleName>,
        /// The draft to edit.
        #[arg(long, value_name = "FILE")]
        policy: PathBuf,
    },
}

fn role(s: &str) -> Result<RoleName, String> {
    RoleName::new(s).map_err(|e| e.to_string())
}

/// The exit code of a refused draft edit (the rest map through the library's errors).
pub fn exit_code(e: &(dyn std::error::Error + 'static)) -> Option<u8> {
    e.downcast_ref::<airlock_verify::trust::policy::DraftError>()
        .map(|d| d.exit_code())
}

pub fn run(a: Args) -> anyhow::Result<()> {
    match a.command {
        Command::Show { policy, json } => show::run(&policy, json)?,
        Command::Init {
            policy,
            description,
        } => edit::init(&policy, description)?,
        Command::Next { policy, out } => edit::next(&policy, &out)?,
        Command::AddKey {
            name,
            key,
            roles,
            policy,
        } => edit::add_key(&policy, &name, &key, &roles)?,
        Command::RemoveKey { key, policy } => edit::remove_key(&policy, &key)?,
        Command::SetRule {
            role,
            n,
            timestamp,
            policy,
        } => edit::set_rule(&policy, &role, n, timestamp.map(|t| t == "required"))?,
        Command::AddTsa {
            name,
            cert,
            policy_oids,
            policy,
        } => edit::add_tsa(&policy, &name, &cert, policy_oids)?,
        Command::RemoveTsa { name, policy } => edit::remove_tsa(&policy, &name)?,
        Command::PinTrustedRoot { file, policy, .. } => {
            edit::pin_trusted_root(&policy, file.as_deref())?
        }
        Command::RequireProvenance { optional, policy } => {
            edit::require_provenance(&policy, !optional)?
        }
        Command::SetUpdateRule { n, role, policy } => {
            edit::set_update_rule(&policy, n, role.as_ref())?
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
            outln!(
                "policy {} updated: version {old} -> {} (approved by {}); the old one is {}",
                policy.display(),
                next.version().unwrap_or(0),
                eval.counted
                    .iter()
                    .map(|c| Untrusted(&c.name).to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                keep.display()
            )?;
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
