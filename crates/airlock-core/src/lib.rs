//! airlock-core: the trust core of airlock.
//!
//! What a security reviewer must read to trust `airlock-verify verify`, and nothing else:
//! the signed bundle format, the trust checks and the bundle reader. No HTTP stack, no
//! async runtime, no CLI parser (a test checks that with `cargo tree`). Both binaries use
//! it: the connected side to write bundles, the enclave side to read them.
//!
//! ```text
//! bundle dir --verify::open--> SignedBundle --verify::payload--> VerifiedBundle
//! ```
//!
//! - [`layout`] names every file of a bundle and every entry of its payload;
//! - [`manifest`] is the signed format, and checks that it agrees with itself
//!   ([`versioned`], [`structure`], [`image_ref`], [`oci`] are the parts it is made of);
//! - [`trust`] reads keys and minisign signatures and counts signers against a policy;
//! - [`sign`] is the part that signs (the connected side's bundles, the enclave's state
//!   and receipts), kept apart from the checks: the verify path uses none of it;
//! - [`verify`] opens a bundle (signatures first, then the manifest) and streams the
//!   payload once ([`volumes`] when it is cut into volumes), checking every byte; only it
//!   can make a [`verify::VerifiedBundle`];
//! - [`error`] holds the crate's error and every typed reason a bundle is refused for; it
//!   imports only what names an artifact, never a check, so nothing imports upward;
//! - the ground floor: [`key_format`] (minisign's key format, shared by [`trust`] and
//!   [`sign`]), [`digest`], [`escape`], [`paths`], [`fsutil`], [`time`], [`readahead`].

#![deny(missing_docs)]

pub mod digest;
pub mod error;
pub mod escape;
pub mod fsutil;
pub mod image_ref;
pub mod key_format;
pub mod layout;
pub mod manifest;
pub mod oci;
pub mod paths;
pub mod readahead;
pub mod sign;
pub mod structure;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod testdata;
pub mod time;
pub mod trust;
pub mod verify;
pub mod versioned;
pub mod volumes;

pub use error::{Error, Result, ResultExt};
