//! Helm chart archives (`.tgz`), read as a stream: gzip, then tar, entry by entry, never
//! unpacked to disk. Only `Chart.yaml` and `values.yaml` of the chart and of its
//! subcharts (directories or nested archives under `charts/`) are read; everything else
//! is skipped. Limits: the unpacked size, the number of entries, the size of each file
//! read, the nesting of archives. An entry that is a link, a device, an absolute path or
//! climbs out with `..` makes the archive invalid (Helm refuses those too).
//!
//! What the chart says about its images, without rendering a template:
//! - the `artifacthub.io/images` annotation of `Chart.yaml` (a YAML list of
//!   `{name, image}`), an explicit list;
//! - `values.yaml` entries under an `image:` key that are a plain reference with a tag or
//!   digest, or a map of `registry`, `repository` (or `image`), `tag` and `digest`.
//!   Entries that leave the tag to the templates (or hold template text) are reported as
//!   not determined, with their path, rather than guessed.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path};

use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::image_ref::ImageRef;

/// Largest chart archive accepted.
pub const MAX_CHART_BYTES: u64 = 64 * 1024 * 1024;
/// Most bytes the archive (and the archives in it) may unpack to.
pub const MAX_UNPACKED_BYTES: u64 = 256 * 1024 * 1024;
/// Most entries, all archives together.
pub const MAX_ENTRIES: usize = 20_000;
/// Largest `Chart.yaml`.
pub const MAX_CHART_YAML_BYTES: u64 = 1024 * 1024;
/// Largest `values.yaml`.
pub const MAX_VALUES_BYTES: u64 = 8 * 1024 * 1024;
/// Archives inside archives (`charts/sub-1.0.0.tgz`), at most this deep.
const MAX_NESTING: usize = 3;
/// The annotation that lists a chart's images (Artifact Hub).
pub const IMAGES_ANNOTATION: &str = "artifacthub.io/images";

/// An image a chart names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartImage {
    /// The reference.
    pub image: ImageRef,
    /// Where: the annotation entry's name, or the values path (`controller.image`).
    pub at: String,
}

/// A values entry that looks like an image but does not say which one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undetermined {
    /// The values path.
    pub at: String,
    /// Why it is not determined.
    pub reason: String,
}

/// One chart (the archive's own, or a subchart).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartMeta {
    /// Its directory in the archive (`ingress-nginx`, `ingress-nginx/charts/sub`).
    pub dir: String,
    /// `name` of Chart.yaml.
    pub name: String,
    /// `version` of Chart.yaml.
    pub version: String,
    /// `appVersion`, when given.
    pub app_version: Option<String>,
    /// `kubeVersion`, when given.
    pub kube_version: Option<String>,
    /// From the `artifacthub.io/images` annotation.
    pub annotated: Vec<ChartImage>,
    /// From values.yaml.
    pub values: Vec<ChartImage>,
    /// Image entries of values.yaml that are not determined.
    pub undetermined: Vec<Undetermined>,
}

/// What a chart archive says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartInfo {
    /// The chart itself.
    pub root: ChartMeta,
    /// Its subcharts, by directory.
    pub subcharts: Vec<ChartMeta>,
}

impl ChartInfo {
    /// The chart and its subcharts.
    pub fn all(&self) -> impl Iterator<Item = &ChartMeta> {
        std::iter::once(&self.root).chain(&self.subcharts)
    }
}

/// Read a chart archive file (a regular file, at most [`MAX_CHART_BYTES`]).
pub fn read_chart_file(path: &Path, origin: &str) -> Result<ChartInfo> {
    let f = airlock_verify::fsutil::open_regular(path, "Helm chart")?;
    let len = f.metadata().map_err(|e| Error::io("stat", path, e))?.len();
    if len > MAX_CHART_BYTES {
        return Err(Error::invalid(
            "Helm chart",
            origin,
            format!("larger than {MAX_CHART_BYTES} bytes"),
        ));
    }
    read_chart(std::io::BufReader::new(f), origin)
}

