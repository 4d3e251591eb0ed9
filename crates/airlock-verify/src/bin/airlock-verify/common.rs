//! Argument groups shared by the subcommands.

use std::path::{Path, PathBuf};

use airlock_verify::enclave_registry::{EnclaveRegistry, EnclaveRegistryOptions};
use airlock_verify::sign::PassphraseSource;
use airlock_verify::state::{Enclave, StateDir};
use airlock_verify::trust::PublicKey;
use airlock_verify::trust::policy::TrustPolicy;
use airlock_verify::verify::{Policy, SignedBundle, VerifiedBundle};

/// Which signatures to require: a trust policy file, or keys and a threshold. One of the
/// two is required, and clap's message names both.
#[derive(clap::Args, Debug, Clone)]
#[group(skip)]
#[command(group(
    clap::ArgGroup::new("trust_source")
        .args(["policy", "trust"])
        .required(true)
        .multiple(true)
))]
pub struct TrustArgs {
    /// The enclave's trust policy (JSON: keys with names and roles, and how many of each
    /// role must approve; see docs/trust.md).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["trust", "threshold"])]
    pub policy: Option<PathBuf>,
    /// Public key (minisign format) to trust, the simple form of a policy. Repeatable.
    #[arg(long, value_name = "KEY.pub")]
    pub trust: Vec<PathBuf>,
    /// With --trust: how many distinct trusted keys must have signed (default 1).
    #[arg(long)]
    pub threshold: Option<usize>,
    /// Accept a bundle outside its change window (recovery only). Loud; `install` records
    /// it in its receipt.
    #[arg(long)]
    pub allow_expired: bool,
}

impl TrustArgs {
    /// The verification policy: signatures, checked now. Neither `--policy` nor
    /// `--trust` is a usage error naming both (clap refuses it first; kept so this
    /// never counts zero keys).
    pub fn policy(&self) -> airlock_verify::Result<Policy> {
        let policy = match &self.policy {
            Some(path) => Policy::new(TrustPolicy::load(path)?),
            None if self.trust.is_empty() => {
                return Err(airlock_verify::Error::usage(
                    "nothing to trust: give --trust KEY.pub (repeatable, with --threshold N) \
                     or --policy FILE (docs/trust.md)"
                        .into(),
                ));
            }
            // Threshold checks (0, never satisfiable) are usage errors.
            None => Policy::threshold_files(&self.trust, self.threshold.unwrap_or(1))?,
        };
        Ok(policy.allow_expired(self.allow_expired))
    }

    /// Load the policy and open the bundle (signatures and window only).
    pub fn open(&self, bundle: &Path) -> airlock_verify::Result<SignedBundle> {
        Ok(SignedBundle::open(bundle, &self.policy()?)?)
    }
}

/// The bundle a subcommand reads and the signatures it must carry: declared once here for
/// every subcommand that takes a bundle, so each says the same about them.
#[derive(clap::Args, Debug, Clone)]
#[group(skip)]
pub struct BundleArgs {
    /// The bundle directory, as `airlock build` wrote it: its payload in one file, or in
    /// volumes, flat or in volume-NNN/ directories.
    bundle: PathBuf,
    #[command(flatten)]
    pub trust: TrustArgs,
}

impl BundleArgs {
    /// The bundle directory as given.
    pub fn path(&self) -> &Path {
        &self.bundle
    }

    /// The bundle directory as given, safe to print (a directory name on the transfer
    /// medium may hold terminal escapes).
    pub fn shown(&self) -> airlock_verify::escape::ShownPath<'_> {
        airlock_verify::escape::ShownPath(&self.bundle)
    }

    /// Load the policy and open the bundle (signatures and window only).
    pub fn open(&self) -> airlock_verify::Result<SignedBundle> {
        self.trust.open(&self.bundle)
    }
}

/// Check every byte of a signed bundle, with a progress bar on a terminal when `show`.
pub fn verify_with_bar(signed: SignedBundle, show: bool) -> airlock_verify::Result<VerifiedBundle> {
    let bar = airlock_verify::progress::bytes_bar("verify", show);
    bar.set_length(signed.manifest().payload.tar_size);
    let cb = airlock_verify::progress::callback(&bar);
    let bundle = signed.verify(&*cb)?;
    bar.finish_and_clear();
    Ok(bundle)
}

