//! Shared arguments and error handling.

use std::path::PathBuf;

use airlock::bundle::reader::OpenedBundle;

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
    /// Load the keys and open the bundle (signature check only).
    pub fn open(&self, bundle: &std::path::Path) -> anyhow::Result<OpenedBundle> {
        let keys = self
            .trust
            .iter()
            .map(|p| airlock::trust::PublicKey::load(p))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(airlock::bundle::reader::open_verified(
            bundle,
            &keys,
            self.threshold,
        )?)
    }
}
