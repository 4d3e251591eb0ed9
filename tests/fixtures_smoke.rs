//! Smoke test for the shared fixtures in `tests/common`: real registries, a
//! real file server, deterministic images pushed with skopeo. It does not
//! touch airlock itself, so it tells "the fixtures are broken" apart from
//! "airlock is broken".

mod common;

use std::collections::BTreeSet;
use std::time::Instant;

use common::images::{
    BuiltImage, ImageSpec, LayerSpec, MEDIA_INDEX, build_layout, linux, push_image,
    push_image_with_creds, random_bytes, sha256_digest, sha256_hex, skopeo_inspect_raw,
    skopeo_inspect_raw_with_creds, write_file_tree,
};
use common::servers::{FileServer, Registry, try_http_get};

fn specs() -> Vec<ImageSpec> {
    let image = |repository: &str, tag: &str, seed: u64| ImageSpec {
        repository: repository.to_string(),
        tag: tag.to_string(),
        platforms: linux(&["amd64", "arm64"]),
        layers: vec![
            LayerSpec::shared("base"),
            LayerSpec::Random {
                seed,
                size: 300 * 1024,
                gzip: true,
            },
            LayerSpec::Random {
                seed: seed + 1,
                size: 200 * 1024,
                gzip: false,
            },
        ],
    };
    vec![
        image("airlock-test/kube-apiserver", "v1.31.0", 1),
        image("airlock-test/nested/pause", "3.10", 10),
    ]
}

/// Check that the registry serves exactly the index we built.
fn assert_index_in_registry(raw: &[u8], image: &BuiltImage) {
    assert_eq!(
        sha256_digest(raw),
        image.index_digest,
        "registry index digest for {} differs from the built one",
        image.reference()
    );
    let index: serde_json::Value =
        serde_json::from_slice(raw).expect("parse index JSON from registry");
    assert_eq!(index["mediaType"], MEDIA_INDEX);
    let entries = index["manifests"]
        .as_array()
        .expect("index has a manifests array");
    let listed: BTreeSet<(String, String)> = entries
        .iter()
        .map(|m| {
            let platform = format!(
                "{}/{}",
                m["platform"]["os"].as_str().expect("platform.os"),
                m["platform"]["architecture"]
                    .as_str()
                    .expect("platform.architecture")
            );
            (platform, m["digest"].as_str().expect("digest").to_string())
        })
        .collect();
    let expected: BTreeSet<(String, String)> = image.manifests.iter().cloned().collect();
    assert_eq!(listed, expected);
    let platforms: BTreeSet<&str> = listed.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(platforms, BTreeSet::from(["linux/amd64", "linux/arm64"]));
}

