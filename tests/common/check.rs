//! One-line assertions and one-line arrangements that the end-to-end tests used to spell
//! out again in each file: "stderr says X", "the directory holds exactly these names",
//! "these bundle files are byte-identical", "no tag names an image a clean install would
//! not have", "flip one byte of this file". Each shows what it saw when it fails.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

/// Assert `text` contains `needle`, showing `text` if not.
#[track_caller]
pub fn assert_contains(text: &str, needle: &str) {
    assert!(text.contains(needle), "{needle:?} not in:\n{text}");
}

/// Assert `text` does not contain `needle`, showing `text` if it does.
#[track_caller]
pub fn assert_lacks(text: &str, needle: &str) {
    assert!(!text.contains(needle), "{needle:?} in:\n{text}");
}

/// Assert a command exited with `code` and its stderr says at least one of `needles`
/// (for failures that either of two checks may catch first, each naming the reason).
#[track_caller]
pub fn assert_fails_any(out: &Output, code: i32, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(code),
        "expected exit {code}:\n{stderr}"
    );
    assert!(
        needles.iter().any(|n| stderr.contains(n)),
        "stderr says none of {needles:?}:\n{stderr}"
    );
}

/// The names directly in `dir`, sorted.
pub fn names_in(dir: &Path) -> Vec<String> {
    let listing = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("list {}: {e}", dir.display()));
    let mut v: Vec<String> = listing
        .map(|e| e.expect("read a directory entry"))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Create `dir` (and its parents); returns it.
pub fn mkdir(dir: PathBuf) -> PathBuf {
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}

/// The bundle files a rebuild must reproduce byte for byte.
pub const BUNDLE_FILES: [&str; 3] = ["manifest.json", "payload.tar.zst", "SHA256SUMS"];

/// Assert the [`BUNDLE_FILES`] of bundle `a` are byte-identical to those of bundle `b`.
#[track_caller]
pub fn assert_same_bundle(a: &Path, b: &Path) {
    for f in BUNDLE_FILES {
        let read = |d: &Path| std::fs::read(d.join(f)).unwrap_or_else(|e| panic!("read {f}: {e}"));
        assert!(read(a) == read(b), "{f} differs from a clean build");
    }
}

/// Assert every tag of `partial` (a registry [`snapshot`](super::servers::Registry::snapshot)
/// after an interrupted install) names what a clean install names: nothing was tagged
/// before its image was complete.
#[track_caller]
pub fn assert_tagged_only_as_in(
    partial: &BTreeMap<String, String>,
    reference: &BTreeMap<String, String>,
) {
    for (tag, digest) in partial {
        assert_eq!(reference.get(tag), Some(digest), "{tag} was tagged early");
    }
}

/// Flip the bits `mask` of one byte of `file`, the one at `at(length)` (a transport
/// attacker's edit).
pub fn flip_byte(file: &Path, at: impl FnOnce(usize) -> usize, mask: u8) {
    let mut bytes = std::fs::read(file).unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
    let i = at(bytes.len());
    bytes[i] ^= mask;
    std::fs::write(file, bytes).unwrap_or_else(|e| panic!("write {}: {e}", file.display()));
}

/// Flip the lowest bit of the middle byte of `file`.
pub fn flip_middle_byte(file: &Path) {
    flip_byte(file, |n| n / 2, 0x01);
}

/// `127.0.0.1:PORT` for a loopback port nothing listens on (bound, then released).
pub fn closed_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local address").to_string()
}

/// The digest of the manifest `reference` (`HOST/REPO:TAG`) as the registry serves it,
/// read with `skopeo inspect --raw` (with `creds` when the registry needs them).
pub fn served_digest(reference: &str, creds: Option<(&str, &str)>) -> String {
    let raw = super::images::skopeo_inspect_raw_with_creds(reference, creds);
    super::images::sha256_digest(&raw)
}
