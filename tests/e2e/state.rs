//! The enclave's state directory under the failures of issue 21: commands that only read
//! write nothing and never cry wolf without the key, a deleted enclave key stops installs,
//! one run with a wrong clock bricks nothing, a crash between a receipt's two writes is
//! recovered on record, an older copy of the directory put back is found with
//! `--expect-head`, and output directories inside the state are refused. Every check
//! runs the real `airlock-verify`; receipts are checked with Debian's `minisign` too.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use crate::common::check::assert_contains;
use crate::common::cli;
use crate::common::cli::{json, ok};
use crate::common::scenario::window_now;
use crate::common::scenario::{Scenario, assert_fails, sh, sh_ok};
use crate::common::servers::Registry;

/// Every path below `root` with its size, modification time and sha256: what a command
/// that only reads must leave exactly as it was.
fn snapshot(root: &Path) -> BTreeMap<String, (u64, std::time::SystemTime, String)> {
    crate::common::tree(root)
        .into_iter()
        .map(|(rel, (len, mtime))| {
            let p = root.join(&rel);
            let hash = if p.is_file() {
                crate::common::images::sha256_digest(&std::fs::read(&p).unwrap())
            } else {
                String::new()
            };
            (rel, (len, mtime, hash))
        })
        .collect()
}

