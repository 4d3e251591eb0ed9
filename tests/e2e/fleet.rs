//! Fleets: `publish` pushes a bundle into a real registry as an OCI artifact, `fetch`
//! pulls it back into a directory that verifies (and installs) exactly as the original;
//! an artifact whose layers were swapped in the registry is refused and leaves nothing
//! that looks like a bundle.

use std::path::Path;

use crate::common::check::{assert_fails_any, flip_byte, mkdir};
use crate::common::cli::Run;
use crate::common::cli::json;
use crate::common::images::{sha256_digest, skopeo_inspect_raw};
use crate::common::scenario::{Scenario, assert_fails, read_tree, sh_ok};
use crate::common::servers::{Registry, http_request};

fn publish(s: &Scenario, bundle: &Path, target: &str) -> Run {
    let pubkey = format!("{}.pub", s.key.display());
    s.run_verify(&[
        "publish",
        bundle.to_str().unwrap(),
        "--trust",
        &pubkey,
        "--registry",
        target,
        "--insecure",
        "--json",
    ])
}

fn fetch(s: &Scenario, reference: &str, out: &Path, key: &Path) -> Run {
    s.run_verify(&[
        "fetch",
        reference,
        "--trust",
        &format!("{}.pub", key.display()),
        "--out",
        out.to_str().unwrap(),
        "--insecure",
        "--json",
        "--quiet",
    ])
}

/// Nothing in `dir` that could be taken for a bundle: no entries but `keep`.
fn only(dir: &Path, keep: &[&str]) {
    let mut left: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !keep.contains(&n.as_str()))
        .collect();
    left.sort();
    assert!(
        left.is_empty(),
        "left behind in {}: {left:?}",
        dir.display()
    );
}

#[test]
fn a_published_bundle_is_fetched_verified_and_installed() {
    let (s, bundle) = Scenario::built();
    let fleet = Registry::start();
    let target = format!("{}/airlock/hop:v1.30.2", fleet.host());
    let report = json(&publish(&s, &bundle, &target));
    let digest = report["digest"].as_str().unwrap().to_string();
    assert!(
        report["files"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["uploaded"] == true)
    );

    // An independent client sees an OCI artifact, one titled layer per bundle file.
    let raw = skopeo_inspect_raw(&target);
    assert_eq!(sha256_digest(&raw), digest);
    let artifact: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(
        artifact["artifactType"],
        "application/vnd.airlock.bundle.v1"
    );
    assert_eq!(
        artifact["config"]["mediaType"],
        "application/vnd.oci.empty.v1+json"
    );
    let titles: Vec<&str> = artifact["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            l["annotations"]["org.opencontainers.image.title"]
                .as_str()
                .unwrap()
        })
        .collect();
    // The bundle's files in bundle order, the signed report documents last.
    assert_eq!(titles.len(), 8, "{titles:?}");
    assert_eq!(titles[0], "manifest.json");
    assert!(titles[1].starts_with("signatures/") && titles[1].ends_with(".minisig"));
    assert_eq!(
        &titles[2..],
        [
            "SHA256SUMS",
            "payload.tar.zst",
            "report/change-report.json",
            "report/change-report.md",
            "report/change-report.html",
            "report/sbom.cdx.json"
        ]
    );

    // Publishing again sends nothing and names the same artifact.
    let again = json(&publish(&s, &bundle, &target));
    assert_eq!(again["digest"], digest.as_str());
    assert!(
        again["files"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["uploaded"] == false)
    );
    assert_eq!(again["bytes_uploaded"], 0);

    // Fetch by tag: the same files, byte for byte, and independent tools agree.
    let fetched = s.path("site/bundle");
    let r = json(&fetch(&s, &target, &fetched, &s.key));
    assert_eq!(r["digest"], digest.as_str());
    assert_eq!(read_tree(&fetched), read_tree(&bundle));
    // No directory the bundle does not have (once an empty verifier/).
    only(
        &fetched,
        &[
            "manifest.json",
            "signatures",
            "SHA256SUMS",
            "payload.tar.zst",
            "report",
        ],
    );
    sh_ok("sha256sum -c SHA256SUMS", &fetched);
    only(&s.path("site"), &["bundle"]);

    // Fetch pinned by digest.
    let pinned = s.path("pinned");
    let reference = format!("{}/airlock/hop@{digest}", fleet.host());
    json(&fetch(&s, &reference, &pinned, &s.key));
    assert_eq!(read_tree(&pinned), read_tree(&bundle));

    // The fetched bundle installs, with the upstream digests.
    let enclave = Registry::start();
    let out = s.install(&fetched, &enclave, &s.path("dest"), &[]);
    json(&out);
    let raw = skopeo_inspect_raw(&format!("{}/kube-apiserver:v1.30.2", enclave.host()));
    assert_eq!(sha256_digest(&raw), s.images[0].index_digest);

    // An existing --out is never replaced.
    let o = fetch(&s, &target, &fetched, &s.key);
    assert_fails(&o, 4, "already exists");
}

