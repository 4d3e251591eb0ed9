//! Change-board trust (issue 9): approvals after the build, a policy of named keys and
//! roles, change windows, channels and sequences, the signed enclave state and the
//! hash-chained receipt log; every signature and receipt also checked with Debian's
//! `minisign`.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::check::assert_contains;
use crate::common::cli;
use crate::common::cli::Run;
use crate::common::cli::ok;
use crate::common::scenario::window_now;
use crate::common::scenario::{Scenario, assert_fails, sh_ok, trust_policy};
use crate::common::servers::Registry;

/// `airlock keygen` into keys/NAME; with a passphrase file when `pass` is given.
fn keygen(s: &Scenario, name: &str, pass: Option<&Path>) -> PathBuf {
    let prefix = s.path(&format!("keys/{name}"));
    match pass {
        Some(p) => cli::keygen_with_passphrase(&prefix, p),
        None => cli::keygen(&prefix),
    }
}

/// A key made by Debian's `minisign -G` (unencrypted: `-W`).
fn minisign_keygen(s: &Scenario, name: &str) -> PathBuf {
    let prefix = s.path(&format!("keys/{name}"));
    sh_ok(
        &format!(
            "minisign -G -W -f -p {p}.pub -s {p}.key",
            p = prefix.display()
        ),
        s.work.path(),
    );
    prefix
}

/// The key id as airlock names signature files: 16 hex digits. (The comment line of a
/// minisign public key prints it without leading zeros, so reading it from there failed
/// for one key in sixteen.)
fn key_id(prefix: &Path) -> String {
    let text = std::fs::read_to_string(format!("{}.pub", prefix.display())).unwrap();
    airlock_verify::trust::PublicKey::from_minisign(&text)
        .unwrap()
        .key_id()
        .to_string()
}

struct Keys {
    builder: PathBuf,
    alice: PathBuf,
    bob: PathBuf,
    carol: PathBuf,
    pass: PathBuf,
}

fn keys(s: &Scenario) -> Keys {
    let pass = s.path("alice.pass");
    std::fs::write(&pass, "correct horse battery\n").unwrap();
    Keys {
        builder: s.key.clone(),
        alice: keygen(s, "alice", Some(&pass)),
        bob: minisign_keygen(s, "bob"),
        carol: keygen(s, "carol", None),
        pass,
    }
}

fn policy_json(version: u64, k: &Keys, change_board: usize) -> String {
    let board = [
        ("Alice Smith", &*k.alice),
        ("Bob Jones", &k.bob),
        ("Carol White", &k.carol),
    ];
    trust_policy(version, Some(&k.builder), &board, change_board)
}

fn write_policy(s: &Scenario, k: &Keys) -> PathBuf {
    let p = s.path("enclave/policy.json");
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, policy_json(1, k, 2)).unwrap();
    p
}

/// `airlock sign DIR --key KEY.key --role ROLE [extra]`.
fn approve(s: &Scenario, dir: &Path, key: &Path, role: &str, extra: &[&str]) -> Output {
    s.sign(dir, key, role).args(extra).run().output
}

fn verify_with(s: &Scenario, bundle: &Path, policy: &Path) -> Run {
    s.run_verify(&[
        "verify",
        bundle.to_str().unwrap(),
        "--policy",
        policy.to_str().unwrap(),
        "--quiet",
    ])
}

fn install_with(
    s: &Scenario,
    bundle: &Path,
    policy: &Path,
    enclave: &Registry,
    extra: &[&str],
) -> Output {
    let mut args = vec![
        "install",
        bundle.to_str().unwrap(),
        "--policy",
        policy.to_str().unwrap(),
        "--registry",
    ];
    let host = enclave.host();
    let dest = s.path("dest");
    let state = s.path("enclave/state");
    args.extend([
        host.as_str(),
        "--insecure",
        "--dest",
        dest.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
        "--quiet",
    ]);
    args.extend_from_slice(extra);
    s.verify_bin(&args).output().unwrap()
}

