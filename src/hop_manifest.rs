//! Hop manifests (`--with FILE`): the user's additions to a hop (add-on images, files,
//! local documents and charts), and the locked files they turn into.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use crate::digest::{HashingReader, Sha256Digest};
use crate::error::{Error, Result};
use crate::image_ref::ImageRef;
use crate::lock::{FileSource, LockedFile};
use crate::manifest::{FileKind, Mode, Role};
use crate::oci::Platform;
use crate::paths::SafeRelPath;

/// Largest hop manifest accepted.
pub const MAX_HOP_MANIFEST_BYTES: u64 = 1024 * 1024;
/// The hop manifest format this version reads.
pub const HOP_MANIFEST_FORMAT: u32 = 1;

/// A hop manifest (`--with FILE`): user components added to the hop.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HopManifest {
    /// Must be 1.
    pub format: u32,
    /// Always `airlock-hop-manifest`.
    pub kind: String,
    /// Short name (`calico`).
    #[serde(default)]
    pub name: Option<String>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Extra images, by tag.
    #[serde(default)]
    pub images: Vec<HopImage>,
    /// Files by URL and sha256.
    #[serde(default)]
    pub files: Vec<HopFile>,
    /// Local manifests and documents.
    #[serde(default)]
    pub documents: Vec<HopLocal>,
    /// Helm charts: local archives, from an OCI registry, or from a chart repository.
    #[serde(default)]
    pub charts: Vec<HopChart>,
    /// The Kubernetes minors the add-on supports, from its documentation.
    #[serde(default)]
    pub compat: Option<HopCompat>,
}

/// A Helm chart: exactly one of `path`, `oci` or `repo`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HopChart {
    /// A local `.tgz`, relative to the hop manifest's directory.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// `oci://HOST/REPOSITORY:VERSION`, pinned by `digest`.
    #[serde(default)]
    pub oci: Option<String>,
    /// A chart repository URL (the directory of its `index.yaml`), with `chart`,
    /// `version` and `sha256`.
    #[serde(default)]
    pub repo: Option<String>,
    /// The chart's name in the repository.
    #[serde(default)]
    pub chart: Option<String>,
    /// The chart version in the repository.
    #[serde(default)]
    pub version: Option<String>,
    /// `sha256:...` of the OCI manifest.
    #[serde(default)]
    pub digest: Option<String>,
    /// sha256 of the archive (required for `repo`, checked for `path`).
    #[serde(default)]
    pub sha256: Option<String>,
    /// Label [default: the file name].
    #[serde(default)]
    pub name: Option<String>,
    /// Target of a `.tgz` (default: `charts/<file name>`).
    #[serde(default)]
    pub target: Option<SafeRelPath>,
    /// Mode of a `.tgz` [default: `"0644"`].
    #[serde(default)]
    pub mode: Option<Mode>,
    /// Kind of a local `.tgz` [default: `chart`].
    #[serde(default)]
    pub kind: Option<FileKind>,
    /// `helm template ...` output of this chart, relative to the hop manifest: its images
    /// and APIs are read too.
    #[serde(default)]
    pub rendered: Option<PathBuf>,
    /// Who must have signed it upstream (`oci`: as an image; `repo`: the archive as a
    /// file). A local `path` chart has no upstream to check.
    #[serde(default)]
    pub provenance: Option<HopProvenance>,
}

/// Where a chart comes from, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChartSource {
    /// A local archive.
    Local(PathBuf),
    /// An OCI artifact, by tag, pinned to a manifest digest.
    Oci {
        /// `HOST/REPOSITORY:VERSION` (without `oci://`).
        reference: ImageRef,
        /// The manifest digest.
        digest: Sha256Digest,
    },
    /// A chart repository entry.
    Repo {
        /// The repository URL, without a trailing `/`.
        url: String,
        /// The chart name.
        chart: String,
        /// The version.
        version: String,
        /// The archive's sha256.
        sha256: Sha256Digest,
    },
}

