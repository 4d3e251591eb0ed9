//! The lock: every artifact of one hop, pinned by digest or checksum.
//!
//! A lock is the only input `airlock build` needs. It is YAML (documented in
//! `docs/lock-format.md`), versioned by `format`, and read strictly: unknown fields and
//! unknown format versions are errors, because a field this version ignores might be one
//! the author relied on.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use airlock_verify::digest::{Sha256Digest, bare_hex};
use airlock_verify::image_ref::ImageRef;
use airlock_verify::manifest::{
    CatalogIdentity, FileKind, Hop, Mode, PackageRepository, Role, Step,
};
use airlock_verify::oci::Platform;
use airlock_verify::paths::SafeRelPath;

use crate::error::{Error, Result};
use crate::yaml::Yaml;

/// The lock format this version reads and writes.
pub const LOCK_FORMAT: u32 = 1;
/// Largest lock file accepted (a lock is a list, not data).
pub const MAX_LOCK_BYTES: u64 = 16 * 1024 * 1024;

/// A pinned list of artifacts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    /// Format version; must be [`LOCK_FORMAT`].
    pub format: u32,
    /// Always `airlock-lock`.
    pub kind: String,
    /// The Kubernetes hop this lock is for, when it is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hop: Option<Hop>,
    /// The version catalog the hop was resolved with (version and sha256 of its bytes);
    /// carried into the bundle manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<CatalogIdentity>,
    /// Free-text notes carried into the bundle manifest (e.g. "back-out set left out").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Container images, pinned by manifest or index digest.
    #[serde(default)]
    pub images: Vec<LockedImage>,
    /// Files: downloaded by URL or read from disk, pinned by sha256.
    #[serde(default)]
    pub files: Vec<LockedFile>,
    /// The ordered upgrade checklist, when the lock was resolved for a hop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checklist: Option<Vec<Step>>,
    /// What the catalog says about the hop, for the change report and preflight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facts: Option<HopFacts>,
    /// Package repositories that files of kind `package` and `package-metadata` mirror
    /// (`airlock resolve --packages`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub package_repositories: Vec<PackageRepository>,
    /// Upstream provenance: whether resolve checked the Kubernetes and add-on artifacts' Sigstore
    /// signatures, against which trusted root, and what it found for each. Absent in
    /// locks written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<LockProvenance>,
    /// The catch-up schedule of `plan --build --one-bundle --workers skip` (issue 26):
    /// which version the control plane and the workers run after each phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<crate::manifest::Schedule>,
    /// Which step of a two-step hop this lock is (`airlock resolve --two-step`, issue 27);
    /// absent for a normal hop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub two_step: Option<TwoStepLock>,
}

/// One step of a two-step hop: step 1 brings the new binaries with the control plane
/// emulating the from-minor, step 2 (no images, no files) lifts the emulation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwoStepLock {
    /// 1 or 2.
    pub step: u8,
    /// The minor the control plane emulates in step 1 (`"1.36"`).
    pub emulated_version: String,
    /// The components that carry `--emulated-version` in step 1.
    pub components: Vec<String>,
}

/// Whether and how resolve checked upstream signatures (issue 23).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockProvenance {
    /// `checked` (the default) or `not-checked` (`--no-provenance`).
    pub status: ProvenanceStatus,
    /// sha256 of the `trusted_root.json` bytes the signatures were checked against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_root_sha256: Option<Sha256Digest>,
    /// One entry per Kubernetes image and file and per add-on artifact, in lock order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<ArtifactProvenance>,
}

/// Whether resolve checked upstream signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProvenanceStatus {
    /// Checked against `trusted_root_sha256`.
    Checked,
    /// Resolved with `--no-provenance`.
    NotChecked,
}

/// What resolve found for one artifact: the signature that counted, or the exception.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArtifactProvenance {
    /// The image reference or the file's URL, as the lock names it.
    pub artifact: String,
    /// The image digest or the file's sha256 the signature covers.
    pub digest: Sha256Digest,
    /// The signature that passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<SignatureRecord>,
    /// Why it was let in without one (`--allow-unsigned NAME`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsigned_exception: Option<String>,
    /// Signatures found but not counted, each with the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_counted: Vec<String>,
}

/// Where a signature was found: the manifest's type, so lock and bundle say it alike.
pub use crate::manifest::ProvenanceSource;

