//! The bundle manifest: the signed list of everything in a bundle.
//!
//! It is written once, deterministically (fixed field order, sorted lists, no timestamps),
//! signed as exact bytes, and parsed only after a signature over those bytes has been
//! verified. The reader is strict: an unknown `format` or an unknown field is an error,
//! because a verifier that ignored a field it does not understand (say `expires`) would
//! be weaker than the signer intended.
//!
//! A signature proves who wrote the manifest, not that it makes sense: a key holder (or a
//! bug) can sign a manifest whose parts disagree. So every reader runs [`BundleManifest::
//! check_consistency`], which refuses any manifest where something said twice is said
//! differently (see `SECURITY.md`, "manifest consistency").

use serde::{Deserialize, Serialize};

use crate::digest::{Sha256Digest, bare_hex};
use crate::error::{Error, Result};
use crate::layout::{MANIFEST_FILE, PayloadPath};
use crate::versioned::{DocumentError, Expect, Json, parse_document};

// One file per section, each with its types and the checker that says what it guarantees;
// [`BundleManifest::check_consistency`] runs them in order.
mod checklist;
mod delta;
mod documents;
mod entries;
mod files;
mod identity;
mod images;
mod packages;
mod payload;
mod provenance;
mod schedule;

use crate::error::Checked;
pub use crate::error::FormatError;
pub use crate::layout::{FileKind, MAX_PARITY_STRIPE};
pub use checklist::{Phase, Step};
pub use delta::{BaseKind, Delta, DeltaBase, Omitted};
pub use documents::Document;
pub use entries::{Entry, tar_size_of};
pub use files::{FileRecord, Mode, ModeError, ModeReason};
pub use identity::{CatalogIdentity, Hop, valid_channel};
pub use images::{Carried, ImageRecord, Role, ServedAs};
pub use packages::{
    CarriedPackage, PackageFormat, PackageFormatError, PackageRepository,
    check_package_repositories, is_package_token,
};
pub use payload::{Parity, ParityScheme, PayloadInfo, VOLUME_HEAD_BYTES, Volume, stripe_lengths};
pub use provenance::{
    ArtifactEvidence, ArtifactKind, Evidence, Provenance, ProvenanceSource, SignatureEvidence,
};
pub use schedule::{Schedule, SchedulePhase, WorkersMode};

/// The manifest format this version writes and reads.
pub const BUNDLE_FORMAT: u32 = 1;
/// What a bundle manifest declares.
const MANIFEST: Expect = Expect {
    what: "bundle manifest",
    format: BUNDLE_FORMAT,
    kind: "airlock-bundle",
};
/// Largest manifest accepted. A real hop's manifest is tens of kilobytes; it costs about
/// 630 bytes per blob (its entry and its place in an image's blob list), so 16 MiB holds
/// some 25,000 blobs (2,000 images of 10 blobs made 12.6 MB; `BENCHMARKS.md`). `airlock
/// build` refuses to sign a larger one.
pub const MAX_MANIFEST_JSON_BYTES: u64 = 16 * 1024 * 1024;

/// The signed description of a bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleManifest {
    /// Must be [`BUNDLE_FORMAT`].
    pub format: u32,
    /// Always `airlock-bundle`.
    pub kind: ManifestKind,
    /// The hop, when the lock was for one.
    pub hop: Option<Hop>,
    /// The start of the change window: not valid before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<crate::time::Timestamp>,
    /// The end of the change window: not valid after this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<crate::time::Timestamp>,
    /// The cluster or site this bundle is for; sequences count per channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// This bundle's place in its channel's order; an enclave never installs a lower one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u64>,
    /// sha256 of the lock file this bundle was built from.
    #[serde(with = "bare_hex")]
    pub lock_sha256: Sha256Digest,
    /// The version catalog the lock was resolved with (absent in bundles of locks that do
    /// not record one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<CatalogIdentity>,
    /// Notes carried from the lock.
    pub notes: Vec<String>,
    /// The compressed payload file.
    pub payload: PayloadInfo,
    /// Every payload entry, in payload order.
    pub entries: Vec<Entry>,
    /// The images, sorted by name.
    pub images: Vec<ImageRecord>,
    /// The files, sorted by target.
    pub files: Vec<FileRecord>,
    /// The upgrade checklist from the lock, if any.
    pub checklist: Option<Vec<Step>>,
    /// Package repositories of which the files of kind `package` and `package-metadata`
    /// make a partial mirror (absent in bundles without packages).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub package_repositories: Vec<PackageRepository>,
    /// Signed documents beside the payload (the change report, the SBOM).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub documents: Vec<Document>,
    /// A one-way delta: the earlier bundles this one builds on and what it leaves out
    /// because they carried it (absent in full bundles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<Delta>,
    /// The upstream Sigstore evidence carried under `provenance/` (absent when resolve did
    /// not check it, and in bundles built before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
    /// The catch-up schedule from the lock (issue 26; absent in bundles of one hop and in
    /// those built before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
}

/// The document kind tag of a bundle manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ManifestKind {
    /// `airlock-bundle`
    #[serde(rename = "airlock-bundle")]
    AirlockBundle,
}

