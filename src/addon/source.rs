//! Fetching what an add-on names, each piece checked against its pin before it is read:
//! manifest files by URL and sha256, charts from a chart repository (`index.yaml`, then the
//! archive by the sha256 the hop manifest pins and the index lists), and charts from an
//! OCI registry (the manifest by digest, its Helm media types checked, the chart layer).
//! Everything lands in the content cache, so the build carries exactly these bytes.

use std::io::BufReader;
use std::path::PathBuf;

use super::repo_index::{self, MAX_INDEX_BYTES};
use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::http::HttpClient;
use crate::image_ref::ImageRef;
use crate::oci::ManifestDoc;
use crate::upstream_registry::UpstreamRegistry;
use crate::upstream_store::Store;

/// Helm's OCI config media type.
pub const HELM_CONFIG: &str = "application/vnd.cncf.helm.config.v1+json";
/// Helm's OCI chart layer media type (the `.tgz`).
pub const HELM_CHART: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
/// Helm's OCI provenance layer media type.
pub const HELM_PROVENANCE: &str = "application/vnd.cncf.helm.chart.provenance.v1.prov";

/// A pinned file by URL, in the store; returns its path there.
pub(super) async fn pinned_file(
    http: &HttpClient,
    store: &Store,
    url: &str,
    sha256: &Sha256Digest,
    size: Option<u64>,
) -> Result<PathBuf> {
    if !store.has(sha256, size) {
        http.download_to_store(store, url, sha256, size, |_| {})
            .await?;
    }
    Ok(store.path(sha256))
}

/// A chart from a chart repository.
pub(super) struct RepoChart {
    /// The archive's URL.
    pub url: String,
    /// Its size.
    pub size: u64,
    /// Its path in the store.
    pub path: PathBuf,
}

/// Look `chart` at `version` up in the repository's index and fetch the archive, which
/// must hash to `sha256` (and the index must list that sha256, when it lists one).
pub(super) async fn repo_chart(
    http: &HttpClient,
    store: &Store,
    repo: &str,
    chart: &str,
    version: &str,
    sha256: &Sha256Digest,
) -> Result<RepoChart> {
    let index_url = format!("{repo}/index.yaml");
    let (file, _, _) = http.download_to_temp(&index_url, MAX_INDEX_BYTES).await?;
    let label = http.label(&index_url);
    let found = repo_index::lookup(BufReader::new(file), chart, version).map_err(|reason| {
        Error::Repository {
            url: label.clone(),
            reason,
        }
    })?;
    let Some(entry) = found.entry else {
        let listed = if found.versions.is_empty() {
            format!("no chart {chart:?} at all")
        } else {
            let mut v = found.versions.clone();
            v.truncate(20);
            format!("versions of {chart}: {}", v.join(", "))
        };
        return Err(Error::Repository {
            url: label,
            reason: format!("no {chart} {version} ({listed})"),
        });
    };
    if let Some(d) = entry.digest
        && &d != sha256
    {
        return Err(Error::digest_mismatch(
            format!(
                "chart {chart} {version} as listed in {index_url} (the chart changed since it was pinned)"
            ),
            sha256.to_string(),
            d.to_string(),
        ));
    }
    let url = entry
        .urls
        .iter()
        .find_map(|u| repo_index::archive_url(repo, u))
        .ok_or_else(|| Error::Repository {
            url: label.clone(),
            reason: format!(
                "{chart} {version}: no http(s) archive URL airlock can fetch ({})",
                entry
                    .urls
                    .iter()
                    .map(|u| crate::escape::Untrusted(u).to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })?;
    if !store.has(sha256, None) {
        http.download_to_store(store, &url, sha256, None, |_| {})
            .await
            .map_err(|e| e.context(format!("chart {chart} {version} from {repo}")))?;
    }
    let path = store.path(sha256);
    let size = std::fs::metadata(&path)
        .map_err(|e| Error::io("stat", &path, e))?
        .len();
    Ok(RepoChart { url, size, path })
}

/// A chart from an OCI registry.
pub(super) struct OciChart {
    /// The chart layer (the `.tgz`) in the store.
    pub archive: PathBuf,
}

fn upstream(label: &str, e: Error) -> Error {
    match e {
        Error::Upstream { reason, .. } => Error::Upstream {
            reference: label.to_string(),
            reason,
        },
        other => other,
    }
}

/// Check that `oci://reference` still names `digest`, that the manifest is a Helm chart,
/// and bring its chart layer into the store.
pub(super) async fn oci_chart(
    reg: &UpstreamRegistry,
    store: &Store,
    reference: &ImageRef,
    digest: &Sha256Digest,
) -> Result<OciChart> {
    let label = format!("oci://{reference}");
    let source = reg.source_registry(reference);
    let tag = reference.tag.as_deref().unwrap_or("latest");
    let (now, bytes, doc) = reg
        .resolve_tag(&source, &reference.repository, tag)
        .await
        .map_err(|e| upstream(&label, e))?;
    if &now != digest {
        return Err(Error::digest_mismatch(
            format!(
                "chart {label} (the tag now names another manifest: the chart changed since it was pinned)"
            ),
            digest.to_string(),
            now.to_string(),
        ));
    }
    store.put_bytes(&bytes, &label, digest)?;
    let layer = helm_layer(&doc).map_err(|reason| Error::Upstream {
        reference: format!("{label}@{digest}"),
        reason,
    })?;
    if layer.size > super::chart::MAX_CHART_BYTES {
        return Err(Error::Upstream {
            reference: label,
            reason: format!(
                "chart layer larger than {} bytes",
                super::chart::MAX_CHART_BYTES
            ),
        });
    }
    let d = Sha256Digest::parse(&layer.digest).map_err(|e| Error::Upstream {
        reference: label.clone(),
        reason: e.to_string(),
    })?;
    if !store.has(&d, Some(layer.size)) {
        let stream = reg
            .blob_stream(&source, &reference.repository, &d, layer.size)
            .await
            .map_err(|e| upstream(&label, e))?;
        store
            .put_stream(
                stream,
                &format!("{label} chart layer"),
                &d,
                Some(layer.size),
                |_| {},
            )
            .await?;
    }
    Ok(OciChart {
        archive: store.path(&d),
    })
}

/// The chart layer of a Helm chart manifest: config of Helm's config type, one layer of
/// the chart content type, and at most a provenance layer besides.
pub fn helm_layer(doc: &ManifestDoc) -> std::result::Result<&crate::oci::Descriptor, String> {
    let ManifestDoc::Image { config, layers, .. } = doc else {
        return Err("not a Helm chart: an image index, not a chart manifest".into());
    };
    if config.media_type != HELM_CONFIG {
        return Err(format!(
            "not a Helm chart: config media type {} (a chart's is {HELM_CONFIG}); list container images under images:",
            crate::escape::Untrusted(&config.media_type)
        ));
    }
    let charts: Vec<_> = layers
        .iter()
        .filter(|l| l.media_type == HELM_CHART)
        .collect();
    if let Some(other) = layers
        .iter()
        .find(|l| l.media_type != HELM_CHART && l.media_type != HELM_PROVENANCE)
    {
        return Err(format!(
            "Helm chart with an unexpected layer of media type {}",
            crate::escape::Untrusted(&other.media_type)
        ));
    }
    match charts.as_slice() {
        [one] => Ok(one),
        _ => Err(format!(
            "a Helm chart has exactly one {HELM_CHART} layer; this one has {}",
            charts.len()
        )),
    }
}