/// The facts a passed signature proved, and where its evidence is kept in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureRecord {
    /// Where the signature was found.
    pub source: ProvenanceSource,
    /// The certificate's SAN.
    pub identity: String,
    /// The OIDC issuer in the certificate.
    pub issuer: String,
    /// The entry's global index in the transparency log.
    pub log_index: u64,
    /// Unix seconds, the signing time the log vouches for.
    pub integrated_time: i64,
    /// Hex SHA-256 of the log's key.
    pub log_id: String,
    /// sha256 of the Sigstore bundle document (kept in the content cache).
    pub bundle_sha256: Sha256Digest,
    /// sha256 of the simple-signing payload a `.sig` tag signature signs (kept too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_sha256: Option<Sha256Digest>,
    /// sha256 of the cosign public key (PEM) a keyed policy checked it with (kept too, so
    /// `build` carries the key the enclave re-checks with).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_sha256: Option<Sha256Digest>,
}

/// What the catalog says about a hop, recorded at resolve time so the build (and the
/// report and preflight inside the enclave) use the facts the hop was planned with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HopFacts {
    /// Every API version the target no longer serves (removed since 1.16 up to it).
    #[serde(default)]
    pub removed_apis: Vec<airlock_verify::cluster::RemovedApi>,
    /// kubelet may be this many minors older than the API server.
    pub kubelet_max_minors_older: u32,
    /// kube-proxy may be this many minors older than the API server.
    pub kube_proxy_max_minors_older: u32,
    /// The target minor's end of life, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_end_of_life: Option<String>,
    /// Catalog values used that are not confirmed from a primary source.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uncertain: Vec<String>,
    /// Per add-on: its images and where they were found, its charts, its compatibility
    /// checks against the target, and any exception.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addons: Vec<crate::addon_facts::AddonFacts>,
    /// Runbook steps left out because they have nothing to do, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub left_out_steps: Vec<LeftOut>,
    /// Which step of a two-step hop the lock is, for the report and preflight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub two_step: Option<TwoStepLock>,
    /// Step 1 of a two-step hop: the API versions the target minor itself removes. They
    /// stay served while the control plane emulates the from-minor and stop in step 2,
    /// whose lock lists them in `removed_apis`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed_apis_in_step2: Vec<airlock_verify::cluster::RemovedApi>,
}

/// An image pinned by digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedImage {
    /// Canonical reference, with registry and usually a tag:
    /// `registry.k8s.io/kube-apiserver:v1.30.2`. Mirrors change where it is fetched from,
    /// never this name.
    pub name: ImageRef,
    /// Digest of the manifest or image index the name resolved to.
    pub digest: Sha256Digest,
    /// Platforms to carry, e.g. `linux/amd64`. Defaults to `linux/amd64`.
    #[serde(default = "default_platforms")]
    pub platforms: Vec<Platform>,
    /// Why the image is in the hop (`target`, `backout`, `current-etcd`, `addon`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
}

fn default_platforms() -> Vec<Platform> {
    vec![Platform {
        os: "linux".into(),
        architecture: "amd64".into(),
        variant: None,
    }]
}

/// A file pinned by sha256, fetched from a URL or read from a local path.
///
/// On disk the source is one of two keys, `url:` or `path:`; in memory it is a
/// [`FileSource`], so code never meets a file with both or neither.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawLockedFile", into = "RawLockedFile")]
pub struct LockedFile {
    /// Short label for reports (`kubeadm`, `calico.yaml`).
    pub name: String,
    /// Where the content comes from.
    pub source: FileSource,
    /// sha256 of the content.
    pub sha256: Sha256Digest,
    /// Size in bytes, when known; checked while downloading.
    pub size: Option<u64>,
    /// Where it goes below the enclave's `--dest` directory.
    pub target: SafeRelPath,
    /// Permission bits.
    pub mode: Mode,
    /// What it is.
    pub kind: Option<FileKind>,
}

/// Where a locked file's content comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileSource {
    /// Downloaded (http or https).
    Url(String),
    /// A local file, relative to the lock file's directory (or absolute).
    Path(PathBuf),
}

impl FileSource {
    /// The source as a person reads it (the URL, or the path).
    pub fn describe(&self) -> String {
        match self {
            FileSource::Url(u) => u.clone(),
            FileSource::Path(p) => p.display().to_string(),
        }
    }
}

/// The on-disk shape of [`LockedFile`].
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLockedFile {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    path: Option<PathBuf>,
    #[serde(with = "bare_hex")]
    sha256: Sha256Digest,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    target: SafeRelPath,
    #[serde(default = "default_mode")]
    mode: Mode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kind: Option<FileKind>,
}