/// The files read from the archive, by chart directory.
#[derive(Default)]
struct Found {
    chart_yaml: BTreeMap<String, Vec<u8>>,
    values: BTreeMap<String, Vec<u8>>,
    entries: usize,
}

/// Read a chart archive (`.tgz`) from `reader`; `origin` names it in errors.
pub fn read_chart<R: Read>(reader: R, origin: &str) -> Result<ChartInfo> {
    read_chart_within(reader, origin, MAX_UNPACKED_BYTES)
}

/// [`read_chart`] with another limit on the unpacked bytes.
fn read_chart_within<R: Read>(reader: R, origin: &str, max_unpacked: u64) -> Result<ChartInfo> {
    let bad = |r: String| Error::invalid("Helm chart", origin, r);
    let unpacked = Unpacked {
        total: Cell::new(0),
        limit: max_unpacked,
    };
    let mut found = Found::default();
    let mut reader = reader;
    walk(&mut reader, "", 0, &unpacked, &mut found).map_err(bad)?;
    let root_dir = found
        .chart_yaml
        .keys()
        .find(|d| !d.contains('/'))
        .cloned()
        .ok_or_else(|| bad("not a Helm chart: no Chart.yaml in a top-level directory".into()))?;
    if found
        .chart_yaml
        .keys()
        .any(|d| !d.contains('/') && d != &root_dir)
    {
        return Err(bad("more than one chart at the top level".into()));
    }
    let mut root = None;
    let mut subcharts = Vec::new();
    for (dir, bytes) in &found.chart_yaml {
        let is_root = dir == &root_dir;
        // Helm reads subcharts from `<chart>/charts/<name>` only.
        let is_sub = dir.starts_with(&format!("{root_dir}/"))
            && dir
                .rsplit_once('/')
                .is_some_and(|(parent, _)| parent.ends_with("/charts"));
        if !is_root && !is_sub {
            continue;
        }
        let meta = chart_meta(dir, bytes, found.values.get(dir).map(Vec::as_slice))
            .map_err(|e| bad(format!("{dir}: {e}")))?;
        if is_root {
            root = Some(meta);
        } else {
            subcharts.push(meta);
        }
    }
    let root = root.ok_or_else(|| bad("not a Helm chart".into()))?;
    Ok(ChartInfo { root, subcharts })
}

/// Unpacked bytes so far, across nested archives, and the most allowed.
struct Unpacked {
    total: Cell<u64>,
    limit: u64,
}

/// Counts unpacked bytes and stops past the limit.
struct Counted<'a, R> {
    inner: R,
    unpacked: &'a Unpacked,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let t = self.unpacked.total.get() + n as u64;
        self.unpacked.total.set(t);
        if t > self.unpacked.limit {
            return Err(std::io::Error::other(format!(
                "unpacks to more than {} bytes",
                self.unpacked.limit
            )));
        }
        Ok(n)
    }
}

/// A member path, checked: relative, no `..`, no empty name, UTF-8.
fn member_path(p: &Path) -> std::result::Result<String, String> {
    let s = p
        .to_str()
        .ok_or_else(|| format!("entry {:?}: the path is not UTF-8", p.display()))?;
    let shown = crate::escape::Untrusted(s);
    let mut parts = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => parts.push(n.to_str().unwrap_or_default()),
            Component::CurDir => {}
            _ => {
                return Err(format!(
                    "entry {shown}: absolute paths and `..` are not allowed in a chart"
                ));
            }
        }
    }
    if parts.is_empty() {
        return Err(format!("entry {shown}: empty path"));
    }
    Ok(parts.join("/"))
}

