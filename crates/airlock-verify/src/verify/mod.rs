//! Verification: the only way to get a [`SignedBundle`] (signatures checked, manifest
//! parsed and consistent) and a [`VerifiedBundle`] (and then every byte of the payload
//! checked too). Their fields are private, so holding one is proof that the checks ran;
//! install takes a `VerifiedBundle` and nothing else.
//!
//! Order matters and is the security argument (see `SECURITY.md`):
//! 1. read `manifest.json` as bytes and check the signatures over exactly those bytes,
//!    against the [`Policy`], before parsing anything;
//! 2. parse the now-trusted manifest strictly and check that it agrees with itself;
//! 3. check `SHA256SUMS` against it;
//! 4. stream the payload once ([`payload`]): every tar entry must be the next one the
//!    manifest lists, with a canonical header and the listed size and sha256; nothing
//!    missing, extra or of another type; nothing after the end of the archive but zero
//!    padding; and the compressed file must hash to the listed sha256.
//!
//! Nothing here writes to disk.

mod open;
pub mod payload;

use std::path::{Path, PathBuf};

use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::manifest::BundleManifest;
use crate::trust::{PublicKey, VerifiedSignature};

pub use open::MAX_SIGNATURES;
pub use payload::{VerifyingReader, WalkSummary};

/// What a bundle must satisfy to be trusted: today, `threshold` distinct signers among
/// `keys`.
#[derive(Debug, Clone)]
pub struct Policy {
    keys: Vec<PublicKey>,
    threshold: usize,
}

impl Policy {
    /// A policy of `threshold` distinct signatures from `keys`. A threshold of 0 (which
    /// would accept unsigned bundles) or above the number of distinct keys (which could
    /// never be met) is a usage error.
    pub fn threshold(keys: Vec<PublicKey>, threshold: usize) -> Result<Self> {
        let distinct: std::collections::BTreeSet<_> = keys.iter().map(|k| k.key_id()).collect();
        if threshold == 0 {
            return Err(Error::Usage(
                "--threshold 0 would accept an unsigned bundle; it must be at least 1".into(),
            ));
        }
        if threshold > distinct.len() {
            return Err(Error::Usage(format!(
                "--threshold {threshold} can never be met with {} distinct trusted key(s)",
                distinct.len()
            )));
        }
        Ok(Policy { keys, threshold })
    }

    /// The trusted keys.
    pub fn keys(&self) -> &[PublicKey] {
        &self.keys
    }

    /// Signatures required.
    pub fn required(&self) -> usize {
        self.threshold
    }
}

/// A signature file that was present but did not count, and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Rejected {
    /// `signatures/<name>.minisig`.
    pub file: String,
    /// Why it did not count.
    pub reason: String,
}

/// One `signatures/*.minisig` file as it was read (counted or not), kept so the bundle
/// can travel on as the exact bytes that were checked (`publish`).
#[derive(Debug, Clone)]
pub struct SignatureFile {
    /// File name inside `signatures/` (UTF-8; may be any name ending in `.minisig`).
    pub name: String,
    /// Its content.
    pub text: String,
}

/// A bundle whose signatures met the policy and whose manifest is consistent. The
/// payload has not been read yet.
#[derive(Debug)]
pub struct SignedBundle {
    dir: PathBuf,
    manifest: BundleManifest,
    manifest_sha256: Sha256Digest,
    manifest_size: u64,
    signature_files: Vec<SignatureFile>,
    signatures: Vec<VerifiedSignature>,
    rejected: Vec<Rejected>,
}

impl SignedBundle {
    /// Open `dir`: read and check the signatures against `policy`, then parse the
    /// manifest and check `SHA256SUMS`. Reads nothing else.
    pub fn open(dir: &Path, policy: &Policy) -> Result<Self> {
        open::open(dir, policy)
    }

    /// Stream the whole payload and check every byte; consumes the signed bundle and
    /// returns the verified one.
    pub fn verify(self, on_progress: &dyn Fn(u64)) -> Result<VerifiedBundle> {
        let summary = payload::walk(&self, &mut |_, r| r.drain(), on_progress)?;
        Ok(VerifiedBundle {
            signed: self,
            summary,
        })
    }

    /// The bundle directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The parsed, consistent manifest.
    pub fn manifest(&self) -> &BundleManifest {
        &self.manifest
    }

    /// sha256 of `manifest.json`: the bundle's identity.
    pub fn manifest_sha256(&self) -> &Sha256Digest {
        &self.manifest_sha256
    }

    /// Size of `manifest.json` in bytes.
    pub fn manifest_size(&self) -> u64 {
        self.manifest_size
    }

    /// Every signature file read, counted or not, sorted by name.
    pub fn signature_files(&self) -> &[SignatureFile] {
        &self.signature_files
    }

    /// The signatures that counted (one per distinct trusted key).
    pub fn signatures(&self) -> &[VerifiedSignature] {
        &self.signatures
    }

    /// Signature files present that did not count, with the reason.
    pub fn rejected(&self) -> &[Rejected] {
        &self.rejected
    }
}

/// A bundle whose signatures met the policy and whose every payload byte was checked.
#[derive(Debug)]
pub struct VerifiedBundle {
    signed: SignedBundle,
    summary: WalkSummary,
}

impl VerifiedBundle {
    /// What was checked.
    pub fn summary(&self) -> &WalkSummary {
        &self.summary
    }

    /// Stream the payload again, handing each entry's content to `visit` through a
    /// reader that re-checks it (the files may have changed since verification: a
    /// mismatch is an error, never silently accepted bytes).
    pub fn walk(
        &self,
        visit: &mut dyn FnMut(&crate::manifest::Entry, &mut VerifyingReader<'_>) -> Result<()>,
        on_progress: &dyn Fn(u64),
    ) -> Result<WalkSummary> {
        payload::walk(&self.signed, visit, on_progress)
    }
}

impl std::ops::Deref for VerifiedBundle {
    type Target = SignedBundle;
    fn deref(&self) -> &SignedBundle {
        &self.signed
    }
}
