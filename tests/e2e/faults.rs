//! Faults: the enclave registry going away mid-install (and coming back, or not), disks
//! that fill up during build and install, builds killed with `kill -9` at many points, and
//! two installs at once. After each fault the error is clear, nothing that looks complete
//! is left half-done (no tag names an incomplete image, no bundle directory appears), and
//! a re-run gives exactly what a clean run gives.
//!
//! Installs killed with `kill -9` are in `media.rs`
//! (`an_install_killed_anywhere_completes_on_the_next_run`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::cli;
use crate::common::cli::ok;
use crate::common::each;
use crate::common::scenario::{Scenario, assert_fails, sh, sh_ok};
use crate::common::servers::Registry;
use crate::common::tmpfs::{Tmpfs, notice_not_run};

/// Large enough that an install is still uploading when the test acts.
const BIG: usize = 64 << 20;

/// `airlock-verify install BUNDLE --trust KEY --registry REG --insecure --dest DEST
/// --quiet --json EXTRA...`, ready to spawn.
fn install_cmd(
    s: &Scenario,
    bundle: &Path,
    reg: &Registry,
    dest: &Path,
    extra: &[&str],
) -> Command {
    let cli = s.verify_cli().arg("install").arg(bundle);
    let cli = cli.args([
        "--trust",
        &s.pubkey(),
        "--registry",
        &reg.host(),
        "--insecure",
    ]);
    let mut c = cli
        .arg("--dest")
        .arg(dest)
        .args(["--quiet", "--json"])
        .args(extra)
        .into_command();
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    c
}

fn run(mut c: Command) -> Output {
    c.output().expect("run airlock-verify")
}

/// What a clean install of `bundle` (with `extra`) puts in a fresh registry.
fn clean_snapshot(s: &Scenario, bundle: &Path, extra: &[&str]) -> BTreeMap<String, String> {
    let reg = Registry::start();
    let dest = tempfile::tempdir().unwrap();
    ok(&run(install_cmd(s, bundle, &reg, dest.path(), extra)));
    reg.snapshot()
}

/// Files under `dir` (recursively) whose path contains `needle`, with their sizes.
fn files_containing(dir: &Path, needle: &str) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(listing) = std::fs::read_dir(&d) else {
            continue;
        };
        for ent in listing.flatten() {
            let p = ent.path();
            match ent.file_type() {
                Ok(t) if t.is_dir() => todo.push(p),
                Ok(t) if t.is_file() && p.to_string_lossy().contains(needle) => {
                    let len = ent.metadata().map(|m| m.len()).unwrap_or(0);
                    out.push((p, len));
                }
                _ => {}
            }
        }
    }
    out
}

/// Wait until `cond` holds, failing with the child's output if it exits first.
fn wait_while_running(child: &mut Child, what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !cond() {
        if let Some(st) = child.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            panic!("the process ended ({st}) before {what}:\n{err}");
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Wait until the registry is part-way through receiving the big layer.
fn wait_for_big_upload(reg: &Registry, child: &mut Child) {
    let storage = reg.storage_dir();
    wait_while_running(child, "the big layer's upload started", || {
        files_containing(&storage, "_uploads")
            .iter()
            .any(|(_, len)| *len > 1 << 20)
    });
}

#[test]
fn a_registry_that_goes_away_mid_install_is_retried_until_it_returns() {
    let s = Scenario::with_big_layer(BIG);
    let bundle = s.build("bundle", &[]);
    let reference = clean_snapshot(&s, &bundle, &[]);

    let mut enclave = Registry::start();
    let dest = s.path("dest");
    // 6 attempts back off 0.5 + 1 + 2 + 4 + 8 s: long enough for a restart.
    let mut child = install_cmd(&s, &bundle, &enclave, &dest, &["--attempts", "6"])
        .spawn()
        .unwrap();
    wait_for_big_upload(&enclave, &mut child);
    enclave.stop();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "install gave up while the registry was away for 1.5 s"
    );
    enclave.restart();
    let out = child.wait_with_output().unwrap();
    ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("retrying"),
        "no retry was reported:\n{stderr}"
    );
    assert_eq!(enclave.snapshot(), reference);
}