// `dyn Read`: a nested archive is read through the outer one's entry, and a generic
// reader type would nest without end.
fn walk(
    reader: &mut dyn Read,
    prefix: &str,
    depth: usize,
    unpacked: &Unpacked,
    found: &mut Found,
) -> std::result::Result<(), String> {
    let gz = flate2::read::MultiGzDecoder::new(reader);
    let mut ar = tar::Archive::new(Counted {
        inner: gz,
        unpacked,
    });
    let entries = ar
        .entries()
        .map_err(|e| format!("{prefix}not a gzip-compressed tar archive: {e}"))?;
    for entry in entries {
        let mut e = entry.map_err(|e| format!("{prefix}not a readable tar archive: {e}"))?;
        found.entries += 1;
        if found.entries > MAX_ENTRIES {
            return Err(format!("more than {MAX_ENTRIES} entries"));
        }
        let raw = e
            .path()
            .map_err(|err| format!("{prefix}entry with an unreadable path: {err}"))?
            .into_owned();
        let path = member_path(&raw).map_err(|r| format!("{prefix}{r}"))?;
        let kind = e.header().entry_type();
        if kind.is_dir() {
            continue;
        }
        if !(kind.is_file() || kind == tar::EntryType::Continuous) {
            return Err(format!(
                "{prefix}entry {}: only files and directories are allowed in a chart (found a {kind:?})",
                crate::escape::Untrusted(&path)
            ));
        }
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
        let full_dir = format!("{prefix}{dir}");
        match name {
            "Chart.yaml" if !dir.is_empty() => {
                let bytes = read_member(&mut e, MAX_CHART_YAML_BYTES, prefix, &path)?;
                found.chart_yaml.insert(full_dir, bytes);
            }
            "values.yaml" if !dir.is_empty() => {
                let bytes = read_member(&mut e, MAX_VALUES_BYTES, prefix, &path)?;
                found.values.insert(full_dir, bytes);
            }
            _ if dir.ends_with("/charts") && name.ends_with(".tgz") => {
                if depth + 1 > MAX_NESTING {
                    return Err(format!("{prefix}{path}: charts nested too deep"));
                }
                // The nested chart's top directory is named as its own; prefix it with
                // the archive's place so subcharts sort under their parent.
                let nested = format!("{prefix}{dir}/");
                walk(&mut e, &nested, depth + 1, unpacked, found)?;
            }
            _ => {}
        }
    }
    Ok(())
}

fn read_member<R: Read>(
    e: &mut R,
    limit: u64,
    prefix: &str,
    path: &str,
) -> std::result::Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    e.take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|err| format!("{prefix}{path}: {err}"))?;
    if buf.len() as u64 > limit {
        return Err(format!("{prefix}{path}: larger than {limit} bytes"));
    }
    Ok(buf)
}

/// Longest chart name, as Helm's `maxChartNameLength` (helm/helm `pkg/chartutil/create.go`).
pub const MAX_CHART_NAME: usize = 250;

/// Helm's rule for a chart name, from helm/helm `pkg/chartutil/create.go`
/// (`chartName = regexp.MustCompile("^[a-zA-Z0-9._-]+$")`, at most `maxChartNameLength`
/// = 250; Helm's comment: "$, quotes, +, parens, and % are known to be problematic").
/// The name becomes the release name of `helm upgrade --install NAME` in the signed
/// runbook, so a name outside the rule, or one that starts with `-` (which helm would
/// read as an option), is refused here rather than quoted there.
pub fn check_name(name: &str) -> std::result::Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_CHART_NAME
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        return Ok(());
    }
    Err(format!(
        "Chart.yaml: name {:?} is not a valid Helm chart name: use 1-{MAX_CHART_NAME} of A-Z a-z 0-9 . _ - not starting with - (Helm's own rule); the name goes into the runbook's helm command",
        crate::escape::Untrusted(name).to_string()
    ))
}

