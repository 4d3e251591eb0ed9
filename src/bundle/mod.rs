//! The bundle: the directory that crosses the air gap.
//!
//! ```text
//! BUNDLE/
//!   manifest.json            signed list of everything (format 1)
//!   signatures/<KEYID>.minisig   one minisign-format signature per signer
//!   SHA256SUMS               sha256 of manifest.json and payload.tar.zst (sha256sum -c)
//!   payload.tar.zst          zstd-compressed tar: an OCI image layout plus files/
//! ```
//!
//! See `docs/bundle-format.md` for the full description and `docs/manual-verify.md` for
//! checking a bundle with Debian's own tools.

pub mod manifest;
pub mod reader;
pub mod writer;