impl HopChart {
    /// What `label` shows this chart as in errors.
    pub fn label(&self) -> String {
        if let Some(p) = &self.path {
            return p.display().to_string();
        }
        if let Some(o) = &self.oci {
            return o.clone();
        }
        format!(
            "{} {} from {}",
            self.chart.as_deref().unwrap_or("?"),
            self.version.as_deref().unwrap_or("?"),
            self.repo.as_deref().unwrap_or("?")
        )
    }

    /// The checked source.
    pub fn source(&self) -> std::result::Result<ChartSource, String> {
        let set = [self.path.is_some(), self.oci.is_some(), self.repo.is_some()];
        if set.iter().filter(|x| **x).count() != 1 {
            return Err("give exactly one of path, oci and repo".into());
        }
        let only = |fields: &[(&str, bool)]| -> std::result::Result<(), String> {
            match fields.iter().find(|(_, given)| *given) {
                Some((f, _)) => Err(format!("{f} does not apply here")),
                None => Ok(()),
            }
        };
        if let Some(p) = &self.path {
            only(&[
                ("chart", self.chart.is_some()),
                ("version", self.version.is_some()),
                ("digest", self.digest.is_some()),
            ])?;
            if p.file_name().is_none() {
                return Err("not a file path".into());
            }
            return Ok(ChartSource::Local(p.clone()));
        }
        if let Some(o) = &self.oci {
            only(&[
                ("chart", self.chart.is_some()),
                ("version", self.version.is_some()),
                ("sha256", self.sha256.is_some()),
                ("target", self.target.is_some()),
                ("mode", self.mode.is_some()),
                ("kind", self.kind.is_some()),
            ])?;
            let rest = o
                .strip_prefix("oci://")
                .ok_or_else(|| "oci must start with oci://".to_string())?;
            let reference = ImageRef::parse(rest).map_err(|e| e.reason)?;
            if reference.tag.is_none() || reference.digest.is_some() {
                return Err(
                    "oci: give oci://HOST/REPOSITORY:VERSION and the digest in `digest:`".into(),
                );
            }
            let d = self
                .digest
                .as_deref()
                .ok_or_else(|| "digest is required (airlock addon pin prints it)".to_string())?;
            let digest = Sha256Digest::parse(d)
                .map_err(|_| format!("digest {d:?}: expected sha256:<64 hex digits>"))?;
            if digest.hex() == PLACEHOLDER_SHA {
                return Err("digest is the all-zero placeholder of an example; put the real digest (airlock addon pin)".into());
            }
            return Ok(ChartSource::Oci { reference, digest });
        }
        let url = self.repo.clone().unwrap_or_default();
        only(&[
            ("digest", self.digest.is_some()),
            ("kind", self.kind.is_some()),
        ])?;
        if !(url.starts_with("https://") || url.starts_with("http://"))
            || url.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(format!("repo {url:?} is not an http(s) URL"));
        }
        let (Some(chart), Some(version)) = (&self.chart, &self.version) else {
            return Err("repo needs chart and version".into());
        };
        if chart.is_empty() || version.is_empty() || chart.contains('/') {
            return Err("chart and version must be plain names".into());
        }
        let sha = self.sha256.as_deref().ok_or_else(|| {
            "sha256 of the chart archive is required (airlock addon pin prints it)".to_string()
        })?;
        Ok(ChartSource::Repo {
            url: url.trim_end_matches('/').to_string(),
            chart: chart.clone(),
            version: version.clone(),
            sha256: check_sha_text(sha)?,
        })
    }
}

/// The Kubernetes minors an add-on supports, as its documentation says.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HopCompat {
    /// Oldest supported minor, `"1.28"`.
    #[serde(default)]
    pub min: Option<Minor>,
    /// Newest supported minor, `"1.31"`.
    #[serde(default)]
    pub max: Option<Minor>,
    /// Where the support matrix is published (http(s) URL).
    pub source: String,
}

/// A Kubernetes minor written `"1.30"` (quoted: YAML reads 1.30 as the number 1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Minor(pub u32);

