//! BENCHMARKS.md, issue 23: what checking upstream signatures costs. Not a test of
//! behaviour (ignored; run by hand): with the test world's signatures served locally (the
//! upstream registry's `.sig` tags and referrers, `.sig`/`.cert` files, the Rekor-like log),
//! `farm-bench` times, interleaved, a cold `airlock resolve` + `airlock build` of the
//! fixture hop with `--trusted-root` against the same without, then `airlock-verify
//! provenance` on the bundle against `airlock-verify verify`; `/usr/bin/time -v` gives the
//! peak RSS of one run of each. The binaries are the ones in `AIRLOCK_BENCH_BIN` (a release
//! build: `cargo build --release --bin airlock --bin airlock-verify`).
//!
//! `AIRLOCK_BENCH_BIN=$PWD/target/release cargo test --test e2e provenance_bench:: -- --ignored --nocapture`
//! (add `BIG_LAYER_MIB=71` for a 1.1 GiB hop, `SWAP=1` to run the plain build first in each pair,
//! `SETTLE=2` for shared output paths and a pause after the `rm`, see `cold_script`).

use std::path::Path;
use std::process::Command;

use crate::common::cli::{key_of, ok, pub_of};
use crate::common::provenance::Signing;
use crate::common::upstream::{Opts, Upstream};
use crate::provenance::sign_all;

