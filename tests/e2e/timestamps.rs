//! RFC 3161 timestamps (issue 24): `airlock build/sign --tsa` against OpenSSL's own TSA;
//! every stored token also passes `openssl ts -verify`, and each token airlock refuses,
//! OpenSSL refuses too. A policy that requires stamps checks windows at TSA time.

use std::path::{Path, PathBuf};

use crate::common::check::assert_contains;
use crate::common::cli::Run;
use crate::common::scenario::{Scenario, trust_policy};
use crate::common::tsa::Tsa;

/// The key id file stem of a key prefix.
fn key_id(prefix: &Path) -> String {
    let text = std::fs::read_to_string(format!("{}.pub", prefix.display())).unwrap();
    airlock_verify::trust::PublicKey::from_minisign(&text)
        .unwrap()
        .key_id()
        .to_string()
}

/// `signatures/<KEYID>.minisig` and `.tsr` of `key` in `bundle`.
fn sig_files(bundle: &Path, key: &Path) -> (PathBuf, PathBuf) {
    let id = key_id(key);
    let dir = bundle.join("signatures");
    (
        dir.join(format!("{id}.minisig")),
        dir.join(format!("{id}.tsr")),
    )
}

/// A policy of the builder and carol (change-board, 1 needed), listing `tsa`'s root;
/// `required` makes the change-board rule require a stamp.
fn policy(s: &Scenario, carol: &Path, tsa: &Tsa, required: bool) -> PathBuf {
    let text = trust_policy(1, Some(&s.key), &[("Carol White", carol)], 1);
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["update"]["at_least"] = 1.into();
    v["tsa"] = serde_json::json!([{"name": "test TSA", "certificate": tsa.root_b64()}]);
    if required {
        v["rules"][1]["timestamp"] = "required".into();
    }
    let p = s.path(&format!("enclave/policy-{required}.json"));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    p
}

fn verify(s: &Scenario, bundle: &Path, policy: &Path) -> Run {
    let args = [
        "verify",
        bundle.to_str().unwrap(),
        "--policy",
        policy.to_str().unwrap(),
    ];
    s.run_verify(&args)
}

/// A built bundle, carol's key, and carol's approval stamped by `tsa`.
fn approved(tsa: &Tsa, build: &[&str]) -> (Scenario, PathBuf, PathBuf) {
    let s = Scenario::new();
    let bundle = s.build("bundle", build);
    let carol = s.keygen("carol");
    let run = s
        .sign(&bundle, &carol, "change-board")
        .args(["--tsa", &tsa.url()])
        .ok();
    assert_contains(&run.stdout(), "timestamped:");
    (s, bundle, carol)
}

