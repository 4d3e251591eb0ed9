//! Verification: the only way to get a [`SignedBundle`] (signatures checked, manifest
//! parsed and consistent) and a [`VerifiedBundle`] (and then every byte of the payload
//! checked too). Their fields are private, so holding one is proof that the checks ran;
//! whatever install writes from the payload takes a `VerifiedBundle` and nothing else
//! (a re-install that finds everything in place writes nothing and needs only a
//! `SignedBundle`).
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

pub use open::{
    MAX_SIGNATURES, evaluate as evaluate_signatures, read_signature_pairs as read_signature_dir,
};

use std::path::{Path, PathBuf};

use crate::digest::Sha256Digest;
use crate::error::{BundleError, Error, Result};
use crate::manifest::BundleManifest;
use crate::time::Timestamp;
use crate::trust::PublicKey;
use crate::trust::policy::{Evaluation, TrustPolicy};
use crate::volumes::Depth;

pub use payload::{Check, VerifyingReader, VisitError, WalkSummary};

/// Refuse a key set in which one public key has two key ids, or one key id two public
/// keys: signers are counted by key id, so the first would let one secret key count
/// twice (as the policy file parser refuses a key listed twice). `label` names each key.
fn check_distinct_keys(keys: &[(String, &PublicKey)]) -> Result<()> {
    for (i, (a_label, a)) in keys.iter().enumerate() {
        for (b_label, b) in &keys[..i] {
            let same_bytes = a.as_bytes() == b.as_bytes();
            let same_id = a.key_id() == b.key_id();
            let reason = match (same_bytes, same_id) {
                (true, false) => format!(
                    "is the same public key as {b_label}, under another key id ({} and {}): \
                     one signer would count twice; trust each key once",
                    a.key_id(),
                    b.key_id()
                ),
                (false, true) => format!(
                    "has key id {} as {b_label} does, but another public key: signers are \
                     told apart by key id; trust only one of them",
                    a.key_id()
                ),
                _ => continue,
            };
            return Err(Error::invalid("trusted key", a_label, reason));
        }
    }
    Ok(())
}

/// What a bundle must satisfy to be trusted: the signatures a [`TrustPolicy`] asks for,
/// and its validity window at the time given (the way tough's `RepositoryLoader` takes an
/// `ExpirationEnforcement`).
#[derive(Debug, Clone)]
pub struct Policy {
    trust: TrustPolicy,
    now: Timestamp,
    allow_expired: bool,
}

impl Policy {
    /// `--trust KEYS --threshold N`. A threshold of 0 (which would accept unsigned
    /// bundles) or above the number of distinct keys (which could never be met) is a
    /// usage error.
    pub fn threshold(keys: Vec<PublicKey>, threshold: usize) -> Result<Self> {
        let labelled: Vec<_> = keys
            .iter()
            .map(|k| (format!("key {}", k.key_id()), k))
            .collect();
        check_distinct_keys(&labelled)?;
        Self::threshold_unchecked(keys, threshold)
    }

    /// [`Policy::threshold`] from `--trust` files: errors name the files.
    pub fn threshold_files(paths: &[std::path::PathBuf], threshold: usize) -> Result<Self> {
        let keys = paths
            .iter()
            .map(|p| {
                PublicKey::load(p)
                    .map_err(|e| Error::from(e).context("reading a trusted public key (--trust)"))
            })
            .collect::<Result<Vec<_>>>()?;
        let labelled: Vec<_> = paths
            .iter()
            .map(|p| p.display().to_string())
            .zip(&keys)
            .collect();
        check_distinct_keys(&labelled)?;
        Self::threshold_unchecked(keys, threshold)
    }

    fn threshold_unchecked(keys: Vec<PublicKey>, threshold: usize) -> Result<Self> {
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
        Ok(Self::new(TrustPolicy::threshold(keys, threshold)))
    }

    /// A trust policy, checked now, with expiry enforced.
    pub fn new(trust: TrustPolicy) -> Self {
        Policy {
            trust,
            now: Timestamp::now(),
            allow_expired: false,
        }
    }

    /// Check validity windows at `now` instead of the system clock.
    pub fn at(mut self, now: Timestamp) -> Self {
        self.now = now;
        self
    }

    /// Accept a bundle outside its window (recovery only; the receipt records it).
    pub fn allow_expired(mut self, allow: bool) -> Self {
        self.allow_expired = allow;
        self
    }

    /// The trust policy.
    pub fn trust(&self) -> &TrustPolicy {
        &self.trust
    }

    /// The time windows are checked at.
    pub fn now(&self) -> Timestamp {
        self.now
    }
}

/// One `signatures/*.minisig` file as it was read (counted or not), kept so the bundle
/// can travel on as the exact bytes that were checked (`publish`).
#[derive(Debug, Clone)]
pub struct SignatureFile {
    /// File name inside `signatures/` (UTF-8; may be any name ending in `.minisig`).
    pub name: String,
    /// Its content.
    pub text: String,
    /// Its RFC 3161 timestamp (`<STEM>.tsr` beside it), the bytes as read, if any.
    pub timestamp: Option<Vec<u8>>,
}