/// Runs `program args` and returns what it printed (both streams), asserting success.
fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .expect("run the benchmark tool");
    ok(&out);
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A shell script at `dir/name` that starts from an empty cache and no lock or bundle,
/// then resolves (with `extra`) and builds; returns its path.
///
/// `settle`: both scripts use the same cache, lock and bundle paths and wait that many
/// seconds after the `rm`. On a VM that hands freed memory back to its host at once, the
/// cost of writing 2.2 GB again depends on how long the freed pages sat; waiting until all
/// are handed back makes it the same for both (BENCHMARKS.md, issue 23, second round).
fn cold_script(u: &Upstream, bin: &Path, name: &str, extra: &str, settle: Option<u32>) -> String {
    let w = u.work.path().display().to_string();
    let net = u.net_args().join(" ");
    let (airlock, catalog) = (bin.join("airlock"), u.path("catalog.yaml"));
    let (out, pause) = match settle {
        Some(s) => ("run".to_string(), format!("sleep {s}\n")),
        None => (name.to_string(), String::new()),
    };
    let text = format!(
        "set -e\ncd {w}\nrm -rf {w}/cache-{out} {w}/{out}.lock {w}/bundle-{out}\n{pause}\
         export AIRLOCK_CACHE={w}/cache-{out} DOCKER_CONFIG={w}/no-docker-config\n\
         {airlock} resolve --from v1.29.6 --to v1.30.2 --out {w}/{out}.lock --catalog {catalog} {net} {extra}\n\
         {airlock} build {w}/{out}.lock --key {key} --out {w}/bundle-{out} --quiet {net}\n",
        airlock = airlock.display(),
        catalog = catalog.display(),
        key = key_of(&u.path("keys/k")),
    );
    let path = u.path(&format!("{name}.sh"));
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
#[ignore = "a benchmark: run by hand with AIRLOCK_BENCH_BIN (BENCHMARKS.md)"]
fn cold_build_with_and_without_provenance_and_the_offline_recheck() {
    let bin = std::path::PathBuf::from(
        std::env::var("AIRLOCK_BENCH_BIN").expect("AIRLOCK_BENCH_BIN: the release binaries"),
    );
    // BIG_LAYER_MIB=71 gives the 12 images the bench hop's layer shapes (a 71 MiB layer
    // where bench/run.sh has 44) and a 1.1 GiB bundle; unset, the small e2e fixture.
    let big_layer_mib = std::env::var("BIG_LAYER_MIB")
        .map(|v| v.parse().expect("BIG_LAYER_MIB: a number of MiB"))
        .unwrap_or(0);
    let u = Upstream::new(Opts {
        big_layer_mib,
        ..Opts::default()
    });
    let mut s = Signing::new();
    sign_all(&mut s, &u, &[]);
    let rekor = s.rekor();
    u.keygen("k");
    let root = s.trusted_root().display().to_string();
    // SETTLE=SECONDS: shared paths and a pause after the `rm` (see `cold_script`).
    let settle = std::env::var("SETTLE")
        .ok()
        .map(|v| v.parse().expect("SETTLE: whole seconds"));
    let signed = cold_script(
        &u,
        &bin,
        "signed",
        &format!("--trusted-root {root} --rekor-url {}", rekor.url),
        settle,
    );
    let plain = cold_script(&u, &bin, "plain", "--no-provenance", settle);
    let pairs = std::env::var("PAIRS").unwrap_or_else(|_| "9".into());
    println!("== the hop");
    println!("{}", run("sh", &[&signed]));
    // Once each before timing: farm-bench would time a failing script as well.
    run("sh", &[&plain]);
    // HOLD=FILE keeps the servers up, for timing by hand, until FILE is removed.
    if let Ok(hold) = std::env::var("HOLD") {
        std::fs::write(&hold, format!("{signed}\n{plain}\n")).unwrap();
        println!("holding: scripts {signed} {plain}; remove {hold} to go on");
        while Path::new(&hold).exists() {
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    }
    // The signed hop last, so its lock and bundle are the ones looked at below (the plain
    // one shares their paths under SETTLE, and timing by hand may have removed them).
    run("sh", &[&signed]);
    let out = if settle.is_some() { "run" } else { "signed" };
    let lock = std::fs::read_to_string(u.path(&format!("{out}.lock"))).unwrap();
    println!(
        "{} provenance entries; bundle {}",
        lock.matches("- artifact: ").count(),
        run(
            "du",
            &[
                "-sb",
                &u.path(&format!("bundle-{out}")).display().to_string()
            ]
        )
        .trim()
    );
    // SWAP=1 runs the plain build first in each pair, to see whether the order counts.
    let (a, b, title) = if std::env::var("SWAP").is_ok_and(|v| v == "1") {
        (&plain, &signed, "without (A) against --trusted-root (B)")
    } else {
        (&signed, &plain, "--trusted-root (A) against without (B)")
    };
    println!("== cold resolve + build: {title}");
    let b_vs = format!("sh {b}");
    println!(
        "{}",
        run(
            "farm-bench",
            &[
                "-n",
                &pairs,
                "--timeout",
                "1800",
                "--vs",
                &b_vs,
                "--",
                "sh",
                a
            ]
        )
    );
    for script in [&signed, &plain] {
        println!("== /usr/bin/time -v sh {script}");
        let out = run("/usr/bin/time", &["-v", "sh", script]);
        for l in out.lines().filter(|l| {
            l.contains("Maximum resident") || l.contains("Elapsed (wall") || l.contains("seconds")
        }) {
            println!("{l}");
        }
    }
    // The loop above ran the plain script last, which under SETTLE shares the paths.
    run("sh", &[&signed]);
    drop(rekor);

    let verify_bin = bin.join("airlock-verify").display().to_string();
    let bundle = u.path(&format!("bundle-{out}")).display().to_string();
    let trust = pub_of(&u.path("keys/k"));
    println!("== airlock-verify provenance (A) against airlock-verify verify (B), offline");
    let verify_vs = format!("{verify_bin} verify {bundle} --trust {trust} --quiet");
    println!(
        "{}",
        run(
            "farm-bench",
            &[
                "-n",
                &pairs,
                "--vs",
                &verify_vs,
                "--",
                &verify_bin,
                "provenance",
                &bundle,
                "--trust",
                &trust,
                "--quiet",
            ]
        )
    );
    println!("== /usr/bin/time -v airlock-verify provenance");
    let out = run(
        "/usr/bin/time",
        &[
            "-v",
            &verify_bin,
            "provenance",
            &bundle,
            "--trust",
            &trust,
            "--quiet",
        ],
    );
    for l in out
        .lines()
        .filter(|l| l.contains("Maximum resident") || l.contains("Elapsed (wall"))
    {
        println!("{l}");
    }
}
