//! The enclave registry client: just the part of the OCI distribution API that install,
//! publish and fetch need (check, mount, upload, push and read manifests, read blobs),
//! written out so a reviewer can read all of it, and so every answer the spec allows is
//! handled:
//!
//! - a cross-repository mount may answer `201 Created` (linked) or `202 Accepted` with an
//!   upload session (registries with mounts disabled, or a token without pull on the source
//!   repository): the blob is then uploaded into that session;
//! - `Location` headers may be absolute or relative and may carry query parameters;
//! - authentication is HTTP basic or a bearer token from the registry's token service
//!   (`WWW-Authenticate: Bearer realm=...`), with credentials from the docker config
//!   (`$DOCKER_CONFIG/config.json`, as `docker login` writes it).
//!
//! Idempotent requests (HEAD, GET, PUT of a manifest, a whole blob upload from a spooled
//! file) are retried with backoff when the registry cannot be reached or answers 5xx.
//!
//! By job, as oras-project/rust-oci-client divides its client: `client` has the
//! operations (blobs, mounts, uploads, manifests, listings), `auth` answers the
//! registry's basic or bearer challenge (credentials, token service, token cache) and
//! `transport` is the HTTP underneath (TLS roots, retries with backoff, errors that say
//! what to check).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::Url;

use crate::error::{Error, Result};

mod auth;
mod client;
mod transport;

pub use client::{BlobSource, BlobStream, ManifestRef, Mount};
pub use transport::Unreachable;

/// How to reach the enclave registry.
#[derive(Debug, Clone, Default)]
pub struct EnclaveRegistryOptions {
    /// Plain HTTP instead of HTTPS (test and lab registries only).
    pub insecure: bool,
    /// PEM files with extra CA certificates to trust.
    pub ca_files: Vec<PathBuf>,
    /// Attempts for each retried request (at least 1).
    pub attempts: u32,
    /// Delay before the first retry; doubled for each further one.
    pub backoff: Duration,
}

/// A client for one enclave registry.
pub struct EnclaveRegistry {
    http: reqwest::Client,
    base: Url,
    host: String,
    credentials: Option<(String, String)>,
    /// Bearer tokens by scope, and the realm/service the registry asked for.
    tokens: Mutex<HashMap<String, String>>,
    challenge: Mutex<Option<auth::Challenge>>,
    opts: EnclaveRegistryOptions,
    /// Set once a refused connection has been reported: concurrent requests retrying
    /// against a registry that is down say so once, not once per request and attempt.
    refused_reported: std::sync::atomic::AtomicBool,
}

impl EnclaveRegistry {
    /// A client for `host` (`HOST:PORT`). Reads CA files and docker credentials now.
    pub fn new(host: &str, opts: EnclaveRegistryOptions) -> Result<Self> {
        let scheme = if opts.insecure { "http" } else { "https" };
        let base = Url::parse(&format!("{scheme}://{host}/"))
            .map_err(|e| Error::invalid("registry address", host, e))?;
        let http = transport::http_client(host, &opts)?;
        Ok(EnclaveRegistry {
            http,
            base,
            host: host.to_string(),
            credentials: auth::docker_credentials(host),
            tokens: Mutex::new(HashMap::new()),
            challenge: Mutex::new(None),
            opts,
            refused_reported: Default::default(),
        })
    }

    /// `HOST:PORT`.
    pub fn host(&self) -> &str {
        &self.host
    }

    fn url(&self, path: &str) -> Result<Url> {
        self.base
            .join(path)
            .map_err(|e| Error::invalid("registry path", path, e))
    }
}