#[test]
fn two_approvers_from_keygen_to_receipt() {
    let s = Scenario::new();
    let k = keys(&s);
    // The secret key is encrypted at rest, and OpenSSL reads it with the passphrase.
    let (alice_key, pass) = (cli::key_of(&k.alice), k.pass.display().to_string());
    sh_ok(
        &format!("openssl pkey -noout -in {alice_key} -passin file:{pass}"),
        s.work.path(),
    );
    let alice_text = std::fs::read_to_string(&alice_key).unwrap();
    assert!(alice_text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    let window = window_now();
    let build = [
        "--window",
        &window,
        "--channel",
        "site-a",
        "--sequence",
        "7",
        "--signer",
        "CI",
    ];
    let bundle = s.build("bundle", &build);
    let policy = write_policy(&s, &k);

    // Built, not yet approved: the policy says what is missing.
    assert_fails(&verify_with(&s, &bundle, &policy), 3, "2 more change-board");
    let as_alice = [
        "--passphrase-file",
        &pass,
        "--signer",
        "Alice Smith",
        "--comment",
        "CHG-2211",
    ];
    ok(&approve(&s, &bundle, &k.alice, "change-board", &as_alice));
    let signers = s
        .verify_cli()
        .arg("signers")
        .arg(&bundle)
        .arg("--policy")
        .arg(&policy);
    let out = signers.arg("--json").run();
    // Not met yet: the listing is printed and the exit code says so (issue 21).
    assert_fails(&out, 3, "1 more change-board");
    let v = out.json();
    assert_eq!(v["satisfied"], false);
    assert_eq!(v["missing"][0], "1 more change-board");
    // Bob signs with a key made by minisign itself.
    ok(&approve(
        &s,
        &bundle,
        &k.bob,
        "change-board",
        &["--signer", "Bob Jones"],
    ));

    // Each approval checks with minisign alone, and its trusted comment says who and why.
    for (prefix, needle) in [
        (&k.alice, "role=change-board signer=\"Alice Smith\""),
        (&k.bob, "role=change-board signer=\"Bob Jones\""),
        (&k.builder, "role=builder signer=CI"),
    ] {
        let sig = format!("signatures/{}.minisig", key_id(prefix));
        let public = cli::pub_of(prefix);
        let out = sh_ok(
            &format!("minisign -V -p {public} -m manifest.json -x {sig}"),
            &bundle,
        );
        assert_contains(&String::from_utf8_lossy(&out.stdout), needle);
    }

    ok(&verify_with(&s, &bundle, &policy));
    let enclave = Registry::start();
    let report = cli::json(&install_with(&s, &bundle, &policy, &enclave, &["--json"]));
    let receipt = PathBuf::from(report["receipt"].as_str().unwrap());
    let text = std::fs::read_to_string(&receipt).unwrap();
    for needle in [
        "\"installed\"",
        "Alice Smith",
        "Bob Jones",
        "\"site-a\"",
        "\"policy_version\": 1",
    ] {
        assert_contains(&text, needle);
    }
    // The receipt checks with minisign and the enclave's public key alone.
    let state = s.path("enclave/state");
    sh_ok(
        &format!("minisign -V -p enclave.pub -m {}", receipt.display()),
        &state,
    );
    let out = s
        .verify_cli()
        .args(["log", "--check", "--state-dir"])
        .arg(&state)
        .ok();
    assert!(out.stdout().contains("chain intact"));
}

/// Signatures a policy must not count, one test per kind: each leaves a bundle that carol
/// alone approved one approval short (or, for what breaks the builder's signature, with
/// no builder signature counted).
mod signatures_that_must_not_count {
    use super::*;
    use crate::common::check::{assert_contains, flip_middle_byte};

    /// A bundle carol approved (one change-board approval of the two the policy needs).
    struct OneApproval {
        s: Scenario,
        k: Keys,
        policy: PathBuf,
        bundle: PathBuf,
        /// The bundle's `signatures` folder.
        sigs: PathBuf,
        /// Carol's signature file.
        carol: PathBuf,
    }

    fn one_approval() -> OneApproval {
        let (s, bundle) = Scenario::built();
        let k = keys(&s);
        let policy = write_policy(&s, &k);
        ok(&approve(&s, &bundle, &k.carol, "change-board", &[]));
        let sigs = bundle.join("signatures");
        let carol = sigs.join(format!("{}.minisig", key_id(&k.carol)));
        OneApproval {
            s,
            k,
            policy,
            bundle,
            sigs,
            carol,
        }
    }

    impl OneApproval {
        /// Verify refuses, one change-board approval short, saying `needle`.
        fn assert_one_short(&self, needle: &str) {
            let out = verify_with(&self.s, &self.bundle, &self.policy);
            assert_fails(&out, 3, "1 more change-board");
            assert_fails(&out, 3, needle);
        }
    }

    #[test]
    fn threshold_minus_one() {
        one_approval().assert_one_short("change-board: 2 required, 1 counted");
    }

    /// The same approver twice: a copy of the file, and the same key signing again under
    /// another name.
    #[test]
    fn the_same_approver_twice() {
        let a = one_approval();
        std::fs::copy(&a.carol, a.sigs.join("carol-again.minisig")).unwrap();
        a.assert_one_short("already counted");
    }

    #[test]
    fn a_signature_for_another_bundle() {
        let a = one_approval();
        let other = a.s.build("other", &["--channel", "x", "--sequence", "1"]);
        let not_carol = ["--signer", "Not Carol"];
        ok(&approve(
            &a.s,
            &other,
            &a.k.carol,
            "change-board",
            &not_carol,
        ));
        let foreign = other.join(format!("signatures/{}.minisig", key_id(&a.k.carol)));
        std::fs::copy(&foreign, a.sigs.join("foreign.minisig")).unwrap();
        a.assert_one_short("does not match the signed data");
    }

    #[test]
    fn a_key_signing_in_a_role_the_policy_does_not_give_it() {
        let a = one_approval();
        let pass = ["--passphrase-file", a.k.pass.to_str().unwrap()];
        ok(&approve(&a.s, &a.bundle, &a.k.alice, "builder", &pass));
        a.assert_one_short("a role the policy does not give Alice Smith");
    }

    #[test]
    fn a_key_the_policy_does_not_list() {
        let a = one_approval();
        let stranger = keygen(&a.s, "stranger", None);
        ok(&approve(&a.s, &a.bundle, &stranger, "change-board", &[]));
        a.assert_one_short("not one of the");
    }

    /// Malformed signature files: each reported, none counted.
    #[test]
    fn malformed_signature_files() {
        let a = one_approval();
        let good = std::fs::read_to_string(&a.carol).unwrap();
        let l: Vec<&str> = good.lines().collect();
        let huge = "x".repeat(1800);
        for (name, text) in [
            (
                "bad-base64",
                format!("{}\n!!!!\n{}\n{}\n", l[0], l[2], l[3]),
            ),
            (
                "short",
                format!("{}\n{}\n{}\n{}\n", l[0], &l[1][..20], l[2], l[3]),
            ),
            ("extra-lines", format!("{good}extra\n")),
            (
                "huge-comment",
                format!("{}\n{}\ntrusted comment: {huge}\n{}\n", l[0], l[1], l[3]),
            ),
        ] {
            std::fs::write(a.sigs.join(format!("{name}.minisig")), text).unwrap();
        }
        let out = verify_with(&a.s, &a.bundle, &a.policy);
        assert_eq!(out.status.code(), Some(3), "{}", out.stderr());
        for name in ["bad-base64", "short", "extra-lines", "huge-comment"] {
            assert_contains(
                &out.stderr(),
                &format!("signatures/{name}.minisig: not counted"),
            );
        }
    }

    #[test]
    fn a_changed_trusted_comment() {
        let a = one_approval();
        let good = std::fs::read_to_string(&a.carol).unwrap();
        let edited = good.replace("role=change-board", "role=change-board comment=\"added\"");
        std::fs::write(&a.carol, edited).unwrap();
        let out = verify_with(&a.s, &a.bundle, &a.policy);
        assert!(out.stderr().contains("trusted comment modified"));
    }

    #[test]
    fn a_changed_manifest_byte() {
        let a = one_approval();
        flip_middle_byte(&a.bundle.join("manifest.json"));
        let out = verify_with(&a.s, &a.bundle, &a.policy);
        assert_eq!(out.status.code(), Some(3));
        assert!(out.stderr().contains("builder: 1 required, 0 counted"));
    }

    #[test]
    fn no_signature_at_all() {
        let a = one_approval();
        std::fs::remove_dir_all(&a.sigs).unwrap();
        std::fs::create_dir(&a.sigs).unwrap();
        assert_fails(
            &verify_with(&a.s, &a.bundle, &a.policy),
            3,
            "no signature files",
        );
    }
}

/// A fully approved bundle built with `extra` build options.
fn approved(s: &Scenario, k: &Keys, name: &str, extra: &[&str]) -> PathBuf {
    let mut args = vec!["--force"];
    args.extend_from_slice(extra);
    let b = s.build(name, &args);
    let pass = k.pass.display().to_string();
    ok(&approve(
        s,
        &b,
        &k.alice,
        "change-board",
        &["--passphrase-file", &pass],
    ));
    ok(&approve(s, &b, &k.bob, "change-board", &[]));
    b
}

#[test]
fn windows_rollback_replay_and_clock() {
    let s = Scenario::new();
    let k = keys(&s);
    let policy = write_policy(&s, &k);
    let enclave = Registry::start();
    let expired = approved(&s, &k, "expired", &["--window", "2020-01-01T00:00Z/1h"]);
    // The builder signs it, and says that every enclave will refuse it.
    let mut args = s.net_args();
    args.extend(["--window", "2020-01-01T00:00Z/1h"].map(String::from));
    let out = s.try_build("expired-again", &args);
    assert!(
        out.status.success() && cli::stderr(&out).contains("already past"),
        "{}",
        cli::stderr(&out)
    );
    assert_fails(
        &install_with(&s, &expired, &policy, &enclave, &[]),
        3,
        "expired at 2020-01-01T01:00:00Z",
    );
    let early = approved(&s, &k, "early", &["--not-before", "2099-01-01T00:00Z"]);
    assert_fails(
        &install_with(&s, &early, &policy, &enclave, &[]),
        3,
        "not valid before 2099",
    );
    // --allow-expired lets it through, loudly and on record.
    let out = install_with(
        &s,
        &expired,
        &policy,
        &enclave,
        &["--allow-expired", "--json"],
    );
    ok(&out);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let receipt = std::fs::read_to_string(report["receipt"].as_str().unwrap()).unwrap();
    assert!(receipt.contains("\"allow_expired\": true"), "{receipt}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--allow-expired"));

    let w = window_now();
    let seven = approved(
        &s,
        &k,
        "seven",
        &["--window", &w, "--channel", "site-a", "--sequence", "7"],
    );
    ok(&install_with(&s, &seven, &policy, &enclave, &[]));
    ok(&install_with(&s, &seven, &policy, &enclave, &[])); // the same bundle again is fine
    let six = approved(
        &s,
        &k,
        "six",
        &["--window", &w, "--channel", "site-a", "--sequence", "6"],
    );
    assert_fails(
        &install_with(&s, &six, &policy, &enclave, &[]),
        3,
        "refusing a rollback",
    );
    let other_seven = approved(
        &s,
        &k,
        "seven-b",
        &["--expires", "30d", "--channel", "site-a", "--sequence", "7"],
    );
    assert_fails(
        &install_with(&s, &other_seven, &policy, &enclave, &[]),
        3,
        "under the same sequence",
    );
    let eight = approved(
        &s,
        &k,
        "eight",
        &["--window", &w, "--channel", "site-a", "--sequence", "8"],
    );
    ok(&install_with(&s, &eight, &policy, &enclave, &[]));

    // The clock moved back: the state (signed by the enclave key) saw a later time.
    let state_dir = s.path("enclave/state");
    let state_file = state_dir.join("state.json");
    let text = std::fs::read_to_string(&state_file).unwrap();
    let (json, _) = text.split_once('\n').unwrap();
    let mut v: serde_json::Value = serde_json::from_str(json).unwrap();
    v["latest_time_seen"] = "2099-01-01T00:00:00Z".into();
    let json = v.to_string();
    let key = airlock::sign::load_secret_key(&state_dir.join("enclave.key")).unwrap();
    let sig = airlock::sign::sign(&key, json.as_bytes(), "airlock-state").unwrap();
    std::fs::write(&state_file, format!("{json}\n{sig}")).unwrap();
    assert_fails(
        &install_with(&s, &eight, &policy, &enclave, &[]),
        3,
        "the clock was moved back",
    );
}

