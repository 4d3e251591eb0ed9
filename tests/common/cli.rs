//! One driver for both binaries: `Cli::airlock()` or `Cli::verify()`, then `.arg`, `.args`,
//! `.env`, `.dir`; `.run()` returns a [`Run`] (exit code, stdout, stderr), `.ok()` and
//! `.fails(code, needle)` assert and, when they fail, show the command line and both
//! streams, so a test says what it expects in one line.
//!
//! ```ignore
//! let key = cli::keygen(&work.join("keys/k"));
//! let v = Cli::verify().args(["verify", bundle, "--trust", pubkey, "--json"]).ok().json();
//! Cli::verify().args(["verify", bundle]).fails(2, "--trust");
//! ```

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A command line for `airlock` or `airlock-verify`, not yet run.
pub struct Cli {
    cmd: Command,
    shown: Vec<String>,
}

/// `airlock-verify policy ARGS... --policy FILE`, to run.
pub fn policy(file: &Path, args: &[&str]) -> Cli {
    Cli::verify()
        .arg("policy")
        .args(args)
        .arg("--policy")
        .arg(file)
}

impl Cli {
    /// The connected-side binary, `airlock`.
    pub fn airlock() -> Cli {
        Cli::new(assert_cmd::cargo::cargo_bin("airlock"), "airlock")
    }

    /// The enclave binary, `airlock-verify` (rebuilt first if stale, see [`super::verify_bin`]).
    pub fn verify() -> Cli {
        Cli::new(super::verify_bin(), "airlock-verify")
    }

    fn new(bin: PathBuf, name: &str) -> Cli {
        let mut cmd = Command::new(bin);
        // A developer's own config must not change what a test sees.
        cmd.env_remove("AIRLOCK_CONFIG");
        Cli {
            cmd,
            shown: vec![name.to_string()],
        }
    }

    /// One more argument.
    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Cli {
        self.shown.push(a.as_ref().to_string_lossy().into_owned());
        self.cmd.arg(a);
        self
    }

    /// More arguments.
    pub fn args<S: AsRef<OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> Cli {
        for a in args {
            self = self.arg(a);
        }
        self
    }

    /// An environment variable for this run only.
    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Cli {
        self.cmd.env(key, value);
        self
    }

    /// The working folder of the run.
    pub fn dir(mut self, dir: &Path) -> Cli {
        self.cmd.current_dir(dir);
        self
    }

    /// The underlying command, for tests that spawn, time or kill it.
    pub fn into_command(self) -> Command {
        self.cmd
    }

    /// Run it to the end and return what it did, asserting nothing.
    pub fn run(mut self) -> Run {
        let command = self.shown.join(" ");
        let output = self
            .cmd
            .output()
            .unwrap_or_else(|e| panic!("could not start `{command}`: {e}"));
        Run { command, output }
    }

    /// Run it and assert it exited 0.
    pub fn ok(self) -> Run {
        let run = self.run();
        assert!(run.status.success(), "expected success, got:\n{run}");
        run
    }

    /// Run it and assert it exited with `code` and said `needle` on stderr.
    pub fn fails(self, code: i32, needle: &str) -> Run {
        let run = self.run();
        assert_eq!(
            run.status.code(),
            Some(code),
            "expected exit {code}, got:\n{run}"
        );
        assert!(
            run.stderr().contains(needle),
            "stderr does not mention {needle:?}:\n{run}"
        );
        run
    }
}

/// What one run did. Derefs to its [`Output`], so helpers that take `&Output` take it too.
pub struct Run {
    /// The command line, for messages.
    pub command: String,
    /// Exit status and both streams.
    pub output: Output,
}

impl Run {
    /// Standard output, lossily decoded.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    /// Standard error, lossily decoded.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// Standard output parsed as one JSON document.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.output.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{self}"))
    }
}

impl std::ops::Deref for Run {
    type Target = Output;
    fn deref(&self) -> &Output {
        &self.output
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "$ {}\nexit: {:?}\n--- stdout\n{}--- stderr\n{}",
            self.command,
            self.output.status.code(),
            self.stdout(),
            self.stderr()
        )
    }
}

/// Assert a finished command exited 0, showing its code and both streams if not; returns
/// its stdout.
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// [`ok`], then stdout parsed as JSON.
pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_str(&ok(out)).expect("JSON on stdout")
}

/// A finished command's stderr, lossily decoded.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `airlock keygen --no-passphrase --out PREFIX`, asserted; returns PREFIX (`PREFIX.key`,
/// `PREFIX.pub`).
pub fn keygen(prefix: &Path) -> PathBuf {
    Cli::airlock()
        .args(["keygen", "--no-passphrase", "--out"])
        .arg(prefix)
        .ok();
    prefix.to_path_buf()
}

/// `airlock keygen --passphrase-file PASS --out PREFIX`, asserted; returns PREFIX.
pub fn keygen_with_passphrase(prefix: &Path, pass: &Path) -> PathBuf {
    Cli::airlock()
        .args(["keygen", "--out"])
        .arg(prefix)
        .arg("--passphrase-file")
        .arg(pass)
        .ok();
    prefix.to_path_buf()
}

/// `airlock-verify keygen --no-passphrase --out PREFIX` (the enclave's own key, made
/// inside the air gap), asserted; returns PREFIX.
pub fn enclave_keygen(prefix: &Path) -> PathBuf {
    Cli::verify()
        .args(["keygen", "--no-passphrase", "--out"])
        .arg(prefix)
        .ok();
    prefix.to_path_buf()
}

/// `airlock-verify log --check --dest DEST`, asserted: every receipt's signature, the hash
/// chain and the signed state hold.
pub fn log_check(dest: &Path) -> Run {
    Cli::verify()
        .args(["log", "--check", "--dest"])
        .arg(dest)
        .ok()
}

/// `airlock-verify log --json --dest DEST`, asserted; returns the log as JSON.
pub fn log_json(dest: &Path) -> serde_json::Value {
    Cli::verify()
        .args(["log", "--json", "--dest"])
        .arg(dest)
        .ok()
        .json()
}

/// `PREFIX.pub` as an argument.
pub fn pub_of(prefix: &Path) -> String {
    format!("{}.pub", prefix.display())
}

/// `PREFIX.key` as an argument.
pub fn key_of(prefix: &Path) -> String {
    format!("{}.key", prefix.display())
}
