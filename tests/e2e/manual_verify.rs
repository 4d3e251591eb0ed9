//! docs/manual-verify.md, steps 1-4, run exactly as written with minisign, sha256sum, zstd
//! and tar: it accepts a good bundle, stops a payload swapped for one of its own signed
//! blobs at step 3, stops a SHA256SUMS that names `/dev/zero` or an unlisted file at step
//! 2 before `sha256sum -c` reads it, and unpacks a validly re-signed setuid entry without
//! the setuid bit.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::check::assert_contains;
use crate::common::scenario::Scenario;
use crate::common::tamper::{read_entries, repack_and_resign};

/// The shell block of the document that starts with `# manual-verify:`.
fn documented_script() -> String {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/manual-verify.md"),
    )
    .expect("read docs/manual-verify.md");
    let start = doc
        .find("```sh\n# manual-verify:")
        .expect("the manual-verify block")
        + "```sh\n".len();
    let len = doc[start..].find("```").expect("end of the block");
    doc[start..start + len].to_string()
}

/// Step 2 of the documented procedure alone (SHA256SUMS checked against the signed
/// manifest, then `sha256sum -c`), for bundles of other shapes (volumes in directories).
pub(crate) fn documented_step_two() -> String {
    let script = documented_script();
    let start = script.find("\n# 2. ").expect("step 2");
    let len = script[start..].find("\n# 3. ").expect("step 3");
    format!("set -eu\n{}", &script[start..start + len])
}

fn run(s: &Scenario, bundle: &Path, out: &Path) -> Output {
    let sig = std::fs::read_dir(bundle.join("signatures"))
        .expect("signatures")
        .next()
        .expect("one signature")
        .expect("entry")
        .path();
    let mut bash = std::process::Command::new("bash");
    bash.arg("-c")
        .arg(documented_script())
        .env("BUNDLE", bundle)
        .env("PUBKEY", format!("{}.pub", s.key.display()))
        .env("SIG", sig)
        .env("OUT", out);
    // A procedure that blocks (sha256sum reading /dev/zero) is itself the defect.
    crate::hostile::run_bounded(bash, std::time::Duration::from_secs(60))
}

fn ok(out: &Output) -> bool {
    out.status.success()
}

#[test]
fn documented_procedure_accepts_a_good_bundle() {
    let (s, bundle) = Scenario::built();
    let out_dir = s.path("unpacked");
    let out = run(&s, &bundle, &out_dir);
    assert!(ok(&out), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out_dir.join("oci-layout").is_file());
    assert!(out_dir.join("index.json").is_file());
}

#[test]
fn payload_swapped_for_one_of_its_blobs_is_stopped_before_unpacking() {
    let (s, bundle) = Scenario::built();
    // The transport attacker has no key: they replace the payload with one of its own
    // (signed, listed) blobs and rewrite the unsigned SHA256SUMS to match.
    let manifest = crate::common::read_json(&bundle.join("manifest.json"));
    let blob = manifest["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"].as_str().unwrap().starts_with("blobs/"))
        .unwrap()["path"]
        .as_str()
        .unwrap()
        .to_string();
    let entries = read_entries(&bundle);
    let data = entries
        .iter()
        .find(|e| e.name == blob.as_bytes())
        .unwrap()
        .data
        .clone();
    std::fs::write(bundle.join("payload.tar.zst"), &data).unwrap();
    let sums = crate::common::scenario::sh(
        "sha256sum manifest.json payload.tar.zst > SHA256SUMS",
        &bundle,
    );
    assert!(sums.status.success());
    let out_dir = s.path("unpacked");
    let out = run(&s, &bundle, &out_dir);
    assert!(
        !ok(&out),
        "the swapped payload passed the documented procedure"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_contains(&stderr, "not the payload the signature names");
    assert!(!out_dir.exists(), "something was unpacked");
}

#[test]
fn setuid_bits_in_a_signed_payload_are_not_kept() {
    let (s, bundle) = Scenario::built();
    let mut entries = read_entries(&bundle);
    let file = entries
        .iter_mut()
        .find(|e| e.name.starts_with(b"files/"))
        .unwrap();
    file.mode = 0o4755;
    let name = PathBuf::from(String::from_utf8(file.name.clone()).unwrap());
    repack_and_resign(&bundle, &s.path("keys/release.key"), &entries, |_| {});
    let out_dir = s.path("unpacked");
    let out = run(&s, &bundle, &out_dir);
    assert!(ok(&out), "{}", String::from_utf8_lossy(&out.stderr));
    let mode = std::fs::metadata(out_dir.join(&name))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7000, 0, "setuid/setgid kept: {mode:o}");
}

#[test]
fn sha256sums_naming_what_the_manifest_does_not_list_is_stopped_before_it_is_read() {
    let (s, bundle) = Scenario::built();
    let good = std::fs::read_to_string(bundle.join("SHA256SUMS")).unwrap();
    let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    // The file is not signed: a transport attacker adds a line. /dev/zero would keep
    // sha256sum -c reading for ever; an unlisted FIFO in the bundle would never open.
    let fifo = bundle.join("notes");
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
    )
    .unwrap();
    for (line, needle) in [
        (format!("{empty}  /dev/zero"), "are not 'SHA256  NAME'"),
        (
            format!("{empty}  notes"),
            "SHA256SUMS names notes, which the signed manifest does not list",
        ),
    ] {
        std::fs::write(bundle.join("SHA256SUMS"), format!("{good}{line}\n")).unwrap();
        let out_dir = s.path("unpacked");
        let out = run(&s, &bundle, &out_dir);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!ok(&out), "{line}: passed the documented procedure");
        assert!(stderr.contains(needle), "{line}: {stderr}");
        // Stopped before step 2's sha256sum -c printed a single line.
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            !stdout.contains(": OK"),
            "{line}: sha256sum -c ran: {stdout}"
        );
        assert!(!out_dir.exists(), "something was unpacked");
    }
    // The lines the build wrote still pass; a FIFO the file does not name is refused.
    std::fs::write(bundle.join("SHA256SUMS"), &good).unwrap();
    let out = run(&s, &bundle, &s.path("unpacked"));
    assert!(!ok(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_contains(&stderr, "the bundle holds a link, FIFO or device: ./notes");
    std::fs::remove_file(&fifo).unwrap();
    let out = run(&s, &bundle, &s.path("unpacked"));
    assert!(ok(&out), "{}", String::from_utf8_lossy(&out.stderr));
}