impl TryFrom<RawLockedFile> for LockedFile {
    type Error = String;
    fn try_from(r: RawLockedFile) -> std::result::Result<Self, String> {
        let source = match (r.url, r.path) {
            (Some(url), None) if url.starts_with("https://") || url.starts_with("http://") => {
                FileSource::Url(url)
            }
            (Some(url), None) => {
                return Err(format!("file {}: url {url:?} is not http(s)", r.name));
            }
            (None, Some(p)) => FileSource::Path(p),
            _ => {
                return Err(format!(
                    "file {}: give exactly one of `url` and `path`",
                    r.name
                ));
            }
        };
        Ok(LockedFile {
            name: r.name,
            source,
            sha256: r.sha256,
            size: r.size,
            target: r.target,
            mode: r.mode,
            kind: r.kind,
        })
    }
}

impl From<LockedFile> for RawLockedFile {
    fn from(f: LockedFile) -> Self {
        let (url, path) = match f.source {
            FileSource::Url(u) => (Some(u), None),
            FileSource::Path(p) => (None, Some(p)),
        };
        RawLockedFile {
            name: f.name,
            url,
            path,
            sha256: f.sha256,
            size: f.size,
            target: f.target,
            mode: f.mode,
            kind: f.kind,
        }
    }
}

fn default_mode() -> Mode {
    Mode(0o644)
}

impl Lock {
    /// An empty lock of the current format.
    pub fn new() -> Self {
        Lock {
            format: LOCK_FORMAT,
            kind: "airlock-lock".into(),
            hop: None,
            catalog: None,
            notes: Vec::new(),
            images: Vec::new(),
            files: Vec::new(),
            checklist: None,
            facts: None,
            package_repositories: Vec::new(),
            provenance: None,
            two_step: None,
            schedule: None,
        }
    }

