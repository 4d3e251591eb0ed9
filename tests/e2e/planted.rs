//! Files planted where the verifier writes or opens beside its input (issue 21): a link
//! or an older copy at `policy update`'s `FILE.vN`, a FIFO as a stale spool's `lock` and
//! another user's spool in the temporary directory. Each run is watched by walking the
//! file system before and after. (Links planted on a bundle's medium for `repair`:
//! `media::repair_writes_through_no_link_planted_on_the_medium`.)

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::cli::Run;
use crate::common::cli::ok;
use crate::common::scenario::{Scenario, Served, assert_fails, trust_policy};
use crate::common::servers::Registry;
use crate::common::{assert_changed_only_under, tree};
use crate::hostile::run_bounded;

/// A policy at `version` whose change-board (the keys `board`) approves bundles one
/// at a time and updates two at a time.
fn policy_json(version: u64, board: &[&Path]) -> String {
    let names: Vec<String> = (0..board.len()).map(|i| format!("member {i}")).collect();
    let members: Vec<(&str, &Path)> = names
        .iter()
        .map(String::as_str)
        .zip(board.iter().copied())
        .collect();
    trust_policy(version, None, &members, 1)
}

/// A directory holding the policy at `version`, signed by every key of `board`.
fn signed_update(s: &Scenario, name: &str, version: u64, board: &[&Path]) -> PathBuf {
    let dir = s.path(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("policy.json"), policy_json(version, board)).unwrap();
    for k in board {
        s.sign(&dir, k, "change-board").ok();
    }
    dir
}

fn policy_update(s: &Scenario, policy: &Path, new: &Path) -> Run {
    s.run_verify(&[
        "policy",
        "update",
        "--policy",
        policy.to_str().unwrap(),
        new.to_str().unwrap(),
    ])
}

#[test]
fn policy_update_writes_through_no_link_and_replaces_no_older_copy() {
    let s = Scenario::new();
    let (a, b) = (s.keygen("alice"), s.keygen("bob"));
    let policy = s.path("enclave/policy.json");
    std::fs::create_dir_all(policy.parent().unwrap()).unwrap();
    let v1 = policy_json(1, &[&a, &b]);
    std::fs::write(&policy, &v1).unwrap();
    let v2 = signed_update(&s, "policy-v2", 2, &[&a, &b]);
    let keep = s.path("enclave/policy.json.v1");
    let victim = s.path("outside/victim");
    std::fs::create_dir_all(victim.parent().unwrap()).unwrap();
    std::fs::write(&victim, b"precious").unwrap();

    // A link at FILE.v1: refused (exit 4), nothing written anywhere.
    std::os::unix::fs::symlink(&victim, &keep).unwrap();
    let before = tree(s.work.path());
    let out = policy_update(&s, &policy, &v2);
    assert_fails(&out, 4, "policy.json.v1: is a symbolic link");
    assert_fails(&out, 4, "move it away and run the command again");
    assert_changed_only_under(&before, &tree(s.work.path()), &[]);
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");

    // An older copy at FILE.v1: refused the same way, kept as it is.
    std::fs::remove_file(&keep).unwrap();
    std::fs::write(&keep, b"an older copy").unwrap();
    let before = tree(s.work.path());
    assert_fails(
        &policy_update(&s, &policy, &v2),
        4,
        "policy.json.v1: already exists",
    );
    assert_changed_only_under(&before, &tree(s.work.path()), &[]);
    assert_eq!(std::fs::read(&keep).unwrap(), b"an older copy");

    // Moved away: the update completes and FILE.v1 holds exactly the replaced policy.
    std::fs::remove_file(&keep).unwrap();
    ok(&policy_update(&s, &policy, &v2));
    assert_eq!(std::fs::read_to_string(&keep).unwrap(), v1);
    let now = crate::common::read_json(&policy);
    assert_eq!(now["version"], 2);
}