/// A chart version goes into `helm ... --version V`: Helm requires SemVer there, whose
/// characters never need shell quoting; anything that would is refused.
pub fn check_version(version: &str) -> std::result::Result<(), String> {
    let ok = !version.starts_with('-') && crate::checklist::quote(version) == version;
    if ok {
        return Ok(());
    }
    Err(format!(
        "Chart.yaml: version {:?} is not a chart version (Helm requires SemVer, e.g. 1.2.3); the version goes into the runbook's helm command",
        crate::escape::Untrusted(version).to_string()
    ))
}

/// `Chart.yaml`'s fields airlock reads; the rest is ignored, as Helm ignores what it
/// does not know.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChartYaml {
    api_version: Option<Value>,
    name: Option<Value>,
    version: Option<Value>,
    app_version: Option<Value>,
    kube_version: Option<Value>,
    #[serde(default)]
    annotations: BTreeMap<String, Value>,
}

/// A YAML scalar as text (`version: 1.0` is a number to YAML).
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn yaml_options(limit: u64) -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_reader_input_bytes = Some(usize::try_from(limit).unwrap_or(usize::MAX));
    let mut o = serde_saphyr::Options::default();
    o.budget = Some(budget);
    o
}

fn parse_yaml<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    limit: u64,
    what: &str,
) -> std::result::Result<T, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| format!("{what} is not UTF-8"))?;
    serde_saphyr::from_str_with_options(text, yaml_options(limit))
        .map_err(|e| format!("{what} is not valid YAML: {e}"))
}

fn chart_meta(
    dir: &str,
    chart_yaml: &[u8],
    values: Option<&[u8]>,
) -> std::result::Result<ChartMeta, String> {
    let c: ChartYaml = parse_yaml(chart_yaml, MAX_CHART_YAML_BYTES, "Chart.yaml")?;
    let text = |v: &Option<Value>, field: &str| -> std::result::Result<Option<String>, String> {
        match v {
            None | Some(Value::Null) => Ok(None),
            Some(x) => scalar(x)
                .map(Some)
                .ok_or_else(|| format!("Chart.yaml: {field} is not a string")),
        }
    };
    let name = text(&c.name, "name")?.filter(|s| !s.is_empty());
    let version = text(&c.version, "version")?.filter(|s| !s.is_empty());
    let (Some(name), Some(version)) = (name, version) else {
        return Err("Chart.yaml: name and version are required".into());
    };
    if text(&c.api_version, "apiVersion")?.is_none() {
        return Err("Chart.yaml: apiVersion is required".into());
    }
    check_name(&name)?;
    check_version(&version)?;
    let kube_version = text(&c.kube_version, "kubeVersion")?.filter(|s| !s.trim().is_empty());
    let annotated = match c.annotations.get(IMAGES_ANNOTATION) {
        None => Vec::new(),
        Some(Value::String(s)) => annotation_images(s)?,
        Some(_) => {
            return Err(format!(
                "Chart.yaml: annotation {IMAGES_ANNOTATION} is not a string"
            ));
        }
    };
    let mut meta = ChartMeta {
        dir: dir.to_string(),
        name,
        version,
        app_version: text(&c.app_version, "appVersion")?,
        kube_version,
        annotated,
        values: Vec::new(),
        undetermined: Vec::new(),
    };
    if let Some(v) = values {
        let tree: Value = parse_yaml(v, MAX_VALUES_BYTES, "values.yaml")?;
        let mut path = Vec::new();
        values_images(&tree, &mut path, &mut meta);
    }
    Ok(meta)
}