    /// Parse and validate lock text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let expect = airlock_verify::versioned::Expect {
            what: "lock file",
            format: LOCK_FORMAT,
            kind: "airlock-lock",
        };
        let lock: Lock = airlock_verify::versioned::parse::<Yaml, _>(text, expect, origin)?;
        lock.validate(origin)?;
        Ok(lock)
    }

    /// Read, parse and validate a lock file.
    pub fn load(path: &Path) -> Result<(Self, Vec<u8>)> {
        let bytes = airlock_verify::fsutil::read_limited(path, MAX_LOCK_BYTES, "lock file")?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| Error::invalid("lock file", path.display(), "not UTF-8"))?;
        let lock = Lock::parse(text, &path.display().to_string())?;
        Ok((lock, bytes))
    }

    /// Serialize to YAML (deterministic: field order is fixed, lists are kept as given).
    pub fn to_yaml(&self) -> Result<String> {
        serde_saphyr::to_string(self).map_err(|e| Error::invalid("lock file", "<memory>", e))
    }

    /// Structural checks that serde alone cannot express.
    pub fn validate(&self, origin: &str) -> Result<()> {
        let bad = |reason: String| Error::invalid("lock file", origin, reason);
        if self.kind != "airlock-lock" {
            return Err(bad(format!("kind {:?}: expected airlock-lock", self.kind)));
        }
        if let Some(c) = &self.catalog
            && !crate::catalog::is_catalog_version(&c.version)
        {
            return Err(bad(format!(
                "catalog version {:?}: expected a short label of letters, digits, '.', '-' or '_'",
                c.version
            )));
        }
        let mut names = BTreeSet::new();
        for img in &self.images {
            if !names.insert(img.name.to_string()) {
                return Err(bad(format!("image {} is listed twice", img.name)));
            }
            // A chart is an OCI artifact with no platform; every image has some.
            if img.platforms.is_empty() != (img.role == Some(Role::Chart)) {
                return Err(bad(format!(
                    "image {}: platforms must be empty for role chart and given otherwise",
                    img.name
                )));
            }
            let set: BTreeSet<_> = img.platforms.iter().collect();
            if set.len() != img.platforms.len() {
                return Err(bad(format!(
                    "image {}: a platform is listed twice",
                    img.name
                )));
            }
            if let Some(d) = img.name.digest()
                && d != img.digest
            {
                return Err(bad(format!(
                    "image {}: the reference's digest differs from `digest: {}`",
                    img.name, img.digest
                )));
            }
        }
        let mut targets = BTreeSet::new();
        for f in &self.files {
            if airlock_verify::paths::is_reserved(&f.target) {
                return Err(bad(format!(
                    "target {}: {} is reserved for airlock's own state in the enclave",
                    f.target,
                    airlock_verify::paths::STATE_DIR
                )));
            }
            if !targets.insert(f.target.clone()) {
                return Err(bad(format!("target {} is used by two files", f.target)));
            }
        }
        // A target that is also a directory of another target cannot be installed.
        for t in &targets {
            let prefix = format!("{}/", t.as_str());
            if let Some(other) = targets.iter().find(|o| o.as_str().starts_with(&prefix)) {
                return Err(bad(format!(
                    "target {t} is a file but {other} needs it to be a directory"
                )));
            }
        }
        airlock_verify::manifest::check_package_repositories(
            &self.package_repositories,
            self.files.iter().map(|f| (&f.target, f.kind)),
        )
        .map_err(|e| bad(e.to_string()))?;
        if let Some(p) = &self.provenance {
            self.check_provenance(p).map_err(bad)?;
        }
        if let Some(t) = &self.two_step {
            self.check_two_step(t).map_err(bad)?;
        }
        Ok(())
    }

    /// A two-step lock is step 1 or 2 of an emulated minor; step 2 carries nothing to
    /// install (its whole point is a change with no new binaries).
    fn check_two_step(&self, t: &TwoStepLock) -> std::result::Result<(), String> {
        if crate::catalog::parse_minor_key(&t.emulated_version).is_none() {
            return Err(format!(
                "two_step: emulated_version {:?} is not a minor (\"1.N\")",
                t.emulated_version
            ));
        }
        match t.step {
            1 => Ok(()),
            2 if self.images.is_empty()
                && self.files.is_empty()
                && self.package_repositories.is_empty() =>
            {
                Ok(())
            }
            2 => Err("two_step: step 2 carries no images, files or packages".into()),
            n => Err(format!("two_step: step {n} is not 1 or 2")),
        }
    }

    /// Each provenance entry names an image (by reference and digest) or a file (by URL
    /// and sha256) of this lock, once, with a signature or an exception, never both.
    fn check_provenance(&self, p: &LockProvenance) -> std::result::Result<(), String> {
        if (p.status == ProvenanceStatus::Checked) != p.trusted_root_sha256.is_some()
            || (p.status == ProvenanceStatus::NotChecked && !p.artifacts.is_empty())
        {
            return Err(
                "provenance: a trusted_root_sha256 and artifacts go with status checked only"
                    .into(),
            );
        }
        let pinned: BTreeSet<(String, &Sha256Digest)> = self
            .images
            .iter()
            .map(|i| (i.name.to_string(), &i.digest))
            .chain(self.files.iter().filter_map(|f| match &f.source {
                FileSource::Url(u) => Some((u.clone(), &f.sha256)),
                FileSource::Path(_) => None,
            }))
            .collect();
        let mut seen = BTreeSet::new();
        for a in &p.artifacts {
            let what = format!("provenance of {}", a.artifact);
            if !pinned.contains(&(a.artifact.clone(), &a.digest)) {
                return Err(format!(
                    "{what}: no image or file of the lock with digest {}",
                    a.digest
                ));
            }
            if !seen.insert(&a.artifact) {
                return Err(format!("{what}: listed twice"));
            }
            if a.signature.is_some() == a.unsigned_exception.is_some() {
                return Err(format!(
                    "{what}: give exactly one of `signature` and `unsigned_exception`"
                ));
            }
        }
        Ok(())
    }
}

impl Default for Lock {
    fn default() -> Self {
        Self::new()
    }
}

