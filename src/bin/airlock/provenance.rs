//! `airlock provenance trusted-root`

use std::path::PathBuf;

use airlock::provenance::trusted_root::{self, Fetched, Request, SIGSTORE_TUF_URL};

use crate::common::runtime;

/// Upstream provenance (Sigstore): the trust material resolve checks signatures against.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

// The subcommands' help (short and long) comes from the argument structs' doc comments.
#[derive(clap::Subcommand)]
enum Command {
    TrustedRoot(TrustedRootArgs),
}

/// Fetch Sigstore's trusted_root.json through its TUF repository, verified.
///
/// Starts from --root, a TUF root.json you obtained out of band: Sigstore keeps its root
/// versions in https://github.com/sigstore/root-signing (metadata/) and publishes each as
/// <TUF URL>/N.root.json; its clients (cosign, sigstore-python) embed one. Compare its
/// sha256 with a second of those sources before trusting it; the JSON output repeats it
/// (initial_root_sha256). Any version is a valid start: later ones are followed.
///
/// The TUF client is `tough` (TUF 1.0). It follows root rotations one version at a time,
/// each new root signed by a threshold of the old root's keys and of its own; checks that
/// timestamp, snapshot and targets are signed by a threshold of the keys the root lists
/// for them; refuses expired metadata and versions older than the ones in the datastore
/// (rollback); fetches snapshot, targets and the target by their consistent-snapshot names
/// when the root asks for it; and checks the target's length and sha256 against the signed
/// targets metadata. airlock then checks the bytes parse as a Sigstore trusted root that
/// names at least one certificate authority and one transparency log, and
/// writes them atomically (refusing an existing file unless --force). Nothing is written
/// when any check fails.
///
/// Exit codes: 3 the repository is not trustworthy (signatures, thresholds, expiry,
/// rollback, target not listed), 5 the target's bytes differ from their signed hash, 4 the
/// signed target is not a trusted root or --root is not a self-signed TUF root, 1 the
/// repository could not be reached.
#[derive(clap::Args)]
pub struct TrustedRootArgs {
    /// The trusted TUF root.json to start from.
    #[arg(long, value_name = "FILE")]
    root: PathBuf,
    /// Where to write trusted_root.json.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// The TUF repository's metadata URL.
    #[arg(long, value_name = "URL", default_value = SIGSTORE_TUF_URL)]
    tuf_url: reqwest::Url,
    /// The targets URL (default: <TUF URL>/targets/).
    #[arg(long, value_name = "URL")]
    targets_url: Option<reqwest::Url>,
    /// Keep the last metadata seen in DIR so a later run refuses a rollback to older
    /// versions (default: a fresh temporary directory, which checks rollback only against
    /// the versions seen within this run).
    #[arg(long, value_name = "DIR")]
    datastore: Option<PathBuf>,
    /// Extra CA certificate (PEM) to trust for the repository. Repeatable.
    #[arg(long = "ca-file", value_name = "PEM")]
    ca_file: Vec<PathBuf>,
    /// Fetch from a mirror while the output names the canonical URL:
    /// `https://tuf-repo-cdn.sigstore.dev=http://mirror/sigstore-tuf`. Repeatable.
    #[arg(long = "mirror", value_name = "FROM=TO")]
    mirror: Vec<String>,
    /// Replace an existing --out file.
    #[arg(long)]
    force: bool,
    /// Print the result as JSON (repository, versions, sha256, CAs and logs).
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    match a.command {
        Command::TrustedRoot(t) => fetch_trusted_root(t),
    }
}

fn fetch_trusted_root(a: TrustedRootArgs) -> anyhow::Result<()> {
    if let Some(dir) = &a.datastore {
        std::fs::create_dir_all(dir).map_err(|e| airlock::Error::io("create directory", dir, e))?;
    }
    let req = Request {
        tuf_url: a.tuf_url,
        targets_url: a.targets_url,
        root: a.root,
        out: a.out,
        force: a.force,
        datastore: a.datastore,
    };
    let settings = airlock::pipeline::NetSettings {
        insecure_registries: Vec::new(),
        ca_files: a.ca_file,
        mirrors: a.mirror,
        anonymous: true,
    };
    let (_, http) = settings.clients()?;
    let fetched = runtime()?.block_on(trusted_root::fetch(&http, &req))?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&fetched)?);
    } else {
        print_text(&fetched);
    }
    Ok(())
}

fn print_text(f: &Fetched) {
    println!(
        "wrote {} ({} bytes, sha256 {})",
        f.out.display(),
        f.size,
        f.sha256
    );
    println!(
        "TUF repository {}: root version {}, targets version {}, metadata valid until {}",
        f.tuf_url, f.root_version, f.targets_version, f.metadata_expires
    );
    println!("media type: {}", f.media_type);
    let groups = [
        ("certificate authority", &f.certificate_authorities),
        ("transparency log", &f.tlogs),
        ("CT log", &f.ctlogs),
        ("timestamp authority", &f.timestamp_authorities),
    ];
    for (kind, list) in groups {
        for a in list {
            println!(
                "{kind}: {} valid from {} until {}",
                a.url,
                a.valid_from.as_deref().unwrap_or("(unset)"),
                a.valid_until.as_deref().unwrap_or("(open)")
            );
        }
    }
}