#[test]
fn the_state_fails_closed_and_the_log_finds_every_edit() {
    let s = Scenario::new();
    let k = keys(&s);
    let policy = write_policy(&s, &k);
    let enclave = Registry::start();
    let b = approved(&s, &k, "b", &["--channel", "site-a", "--sequence", "1"]);
    for _ in 0..3 {
        ok(&install_with(&s, &b, &policy, &enclave, &[]));
    }
    let state = s.path("enclave/state");
    let st = state.join("state.json");
    let good_state = std::fs::read(&st).unwrap();
    let log =
        |s: &Scenario| s.run_verify(&["log", "--check", "--state-dir", state.to_str().unwrap()]);
    ok(&log(&s));
    // Tampered, truncated and missing state: refused with the command that recovers.
    let tampered = String::from_utf8(good_state.clone())
        .unwrap()
        .replace("\"receipts\":3", "\"receipts\":2");
    std::fs::write(&st, tampered).unwrap();
    assert_fails(
        &install_with(&s, &b, &policy, &enclave, &[]),
        3,
        "state recover",
    );
    std::fs::write(&st, &good_state[..good_state.len() / 2]).unwrap();
    assert_fails(
        &install_with(&s, &b, &policy, &enclave, &[]),
        3,
        "state recover",
    );
    std::fs::remove_file(&st).unwrap();
    assert_fails(
        &install_with(&s, &b, &policy, &enclave, &[]),
        3,
        "is missing, but 3 receipts exist",
    );
    let out = s.run_verify(&["state", "recover", "--state-dir", state.to_str().unwrap()]);
    ok(&out);
    ok(&install_with(&s, &b, &policy, &enclave, &[]));
    ok(&log(&s));

    let r = state.join("receipts");
    let path = |i: u64| r.join(format!("{i:06}.json"));
    // An edited receipt.
    let two = std::fs::read(path(2)).unwrap();
    std::fs::write(
        path(2),
        String::from_utf8(two.clone())
            .unwrap()
            .replace("\"installed\"", "\"failed\""),
    )
    .unwrap();
    assert_fails(&log(&s), 3, "000002.json");
    std::fs::write(path(2), &two).unwrap();
    // Reordered receipts.
    std::fs::rename(path(2), r.join("tmp")).unwrap();
    std::fs::rename(path(3), path(2)).unwrap();
    std::fs::rename(r.join("tmp"), path(3)).unwrap();
    let sig = |i: u64| r.join(format!("{i:06}.json.minisig"));
    std::fs::rename(sig(2), r.join("tmp")).unwrap();
    std::fs::rename(sig(3), sig(2)).unwrap();
    std::fs::rename(r.join("tmp"), sig(3)).unwrap();
    assert_fails(&log(&s), 3, "000002.json");
    std::fs::rename(path(2), r.join("tmp")).unwrap();
    std::fs::rename(path(3), path(2)).unwrap();
    std::fs::rename(r.join("tmp"), path(3)).unwrap();
    std::fs::rename(sig(2), r.join("tmp")).unwrap();
    std::fs::rename(sig(3), sig(2)).unwrap();
    std::fs::rename(r.join("tmp"), sig(3)).unwrap();
    ok(&log(&s));
    // A deleted receipt in the middle, and the last one.
    let keep = (
        std::fs::read(path(3)).unwrap(),
        std::fs::read(sig(3)).unwrap(),
    );
    std::fs::remove_file(path(3)).unwrap();
    std::fs::remove_file(sig(3)).unwrap();
    assert_fails(&log(&s), 3, "000004.json");
    std::fs::write(path(3), &keep.0).unwrap();
    std::fs::write(sig(3), &keep.1).unwrap();
    std::fs::remove_file(path(4)).unwrap();
    std::fs::remove_file(sig(4)).unwrap();
    assert_fails(&log(&s), 3, "deleted or replaced");
}

