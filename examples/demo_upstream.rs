//! Sample upstream for `scripts/demo.sh`: everything `airlock resolve` needs for one hop of
//! the built-in catalog, generated with no network. Images are fake but well-formed
//! (multi-arch indexes, a base layer shared by all) under the real repository names and
//! the tags the catalog prescribes (control plane, etcd, CoreDNS, pause); binaries and
//! tool archives are random bytes laid out like dl.k8s.io and the GitHub release pages,
//! with checksum files in the format the catalog names.
//!
//!     cargo run --example demo_upstream -- OUT_DIR FROM TO
//!
//! Writes OUT_DIR/layout (OCI image layout) and OUT_DIR/www/{dl.k8s.io,github.com}/...,
//! and prints `REPO:TAG` per image for pushing with skopeo.
//!
//! Also a signed flat deb repository per minor, shaped like pkgs.k8s.io's
//! (OUT_DIR/www/pkgs.k8s.io/core:/stable:/v1.NN/deb/: tiny kubeadm, kubelet, kubectl,
//! cri-tools and kubernetes-cni `.deb`s with the real dependencies, `Packages`,
//! `InRelease`), made with dpkg-deb, apt-ftparchive and gpg; the key is
//! OUT_DIR/pgp/Release.key (armored, for `--package-key`) and OUT_DIR/pgp/keyring.gpg
//! (for apt's `signed-by`).

#[allow(dead_code)]
#[path = "../tests/common/images.rs"]
mod images;
#[allow(dead_code)]
#[path = "../tests/common/packages.rs"]
mod packages;

use std::collections::BTreeSet;
use std::path::Path;

use airlock::catalog::{Catalog, ChecksumFormat, Version, expand_template};
use images::{ImageSpec, LayerSpec, build_layout, linux, random_bytes, sha256_hex};

fn write(www: &Path, url: &str, content: &[u8]) -> String {
    let rel = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let path = www.join(rel);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, content).expect("write file");
    sha256_hex(content)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: demo_upstream OUT_DIR FROM TO");
        std::process::exit(2);
    }
    let out = Path::new(&args[1]);
    let versions: Vec<Version> = args[2..]
        .iter()
        .map(|v| v.parse().expect("version"))
        .collect();
    let catalog = Catalog::builtin().expect("built-in catalog");
    let www = out.join("www");
    let mut images: BTreeSet<(String, String)> = BTreeSet::new();
    let mut seed = 1000u64;
    let mut next = || {
        seed += 1;
        seed
    };
    for v in &versions {
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
        for arch in ["amd64", "arm64"] {
            for b in &catalog.defaults.binaries {
                let url =
                    expand_template(&b.url, &[("version", &vs), ("arch", arch)]).expect("url");
                let hex = write(&www, &url, &random_bytes(next(), 256 * 1024));
                checksum(&www, &b.checksum_url, &url, &hex, b.checksum_format);
            }
            for t in &minor.tools {
                let url = expand_template(&t.url, &[("tool_version", &t.version), ("arch", arch)])
                    .expect("url");
                // Tool archives are gzip in real life; the bytes only need to be stable here.
                let hex = write(&www, &url, &random_bytes(next(), 128 * 1024));
                checksum(&www, &t.checksum_url, &url, &hex, t.checksum_format);
            }
        }
    }
    let key = packages::PgpKey::generate(&out.join("pgp"), "Kubernetes packages (demo)");
    let mut minors: Vec<u32> = versions.iter().map(|v| v.minor).collect();
    minors.dedup();
    for minor in minors {
        let mut pkgs = Vec::new();
        for v in versions.iter().filter(|v| v.minor == minor) {
            let mut set = packages::k8s_packages(
                &format!("1.{minor}.{}-1.1", v.patch),
                &format!("1.{minor}.0-1.1"),
                "1.4.0-1.1",
            );
            if !pkgs.is_empty() {
                set.truncate(3);
            }
            pkgs.extend(set);
        }
        let repo = www.join(format!("pkgs.k8s.io/core:/stable:/v1.{minor}/deb"));
        packages::build_deb_repo(&repo, &pkgs, &["amd64", "arm64"], &key);
    }
    let specs: Vec<ImageSpec> = images
        .iter()
        .enumerate()
        .map(|(i, (repo, tag))| ImageSpec {
            repository: repo.clone(),
            tag: tag.clone(),
            platforms: linux(&["amd64", "arm64"]),
            layers: vec![
                LayerSpec::shared("distroless-base"),
                LayerSpec::Random {
                    seed: 500 + i as u64,
                    size: 1 << 20,
                    gzip: true,
                },
            ],
        })
        .collect();
    for b in build_layout(&out.join("layout"), &specs) {
        println!("{}:{}", b.repository, b.tag);
    }
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