#[test]
fn fetch_refuses_swapped_layers_and_leaves_nothing_that_looks_valid() {
    let s = Scenario::new();
    let a = s.build("a", &[]);
    let b = s.build("b", &["--level", "9"]);
    let fleet = Registry::start();
    let host = fleet.host();
    json(&publish(&s, &a, &format!("{host}/airlock/hop:a")));
    json(&publish(&s, &b, &format!("{host}/airlock/hop:b")));
    let manifest = |tag: &str| -> serde_json::Value {
        serde_json::from_slice(&skopeo_inspect_raw(&format!("{host}/airlock/hop:{tag}"))).unwrap()
    };
    let (man_a, man_b) = (manifest("a"), manifest("b"));
    let layer = |m: &serde_json::Value, title: &str| {
        m["layers"]
            .as_array()
            .unwrap()
            .iter()
            .position(|l| l["annotations"]["org.opencontainers.image.title"] == title)
            .unwrap()
    };
    let (pa, pb) = (
        layer(&man_a, "payload.tar.zst"),
        layer(&man_b, "payload.tar.zst"),
    );
    assert_ne!(man_a["layers"][pa]["digest"], man_b["layers"][pb]["digest"]);

    // Push a modified artifact through the registry API, as anyone with push rights could.
    let push = |tag: &str, m: &serde_json::Value| {
        let (path, body) = (
            format!("/v2/airlock/hop/manifests/{tag}"),
            serde_json::to_vec(m),
        );
        let oci = [("Content-Type", "application/vnd.oci.image.manifest.v1+json")];
        let r = http_request(&host, "PUT", &path, &oci, &body.unwrap()).unwrap();
        assert_eq!(r.status, 201, "push {tag}: {}", r.text());
    };
    let site = mkdir(s.path("site"));
    let out = site.join("bundle");
    // Push `m` as TAG, then fetch it with the release key.
    let push_and_fetch = |tag: &str, m: &serde_json::Value| {
        push(tag, m);
        fetch(&s, &format!("{host}/airlock/hop:{tag}"), &out, &s.key)
    };

    // A's manifest and signatures with B's payload.
    let mut swapped = man_a.clone();
    swapped["layers"][pa] = man_b["layers"][pb].clone();
    let o = push_and_fetch("payload-swapped", &swapped);
    assert_fails(&o, 3, "bundle verification failed");
    assert_fails_any(&o, 3, &["payload.tar.zst", "SHA256SUMS"]);
    only(&site, &[]);

    // B's manifest.json with A's signatures.
    let mut swapped = man_a.clone();
    let (ma, mb) = (
        layer(&man_a, "manifest.json"),
        layer(&man_b, "manifest.json"),
    );
    swapped["layers"][ma] = man_b["layers"][mb].clone();
    let o = push_and_fetch("manifest-swapped", &swapped);
    assert_fails(&o, 3, "does not verify; nothing was written to");
    only(&site, &[]);

    // Two layers' titles exchanged: each file gets the other's bytes.
    let mut swapped = man_a.clone();
    let sums = layer(&man_a, "SHA256SUMS");
    let sig = 1;
    for key in ["digest", "size"] {
        let (of_sums, of_sig) = (
            man_a["layers"][sums][key].clone(),
            man_a["layers"][sig][key].clone(),
        );
        (swapped["layers"][sums][key], swapped["layers"][sig][key]) = (of_sig, of_sums);
    }
    let o = push_and_fetch("titles-swapped", &swapped);
    crate::common::scenario::assert_code(&o, 3);
    only(&site, &[]);

    // A title that would be a path out of the bundle: refused before anything is written.
    let mut hostile = man_a.clone();
    hostile["layers"][sig]["annotations"]["org.opencontainers.image.title"] =
        "../../evil.minisig".into();
    let o = push_and_fetch("hostile-title", &hostile);
    assert_fails(&o, 4, "is not a bundle file name");
    only(&site, &[]);
    assert!(!s.path("evil.minisig").exists());

    // An untrusted key: the genuine artifact is refused too.
    let other = crate::common::cli::keygen(&s.path("other"));
    let o = fetch(&s, &format!("{host}/airlock/hop:a"), &out, &other);
    crate::common::scenario::assert_code(&o, 3);
    only(&site, &[]);

    // The genuine one still fetches.
    json(&fetch(&s, &format!("{host}/airlock/hop:a"), &out, &s.key));
    assert_eq!(read_tree(&out), read_tree(&a));

    // publish refuses a bundle that fails verification, and pushes nothing.
    let bad = s.build("bad", &[]);
    flip_byte(&bad.join("payload.tar.zst"), |_| 10, 1);
    let o = publish(&s, &bad, &format!("{host}/airlock/bad:v1"));
    assert_fails(&o, 3, "bundle verification failed");
    let catalog = fleet.get("/v2/_catalog").text();
    assert!(!catalog.contains("airlock/bad"), "{catalog}");
}