impl BundleManifest {
    /// Deterministic JSON bytes (pretty-printed so a change board can read and diff it).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        // Writing to a Vec cannot fail, and neither can serializing these types (every
        // map key is a string).
        let _ = self.write_to(&mut v);
        v
    }

    /// Write the same bytes as [`Self::to_bytes`] to `w` as they are made: a manifest of
    /// thousands of images is megabytes, and the builder need not hold it twice.
    pub fn write_to(&self, mut w: impl std::io::Write) -> std::io::Result<()> {
        serde_json::to_writer_pretty(&mut w, self)?;
        w.write_all(b"\n")
    }

    /// Parse bytes whose signature has already been verified, and check their consistency.
    pub fn parse_verified(bytes: &[u8]) -> Result<Self> {
        let bad = |r: DocumentError| Error::rejected(MANIFEST_FILE, r);
        let text = std::str::from_utf8(bytes).map_err(|_| bad(DocumentError::NotUtf8))?;
        let m: BundleManifest = parse_document::<Json, _>(text, MANIFEST).map_err(bad)?;
        m.check_consistency()?;
        Ok(m)
    }

    /// The entry for a payload path.
    pub fn entry(&self, path: &PayloadPath) -> Option<&Entry> {
        self.entries.iter().find(|e| &e.path == path)
    }

    /// Everything that must agree with everything else (see the module comment). Run by
    /// Everything that must agree with everything else (see the module comment). Run by
    /// the writer before signing and by every reader after the signature check.
    pub fn check_consistency(&self) -> Result<()> {
        self.consistency()
            .map_err(|reason| Error::format(MANIFEST_FILE, reason))
    }

    /// [`Self::check_consistency`]'s checks, one section at a time.
    fn consistency(&self) -> Checked {
        payload::check(&self.payload)?;
        let omitted = self.delta.as_ref().map_or(&[][..], |d| &d.omitted[..]);
        let contents = entries::check(&self.entries, self.payload.tar_size, omitted)?;
        images::check(&self.images, &contents)?;
        files::check(&self.files, &contents)?;
        packages::check_package_repositories(
            &self.package_repositories,
            self.files.iter().map(|f| (&f.target, f.kind)),
        )?;
        checklist::check(self.checklist.as_deref().unwrap_or_default())?;
        identity::check(
            self.not_before,
            self.expires,
            self.channel.as_deref(),
            self.sequence,
        )?;
        if let Some(d) = &self.delta {
            delta::check(d, |p| contents.holds(p))?;
        }
        documents::check(&self.documents)?;
        if let Some(s) = &self.schedule {
            s.check(self.hop.as_ref())
                .map_err(|reason| FormatError::Schedule { reason })?;
        }
        match &self.provenance {
            Some(p) => provenance::check(p, &self.images, &self.files),
            None => Ok(()),
        }
    }

    /// `SHA256SUMS` for this manifest (whose sha256 is `manifest_sha256`), with volumes
    /// flat or in their `volume-NNN/` directories.
    pub fn sums_text(&self, manifest_sha256: &Sha256Digest, volume_dirs: bool) -> String {
        let docs: Vec<_> = self.documents.iter().map(|d| (d.path, d.sha256)).collect();
        let evidence: Vec<_> = self
            .provenance
            .iter()
            .flat_map(|p| p.files())
            .map(|(path, e)| (path, e.sha256))
            .collect();
        crate::layout::sums_lines(
            manifest_sha256,
            &self.payload.sums_items(volume_dirs),
            &docs,
            &evidence,
        )
    }

    /// The omitted record of a path, in a delta.
    pub fn omitted(&self, path: &PayloadPath) -> Option<&Omitted> {
        delta::find(&self.delta.as_ref()?.omitted, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty() -> BundleManifest {
        crate::testdata::empty_manifest()
    }

    #[test]
    fn a_delta_names_its_bases_and_omits_only_what_it_does_not_carry() {
        let mut m = empty();
        let d = Sha256Digest::of(b"layer");
        m.delta = Some(Delta {
            bases: vec![DeltaBase {
                kind: BaseKind::Bundle,
                sha256: Sha256Digest::of(b"base"),
                hop: None,
            }],
            omitted: vec![Omitted {
                path: PayloadPath::Blob(d),
                size: 5,
                base: 0,
            }],
        });
        m.check_consistency().unwrap();
        let mut bad = m.clone();
        bad.delta.as_mut().unwrap().omitted[0].base = 1;
        let reason =
            |m: &BundleManifest| m.check_consistency().unwrap_err().format_error().cloned();
        let path = PayloadPath::Blob(d);
        let want = FormatError::OmittedBase {
            path,
            base: 1,
            bases: 1,
        };
        assert_eq!(reason(&bad), Some(want));
        let mut bad = m.clone();
        bad.delta.as_mut().unwrap().bases.clear();
        assert_eq!(reason(&bad), Some(FormatError::DeltaWithoutBases));
        let mut bad = m.clone();
        let path = PayloadPath::OciIndex;
        bad.delta.as_mut().unwrap().omitted[0].path = path;
        assert_eq!(
            reason(&bad),
            Some(FormatError::OmittedNotAddressed { path })
        );
        // Without a delta nothing may be left out: a blob must be in the payload.
        let mut full = empty();
        full.files = vec![FileRecord {
            name: "x".into(),
            target: crate::paths::SafeRelPath::new("bin/x").unwrap(),
            mode: Mode(0o755),
            sha256: d,
            size: 5,
            source: "x".into(),
            kind: None,
        }];
        let target = "bin/x".to_owned();
        let not_there = Box::new(FormatError::NotInPayload);
        let want = FormatError::FileCarried {
            target,
            reason: not_there,
        };
        assert_eq!(reason(&full), Some(want));
        let e = full.check_consistency().unwrap_err();
        assert_eq!(e.exit_code(), 3, "{e}");
        let text = e.to_string();
        assert!(text.ends_with("file bin/x: not in the payload"), "{text}");
        let mut delta = m.clone();
        delta.files = full.files.clone();
        delta.delta.as_mut().unwrap().omitted[0].path = PayloadPath::File(d);
        delta.check_consistency().unwrap();
    }
}
