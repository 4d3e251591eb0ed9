//! What both command-line programs share at their edge: logging setup and turning an
//! error into a message and a documented exit code (see `docs/cli.md`).

use std::io::IsTerminal as _;
use std::process::ExitCode;

/// Start logging to stderr at `level` for airlock's own messages (`RUST_LOG` overrides),
/// coloured only on a terminal and without `NO_COLOR`: escape codes in a log file or a
/// pipe are noise.
pub fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("airlock={level},airlock_verify={level},warn"))
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour(std::io::stderr().is_terminal()))
        .try_init();
}

/// Whether to write colour codes to a stream: only to a terminal, and never when
/// `NO_COLOR` is set to anything but the empty string (<https://no-color.org>).
pub fn colour(is_terminal: bool) -> bool {
    colour_with(is_terminal, std::env::var_os("NO_COLOR").as_deref())
}

/// [`colour`] with `NO_COLOR`'s value given, so the rule is tested without the environment.
fn colour_with(is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// `completions SHELL`: the shell's completion script for a program, on stdout.
#[derive(clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for. Load it with, for bash:
    /// `source <(PROGRAM completions bash)`; packages install it for every user.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

impl CompletionsArgs {
    /// Write the completion script of `cmd` (the program's whole clap definition).
    pub fn run(&self, mut cmd: clap::Command) -> anyhow::Result<()> {
        let name = cmd.get_name().to_string();
        clap_complete::generate(self.shell, &mut cmd, name, &mut std::io::stdout().lock());
        Ok(())
    }
}

/// The hidden `man-pages --out DIR`: one roff page per command and subcommand
/// (`airlock.1`, `airlock-build.1`, ...), for the packages (scripts/package.sh).
#[derive(clap::Args)]
pub struct ManArgs {
    /// Directory to write the pages into (created if missing).
    #[arg(long, value_name = "DIR")]
    out: std::path::PathBuf,
}

impl ManArgs {
    /// Render the man pages of `cmd` and its subcommands into `--out`.
    pub fn run(&self, cmd: clap::Command) -> anyhow::Result<()> {
        use anyhow::Context as _;
        std::fs::create_dir_all(&self.out)
            .with_context(|| format!("creating man page directory {}", self.out.display()))?;
        clap_mangen::generate_to(cmd, &self.out)
            .with_context(|| format!("writing man pages to {}", self.out.display()))
    }
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
    fn colour_only_on_a_terminal_and_never_under_no_color() {
        use std::ffi::OsStr;
        assert!(colour_with(true, None));
        // no-color.org: set to anything but the empty string turns colour off.
        assert!(!colour_with(true, Some(OsStr::new("1"))));
        assert!(!colour_with(true, Some(OsStr::new("false"))));
        assert!(colour_with(true, Some(OsStr::new(""))));
        // A pipe or a file never gets escape codes.
        assert!(!colour_with(false, None));
        assert!(!colour_with(false, Some(OsStr::new(""))));
    }

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
