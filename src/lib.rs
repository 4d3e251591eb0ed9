//! airlock: one Kubernetes version hop as one signed, compressed, reproducible bundle.
//!
//! Data flows one way (see `docs/architecture.md`):
//!
//! ```text
//! lock --fetch--> store --pack--> bundle --verify--> install --> enclave registry + files
//! ```
//!
//! The binaries `airlock` (connected side) and `airlock-verify` (inside the enclave) only
//! parse arguments and call into this library.

pub mod bundle;
pub mod catalog;
pub mod checklist;
pub mod cli;
pub mod digest;
pub mod error;
pub mod fetch;
pub mod http;
pub mod image_ref;
pub mod install;
pub mod lock;
pub mod oci;
pub mod paths;
pub mod progress;
pub mod readahead;
pub mod registry;
pub mod resolve;
pub mod store;
pub mod trust;

pub use error::{Error, Result};
