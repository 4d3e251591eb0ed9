//! `airlock addon pin`: fetch an artifact once and print the pinned hop-manifest entry to
//! paste, so nobody pipes curl into sha256sum by hand.
//!
//! - `https://.../calico.yaml`: the file's sha256 and size (`files:`);
//! - `https://charts.example.com --chart NAME --version V`: the chart repository entry,
//!   with the archive's sha256 checked against the index (`charts:` with `repo:`);
//! - `oci://HOST/REPO:TAG`: a Helm chart's manifest digest (`charts:` with `oci:`), or, for
//!   a container image, the digest the tag names today (`images:`).

use std::io::BufReader;

use serde::Serialize;

use super::repo_index;
use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::http::HttpClient;
use crate::image_ref::ImageRef;
use crate::upstream_registry::UpstreamRegistry;

/// Largest file `pin` downloads.
pub const MAX_PIN_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// What was pinned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Pinned {
    /// A file by URL.
    File {
        /// The URL.
        url: String,
        /// Its sha256 (hex).
        sha256: String,
        /// Its size.
        size: u64,
        /// `manifest` for YAML/JSON, else `file`.
        kind: String,
    },
    /// A chart from a chart repository.
    RepoChart {
        /// The repository URL.
        repo: String,
        /// The chart.
        chart: String,
        /// The version.
        version: String,
        /// The archive's sha256 (hex).
        sha256: String,
        /// Where the archive is.
        url: String,
    },
    /// A Helm chart in an OCI registry.
    OciChart {
        /// `oci://HOST/REPO:TAG`.
        oci: String,
        /// The manifest digest.
        digest: String,
    },
    /// A container image.
    Image {
        /// `HOST/REPO:TAG@sha256:...`.
        name: String,
        /// The digest.
        digest: String,
    },
}

impl Pinned {
    /// The hop-manifest entry, as YAML to paste (with the list it belongs to).
    pub fn entry(&self) -> String {
        match self {
            Pinned::File {
                url,
                sha256,
                size,
                kind,
            } => format!(
                "files:\n  - url: {url}\n    sha256: {sha256}\n    size: {size}\n    kind: {kind}\n"
            ),
            Pinned::RepoChart {
                repo,
                chart,
                version,
                sha256,
                ..
            } => format!(
                "charts:\n  - repo: {repo}\n    chart: {chart}\n    version: \"{version}\"\n    sha256: {sha256}\n"
            ),
            Pinned::OciChart { oci, digest } => {
                format!("charts:\n  - oci: {oci}\n    digest: {digest}\n")
            }
            Pinned::Image { name, .. } => format!("images:\n  - name: {name}\n"),
        }
    }
}

/// Pin `target` (see the module comment). `chart` and `version` select a chart in a
/// repository at the URL `target`.
pub async fn pin(
    http: &HttpClient,
    reg: &UpstreamRegistry,
    target: &str,
    chart: Option<&str>,
    version: Option<&str>,
) -> Result<Pinned> {
    if let Some(rest) = target.strip_prefix("oci://") {
        if chart.is_some() || version.is_some() {
            return Err(Error::invalid(
                "option",
                "--chart",
                "an oci:// reference names its chart and version itself (oci://HOST/REPO:VERSION)",
            ));
        }
        return pin_oci(reg, rest).await;
    }
    if !(target.starts_with("https://") || target.starts_with("http://")) {
        return Err(Error::invalid(
            "argument",
            target,
            "expected an http(s) URL or oci://HOST/REPOSITORY:TAG",
        ));
    }
    match (chart, version) {
        (Some(c), Some(v)) => pin_repo_chart(http, target.trim_end_matches('/'), c, v).await,
        (Some(_), None) | (None, Some(_)) => Err(Error::invalid(
            "option",
            "--chart",
            "give both --chart NAME and --version VERSION to pin a chart of a repository",
        )),
        (None, None) => {
            let (_, sha, size) = http.download_to_temp(target, MAX_PIN_BYTES).await?;
            let path = target.split(['?', '#']).next().unwrap_or(target);
            let kind = if [".yaml", ".yml", ".json"].iter().any(|x| path.ends_with(x)) {
                "manifest"
            } else if path.ends_with(".tgz") {
                "chart"
            } else {
                "file"
            };
            Ok(Pinned::File {
                url: target.to_string(),
                sha256: sha.hex(),
                size,
                kind: kind.into(),
            })
        }
    }
}

async fn pin_oci(reg: &UpstreamRegistry, rest: &str) -> Result<Pinned> {
    let r = ImageRef::parse(rest).map_err(|e| Error::invalid("reference", rest, e.reason))?;
    let Some(tag) = r.tag.clone() else {
        return Err(Error::invalid(
            "reference",
            rest,
            "give a tag (oci://HOST/REPOSITORY:TAG)",
        ));
    };
    let source = reg.source_registry(&r);
    let (digest, _, doc) = reg.resolve_tag(&source, &r.repository, &tag).await?;
    if let Some(pinned) = r.digest
        && pinned != digest
    {
        return Err(Error::digest_mismatch(
            format!("oci://{rest}"),
            pinned.to_string(),
            digest.to_string(),
        ));
    }
    let mut plain = r.clone();
    plain.digest = None;
    let is_chart = matches!(&doc, crate::oci::ManifestDoc::Image { config, .. } if config.media_type == super::source::HELM_CONFIG);
    if is_chart {
        super::source::helm_layer(&doc).map_err(|reason| Error::Upstream {
            reference: format!("oci://{rest}"),
            reason,
        })?;
        return Ok(Pinned::OciChart {
            oci: format!("oci://{plain}"),
            digest: digest.to_string(),
        });
    }
    plain.digest = Some(digest);
    Ok(Pinned::Image {
        name: plain.to_string(),
        digest: digest.to_string(),
    })
}

async fn pin_repo_chart(
    http: &HttpClient,
    repo: &str,
    chart: &str,
    version: &str,
) -> Result<Pinned> {
    let index_url = format!("{repo}/index.yaml");
    let (file, _, _) = http
        .download_to_temp(&index_url, repo_index::MAX_INDEX_BYTES)
        .await?;
    let found = repo_index::lookup(BufReader::new(file), chart, version).map_err(|reason| {
        Error::Repository {
            url: index_url.clone(),
            reason,
        }
    })?;
    let entry = found.entry.ok_or_else(|| Error::Repository {
        url: index_url.clone(),
        reason: format!(
            "no {chart} {version} (versions listed: {})",
            found
                .versions
                .iter()
                .take(20)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })?;
    let url = entry
        .urls
        .iter()
        .find_map(|u| repo_index::archive_url(repo, u))
        .ok_or_else(|| Error::Repository {
            url: index_url.clone(),
            reason: format!("{chart} {version}: no http(s) archive URL"),
        })?;
    let (_, sha, _): (_, Sha256Digest, u64) = http
        .download_to_temp(&url, super::chart::MAX_CHART_BYTES)
        .await?;
    if let Some(listed) = entry.digest
        && listed != sha
    {
        return Err(Error::digest_mismatch(
            format!("{url} (the index {index_url} lists another sha256)"),
            listed.to_string(),
            sha.to_string(),
        ));
    }
    Ok(Pinned::RepoChart {
        repo: repo.to_string(),
        chart: chart.to_string(),
        version: entry.version,
        sha256: sha.hex(),
        url,
    })
}
