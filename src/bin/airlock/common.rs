//! Argument groups and error handling shared by the subcommands.

use std::path::PathBuf;
use std::process::ExitCode;

use airlock::http::HttpOptions;
use airlock::registry::RegistryOptions;

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
    /// for files. Repeatable.
    #[arg(long = "mirror", value_name = "FROM=TO")]
    pub mirror: Vec<String>,
    /// Ignore credentials in the docker config ($DOCKER_CONFIG/config.json).
    #[arg(long)]
    pub anonymous: bool,
}

impl NetArgs {
    /// Split mirrors into registry and URL rewrites.
    pub fn options(&self) -> anyhow::Result<(RegistryOptions, HttpOptions)> {
        let mut reg = Vec::new();
        let mut http = Vec::new();
        for m in &self.mirror {
            let (from, to) = m
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("--mirror {m:?}: expected FROM=TO"))?;
            if from.starts_with("http://") || from.starts_with("https://") {
                http.push((from.to_string(), to.to_string()));
            } else {
                reg.push((from.to_string(), to.to_string()));
            }
        }
        Ok((
            RegistryOptions {
                insecure: self.insecure_registry.clone(),
                ca_files: self.ca_file.clone(),
                mirrors: reg,
                anonymous: self.anonymous,
            },
            HttpOptions {
                mirrors: http,
                ca_files: self.ca_file.clone(),
            },
        ))
    }
}

/// Start logging to stderr.
pub fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("airlock={level},warn")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Print an error with its causes and map it to the documented exit code.
pub fn finish(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            let code = e
                .chain()
                .find_map(|c| c.downcast_ref::<airlock::Error>())
                .map(|e| e.exit_code())
                .unwrap_or(1);
            ExitCode::from(code as u8)
        }
    }
}

/// A multi-threaded runtime for the network work.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
