//! What both command-line programs share at their edge: logging setup, writing to
//! standard output, and turning an error into a message and a documented exit code (see
//! `docs/cli.md`).

use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;

/// `println!` that returns the write's error instead of panicking (`println!` panics, and
/// the program exited 101 with a backtrace): a reader that closes the pipe early
/// (`| head`) or a full disk ends the command through [`finish`]. Use with `?`.
#[macro_export]
macro_rules! outln {
    () => {
        $crate::cli::write_stdout(::std::format_args!(""), true)
    };
    ($($arg:tt)*) => {
        $crate::cli::write_stdout(::std::format_args!($($arg)*), true)
    };
}

/// [`outln!`] without the newline.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::write_stdout(::std::format_args!($($arg)*), false)
    };
}

/// Standard output could not be written: its reader went away, or its disk is full.
#[derive(Debug, thiserror::Error)]
#[error("writing to standard output")]
pub struct StdoutError(#[source] pub std::io::Error);

/// The exit code when standard output's reader has gone (`| head`): 128 + SIGPIPE, what
/// the shell shows for a program the signal ended, so scripts read it the same way.
pub const CLOSED_PIPE_EXIT: u8 = 141;

/// What [`outln!`] and [`out!`] call.
pub fn write_stdout(args: std::fmt::Arguments<'_>, newline: bool) -> Result<(), StdoutError> {
    let mut out = std::io::stdout().lock();
    out.write_fmt(args)
        .and_then(|()| {
            if newline {
                out.write_all(b"\n")
            } else {
                Ok(())
            }
        })
        .map_err(StdoutError)
}

/// Bytes to standard output, flushed, as [`outln!`] reports errors.
pub fn write_stdout_bytes(bytes: &[u8]) -> Result<(), StdoutError> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(StdoutError)
}

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
        let mut script = Vec::new();
        clap_complete::generate(self.shell, &mut cmd, name, &mut script);
        Ok(write_stdout_bytes(&script)?)
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
    // What is still buffered goes out now, so a failure to write it is reported too.
    let result = result.and_then(|()| Ok(write_stdout_bytes(b"")?));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader has what it wanted; a message on stderr would only be noise.
        Err(e) if closed_pipe(&e) => ExitCode::from(CLOSED_PIPE_EXIT),
        Err(e) => {
            eprintln!("error: {}", crate::error::chain(e.as_ref()));
            ExitCode::from(exit_code(&e, code))
        }
    }
}

/// Whether `e` is standard output's reader having gone away.
fn closed_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<StdoutError>()
            .is_some_and(|s| s.0.kind() == std::io::ErrorKind::BrokenPipe)
    })
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