#[test]
fn a_registry_that_stays_away_fails_clearly_and_a_rerun_completes() {
    let s = Scenario::with_big_layer(BIG);
    let bundle = s.build("bundle", &[]);
    let reference = clean_snapshot(&s, &bundle, &[]);

    let mut enclave = Registry::start();
    let dest = s.path("dest");
    let mut child = install_cmd(&s, &bundle, &enclave, &dest, &["--attempts", "2"])
        .spawn()
        .unwrap();
    wait_for_big_upload(&enclave, &mut child);
    enclave.stop();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&enclave.host()) && stderr.contains("receipt of the refusal"),
        "the error names neither the registry nor the receipt:\n{stderr}"
    );

    // Back up: whatever the interrupted run left, no tag names an incomplete image
    // (snapshot checks every manifest and blob a tag reaches), and a re-run completes.
    enclave.restart();
    let partial = enclave.snapshot();
    for (tag, digest) in &partial {
        assert_eq!(reference.get(tag), Some(digest), "{tag} was tagged early");
    }
    ok(&run(install_cmd(&s, &bundle, &enclave, &dest, &[])));
    assert_eq!(enclave.snapshot(), reference);
    // The log holds the failure and the install, chained and signed.
    let v = cli::log_json(&dest);
    assert_eq!(
        each(&v["entries"], "outcome"),
        ["failed", "installed"],
        "{v}"
    );
}

#[test]
fn a_full_disk_during_build_leaves_no_bundle_and_a_rerun_is_identical() {
    let s = Scenario::with_big_layer(4 << 20);
    let reference = s.build("reference", &[]);
    let Some(disk) = Tmpfs::mount(&s.path("small"), 1 << 20) else {
        return notice_not_run(
            "a_full_disk_during_build_leaves_no_bundle_and_a_rerun_is_identical",
        );
    };
    let out_dir = disk.path().join("bundle");
    let mut args = s.net_args();
    args.push("--force".into());
    let mut cmd_args: Vec<String> = vec![
        "build".into(),
        s.lock.display().to_string(),
        "--key".into(),
        format!("{}.key", s.key.display()),
        "--out".into(),
        out_dir.display().to_string(),
        "--quiet".into(),
    ];
    cmd_args.extend(args);
    let refs: Vec<&str> = cmd_args.iter().map(String::as_str).collect();
    let out = s.airlock(&refs).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    let left: Vec<_> = std::fs::read_dir(disk.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "a failed build left {left:?}");

    disk.resize(64 << 20);
    let out = s.airlock(&refs).output().unwrap();
    ok(&out);
    for f in ["manifest.json", "payload.tar.zst", "SHA256SUMS"] {
        assert!(
            std::fs::read(out_dir.join(f)).unwrap() == std::fs::read(reference.join(f)).unwrap(),
            "{f} differs from a clean build"
        );
    }
}

#[test]
fn a_disk_that_fills_during_install_fails_clearly_and_a_rerun_completes() {
    let s = Scenario::with_big_layer(BIG);
    let bundle = s.build("bundle", &[]);
    let reference = clean_snapshot(&s, &bundle, &[]);
    let Some(spool) = Tmpfs::mount(&s.path("spool"), 4 * BIG as u64) else {
        return notice_not_run(
            "a_disk_that_fills_during_install_fails_clearly_and_a_rerun_completes",
        );
    };
    let enclave = Registry::start();
    let dest = s.path("dest");
    let spool_arg = spool.path().to_str().unwrap().to_string();
    let mut child = install_cmd(&s, &bundle, &enclave, &dest, &["--spool", &spool_arg])
        .spawn()
        .unwrap();
    // As soon as the install has its spool, something else takes the rest of the disk.
    wait_while_running(&mut child, "the spool was created", || {
        std::fs::read_dir(spool.path()).is_ok_and(|mut d| d.next().is_some())
    });
    let filler = spool.fill();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    // Either the free-space check or the write itself stops it; both say why.
    assert!(
        stderr.contains("No space left on device") || stderr.contains("bytes free"),
        "{stderr}"
    );
    let partial = enclave.snapshot();
    for (tag, digest) in &partial {
        assert_eq!(reference.get(tag), Some(digest), "{tag} was tagged early");
    }
    // Placed files are complete or absent: each one present has its signed content.
    let kubeadm = dest.join("bin/v1.30.2/linux/amd64/kubeadm");
    if kubeadm.exists() {
        assert_eq!(
            std::fs::read(&kubeadm).unwrap(),
            crate::common::scenario::kubeadm_bytes()
        );
    }

    std::fs::remove_file(filler).unwrap();
    ok(&run(install_cmd(
        &s,
        &bundle,
        &enclave,
        &dest,
        &["--spool", &spool_arg],
    )));
    assert_eq!(enclave.snapshot(), reference);
    let spools: Vec<_> = std::fs::read_dir(spool.path()).unwrap().flatten().collect();
    assert!(spools.is_empty(), "spools left behind: {spools:?}");
}

