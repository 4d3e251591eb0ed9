//! Pinning upstream: a tag to the digest it names today (with its platforms checked), a
//! binary to the sha256 its upstream checksum file gives.

use super::checksum::parse_checksum;
use super::wanted::{WantedFile, WantedImage};
use crate::error::{Error, Result};
use crate::hop_manifest::url_file_name;
use crate::http::HttpClient;
use crate::lock::{FileSource, LockedFile, LockedImage};
use crate::oci::{ManifestDoc, Platform, platform_matches};
use crate::paths::SafeRelPath;
use crate::upstream_registry::UpstreamRegistry;

/// Largest checksum file accepted.
pub const MAX_CHECKSUM_BYTES: usize = 64 * 1024;

/// Pin an image tag to a digest, checking the wanted platforms are there.
pub(super) async fn resolve_image(reg: &UpstreamRegistry, w: &WantedImage) -> Result<LockedImage> {
    let name = &w.name;
    let source = reg.source_registry(name);
    let label = if source == name.registry {
        name.to_string()
    } else {
        format!("{name} (via {source})")
    };
    let (digest, doc) = match (&name.tag, name.digest) {
        // Pinned by digest only (`image@sha256:...`, common in manifests): fetch that.
        (None, Some(d)) => {
            let (_bytes, doc) = reg
                .fetch_manifest(&source, &name.repository, &d, None)
                .await
                .map_err(|e| match e {
                    Error::Upstream { reason, .. } => Error::Upstream {
                        reference: label.clone(),
                        reason: format!("cannot fetch the pinned manifest: {reason}"),
                    },
                    other => other,
                })?;
            (d, doc)
        }
        _ => {
            let tag = name.tag.as_deref().unwrap_or("latest");
            let (digest, _bytes, doc) = reg
                .resolve_tag(&source, &name.repository, tag)
                .await
                .map_err(|e| match e {
                    Error::Upstream { reason, .. } => Error::Upstream {
                        reference: label.clone(),
                        reason: format!("cannot resolve the tag: {reason}"),
                    },
                    other => other,
                })?;
            (digest, doc)
        }
    };
    if let Some(pinned) = name.digest
        && pinned != digest
    {
        return Err(Error::digest_mismatch(
            label,
            pinned.to_string(),
            digest.to_string(),
        ));
    }
    match &doc {
        ManifestDoc::Index { manifests, .. } => {
            let have: Vec<Platform> = manifests
                .iter()
                .filter_map(|m| m.platform.as_ref().map(|p| p.to_platform()))
                .collect();
            for want in &w.platforms {
                if !have.iter().any(|h| platform_matches(want, h)) {
                    let listed: Vec<String> = have.iter().map(|p| p.to_string()).collect();
                    return Err(Error::Upstream {
                        reference: label,
                        reason: format!(
                            "the index has no {want} manifest (it lists: {})",
                            if listed.is_empty() {
                                "none".into()
                            } else {
                                listed.join(", ")
                            }
                        ),
                    });
                }
            }
        }
        ManifestDoc::Image { .. } => {
            if w.platforms.len() != 1 {
                return Err(Error::Upstream {
                    reference: label,
                    reason: format!(
                        "is a single-platform manifest, but {} platforms were asked for ({})",
                        w.platforms.len(),
                        w.platforms
                            .iter()
                            .map(|p| p.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
        }
    }
    Ok(LockedImage {
        name: name.clone(),
        digest,
        platforms: w.platforms.clone(),
        role: Some(w.role),
    })
}

/// Pin a binary or tool to the sha256 its upstream checksum file lists.
pub(super) async fn resolve_file(http: &HttpClient, w: &WantedFile) -> Result<LockedFile> {
    let text = http
        .fetch_small(&w.checksum_url, MAX_CHECKSUM_BYTES)
        .await
        .map_err(|e| match e {
            Error::Http { url, reason } => Error::Http {
                url,
                reason: format!("checksum file for {} ({}): {reason}", w.name, w.url),
            },
            other => other,
        })?;
    let file_name = url_file_name(&w.url).unwrap_or_default();
    let sha256 = parse_checksum(&text, w.format, &file_name).map_err(|reason| Error::Http {
        url: w.checksum_url.clone(),
        reason: format!("malformed checksum file for {}: {reason}", w.url),
    })?;
    Ok(LockedFile {
        name: w.name.clone(),
        source: FileSource::Url(w.url.clone()),
        sha256,
        size: None,
        target: SafeRelPath::new(&w.target)?,
        mode: w.mode,
        kind: Some(w.kind),
    })
}
