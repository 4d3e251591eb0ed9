//! Shared fixtures for airlock's integration and end-to-end tests.
//!
//! # How to write an end-to-end test here
//!
//! A test reads like its assertions: arrange in a line or two, act, assert. The setup
//! lives here, named, so no setup block is typed out twice (as in ripgrep's tests).
//!
//! 1. Put it in the `tests/e2e/TOPIC.rs` that matches what it checks (a new topic is a new
//!    file plus a `mod TOPIC;` line in `tests/e2e/main.rs`).
//! 2. Arrange with one fixture: `let (s, bundle) = Scenario::built();` (a fixed lock,
//!    signed and built), `Scenario::new()` / `with_upstream` / `with_big_layer`, or
//!    [`upstream::Upstream::new`] for a catalog-driven hop; start what else it needs with
//!    [`servers::Registry::start`] and friends.
//! 3. Act with the scenario's commands: `s.build(..)`, `s.verify(&bundle)`,
//!    `s.install(&bundle, &enclave, &dest, &[])`, `s.install_report(..)`,
//!    `s.on_bundle("serve", &bundle).args([..])`, or the [`cli::Cli`] driver.
//! 4. Assert in one line each: `.ok()`, `.fails(code, "what it says")`,
//!    [`scenario::assert_fails`], and [`check`] (`assert_contains`, `assert_fails_any`,
//!    `assert_same_bundle`, `assert_tagged_only_as_in`, `names_in`, ...). Check results
//!    with tools nobody here wrote (`skopeo`, `minisign`, `sha256sum`).
//! 5. A table of bad inputs is one test per case: a `mod NAME_OF_THE_BEHAVIOUR` holding
//!    one helper that arranges and asserts, and a short `#[test]` per case, so each case
//!    has a name and `cargo test --test e2e NAME_OF_THE_BEHAVIOUR` still runs them all.
//! 6. When a block repeats, give it a name here (add; do not change an existing helper's
//!    signature: other tests use it). `scripts/test-lengths.sh` measures the tests, and
//!    `tests/test_lengths.rs` fails when the median test is 30 lines or more.
//!
//! ```ignore
//! #[test]
//! fn a_flipped_payload_byte_is_refused() {
//!     let (s, bundle) = Scenario::built();
//!     check::flip_middle_byte(&bundle.join("payload.tar.zst"));
//!     assert_fails(&s.verify(&bundle), 3, "payload");
//! }
//! ```
//!
//! # What is here
//!
//! Every test binary under `tests/` that needs real servers or real images
//! starts with `mod common;` and then picks what it needs:
//!
//! * [`servers::Registry`] runs a private CNCF distribution registry
//!   (`docker-registry serve`, Debian package `docker-registry`) on a free
//!   loopback port, optionally behind htpasswd basic auth. It is killed when
//!   the value is dropped, and its storage lives in its own temporary folder.
//! * [`servers::FileServer`] serves a folder over plain HTTP
//!   (`python3 -m http.server`), standing in for dl.k8s.io and friends.
//! * [`images::build_layout`] writes deterministic multi-platform OCI images
//!   (seeded pseudo-random layers, no network) into an OCI image layout, and
//!   [`images::push_image`] pushes them into a [`servers::Registry`] with
//!   `skopeo`, keeping every digest byte-for-byte.
//! * [`images::write_file_tree`] writes files plus their `NAME.sha256`
//!   companions, ready for a [`servers::FileServer`].
//! * [`cli::Cli`] runs either binary (`Cli::airlock()`, `Cli::verify()`) and
//!   asserts with `.ok()` / `.fails(code, text)`, showing the command line and
//!   both streams when it fails; [`cli::keygen`] makes a key pair.
//! * [`scenario::Scenario`] (a fixed lock) and [`upstream::Upstream`] (a
//!   catalog-driven hop) are the two upstream fixtures, each with `keygen`,
//!   `build`, `verify` and `install` helpers.
//! * [`check`] holds the one-line assertions and arrangements (stderr says X, a
//!   folder holds exactly these names, two bundles are byte-identical, flip a byte).
//!
//! Images of the test's own, pushed to a registry:
//!
//! ```ignore
//! mod common;
//! use common::{images::*, servers::*};
//!
//! let upstream = Registry::start();
//! let work = common::workdir();
//! let layout = work.path().join("layout");
//! let built = build_layout(&layout, &[ImageSpec {
//!     repository: "library/pause".into(),
//!     tag: "3.9".into(),
//!     platforms: linux(&["amd64", "arm64"]),
//!     layers: vec![LayerSpec::shared("base"),
//!                  LayerSpec::Random { seed: 1, size: 100 * 1024, gzip: true }],
//! }]);
//! push_image(&layout, &built[0], &upstream.host());
//! // ... run the airlock binary against upstream.host(), then compare what it
//! // produced with built[0].index_digest / .manifests / .blobs.
//! ```
//!
//! System tools needed (CI must install them): Debian packages
//! `docker-registry` and `skopeo`, `python3`, and `apache2-utils` (for
//! `htpasswd`, only by [`servers::Registry::start_with_basic_auth`]).
//!
//! Each test binary uses only a subset of these helpers, so dead-code
//! warnings are switched off for the whole module tree.
#![allow(dead_code)]

