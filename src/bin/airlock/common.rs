//! Argument groups shared by the subcommands (subcommands never import each other).

use std::path::{Path, PathBuf};

use airlock::catalog::{Date, Loaded};
use airlock::http::HttpClient;
use airlock::manifest::PackageFormat;
use airlock::oci::Platform;
use airlock::packages::openpgp::RepoKey;
use airlock::packages::{PKGS_K8S_IO, PackageOptions};
use airlock::pipeline::NetSettings;
use airlock::resolve::{ResolveOptions, Warning, arches_from_platforms};
use airlock::upstream_registry::UpstreamRegistry;
use airlock::upstream_store::Store;

/// How to reach upstream registries and file servers.
#[derive(clap::Args, Debug, Clone)]
pub struct NetArgs {
    /// Registry reached over plain HTTP (HOST:PORT); for test and lab registries only.
    /// Repeatable.
    #[arg(long = "insecure-registry", value_name = "HOST:PORT")]
    pub insecure_registry: Vec<String>,
    /// Extra CA certificate (PEM) to trust for registries and downloads. Repeatable.
    #[arg(long = "ca-file", value_name = "PEM")]
    pub ca_file: Vec<PathBuf>,
    /// Fetch from a mirror while keeping canonical names in the lock and bundle:
    /// `registry.k8s.io=mirror.corp:5000` for images, `https://dl.k8s.io=http://mirror/k8s`
    /// (or `https://pkgs.k8s.io=...` for node packages) for files. Repeatable.
    #[arg(long = "mirror", value_name = "FROM=TO")]
    pub mirror: Vec<String>,
    /// Ignore credentials in the docker config ($DOCKER_CONFIG/config.json).
    #[arg(long)]
    pub anonymous: bool,
}

impl NetArgs {
    /// The library's settings for these flags.
    pub fn settings(&self) -> NetSettings {
        NetSettings {
            insecure_registries: self.insecure_registry.clone(),
            ca_files: self.ca_file.clone(),
            mirrors: self.mirror.clone(),
            anonymous: self.anonymous,
        }
    }
}

/// Options shared by `resolve` and `plan --build`: what to carry and how to reach upstream.
#[derive(clap::Args, Clone)]
pub struct HopArgs {
    /// Platforms every image must carry, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "linux/amd64",
        value_name = "OS/ARCH,..."
    )]
    pub platform: Vec<Platform>,
    /// Architectures of the binaries and tools, comma-separated [default: those of --platform].
    #[arg(long, value_delimiter = ',', value_name = "ARCH,...")]
    pub arch: Vec<String>,
    /// Hop manifest of an add-on: its manifests, charts and images (docs/resolve.md).
    /// Repeatable, one file per add-on.
    #[arg(long = "with", value_name = "FILE")]
    pub with: Vec<PathBuf>,
    /// Carry the add-on NAME even though it is incompatible with the target version (its
    /// kubeVersion, compat range or APIs); the lock and the change report record the
    /// exception. Repeatable.
    #[arg(long = "allow-incompatible", value_name = "NAME")]
    pub allow_incompatible: Vec<String>,
    /// Leave out the back-out set (the --from version's images and binaries). The lock says so.
    #[arg(long)]
    pub no_backout: bool,
    /// A control plane's etcd static pod manifest (/etc/kubernetes/manifests/etcd.yaml),
    /// or `kubectl -n kube-system get pods -l component=etcd -o json`: the runbook then
    /// restores each etcd member with its own --name, peer URL and data dir. Repeat for
    /// each control plane. Without it the restore step names those values as required
    /// parameters.
    #[arg(long = "etcd-manifest", value_name = "FILE")]
    pub etcd_manifest: Vec<PathBuf>,
    /// Version catalog to use instead of the built-in one.
    #[arg(long, value_name = "FILE")]
    pub catalog: Option<PathBuf>,
    /// Also carry the node packages (kubeadm, kubelet, kubectl, cri-tools,
    /// kubernetes-cni) from the Kubernetes package repositories (pkgs.k8s.io), with
    /// their signed metadata, as a partial mirror: deb, rpm or deb,rpm. Needs
    /// --package-key.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "deb|rpm",
        requires = "package_key"
    )]
    pub packages: Vec<PackageFormat>,
    /// The repositories' OpenPGP public key (the Release.key the nodes use, armored or
    /// binary); the metadata's signature must verify with it.
    #[arg(long, value_name = "FILE", requires = "packages")]
    pub package_key: Option<PathBuf>,
    /// Content cache [default: $AIRLOCK_CACHE, $XDG_CACHE_HOME/airlock or
    /// ~/.cache/airlock]. With --packages, resolve keeps the verified repository
    /// metadata here, so the build uses exactly what was verified.
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
    #[command(flatten)]
    pub upstream: UpstreamArgs,
}

