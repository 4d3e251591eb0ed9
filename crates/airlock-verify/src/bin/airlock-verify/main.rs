//! `airlock-verify`: the enclave side. Checks a bundle's signatures and every byte, then
//! installs it. Kept small on purpose so a security office can audit it; the work is in
//! this crate's library (`verify`, `trust`, `install`).

mod common;
mod install;
mod keygen;
mod log;
mod policy;
mod preflight;
mod signers;
mod state;
mod verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Verify and install airlock bundles inside an air-gapped network.
///
///   airlock-verify verify BUNDLE --trust release.pub
///   airlock-verify install BUNDLE --trust release.pub --registry registry.enclave:5000 --dest /srv/k8s
///
/// Exit codes: 0 ok, 1 operational error, 2 usage, 3 the bundle or its signatures cannot
/// be trusted, 4 invalid input, 5 content mismatch outside a bundle.
#[derive(Parser)]
#[command(
    name = "airlock-verify",
    version,
    about,
    long_about,
    verbatim_doc_comment,
    max_term_width = 100
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log detail on stderr (error, warn, info, debug, trace); also RUST_LOG.
    #[arg(long, global = true, default_value = "warn", env = "AIRLOCK_LOG")]
    log: String,
}

#[derive(Subcommand)]
enum Command {
    /// Check signatures and every byte of a bundle; install nothing.
    Verify(verify::Args),
    /// Verify, then push images to the enclave registry and files to disk, with a receipt.
    Install(install::Args),
    /// List a bundle's signatures and what the trust policy still needs.
    Signers(signers::Args),
    /// Check the cluster against a bundle before the change window.
    Preflight(preflight::Args),
    /// Check and list the enclave's hash-chained receipt log.
    Log(log::Args),
    /// Show or recover the enclave's signed state.
    State(state::Args),
    /// Show a trust policy, or accept a signed new version of it.
    Policy(policy::Args),
    /// Create the enclave's own key pair (signs receipts).
    Keygen(keygen::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    airlock_verify::cli::init_logging(&cli.log);
    let result = match cli.command {
        Command::Verify(a) => verify::run(a),
        Command::Install(a) => install::run(a),
        Command::Signers(a) => signers::run(a),
        Command::Preflight(a) => preflight::run(a),
        Command::Log(a) => log::run(a),
        Command::State(a) => state::run(a),
        Command::Policy(a) => policy::run(a),
        Command::Keygen(a) => keygen::run(a),
    };
    airlock_verify::cli::finish(result, |_| None)
}