#[test]
fn registries_images_and_file_server_work() {
    let t0 = Instant::now();
    let registry = Registry::start();
    let other = Registry::start();
    assert_ne!(registry.host(), other.host());
    let work = common::workdir();
    let files_root = work.path().join("files");
    std::fs::create_dir_all(&files_root).expect("create file server root");
    let files = FileServer::start(&files_root);
    eprintln!("servers up in {:?}", t0.elapsed());

    // Build twice into separate layouts: same digests both times.
    let t1 = Instant::now();
    let layout = work.path().join("layout");
    let built = build_layout(&layout, &specs());
    let again = build_layout(&work.path().join("layout-again"), &specs());
    assert_eq!(built, again, "image building is not deterministic");
    eprintln!("two layouts built in {:?}", t1.elapsed());

    // The shared base layer is one blob across both images and platforms;
    // random layers differ per platform and per image.
    let common_blobs: Vec<&String> = built[0]
        .blobs
        .iter()
        .filter(|b| built[1].blobs.contains(b))
        .collect();
    assert_eq!(
        common_blobs.len(),
        1,
        "exactly the base layer is shared: {common_blobs:?}"
    );
    // 1 shared + 2 platforms x (2 random layers + config).
    assert_eq!(built[0].blobs.len(), 7);

    let t2 = Instant::now();
    for image in &built {
        push_image(&layout, image, &registry.host());
    }
    eprintln!("pushed 2 images in {:?}", t2.elapsed());

    for image in &built {
        let raw = skopeo_inspect_raw(&format!("{}/{}", registry.host(), image.reference()));
        assert_index_in_registry(&raw, image);
        // Per-platform manifests are there too, under their digests.
        for (platform, digest) in &image.manifests {
            let raw = skopeo_inspect_raw(&format!(
                "docker://{}/{}@{digest}",
                registry.host(),
                image.repository
            ));
            assert_eq!(&sha256_digest(&raw), digest, "manifest for {platform}");
        }
    }

    let catalog = registry.get("/v2/_catalog");
    assert_eq!(catalog.status, 200);
    let catalog: serde_json::Value = serde_json::from_slice(&catalog.body).expect("parse catalog");
    assert_eq!(
        catalog["repositories"],
        serde_json::json!(["airlock-test/kube-apiserver", "airlock-test/nested/pause"])
    );
    let empty = other.get("/v2/_catalog");
    assert_eq!(
        empty.text().trim(),
        r#"{"repositories":[]}"#,
        "second registry is independent"
    );

    // File server: raw TCP GET, checked against the .sha256 companion.
    let kubeadm = random_bytes(42, 150 * 1024);
    let rel = "release/v1.31.0/bin/linux/amd64/kubeadm";
    let written = write_file_tree(&files_root, &[(rel, &kubeadm)]);
    assert_eq!(written, vec![(rel.to_string(), sha256_hex(&kubeadm))]);
    let body = files.get(&format!("/{rel}"));
    assert_eq!(body.status, 200, "GET {rel}: {}", files.log_contents());
    let sum = files.get(&format!("/{rel}.sha256"));
    assert_eq!(sum.status, 200);
    assert_eq!(
        sha256_hex(&body.body),
        sum.text(),
        "served file matches its .sha256"
    );
    assert_eq!(body.body, kubeadm);
    assert_eq!(files.get("/no/such/file").status, 404);
    assert!(files.url().starts_with("http://127.0.0.1:"));
    eprintln!("whole smoke test took {:?}", t0.elapsed());
}

#[test]
fn basic_auth_registry_over_plain_http() {
    let t0 = Instant::now();
    let registry = Registry::start_with_basic_auth("airlock", "s3cret pass");
    eprintln!("auth registry up in {:?}", t0.elapsed());

    // Without credentials: 401 with a Basic challenge.
    let anonymous =
        try_http_get(&registry.host(), "/v2/", &[]).expect("GET /v2/ without credentials");
    assert_eq!(anonymous.status, 401);
    let challenge = anonymous.header("Www-Authenticate").unwrap_or_default();
    assert!(
        challenge.starts_with("Basic"),
        "challenge was {challenge:?}"
    );
    assert_eq!(registry.get("/v2/").status, 200, "with credentials");

    let work = common::workdir();
    let layout = work.path().join("layout");
    let built = build_layout(
        &layout,
        &[ImageSpec {
            repository: "private/etcd".to_string(),
            tag: "3.5.15-0".to_string(),
            platforms: linux(&["amd64"]),
            layers: vec![LayerSpec::Random {
                seed: 7,
                size: 10 * 1024,
                gzip: true,
            }],
        }],
    );
    let creds = registry.credentials();
    push_image_with_creds(&layout, &built[0], &registry.host(), creds);
    let reference = format!("{}/{}", registry.host(), built[0].reference());
    let raw = skopeo_inspect_raw_with_creds(&reference, creds);
    assert_eq!(sha256_digest(&raw), built[0].index_digest);

    // And skopeo without credentials is refused.
    let refused = std::process::Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false", "--no-creds"])
        .arg(format!("docker://{reference}"))
        .output()
        .expect("run skopeo");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "anonymous inspect must fail");
    assert!(
        stderr.contains("authentication required") || stderr.contains("unauthorized"),
        "anonymous inspect failed for another reason: {stderr}"
    );
    eprintln!("auth test took {:?}", t0.elapsed());
}
