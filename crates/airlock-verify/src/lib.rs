//! airlock-verify: the enclave side of airlock.
//!
//! Everything that runs inside the air gap is in this crate and in the trust core it
//! builds on (`airlock-core`: format, trust, reader, re-exported here), and neither depends
//! on anything of the connected side. What `verify` needs is all in the core:
//!
//! ```text
//! bundle dir --verify::open--> SignedBundle --verify::payload--> VerifiedBundle
//!            --install--> enclave registry + files under --dest --> install log
//! ```
//!
//! - [`layout`] names every file of a bundle and every entry of its payload;
//! - [`manifest`] is the signed format, and checks that it agrees with itself;
//! - [`trust`] reads keys and minisign signatures and counts signers against a policy;
//! - [`verify`] opens a bundle (signatures first, then the manifest) and streams the
//!   payload once, checking every byte; only it can make a [`verify::VerifiedBundle`];
//! - [`install`] looks, read-only, at what the enclave lacks from a `SignedBundle`; when
//!   something is missing it takes a `VerifiedBundle` and writes to the registry
//!   ([`enclave_registry`]) and the destination directory (when nothing is, it writes nothing).
//!
//! The connected side (`airlock`) uses the shared foundations (digests, safe paths, image
//! references, the format types, signing) from here; data only flows one way.

// Every public item says what it is: this crate is read by the enclave's reviewers.
#![deny(missing_docs)]

pub mod artifact;
pub mod cli;
pub mod cluster;
pub mod enclave_registry;
pub mod error;
pub mod export;
pub mod install;
pub mod inventory;
pub mod media;
pub mod plan;
pub mod preflight;
pub mod progress;
pub mod provenance;
pub mod serve;
pub mod spool;
pub mod state;

pub use error::{Error, Result, ResultExt};

// The trust core (format, trust, reader) lives in `airlock-core`; re-exported so paths
// like `crate::manifest` keep working here, in the tests and in the fuzz crate.
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub use airlock_core::testdata;
pub use airlock_core::{
    digest, escape, fsutil, image_ref, layout, manifest, oci, paths, readahead, sign, structure,
    time, trust, verify, versioned,
};