impl<'de> Deserialize<'de> for Minor {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        match &v {
            serde_json::Value::String(s) => crate::catalog::parse_minor_key(s)
                .map(Minor)
                .ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        "minor {s:?}: expected \"1.N\", e.g. \"1.30\""
                    ))
                }),
            _ => Err(serde::de::Error::custom(format!(
                "minor {v}: quote it, e.g. \"1.30\" (YAML reads 1.30 as the number 1.3)"
            ))),
        }
    }
}

/// An extra image.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HopImage {
    /// Reference with a tag (and optionally the digest it must resolve to).
    pub name: ImageRef,
    /// Platforms to carry [default: `--platform`].
    #[serde(default)]
    pub platforms: Option<Vec<Platform>>,
    /// Role in the lock [default: `addon`].
    #[serde(default)]
    pub role: Option<Role>,
    /// Who must have signed it upstream (checked at resolve, like Kubernetes' own).
    #[serde(default)]
    pub provenance: Option<HopProvenance>,
}

/// An add-on artifact's provenance policy: the keyless signer (certificate identity and
/// OIDC issuer, each compared exactly) or a cosign public key (ECDSA P-256 PEM, a path
/// relative to the hop manifest). No patterns: a signer's identity is one fixed string
/// (a CI workflow URI at a ref, a service account), and an unanchored pattern is the
/// usual way such a check lets a stranger in.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HopProvenance {
    /// The certificate's SAN (email or URI), with `issuer`.
    #[serde(default)]
    pub identity: Option<String>,
    /// The OIDC issuer URL, with `identity`.
    #[serde(default)]
    pub issuer: Option<String>,
    /// `cosign.pub`, instead of `identity` and `issuer`.
    #[serde(default)]
    pub key: Option<PathBuf>,
}

impl HopProvenance {
    /// Exactly `identity` + `issuer` (an http(s) URL), or `key`.
    pub fn check(&self) -> std::result::Result<(), String> {
        match (&self.identity, &self.issuer, &self.key) {
            (Some(i), Some(u), None) => {
                if i.is_empty() || i.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(format!("provenance: identity {i:?} is empty or has spaces"));
                }
                if !(u.starts_with("https://") || u.starts_with("http://")) {
                    return Err(format!("provenance: issuer {u:?} is not an http(s) URL"));
                }
                Ok(())
            }
            (None, None, Some(k)) if k.file_name().is_some() => Ok(()),
            _ => Err(
                "provenance: give identity and issuer (keyless), or key (a cosign public key file)"
                    .into(),
            ),
        }
    }
}

/// A file downloaded by URL.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HopFile {
    /// Label [default: the URL's file name].
    #[serde(default)]
    pub name: Option<String>,
    /// http(s) URL.
    pub url: String,
    /// 64 hex digits.
    pub sha256: String,
    /// Size in bytes, when known.
    #[serde(default)]
    pub size: Option<u64>,
    /// Target below `--dest` (default: `addons/<file name>`).
    #[serde(default)]
    pub target: Option<SafeRelPath>,
    /// Mode [default: `"0644"`].
    #[serde(default)]
    pub mode: Option<Mode>,
    /// `manifest`, `chart`, `binary`, ... [default: `file`].
    #[serde(default)]
    pub kind: Option<FileKind>,
    /// Who must have signed it upstream (`<url>.sig`, and `<url>.cert` when keyless).
    #[serde(default)]
    pub provenance: Option<HopProvenance>,
}

/// A local file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HopLocal {
    /// Path, relative to the hop manifest's directory.
    pub path: PathBuf,
    /// Label [default: the file name].
    #[serde(default)]
    pub name: Option<String>,
    /// Expected sha256 (64 hex digits); computed when absent.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Target (default: `manifests/<file name>` or `charts/<file name>`).
    #[serde(default)]
    pub target: Option<SafeRelPath>,
    /// Mode [default: `"0644"`].
    #[serde(default)]
    pub mode: Option<Mode>,
    /// Kind [default: `manifest` for documents, `chart` for charts].
    #[serde(default)]
    pub kind: Option<FileKind>,
}