/// How to reach upstream: a config file, the network flags, parallelism.
#[derive(clap::Args, Clone)]
pub struct UpstreamArgs {
    /// YAML file with `mirrors: {FROM: TO}` and `insecure_registries: [HOST:PORT]`; merged
    /// with --mirror and --insecure-registry (the flags win).
    #[arg(long, value_name = "FILE", env = "AIRLOCK_CONFIG")]
    pub config: Option<PathBuf>,
    /// Parallel registry and HTTP requests at most.
    #[arg(long, default_value_t = 8)]
    pub jobs: usize,
    #[command(flatten)]
    pub net: NetArgs,
}

impl UpstreamArgs {
    /// Registry and HTTP clients, with the config file merged in.
    pub fn clients(&self) -> airlock::Result<(UpstreamRegistry, HttpClient)> {
        self.net
            .settings()
            .with_config_file(self.config.as_deref())?
            .clients()
    }
}

/// The day to judge support on.
#[derive(clap::Args, Clone)]
pub struct TodayArgs {
    /// The day to judge support (and date a derived catalog) on, instead of today's date
    /// (UTC).
    #[arg(long, value_name = "YYYY-MM-DD", env = "AIRLOCK_TODAY")]
    pub today: Option<Date>,
}

impl TodayArgs {
    /// `--today`, or today's date in UTC.
    pub fn date(&self) -> airlock::Result<Date> {
        match self.today {
            Some(d) => Ok(d),
            None => Date::today_utc().ok_or_else(|| {
                airlock::Error::invalid(
                    "option",
                    "--today",
                    "the system clock is outside 1970-9999; give --today YYYY-MM-DD",
                )
            }),
        }
    }
}

impl HopArgs {
    /// Registry and HTTP clients, with the config file merged in.
    pub fn clients(&self) -> airlock::Result<(UpstreamRegistry, HttpClient)> {
        self.upstream.clients()
    }

    /// The catalog: `--catalog FILE` or the built-in one, with its identity.
    pub fn catalog(&self) -> airlock::Result<Loaded> {
        Loaded::file_or_builtin(self.catalog.as_deref())
    }

    /// The binary architectures: --arch, or those of --platform.
    pub fn arches(&self) -> airlock::Result<Vec<String>> {
        let arches = if self.arch.is_empty() {
            arches_from_platforms(&self.platform)
        } else {
            self.arch.clone()
        };
        for a in &arches {
            if a.is_empty()
                || !a
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            {
                return Err(airlock::Error::invalid(
                    "option",
                    "--arch",
                    format!("{a:?} is not an architecture name"),
                ));
            }
        }
        if arches.is_empty() {
            return Err(airlock::Error::invalid(
                "option",
                "--platform",
                "no linux platform, so no binary architecture; give --arch",
            ));
        }
        Ok(arches)
    }

    /// The content cache (`--cache` or the default).
    pub fn store(&self) -> airlock::Result<Store> {
        Store::open(&self.cache.clone().unwrap_or_else(Store::default_root))
    }

