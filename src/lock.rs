//! The lock: every artifact of one hop, pinned by digest or checksum.
//!
//! A lock is the only input `airlock build` needs. It is YAML (documented in
//! `docs/lock-format.md`), versioned by `format`, and read strictly: unknown fields and
//! unknown format versions are errors, because a field this version ignores might be one
//! the author relied on.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::digest::{Sha256Digest, bare_hex};
use crate::error::{Error, Result};
use crate::image_ref::ImageRef;
use crate::paths::SafeRelPath;

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
    pub checklist: Option<serde_json::Value>,
}

/// One Kubernetes version step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hop {
    /// The version the cluster runs now, e.g. `v1.29.6`.
    pub from: String,
    /// The version the hop goes to, e.g. `v1.30.2`.
    pub to: String,
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
    /// Why the image is in the hop (`target`, `backout`, `addon`, ...); informational.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

fn default_platforms() -> Vec<Platform> {
    vec![Platform {
        os: "linux".into(),
        architecture: "amd64".into(),
        variant: None,
    }]
}

/// A file pinned by sha256, fetched from a URL or read from a local path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedFile {
    /// Short label for reports (`kubeadm`, `calico.yaml`).
    pub name: String,
    /// Where to download it from (http or https).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// A local file, relative to the lock file's directory (or absolute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// sha256 of the content, 64 hex digits.
    #[serde(with = "bare_hex")]
    pub sha256: Sha256Digest,
    /// Size in bytes, when known; checked while downloading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Where it goes below the enclave's `--dest` directory.
    pub target: SafeRelPath,
    /// Permission bits, as an octal string (`"0755"`).
    #[serde(default = "default_mode")]
    pub mode: Mode,
    /// What it is (`binary`, `manifest`, `chart`, `document`, ...); informational.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

fn default_mode() -> Mode {
    Mode(0o644)
}

/// Unix permission bits; written as an octal string. Only `0o777` bits are allowed:
/// a bundle never installs setuid, setgid or sticky files.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mode(pub u32);

impl fmt::Debug for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}
impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}
impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let v = u32::from_str_radix(s, 8).map_err(|_| format!("mode {s:?} is not octal"))?;
        if v & !0o777 != 0 {
            return Err(format!(
                "mode {s:?}: only permission bits (0777) are allowed, not setuid/setgid/sticky"
            ));
        }
        Ok(Mode(v))
    }
}
impl Serialize for Mode {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
impl<'de> Deserialize<'de> for Mode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An OCI platform: `os/architecture[/variant]`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Platform {
    /// `linux`
    pub os: String,
    /// `amd64`, `arm64`, ...
    pub architecture: String,
    /// `v8`, `v7`, ...
    pub variant: Option<String>,
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}
impl fmt::Debug for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
impl FromStr for Platform {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok = |p: &str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        };
        if !(2..=3).contains(&parts.len()) || !parts.iter().all(|p| ok(p)) {
            return Err(format!(
                "platform {s:?}: expected os/architecture[/variant], e.g. linux/amd64"
            ));
        }
        Ok(Platform {
            os: parts[0].into(),
            architecture: parts[1].into(),
            variant: parts.get(2).map(|v| v.to_string()),
        })
    }
}
impl Serialize for Platform {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
impl<'de> Deserialize<'de> for Platform {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Lock {
    /// An empty lock of the current format.
    pub fn new() -> Self {
        Lock {
            format: LOCK_FORMAT,
            kind: "airlock-lock".into(),
            hop: None,
            notes: Vec::new(),
            images: Vec::new(),
            files: Vec::new(),
            checklist: None,
        }
    }

    /// Parse and validate lock text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        // Check the version before the full schema, so a lock from a newer airlock says
        // "format 2 is newer than this airlock" rather than "unknown field".
        #[derive(Deserialize)]
        struct Probe {
            format: Option<serde_json::Value>,
        }
        let probe: Probe =
            serde_saphyr::from_str(text).map_err(|e| Error::invalid("lock file", origin, e))?;
        match probe.format {
            Some(serde_json::Value::Number(n)) if n.as_u64() == Some(LOCK_FORMAT as u64) => {}
            Some(v) => {
                return Err(Error::invalid(
                    "lock file",
                    origin,
                    format!(
                        "format {v} is not supported (this airlock reads format {LOCK_FORMAT})"
                    ),
                ));
            }
            None => {
                return Err(Error::invalid("lock file", origin, "missing `format: 1`"));
            }
        }
        let lock: Lock =
            serde_saphyr::from_str(text).map_err(|e| Error::invalid("lock file", origin, e))?;
        lock.validate(origin)?;
        Ok(lock)
    }

    /// Read, parse and validate a lock file.
    pub fn load(path: &Path) -> Result<(Self, Vec<u8>)> {
        let bytes = read_limited(path, MAX_LOCK_BYTES, "lock file")?;
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
        let mut names = BTreeSet::new();
        for img in &self.images {
            if !names.insert(img.name.to_string()) {
                return Err(bad(format!("image {} is listed twice", img.name)));
            }
            if img.platforms.is_empty() {
                return Err(bad(format!("image {}: platforms is empty", img.name)));
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
            match (&f.url, &f.path) {
                (Some(_), Some(_)) | (None, None) => {
                    return Err(bad(format!(
                        "file {}: give exactly one of `url` and `path`",
                        f.name
                    )));
                }
                (Some(url), None)
                    if !(url.starts_with("https://") || url.starts_with("http://")) =>
                {
                    return Err(bad(format!("file {}: url {url:?} is not http(s)", f.name)));
                }
                _ => {}
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
        Ok(())
    }
}

impl Default for Lock {
    fn default() -> Self {
        Self::new()
    }
}

/// Read a whole (small) file, refusing anything larger than `limit` before reading it.
pub fn read_limited(path: &Path, limit: u64, what: &'static str) -> Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| Error::io("open", path, e))?;
    let mut buf = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io("read", path, e))?;
    if buf.len() as u64 > limit {
        return Err(Error::invalid(
            what,
            path.display(),
            format!("larger than the {limit}-byte limit"),
        ));
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
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
        assert!(e.to_string().contains("format 2 is not supported"), "{e}");
        let e = Lock::parse(&format!("{SAMPLE}\nsurprise: 1\n"), "x").unwrap_err();
        assert!(e.to_string().contains("surprise"), "{e}");
    }

    #[test]
    fn rejects_traversal_and_setuid() {
        let e = Lock::parse(&SAMPLE.replace("bin/v1.30.2", "../../etc"), "x").unwrap_err();
        assert!(e.to_string().contains(".."), "{e}");
        let e = Lock::parse(&SAMPLE.replace("\"0755\"", "\"4755\""), "x").unwrap_err();
        assert!(e.to_string().contains("setuid"), "{e}");
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

    proptest::proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,400}") {
            let _ = Lock::parse(&s, "prop");
        }
    }
}