fn receipt(state: &Path, n: u32) -> serde_json::Value {
    let p = state.join(format!("receipts/{n:06}.json"));
    serde_json::from_slice(&std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .unwrap()
}

/// Debian's minisign accepts every receipt of `state` with `public`.
fn minisign_accepts_all(state: &Path, public: &Path) {
    for e in std::fs::read_dir(state.join("receipts")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "json") {
            let out = sh(
                &format!("minisign -V -p {} -m {}", public.display(), p.display()),
                state,
            );
            assert!(
                out.status.success(),
                "{}: {}",
                p.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

fn log(s: &Scenario, state: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["log", "--check", "--state-dir", state.to_str().unwrap()];
    args.extend_from_slice(extra);
    s.verify_bin(&args).output().unwrap()
}

#[test]
fn reading_without_the_receipt_key_writes_nothing_and_a_deleted_key_stops_install() {
    let s = Scenario::new();
    let enclave = Registry::start();
    let bundle = s.build("b", &[]);
    // The receipt key kept elsewhere, as docs/trust.md advises.
    let key = cli::enclave_keygen(&s.path("secure/enclave"));
    let (key_file, pub_file) = (key.with_extension("key"), key.with_extension("pub"));
    let dest = s.path("dest");
    ok(&s.install(
        &bundle,
        &enclave,
        &dest,
        &["--receipt-key", key_file.to_str().unwrap()],
    ));
    let state = dest.join(".airlock");
    let before = snapshot(s.path("").as_path());

    // The command the README prints, without the key: names the key it needs, writes
    // nothing (no enclave.key made), no false tamper alarm.
    let out = s.run_verify(&["log", "--check", "--dest", dest.to_str().unwrap()]);
    assert_fails(&out, 2, "--receipt-pub");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("edited or replaced") && !err.contains("does not verify"),
        "{err}"
    );
    // The recovery does not call it tampering, and mints no key either.
    let out = s.run_verify(&["state", "recover", "--state-dir", state.to_str().unwrap()]);
    assert_fails(&out, 4, "the enclave key is missing; restore it");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("edited or replaced"));
    // The auditor's way: the public key alone, for the log and for the state.
    let out = log(&s, &state, &["--receipt-pub", pub_file.to_str().unwrap()]);
    assert!(ok(&out).contains("OK: 1 receipt(s)"));
    let shown = json(&s.run_verify(&[
        "state",
        "show",
        "--state-dir",
        state.to_str().unwrap(),
        "--receipt-pub",
        pub_file.to_str().unwrap(),
    ]));
    assert_eq!(shown["receipts"], 1);
    // With the wrong public key: it says which key signed, not "edited".
    let other = cli::enclave_keygen(&s.path("secure/other"));
    let out = log(
        &s,
        &state,
        &[
            "--receipt-pub",
            other.with_extension("pub").to_str().unwrap(),
        ],
    );
    assert_fails(&out, 3, "not by the key given");
    // Nothing anywhere changed (the keygen of `other` aside).
    let mut after = snapshot(s.path("").as_path());
    after.retain(|p, _| !p.starts_with("secure/other"));
    assert_eq!(before, after, "a read-only command wrote");

    // Nothing to check: a directory without state, and one that does not exist.
    let empty = s.path("empty");
    std::fs::create_dir_all(&empty).unwrap();
    for d in [&empty, &s.path("missing")] {
        let out = s.run_verify(&["log", "--check", "--dest", d.to_str().unwrap()]);
        assert_fails(&out, 4, "nothing to check");
        assert!(!d.join(".airlock").exists(), "log made {}", d.display());
    }
    let out = log(&s, &empty, &[]);
    assert_fails(&out, 4, "nothing to check");
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);

    // The enclave's own key deleted: install stops, and makes no new one.
    let own = s.path("own");
    ok(&s.install(&bundle, &enclave, &own, &[]));
    let own_state = own.join(".airlock");
    let kept = std::fs::read(own_state.join("enclave.key")).unwrap();
    std::fs::remove_file(own_state.join("enclave.key")).unwrap();
    let before = snapshot(&own);
    let out = s.install(&bundle, &enclave, &own, &[]);
    assert_fails(&out, 4, "the enclave key is missing; restore it");
    assert_eq!(before, snapshot(&own), "install wrote without its key");
    // Its public half still checks the log; restored, installs go on.
    ok(&log(&s, &own_state, &[]));
    std::fs::write(own_state.join("enclave.key"), kept).unwrap();
    ok(&s.install(&bundle, &enclave, &own, &[]));
    ok(&log(&s, &own_state, &[]));
    minisign_accepts_all(&own_state, &own_state.join("enclave.pub"));
    minisign_accepts_all(&state, &pub_file);
}

/// `install --json` with the clock at `now` (seconds since the epoch: the debug build's
/// stand-in for the system clock), or the real clock.
fn install_at(
    s: &Scenario,
    now: Option<i64>,
    b: &Path,
    reg: &Registry,
    dest: &Path,
    extra: &[&str],
) -> Output {
    let trust = format!("{}.pub", s.key.display());
    let host = reg.host();
    let mut args = vec![
        "install",
        b.to_str().unwrap(),
        "--trust",
        &trust,
        "--registry",
        &host,
        "--insecure",
        "--json",
        "--quiet",
        "--dest",
        dest.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let mut c = s.verify_bin(&args);
    if let Some(t) = now {
        c.env("AIRLOCK_TEST_NOW", t.to_string());
    }
    c.output().unwrap()
}

const CENTURY: i64 = 100 * 365 * 86400;

#[test]
fn one_run_with_a_wrong_clock_bricks_nothing_and_the_floor_resets_on_record() {
    let s = Scenario::new();
    let reg = Registry::start();
    let now = airlock::time::Timestamp::now().0;
    let w = window_now();
    let b1 = s.build(
        "b1",
        &["--window", &w, "--channel", "site", "--sequence", "1"],
    );
    let dest = s.path("dest");
    let state = dest.join(".airlock");

    // The clock a century ahead: the bundle is refused as expired, on record...
    let out = install_at(&s, Some(now + CENTURY), &b1, &reg, &dest, &[]);
    assert_fails(&out, 3, "expired");
    // ...and accepted with --allow-expired, on record; neither moves the clock floor.
    ok(&install_at(
        &s,
        Some(now + CENTURY),
        &b1,
        &reg,
        &dest,
        &["--allow-expired"],
    ));
    assert!(receipt(&state, 2)["allow_expired"] == true);
    // The clock put right, installs go on (before: "the clock was moved back", for good).
    ok(&install_at(&s, None, &b1, &reg, &dest, &[]));
    // A recovery rebuilds the same sane floor, not the century-ahead one.
    ok(&s.run_verify(&["state", "recover", "--state-dir", state.to_str().unwrap()]));
    ok(&install_at(&s, None, &b1, &reg, &dest, &[]));

    // A year past 9999 is refused up front: nothing written, state still readable.
    let before = snapshot(&dest);
    let out = install_at(&s, Some(253_402_300_800), &b1, &reg, &dest, &[]);
    assert_fails(&out, 1, "outside the years 1970 to 9999");
    assert_eq!(before, snapshot(&dest), "a year-10000 clock was written");
    ok(&log(&s, &state, &[]));

    // A bundle signed for a window fifty years ahead, installed inside it, does raise
    // the floor (its signers vouched for that time): today's clock is then refused...
    let later = now + CENTURY / 2;
    let start = airlock::time::Timestamp(later - 3600).to_string();
    let far_window = format!("{}Z/72h", &start[..16]);
    let far = s.build(
        "far",
        &[
            "--window",
            &far_window,
            "--channel",
            "site",
            "--sequence",
            "2",
        ],
    );
    ok(&install_at(&s, Some(later), &far, &reg, &dest, &[]));
    let w3 = window_now();
    let b3 = s.build(
        "b3",
        &["--window", &w3, "--channel", "site", "--sequence", "3"],
    );
    assert_fails(
        &install_at(&s, None, &b3, &reg, &dest, &[]),
        3,
        "the clock was moved back",
    );
    // ...until the operator resets the floor, which needs a reason and is recorded.
    let st = state.to_str().unwrap();
    let out = s.run_verify(&["state", "reset-clock", "--state-dir", st, "--reason", " "]);
    assert_fails(&out, 2, "--reason");
    let out = s.run_verify(&[
        "state",
        "reset-clock",
        "--state-dir",
        st,
        "--reason",
        "CHG-42: far-future window",
    ]);
    assert!(ok(&out).contains("clock floor cleared"));
    let text = std::fs::read_dir(state.join("receipts"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .find(|t| t.contains("clock-reset"))
        .expect("a clock-reset receipt");
    assert!(text.contains("CHG-42: far-future window"), "{text}");
    ok(&install_at(&s, None, &b3, &reg, &dest, &[]));
    ok(&log(&s, &state, &[]));
    minisign_accepts_all(&state, &state.join("enclave.pub"));
}

/// How a crash can leave the log: a receipt's signature alone (the order airlock writes
/// them in), the receipt alone, or both written before the state that names them.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Crash {
    SignatureAlone,
    ReceiptAlone,
    StateBehind,
}

#[test]
fn a_crash_between_a_receipts_two_writes_is_recovered_on_record() {
    let s = Scenario::new();
    let reg = Registry::start();
    let b = s.build("b", &[]);
    let dest = s.path("dest");
    let state = dest.join(".airlock");
    let receipts = state.join("receipts");
    ok(&s.install(&b, &reg, &dest, &[]));
    for crash in [
        Crash::SignatureAlone,
        Crash::ReceiptAlone,
        Crash::StateBehind,
    ] {
        let n = std::fs::read_dir(&receipts).unwrap().count() as u32 / 2 + 1;
        let copy = |from: &str, to: String| {
            std::fs::copy(receipts.join(from), receipts.join(to)).unwrap();
        };
        match crash {
            Crash::SignatureAlone => copy("000001.json.minisig", format!("{n:06}.json.minisig")),
            Crash::ReceiptAlone => copy("000001.json", format!("{n:06}.json")),
            Crash::StateBehind => {
                let kept = std::fs::read(state.join("state.json")).unwrap();
                ok(&s.install(&b, &reg, &dest, &[]));
                std::fs::write(state.join("state.json"), kept).unwrap();
            }
        }
        let before = snapshot(&dest);
        let out = s.install(&b, &reg, &dest, &[]);
        assert_fails(&out, 1, "state recover");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("--force"), "{crash:?}: {err}");
        assert!(err.contains("interrupted"), "{crash:?}: {err}");
        assert_eq!(before, snapshot(&dest), "{crash:?}: install wrote");
        assert_fails(&log(&s, &state, &[]), 1, "state recover");
        ok(&s.run_verify(&["state", "recover", "--state-dir", state.to_str().unwrap()]));
        ok(&log(&s, &state, &[]));
        if crash != Crash::StateBehind {
            let r = receipt(&state, n);
            assert_eq!(r["outcome"], "recovered", "{crash:?}");
            let note = r["note"].as_str().unwrap();
            assert!(note.contains("interrupted"), "{crash:?}: {note}");
        }
        ok(&s.install(&b, &reg, &dest, &[]));
    }
    ok(&log(&s, &state, &[]));
    minisign_accepts_all(&state, &state.join("enclave.pub"));
}

/// Copy a directory tree with `cp -a` (modes and times kept, as a backup would).
fn cp_a(from: &Path, to: &Path) {
    sh_ok(
        &format!("rm -rf {1} && cp -a {0} {1}", from.display(), to.display()),
        Path::new("/"),
    );
}

#[test]
fn an_older_copy_of_the_state_put_back_is_found_with_expect_head() {
    let s = Scenario::new();
    let reg = Registry::start();
    let b1 = s.build("b1", &["--channel", "site", "--sequence", "1"]);
    let b2 = s.build("b2", &["--channel", "site", "--sequence", "2"]);
    let dest = s.path("dest");
    let state = dest.join(".airlock");
    let head = |out: &Output| json(out)["log_head"].as_str().unwrap().to_string();
    let h1 = head(&s.install(&b1, &reg, &dest, &[]));
    let copy = s.path("copy-after-1");
    cp_a(&state, &copy);
    let h2 = head(&s.install(&b2, &reg, &dest, &["--expect-head", &h1]));
    assert!(h1.starts_with("1:") && h2.starts_with("2:"), "{h1} {h2}");
    // The head install printed is the one log --check prints.
    assert!(ok(&log(&s, &state, &[])).contains(&format!("head {h2}")));
    assert_fails(&s.install(&b1, &reg, &dest, &[]), 3, "refusing a rollback");

    // The authentic older copy put back.
    cp_a(&copy, &state);
    // Without the head from outside, it passes: the limit, said plainly.
    let out = ok(&log(&s, &state, &[]));
    assert_contains(&out, "an older copy of this directory put back passes too");
    // With the ticket's head, log --check and install refuse it, and install writes
    // nothing into it.
    assert_fails(&log(&s, &state, &["--expect-head", &h2]), 3, "older copy");
    let before = snapshot(&dest);
    assert_fails(
        &s.install(&b1, &reg, &dest, &["--expect-head", &h2]),
        3,
        "older copy",
    );
    assert_eq!(before, snapshot(&dest), "install wrote into the older copy");
    // A head of another log, or malformed.
    let wrong = format!("1:{}", "0".repeat(64));
    assert_fails(
        &log(&s, &state, &["--expect-head", &wrong]),
        3,
        "not the expected head",
    );
    assert_fails(
        &log(&s, &state, &["--expect-head", "1:xyz"]),
        4,
        "--expect-head",
    );
    // Without it, the rollback goes through: what --expect-head is for.
    ok(&s.install(&b1, &reg, &dest, &[]));
    // An older head is held by a newer log.
    ok(&log(&s, &state, &["--expect-head", &h1]));
}

#[test]
fn output_directories_inside_the_state_directory_are_refused() {
    let s = Scenario::new();
    let reg = Registry::start();
    let b = s.build("b", &[]);
    let dest = s.path("dest");
    let state = dest.join(".airlock");
    ok(&s.install(&b, &reg, &dest, &[]));
    let elsewhere = s.path("elsewhere/state");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let mirror = s.path("mirror");
    std::fs::create_dir_all(mirror.join("state")).unwrap();
    let p = |p: &Path| p.display().to_string();
    let cases: Vec<(&str, std::path::PathBuf, Vec<String>)> = vec![
        (
            "--packages-dir",
            dest.clone(),
            vec!["--packages-dir".into(), p(&state.join("pkgs"))],
        ),
        (
            "--packages-dir",
            dest.clone(),
            vec!["--packages-dir".into(), p(&state.join("receipts"))],
        ),
        (
            "--packages-dir",
            dest.clone(),
            vec![
                "--packages-dir".into(),
                format!("{}/x/../.airlock", dest.display()),
            ],
        ),
        ("--spool", dest.clone(), vec!["--spool".into(), p(&state)]),
        (
            "--dest",
            elsewhere.join("d"),
            vec!["--state-dir".into(), p(&elsewhere)],
        ),
        (
            "--packages-dir",
            dest.clone(),
            vec![
                "--state-dir".into(),
                p(&mirror.join("state")),
                "--packages-dir".into(),
                p(&mirror),
            ],
        ),
    ];
    let before = snapshot(s.path("").as_path());
    for (what, target, extra) in &cases {
        let refs: Vec<&str> = extra.iter().map(String::as_str).collect();
        let out = s.install(&b, &reg, target, &refs);
        assert_fails(&out, 4, "the state directory");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(what), "{extra:?}: {err}");
    }
    assert_eq!(
        before,
        snapshot(s.path("").as_path()),
        "a refused install wrote"
    );
    ok(&log(&s, &state, &[]));
}