#[test]
fn policy_update_at_the_largest_version_says_no_version_can_follow() {
    let s = Scenario::new();
    let (a, b) = (s.keygen("alice"), s.keygen("bob"));
    let policy = s.path("enclave/policy.json");
    std::fs::create_dir_all(policy.parent().unwrap()).unwrap();
    std::fs::write(&policy, policy_json(u64::MAX, &[&a, &b])).unwrap();
    let next = signed_update(&s, "policy-v1", 1, &[&a, &b]);
    let before = tree(s.work.path());
    let out = policy_update(&s, &policy, &next);
    assert_fails(
        &out,
        4,
        "version 18446744073709551615: is the largest version",
    );
    assert_fails(&out, 4, "no update can follow it");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("is not 0"));
    assert_changed_only_under(&before, &tree(s.work.path()), &[]);
}

/// In `tmp` (the commands' `TMPDIR`): a spool whose `lock` is a FIFO (opening it
/// blocking waits forever for a writer), and a stale spool another user owns (not ours
/// to remove). Returns the other user's spool.
fn plant_spools(tmp: &Path) -> PathBuf {
    let fifo = tmp.join("airlock-spool-x");
    std::fs::create_dir_all(&fifo).unwrap();
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        fifo.join("lock"),
        rustix::fs::Mode::from_raw_mode(0o600),
    )
    .unwrap();
    let theirs = tmp.join("airlock-spool-theirs");
    std::fs::create_dir_all(theirs.join("sha256")).unwrap();
    std::fs::write(theirs.join("lock"), b"").unwrap();
    // Tests run as root in CI; elsewhere the chown fails and that half is skipped.
    for p in [theirs.join("lock"), theirs.join("sha256"), theirs.clone()] {
        let _ = std::os::unix::fs::chown(&p, Some(65534), Some(65534));
    }
    theirs
}

fn owned_by_someone_else(p: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).unwrap().uid() != rustix::process::geteuid().as_raw()
}

/// `airlock-verify ARGS` with `TMPDIR=tmp`, as a plain [`Command`] (to bound its time).
fn verify_in_tmp(s: &Scenario, tmp: &Path, args: &[&str]) -> Command {
    s.verify_cli().env("TMPDIR", tmp).args(args).into_command()
}

/// `serve` with `TMPDIR=tmp`, failing the test if it has not started within `limit`.
fn serve_bounded(s: &Scenario, bundle: &Path, tmp: &Path, limit: Duration) -> Served {
    use std::io::BufRead;
    let pubkey = format!("{}.pub", s.key.display());
    let mut cmd = verify_in_tmp(
        s,
        tmp,
        &[
            "serve",
            bundle.to_str().unwrap(),
            "--trust",
            &pubkey,
            "--listen",
            "127.0.0.1:0",
            "--json",
            "--quiet",
        ],
    );
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let Ok(line) = rx.recv_timeout(limit) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("serve did not start within {limit:?}: it blocks");
    };
    let start: serde_json::Value = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("serve's start-up line {line:?}: {e}"));
    let addr = start["listen"].as_str().unwrap().to_string();
    Served { child, addr, start }
}

#[test]
fn a_fifo_or_a_strangers_spool_in_the_temporary_directory_hangs_nothing() {
    let (s, bundle) = Scenario::built();
    let tmp = s.path("tmp");
    let theirs = plant_spools(&tmp);
    let enclave = Registry::start();
    let dest = s.path("dest");
    let pubkey = format!("{}.pub", s.key.display());
    let host = enclave.host();
    let install = verify_in_tmp(
        &s,
        &tmp,
        &[
            "install",
            bundle.to_str().unwrap(),
            "--trust",
            &pubkey,
            "--registry",
            &host,
            "--insecure",
            "--dest",
            dest.to_str().unwrap(),
            "--quiet",
        ],
    );
    let before = tree(s.work.path());
    ok(&run_bounded(install, Duration::from_secs(60)));
    // Written: the destination (files and state) and nothing in the temporary
    // directory, whose planted spools are both left as they were.
    assert_changed_only_under(&before, &tree(s.work.path()), &["dest"]);
    let served = serve_bounded(&s, &bundle, &tmp, Duration::from_secs(60));
    let (status, stderr) = served.terminate();
    assert!(status.success(), "serve: {stderr}");
    assert!(tmp.join("airlock-spool-x/lock").exists());
    if owned_by_someone_else(&theirs) {
        assert!(
            theirs.join("lock").is_file(),
            "another user's spool was removed"
        );
    }
}