    /// `--packages` with its key loaded, if given.
    pub fn package_options(&self) -> airlock::Result<Option<PackageOptions>> {
        if self.packages.is_empty() {
            return Ok(None);
        }
        let Some(path) = &self.package_key else {
            return Err(airlock::Error::invalid(
                "option",
                "--packages",
                "needs --package-key FILE (the repository's Release.key)",
            ));
        };
        let mut formats = Vec::new();
        for f in &self.packages {
            if !formats.contains(f) {
                formats.push(*f);
            }
        }
        Ok(Some(PackageOptions {
            formats,
            key: RepoKey::load(path)?,
            base_url: PKGS_K8S_IO.to_string(),
        }))
    }

    /// The library options for one resolve (the caller adds the catalog's identity and
    /// any notes).
    pub fn options<'a>(
        &'a self,
        reg: &'a UpstreamRegistry,
        http: &'a HttpClient,
        lock_dir: &'a Path,
        arches: Vec<String>,
        packages: Option<&'a PackageOptions>,
        store: Option<&'a Store>,
    ) -> ResolveOptions<'a> {
        ResolveOptions {
            platforms: self.platform.clone(),
            arches,
            backout: !self.no_backout,
            hop_manifests: self.with.iter().map(PathBuf::as_path).collect(),
            allow_incompatible: self.allow_incompatible.clone(),
            lock_dir: Some(lock_dir),
            registry: reg,
            http,
            jobs: self.upstream.jobs,
            catalog: None,
            notes: Vec::new(),
            packages,
            store,
            etcd: None,
        }
    }

    /// The etcd members of `--etcd-manifest`, if given.
    pub fn etcd(&self) -> airlock::Result<Option<airlock::etcd::EtcdCluster>> {
        airlock::etcd::EtcdCluster::from_files(&self.etcd_manifest)
    }
}

/// Signing keys (files or keys on PKCS#11 tokens) and where their secrets come from.
#[derive(clap::Args, Clone)]
pub struct KeyArgs {
    /// Secret key: airlock's (PKCS#8 PEM, encrypted or not), minisign's own
    /// (`minisign -G`), or a key on a PKCS#11 token as an RFC 7512 URI, e.g.
    /// 'pkcs11:token=release;object=build?module-path=/usr/lib/softhsm/libsofthsm2.so'
    /// (the module may also come from AIRLOCK_PKCS11_MODULE). Repeat to sign with several
    /// keys where a command allows it.
    #[arg(long, required = true, value_name = "KEY|URI")]
    pub key: Vec<PathBuf>,
    /// File holding the passphrase of encrypted keys (else AIRLOCK_PASSPHRASE, or a
    /// prompt on the terminal).
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// File holding the PIN of pkcs11: keys (else the URI's pin-source,
    /// AIRLOCK_PKCS11_PIN, or a prompt on the terminal). pin-value in a URI is refused.
    #[arg(long, value_name = "FILE")]
    pub pin_file: Option<PathBuf>,
}

/// A key that signs: a secret key file or a key on a token.
pub type SignerBox = Box<dyn airlock::sign::Signer>;

impl KeyArgs {
    /// Open every key (a token key stays open, logged in, until dropped).
    pub fn load(&self) -> airlock::Result<Vec<SignerBox>> {
        let secrets = airlock::sign::KeySecrets {
            passphrase: airlock::sign::PassphraseSource {
                file: self.passphrase_file.clone(),
            },
            pin: airlock::sign::PassphraseSource {
                file: self.pin_file.clone(),
            },
        };
        self.key
            .iter()
            .map(|p| {
                airlock::sign::open_signer(p, &secrets)
                    .map_err(|e| airlock::Error::from(e).context("opening the signing key (--key)"))
            })
            .collect()
    }

    /// Open the one key a command takes.
    pub fn load_one(&self) -> airlock::Result<SignerBox> {
        let mut keys = self.load()?;
        if keys.len() != 1 {
            return Err(airlock::Error::Core(airlock_verify::Error::usage(
                "give exactly one --key".into(),
            )));
        }
        Ok(keys.remove(0))
    }
}

