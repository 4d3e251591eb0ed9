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
    /// Local Helm chart archives.
    #[serde(default)]
    pub charts: Vec<HopLocal>,
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
    /// Target below `--dest` [default: `addons/<file name>`].
    #[serde(default)]
    pub target: Option<SafeRelPath>,
    /// Mode [default: `"0644"`].
    #[serde(default)]
    pub mode: Option<Mode>,
    /// `manifest`, `chart`, `binary`, ... [default: `file`].
    #[serde(default)]
    pub kind: Option<FileKind>,
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
    /// Target [default: `manifests/<file name>` or `charts/<file name>`].
    #[serde(default)]
    pub target: Option<SafeRelPath>,
    /// Mode [default: `"0644"`].
    #[serde(default)]
    pub mode: Option<Mode>,
    /// Kind [default: `manifest` for documents, `chart` for charts].
    #[serde(default)]
    pub kind: Option<FileKind>,
}

pub(super) const PLACEHOLDER_SHA: &str =
    "0000000000000000000000000000000000000000000000000000000000000000";

impl HopManifest {
    /// Parse hop manifest text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let m: HopManifest = airlock_verify::versioned::parse::<crate::yaml::Yaml, _>(
            text,
            HOP_MANIFEST_FORMAT,
            "hop manifest",
            origin,
        )?;
        let bad = |r: String| Error::invalid("hop manifest", origin, r);
        if m.kind != "airlock-hop-manifest" {
            return Err(bad(format!(
                "kind {:?}: expected airlock-hop-manifest",
                m.kind
            )));
        }
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
        }
        for f in &m.files {
            if !(f.url.starts_with("https://") || f.url.starts_with("http://")) {
                return Err(bad(format!("file {}: url is not http(s)", f.url)));
            }
            check_sha_text(&f.sha256).map_err(|e| bad(format!("file {}: {e}", f.url)))?;
            url_file_name(&f.url).map_err(|e| bad(format!("file {}: {e}", f.url)))?;
        }
        for l in m.documents.iter().chain(&m.charts) {
            if let Some(s) = &l.sha256 {
                check_sha_text(s).map_err(|e| bad(format!("{}: {e}", l.path.display())))?;
            }
            if l.path.file_name().is_none() {
                return Err(bad(format!("{}: not a file path", l.path.display())));
            }
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

pub(super) fn check_sha_text(s: &str) -> std::result::Result<Sha256Digest, String> {
    if s == PLACEHOLDER_SHA {
        return Err(
            "sha256 is the all-zero placeholder of an example; put the file's real sha256".into(),
        );
    }
    Sha256Digest::from_hex(s)
        .map_err(|_| format!("sha256 {s:?}: expected 64 lower-case hex digits"))
}

pub(super) fn url_file_name(url: &str) -> std::result::Result<String, String> {
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

fn hash_local(path: &Path) -> Result<(Sha256Digest, u64)> {
    let f = std::fs::File::open(path).map_err(|e| Error::io("open", path, e))?;
    let mut r = HashingReader::new(f);
    std::io::copy(&mut r, &mut std::io::sink()).map_err(|e| Error::io("read", path, e))?;
    let (_, d, n) = r.finish();
    Ok((d, n))
}

pub(super) fn local_files(
    m: &HopManifest,
    manifest_path: &Path,
    lock_dir: Option<&Path>,
) -> Result<(Vec<LockedFile>, Vec<String>)> {
    let base = manifest_path.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    let mut applies = Vec::new();
    for (list, default_kind, default_dir) in [
        (&m.documents, FileKind::Manifest, "manifests"),
        (&m.charts, FileKind::Chart, "charts"),
    ] {
        for l in list {
            let full = if l.path.is_absolute() {
                l.path.clone()
            } else {
                base.join(&l.path)
            };
            let file_name = l
                .path
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            let (actual, size) = hash_local(&full)?;
            if let Some(s) = &l.sha256 {
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
            let target = match &l.target {
                Some(t) => t.clone(),
                None => SafeRelPath::new(&format!("{default_dir}/{file_name}"))?,
            };
            let kind = l.kind.unwrap_or(default_kind);
            if kind == FileKind::Manifest {
                applies.push(target.to_string());
            }
            let abs =
                std::path::absolute(&full).map_err(|e| Error::io("resolve path", &full, e))?;
            let path = match lock_dir {
                Some(d) => relative_to(d, &abs),
                None => abs,
            };
            out.push(LockedFile {
                name: l.name.clone().unwrap_or(file_name),
                source: FileSource::Path(path),
                sha256: actual,
                size: Some(size),
                target,
                mode: l.mode.unwrap_or(Mode(0o644)),
                kind: Some(kind),
            });
        }
    }
    Ok((out, applies))
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
    fn examples_follow_the_schema() {
        let calico = include_str!("../../manifests/examples/cni-calico.yaml");
        let e = format!(
            "{:?}",
            HopManifest::parse(calico, "cni-calico.yaml").unwrap_err()
        );
        assert!(e.contains("placeholder"), "{e}");
        let m = HopManifest::parse(&calico.replace(PLACEHOLDER_SHA, H), "cni-calico.yaml").unwrap();
        assert_eq!(m.images.len(), 3);
        let m = HopManifest::parse(
            include_str!("../../manifests/examples/csi-driver.yaml"),
            "csi",
        )
        .unwrap();
        assert_eq!(m.charts.len(), 1);
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