pub(crate) const PLACEHOLDER_SHA: &str =
    "0000000000000000000000000000000000000000000000000000000000000000";

impl HopManifest {
    /// Parse hop manifest text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let expect = airlock_verify::versioned::Expect {
            what: "hop manifest",
            format: HOP_MANIFEST_FORMAT,
            kind: "airlock-hop-manifest",
        };
        let m: HopManifest =
            airlock_verify::versioned::parse::<crate::yaml::Yaml, _>(text, expect, origin)?;
        let bad = |r: String| Error::invalid("hop manifest", origin, r);
        let mut names = BTreeSet::new();
        for i in &m.images {
            if i.name.tag.is_none() {
                return Err(bad(format!("image {}: give a tag (name:tag)", i.name)));
            }
            if !names.insert(i.name.to_string()) {
                return Err(bad(format!("image {} is listed twice", i.name)));
            }
            if let Some(p) = &i.platforms
                && p.is_empty()
            {
                return Err(bad(format!("image {}: platforms is empty", i.name)));
            }
            if let Some(p) = &i.provenance {
                p.check()
                    .map_err(|e| bad(format!("image {}: {e}", i.name)))?;
            }
        }
        for f in &m.files {
            if !(f.url.starts_with("https://") || f.url.starts_with("http://")) {
                return Err(bad(format!("file {}: url is not http(s)", f.url)));
            }
            check_sha_text(&f.sha256).map_err(|e| bad(format!("file {}: {e}", f.url)))?;
            url_file_name(&f.url).map_err(|e| bad(format!("file {}: {e}", f.url)))?;
            if let Some(p) = &f.provenance {
                p.check().map_err(|e| bad(format!("file {}: {e}", f.url)))?;
            }
        }
        for l in &m.documents {
            if let Some(s) = &l.sha256 {
                check_sha_text(s).map_err(|e| bad(format!("{}: {e}", l.path.display())))?;
            }
            if l.path.file_name().is_none() {
                return Err(bad(format!("{}: not a file path", l.path.display())));
            }
        }
        for c in &m.charts {
            c.source()
                .map_err(|e| bad(format!("chart {}: {e}", c.label())))?;
            if let (Some(_), Some(s)) = (&c.path, &c.sha256) {
                check_sha_text(s).map_err(|e| bad(format!("chart {}: {e}", c.label())))?;
            }
            match (&c.provenance, &c.path) {
                (Some(_), Some(_)) => {
                    return Err(bad(format!(
                        "chart {}: provenance: a local chart has no upstream signature to check",
                        c.label()
                    )));
                }
                (Some(p), None) => p
                    .check()
                    .map_err(|e| bad(format!("chart {}: {e}", c.label())))?,
                (None, _) => {}
            }
        }
        if let Some(c) = &m.compat {
            if c.min.is_none() && c.max.is_none() {
                return Err(bad("compat: give min, max or both".into()));
            }
            if let (Some(a), Some(b)) = (c.min, c.max)
                && a > b
            {
                return Err(bad("compat: min is above max".into()));
            }
            if !(c.source.starts_with("https://") || c.source.starts_with("http://")) {
                return Err(bad(
                    "compat: source must be the http(s) URL of the add-on's support matrix".into(),
                ));
            }
        }
        if let Some(n) = &m.name
            && !crate::manifest::valid_channel(n)
        {
            return Err(bad(format!(
                "name {:?}: 1-64 of A-Z a-z 0-9 . _ - (it names the add-on in errors, the lock and --allow-incompatible)",
                crate::escape::Untrusted(n).to_string()
            )));
        }
        Ok(m)
    }

    /// Read and parse a hop manifest file.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = crate::fsutil::read_limited(path, MAX_HOP_MANIFEST_BYTES, "hop manifest")?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| Error::invalid("hop manifest", path.display(), "not UTF-8"))?;
        Self::parse(text, &path.display().to_string())
    }
}