#[test]
fn policy_updates_need_the_current_policy_and_the_next_version() {
    let s = Scenario::new();
    let k = keys(&s);
    let policy = write_policy(&s, &k);
    let n = std::cell::Cell::new(0);
    let update = |version: u64, signers: &[&PathBuf]| -> Run {
        n.set(n.get() + 1);
        let dir = s.path(&format!("policy-v{version}-{}", n.get()));
        std::fs::create_dir_all(&dir).unwrap();
        // Version 2 needs only one change-board approval per bundle.
        std::fs::write(dir.join("policy.json"), policy_json(version, &k, 1)).unwrap();
        for key in signers {
            let mut extra = vec![];
            let pass = k.pass.display().to_string();
            if *key == &k.alice {
                extra = vec!["--passphrase-file", &pass];
            }
            ok(&approve(&s, &dir, key, "change-board", &extra));
        }
        s.run_verify(&[
            "policy",
            "update",
            "--policy",
            policy.to_str().unwrap(),
            dir.to_str().unwrap(),
        ])
    };
    assert_fails(&update(2, &[&k.alice]), 3, "1 more change-board");
    assert_fails(&update(3, &[&k.alice, &k.bob]), 3, "is not 2");
    ok(&update(2, &[&k.alice, &k.bob]));
    let now = crate::common::read_json(&policy);
    assert_eq!(now["version"], 2);
    // Replaying the accepted update is refused: its version is no longer the next.
    assert_fails(&update(2, &[&k.alice, &k.carol]), 3, "is not 3");
    // Under version 2 one change-board approval is enough.
    let b = s.build("bundle", &[]);
    ok(&approve(&s, &b, &k.carol, "change-board", &[]));
    ok(&verify_with(&s, &b, &policy));
}
