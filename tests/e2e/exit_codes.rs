//! docs/cli.md's exit-code table is what the tools do: each code of the table, through
//! the real binaries, with a message that names the artifact (issue 21). And the
//! messages of issue 21 item 17 that belong to trust and output.

use std::path::Path;

use crate::common::check::assert_contains;
use crate::common::cli::{self, stderr};
use crate::common::scenario::{Scenario, assert_fails, bash, sh};

/// The codes docs/cli.md's table lists, read from the table itself, so a row added
/// there without a case here fails this test.
fn documented_codes() -> Vec<i32> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/cli.md")).unwrap();
    let table = doc
        .split("## Exit codes (both binaries)")
        .nth(1)
        .unwrap()
        .split("\n\n")
        .nth(1)
        .unwrap();
    table
        .lines()
        .filter_map(|l| l.strip_prefix("| ")?.split(' ').next()?.parse().ok())
        .collect()
}

#[test]
fn every_exit_code_of_the_table() {
    let (s, bundle) = Scenario::built();
    let b = bundle.to_str().unwrap();
    let public = format!("{}.pub", s.key.display());
    let mut seen = Vec::new();

    // 0: success.
    let out = s.verify(&bundle);
    assert!(out.status.success(), "{}", stderr(&out));
    seen.push(0);

    // 1: operational: the enclave registry is not reachable; the error names it.
    let out = s.install_to(
        &bundle,
        "127.0.0.1:1",
        &s.path("dest"),
        &["--insecure", "--attempts", "1"],
    );
    assert_fails(&out, 1, "registry 127.0.0.1:1");
    seen.push(1);

    // 2: usage: nothing to trust (both ways of giving trust are named), threshold 0, and a
    // threshold no key set can meet.
    let out = s.run_verify(&["verify", b, "--quiet"]);
    assert_fails(&out, 2, "--trust");
    assert_fails(&out, 2, "--policy");
    // Refused before anything is written: no destination, no state, no receipt.
    let untrusted_dest = s.path("untrusted-dest");
    let out = s
        .verify_bin(&["install", b, "--registry", "127.0.0.1:1", "--dest"])
        .arg(&untrusted_dest)
        .output()
        .unwrap();
    assert_fails(&out, 2, "--trust");
    assert!(!untrusted_dest.exists());
    let out = s.run_verify(&["verify", b, "--trust", &public, "--threshold", "0"]);
    assert_fails(&out, 2, "--threshold 0");
    let out = s.run_verify(&["verify", b, "--trust", &public, "--threshold", "2"]);
    assert_fails(&out, 2, "--threshold 2 can never be met");
    seen.push(2);

    // 3: the bundle cannot be trusted: its manifest changed after signing.
    let tampered = s.path("tampered");
    assert!(
        sh(&format!("cp -a {b} {}", tampered.display()), s.work.path())
            .status
            .success()
    );
    let m = tampered.join("manifest.json");
    let text = std::fs::read_to_string(&m)
        .unwrap()
        .replacen("0755", "0777", 1);
    std::fs::write(&m, text).unwrap();
    let out = s.verify(&tampered);
    assert_fails(&out, 3, "signatures do not meet the trust policy");
    assert_fails(&out, 3, ".minisig");
    seen.push(3);

    // 4: invalid input: a key file that is missing, a bundle path that is not a bundle.
    let out = s.run_verify(&["verify", b, "--trust", "nowhere.pub"]);
    assert_fails(&out, 4, "nowhere.pub");
    let out = s.run_verify(&["verify", "bundel", "--trust", &public]);
    assert_fails(&out, 4, "bundle directory bundel");
    // The folder above the bundle is a wrong path too, and the bundle below is named.
    let parent = bundle.parent().unwrap().to_str().unwrap();
    let out = s.run_verify(&["verify", parent, "--trust", &public]);
    assert_fails(&out, 4, &format!("not a bundle; did you mean {b}"));
    // A registry given as a URL is refused before a state directory or receipt exists.
    let dest = s.path("url-dest");
    let out = s.install_to(&bundle, "http://127.0.0.1:1", &dest, &["--insecure"]);
    assert_fails(&out, 4, "without a scheme");
    assert!(!dest.exists());
    seen.push(4);

    // 5: content did not match its pinned digest (upstream), named by digest. A fresh
    // scenario: this one's cache already holds the good bytes.
    let s = Scenario::new();
    let layer = s.corrupt_upstream_layer();
    let out = s.try_build("rebuilt", &s.net_args());
    assert_fails(&out, 5, &layer[..12]);
    seen.push(5);

    assert_eq!(
        seen,
        documented_codes(),
        "docs/cli.md's table and this test disagree"
    );
}