#[test]
fn a_full_destination_refuses_before_writing_and_a_rerun_completes() {
    let s = Scenario::new();
    let bundle = s.build("bundle", &[]);
    let reference = clean_snapshot(&s, &bundle, &[]);
    let Some(disk) = Tmpfs::mount(&s.path("dest"), 64 << 20) else {
        return notice_not_run("a_full_destination_refuses_before_writing_and_a_rerun_completes");
    };
    let filler = disk.fill();
    let enclave = Registry::start();
    let out = run(install_cmd(&s, &bundle, &enclave, disk.path(), &[]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("bytes free") || stderr.contains("No space left on device"),
        "{stderr}"
    );
    assert!(enclave.snapshot().is_empty(), "pushed before failing");
    assert!(
        !disk.path().join("bin").exists(),
        "files placed on a full disk"
    );

    std::fs::remove_file(filler).unwrap();
    ok(&run(install_cmd(&s, &bundle, &enclave, disk.path(), &[])));
    assert_eq!(enclave.snapshot(), reference);
}

#[test]
fn a_build_killed_at_many_points_reruns_to_the_same_bytes() {
    let s = Scenario::with_big_layer(24 << 20);
    let reference = s.build("reference", &[]);
    let out_dir = s.path("out");
    let cache = s.path("cache-killed");
    let build = |force: bool| {
        let mut c = Command::new(assert_cmd::cargo::cargo_bin("airlock"));
        c.env("AIRLOCK_CACHE", &cache)
            .env("DOCKER_CONFIG", &s.docker_config)
            .arg("build")
            .arg(&s.lock)
            .arg("--key")
            .arg(format!("{}.key", s.key.display()))
            .arg("--out")
            .arg(&out_dir)
            .arg("--quiet")
            .args(s.net_args())
            .args(force.then_some("--force"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        c
    };
    for delay_ms in [30, 120, 300, 600, 1000, 1600, 2500] {
        let mut child = build(true).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        // Whatever the kill interrupted: no bundle, or a whole one.
        if out_dir.exists() {
            let v = s.verify(&out_dir);
            crate::common::cli::ok(&v);
        }
    }
    let out = build(true).output().unwrap();
    ok(&out);
    for f in ["manifest.json", "payload.tar.zst", "SHA256SUMS"] {
        assert!(
            std::fs::read(out_dir.join(f)).unwrap() == std::fs::read(reference.join(f)).unwrap(),
            "{f} differs from a clean build"
        );
    }
    // Partial directories of the killed runs were removed by the next run.
    let partials: Vec<_> = std::fs::read_dir(s.work.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".out.partial-"))
        .collect();
    assert!(partials.is_empty(), "left behind: {partials:?}");
}

#[test]
fn two_installs_of_different_bundles_into_one_registry_at_once() {
    let a = Scenario::new();
    let b = Scenario::with_big_layer(2 << 20);
    let (ba, bb) = (a.build("bundle", &[]), b.build("bundle", &[]));
    let ref_a = clean_snapshot(&a, &ba, &["--prefix", "site-a"]);
    let ref_b = clean_snapshot(&b, &bb, &["--prefix", "site-b"]);

    let enclave = Registry::start();
    let (da, db) = (a.path("dest"), b.path("dest"));
    let ca = install_cmd(&a, &ba, &enclave, &da, &["--prefix", "site-a"])
        .spawn()
        .unwrap();
    let cb = install_cmd(&b, &bb, &enclave, &db, &["--prefix", "site-b"])
        .spawn()
        .unwrap();
    ok(&ca.wait_with_output().unwrap());
    ok(&cb.wait_with_output().unwrap());
    let mut want = ref_a;
    want.extend(ref_b);
    assert_eq!(enclave.snapshot(), want);
}

#[test]
fn two_installs_of_the_same_bundle_at_once_keep_state_and_log_intact() {
    let s = Scenario::with_big_layer(8 << 20);
    let bundle = s.build("bundle", &[]);
    let reference = clean_snapshot(&s, &bundle, &[]);
    let enclave = Registry::start();
    let dest = s.path("dest");
    let children: Vec<Child> = (0..2)
        .map(|_| {
            install_cmd(&s, &bundle, &enclave, &dest, &[])
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        ok(&c.wait_with_output().unwrap());
    }
    assert_eq!(enclave.snapshot(), reference);
    let v = cli::log_json(&dest);
    assert_eq!(v["receipts"], 2, "{v}");
    // Every receipt's signature and the hash chain hold, and agree with the signed state.
    cli::log_check(&dest);
    // And Debian's minisign agrees, receipt by receipt.
    let out = sh(
        "for r in receipts/0*.json; do minisign -Vq -p enclave.pub -m $r || exit 1; done",
        &dest.join(".airlock"),
    );
    crate::common::cli::ok(&out);
    // The state still opens and accepts a third run.
    ok(&run(install_cmd(&s, &bundle, &enclave, &dest, &[])));
    cli::log_check(&dest);
}

/// Names of the files directly in `dir`, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn a_disk_that_fills_during_repair_fails_clearly_and_a_rerun_completes() {
    let s = Scenario::new();
    let built = s.build("vols", &["--volume-size", "1MiB", "--parity", "1"]);
    let Some(disk) = Tmpfs::mount(&s.path("media"), 16 << 20) else {
        return notice_not_run(
            "a_disk_that_fills_during_repair_fails_clearly_and_a_rerun_completes",
        );
    };
    let b = disk.path().join("bundle");
    let cp = sh(
        &format!("cp -a {} {}", built.display(), b.display()),
        s.work.path(),
    );
    assert!(cp.status.success());
    // A whole 1 MiB volume lost; room for a quarter of it.
    let lost = b.join("payload.tar.zst.001");
    std::fs::remove_file(&lost).unwrap();
    let listing = names_in(&b);
    let filler = disk.fill_leaving(256 << 10);
    let before = crate::common::tree(s.work.path());

    let out = s.repair(&b);
    assert_fails(&out, 1, "rebuild volumes in");
    assert_fails(&out, 1, "No space left on device");
    // No volume that looks complete, no temporary file left, nothing else written.
    assert!(!lost.exists(), "a partial volume was put in place");
    assert_eq!(names_in(&b), listing);
    crate::common::assert_changed_only_under(&before, &crate::common::tree(s.work.path()), &[]);

    // Space back: the same command rebuilds it, and sha256sum agrees.
    std::fs::remove_file(filler).unwrap();
    let out = s.repair(&b);
    ok(&out);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["rebuilt"],
        serde_json::json!(["payload.tar.zst.001"])
    );
    assert_eq!(
        std::fs::read(&lost).unwrap(),
        std::fs::read(built.join("payload.tar.zst.001")).unwrap()
    );
    sh_ok("sha256sum --quiet -c SHA256SUMS", &b);
    ok(&s.verify(&b));
}

#[test]
fn a_destination_that_fills_during_install_fails_clearly_and_a_rerun_completes() {
    let s = Scenario::with_big_layer(BIG);
    let bundle = s.build("bundle", &[]);
    let reference = clean_snapshot(&s, &bundle, &[]);
    let Some(disk) = Tmpfs::mount(&s.path("dest"), 8 << 20) else {
        return notice_not_run(
            "a_destination_that_fills_during_install_fails_clearly_and_a_rerun_completes",
        );
    };
    let enclave = Registry::start();
    let spool = s.path("spool");
    std::fs::create_dir(&spool).unwrap();
    let spool_arg = spool.to_str().unwrap().to_string();
    let before = crate::common::tree(s.work.path());
    let mut child = install_cmd(&s, &bundle, &enclave, disk.path(), &["--spool", &spool_arg])
        .spawn()
        .unwrap();
    // The free-space check has passed once the big layer is on its way; then the
    // destination fills up before the files are placed.
    wait_for_big_upload(&enclave, &mut child);
    let filler = disk.fill();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    for (tag, digest) in &enclave.snapshot() {
        assert_eq!(reference.get(tag), Some(digest), "{tag} was tagged early");
    }
    // Placed files are complete or absent, and no temporary file is left beside them.
    let kubeadm = disk.path().join("bin/v1.30.2/linux/amd64/kubeadm");
    if kubeadm.exists() {
        assert_eq!(
            std::fs::read(&kubeadm).unwrap(),
            crate::common::scenario::kubeadm_bytes()
        );
    }
    let strays: Vec<_> = files_containing(disk.path(), "")
        .into_iter()
        .filter(|(p, _)| {
            let rel = p.strip_prefix(disk.path()).unwrap();
            !rel.starts_with(".airlock") && rel != Path::new("filler") && p != &kubeadm
        })
        .collect();
    assert!(strays.is_empty(), "left in the destination: {strays:?}");
    crate::common::assert_changed_only_under(
        &before,
        &crate::common::tree(s.work.path()),
        &["dest", "spool"],
    );
    assert!(names_in(&spool).is_empty(), "spool left behind");

    std::fs::remove_file(filler).unwrap();
    ok(&run(install_cmd(
        &s,
        &bundle,
        &enclave,
        disk.path(),
        &["--spool", &spool_arg],
    )));
    assert_eq!(enclave.snapshot(), reference);
    assert_eq!(
        std::fs::read(&kubeadm).unwrap(),
        crate::common::scenario::kubeadm_bytes()
    );
    cli::log_check(disk.path());
}
