//! Faults: the enclave registry going away mid-install (and coming back, or not), disks
//! that fill up during build and install, builds killed with `kill -9` at many points, and
//! two installs at once. After each fault the error is clear, nothing that looks complete
//! is left half-done (no tag names an incomplete image, no bundle directory appears), and
//! a re-run gives exactly what a clean run gives.
//!
//! Installs killed with `kill -9` are in `media.rs`
//! (`an_install_killed_anywhere_completes_on_the_next_run`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::check::{
    assert_contains, assert_fails_any, assert_same_bundle, assert_tagged_only_as_in, mkdir,
    names_in,
};
use crate::common::cli;
use crate::common::cli::ok;
use crate::common::scenario::{Scenario, assert_fails, kubeadm_bytes, sh, sh_ok};
use crate::common::servers::Registry;
use crate::common::tmpfs::{Tmpfs, notice_not_run};
use crate::common::{assert_changed_only_under, each, tree};

/// Large enough that an install is still uploading when the test acts.
const BIG: usize = 64 << 20;

fn run(mut c: Command) -> Output {
    c.output().expect("run airlock-verify")
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
    let reference = s.clean_install_snapshot(&bundle, &[]);

    let mut enclave = Registry::start();
    let dest = s.path("dest");
    // 6 attempts back off 0.5 + 1 + 2 + 4 + 8 s: long enough for a restart.
    let mut child = s
        .install_command(&bundle, &enclave, &dest, &["--attempts", "6"])
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
    assert_contains(&cli::stderr(&out), "retrying");
    assert_eq!(enclave.snapshot(), reference);
}

#[test]
fn a_registry_that_stays_away_fails_clearly_and_a_rerun_completes() {
    let s = Scenario::with_big_layer(BIG);
    let bundle = s.build("bundle", &[]);
    let reference = s.clean_install_snapshot(&bundle, &[]);

    let mut enclave = Registry::start();
    let dest = s.path("dest");
    let mut child = s
        .install_command(&bundle, &enclave, &dest, &["--attempts", "2"])
        .spawn()
        .unwrap();
    wait_for_big_upload(&enclave, &mut child);
    enclave.stop();
    let out = child.wait_with_output().unwrap();
    assert_fails(&out, 1, &enclave.host());
    assert_fails(&out, 1, "receipt of the refusal");

    // Back up: whatever the interrupted run left, no tag names an incomplete image
    // (snapshot checks every manifest and blob a tag reaches), and a re-run completes.
    enclave.restart();
    assert_tagged_only_as_in(&enclave.snapshot(), &reference);
    ok(&run(s.install_command(&bundle, &enclave, &dest, &[])));
    assert_eq!(enclave.snapshot(), reference);
    // The log holds the failure and the install, chained and signed.
    let v = cli::log_json(&dest);
    assert_eq!(each(&v["entries"], "outcome"), ["failed", "installed"]);
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
    // An absolute OUT replaces the scratch directory the build would write into.
    let out_dir = disk.path().join("bundle");
    let build = || s.build_lock(&s.lock, out_dir.to_str().unwrap(), &["--force"]);
    let out = build().run();
    assert_fails(&out, 1, "No space left on device");
    let left = names_in(disk.path());
    assert!(left.is_empty(), "a failed build left {left:?}");

    disk.resize(64 << 20);
    build().ok();
    assert_same_bundle(&out_dir, &reference);
}

