//! Hostile and broken input: each case gets a clear error naming the artifact, a non-zero
//! exit, and no output that looks valid.

use crate::common::check::flip_byte;
use crate::common::scenario::{Scenario, assert_fails};

#[test]
fn tampered_payload_byte_is_refused() {
    let (s, bundle) = Scenario::built();
    flip_byte(&bundle.join("payload.tar.zst"), |n| n / 2, 0x40);
    let out = s.verify(&bundle);
    assert_fails(&out, 3, "payload.tar.zst");
}

#[test]
fn tampered_manifest_is_refused_before_parsing() {
    let (s, bundle) = Scenario::built();
    let p = bundle.join("manifest.json");
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replacen("0755", "0777", 1);
    std::fs::write(&p, text).unwrap();
    assert_fails(&s.verify(&bundle), 3, "signature");
}

#[test]
fn truncated_payload_is_refused() {
    let (s, bundle) = Scenario::built();
    let p = bundle.join("payload.tar.zst");
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() - 100]).unwrap();
    assert_fails(&s.verify(&bundle), 3, "truncated");
}

#[test]
fn missing_signature_and_unknown_key_are_refused() {
    let (s, bundle) = Scenario::built();
    // A key nobody trusts.
    let other = s.keygen("other");
    let out = s.run_verify(&[
        "verify",
        bundle.to_str().unwrap(),
        "--trust",
        &format!("{}.pub", other.display()),
    ]);
    assert_fails(&out, 3, "");
    // No signatures at all.
    std::fs::remove_dir_all(bundle.join("signatures")).unwrap();
    assert_fails(&s.verify(&bundle), 3, "signatures");
}

#[test]
fn upstream_blob_that_does_not_match_its_digest_stops_the_build() {
    let s = Scenario::new();
    let layer = s.corrupt_upstream_layer();
    let out_dir = s.path("bundle");
    let out = s.try_build("bundle", &s.net_args());
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
    let out = s.run_airlock(&[
        "build",
        s.lock.to_str().unwrap(),
        "--key",
        &format!("{}.key", s.key.display()),
    ]);
    assert_fails(&out, 4, "..");
}

// ---- Validly signed but hostile payloads (a compromised builder or a stolen key) ----

use crate::common::servers::Registry;
use crate::common::tamper::{RawEntry, forge};

fn forged(s: &Scenario, mutate: impl FnOnce(&mut Vec<RawEntry>)) -> std::path::PathBuf {
    forge(s, mutate, |_| {})
}

fn forged_with(
    s: &Scenario,
    mutate: impl FnOnce(&mut Vec<RawEntry>),
    edit: impl FnOnce(&mut serde_json::Value),
) -> std::path::PathBuf {
    forge(s, mutate, edit)
}

fn entry(name: &str, kind: u8, link: &str, data: &[u8]) -> RawEntry {
    crate::common::tamper::entry(name.as_bytes(), kind, link, data)
}

#[test]
fn hostile_entries_in_a_signed_payload_are_refused() {
    let s = Scenario::new();
    type Mutation = Box<dyn FnOnce(&mut Vec<RawEntry>)>;
    let cases: Vec<(&str, Mutation, &str)> = vec![
        (
            "extra entry",
            Box::new(|e| e.push(entry("evil.txt", b'0', "", b"x"))),
            "not in the manifest",
        ),
        (
            "symlink",
            Box::new(|e| e.insert(0, entry("oci-layout", b'2', "/etc/passwd", b""))),
            "not a regular file",
        ),
        (
            "hard link",
            Box::new(|e| e.insert(0, entry("oci-layout", b'1', "/etc/shadow", b""))),
            "not a regular file",
        ),
        (
            "dot-dot path",
            Box::new(|e| e.insert(0, entry("../../evil", b'0', "", b"x"))),
            "not in the manifest",
        ),
        (
            "absolute path",
            Box::new(|e| e.insert(0, entry("/tmp/airlock-evil", b'0', "", b"x"))),
            "not in the manifest",
        ),
        (
            "duplicate",
            Box::new(|e| {
                let d = e[2].clone();
                e.insert(3, d)
            }),
            "out of order or duplicated",
        ),
        (
            "missing",
            Box::new(|e| {
                e.pop();
            }),
            "missing",
        ),
        (
            "changed content",
            Box::new(|e| {
                let last = e.len() - 1;
                e[last].data[0] ^= 1
            }),
            "sha256 mismatch",
        ),
        (
            "directory",
            Box::new(|e| e.insert(0, entry("blobs", b'5', "", b""))),
            "not a regular file",
        ),
    ];
    for (what, mutate, needle) in cases {
        let bundle = forged(&s, mutate);
        let before = crate::common::tree(s.work.path());
        let out = s.verify(&bundle);
        // The verifier writes nothing at all, wherever the entries point.
        crate::common::assert_changed_only_under(&before, &crate::common::tree(s.work.path()), &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(3),
            "{what}: expected exit 3; stderr: {stderr}"
        );
        assert!(
            stderr.contains(needle),
            "{what}: stderr lacks {needle:?}: {stderr}"
        );
    }
    assert!(!std::path::Path::new("/tmp/airlock-evil").exists());
}

