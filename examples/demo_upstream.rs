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

#[allow(dead_code)]
#[path = "../tests/common/images.rs"]
mod images;

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
    for b in up.images {
        println!("{}:{}", b.repository, b.tag);
    }
}
