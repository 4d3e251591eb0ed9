//! `airlock-verify export`: one archive per image, read back by skopeo
//! (`oci-archive:` and `docker-archive:`), byte-for-byte reproducible, and never written
//! from a bundle that fails verification.

use std::path::{Path, PathBuf};

use crate::common::check::flip_byte;
use crate::common::images::{sha256_digest, sha256_hex, skopeo};
use crate::common::scenario::{Scenario, assert_fails, sh};

fn export(s: &Scenario, bundle: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let pubkey = format!("{}.pub", s.key.display());
    let mut args = vec![
        "export",
        bundle.to_str().unwrap(),
        "--trust",
        &pubkey,
        "--out",
        out.to_str().unwrap(),
        "--json",
    ];
    args.extend_from_slice(extra);
    s.verify_bin(&args).output().unwrap()
}

fn exported(out: &std::process::Output) -> Vec<serde_json::Value> {
    crate::common::cli::ok(out);
    serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn archive_for(list: &[serde_json::Value], image: &str) -> PathBuf {
    let e = list
        .iter()
        .find(|e| e["image"] == image)
        .unwrap_or_else(|| panic!("no archive for {image}"));
    PathBuf::from(e["archive"].as_str().unwrap())
}

/// Every blob file skopeo wrote into a `dir:` destination hashes to its name.
fn check_dir_blobs(dir: &Path) {
    let mut n = 0;
    for f in std::fs::read_dir(dir).unwrap() {
        let f = f.unwrap();
        let name = f.file_name().to_string_lossy().into_owned();
        if name.len() == 64 {
            assert_eq!(sha256_hex(&std::fs::read(f.path()).unwrap()), name);
            n += 1;
        }
    }
    assert!(n >= 2, "only {n} blobs in {}", dir.display());
}

/// The upstream platform manifest, as the scenario's generator wrote it.
fn upstream_manifest(s: &Scenario, digest: &str) -> serde_json::Value {
    let hex = digest.strip_prefix("sha256:").unwrap();
    serde_json::from_slice(&std::fs::read(s.path(&format!("layout/blobs/sha256/{hex}"))).unwrap())
        .unwrap()
}

#[test]
fn oci_archives_are_read_by_skopeo_and_reproducible() {
    let (s, bundle) = Scenario::built();
    let out = s.path("oci");
    let list = exported(&export(&s, &bundle, &out, &["--format", "oci-archive"]));
    assert_eq!(list.len(), 3);
    let m = crate::common::read_json(&bundle.join("manifest.json"));
    for img in m["images"].as_array().unwrap() {
        let archive = archive_for(&list, img["name"].as_str().unwrap());
        let name = archive.file_name().unwrap().to_string_lossy().into_owned();
        assert!(!name.contains(':'), "{name}");
        // The archive's image is the one the enclave would serve, digest for digest.
        let raw = skopeo(&[
            "inspect",
            "--raw",
            &format!("oci-archive:{}", archive.display()),
        ]);
        assert_eq!(
            sha256_digest(&raw.stdout),
            img["served"]["digest"].as_str().unwrap()
        );
    }
    // All platforms: the upstream index digest.
    let api = archive_for(&list, "registry.k8s.io/kube-apiserver:v1.30.2");
    let raw = skopeo(&[
        "inspect",
        "--raw",
        &format!("oci-archive:{}", api.display()),
    ]);
    assert_eq!(sha256_digest(&raw.stdout), s.images[0].index_digest);
    // skopeo copies the image out; the platform manifest keeps its upstream digest and
    // every blob its digest.
    let dir = s.path("copied");
    skopeo(&[
        "--override-os",
        "linux",
        "--override-arch",
        "amd64",
        "copy",
        &format!("oci-archive:{}", api.display()),
        &format!("dir:{}", dir.display()),
    ]);
    let amd64 = s.images[0].manifest_digest("linux/amd64").unwrap();
    assert_eq!(
        sha256_digest(&std::fs::read(dir.join("manifest.json")).unwrap()),
        amd64
    );
    check_dir_blobs(&dir);
    // The archive is a plain tar with the canonical header fields.
    let listing = sh(&format!("tar -tvf {}", api.display()), s.work.path());
    let text = String::from_utf8_lossy(&listing.stdout);
    assert!(
        text.lines().next().unwrap().ends_with("oci-layout"),
        "{text}"
    );
    assert!(
        text.lines().all(|l| l.starts_with("-rw-r--r-- 0/0")),
        "{text}"
    );

    // Reproducible: a second export is byte-identical.
    let again = s.path("oci-again");
    let list2 = exported(&export(&s, &bundle, &again, &["--format", "oci-archive"]));
    for (a, b) in list.iter().zip(&list2) {
        assert_eq!(a["sha256"], b["sha256"]);
        let (fa, fb) = (
            a["archive"].as_str().unwrap(),
            b["archive"].as_str().unwrap(),
        );
        assert_eq!(std::fs::read(fa).unwrap(), std::fs::read(fb).unwrap());
    }
    // Existing archives are not overwritten without --force.
    let o = export(&s, &bundle, &out, &["--format", "oci-archive"]);
    assert_fails(&o, 4, "already exists");
    exported(&export(
        &s,
        &bundle,
        &out,
        &["--format", "oci-archive", "--force"],
    ));

    // One platform on request.
    let arm = s.path("oci-arm64");
    let o = export(
        &s,
        &bundle,
        &arm,
        &["--format", "oci-archive", "--platform", "linux/arm64"],
    );
    // pause carries only linux/amd64: refused, naming it, and nothing is written.
    assert_fails(&o, 4, "registry.k8s.io/pause:3.9 carries only linux/amd64");
    assert_eq!(std::fs::read_dir(&arm).map(|d| d.count()).unwrap_or(0), 0);
}

#[test]
fn docker_archives_are_read_by_skopeo() {
    let (s, bundle) = Scenario::built();
    let out = s.path("docker");
    let list = exported(&export(&s, &bundle, &out, &["--format", "docker-archive"]));
    assert_eq!(list.len(), 3);
    for e in &list {
        assert_eq!(e["platform"], "linux/amd64");
    }
    let api = archive_for(&list, "registry.k8s.io/kube-apiserver:v1.30.2");
    let listing = sh(&format!("tar -tf {}", api.display()), s.work.path());
    assert_eq!(
        String::from_utf8_lossy(&listing.stdout).lines().next(),
        Some("manifest.json")
    );
    let inspect = skopeo(&["inspect", &format!("docker-archive:{}", api.display())]);
    let info: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(info["Architecture"], "amd64");
    assert_eq!(info["Os"], "linux");

    let dir = s.path("copied");
    skopeo(&[
        "copy",
        &format!("docker-archive:{}", api.display()),
        &format!("dir:{}", dir.display()),
    ]);
    check_dir_blobs(&dir);
    // skopeo reads docker archives as uncompressed layers named by their diff ids: the
    // config must be the upstream one, and the layers must decompress to exactly the
    // diff ids that config lists.
    let upstream = upstream_manifest(&s, s.images[0].manifest_digest("linux/amd64").unwrap());
    let copied = crate::common::read_json(&dir.join("manifest.json"));
    assert_eq!(copied["config"]["digest"], upstream["config"]["digest"]);
    let config_hex = upstream["config"]["digest"]
        .as_str()
        .unwrap()
        .strip_prefix("sha256:")
        .unwrap();
    let config = crate::common::read_json(&dir.join(config_hex));
    let layers: Vec<&serde_json::Value> = copied["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| &l["digest"])
        .collect();
    let diff_ids: Vec<&serde_json::Value> = config["rootfs"]["diff_ids"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(layers, diff_ids);
    assert_eq!(layers.len(), upstream["layers"].as_array().unwrap().len());

    // A platform one image does not carry: refused with the image named, nothing written
    // (choosing among carried platforms is unit-tested in export::tests).
    let arm = s.path("docker-arm64");
    let o = export(
        &s,
        &bundle,
        &arm,
        &["--format", "docker-archive", "--platform", "linux/arm64"],
    );
    assert_fails(&o, 4, "pause:3.9 carries only linux/amd64");
    assert_eq!(std::fs::read_dir(&arm).map(|d| d.count()).unwrap_or(0), 0);
}

#[test]
fn export_writes_nothing_from_a_bundle_that_fails_verification() {
    let (s, bundle) = Scenario::built();
    flip_byte(&bundle.join("payload.tar.zst"), |n| n - 100, 0x40);
    let out = s.path("out");
    let o = export(&s, &bundle, &out, &["--format", "oci-archive"]);
    assert_fails(&o, 3, "bundle verification failed");
    assert!(!out.exists() || std::fs::read_dir(&out).unwrap().count() == 0);
}
