//! Issue 23: `airlock provenance trusted-root` against a TUF repository made by tough's
//! own editor and served over real HTTP. The good repository yields the target
//! byte-for-byte (sha256 checked with `sha256sum`); an expired timestamp, a root with the
//! wrong keys and altered target bytes are refused by name; a closed port is a network
//! error, not a trust failure; nothing is written when it fails.

use std::path::{Path, PathBuf};
use std::process::Command;

use airlock_provenance::testworld::World;

use crate::common::check::{closed_port, flip_middle_byte};
use crate::common::cli::{Cli, Run};
use crate::common::tuf::{TufRepo, TufSpec};

/// A Sigstore-shaped trusted root served from a TUF repository made as `spec` says.
fn repo(dir: &Path, spec: TufSpec) -> TufRepo {
    let world = World::new();
    TufRepo::serve(dir, &world.trusted_root_json(), spec)
}

/// `airlock provenance trusted-root --tuf-url URL --root ROOT --out OUT --json`.
fn trusted_root(url: &str, root: &Path, out: &Path) -> Cli {
    Cli::airlock()
        .args(["provenance", "trusted-root", "--json", "--tuf-url", url])
        .arg("--root")
        .arg(root)
        .arg("--out")
        .arg(out)
}

fn sha256sum(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Runs against `r` with `root`, asserts exit `code` naming `needle`, and no output file.
fn refused(r: &TufRepo, root: &Path, code: i32, needle: &str) -> Run {
    let out = r.dir.join("out/trusted_root.json");
    std::fs::create_dir_all(r.dir.join("out")).expect("out folder");
    let run = trusted_root(&r.server.url(), root, &out).fails(code, needle);
    assert!(!out.exists(), "{} was written:\n{run}", out.display());
    run
}

#[test]
fn the_good_repository_yields_the_trusted_root_byte_for_byte() {
    let work = crate::common::workdir();
    let r = repo(work.path(), TufSpec::default());
    let out: PathBuf = work.path().join("trusted_root.json");
    let json = trusted_root(&r.server.url(), &r.root, &out).ok().json();
    assert_eq!(std::fs::read(&out).expect("written"), r.target);
    assert_eq!(json["sha256"], sha256sum(&out));
    assert_eq!(json["initial_root_sha256"], sha256sum(&r.root));
    assert_eq!(json["root_version"], 1);
    assert_eq!(
        json["media_type"],
        "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
    );
    assert_eq!(
        json["certificate_authorities"][0]["url"],
        "https://fulcio.airlock.test"
    );
    assert_eq!(json["tlogs"][0]["url"], "https://rekor.airlock.test");
    assert!(
        json["tuf_url"]
            .as_str()
            .unwrap_or("")
            .contains(&r.server.host())
    );
    // A second run refuses to replace the file it wrote.
    trusted_root(&r.server.url(), &r.root, &out).fails(4, "exists");
}

#[test]
fn a_mirror_serves_the_repository_while_the_output_names_the_canonical_url() {
    let work = crate::common::workdir();
    let r = repo(work.path(), TufSpec::default());
    let out = work.path().join("trusted_root.json");
    let canonical = "https://tuf.airlock.test";
    let mirror = format!("{canonical}={}", r.server.url());
    let json = trusted_root(canonical, &r.root, &out)
        .args(["--mirror", &mirror])
        .ok()
        .json();
    assert_eq!(json["tuf_url"], "https://tuf.airlock.test/");
    assert_eq!(std::fs::read(&out).expect("written"), r.target);
}

#[test]
fn an_expired_timestamp_is_refused_by_name() {
    let work = crate::common::workdir();
    let spec = TufSpec {
        timestamp_expires_in: -3600,
        ..TufSpec::default()
    };
    let r = repo(work.path(), spec);
    refused(&r, &r.root, 3, "timestamp metadata is expired");
}

#[test]
fn a_root_with_other_keys_than_the_repository_signs_with_is_refused() {
    let work = crate::common::workdir();
    let r = repo(work.path(), TufSpec::default());
    let stranger = r.stranger_root();
    refused(
        &r,
        &stranger,
        3,
        "Signature threshold of 1 not met for role timestamp",
    );
}

#[test]
fn targets_signed_by_a_key_the_rotated_root_does_not_list_are_refused() {
    let work = crate::common::workdir();
    let r = repo(work.path(), TufSpec::default());
    r.rotate_targets_key_away();
    refused(&r, &r.root, 3, "threshold of 1 not met for role targets");
}

#[test]
fn a_rollback_to_older_metadata_is_refused_with_a_datastore() {
    let work = crate::common::workdir();
    let newer = TufSpec {
        version: 2,
        ..TufSpec::default()
    };
    let r = repo(work.path(), newer);
    let store = work.path().join("datastore");
    let first = work.path().join("first.json");
    let with_store = |out: &Path| {
        trusted_root(&r.server.url(), &r.root, out)
            .arg("--datastore")
            .arg(&store)
    };
    with_store(&first).ok();
    r.republish(TufSpec::default());
    let out = work.path().join("second.json");
    with_store(&out).fails(3, "when we had previously fetched version 2");
    assert!(!out.exists());
}

#[test]
fn target_bytes_altered_on_the_server_are_refused() {
    let work = crate::common::workdir();
    let r = repo(work.path(), TufSpec::default());
    flip_middle_byte(&r.served_target());
    refused(&r, &r.root, 5, "does not match its signed hash");
}

/// Serves `target` as the signed `trusted_root.json` and expects exit 4 naming `needle`.
fn refused_as_not_a_trusted_root(target: &[u8], needle: &str) {
    let work = crate::common::workdir();
    let r = TufRepo::serve(work.path(), target, TufSpec::default());
    let run = refused(&r, &r.root, 4, "is not a Sigstore trusted root");
    assert!(run.stderr().contains(needle), "{run}");
}

#[test]
fn a_signed_target_of_another_media_type_is_invalid_input() {
    refused_as_not_a_trusted_root(br#"{"mediaType": "text/plain"}"#, "media type");
}

#[test]
fn a_signed_trusted_root_without_cas_or_logs_is_invalid_input() {
    let empty = br#"{"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1"}"#;
    refused_as_not_a_trusted_root(empty, "lists no certificate authority");
}

#[test]
fn a_root_file_that_is_not_tuf_metadata_is_invalid_input() {
    let work = crate::common::workdir();
    let r = repo(work.path(), TufSpec::default());
    std::fs::write(&r.root, b"{}").expect("overwrite root.json");
    refused(&r, &r.root, 4, "TUF root");
}

#[test]
fn a_closed_port_is_a_network_error_not_a_trust_failure() {
    let work = crate::common::workdir();
    let r = repo(work.path(), TufSpec::default());
    let out = work.path().join("trusted_root.json");
    let url = format!("http://{}", closed_port());
    trusted_root(&url, &r.root, &out).fails(1, "network");
    assert!(!out.exists());
}