#[test]
fn a_stamped_approval_passes_openssl_minisign_and_a_policy_that_requires_it() {
    let tsa = Tsa::start();
    let (s, bundle, carol) = approved(&tsa, &[]);
    let (sig, tsr) = sig_files(&bundle, &carol);
    tsa.assert_openssl(&sig, &tsr, true);
    // The .minisig is untouched by the stamp: Debian's minisign still verifies it.
    let pubkey = format!("{}.pub", carol.display());
    let m = bundle.join("manifest.json");
    let out = std::process::Command::new("minisign")
        .args([
            "-V",
            "-p",
            &pubkey,
            "-x",
            sig.to_str().unwrap(),
            "-m",
            m.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let policy = policy(&s, &carol, &tsa, true);
    let run = verify(&s, &bundle, &policy);
    assert!(run.status.success(), "{run}");
    let run = s.run_verify(&[
        "signers",
        bundle.to_str().unwrap(),
        "--policy",
        policy.to_str().unwrap(),
    ]);
    assert_contains(&run.stdout(), "by TSA test TSA");
}

#[test]
fn build_stamps_every_build_signature() {
    let tsa = Tsa::start();
    let s = Scenario::new();
    let bundle = s.build("bundle", &["--tsa", &tsa.url()]);
    let (sig, tsr) = sig_files(&bundle, &s.key);
    tsa.assert_openssl(&sig, &tsr, true);
}

#[test]
fn an_unreachable_tsa_is_exit_4_after_the_signature_is_written() {
    let (s, bundle) = Scenario::built();
    let carol = s.keygen("carol");
    // A port nothing listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/tsa");
    s.sign(&bundle, &carol, "change-board")
        .args(["--tsa", &url])
        .fails(4, "time-stamping authority");
    assert!(sig_files(&bundle, &carol).0.exists());
}

/// Tokens a requiring policy must refuse, each also refused by `openssl ts -verify`.
mod refused_stamps {
    use super::*;

    /// Carol's approval with its `.tsr` replaced by `arrange`, refused (exit 3) saying
    /// `needle`; OpenSSL (against the policy's TSA root) refuses the token too.
    fn assert_refused(arrange: impl FnOnce(&Scenario, &Path, &Path), needle: &str) {
        let tsa = Tsa::start();
        let (s, bundle, carol) = approved(&tsa, &["--tsa", &tsa.url()]);
        let (sig, tsr) = sig_files(&bundle, &carol);
        arrange(&s, &bundle, &tsr);
        tsa.assert_openssl(&sig, &tsr, false);
        let run = verify(&s, &bundle, &policy(&s, &carol, &tsa, true));
        assert_eq!(run.status.code(), Some(3), "{run}");
        assert_contains(&run.stderr(), needle);
    }

    #[test]
    fn a_stamp_of_another_signature() {
        // The build signature's own stamp, valid, but for other bytes.
        assert_refused(
            |s, bundle, tsr| {
                let (_, build_tsr) = sig_files(bundle, &s.key);
                std::fs::copy(build_tsr, tsr).unwrap();
            },
            "the timestamp is for another signature",
        );
    }

    #[test]
    fn a_stamp_from_an_unlisted_tsa() {
        assert_refused(
            |_, _, tsr| {
                let other = Tsa::start();
                let sig = tsr.with_extension("minisig");
                let q = tsr.with_extension("tsq");
                let d = sig.to_str().unwrap();
                crate::common::tsa::openssl_ok(
                    Path::new("."),
                    &[
                        "ts",
                        "-query",
                        "-data",
                        d,
                        "-sha256",
                        "-cert",
                        "-out",
                        q.to_str().unwrap(),
                    ],
                );
                let out = std::process::Command::new("openssl")
                    .args(["ts", "-reply", "-config", "tsa.cnf", "-queryfile"])
                    .arg(&q)
                    .arg("-out")
                    .arg(tsr)
                    .current_dir(other.path(""))
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                std::fs::remove_file(q).unwrap();
                other.assert_openssl(&sig, tsr, true);
            },
            "timestamp from an unlisted TSA",
        );
    }

    #[test]
    fn a_tampered_stamp() {
        assert_refused(
            |_, _, tsr| {
                let mut b = std::fs::read(tsr).unwrap();
                // The genTime digits sit inside the signed TSTInfo: change one second.
                let at = b
                    .windows(2)
                    .position(|w| w == [0x18, 0x0f])
                    .expect("genTime")
                    + 15;
                b[at] = if b[at] == b'0' { b'1' } else { b'0' };
                std::fs::write(tsr, b).unwrap();
            },
            "timestamp signature does not verify",
        );
    }

    #[test]
    fn no_stamp_at_all() {
        let tsa = Tsa::start();
        let (s, bundle, carol) = approved(&tsa, &[]);
        std::fs::remove_file(sig_files(&bundle, &carol).1).unwrap();
        let run = verify(&s, &bundle, &policy(&s, &carol, &tsa, true));
        assert_eq!(run.status.code(), Some(3), "{run}");
        assert_contains(&run.stderr(), "requires a timestamp for role change-board");
    }
}

/// The window closed before the TSA stamped the only approval: refused by TSA time
/// although the enclave's clock (set back with `faketime`) is inside the window; the
/// same bundle without the stamp is accepted at that clock, so the stamp decided it.
#[test]
fn an_approval_stamped_after_the_window_is_refused_whatever_the_enclave_clock() {
    let tsa = Tsa::start();
    let start = airlock::time::Timestamp::now().plus(-2 * 86400);
    let window = format!("{start}/1h");
    let (s, bundle, carol) = approved(&tsa, &["--window", &window]);
    let inside = start
        .plus(1800)
        .to_string()
        .replace('T', " ")
        .replace('Z', "");
    let at_clock = |policy: &Path| {
        let mut args = vec!["-f".to_string(), format!("@{inside}")];
        args.push(crate::common::verify_bin().display().to_string());
        args.extend(["verify", bundle.to_str().unwrap(), "--policy"].map(String::from));
        args.push(policy.display().to_string());
        std::process::Command::new("faketime")
            .args(&args)
            .output()
            .unwrap()
    };
    let out = at_clock(&policy(&s, &carol, &tsa, false));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert_contains(&err, "by TSA time, after the window closed");
    std::fs::remove_file(sig_files(&bundle, &carol).1).unwrap();
    let out = at_clock(&policy(&s, &carol, &tsa, false));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The receipt records both clocks and each counted approval's stamp; the receipt and the
/// policy (with its `tsa` and `timestamp` fields) are valid under their published schemas.
#[test]
fn the_receipt_records_both_clocks_and_the_stamp() {
    use crate::common::evidence::assert_valid;
    let tsa = Tsa::start();
    let (s, bundle, carol) = approved(&tsa, &[]);
    let policy = policy(&s, &carol, &tsa, true);
    let (enclave, state) = (crate::common::servers::Registry::start(), s.path("state"));
    let run = s.run_verify(&[
        "install",
        bundle.to_str().unwrap(),
        "--policy",
        policy.to_str().unwrap(),
        "--registry",
        &enclave.host(),
        "--insecure",
        "--dest",
        s.path("dest").to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(run.status.success(), "{run}");
    let receipt = state.join("receipts/000001.json");
    let r = crate::common::read_json(&receipt);
    let time = &r["verified"]["time"];
    assert!(
        time["enclave"].is_string() && time["tsa"].is_string(),
        "{time}"
    );
    let counted = r["approvals"]["evaluation"]["counted"].as_array().unwrap();
    let stamped: Vec<_> = counted
        .iter()
        .filter(|c| c["timestamp"]["tsa"] == "test TSA")
        .collect();
    assert_eq!(stamped.len(), 1, "{counted:?}");
    assert_valid("receipt.schema.json", &receipt);
    assert_valid("trust-policy.schema.json", &policy);
}

/// A signer whose clock (and so its trusted comment's `time=`) is an hour ahead of the
/// TSA's: the comment is written before the stamp is asked for, so the claim is false and
/// a requiring rule does not count the approval.
#[test]
fn a_comment_time_after_the_stamp_is_not_counted() {
    let tsa = Tsa::start();
    let s = Scenario::new();
    let bundle = s.build("bundle", &[]);
    let carol = s.keygen("carol");
    let mut cmd = std::process::Command::new("faketime");
    cmd.args(["-f", "+1h"])
        .arg(assert_cmd::cargo::cargo_bin("airlock"));
    cmd.args(["sign", bundle.to_str().unwrap(), "--key"]);
    cmd.arg(format!("{}.key", carol.display()));
    let out = cmd
        .args(["--role", "change-board", "--tsa", &tsa.url()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = verify(&s, &bundle, &policy(&s, &carol, &tsa, true));
    assert_eq!(run.status.code(), Some(3), "{run}");
    assert_contains(&run.stderr(), "later than the TSA's time");
}

/// `publish` carries each `.tsr` as its own layer and `fetch` brings back the same bytes,
/// which OpenSSL still accepts over the fetched `.minisig`.
#[test]
fn publish_and_fetch_carry_the_stamps() {
    let tsa = Tsa::start();
    let s = Scenario::new();
    let bundle = s.build("bundle", &["--tsa", &tsa.url()]);
    let fleet = crate::common::servers::Registry::start();
    let target = format!("{}/airlock/hop:stamped", fleet.host());
    let pubkey = format!("{}.pub", s.key.display());
    let b = bundle.to_str().unwrap();
    let common = ["--trust", pubkey.as_str(), "--insecure", "--quiet"];
    let publish = ["publish", b, "--registry", target.as_str()];
    let run = s.run_verify(&[&publish[..], &common[..]].concat());
    assert!(run.status.success(), "{run}");
    let out = s.path("fetched");
    let fetch = ["fetch", target.as_str(), "--out", out.to_str().unwrap()];
    let run = s.run_verify(&[&fetch[..], &common[..]].concat());
    assert!(run.status.success(), "{run}");
    let (sig, tsr) = sig_files(&out, &s.key);
    assert_eq!(
        std::fs::read(&tsr).unwrap(),
        std::fs::read(sig_files(&bundle, &s.key).1).unwrap()
    );
    tsa.assert_openssl(&sig, &tsr, true);
}

/// The same requiring policy written only by `airlock-verify policy` commands (add-tsa,
/// set-rule --timestamp) equals the hand-written one and admits the stamped approval;
/// `policy show` names the pinned root by the SHA-256 that OpenSSL and sha256sum give.
#[test]
fn a_policy_written_by_commands_pins_the_tsa_and_requires_its_stamps() {
    let tsa = Tsa::start();
    let (s, bundle, carol) = approved(&tsa, &[]);
    let p = s.path("enclave/by-commands.json");
    let (f, builder_pub) = (p.to_str().unwrap(), format!("{}.pub", s.key.display()));
    let carol_pub = format!("{}.pub", carol.display());
    let ca = tsa.path("ca.pem");
    for args in [
        vec!["init"],
        vec![
            "add-key",
            "build server",
            "--key",
            &builder_pub,
            "--role",
            "builder",
        ],
        vec![
            "add-key",
            "Carol White",
            "--key",
            &carol_pub,
            "--role",
            "change-board",
        ],
        vec!["set-rule", "builder", "1"],
        vec!["add-tsa", "test TSA", "--cert", ca.to_str().unwrap()],
        vec!["set-rule", "change-board", "1", "--timestamp", "required"],
        vec!["set-update-rule", "1", "--role", "change-board"],
    ] {
        let mut a = vec!["policy"];
        a.extend(args);
        a.extend(["--policy", f]);
        let run = s.run_verify(&a);
        assert!(run.status.success(), "{run}");
    }
    let by_hand = policy(&s, &carol, &tsa, true);
    let read = |p: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    };
    assert_eq!(read(&p), read(&by_hand));
    assert!(verify(&s, &bundle, &p).status.success());

    let der = s.path("ca.der");
    crate::common::tsa::openssl_ok(
        tsa.path("").as_path(),
        &[
            "x509",
            "-in",
            "ca.pem",
            "-outform",
            "DER",
            "-out",
            der.to_str().unwrap(),
        ],
    );
    let sum = std::process::Command::new("sha256sum")
        .arg(&der)
        .output()
        .unwrap();
    let sum = String::from_utf8_lossy(&sum.stdout);
    let shown = s.run_verify(&["policy", "show", "--policy", f]);
    assert!(shown.status.success(), "{shown}");
    let shown = shown.stdout();
    assert_contains(&shown, sum.split_whitespace().next().unwrap());
    assert_contains(&shown, "required");
    // The last TSA stays while a rule requires its stamps.
    let run = s.run_verify(&["policy", "remove-tsa", "test TSA", "--policy", f]);
    assert_eq!(run.status.code(), Some(4), "{run}");
    assert_contains(
        &run.stderr(),
        "would leave rule change-board requiring timestamps",
    );
}
