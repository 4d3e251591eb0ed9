//! Shared arguments and error handling.

use std::path::PathBuf;
use std::process::ExitCode;

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

/// Start logging to stderr.
pub fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("airlock={level},warn")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Print an error with its causes and map it to the documented exit code.
pub fn finish(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            let code = e
                .chain()
                .find_map(|c| c.downcast_ref::<airlock::Error>())
                .map(|e| e.exit_code())
                .or_else(|| {
                    e.chain()
                        .find_map(|c| c.downcast_ref::<airlock::trust::TrustError>())
                        .map(|_| 3)
                })
                .unwrap_or(1);
            ExitCode::from(code as u8)
        }
    }
}