/// The `artifacthub.io/images` annotation: a YAML list of `{name, image}`.
fn annotation_images(text: &str) -> std::result::Result<Vec<ChartImage>, String> {
    #[derive(Deserialize)]
    struct Entry {
        name: Option<String>,
        image: Option<String>,
    }
    let what = format!("Chart.yaml annotation {IMAGES_ANNOTATION}");
    let list: Option<Vec<Entry>> = parse_yaml(text.as_bytes(), MAX_CHART_YAML_BYTES, &what)?;
    let mut out = Vec::new();
    for (i, e) in list.unwrap_or_default().into_iter().enumerate() {
        let at = e.name.clone().unwrap_or_else(|| format!("entry {}", i + 1));
        let Some(image) = e.image else {
            return Err(format!("{what}: {at} has no image"));
        };
        let parsed = ImageRef::parse(image.trim()).map_err(|err| {
            format!(
                "{what}: {at}: image {:?} does not parse: {}",
                crate::escape::Untrusted(&image),
                err.reason
            )
        })?;
        out.push(ChartImage { image: parsed, at });
    }
    Ok(out)
}

fn path_text(path: &[String]) -> String {
    path.join(".")
}

/// Every `image:` entry of a values tree (see the module comment).
fn values_images(v: &Value, path: &mut Vec<String>, meta: &mut ChartMeta) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                path.push(k.clone());
                if k == "image" {
                    values_image(child, path, meta);
                } else {
                    values_images(child, path, meta);
                }
                path.pop();
            }
        }
        Value::Array(list) => {
            for (i, child) in list.iter().enumerate() {
                path.push(format!("[{i}]"));
                values_images(child, path, meta);
                path.pop();
            }
        }
        _ => {}
    }
}

fn values_image(v: &Value, path: &[String], meta: &mut ChartMeta) {
    let at = path_text(path);
    let mut undetermined = |reason: String| {
        meta.undetermined.push(Undetermined {
            at: at.clone(),
            reason,
        })
    };
    let text = match v {
        Value::String(s) if s.trim().is_empty() => return,
        Value::String(s) => s.trim().to_string(),
        Value::Object(m) => {
            let get = |k: &str| m.get(k).and_then(scalar).filter(|s| !s.trim().is_empty());
            let Some(repo) = get("repository").or_else(|| get("image")) else {
                // `image: {nfs: {repository: ..., tag: ...}, provisioner: {...}}`: a map of
                // image maps (csi-driver-nfs and others).
                let mut nested = false;
                for (k, child) in m {
                    if child.is_object() {
                        nested = true;
                        let mut p = path.to_vec();
                        p.push(k.clone());
                        values_image(child, &p, meta);
                    }
                }
                if !nested && m.contains_key("tag") {
                    meta.undetermined.push(Undetermined {
                        at,
                        reason: "an image map without repository".into(),
                    });
                }
                return;
            };
            let mut s = match get("registry") {
                Some(r) => format!("{}/{}", r.trim_end_matches('/'), repo),
                None => repo,
            };
            let tag = get("tag");
            let digest = get("digest");
            if tag.is_none() && digest.is_none() {
                undetermined(format!(
                    "{s}: no tag or digest in values (the chart's templates choose it, often from appVersion{})",
                    meta.app_version
                        .as_deref()
                        .map(|a| format!(" {a}"))
                        .unwrap_or_default()
                ));
                return;
            }
            if let Some(t) = tag {
                s.push(':');
                s.push_str(&t);
            }
            if let Some(d) = digest {
                s.push('@');
                s.push_str(&d);
            }
            s
        }
        _ => return,
    };
    if text.contains("{{") {
        undetermined(format!(
            "{:?} is template text",
            crate::escape::Untrusted(&text).to_string()
        ));
        return;
    }
    match ImageRef::parse(&text) {
        Ok(r) if r.tag.is_none() && r.digest.is_none() => {
            undetermined(format!("{r}: no tag or digest in values"));
        }
        Ok(r) => meta.values.push(ChartImage { image: r, at }),
        Err(e) => undetermined(format!("not an image reference: {}", e.reason)),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    /// A chart archive as `helm package` lays it out: `NAME/Chart.yaml`, ..., gzip'd tar.
    pub(crate) fn tgz(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, content) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(content.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            h.set_path(path).unwrap();
            h.set_cksum();
            b.append(&h, *content).unwrap();
        }
        let tar = b.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&tar).unwrap();
        gz.finish().unwrap()
    }

    pub(crate) const CHART_YAML: &str = r#"apiVersion: v2