/// Standard output that cannot be written is an exit code, not a panic (once exit 101
/// with a backtrace): a reader gone (`| true`, as `| head` does) ends the command quietly
/// with 141, as for a program the pipe's signal ended, unless the bundle failed (its code
/// wins); a full disk is 1, naming it.
#[test]
fn standard_output_that_cannot_be_written_is_an_exit_code() {
    let (s, bundle) = Scenario::built();
    let verify = format!(
        "'{}' verify '{}' --trust '{}.pub' --json",
        crate::common::verify_bin().display(),
        bundle.display(),
        s.key.display()
    );
    let out = bash(&format!("{verify} | true; exit ${{PIPESTATUS[0]}}"));
    assert_eq!(out.status.code(), Some(141), "{}", stderr(&out));
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
    let out = bash(&format!("{verify} > /dev/full"));
    assert_fails(&out, 1, "writing to standard output: No space left");
    // An untrusted bundle's verdict wins over the closed pipe: 3, not 141.
    std::fs::remove_dir_all(bundle.join("signatures")).unwrap();
    let out = bash(&format!("{verify} | true; exit ${{PIPESTATUS[0]}}"));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
}

/// A bundle path that is not UTF-8 still gets its JSON (once a panic in `json!`).
#[test]
fn verify_json_shows_a_path_that_is_not_utf8() {
    use std::os::unix::ffi::OsStrExt as _;
    let (s, bundle) = Scenario::built();
    let odd = s.work.path().join(std::ffi::OsStr::from_bytes(b"b\xff"));
    std::fs::rename(&bundle, &odd).unwrap();
    let public = format!("{}.pub", s.key.display());
    let cmd = s
        .verify_bin(&["verify", "--trust", &public, "--json"])
        .arg(&odd)
        .output();
    let out = cmd.unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(v["verified"], true);
    assert!(v["bundle"].as_str().unwrap().ends_with("b\u{fffd}"), "{v}");
}