#[test]
fn manifest_target_escaping_dest_is_refused() {
    let s = Scenario::new();
    let bundle = forged_with(
        &s,
        |_| {},
        |m| {
            m["files"][0]["target"] = "../../outside".into();
        },
    );
    let out = s.verify(&bundle);
    assert_fails(&out, 3, "..");
    // Install refuses it too, and writes nothing but its own receipt of the refusal.
    let enclave = Registry::start();
    let dest = s.path("dest");
    let before = crate::common::tree(s.work.path());
    let out = s.install(&bundle, &enclave, &dest, &[]);
    assert_fails(&out, 3, "..");
    crate::common::assert_changed_only_under(
        &before,
        &crate::common::tree(s.work.path()),
        &["dest/.airlock", "dest"],
    );
    assert!(!s.path("outside").exists() && !dest.join("bin").exists());
}

#[test]
fn failed_verification_installs_nothing() {
    let s = Scenario::new();
    let bundle = forged(&s, |e| {
        let last = e.len() - 1;
        e[last].data[0] ^= 1;
    });
    let enclave = Registry::start();
    let dest = s.path("dest");
    let before = crate::common::tree(s.work.path());
    let out = s.install(&bundle, &enclave, &dest, &[]);
    assert_fails(&out, 3, "sha256 mismatch");
    crate::common::assert_changed_only_under(
        &before,
        &crate::common::tree(s.work.path()),
        &["dest"],
    );
    let catalog = enclave.get("/v2/_catalog").text();
    assert!(
        catalog.contains("\"repositories\":[]"),
        "registry got content: {catalog}"
    );
    // Nothing installed; the refusal itself is on record in the audit log.
    let files: Vec<_> = walkdir::WalkDir::new(&dest)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().strip_prefix(&dest).unwrap().display().to_string())
        .collect();
    // Only airlock's own state: the enclave key it made, the signed state and the
    // receipt of the refusal with its signature.
    let mut files = files;
    files.sort();
    assert_eq!(
        files,
        vec![
            ".airlock/enclave.key",
            ".airlock/enclave.pub",
            ".airlock/receipts/000001.json",
            ".airlock/receipts/000001.json.minisig",
            ".airlock/state.json",
        ],
        "files were written"
    );
    let receipt = std::fs::read_to_string(dest.join(".airlock/receipts/000001.json")).unwrap();
    assert!(
        receipt.contains("\"outcome\": \"failed\"") && receipt.contains("sha256 mismatch"),
        "{receipt}"
    );
}

#[test]
fn unknown_manifest_format_is_refused() {
    let s = Scenario::new();
    let bundle = forged_with(
        &s,
        |_| {},
        |m| {
            m["format"] = 2.into();
        },
    );
    assert_fails(&s.verify(&bundle), 3, "format");
    let bundle = forged_with(
        &s,
        |_| {},
        |m| {
            m["freeze_until"] = "2030-01-01".into();
        },
    );
    assert_fails(&s.verify(&bundle), 3, "freeze_until");
}

/// `airlock build` refuses an existing output before any download: exit 4 naming it, the
/// directory as it was, and nothing new in the cache or beside the output.
#[test]
fn build_refuses_an_existing_output_before_any_download() {
    use crate::common::tree;
    let s = Scenario::new();
    let out = s.path("taken");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("mine.txt"), b"not a bundle").unwrap();
    let (work, cache) = (tree(s.work.path()), tree(&s.cache));
    let o = s.try_build("taken", &s.net_args());
    assert_fails(&o, 4, "already exists");
    assert!(String::from_utf8_lossy(&o.stderr).contains(&out.display().to_string()));
    assert_eq!(
        tree(s.work.path()),
        work,
        "the build wrote beside its output"
    );
    assert_eq!(
        tree(&s.cache),
        cache,
        "the build downloaded before refusing"
    );
}
