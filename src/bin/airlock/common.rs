//! Argument groups and error handling shared by the subcommands.

use std::path::PathBuf;

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

/// A multi-threaded runtime for the network work.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
