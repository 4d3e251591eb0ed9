//! Shared arguments.

use std::path::{Path, PathBuf};

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
