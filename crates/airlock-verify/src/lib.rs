//! airlock-verify: the enclave side of airlock.
//!
//! Everything that runs inside the air gap is in this crate, and this crate depends on
//! nothing of the connected side, so a security reviewer can read all of it in a day:
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
//!   ([`registry`]) and the destination directory (when nothing is, it writes nothing).
//!
//! The connected side (`airlock`) uses the shared foundations (digests, safe paths, image
//! references, the format types, signing) from here; data only flows one way.

pub mod artifact;
pub mod cli;
pub mod cluster;
pub mod digest;
pub mod error;
pub mod escape;
pub mod export;
pub mod fsutil;
pub mod image_ref;
pub mod install;
pub mod inventory;
pub mod layout;
pub mod manifest;
pub mod media;
pub mod oci;
pub mod paths;
pub mod preflight;
pub mod progress;
pub mod readahead;
pub mod registry;
pub mod serve;
pub mod spool;
pub mod state;
pub mod structure;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod testdata;
pub mod time;
pub mod trust;
pub mod verify;
pub mod versioned;

pub use error::{Error, Result, ResultExt};
