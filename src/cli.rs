//! What both command-line programs share at their edge: logging setup and turning an
//! error into a message and a documented exit code (see `docs/cli.md`).

use std::process::ExitCode;

/// Start logging to stderr at `level` for airlock's own messages (`RUST_LOG` overrides).
pub fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("airlock={level},warn")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// The exit code for an error chain: the first [`crate::Error`] in it decides; a bare
/// [`crate::trust::TrustError`] means "do not trust this" (3); anything else is 1.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    e.chain()
        .find_map(|c| c.downcast_ref::<crate::Error>())
        .map(|e| e.exit_code())
        .or_else(|| {
            e.chain()
                .find_map(|c| c.downcast_ref::<crate::trust::TrustError>())
                .map(|_| 3)
        })
        .unwrap_or(1) as u8
}

/// Print an error with its causes and map it to the documented exit code.
pub fn finish(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit_code(&e))
        }
    }
}
