//! Sample upstream for `scripts/demo.sh`: generates a small, fake but well-formed
//! Kubernetes hop (v1.29.6 -> v1.30.2) with no network: control-plane images under their
//! real repository names (multi-arch indexes, a base layer shared by all), stand-in
//! kubeadm/kubelet/kubectl binaries laid out like dl.k8s.io with `.sha256` files, and a
//! lock file naming everything canonically.
//!
//!     cargo run --example demo_upstream -- OUT_DIR
//!
//! Writes OUT_DIR/layout (OCI image layout), OUT_DIR/www (file tree), OUT_DIR/hop.lock,
//! and prints `REPO:TAG` per image for pushing with skopeo.

#[allow(dead_code)]
#[path = "../tests/common/images.rs"]
mod images;

use images::{ImageSpec, LayerSpec, build_layout, linux, random_bytes, write_file_tree};

fn main() {
    let Some(out) = std::env::args().nth(1) else {
        eprintln!("usage: demo_upstream OUT_DIR");
        std::process::exit(2);
    };
    let out = std::path::PathBuf::from(out);
    let versions = [("v1.29.6", 100u64), ("v1.30.2", 200u64)];
    let mut specs = Vec::new();
    for (v, seed) in versions {
        for (i, name) in ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy"]
            .iter()
            .enumerate()
        {
            specs.push(ImageSpec {
                repository: name.to_string(),
                tag: v.to_string(),
                platforms: linux(&["amd64", "arm64"]),
                layers: vec![
                    LayerSpec::shared("distroless-base"),
                    LayerSpec::Random { seed: seed + i as u64, size: 2 << 20, gzip: true },
                ],
            });
        }
    }
    for (repo, tag, seed) in [("etcd", "3.5.12-0", 300u64), ("coredns/coredns", "v1.11.1", 301), ("pause", "3.9", 302)] {
        specs.push(ImageSpec {
            repository: repo.into(),
            tag: tag.into(),
            platforms: linux(&["amd64", "arm64"]),
            layers: vec![LayerSpec::shared("distroless-base"), LayerSpec::Random { seed, size: 1 << 20, gzip: true }],
        });
    }
    let built = build_layout(&out.join("layout"), &specs);

    let mut lock = String::from("format: 1\nkind: airlock-lock\nhop: { from: v1.29.6, to: v1.30.2 }\nimages:\n");
    for b in &built {
        let role = if b.tag == "v1.29.6" { "backout" } else { "target" };
        lock.push_str(&format!(
            "  - name: registry.k8s.io/{}:{}\n    digest: {}\n    platforms: [linux/amd64, linux/arm64]\n    role: {role}\n",
            b.repository, b.tag, b.index_digest
        ));
        println!("{}:{}", b.repository, b.tag);
    }
    lock.push_str("files:\n");
    let mut tree = Vec::new();
    for (v, vseed) in versions {
        for (j, bin) in ["kubeadm", "kubelet", "kubectl"].iter().enumerate() {
            let rel = format!("release/{v}/bin/linux/amd64/{bin}");
            tree.push((rel, random_bytes(vseed * 10 + j as u64, 512 * 1024)));
        }
    }
    let refs: Vec<(&str, &[u8])> = tree.iter().map(|(r, d)| (r.as_str(), d.as_slice())).collect();
    for (rel, hex) in write_file_tree(&out.join("www"), &refs) {
        let parts: Vec<&str> = rel.split('/').collect();
        let (v, bin) = (parts[1], parts[5]);
        lock.push_str(&format!(
            "  - name: {bin}\n    url: https://dl.k8s.io/{rel}\n    sha256: {hex}\n    target: bin/{v}/linux/amd64/{bin}\n    mode: \"0755\"\n    kind: binary\n"
        ));
    }
    std::fs::write(out.join("hop.lock"), lock).expect("write hop.lock");
}
