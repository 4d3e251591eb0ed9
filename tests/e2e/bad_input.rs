//! Hostile and broken input: each case gets a clear error naming the artifact, a non-zero
//! exit, and no output that looks valid.

use crate::common::scenario::{Scenario, assert_fails};

#[test]
fn tampered_payload_byte_is_refused() {
    let s = Scenario::new();
    let bundle = s.build("bundle", &[]);
    let p = bundle.join("payload.tar.zst");
    let mut bytes = std::fs::read(&p).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&p, bytes).unwrap();
    let out = s.verify(&bundle);
    assert_fails(&out, 3, "payload.tar.zst");
}

#[test]
fn tampered_manifest_is_refused_before_parsing() {
    let s = Scenario::new();
    let bundle = s.build("bundle", &[]);
    let p = bundle.join("manifest.json");
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replacen("0755", "0777", 1);
    std::fs::write(&p, text).unwrap();
    assert_fails(&s.verify(&bundle), 3, "signature");
}

#[test]
fn truncated_payload_is_refused() {
    let s = Scenario::new();
    let bundle = s.build("bundle", &[]);
    let p = bundle.join("payload.tar.zst");
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() - 100]).unwrap();
    assert_fails(&s.verify(&bundle), 3, "truncated");
}

#[test]
fn missing_signature_and_unknown_key_are_refused() {
    let s = Scenario::new();
    let bundle = s.build("bundle", &[]);
    // A key nobody trusts.
    let other = s.path("keys/other");
    s.airlock(&["keygen", "--out", other.to_str().unwrap()])
        .assert()
        .success();
    let out = s
        .verify_bin(&[
            "verify",
            bundle.to_str().unwrap(),
            "--trust",
            &format!("{}.pub", other.display()),
        ])
        .output()
        .unwrap();
    assert_fails(&out, 3, "");
    // No signatures at all.
    std::fs::remove_dir_all(bundle.join("signatures")).unwrap();
    assert_fails(&s.verify(&bundle), 3, "signatures");
}

#[test]
fn upstream_blob_that_does_not_match_its_digest_stops_the_build() {
    let s = Scenario::new();
    // Corrupt one layer inside the upstream registry's storage.
    let layer = s.images[0].blobs[1]
        .strip_prefix("sha256:")
        .unwrap()
        .to_string();
    let data = s.upstream.storage_dir().join(format!(
        "docker/registry/v2/blobs/sha256/{}/{}/data",
        &layer[..2],
        layer
    ));
    let mut bytes = std::fs::read(&data).unwrap();
    bytes[10] ^= 1;
    std::fs::write(&data, bytes).unwrap();
    let out_dir = s.path("bundle");
    let key = format!("{}.key", s.key.display());
    let mut args = vec![
        "build".to_string(),
        s.lock.display().to_string(),
        "--key".into(),
        key,
        "--out".into(),
        out_dir.display().to_string(),
    ];
    args.extend(s.net_args());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = s.airlock(&refs).output().unwrap();
    assert_fails(&out, 5, &layer[..12]);
    assert!(!out_dir.exists(), "no bundle may be left behind");
    let parent_entries: Vec<_> = std::fs::read_dir(s.work.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        !parent_entries
            .iter()
            .any(|n| n.to_string_lossy().contains("partial")),
        "no temporary bundle left: {parent_entries:?}"
    );
}

#[test]
fn lock_with_path_traversal_is_refused() {
    let s = Scenario::new();
    let text = std::fs::read_to_string(&s.lock)
        .unwrap()
        .replace("manifests/calico.yaml", "../../etc/calico.yaml");
    std::fs::write(&s.lock, text).unwrap();
    let out = s
        .airlock(&[
            "build",
            s.lock.to_str().unwrap(),
            "--key",
            &format!("{}.key", s.key.display()),
        ])
        .output()
        .unwrap();
    assert_fails(&out, 4, "..");
}
