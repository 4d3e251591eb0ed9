//! Benchmark data generator for `bench/run.sh` (not part of airlock itself).
//!
//! Writes deterministic multi-platform OCI images with the test fixture generator
//! (`tests/common/images.rs`) and prints one line per image: `part-N REPO TAG INDEX_DIGEST`.
//!
//!     cargo run --release --example gen_hop -- OUT_DIR [IMAGES] [BIG_LAYER_MIB]
//!
//! Every image is linux/amd64 + linux/arm64 with, per platform:
//!   * a 32 MiB gzip "base" layer that is the same blob in every image (per platform),
//!   * gzip layers of BIG_LAYER_MIB (default 44), 16 and 4 MiB of random data,
//!   * a 1 MiB uncompressed tar layer.
//!
//! With the defaults (8 images) that is 8 x 2 x 65 MiB + 2 x 32 MiB = 1104 MiB of unique
//! blobs. Images are split over two threads, each writing its own OCI layout under
//! OUT_DIR/part-N (N = 0, 1); the line prefix tells which: `part-N REPO TAG DIGEST`.

#[allow(dead_code)]
#[path = "../tests/common/images.rs"]
mod images;

use images::{ImageSpec, LayerSpec, build_layout, linux};

const MIB: usize = 1024 * 1024;

fn spec(i: u64, big_mib: usize) -> ImageSpec {
    let gz = |seed: u64, mib: usize| LayerSpec::Random {
        seed,
        size: mib * MIB,
        gzip: true,
    };
    ImageSpec {
        repository: format!("bench/image-{i}"),
        tag: "v1.0.0".into(),
        platforms: linux(&["amd64", "arm64"]),
        layers: vec![
            // Same seed and size in every image: one shared blob per platform.
            gz(1_000_000, 32),
            gz(i * 10 + 1, big_mib),
            gz(i * 10 + 2, 16),
            gz(i * 10 + 3, 4),
            LayerSpec::Random {
                seed: i * 10 + 4,
                size: MIB,
                gzip: false,
            },
        ],
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 2 {
        eprintln!("usage: gen_hop OUT_DIR [IMAGES] [BIG_LAYER_MIB]");
        std::process::exit(2);
    }
    let out = std::path::PathBuf::from(&args[1]);
    let n: u64 = args.get(2).map(|s| s.parse().expect("IMAGES")).unwrap_or(8);
    let big: usize = args
        .get(3)
        .map(|s| s.parse().expect("BIG_LAYER_MIB"))
        .unwrap_or(44);
    let parts: Vec<Vec<ImageSpec>> = (0..2)
        .map(|p| {
            (0..n)
                .filter(|i| i % 2 == p)
                .map(|i| spec(i, big))
                .collect()
        })
        .collect();
    let handles: Vec<_> = parts
        .into_iter()
        .enumerate()
        .map(|(p, specs)| {
            let dir = out.join(format!("part-{p}"));
            std::thread::spawn(move || (p, build_layout(&dir, &specs)))
        })
        .collect();
    let mut lines = Vec::new();
    for h in handles {
        let (p, built) = h.join().expect("generator thread");
        for b in built {
            lines.push((
                b.repository.clone(),
                format!("part-{p} {} {} {}", b.repository, b.tag, b.index_digest),
            ));
        }
    }
    lines.sort();
    for (_, l) in lines {
        println!("{l}");
    }
}
