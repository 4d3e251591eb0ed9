//! `airlock addon pin`

use crate::common::{UpstreamArgs, runtime};
use airlock_verify::{out, outln};

/// Work with add-ons (hop manifests).
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

// The subcommands' help (short and long) comes from the argument structs' doc comments.
#[derive(clap::Subcommand)]
enum Command {
    Pin(PinArgs),
}

/// Fetch an artifact and print its pinned hop-manifest entry to paste.
///
/// A URL prints a `files:` entry with the file's sha256 and size (kind manifest for .yaml,
/// .yml and .json). A chart repository URL with --chart and --version prints a `charts:`
/// entry with `repo:` and the archive's sha256, after checking the archive against the
/// sha256 the repository's index.yaml lists. `oci://HOST/REPOSITORY:TAG` prints a `charts:`
/// entry with `oci:` and the manifest digest for a Helm chart, or an `images:` entry pinned
/// to today's digest for a container image. Mirrors, CA files and insecure registries apply
/// as for resolve; nothing is written.
#[derive(clap::Args)]
pub struct PinArgs {
    /// An http(s) URL, a chart repository URL (with --chart), or oci://HOST/REPOSITORY:TAG.
    #[arg(value_name = "URL|oci://...")]
    target: String,
    /// The chart's name in the repository at URL.
    #[arg(long, value_name = "NAME", requires = "version")]
    chart: Option<String>,
    /// The chart version in the repository at URL.
    #[arg(long, value_name = "VERSION", requires = "chart")]
    version: Option<String>,
    /// Print JSON (`type`, and the fields of the entry) instead of YAML.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    upstream: UpstreamArgs,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    match a.command {
        Command::Pin(p) => pin(p),
    }
}

fn pin(a: PinArgs) -> anyhow::Result<()> {
    let (reg, http) = a.upstream.clients()?;
    let rt = runtime()?;
    let pinned = rt.block_on(airlock::addon::pin::pin(
        &http,
        &reg,
        &a.target,
        a.chart.as_deref(),
        a.version.as_deref(),
    ))?;
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&pinned)?)?;
    } else {
        out!("{}", pinned.entry())?;
    }
    Ok(())
}
