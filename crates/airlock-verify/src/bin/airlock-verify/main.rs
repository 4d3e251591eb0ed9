//! `airlock-verify`: the enclave side. Checks a bundle's signatures and every byte, then
//! installs, serves, exports or publishes what verified (and fetches published bundles).
//! Kept small on purpose so a security office can audit it; the work is in this crate's
//! library (`verify`, `trust`, `install`, `serve`, `export`, `artifact`).

mod common;
mod export;
mod fetch;
mod install;
mod inventory;
mod keygen;
mod log;
mod plan;
mod policy;
mod preflight;
mod provenance;
mod publish;
mod repair;
mod serve;
mod signers;
mod state;
mod verify;

use std::process::ExitCode;

use clap::{CommandFactory as _, Parser, Subcommand};

/// `--version`: the package version, the commit and the build date (build.rs).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("AIRLOCK_BUILD_COMMIT"),
    ", built ",
    env!("AIRLOCK_BUILD_DATE"),
    ")"
);

/// Verify airlock bundles inside an air-gapped network, then install, serve, export or
/// publish what verified.
///
///   airlock-verify verify BUNDLE --trust release.pub
///   airlock-verify install BUNDLE --trust release.pub --registry registry.enclave:5000 --dest /srv/k8s
///   airlock-verify serve BUNDLE --trust release.pub --listen 0.0.0.0:5000
///   airlock-verify export BUNDLE --trust release.pub --format oci-archive --out images/
///   airlock-verify publish BUNDLE --trust release.pub --registry harbor.hq:443/airlock/hop:v1.30.2
///   airlock-verify fetch harbor.site:443/airlock/hop:v1.30.2 --trust release.pub --out BUNDLE
///   airlock-verify repair BUNDLE --trust release.pub
///
/// Exit codes: 0 ok, 1 operational error, 2 usage, 3 the bundle or its signatures cannot
/// be trusted, 4 invalid input, 5 content mismatch outside a bundle.
#[derive(Parser)]
#[command(
    name = "airlock-verify",
    version = VERSION,
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
    // The list shows `about`; `--help` shows the whole doc comment of each argument struct
    // (a doc comment here would replace it with this one line).
    #[command(about = "Check signatures and every byte of a bundle; install nothing")]
    Verify(verify::Args),
    #[command(
        about = "Verify, then push images to the enclave registry and files to disk, with a receipt"
    )]
    Install(install::Args),
    #[command(about = "List a bundle's signatures and what the trust policy still needs")]
    Signers(signers::Args),
    #[command(about = "Check the cluster against a bundle before the change window")]
    Preflight(preflight::Args),
    #[command(about = "Which phase of a catch-up bundle comes next, from a cluster dump")]
    Plan(plan::Args),
    #[command(
        about = "Verify, then re-check offline the upstream Sigstore signatures the bundle carries"
    )]
    Provenance(provenance::Args),
    #[command(about = "Check and list the enclave's hash-chained receipt log")]
    Log(log::Args),
    #[command(about = "Show or recover the enclave's signed state")]
    State(state::Args),
    #[command(
        about = "Show a trust policy, write a draft of one by commands, or accept a signed new one"
    )]
    Policy(policy::Args),
    #[command(about = "Create the enclave's own key pair (signs receipts)")]
    Keygen(keygen::Args),
    #[command(about = "Verify, then serve the images read-only over the OCI distribution API")]
    Serve(serve::Args),
    #[command(
        about = "Verify, then write one image archive per image (oci-archive, docker-archive)"
    )]
    Export(export::Args),
    #[command(
        about = "Verify, then push the bundle into a registry as an OCI artifact, for fleets"
    )]
    Publish(publish::Args),
    #[command(about = "Pull a published bundle from a registry; verify it before it gets its name")]
    Fetch(fetch::Args),
    #[command(about = "Rebuild lost or damaged payload volumes from the parity volumes")]
    Repair(repair::Args),
    #[command(about = "Write what the enclave holds (digests only), signed by the enclave key")]
    Inventory(inventory::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(airlock_verify::cli::CompletionsArgs),
    #[command(hide = true)]
    ManPages(airlock_verify::cli::ManArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    airlock_verify::cli::init_logging(&cli.log);
    let result = match cli.command {
        Command::Verify(a) => verify::run(a),
        Command::Install(a) => install::run(a),
        Command::Signers(a) => signers::run(a),
        Command::Preflight(a) => preflight::run(a),
        Command::Plan(a) => plan::run(a),
        Command::Provenance(a) => provenance::run(a),
        Command::Log(a) => log::run(a),
        Command::State(a) => state::run(a),
        Command::Policy(a) => policy::run(a),
        Command::Keygen(a) => keygen::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Export(a) => export::run(a),
        Command::Publish(a) => publish::run(a),
        Command::Fetch(a) => fetch::run(a),
        Command::Repair(a) => repair::run(a),
        Command::Inventory(a) => inventory::run(a),
        Command::Completions(a) => a.run(Cli::command()),
        Command::ManPages(a) => a.run(Cli::command()),
    };
    airlock_verify::cli::finish(result, policy::exit_code)
}