name: ingress-nginx
version: 4.11.2
appVersion: 1.11.2
kubeVersion: ">=1.21.0-0"
annotations:
  artifacthub.io/images: |
    - name: controller
      image: registry.k8s.io/ingress-nginx/controller:v1.11.2@sha256:d5f8217feeac4887cb1ed21f27c2674e58be06bd8f5184cacea2a69abaf78dce
    - name: kube-webhook-certgen
      image: registry.k8s.io/ingress-nginx/kube-webhook-certgen:v1.4.3
"#;

    pub(crate) const VALUES: &str = r#"controller:
  image:
    registry: registry.k8s.io
    image: ingress-nginx/controller
    tag: "v1.11.2"
    digest: ""
    pullPolicy: IfNotPresent
  admissionWebhooks:
    patch:
      image:
        registry: registry.k8s.io
        image: ingress-nginx/kube-webhook-certgen
        tag: v1.4.3
defaultBackend:
  image:
    repository: registry.k8s.io/defaultbackend-amd64
    tag: ""
sidecars:
  - name: log
    image: busybox:1.36
  - name: templated
    image: "{{ .Values.global.image }}"
"#;

    #[test]
    fn reads_annotation_and_values_images() {
        let bytes = tgz(&[
            ("ingress-nginx/Chart.yaml", CHART_YAML.as_bytes()),
            ("ingress-nginx/values.yaml", VALUES.as_bytes()),
            ("ingress-nginx/templates/deployment.yaml", b"{{ .Values }}"),
        ]);
        let c = read_chart(&bytes[..], "ingress-nginx-4.11.2.tgz").unwrap();
        assert_eq!(c.root.name, "ingress-nginx");
        assert_eq!(c.root.kube_version.as_deref(), Some(">=1.21.0-0"));
        assert_eq!(c.root.app_version.as_deref(), Some("1.11.2"));
        let ann: Vec<String> = c
            .root
            .annotated
            .iter()
            .map(|i| i.image.to_string())
            .collect();
        assert_eq!(ann.len(), 2);
        assert!(
            ann[0].ends_with(
                "@sha256:d5f8217feeac4887cb1ed21f27c2674e58be06bd8f5184cacea2a69abaf78dce"
            )
        );
        let vals: Vec<(String, String)> = c
            .root
            .values
            .iter()
            .map(|i| (i.at.clone(), i.image.to_string()))
            .collect();
        assert_eq!(
            vals,
            vec![
                (
                    "controller.admissionWebhooks.patch.image".into(),
                    "registry.k8s.io/ingress-nginx/kube-webhook-certgen:v1.4.3".into()
                ),
                (
                    "controller.image".into(),
                    "registry.k8s.io/ingress-nginx/controller:v1.11.2".into()
                ),
                (
                    "sidecars.[0].image".into(),
                    "docker.io/library/busybox:1.36".into()
                ),
            ]
        );
        let und: Vec<&str> = c.root.undetermined.iter().map(|u| u.at.as_str()).collect();
        // A map of image maps, as csi-driver-nfs writes its values.
        let bytes = tgz(&[
            ("csi/Chart.yaml", b"apiVersion: v1\nname: csi-driver-nfs\nversion: v4.9.0\n"),
            (
                "csi/values.yaml",
                b"image:\n  baseRepo: registry.k8s.io\n  nfs:\n    repository: registry.k8s.io/sig-storage/nfsplugin\n    tag: v4.9.0\n  csiProvisioner:\n    repository: registry.k8s.io/sig-storage/csi-provisioner\n    tag: v5.0.2\n",
            ),
        ]);
        let csi = read_chart(&bytes[..], "csi.tgz").unwrap();
        let got: Vec<(String, String)> = csi
            .root
            .values
            .iter()
            .map(|i| (i.at.clone(), i.image.to_string()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "image.csiProvisioner".into(),
                    "registry.k8s.io/sig-storage/csi-provisioner:v5.0.2".into()
                ),
                (
                    "image.nfs".into(),
                    "registry.k8s.io/sig-storage/nfsplugin:v4.9.0".into()
                ),
            ]
        );
        assert_eq!(und, ["defaultBackend.image", "sidecars.[1].image"]);
        assert!(c.root.undetermined[0].reason.contains("appVersion 1.11.2"));
    }

    #[test]
    fn reads_subcharts_in_directories_and_nested_archives() {
        let sub = tgz(&[
            (
                "redis/Chart.yaml",
                b"apiVersion: v2\nname: redis\nversion: 1.0.0\n",
            ),
            (
                "redis/values.yaml",
                b"image: {repository: redis, tag: \"7.2\"}\n",
            ),
        ]);
        let bytes = tgz(&[
            (
                "app/Chart.yaml",
                b"apiVersion: v2\nname: app\nversion: 0.1.0\n",
            ),
            ("app/charts/redis-1.0.0.tgz", &sub),
            (
                "app/charts/db/Chart.yaml",
                b"apiVersion: v1\nname: db\nversion: 2\n",
            ),
            ("app/charts/db/values.yaml", b"image: postgres:16\n"),
            ("app/templates/Chart.yaml", b"not: read"),
        ]);
        let c = read_chart(&bytes[..], "app.tgz").unwrap();
        let subs: Vec<(String, String)> = c
            .subcharts
            .iter()
            .map(|s| (s.name.clone(), s.values[0].image.to_string()))
            .collect();
        assert_eq!(
            subs,
            vec![
                ("db".into(), "docker.io/library/postgres:16".into()),
                ("redis".into(), "docker.io/library/redis:7.2".into())
            ]
        );
    }

    fn with_entry(path: &str, kind: tar::EntryType, link: Option<&str>) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.set_entry_type(kind);
        // `set_path` refuses `..`; write the name bytes directly, as an attacker would.
        h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
        if let Some(l) = link {
            h.set_link_name(l).unwrap();
        }
        h.set_cksum();
        b.append(&h, std::io::empty()).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&b.into_inner().unwrap()).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn refuses_traversal_links_and_non_charts() {
        for (bytes, needle) in [
            (
                with_entry("x/../../etc/passwd", tar::EntryType::Regular, None),
                "`..`",
            ),
            (with_entry("/etc/passwd", tar::EntryType::Regular, None), "absolute"),
            (
                with_entry("x/link", tar::EntryType::Symlink, Some("/etc")),
                "only files and directories",
            ),
            (b"not gzip at all".to_vec(), "not a"),
            (tgz(&[("x/README.md", b"hi")]), "no Chart.yaml"),
            (
                tgz(&[("x/Chart.yaml", b"apiVersion: v2\nname: x\n")]),
                "name and version are required",
            ),
            (
                tgz(&[(
                    "x/Chart.yaml",
                    b"apiVersion: v2\nname: x\nversion: 1\nannotations:\n  artifacthub.io/images: |\n    - name: a\n      image: \"UPPER/Case\"\n",
                )]),
                "does not parse",
            ),
            (tgz(&[("x/Chart.yaml", b"apiVersion: [v2\n")]), "not valid YAML"),
        ] {
            let e = read_chart(&bytes[..], "bad.tgz").unwrap_err();
            let msg = format!("{e}");
            assert!(msg.contains("bad.tgz") && msg.contains(needle), "{needle}: {msg}");
        }
    }

    #[test]
    fn refuses_oversize_members_and_bombs() {
        let big = vec![b'#'; (MAX_CHART_YAML_BYTES + 1) as usize];
        let e = read_chart(&tgz(&[("x/Chart.yaml", &big)])[..], "big.tgz").unwrap_err();
        assert!(format!("{e}").contains("larger than"), "{e}");
        // A bomb: 4 MiB of zeros (a few KiB gzip'd) against a 1 MiB limit, in a file that
        // is skipped, not read: the skipping still counts.
        let zeros = vec![0u8; 4 << 20];
        let bomb = tgz(&[
            ("x/Chart.yaml", b"apiVersion: v2\nname: x\nversion: 1\n"),
            ("x/big.bin", &zeros),
        ]);
        assert!(bomb.len() < 64 * 1024);
        let e = read_chart_within(&bomb[..], "bomb.tgz", 1 << 20).unwrap_err();
        assert!(
            format!("{e}").contains("unpacks to more than 1048576 bytes"),
            "{e}"
        );
        // Nested archives count toward the same limit.
        let inner = tgz(&[
            ("y/Chart.yaml", b"apiVersion: v2\nname: y\nversion: 1\n"),
            ("y/big.bin", &zeros),
        ]);
        let outer = tgz(&[
            ("x/Chart.yaml", b"apiVersion: v2\nname: x\nversion: 1\n"),
            ("x/charts/y-1.tgz", &inner),
        ]);
        let e = read_chart_within(&outer[..], "nested.tgz", 1 << 20).unwrap_err();
        assert!(format!("{e}").contains("unpacks to more than"), "{e}");
        assert!(read_chart_within(&outer[..], "nested.tgz", 16 << 20).is_ok());
    }

    proptest::proptest! {
        #[test]
        fn read_chart_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
            let _ = read_chart(&bytes[..], "prop");
        }

        #[test]
        fn chart_yaml_and_values_never_panic(chart in "\\PC{0,200}", values in "\\PC{0,200}") {
            let bytes = tgz(&[("c/Chart.yaml", chart.as_bytes()), ("c/values.yaml", values.as_bytes())]);
            let _ = read_chart(&bytes[..], "prop");
        }

        /// Generated image maps come back as the reference they spell.
        #[test]
        fn image_maps_round_trip(reg in "[a-z]{1,6}\\.io", repo in "[a-z]{1,6}/[a-z]{1,6}", tag in "v[0-9]\\.[0-9]{1,2}") {
            let values = format!("a:\n  image:\n    registry: {reg}\n    repository: {repo}\n    tag: {tag}\n");
            let bytes = tgz(&[("c/Chart.yaml", b"apiVersion: v2\nname: c\nversion: 1.0.0\n"), ("c/values.yaml", values.as_bytes())]);
            let c = read_chart(&bytes[..], "prop").unwrap();
            proptest::prop_assert_eq!(c.root.values[0].image.to_string(), format!("{reg}/{repo}:{tag}"));
        }
    }

    #[test]
    fn names_follow_helms_rule_and_versions_need_no_quoting() {
        for ok in [
            "ingress-nginx",
            "csi_driver.nfs",
            "A1",
            &"a".repeat(MAX_CHART_NAME),
        ] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "evil;touch${IFS}pwned;#",
            "",
            "-rf",
            "a b",
            "a/b",
            "caf\u{e9}",
            "a\nb",
            &"a".repeat(MAX_CHART_NAME + 1),
        ] {
            let e = check_name(bad).unwrap_err();
            assert!(e.contains("not a valid Helm chart name"), "{e}");
        }
        assert!(check_version("4.11.2").is_ok());
        assert!(check_version("v1.0.0-rc.1+build.5").is_ok());
        for bad in ["1.0;id", "$(id)", "-1", "1 2"] {
            assert!(check_version(bad).is_err(), "{bad}");
        }
        let e = read_chart(
            std::io::Cursor::new(tgz(&[(
                "x/Chart.yaml",
                b"apiVersion: v2\nname: 'a;b'\nversion: 1\n",
            )])),
            "x.tgz",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("not a valid Helm chart name"), "{e}");
    }
}