/// When and where a bundle may be installed, and in which role it is signed.
#[derive(clap::Args, Clone)]
pub struct ValidityArgs {
    /// The change window, START/DURATION or START/END in UTC, e.g.
    /// 2026-12-05T22:00Z/72h: the enclave refuses the bundle outside it.
    #[arg(long, value_name = "START/END", conflicts_with_all = ["not_before", "expires"])]
    pub window: Option<String>,
    /// Not valid before this UTC time (YYYY-MM-DDTHH:MMZ).
    #[arg(long, value_name = "TIME")]
    pub not_before: Option<String>,
    /// Not valid after this UTC time, or after a duration from now (or from
    /// SOURCE_DATE_EPOCH when set, for reproducible builds), e.g. 30d.
    #[arg(long, value_name = "TIME|DURATION")]
    pub expires: Option<String>,
    /// The cluster or site the bundle is for; the enclave tracks sequences per channel.
    #[arg(long, requires = "sequence")]
    pub channel: Option<String>,
    /// This bundle's place in its channel's order; the enclave never installs a lower one.
    #[arg(long, requires = "channel")]
    pub sequence: Option<u64>,
    /// The role the build signature is made in.
    #[arg(long, default_value = "builder")]
    pub role: String,
    /// The signer's name recorded in the build signature's trusted comment.
    #[arg(long)]
    pub signer: Option<String>,
}

impl ValidityArgs {
    /// The library's values.
    pub fn resolve(&self) -> airlock::Result<(airlock::pack::Validity, airlock::pack::Signer)> {
        use airlock::time::{Timestamp, parse_duration, parse_window};
        let bad = |opt: &'static str, e: String| airlock::Error::invalid("option", opt, e);
        let base = build_time()?;
        let (mut not_before, mut expires) = (None, None);
        if let Some(w) = &self.window {
            let (a, b) = parse_window(w).map_err(|e| bad("--window", e.to_string()))?;
            (not_before, expires) = (Some(a), Some(b));
        }
        if let Some(t) = &self.not_before {
            not_before =
                Some(Timestamp::parse(t, false).map_err(|e| bad("--not-before", e.to_string()))?);
        }
        if let Some(t) = &self.expires {
            expires = Some(match Timestamp::parse(t, false) {
                Ok(t) => t,
                Err(_) => {
                    base.plus(parse_duration(t).map_err(|e| bad("--expires", e.to_string()))?)
                }
            });
        }
        if let Some(ch) = &self.channel
            && !airlock::manifest::valid_channel(ch)
        {
            return Err(bad("--channel", "1-64 of A-Z a-z 0-9 . _ -".into()));
        }
        // Signing a bundle every enclave will refuse is allowed (a recovery drill, a
        // reproducible build of an old bundle), but never silently.
        if let Some(end) = expires
            && end < Timestamp::now()
        {
            eprintln!(
                "warning: the bundle's window ends at {end}, already past: every enclave will \
                 refuse it unless its operator gives --allow-expired"
            );
        }
        let role = airlock::trust::policy::RoleName::new(&self.role)
            .map_err(|e| bad("--role", e.to_string()))?;
        Ok((
            airlock::pack::Validity {
                not_before,
                expires,
                channel: self.channel.clone(),
                sequence: self.sequence,
            },
            airlock::pack::Signer {
                role,
                name: self.signer.clone(),
                time: base,
            },
        ))
    }
}

/// The time a build is made at: `SOURCE_DATE_EPOCH` when set (reproducible builds),
/// else now.
pub fn build_time() -> airlock::Result<airlock::time::Timestamp> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(s) => Ok(airlock::time::Timestamp(s.parse().map_err(|_| {
            airlock::Error::invalid(
                "option",
                "SOURCE_DATE_EPOCH",
                format!("{s:?} is not a number"),
            )
        })?)),
        Err(_) => Ok(airlock::time::Timestamp::now()),
    }
}

/// Print warnings on stderr. They quote charts, manifests and upstream files, so they
/// are shown as every untrusted name is: no escape sequence reaches the terminal.
pub fn print_warnings(warnings: &[Warning]) {
    for w in warnings {
        eprintln!("warning: {}", airlock::escape::Untrusted(&w.to_string()));
    }
}

/// A multi-threaded runtime for the network work.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