#[test]
fn a_disk_that_fills_during_install_fails_clearly_and_a_rerun_completes() {
    let s = Scenario::with_big_layer(BIG);
    let bundle = s.build("bundle", &[]);
    let reference = s.clean_install_snapshot(&bundle, &[]);
    let Some(spool) = Tmpfs::mount(&s.path("spool"), 4 * BIG as u64) else {
        return notice_not_run(
            "a_disk_that_fills_during_install_fails_clearly_and_a_rerun_completes",
        );
    };
    let enclave = Registry::start();
    let dest = s.path("dest");
    let spool_arg = spool.path().to_str().unwrap();
    let install = || s.install_command(&bundle, &enclave, &dest, &["--spool", spool_arg]);
    let mut child = install().spawn().unwrap();
    // As soon as the install has its spool, something else takes the rest of the disk.
    wait_while_running(&mut child, "the spool was created", || {
        std::fs::read_dir(spool.path()).is_ok_and(|mut d| d.next().is_some())
    });
    let filler = spool.fill();
    let out = child.wait_with_output().unwrap();
    // Either the free-space check or the write itself stops it; both say why.
    assert_fails_any(&out, 1, &["No space left on device", "bytes free"]);
    assert_tagged_only_as_in(&enclave.snapshot(), &reference);
    // Placed files are complete or absent: each one present has its signed content.
    let kubeadm = dest.join("bin/v1.30.2/linux/amd64/kubeadm");
    if kubeadm.exists() {
        assert_eq!(std::fs::read(&kubeadm).unwrap(), kubeadm_bytes());
    }

    std::fs::remove_file(filler).unwrap();
    ok(&run(install()));
    assert_eq!(enclave.snapshot(), reference);
    let spools = names_in(spool.path());
    assert!(spools.is_empty(), "spools left behind: {spools:?}");
}

#[test]
fn a_full_destination_refuses_before_writing_and_a_rerun_completes() {
    let (s, bundle) = Scenario::built();
    let reference = s.clean_install_snapshot(&bundle, &[]);
    let Some(disk) = Tmpfs::mount(&s.path("dest"), 64 << 20) else {
        return notice_not_run("a_full_destination_refuses_before_writing_and_a_rerun_completes");
    };
    let filler = disk.fill();
    let enclave = Registry::start();
    let out = run(s.install_command(&bundle, &enclave, disk.path(), &[]));
    assert_fails_any(&out, 1, &["bytes free", "No space left on device"]);
    assert!(enclave.snapshot().is_empty(), "pushed before failing");
    assert!(
        !disk.path().join("bin").exists(),
        "files placed on a full disk"
    );

    std::fs::remove_file(filler).unwrap();
    ok(&run(s.install_command(&bundle, &enclave, disk.path(), &[])));
    assert_eq!(enclave.snapshot(), reference);
}

#[test]
fn a_build_killed_at_many_points_reruns_to_the_same_bytes() {
    let s = Scenario::with_big_layer(24 << 20);
    let reference = s.build("reference", &[]);
    let out_dir = s.path("out");
    let cache = s.path("cache-killed");
    let build = || {
        let cli = s.build_lock(&s.lock, out_dir.to_str().unwrap(), &["--force"]);
        let mut c = cli.env("AIRLOCK_CACHE", &cache).into_command();
        c.stdout(Stdio::null()).stderr(Stdio::piped());
        c
    };
    for delay_ms in [30, 120, 300, 600, 1000, 1600, 2500] {
        let mut child = build().spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        // Whatever the kill interrupted: no bundle, or a whole one.
        if out_dir.exists() {
            ok(&s.verify(&out_dir));
        }
    }
    ok(&build().output().unwrap());
    assert_same_bundle(&out_dir, &reference);
    // Partial directories of the killed runs were removed by the next run.
    let mut partials = names_in(s.work.path());
    partials.retain(|n| n.starts_with(".out.partial-"));
    assert!(partials.is_empty(), "left behind: {partials:?}");
}

#[test]
fn two_installs_of_different_bundles_into_one_registry_at_once() {
    let a = Scenario::new();
    let b = Scenario::with_big_layer(2 << 20);
    let (ba, bb) = (a.build("bundle", &[]), b.build("bundle", &[]));
    let ref_a = a.clean_install_snapshot(&ba, &["--prefix", "site-a"]);
    let ref_b = b.clean_install_snapshot(&bb, &["--prefix", "site-b"]);

    let enclave = Registry::start();
    let (da, db) = (a.path("dest"), b.path("dest"));
    let ca = a
        .install_command(&ba, &enclave, &da, &["--prefix", "site-a"])
        .spawn();
    let cb = b
        .install_command(&bb, &enclave, &db, &["--prefix", "site-b"])
        .spawn();
    ok(&ca.unwrap().wait_with_output().unwrap());
    ok(&cb.unwrap().wait_with_output().unwrap());
    let mut want = ref_a;
    want.extend(ref_b);
    assert_eq!(enclave.snapshot(), want);
}

