//! A generated stand-in for everything one hop of a catalog needs upstream, with no
//! network: images under the real repository names and the tags the catalog prescribes
//! (control plane, etcd, CoreDNS, pause), fake but well-formed (multi-arch indexes, a base
//! layer shared by all); binaries and tool archives of random bytes laid out like dl.k8s.io
//! and the GitHub release pages (`WWW/<host>/<path>`), with checksum files in the format the
//! catalog names.
//!
//! Used by `examples/demo_upstream.rs` (for `scripts/demo.sh`) and the end-to-end tests.
//! It needs the sibling module `images` (included next to it in both).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use airlock::catalog::{Catalog, ChecksumFormat, Version, expand_template};

use super::images::{
    BuiltImage, ImageSpec, LayerSpec, build_layout, linux, random_bytes, sha256_hex,
};

/// Sizes and architectures of the stand-in.
pub struct Sizes<'a> {
    /// Architectures of images, binaries and tools.
    pub arches: &'a [&'a str],
    /// Bytes of each image's own random layer.
    pub layer: usize,
    /// Bytes of each binary.
    pub binary: usize,
    /// Bytes of each tool archive.
    pub tool: usize,
}

/// What was written.
pub struct HopUpstream {
    /// The images in `OUT/layout`, to push with `images::push_image`.
    pub images: Vec<BuiltImage>,
    /// Canonical URL -> hex sha256 of every binary and tool written under `WWW`.
    pub sums: BTreeMap<String, String>,
}

fn write(www: &Path, url: &str, content: &[u8]) -> String {
    let rel = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let path = www.join(rel);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, content).expect("write file");
    sha256_hex(content)
}

fn checksum(www: &Path, template: &str, url: &str, hex: &str, format: ChecksumFormat) {
    let sum_url = expand_template(template, &[("url", url)]).expect("checksum url");
    let body = match format {
        ChecksumFormat::Hex => format!("{hex}\n"),
        ChecksumFormat::Sha256sum => {
            format!("{hex}  {}\n", url.rsplit('/').next().unwrap_or(url))
        }
    };
    write(www, &sum_url, body.as_bytes());
}

/// Write the images of `versions` (per `catalog`) into `layout` and their binaries and tools
/// under `www`.
pub fn generate(
    catalog: &Catalog,
    versions: &[Version],
    layout: &Path,
    www: &Path,
    sizes: &Sizes<'_>,
) -> HopUpstream {
    let mut images: BTreeSet<(String, String)> = BTreeSet::new();
    let mut sums = BTreeMap::new();
    let mut seed = 1000u64;
    let mut next = || {
        seed += 1;
        seed
    };
    for v in versions {
        let minor = catalog.minor_of(v).expect("version in catalog");
        let vs = v.to_string();
        for name in &catalog.defaults.control_plane_images {
            images.insert((name.clone(), vs.clone()));
        }
        for img in &minor.images {
            let tag = catalog
                .image_tag(&minor.minor, &img.name, v.patch)
                .expect("tag");
            images.insert((img.repository.clone(), tag.tag.clone()));
        }
        for arch in sizes.arches {
            for b in &catalog.defaults.binaries {
                let url =
                    expand_template(&b.url, &[("version", &vs), ("arch", arch)]).expect("url");
                let hex = write(www, &url, &random_bytes(next(), sizes.binary));
                checksum(www, &b.checksum_url, &url, &hex, b.checksum_format);
                sums.insert(url, hex);
            }
            for t in &minor.tools {
                let url = expand_template(&t.url, &[("tool_version", &t.version), ("arch", arch)])
                    .expect("url");
                // Tool archives are gzip in real life; the bytes only need to be stable here.
                let hex = write(www, &url, &random_bytes(next(), sizes.tool));
                checksum(www, &t.checksum_url, &url, &hex, t.checksum_format);
                sums.insert(url, hex);
            }
        }
    }
    let specs: Vec<ImageSpec> = images
        .iter()
        .enumerate()
        .map(|(i, (repo, tag))| ImageSpec {
            repository: repo.clone(),
            tag: tag.clone(),
            platforms: linux(sizes.arches),
            layers: vec![
                LayerSpec::shared("distroless-base"),
                LayerSpec::Random {
                    seed: 500 + i as u64,
                    size: sizes.layer,
                    gzip: true,
                },
            ],
        })
        .collect();
    HopUpstream {
        images: build_layout(layout, &specs),
        sums,
    }
}