/// Issue 21 item 16: `verify --json` answers on failure too, with the reason and code.
#[test]
fn verify_json_reports_failure() {
    let (s, bundle) = Scenario::built();
    let public = format!("{}.pub", s.key.display());
    let run =
        |b: &Path| s.run_verify(&["verify", b.to_str().unwrap(), "--trust", &public, "--json"]);
    let out = run(&s.path("bundel"));
    assert_eq!(out.status.code(), Some(4));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(v["verified"], false);
    assert_eq!(v["exit_code"], 4);
    assert!(v["error"].as_str().unwrap().contains("bundel"), "{v}");
    // A bundle that cannot be trusted: exit 3, said in the JSON too.
    std::fs::remove_dir_all(bundle.join("signatures")).unwrap();
    let out = run(&bundle);
    assert_eq!(out.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(v["exit_code"], 3);
    assert!(v["error"].as_str().unwrap().contains("signatures"), "{v}");
}

/// Issue 21 item 17: `signers` exits 3 when the policy is not met (as `verify` would),
/// and its rule line reads unambiguously.
#[test]
fn signers_exits_3_when_the_policy_is_not_met() {
    let (s, bundle) = Scenario::built();
    let other = s.keygen("other");
    let (b, public, other_pub) = (
        bundle.to_str().unwrap(),
        format!("{}.pub", s.key.display()),
        format!("{}.pub", other.display()),
    );
    let out = s.run_verify(&[
        "signers",
        b,
        "--trust",
        &public,
        "--trust",
        &other_pub,
        "--threshold",
        "2",
    ]);
    assert_fails(&out, 3, "1 more distinct trusted key");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_contains(&stdout, "rule: signatures: 2 required, 1 counted");
    let out = s.run_verify(&["signers", b, "--trust", &public]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 required, 1 counted"));
}

/// Issue 21 item 17: the build signature's trusted comment records when it was made, as
/// approvals do, and `minisign -V` (which shows the trusted comment it checked) says so.
#[test]
fn the_builders_trusted_comment_has_a_time() {
    let (s, bundle) = Scenario::built();
    let sigs: Vec<_> = std::fs::read_dir(bundle.join("signatures"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(sigs.len(), 1);
    let out = sh(
        &format!(
            "minisign -V -p {}.pub -m manifest.json -x {}",
            s.key.display(),
            sigs[0].display()
        ),
        &bundle,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let comment = stdout
        .lines()
        .find_map(|l| l.strip_prefix("Trusted comment: "))
        .unwrap_or_else(|| panic!("{stdout}"));
    let year = format!(
        " time={}",
        &airlock_verify::time::Timestamp::now().to_string()[..4]
    );
    assert!(
        comment.starts_with("airlock-bundle ") && comment.contains(&year),
        "{comment}"
    );
    assert!(
        comment.ends_with(&format!(
            "payload_sha256={}",
            serde_json::from_slice::<serde_json::Value>(
                &std::fs::read(bundle.join("manifest.json")).unwrap()
            )
            .unwrap()["payload"]["sha256"]
                .as_str()
                .unwrap()
                .trim_start_matches("sha256:")
        )),
        "{comment}"
    );
    // `signers` shows it.
    let out = s.on_bundle("signers", &bundle).run();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(" at "),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Issue 21 item 17: log lines carry no terminal colour codes when stderr is not a
/// terminal (both binaries), and a document that differs from the manifest is reported
/// with the expected and the found values, each named.
#[test]
fn plain_logs_off_a_terminal_and_mismatches_say_which_is_which() {
    let (s, bundle) = Scenario::built();
    // A warning from each binary: a secret key readable by others.
    let approver = s.keygen("approver");
    let key = cli::key_of(&approver);
    assert!(
        sh(&format!("chmod 644 {key}"), s.work.path())
            .status
            .success()
    );
    let signed = s.sign(&bundle, &approver, "change-board").run();
    assert!(signed.status.success(), "{}", stderr(&signed));
    let dest = s.path("dest");
    let installed = s.install_to(
        &bundle,
        "127.0.0.1:1",
        &dest,
        &["--insecure", "--attempts", "1", "--receipt-key", &key],
    );
    for (who, text) in [
        ("airlock", stderr(&signed)),
        ("airlock-verify", stderr(&installed)),
    ] {
        assert!(text.contains("WARN"), "{who}: {text}");
        assert!(
            !text.contains('\u{1b}'),
            "{who}: colour codes in a pipe: {text:?}"
        );
    }
    // A document changed after signing.
    let doc = std::fs::read_dir(bundle.join("report"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "md"))
        .expect("a report document");
    let good = std::fs::read(&doc).unwrap();
    let mut bytes = good.clone();
    bytes[0] ^= 1;
    std::fs::write(&doc, &bytes).unwrap();
    let out = s.verify(&bundle);
    let sha = |b: &[u8]| crate::common::images::sha256_hex(b);
    let n = good.len();
    assert_fails(
        &out,
        3,
        &format!("expected {n} bytes with sha256 {}", sha(&good)),
    );
    assert_fails(
        &out,
        3,
        &format!("found {n} bytes with sha256 {}", sha(&bytes)),
    );
    // Longer than signed: reading stopped past the expected size, and says so.
    bytes.extend_from_slice(b"\nedited\n");
    std::fs::write(&doc, &bytes).unwrap();
    assert_fails(&s.verify(&bundle), 3, &format!("found more than {n} bytes"));
}

/// Issue 21 item 17: `preflight`'s report, warnings included ("not evaluated", FAIL),
/// is its output on stdout; stderr carries only the one-line summary of a failure.
#[test]
fn preflight_writes_its_report_to_stdout() {
    let (s, bundle) = Scenario::built();
    let dump = s.path("nodes.json");
    // One node three minors behind the hop's target: the skew check fails.
    std::fs::write(
        &dump,
        r#"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Node",
            "metadata":{"name":"old-worker"},"status":{"nodeInfo":{"kubeletVersion":"v1.26.3"}}}]}"#,
    )
    .unwrap();
    let out = s
        .on_bundle("preflight", &bundle)
        .args([
            "--cluster-dump",
            dump.to_str().unwrap(),
            "--state-dir",
            s.path("state").to_str().unwrap(),
        ])
        .run();
    let (stdout, err) = (String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert_eq!(out.status.code(), Some(1), "{stdout}{err}");
    assert!(
        stdout.contains("FAIL  skew") && stdout.contains("not evaluated"),
        "{stdout}"
    );
    assert!(
        !err.contains("skew") && !err.contains("not evaluated"),
        "{err}"
    );
    assert!(err.contains("preflight check(s) failed"), "{err}");
}