pub(crate) fn check_sha_text(s: &str) -> std::result::Result<Sha256Digest, String> {
    if s == PLACEHOLDER_SHA {
        return Err(
            "sha256 is the all-zero placeholder of an example; put the file's real sha256".into(),
        );
    }
    Sha256Digest::from_hex(s)
        .map_err(|_| format!("sha256 {s:?}: expected 64 lower-case hex digits"))
}

pub(crate) fn url_file_name(url: &str) -> std::result::Result<String, String> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let name = path.rsplit('/').next().unwrap_or("");
    if name.is_empty() || name == "." || name == ".." || path.matches('/').count() < 3 {
        return Err(format!("url {url:?} does not end in a file name"));
    }
    Ok(name.to_string())
}

/// `target` written relative to `base` (both made absolute first); `target` itself when
/// they share no prefix.
pub fn relative_to(base: &Path, target: &Path) -> PathBuf {
    let (Ok(base), Ok(target)) = (std::path::absolute(base), std::path::absolute(target)) else {
        return target.to_path_buf();
    };
    let b: Vec<Component> = base.components().collect();
    let t: Vec<Component> = target.components().collect();
    let common = b.iter().zip(&t).take_while(|(x, y)| x == y).count();
    if common == 0 {
        return target;
    }
    let mut out = PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for c in &t[common..] {
        out.push(c.as_os_str());
    }
    out
}

pub(crate) fn hash_local(path: &Path) -> Result<(Sha256Digest, u64)> {
    let f = crate::fsutil::open_regular(path, "hop manifest file")?;
    let mut r = HashingReader::new(f);
    std::io::copy(&mut r, &mut std::io::sink()).map_err(|e| Error::io("read", path, e))?;
    let (_, d, n) = r.finish();
    Ok((d, n))
}

/// A local file of a hop manifest (a document or a chart archive).
pub struct LocalSpec<'a> {
    /// As written, relative to the hop manifest's directory (or absolute).
    pub path: &'a Path,
    /// Label [default: the file name].
    pub name: Option<&'a str>,
    /// Expected sha256, checked when given.
    pub sha256: Option<&'a str>,
    /// Target (default: `DEFAULT_DIR/<file name>`).
    pub target: Option<&'a SafeRelPath>,
    /// Mode [default: 0644].
    pub mode: Option<Mode>,
    /// Kind.
    pub kind: FileKind,
    /// `manifests` or `charts`.
    pub default_dir: &'static str,
}