/// What a bundle says about where it belongs (from its signed manifest); the
/// enclave's state checks it against what is installed.
#[derive(Debug, Clone)]
pub struct BundleIdentity {
    /// The channel, if any.
    pub channel: Option<String>,
    /// Its sequence on that channel.
    pub sequence: Option<u64>,
    /// Its manifest's sha256.
    pub manifest_sha256: Sha256Digest,
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
    evaluation: Evaluation,
    policy_version: Option<u64>,
    policy_sha256: Option<Sha256Digest>,
    outside_window: Option<String>,
    tsa_time: Option<Timestamp>,
    clock: Timestamp,
    provenance: crate::trust::policy::ProvenanceRule,
    provenance_trusted_root: Option<Sha256Digest>,
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
        for d in &self.manifest.documents {
            check_listed(&self.dir, d.path.file_name(), d.size, d.sha256)?;
        }
        // The carried upstream evidence is checked like the documents: its facts are
        // signed, and its bytes must be the ones the manifest lists.
        if let Some(p) = &self.manifest.provenance {
            for (path, e) in p.files() {
                check_listed(&self.dir, &path, e.size, e.sha256)?;
            }
        }
        self.check_volumes(Depth::Quick)?;
        let summary = match payload::walk(&self, Check::Whole, &mut |_, r| r.drain(), on_progress) {
            Ok(s) => s,
            // A data volume damaged past its start fails the stream, naming it; read
            // every volume so the error names all the damage `repair` has to mend.
            Err(e) => return Err(self.check_volumes(Depth::Whole).err().unwrap_or(e)),
        };
        Ok(VerifiedBundle {
            signed: self,
            summary,
        })
    }

    /// Check every payload volume (data and parity) on its own, to `depth`: the error
    /// names each volume that is missing, truncated, corrupt, out of order or from
    /// another bundle. Nothing for a one-file payload.
    pub fn check_volumes(&self, depth: Depth) -> Result<()> {
        if self.manifest.payload.volumes.is_empty() {
            return Ok(());
        }
        let statuses = crate::volumes::check_all(&self.dir, &self.manifest.payload, depth, &|_| {});
        match crate::volumes::damage_error(&statuses) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Refuse a delta bundle for `what` (serve, export): they serve images from the
    /// payload, and a delta leaves blobs out.
    pub fn require_full(&self, what: &str) -> Result<()> {
        match &self.manifest.delta {
            Some(d) => Err(Error::Usage(format!(
                "{what} needs a full bundle: this is a delta that leaves out {} blobs and files \
                 its bases carried (install it on top of them, or build it without --since/--have)",
                d.omitted.len()
            ))),
            None => Ok(()),
        }
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

    /// Which signatures counted, which did not and why, and every rule's status.
    pub fn evaluation(&self) -> &Evaluation {
        &self.evaluation
    }

    /// Size of `manifest.json` in bytes.
    pub fn manifest_size(&self) -> u64 {
        self.manifest_size
    }

    /// Every signature file read, counted or not, sorted by name.
    pub fn signature_files(&self) -> &[SignatureFile] {
        &self.signature_files
    }

    /// The version and sha256 of the policy file it was checked against (none for
    /// `--trust`/`--threshold`).
    pub fn policy_identity(&self) -> (Option<u64>, Option<&Sha256Digest>) {
        (self.policy_version, self.policy_sha256.as_ref())
    }

    /// When `--allow-expired` let it through: why it was outside its window.
    pub fn outside_window(&self) -> Option<&str> {
        self.outside_window.as_deref()
    }

    /// The latest time valid timestamps of counted signatures prove (genTime minus
    /// accuracy); the window was checked at the later of this and the clock.
    pub fn tsa_time(&self) -> Option<Timestamp> {
        self.tsa_time
    }

    /// Whether the policy it was opened with requires upstream evidence.
    pub fn provenance_rule(&self) -> crate::trust::policy::ProvenanceRule {
        self.provenance
    }

    /// The sha256 of the Sigstore trusted root the policy it was opened with pins, if any.
    pub fn provenance_trusted_root(&self) -> Option<Sha256Digest> {
        self.provenance_trusted_root
    }

    /// The enclave clock the bundle was checked at.
    pub fn clock(&self) -> Timestamp {
        self.clock
    }

    /// A signed document (the change report, the SBOM), read whole (at most `limit`
    /// bytes) and checked against the size and sha256 the manifest lists.
    pub fn read_document(&self, path: crate::layout::DocPath, limit: u64) -> Result<Vec<u8>> {
        let d = self
            .manifest
            .documents
            .iter()
            .find(|d| d.path == path)
            .ok_or_else(|| Error::rejected(path.file_name(), BundleError::DocumentNotCarried))?;
        self.read_listed(path.file_name(), d.size, d.sha256, limit)
    }

    /// A carried evidence file (`provenance/...`), read whole (at most `limit` bytes) and
    /// checked against the size and sha256 the manifest's provenance section lists.
    pub fn read_evidence(
        &self,
        path: &str,
        e: &crate::manifest::Evidence,
        limit: u64,
    ) -> Result<Vec<u8>> {
        self.read_listed(path, e.size, e.sha256, limit)
    }

    fn read_listed(
        &self,
        name: &str,
        size: u64,
        sha256: Sha256Digest,
        limit: u64,
    ) -> Result<Vec<u8>> {
        if size > limit {
            return Err(Error::rejected(
                name,
                BundleError::DocumentTooLarge { limit },
            ));
        }
        let bytes = crate::fsutil::read_limited(&self.dir.join(name), limit, "bundle document")
            .map_err(|e| {
                let reason = crate::error::chain(&e);
                Error::rejected(name, BundleError::Unreadable { reason })
            })?;
        let got = Sha256Digest::of(&bytes);
        if bytes.len() as u64 != size || got != sha256 {
            return Err(Error::rejected(
                name,
                BundleError::DocumentMismatch {
                    declared_size: size,
                    declared_sha256: sha256,
                    found_size: bytes.len() as u64,
                    found_sha256: got,
                },
            ));
        }
        Ok(bytes)
    }

    /// Its channel, sequence and digest, for the enclave's rollback checks.
    pub fn identity(&self) -> BundleIdentity {
        BundleIdentity {
            channel: self.manifest.channel.clone(),
            sequence: self.manifest.sequence,
            manifest_sha256: self.manifest_sha256,
        }
    }
}

/// Walk a payload against a manifest without signatures: only for the fuzz targets in
/// fuzz/, which feed hostile payloads to the same checks `verify` runs, and this crate's
/// tests.
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub fn fuzz_walk(dir: &Path, manifest: BundleManifest) -> Result<WalkSummary> {
    let signed = SignedBundle {
        dir: dir.to_path_buf(),
        manifest,
        manifest_sha256: Sha256Digest::of(b""),
        manifest_size: 0,
        signature_files: Vec::new(),
        evaluation: Evaluation {
            counted: Vec::new(),
            not_counted: Vec::new(),
            rules: Vec::new(),
        },
        policy_version: None,
        policy_sha256: None,
        outside_window: None,
        tsa_time: None,
        clock: Timestamp(0),
        provenance: crate::trust::policy::ProvenanceRule::Optional,
        provenance_trusted_root: None,
    };
    payload::walk(&signed, Check::Whole, &mut |_, r| r.drain(), &|_| {})
}

/// A signed document must have its listed size and sha256 (streamed, never read whole).
/// A file beside the payload (a document, an evidence file) must have the size and sha256
/// the manifest lists.
fn check_listed(dir: &Path, name: &str, size: u64, sha256: Sha256Digest) -> Result<()> {
    let fail = |r: BundleError| Error::rejected(name, r);
    let unreadable = |e: std::io::Error| {
        fail(BundleError::Unreadable {
            reason: e.to_string(),
        })
    };
    let f = crate::fsutil::open_regular_io(&dir.join(name)).map_err(unreadable)?;
    let mut r = crate::digest::HashingReader::new(std::io::Read::take(f, size.saturating_add(1)));
    std::io::copy(&mut r, &mut std::io::sink()).map_err(unreadable)?;
    let (_, got, n) = r.finish();
    if n != size || got != sha256 {
        return Err(fail(BundleError::DocumentMismatch {
            declared_size: size,
            declared_sha256: sha256,
            found_size: n,
            found_sha256: got,
        }));
    }
    Ok(())
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
    /// mismatch is an error, never silently accepted bytes). The compressed file's own
    /// sha256 is not computed again ([`Check::Entries`]): every byte handed out is an
    /// entry checked against the signed manifest.
    pub fn walk<E: VisitError>(
        &self,
        visit: &mut dyn FnMut(&crate::manifest::Entry, &mut VerifyingReader<'_>) -> Result<(), E>,
        on_progress: &dyn Fn(u64),
    ) -> Result<WalkSummary, E> {
        payload::walk(&self.signed, Check::Entries, visit, on_progress)
    }
}

impl std::ops::Deref for VerifiedBundle {
    type Target = SignedBundle;
    fn deref(&self) -> &SignedBundle {
        &self.signed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A signed manifest may list a document of 2^64-1 bytes: the check reads what is
    /// there and refuses it, without overflowing the one-byte-more read bound.
    #[test]
    fn a_listed_size_of_u64_max_is_refused_not_overflowed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("doc"), b"short").unwrap();
        let e = check_listed(dir.path(), "doc", u64::MAX, Sha256Digest::of(b"short"));
        let e = e.unwrap_err();
        assert_eq!(e.exit_code(), 3, "{e}");
        assert!(e.to_string().contains("doc"), "{e}");
    }
}
