//! Shared arguments.

use std::path::{Path, PathBuf};

use airlock_verify::registry::{EnclaveRegistry, RegistryOptions};
use airlock_verify::trust::PublicKey;
use airlock_verify::verify::{Policy, SignedBundle};

/// Which keys to trust.
#[derive(clap::Args, Debug, Clone)]
pub struct TrustArgs {
    /// Public key (minisign format) to trust. Repeatable.
    #[arg(long, required = true, value_name = "KEY.pub")]
    pub trust: Vec<PathBuf>,
    /// How many distinct trusted keys must have signed.
    #[arg(long, default_value_t = 1)]
    pub threshold: usize,
}

impl TrustArgs {
    /// The policy these arguments describe.
    pub fn policy(&self) -> airlock_verify::Result<Policy> {
        let keys = self
            .trust
            .iter()
            .map(|p| PublicKey::load(p))
            .collect::<Result<Vec<_>, _>>()?;
        Policy::threshold(keys, self.threshold)
    }

    /// Load the keys and open the bundle (signature check only).
    pub fn open(&self, bundle: &Path) -> airlock_verify::Result<SignedBundle> {
        SignedBundle::open(bundle, &self.policy()?)
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
            RegistryOptions {
                insecure: self.insecure,
                ca_files: self.ca_file.clone(),
                attempts: self.attempts.max(1),
                backoff: std::time::Duration::from_millis(500),
            },
        )
    }
}