/// Hash a local file (checking its pinned sha256) and lock it; returns the locked file
/// and the file's full path.
pub fn local_file(
    spec: &LocalSpec<'_>,
    manifest_path: &Path,
    lock_dir: Option<&Path>,
) -> Result<(LockedFile, PathBuf)> {
    let base = manifest_path.parent().unwrap_or(Path::new("."));
    let full = if spec.path.is_absolute() {
        spec.path.to_path_buf()
    } else {
        base.join(spec.path)
    };
    let file_name = spec
        .path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let (actual, size) = hash_local(&full)?;
    if let Some(s) = spec.sha256 {
        let expected = check_sha_text(s)
            .map_err(|e| Error::invalid("hop manifest", manifest_path.display(), e))?;
        if expected != actual {
            return Err(Error::digest_mismatch(
                full.display().to_string(),
                expected.to_string(),
                actual.to_string(),
            ));
        }
    }
    let target = match spec.target {
        Some(t) => t.clone(),
        None => SafeRelPath::new(&format!("{}/{file_name}", spec.default_dir))?,
    };
    let abs = std::path::absolute(&full).map_err(|e| Error::io("resolve path", &full, e))?;
    let path = match lock_dir {
        Some(d) => relative_to(d, &abs),
        None => abs,
    };
    let locked = LockedFile {
        name: spec.name.map(str::to_string).unwrap_or(file_name),
        source: FileSource::Path(path),
        sha256: actual,
        size: Some(size),
        target,
        mode: spec.mode.unwrap_or(Mode(0o644)),
        kind: Some(spec.kind),
    };
    Ok((locked, full))
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn hop_manifest_parsing() {
        let ok = format!(
            "format: 1\nkind: airlock-hop-manifest\nimages:\n  - name: docker.io/calico/node:v3.28.1\nfiles:\n  - url: https://example.com/x/calico.yaml\n    sha256: {H}\n"
        );
        let m = HopManifest::parse(&ok, "t").unwrap();
        assert_eq!(m.images.len(), 1);
        for (bad, needle) in [
            (ok.replace("format: 1", "format: 3"), "format 3"),
            (ok.replace("kind: airlock-hop-manifest", "kind: x"), "kind"),
            (ok.replace(":v3.28.1", ""), "tag"),
            (ok.replace(H, PLACEHOLDER_SHA), "placeholder"),
            (format!("{ok}surprise: 1\n"), "surprise"),
        ] {
            let e = format!("{:?}", HopManifest::parse(&bad, "t").unwrap_err());
            assert!(e.contains(needle), "{needle}: {e}");
        }
    }

    #[test]
    fn a_provenance_entry_is_an_identity_with_its_issuer_or_a_key() {
        let image = |p: &str| {
            format!(
                "format: 1\nkind: airlock-hop-manifest\nimages:\n  - name: docker.io/acme/a:v1\n    provenance:\n{p}"
            )
        };
        let keyless = image(
            "      identity: https://github.com/acme/a/.github/workflows/r.yaml@refs/tags/v1\n      issuer: https://token.actions.githubusercontent.com\n",
        );
        assert!(
            HopManifest::parse(&keyless, "t").unwrap().images[0]
                .provenance
                .is_some()
        );
        assert!(HopManifest::parse(&image("      key: cosign.pub\n"), "t").is_ok());
        for (bad, needle) in [
            (image("      identity: a@b\n"), "give identity and issuer"),
            (
                image("      identity: a@b\n      issuer: x\n      key: k.pub\n"),
                "give identity and issuer",
            ),
            (
                image("      identity: a@b\n      issuer: accounts.google.com\n"),
                "not an http(s) URL",
            ),
            (image("      regexp: .*\n"), "regexp"),
            (
                "format: 1\nkind: airlock-hop-manifest\ncharts:\n  - path: c.tgz\n    provenance:\n      key: k.pub\n"
                    .to_string(),
                "a local chart has no upstream signature",
            ),
        ] {
            let e = format!("{:?}", HopManifest::parse(&bad, "t").unwrap_err());
            assert!(e.contains(needle), "{needle}: {e}");
        }
    }

    #[test]
    fn examples_follow_the_schema() {
        let calico = include_str!("../manifests/examples/cni-calico.yaml");
        let e = format!(
            "{:?}",
            HopManifest::parse(calico, "cni-calico.yaml").unwrap_err()
        );
        assert!(e.contains("placeholder"), "{e}");
        let m = HopManifest::parse(&calico.replace(PLACEHOLDER_SHA, H), "cni-calico.yaml").unwrap();
        assert!(
            m.images.is_empty(),
            "calico's images come from its manifest"
        );
        assert_eq!(m.compat.as_ref().and_then(|c| c.max), Some(Minor(30)));
        let csi = include_str!("../manifests/examples/csi-driver.yaml");
        let e = format!("{:?}", HopManifest::parse(csi, "csi").unwrap_err());
        assert!(e.contains("placeholder"), "{e}");
        let m = HopManifest::parse(&csi.replace(PLACEHOLDER_SHA, H), "csi").unwrap();
        assert_eq!(m.charts.len(), 1);
        assert!(matches!(m.charts[0].source(), Ok(ChartSource::Repo { .. })));
    }

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative_to(Path::new("/a/b"), Path::new("/a/c/d")),
            PathBuf::from("../c/d")
        );
        assert_eq!(
            relative_to(Path::new("/a"), Path::new("/a/x")),
            PathBuf::from("x")
        );
    }

    proptest::proptest! {
        #[test]
        fn hop_manifest_parse_never_panics(s in "\\PC{0,300}") {
            let _ = HopManifest::parse(&s, "prop");
        }
    }
}