/// A step the runbook leaves out because it has nothing to do, and why (recorded in the
/// lock's facts at resolve, read by the change report).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeftOut {
    /// The step's id.
    pub id: String,
    /// Why it is not in the runbook.
    pub reason: String,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small lock of one hop (also for other modules' tests).
    pub(crate) const SAMPLE: &str = r#"
format: 1
kind: airlock-lock
hop: { from: v1.29.6, to: v1.30.2 }
images:
  - name: registry.k8s.io/kube-apiserver:v1.30.2
    digest: sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
    platforms: [linux/amd64, linux/arm64]
files:
  - name: kubeadm
    url: https://dl.k8s.io/release/v1.30.2/bin/linux/amd64/kubeadm
    sha256: ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
    target: bin/v1.30.2/linux/amd64/kubeadm
    mode: "0755"
"#;

    #[test]
    fn parses_sample_and_round_trips() {
        let lock = Lock::parse(SAMPLE, "sample").unwrap();
        assert_eq!(lock.images[0].platforms.len(), 2);
        assert_eq!(lock.files[0].mode, Mode(0o755));
        let again = Lock::parse(&lock.to_yaml().unwrap(), "again").unwrap();
        assert_eq!(lock, again);
    }

    #[test]
    fn rejects_unknown_fields_and_versions() {
        let e = Lock::parse(&SAMPLE.replace("format: 1", "format: 2"), "x").unwrap_err();
        assert!(
            format!("{e:?}").contains("format 2 is not supported"),
            "{e:?}"
        );
        let e = Lock::parse(&format!("{SAMPLE}\nsurprise: 1\n"), "x").unwrap_err();
        assert!(format!("{e:?}").contains("surprise"), "{e:?}");
    }

    #[test]
    fn rejects_traversal_and_setuid() {
        let e = Lock::parse(&SAMPLE.replace("bin/v1.30.2", "../../etc"), "x").unwrap_err();
        assert!(format!("{e:?}").contains(".."), "{e:?}");
        let e = Lock::parse(&SAMPLE.replace("\"0755\"", "\"4755\""), "x").unwrap_err();
        assert!(format!("{e:?}").contains("setuid"), "{e:?}");
    }

    #[test]
    fn rejects_duplicate_targets_and_bad_digests() {
        let dup = SAMPLE.replace(
            "files:\n",
            "files:\n  - {name: a, path: a, sha256: ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad, target: bin/v1.30.2/linux/amd64/kubeadm}\n",
        );
        assert!(Lock::parse(&dup, "x").is_err());
        assert!(Lock::parse(&SAMPLE.replace("sha256:ba78", "sha256:BA78"), "x").is_err());
    }

    const PROVENANCE: &str = r#"
provenance:
  status: checked
  trusted_root_sha256: sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
  artifacts:
    - artifact: registry.k8s.io/kube-apiserver:v1.30.2
      digest: sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
      signature:
        source: sig-tag
        identity: krel-trust@k8s-releng-prod.iam.gserviceaccount.com
        issuer: https://accounts.google.com
        log_index: 7
        integrated_time: 1765000000
        log_id: c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d
        bundle_sha256: sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
        payload_sha256: sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
    - artifact: https://dl.k8s.io/release/v1.30.2/bin/linux/amd64/kubeadm
      digest: sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
      unsigned_exception: no signature found; carried anyway
"#;

    #[test]
    fn provenance_round_trips_and_must_name_the_locks_artifacts() {
        let lock = Lock::parse(&format!("{SAMPLE}{PROVENANCE}"), "sample").unwrap();
        let p = lock.provenance.as_ref().unwrap();
        assert_eq!(p.artifacts[0].signature.as_ref().unwrap().log_index, 7);
        assert_eq!(
            Lock::parse(&lock.to_yaml().unwrap(), "again").unwrap(),
            lock
        );
        // Old locks have no provenance section and still read (SAMPLE above).
        for (from, to, expected) in [
            (
                "log_index: 7",
                "log_index: 7\n        surprise: 1",
                "surprise",
            ),
            (
                "artifact: registry.k8s.io/kube-apiserver:v1.30.2",
                "artifact: registry.k8s.io/pause:3.9",
                "no image or file",
            ),
            (
                "      unsigned_exception: no signature found; carried anyway\n",
                "",
                "exactly one of",
            ),
            (
                "status: checked",
                "status: not-checked",
                "status checked only",
            ),
        ] {
            let text = format!("{SAMPLE}{}", PROVENANCE.replace(from, to));
            let e = Lock::parse(&text, "x").unwrap_err();
            assert!(format!("{e:?}").contains(expected), "{from} -> {e:?}");
        }
    }

    #[test]
    fn a_two_step_lock_is_step_1_or_2_and_step_2_carries_nothing() {
        let marker =
            "two_step: { step: 2, emulated_version: \"1.29\", components: [kube-apiserver] }\n";
        let e = Lock::parse(&format!("{SAMPLE}{marker}"), "x").unwrap_err();
        assert!(
            format!("{e:?}").contains("step 2 carries no images"),
            "{e:?}"
        );
        let empty = "format: 1\nkind: airlock-lock\n";
        let two = Lock::parse(&format!("{empty}{marker}"), "x").unwrap();
        assert_eq!(two.two_step.as_ref().unwrap().step, 2);
        let e = Lock::parse(
            &format!("{empty}{}", marker.replace("step: 2", "step: 3")),
            "x",
        )
        .unwrap_err();
        assert!(format!("{e:?}").contains("step 3 is not 1 or 2"), "{e:?}");
        let e = Lock::parse(
            &format!("{empty}{}", marker.replace("\"1.29\"", "\"129\"")),
            "x",
        )
        .unwrap_err();
        assert!(format!("{e:?}").contains("is not a minor"), "{e:?}");
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,400}") {
            let _ = Lock::parse(&s, "prop");
        }
    }
}
