//! What a version needs according to the catalog: images by tag, binaries and tools by
//! URL, before anything is looked up upstream.

use crate::catalog::{Catalog, ChecksumFormat, Confidence, Version, expand_template};
use crate::error::{Error, Result};
use crate::hop_manifest::url_file_name;
use crate::image_ref::ImageRef;
use crate::manifest::{FileKind, Mode, Role};
use crate::oci::Platform;

/// The architectures of the `linux` platforms, in order, once each.
pub fn arches_from_platforms(platforms: &[Platform]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in platforms {
        if p.os == "linux" && !out.contains(&p.architecture) {
            out.push(p.architecture.clone());
        }
    }
    out
}

/// An image the hop needs, by tag.
pub(super) struct WantedImage {
    pub name: ImageRef,
    pub platforms: Vec<Platform>,
    pub role: Role,
}

/// A binary or tool the hop needs, by URL and checksum URL.
pub(super) struct WantedFile {
    pub name: String,
    pub url: String,
    pub checksum_url: String,
    pub format: ChecksumFormat,
    pub target: String,
    pub mode: Mode,
    pub kind: FileKind,
}

pub(super) fn catalog_images(
    catalog: &Catalog,
    v: &Version,
    uncertain: &mut Vec<String>,
) -> Result<Vec<ImageRef>> {
    let reg = &catalog.defaults.registry;
    let minor = catalog.minor_of(v).ok_or_else(|| {
        Error::invalid("catalog", "catalog", format!("no minor {}", v.minor_key()))
    })?;
    if v.patch == minor.latest_patch && minor.latest_patch_confidence == Some(Confidence::Uncertain)
    {
        uncertain.push(format!(
            "{v} as the newest patch of {}{}",
            minor.minor,
            minor
                .latest_patch_note
                .as_deref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default()
        ));
    }
    let mut out = Vec::new();
    for name in &catalog.defaults.control_plane_images {
        out.push(parse_ref(&format!("{reg}/{name}:{v}"))?);
    }
    for img in &minor.images {
        let row = catalog
            .image_tag(&minor.minor, &img.name, v.patch)
            .ok_or_else(|| {
                Error::invalid(
                    "catalog",
                    "catalog",
                    format!("{}: no tag for {v}", img.name),
                )
            })?;
        if row.confidence == Some(Confidence::Uncertain) {
            uncertain.push(format!(
                "{} {} for {v}{}",
                img.name,
                row.tag,
                row.note
                    .as_deref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default()
            ));
        }
        out.push(parse_ref(&format!("{reg}/{}:{}", img.repository, row.tag))?);
    }
    Ok(out)
}

pub(super) fn parse_ref(s: &str) -> Result<ImageRef> {
    ImageRef::parse(s).map_err(|e| Error::invalid("image reference", s, e.reason))
}

pub(super) fn catalog_files(
    catalog: &Catalog,
    v: &Version,
    arches: &[String],
    with_tools: bool,
    uncertain: &mut Vec<String>,
) -> Result<Vec<WantedFile>> {
    let bad = |e: String| Error::invalid("catalog", "catalog", e);
    let version = v.to_string();
    let mut out = Vec::new();
    for arch in arches {
        for b in &catalog.defaults.binaries {
            let url =
                expand_template(&b.url, &[("version", &version), ("arch", arch)]).map_err(bad)?;
            let checksum_url = expand_template(&b.checksum_url, &[("url", &url)]).map_err(bad)?;
            out.push(WantedFile {
                name: b.name.clone(),
                url,
                checksum_url,
                format: b.checksum_format,
                target: format!("bin/{version}/linux/{arch}/{}", b.name),
                mode: b.mode,
                kind: FileKind::Binary,
            });
        }
    }
    if with_tools {
        let minor = catalog
            .minor_of(v)
            .ok_or_else(|| bad(format!("no minor {}", v.minor_key())))?;
        for t in &minor.tools {
            if t.confidence == Some(Confidence::Uncertain) {
                uncertain.push(format!(
                    "{} {} for {}{}",
                    t.name,
                    t.version,
                    minor.minor,
                    t.note
                        .as_deref()
                        .map(|n| format!(" ({n})"))
                        .unwrap_or_default()
                ));
            }
            for arch in arches {
                let url = expand_template(&t.url, &[("tool_version", &t.version), ("arch", arch)])
                    .map_err(bad)?;
                let checksum_url =
                    expand_template(&t.checksum_url, &[("url", &url)]).map_err(bad)?;
                let file = url_file_name(&url).map_err(bad)?;
                out.push(WantedFile {
                    name: t.name.clone(),
                    url,
                    checksum_url,
                    format: t.checksum_format,
                    target: format!("tools/{}/{}/linux/{arch}/{file}", t.name, t.version),
                    mode: t.mode,
                    kind: FileKind::Tool,
                });
            }
        }
    }
    Ok(out)
}

pub(super) fn etcd_version_key(tag: &str) -> Vec<u64> {
    tag.split(['.', '-'])
        .map(|p| p.trim_start_matches('v').parse().unwrap_or(0))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hop to a newest patch that was not read from a release is named as uncertain;
    /// an older patch of the same minor is not.
    #[test]
    fn an_uncertain_newest_patch_is_reported() {
        let c = Catalog::builtin().unwrap();
        let mut uncertain = Vec::new();
        catalog_images(&c, &"v1.37.1".parse().unwrap(), &mut uncertain).unwrap();
        assert!(
            uncertain
                .iter()
                .any(|u| u.starts_with("v1.37.1 as the newest patch of 1.37 (")
                    && u.contains("planned")),
            "{uncertain:?}"
        );
        let mut uncertain = Vec::new();
        catalog_images(&c, &"v1.37.0".parse().unwrap(), &mut uncertain).unwrap();
        assert!(
            !uncertain.iter().any(|u| u.contains("newest patch")),
            "{uncertain:?}"
        );
    }
}
