//! Sample upstream for `scripts/demo.sh`: everything `airlock resolve` needs for one hop of
//! the built-in catalog, generated with no network (see `tests/common/hop_upstream.rs`):
//! fake but well-formed images under the real repository names and the tags the catalog
//! prescribes, and binaries and tool archives laid out like dl.k8s.io and the GitHub
//! release pages, with checksum files in the format the catalog names.
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

#[allow(dead_code)]
#[path = "../tests/common/hop_upstream.rs"]
mod hop_upstream;

use std::path::Path;

use airlock::catalog::{Catalog, Version};

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
    let up = hop_upstream::generate(
        &catalog,
        &versions,
        &out.join("layout"),
        &out.join("www"),
        &hop_upstream::Sizes {
            arches: &["amd64", "arm64"],
            layer: 1 << 20,
            binary: 256 * 1024,
            tool: 128 * 1024,
        },
    );
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
        let repo = out
            .join("www")
            .join(format!("pkgs.k8s.io/core:/stable:/v1.{minor}/deb"));
        packages::build_deb_repo(&repo, &pkgs, &["amd64", "arm64"], &key);
    }
    for b in up.images {
        println!("{}:{}", b.repository, b.tag);
    }
}