/// Where the enclave keeps its state, and the key that signs its receipts.
#[derive(clap::Args, Debug, Clone)]
pub struct StateArgs {
    /// State directory: signed state (installed sequences per channel, latest time seen)
    /// and the receipt log [default for install: DEST/.airlock].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// The enclave's secret key that signs receipts and the state: a key file, or a key
    /// on a PKCS#11 token as an RFC 7512 URI, e.g.
    /// 'pkcs11:token=enclave;object=receipts?module-path=/usr/lib/softhsm/libsofthsm2.so'
    /// [default: the key in the state directory, made on first use].
    #[arg(long, value_name = "KEY|URI")]
    pub receipt_key: Option<PathBuf>,
    /// File holding the receipt key's passphrase (else AIRLOCK_PASSPHRASE or a prompt).
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// File holding the token PIN of a pkcs11: receipt key (else the URI's pin-source,
    /// AIRLOCK_PKCS11_PIN, or a prompt).
    #[arg(long, value_name = "FILE")]
    pub pin_file: Option<PathBuf>,
}

impl StateArgs {
    /// Open the state directory: `--state-dir`, or `DEST/.airlock` (never through a link).
    pub fn dir(&self, dest: Option<&Path>) -> airlock_verify::Result<Option<StateDir>> {
        match (&self.state_dir, dest) {
            (Some(d), _) => Ok(Some(StateDir::at(d)?)),
            (None, Some(dest)) => {
                std::fs::create_dir_all(dest)
                    .map_err(|e| airlock_verify::Error::io("create directory", dest, e))?;
                Ok(Some(StateDir::under_dest(dest)?))
            }
            (None, None) => Ok(None),
        }
    }

    /// The enclave state in `dir` (see [`Self::dir`]) with its key: `--receipt-key`
    /// is opened first, so a mistyped key path or a wrong passphrase leaves no state
    /// directory behind.
    pub fn enclave(&self, dest: Option<&Path>) -> airlock_verify::Result<Option<Enclave>> {
        let key = self.receipt_signer()?;
        let Some(dir) = self.dir(dest)? else {
            return Ok(None);
        };
        Ok(Some(Enclave::open(dir, key)?))
    }

    /// `--receipt-key` opened (a file or a token key), if given.
    pub fn receipt_signer(
        &self,
    ) -> airlock_verify::Result<Option<Box<dyn airlock_verify::sign::Signer>>> {
        let Some(p) = &self.receipt_key else {
            return Ok(None);
        };
        let secrets = airlock_verify::sign::KeySecrets {
            passphrase: PassphraseSource {
                file: self.passphrase_file.clone(),
            },
            pin: PassphraseSource {
                file: self.pin_file.clone(),
            },
        };
        let key = airlock_verify::sign::open_signer(p, &secrets).map_err(|e| {
            airlock_verify::Error::from(e).context("opening the receipt key (--receipt-key)")
        })?;
        Ok(Some(key))
    }
}

/// How to reach a registry.
#[derive(clap::Args, Debug, Clone)]
pub struct RegistryArgs {
    /// Reach the registry over plain HTTP.
    #[arg(long)]
    pub insecure: bool,
    /// Extra CA certificate (PEM) for the registry. Repeatable.
    #[arg(long = "ca-file", value_name = "PEM")]
    pub ca_file: Vec<PathBuf>,
    /// Attempts for each registry request before giving up (with backoff between).
    #[arg(long, default_value_t = 4)]
    pub attempts: u32,
}

impl RegistryArgs {
    /// A client for `host` (`HOST:PORT`); reads CA files and docker credentials now.
    pub fn client(&self, host: &str) -> airlock_verify::Result<EnclaveRegistry> {
        EnclaveRegistry::new(
            host,
            EnclaveRegistryOptions {
                insecure: self.insecure,
                ca_files: self.ca_file.clone(),
                attempts: self.attempts.max(1),
                backoff: std::time::Duration::from_millis(500),
            },
        )
    }
}

/// The public key that checks a state directory, for commands that only read it:
/// `--receipt-pub`, else `--receipt-key`'s public half, else the key airlock keeps in the
/// directory. Without any, says which key it needs (never makes one).
pub fn reading_key(
    state: &StateArgs,
    receipt_pub: Option<&Path>,
    dir: &StateDir,
) -> airlock_verify::Result<PublicKey> {
    if let Some(p) = receipt_pub {
        return Ok(PublicKey::load(p)?);
    }
    if let Some(key) = state.receipt_signer()? {
        return Ok(key.public_key());
    }
    airlock_verify::state::public_key_in(dir)?.ok_or_else(|| {
        airlock_verify::Error::usage(format!(
            "{} holds no enclave key: its receipts were signed with a key kept elsewhere \
             (install was given --receipt-key). Give that key's public half with \
             --receipt-pub KEY.pub (or the key itself with --receipt-key KEY)",
            dir.path().display()
        ))
    })
}
