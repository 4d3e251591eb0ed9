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
//! `transport` is the HTTP underneath (TLS roots, what is retried and after how long,
//! errors that say what to check). Each imports only the ones below it.

mod auth;
mod client;
mod transport;

pub use client::{BlobSource, BlobStream, EnclaveRegistry, ManifestRef, Mount};
pub use transport::{EnclaveRegistryOptions, Unreachable};