#[test]
fn two_installs_of_the_same_bundle_at_once_keep_state_and_log_intact() {
    let s = Scenario::with_big_layer(8 << 20);
    let bundle = s.build("bundle", &[]);
    let reference = s.clean_install_snapshot(&bundle, &[]);
    let enclave = Registry::start();
    let dest = s.path("dest");
    let install = || s.install_command(&bundle, &enclave, &dest, &[]);
    let children: Vec<Child> = (0..2).map(|_| install().spawn().unwrap()).collect();
    for c in children {
        ok(&c.wait_with_output().unwrap());
    }
    assert_eq!(enclave.snapshot(), reference);
    let v = cli::log_json(&dest);
    assert_eq!(v["receipts"], 2, "{v}");
    // Every receipt's signature and the hash chain hold, and agree with the signed state.
    cli::log_check(&dest);
    // And Debian's minisign agrees, receipt by receipt.
    let each_receipt =
        "for r in receipts/0*.json; do minisign -Vq -p enclave.pub -m $r || exit 1; done";
    cli::ok(&sh(each_receipt, &dest.join(".airlock")));
    // The state still opens and accepts a third run.
    ok(&run(install()));
    cli::log_check(&dest);
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
    let before = tree(s.work.path());

    let out = s.repair(&b);
    assert_fails(&out, 1, "rebuild volumes in");
    assert_fails(&out, 1, "No space left on device");
    // No volume that looks complete, no temporary file left, nothing else written.
    assert!(!lost.exists(), "a partial volume was put in place");
    assert_eq!(names_in(&b), listing);
    assert_changed_only_under(&before, &tree(s.work.path()), &[]);

    // Space back: the same command rebuilds it, and sha256sum agrees.
    std::fs::remove_file(filler).unwrap();
    let report = s.repair(&b).json();
    assert_eq!(
        report["rebuilt"],
        serde_json::json!(["payload.tar.zst.001"])
    );
    let volume = |d: &Path| std::fs::read(d.join("payload.tar.zst.001")).unwrap();
    assert_eq!(volume(&b), volume(&built));
    sh_ok("sha256sum --quiet -c SHA256SUMS", &b);
    ok(&s.verify(&b));
}

#[test]
fn a_destination_that_fills_during_install_fails_clearly_and_a_rerun_completes() {
    let s = Scenario::with_big_layer(BIG);
    let bundle = s.build("bundle", &[]);
    let reference = s.clean_install_snapshot(&bundle, &[]);
    let Some(disk) = Tmpfs::mount(&s.path("dest"), 8 << 20) else {
        return notice_not_run(
            "a_destination_that_fills_during_install_fails_clearly_and_a_rerun_completes",
        );
    };
    let enclave = Registry::start();
    let spool = mkdir(s.path("spool"));
    let spool_arg = spool.to_str().unwrap();
    let install = || s.install_command(&bundle, &enclave, disk.path(), &["--spool", spool_arg]);
    let before = tree(s.work.path());
    let mut child = install().spawn().unwrap();
    // The free-space check has passed once the big layer is on its way; then the
    // destination fills up before the files are placed.
    wait_for_big_upload(&enclave, &mut child);
    let filler = disk.fill();
    let out = child.wait_with_output().unwrap();
    assert_fails(&out, 1, "No space left on device");
    assert_tagged_only_as_in(&enclave.snapshot(), &reference);
    // Placed files are complete or absent, and no temporary file is left beside them.
    let kubeadm = disk.path().join("bin/v1.30.2/linux/amd64/kubeadm");
    if kubeadm.exists() {
        assert_eq!(std::fs::read(&kubeadm).unwrap(), kubeadm_bytes());
    }
    let strays: Vec<_> = files_containing(disk.path(), "")
        .into_iter()
        .filter(|(p, _)| {
            let rel = p.strip_prefix(disk.path()).unwrap();
            !rel.starts_with(".airlock") && rel != Path::new("filler") && p != &kubeadm
        })
        .collect();
    assert!(strays.is_empty(), "left in the destination: {strays:?}");
    assert_changed_only_under(&before, &tree(s.work.path()), &["dest", "spool"]);
    assert!(names_in(&spool).is_empty(), "spool left behind");

    std::fs::remove_file(filler).unwrap();
    ok(&run(install()));
    assert_eq!(enclave.snapshot(), reference);
    assert_eq!(std::fs::read(&kubeadm).unwrap(), kubeadm_bytes());
    cli::log_check(disk.path());
}
