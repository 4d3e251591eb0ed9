//! What both command-line programs share at their edge: logging setup and turning an
//! error into a message and a documented exit code (see `docs/cli.md`).

use std::io::IsTerminal as _;
use std::process::ExitCode;

/// Start logging to stderr at `level` for airlock's own messages (`RUST_LOG` overrides),
/// coloured only on a terminal: escape codes in a log file or a pipe are noise.
pub fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("airlock={level},airlock_verify={level},warn"))
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// The exit code for an error chain: the first [`crate::Error`], [`airlock_core::Error`]
/// or [`crate::trust::TrustError`] in it decides (another crate's error type can say its own
/// through `code`); anything else is 1.
pub fn exit_code(
    e: &anyhow::Error,
    code: impl Fn(&(dyn std::error::Error + 'static)) -> Option<u8>,
) -> u8 {
    e.chain()
        .find_map(|c| {
            c.downcast_ref::<crate::Error>()
                .map(|e| e.exit_code())
                // The trust core's error, returned as is by a core function.
                .or_else(|| {
                    c.downcast_ref::<airlock_core::Error>()
                        .map(|e| e.exit_code())
                })
                // A key or signature error returned as is (not wrapped) has its own code.
                .or_else(|| {
                    c.downcast_ref::<crate::trust::TrustError>()
                        .map(crate::trust::TrustError::exit_code)
                })
                .or_else(|| code(c))
        })
        .unwrap_or(1)
}

/// Print an error with its causes, once each, and map it to the documented exit code.
pub fn finish(
    result: anyhow::Result<()>,
    code: impl Fn(&(dyn std::error::Error + 'static)) -> Option<u8>,
) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", crate::error::chain(e.as_ref()));
            ExitCode::from(exit_code(&e, code))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_core_error_returned_as_is_keeps_its_exit_code() {
        // `policy update` returns the core's error straight into anyhow: a refused update
        // must still exit 3, not 1.
        let e = anyhow::Error::from(airlock_core::Error::verification("p", "refused"));
        assert_eq!(exit_code(&e, |_| None), 3);
        let e = anyhow::Error::from(airlock_core::Error::Usage("u".into()));
        assert_eq!(exit_code(&e.context("doing"), |_| None), 2);
    }
}
