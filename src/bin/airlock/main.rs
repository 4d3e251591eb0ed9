//! `airlock`: the connected side. Resolves a hop, fetches and pins every artifact, and
//! writes a signed bundle. All the work is in the library; this file parses arguments.

mod addon;
mod build;
mod catalog;
mod common;
mod keygen;
mod plan;
mod provenance;
mod report;
mod resolve;
mod sign;

use std::process::ExitCode;

use clap::{CommandFactory as _, Parser, Subcommand};

/// `--version`: the package version, the commit, the build date (build.rs) and the
/// version of the catalog compiled in.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("AIRLOCK_BUILD_COMMIT"),
    ", built ",
    env!("AIRLOCK_BUILD_DATE"),
    ", catalog ",
    env!("AIRLOCK_CATALOG_VERSION"),
    ")"
);

/// Build signed, reproducible air-gap bundles for Kubernetes version hops.
///
/// Typical flow on the connected side:
///
///   airlock catalog status
///   airlock plan --from v1.33.1 --to v1.37.1
///   airlock resolve --from v1.36.4 --to v1.37.1 --out hop.lock
///   airlock keygen --out keys/release
///   airlock build hop.lock --key keys/release.key
///
/// Carry the bundle directory across the air gap and run `airlock-verify` there.
/// Exit codes: 0 ok, 1 operational error, 2 usage, 3 untrusted bundle, 4 invalid input,
/// 5 content did not match its pinned digest or checksum.
#[derive(Parser)]
#[command(
    name = "airlock",
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
    /// Create an ed25519 signing key pair (PKCS#8 secret key, minisign public key).
    Keygen(keygen::Args),
    /// Fetch everything a lock file pins and write a signed bundle.
    Build(build::Args),
    // Help for these comes from their argument structs' doc comments (short and long).
    Resolve(resolve::Args),
    Plan(plan::Args),
    /// Add an approver's signature (name, role, time) to a bundle or a policy directory.
    Sign(sign::Args),
    /// Render a bundle's change report again with a cluster dump, CVE feed, policy.
    Report(report::Args),
    /// Keep the version catalog current (update from upstream) and show it (status).
    Catalog(catalog::Args),
    /// Pin add-on artifacts (files, chart repository entries, OCI charts) by digest.
    Addon(addon::Args),
    /// Upstream provenance: fetch Sigstore's trusted root through TUF (trusted-root).
    Provenance(provenance::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(airlock_verify::cli::CompletionsArgs),
    #[command(hide = true)]
    ManPages(airlock_verify::cli::ManArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    airlock_verify::cli::init_logging(&cli.log);
    let result = match cli.command {
        Command::Keygen(a) => keygen::run(a),
        Command::Build(a) => build::run(a),
        Command::Resolve(a) => resolve::run(a),
        Command::Plan(a) => plan::run(a),
        Command::Sign(a) => sign::run(a),
        Command::Report(a) => report::run(a),
        Command::Catalog(a) => catalog::run(a),
        Command::Addon(a) => addon::run(a),
        Command::Provenance(a) => provenance::run(a),
        Command::Completions(a) => a.run(Cli::command()),
        Command::ManPages(a) => a.run(Cli::command()),
    };
    airlock_verify::cli::finish(result, airlock::Error::code_of)
}