pub mod board;
pub mod charts;
pub mod check;
pub mod cli;
pub mod cluster_dump;
pub mod etcd;
pub mod evidence;
pub mod hop_upstream;
pub mod images;
pub mod packages;
pub mod provenance;
pub mod release_files;
pub mod scenario;
pub mod servers;
pub mod softhsm;
pub mod tamper;
pub mod tmpfs;
pub mod tsa;
pub mod tuf;
pub mod upstream;

/// The `airlock-verify` binary, built first if needed.
///
/// It belongs to the enclave crate (`crates/airlock-verify`), so `cargo test` of this
/// package alone would not rebuild it and a test could run a stale binary. Building it
/// here makes every run test the current code.
///
/// The build selects what the test command (`cargo test --workspace`) selects, so under it
/// this is a no-op: the same features, the binary it just built. `cargo build -p
/// airlock-verify` would unify features for that package alone and rebuild about fifty
/// dependencies with other features (70 s at the start of every CI run, with both test
/// threads waiting). The features the test build adds (`fuzzing`, `test-world`) only add
/// test-helper modules, no behaviour.
pub fn verify_bin() -> std::path::PathBuf {
    static BUILT: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = std::process::Command::new(cargo)
                .args(["test", "--workspace", "--locked", "--no-run", "--quiet"])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .expect("run cargo test --workspace --no-run");
            assert!(status.success(), "cargo test --workspace --no-run failed");
            assert_cmd::cargo::cargo_bin("airlock-verify")
        })
        .clone()
}

/// A JSON file, parsed.
pub fn read_json(path: &std::path::Path) -> serde_json::Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The string `key` of every object in the array `v` (e.g. the names of a manifest's
/// images); panics when `v` is not an array or an entry lacks the key.
pub fn each<'a>(v: &'a serde_json::Value, key: &str) -> Vec<&'a str> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|e| {
            e[key]
                .as_str()
                .unwrap_or_else(|| panic!("no string {key:?} in {e}"))
        })
        .collect()
}

/// The object of the array `v` whose `key` is `value` (e.g. the checklist step with id
/// "cni.upgrade"); panics, showing `v`, when there is none.
pub fn find<'a>(v: &'a serde_json::Value, key: &str, value: &str) -> &'a serde_json::Value {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .find(|e| e[key] == value)
        .unwrap_or_else(|| panic!("no {key} {value:?} in {v}"))
}

/// A fresh temporary working folder, removed when the returned value drops.
///
/// Its path never contains `:` (which `skopeo`'s `oci:PATH:REF` syntax would
/// misread), so it is safe to put OCI layouts inside it.
pub fn workdir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("airlock-test-")
        .tempdir()
        .expect("create a temporary working folder for the test");
    assert!(
        !dir.path().to_string_lossy().contains(':'),
        "temporary folder {} contains ':'; set TMPDIR to a path without one",
        dir.path().display()
    );
    dir
}

/// Every file and directory under `root` with its size and modification time, so a test
/// can show what a command changed (and that it wrote nothing anywhere else).
pub fn tree(
    root: &std::path::Path,
) -> std::collections::BTreeMap<String, (u64, std::time::SystemTime)> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(|e| e.ok())
        .map(|e| {
            let m = e.metadata().expect("stat");
            let rel = e.path().strip_prefix(root).unwrap().display().to_string();
            // A directory changes when an entry appears in it; the entry itself shows that.
            if m.is_dir() {
                (rel, (0, std::time::UNIX_EPOCH))
            } else {
                (rel, (m.len(), m.modified().expect("mtime")))
            }
        })
        .collect()
}

/// Assert that between two [`tree`]s of one root, only paths below one of `allowed`
/// (relative to the root) appeared, disappeared or changed.
pub fn assert_changed_only_under(
    before: &std::collections::BTreeMap<String, (u64, std::time::SystemTime)>,
    after: &std::collections::BTreeMap<String, (u64, std::time::SystemTime)>,
    allowed: &[&str],
) {
    let ok = |p: &str| {
        allowed
            .iter()
            .any(|a| p == *a || p.starts_with(&format!("{a}/")))
    };
    let changed: Vec<&String> = before
        .keys()
        .chain(after.keys())
        .filter(|p| before.get(*p) != after.get(*p) && !ok(p))
        .collect();
    assert!(
        changed.is_empty(),
        "written outside {allowed:?}: {changed:?}"
    );
}
