//! `airlock provenance trusted-root`, and the provenance options `resolve` and `plan
//! --build` share.

use std::path::{Path, PathBuf};

use airlock::provenance::trusted_root::{self, Fetched, Request, SIGSTORE_TUF_URL};
use airlock_verify::outln;

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
    /// Where to write trusted_root.json [default: <cache>/sigstore/trusted_root.json,
    /// where `resolve` and `plan --build` look for it].
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Content cache whose sigstore/trusted_root.json is the default --out [default:
    /// $AIRLOCK_CACHE, $XDG_CACHE_HOME/airlock or ~/.cache/airlock].
    #[arg(long, value_name = "DIR", conflicts_with = "out")]
    cache: Option<PathBuf>,
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
    let out = match a.out {
        Some(o) => o,
        None => {
            let cache = a
                .cache
                .unwrap_or_else(airlock::upstream_store::Store::default_root);
            let out = airlock::provenance::default_trusted_root(&cache);
            if let Some(dir) = out.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| airlock::Error::io("create directory", dir, e))?;
            }
            out
        }
    };
    let req = Request {
        tuf_url: a.tuf_url,
        targets_url: a.targets_url,
        root: a.root,
        out,
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
        outln!("{}", serde_json::to_string_pretty(&fetched)?)?;
    } else {
        print_text(&fetched)?;
    }
    Ok(())
}

fn print_text(f: &Fetched) -> Result<(), airlock_verify::cli::StdoutError> {
    outln!(
        "wrote {} ({} bytes, sha256 {})",
        f.out.display(),
        f.size,
        f.sha256
    )?;
    outln!(
        "TUF repository {}: root version {}, targets version {}, metadata valid until {}",
        f.tuf_url,
        f.root_version,
        f.targets_version,
        f.metadata_expires
    )?;
    outln!("media type: {}", f.media_type)?;
    let groups = [
        ("certificate authority", &f.certificate_authorities),
        ("transparency log", &f.tlogs),
        ("CT log", &f.ctlogs),
        ("timestamp authority", &f.timestamp_authorities),
    ];
    for (kind, list) in groups {
        for a in list {
            outln!(
                "{kind}: {} valid from {} until {}",
                a.url,
                a.valid_from.as_deref().unwrap_or("(unset)"),
                a.valid_until.as_deref().unwrap_or("(open)")
            )?;
        }
    }
    Ok(())
}

/// Upstream provenance options of `resolve` and `plan --build` (docs/resolve.md).
#[derive(clap::Args, Clone)]
pub struct ProvenanceArgs {
    /// Sigstore trusted_root.json to check upstream signatures against [default: the file
    /// `airlock provenance trusted-root` writes, <cache>/sigstore/trusted_root.json].
    /// Every registry.k8s.io image (OCI referrer bundle, else cosign's .sig tag) and
    /// dl.k8s.io file (.sig + .cert, its Rekor entry looked up at --rekor-url) must carry
    /// a signature by the Kubernetes release identity, and every add-on image, chart and
    /// file one by the signer its hop manifest's `provenance:` entry names, or the resolve
    /// stops (exit 3) and writes no lock. The lock records each signature's facts; the
    /// Sigstore bundle documents (and add-on cosign keys) are kept in the cache and carried
    /// into the bundle with each policy. No trusted root at all is exit 4.
    #[arg(long, value_name = "FILE")]
    pub trusted_root: Option<PathBuf>,
    /// Rekor (v1 API) where the log entries of .sig tag layers and files are looked up
    /// (each is then checked offline against the trusted root).
    #[arg(long, value_name = "URL", default_value = airlock::provenance::rekor::PUBLIC_REKOR)]
    pub rekor_url: String,
    /// Carry the image (by reference, e.g. registry.k8s.io/pause:3.9) or file (by URL)
    /// NAME even though no upstream signature of it passes, or its add-on has no
    /// `provenance:` entry; the lock records the exception. Repeatable.
    #[arg(
        long = "allow-unsigned",
        value_name = "NAME",
        conflicts_with = "no_provenance"
    )]
    pub allow_unsigned: Vec<String>,
    /// Do not check upstream signatures at all. The lock says `not-checked` and its notes,
    /// which the bundle signs, record the exception; a trust policy that requires
    /// provenance refuses such a bundle.
    #[arg(long, conflicts_with = "trusted_root")]
    pub no_provenance: bool,
}

/// What a resolve checks provenance with, read before any network work.
pub struct Setup {
    trusted_root: (PathBuf, Vec<u8>),
    addons: airlock::provenance::policy::AddonPolicies,
}

impl ProvenanceArgs {
    /// The trusted root and the add-ons' policies (`with`: the hop manifests); `None`
    /// with --no-provenance. No trusted root anywhere is a setup error (exit 4).
    pub fn setup(&self, cache: &Path, with: &[PathBuf]) -> airlock::Result<Option<Setup>> {
        if self.no_provenance {
            return Ok(None);
        }
        let trusted_root =
            airlock::provenance::load_trusted_root(self.trusted_root.as_deref(), cache)?;
        let manifests = with
            .iter()
            .map(|p| Ok((p.clone(), airlock::hop_manifest::HopManifest::load(p)?)))
            .collect::<airlock::Result<Vec<_>>>()?;
        let addons = airlock::provenance::policy::AddonPolicies::from_manifests(&manifests)?;
        Ok(Some(Setup {
            trusted_root,
            addons,
        }))
    }

    /// Checks `lock`'s upstream signatures with `setup`, or records that they were not
    /// checked (returning the warning to print). `one_of_many`: the lock is one hop of
    /// `plan --build`, so an `--allow-unsigned` may name another hop's artifact.
    pub fn apply(
        &self,
        setup: Option<&Setup>,
        rt: &tokio::runtime::Runtime,
        lock: &mut airlock::lock::Lock,
        clients: &airlock::provenance::Clients<'_>,
        (jobs, one_of_many): (usize, bool),
    ) -> airlock::Result<Option<&'static str>> {
        let Some(setup) = setup else {
            return Ok(Some(airlock::provenance::record_not_checked(lock)));
        };
        let (path, bytes) = &setup.trusted_root;
        let opts = airlock::provenance::ProvenanceOptions {
            trusted_root: (path, bytes),
            rekor_url: &self.rekor_url,
            allow_unsigned: &self.allow_unsigned,
            jobs,
            addons: &setup.addons,
            refuse_unused_exceptions: !one_of_many,
        };
        rt.block_on(airlock::provenance::check_lock(lock, &opts, clients))?;
        Ok(None)
    }
}
