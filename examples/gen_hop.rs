//! Benchmark data generator for `bench/run.sh` (not part of airlock itself).
//!
//! Writes deterministic OCI images with the test fixture generator
//! (`tests/common/images.rs`) and prints one line per image: `part-N REPO TAG INDEX_DIGEST`.
//!
//!     cargo run --release --example gen_hop -- OUT_DIR [IMAGES] [BIG_LAYER_MIB]
//!     cargo run --release --example gen_hop -- --many OUT_DIR IMAGES LAYERS LAYER_KIB
//!
//! Default ("hop") mode: every image is linux/amd64 + linux/arm64 with, per platform:
//!   * a 32 MiB gzip "base" layer that is the same blob in every image (per platform),
//!   * gzip layers of BIG_LAYER_MIB (default 44), 16 and 4 MiB of random data,
//!   * a 1 MiB uncompressed tar layer.
//!
//! With the defaults (8 images) that is 8 x 2 x 65 MiB + 2 x 32 MiB = 1104 MiB of unique
//! blobs; 16 images give 2144 MiB, 32 images 4224 MiB.
//!
//! `--many` mode (the many-small-blobs scale run): every image is linux/amd64 only with
//! LAYERS gzip layers of about LAYER_KIB KiB of random data each, all distinct, so an image
//! has LAYERS + 1 blobs (layers and config): 2,000 images x 9 layers = 20,000 blobs.
//!
//! Images are split over two threads, each writing its own OCI layout under
//! OUT_DIR/part-N (N = 0, 1); the line prefix tells which: `part-N REPO TAG DIGEST`.

#[allow(dead_code)]
#[path = "../tests/common/images.rs"]
mod images;

use images::{ImageSpec, LayerSpec, build_layout, linux};

const MIB: usize = 1024 * 1024;

fn gz(seed: u64, size: usize) -> LayerSpec {
    LayerSpec::Random {
        seed,
        size,
        gzip: true,
    }
}

fn hop_spec(i: u64, big_mib: usize) -> ImageSpec {
    ImageSpec {
        repository: format!("bench/image-{i}"),
        tag: "v1.0.0".into(),
        platforms: linux(&["amd64", "arm64"]),
        layers: vec![
            // Same seed and size in every image: one shared blob per platform.
            gz(1_000_000, 32 * MIB),
            gz(i * 10 + 1, big_mib * MIB),
            gz(i * 10 + 2, 16 * MIB),
            gz(i * 10 + 3, 4 * MIB),
            LayerSpec::Random {
                seed: i * 10 + 4,
                size: MIB,
                gzip: false,
            },
        ],
    }
}

fn many_spec(i: u64, layers: u64, kib: usize) -> ImageSpec {
    ImageSpec {
        repository: format!("bench/many-{i}"),
        tag: "v1.0.0".into(),
        platforms: linux(&["amd64"]),
        // Seeds above the hop mode's range; every layer distinct.
        layers: (0..layers)
            .map(|l| gz(10_000_000 + i * 1000 + l, kib * 1024))
            .collect(),
    }
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize, default: T, what: &str) -> T {
    match args.get(i) {
        None => default,
        Some(s) => s.parse().unwrap_or_else(|_| {
            eprintln!("gen_hop: {what} must be a number, not {s:?}");
            std::process::exit(2)
        }),
    }
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let many = args.first().is_some_and(|a| a == "--many");
    if many {
        args.remove(0);
    }
    if args.is_empty() {
        eprintln!(
            "usage: gen_hop OUT_DIR [IMAGES] [BIG_LAYER_MIB]\n       \
             gen_hop --many OUT_DIR IMAGES LAYERS LAYER_KIB"
        );
        std::process::exit(2);
    }
    let out = std::path::PathBuf::from(&args[0]);
    let n: u64 = arg(&args, 1, if many { 2000 } else { 8 }, "IMAGES");
    let specs: Vec<ImageSpec> = if many {
        let layers: u64 = arg(&args, 2, 9, "LAYERS");
        let kib: usize = arg(&args, 3, 16, "LAYER_KIB");
        (0..n).map(|i| many_spec(i, layers, kib)).collect()
    } else {
        let big: usize = arg(&args, 2, 44, "BIG_LAYER_MIB");
        (0..n).map(|i| hop_spec(i, big)).collect()
    };
    let mut parts: Vec<Vec<ImageSpec>> = vec![Vec::new(), Vec::new()];
    for (i, s) in specs.into_iter().enumerate() {
        parts[i % 2].push(s);
    }
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
