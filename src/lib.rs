//! airlock: one Kubernetes version hop as one signed, compressed, reproducible bundle.
//! This is the connected side; the enclave side is the `airlock-verify` crate, which this
//! one builds on and which never depends on this one.
//!
//! Data flows one way (see `docs/architecture.md`):
//!
//! ```text
//! catalog + hop manifest --resolve--> lock --upstream_fetch--> upstream_store --pack--> bundle
//!                                                               [air gap: airlock-verify]
//! ```
//!
//! The binary `airlock` only parses arguments and calls [`pipeline`] and the modules
//! below.

#![deny(missing_docs)]

pub mod addon;
pub mod addon_facts;
pub mod approve;
pub mod catalog;
pub mod checklist;
pub mod error;
pub mod etcd;
pub mod hop_manifest;
pub mod http;
pub mod lock;
pub mod net;
pub mod pack;
pub mod packages;
pub mod pipeline;
pub mod provenance;
pub mod report;
pub mod resolve;
pub mod timestamp;
pub mod upstream_fetch;
pub mod upstream_registry;
pub mod upstream_store;
pub mod yaml;

pub use error::{Error, Result, ResultExt};

// The shared foundations live in the enclave crate; named here so connected-side code
// reads `crate::digest::...` like any other module.
pub use airlock_verify::{
    cluster, digest, escape, fsutil, image_ref, layout, manifest, oci, paths, progress, sign, time,
    trust,
};
