//! Resource bounds and the messages around them (issue 21, items 13-15 and the registry
//! messages of 16/17): `fetch` gives up on a registry that drips or stalls and leaves
//! nothing behind, the next fetch removes what a killed one left, `serve` answers a real
//! pull while a flood of idle connections is open, and a registry that is down or answers
//! plain HTTP is named so, once, with what to do.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::check::{assert_contains, closed_port, names_in};
use crate::common::cli::stderr;
use crate::common::scenario::{Scenario, assert_fails};
use crate::common::servers::{Registry, SlowProxy};
use crate::common::{assert_changed_only_under, tree};

/// A bundle built and published to a fresh registry as `HOST/airlock/hop:v1`.
fn published(s: &Scenario) -> (Registry, PathBuf) {
    let bundle = s.build("bundle", &[]);
    let fleet = Registry::start();
    let out = s
        .on_bundle("publish", &bundle)
        .args([
            "--registry",
            &format!("{}/airlock/hop:v1", fleet.host()),
            "--insecure",
            "--quiet",
        ])
        .run();
    crate::common::cli::ok(&out);
    (fleet, bundle)
}

/// `airlock-verify fetch HOST/airlock/hop:v1 --out OUT --insecure --quiet EXTRA...`.
fn fetch_cmd(s: &Scenario, host: &str, out: &Path, extra: &[&str]) -> Command {
    let cli = s
        .verify_cli()
        .args(["fetch", &format!("{host}/airlock/hop:v1")]);
    let cli = cli.args(["--trust", &s.pubkey(), "--out"]).arg(out);
    cli.args(["--insecure", "--quiet"])
        .args(extra)
        .into_command()
}

#[test]
fn fetch_from_a_dripping_registry_stops_at_its_deadline_and_leaves_nothing() {
    let s = Scenario::new();
    let (fleet, _) = published(&s);
    let drip = SlowProxy::start(&fleet, "drip");
    let site = s.path("site");
    std::fs::create_dir(&site).unwrap();
    let before = tree(s.work.path());
    let t0 = Instant::now();
    let o = fetch_cmd(&s, &drip.host(), &site.join("bundle"), &["--timeout", "4"])
        .output()
        .unwrap();
    assert_fails(&o, 1, "not finished after 4 s (--timeout)");
    assert!(
        t0.elapsed() < Duration::from_secs(30),
        "took {:?}",
        t0.elapsed()
    );
    assert!(
        drip.log_contents().contains("drip: "),
        "{}",
        drip.log_contents()
    );
    // Nothing was left anywhere: the whole root is as it was.
    assert_changed_only_under(&before, &tree(s.work.path()), &[]);
}

#[test]
fn fetch_from_a_stalled_registry_gives_up_and_leaves_nothing() {
    let s = Scenario::new();
    let (fleet, _) = published(&s);
    let stall = SlowProxy::start(&fleet, "stall");
    let site = s.path("site");
    std::fs::create_dir(&site).unwrap();
    let before = tree(s.work.path());
    let t0 = Instant::now();
    let o = fetch_cmd(
        &s,
        &stall.host(),
        &site.join("bundle"),
        &["--stall-timeout", "2"],
    )
    .output()
    .unwrap();
    assert_fails(&o, 1, "no data for 2 s (--stall-timeout)");
    assert!(
        t0.elapsed() < Duration::from_secs(30),
        "took {:?}",
        t0.elapsed()
    );
    assert_changed_only_under(&before, &tree(s.work.path()), &[]);
    // Zero is not a deadline.
    let o = fetch_cmd(&s, &fleet.host(), &site.join("b"), &["--timeout", "0"])
        .output()
        .unwrap();
    assert_fails(&o, 2, "--timeout must be at least 1");
}

/// Spawn a fetch through the stalling proxy into `out`; wait until its download has
/// started and return it with the name of its temporary directory.
/// A running command, killed and reaped when dropped.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn stalled_fetch(s: &Scenario, stall: &SlowProxy, out: &Path) -> (Running, String) {
    let site = out.parent().unwrap();
    let before = names_in(site);
    let started = stall.log_contents().matches("stall: ").count();
    let child = Running(
        fetch_cmd(s, &stall.host(), out, &[])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let new: Vec<String> = names_in(site)
            .into_iter()
            .filter(|n| n.starts_with(".airlock-fetch-") && !before.contains(n))
            .collect();
        if new.len() == 1 && stall.log_contents().matches("stall: ").count() > started {
            return (child, new[0].clone());
        }
        assert!(
            Instant::now() < deadline,
            "the fetch never started downloading"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_directories_of_killed_fetches_are_removed_and_live_ones_kept() {
    let s = Scenario::new();
    let (fleet, _) = published(&s);
    let stall = SlowProxy::start(&fleet, "stall");
    let site = s.path("site");
    std::fs::create_dir(&site).unwrap();
    // A killed fetch cannot clean up after itself.
    let (killed, killed_dir) = stalled_fetch(&s, &stall, &site.join("killed"));
    drop(killed);
    assert_eq!(names_in(&site), std::slice::from_ref(&killed_dir));
    // The next fetch removes it, and holds its own while it runs.
    let (live, live_dir) = stalled_fetch(&s, &stall, &site.join("live"));
    assert_eq!(names_in(&site), std::slice::from_ref(&live_dir));
    // A planted link with the prefix is neither followed nor removed.
    let outside = s.path("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("keep"), b"x").unwrap();
    std::os::unix::fs::symlink(&outside, site.join(".airlock-fetch-planted")).unwrap();
    let before = tree(s.work.path());

    let o = fetch_cmd(&s, &fleet.host(), &site.join("good"), &[])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let mut want = vec![
        ".airlock-fetch-planted".to_string(),
        "good".into(),
        live_dir.clone(),
    ];
    want.sort();
    assert_eq!(names_in(&site), want);
    assert_eq!(names_in(&outside), ["keep"]);
    // The good bundle appeared (and the live fetch went on); nothing else in the whole
    // root changed.
    let live_path = format!("site/{live_dir}");
    assert_changed_only_under(&before, &tree(s.work.path()), &["site/good", &live_path]);
    drop(live);
}

#[test]
fn fetch_over_an_existing_directory_says_what_to_do_and_not_force() {
    let s = Scenario::new();
    let (fleet, _) = published(&s);
    let out = s.path("taken");
    std::fs::create_dir(&out).unwrap();
    let o = fetch_cmd(&s, &fleet.host(), &out, &[]).output().unwrap();
    assert_fails(
        &o,
        4,
        "already exists; fetch never replaces a directory: name a new one",
    );
    assert!(!stderr(&o).contains("--force"), "{}", stderr(&o));
}

#[test]
fn a_registry_that_is_not_running_is_reported_once_with_a_question() {
    let (s, bundle) = Scenario::built();
    let host = closed_port();
    let o = s.install_to(&bundle, &host, &s.path("dest"), &["--insecure"]);
    assert_fails(&o, 1, &format!("is the registry at {host} running"));
    let err = stderr(&o);
    let retries = err.lines().filter(|l| l.contains("retrying")).count();
    assert_eq!(retries, 1, "{err}");
    assert_contains(&err, "connection refused; retrying (is it running?)");
    assert!(err.lines().count() <= 4, "{err}");
    let o = fetch_cmd(&s, &host, &s.path("f"), &["--attempts", "1"])
        .output()
        .unwrap();
    assert_fails(&o, 1, &format!("is the registry at {host} running"));
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    // The connected side: a build whose upstream mirror is down (a fresh cache, so it has
    // to ask).
    let build = s
        .build_cli(&s.lock, "down")
        .env("AIRLOCK_CACHE", s.path("fresh-cache"));
    let mirror = format!("registry.k8s.io={host}");
    let o = build
        .args(["--insecure-registry", &host, "--mirror", &mirror])
        .run();
    let err = stderr(&o);
    assert!(!o.status.success(), "{err}");
    assert_contains(&err, &format!("is the registry at {host} running"));
}

#[test]
fn a_plain_http_registry_without_insecure_is_named_as_such() {
    let s = Scenario::new();
    let (fleet, bundle) = published(&s);
    let host = fleet.host();
    let want = "the registry answered plain HTTP: add --insecure";
    // Enclave side: install, publish, fetch.
    let o = s.install_to(&bundle, &host, &s.path("dest"), &[]);
    assert_fails(&o, 1, want);
    let o = s
        .on_bundle("publish", &bundle)
        .args(["--registry", &format!("{host}/airlock/hop:v2"), "--quiet"])
        .run();
    assert_fails(&o, 1, want);
    let o = s.run_verify(&[
        "fetch",
        &format!("{host}/airlock/hop:v1"),
        "--trust",
        &format!("{}.pub", s.key.display()),
        "--out",
        s.path("f").to_str().unwrap(),
    ]);
    assert_fails(&o, 1, want);
    assert!(!stderr(&o).contains("InvalidContentType"), "{}", stderr(&o));
    // Connected side: the build's upstream, reached through a mirror without
    // --insecure-registry.
    let up = s.upstream.host();
    // A fresh cache, so the build has to ask the registry.
    let build = s
        .build_cli(&s.lock, "plain")
        .env("AIRLOCK_CACHE", s.path("fresh-cache"));
    let o = build
        .args(["--mirror", &format!("registry.k8s.io={up}")])
        .run();
    let err = format!("{}{}", stderr(&o), String::from_utf8_lossy(&o.stdout));
    assert!(!o.status.success(), "{err}");
    assert_contains(
        &err,
        &format!("the registry answered plain HTTP: add --insecure-registry {up}"),
    );
}

#[test]
fn serve_answers_a_real_pull_while_a_flood_of_idle_connections_is_open() {
    use std::io::Read;
    let (s, bundle) = Scenario::built();
    // The default cap (128) and header timeout (30 s): before, each 128 idle connections
    // held every slot for 30 s.
    let served = s.serve(&bundle, &["--spool", s.work.path().to_str().unwrap()]);
    let addr = served.addr.clone();
    // A bounded flood on loopback, three times the cap: 250 connections that send
    // nothing, and 150 that trickle a request head one byte every 200 ms (slowloris),
    // more than the cap on their own.
    let flood: Vec<std::net::TcpStream> = (0..400)
        .map(|_| std::net::TcpStream::connect(&addr).unwrap())
        .collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let trickle = {
        let conns: Vec<std::net::TcpStream> = flood[250..]
            .iter()
            .map(|c| c.try_clone().unwrap())
            .collect();
        let stop = stop.clone();
        std::thread::spawn(move || {
            use std::io::Write;
            let head = b"GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Slow: ";
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for mut c in &conns {
                    let _ = c.write_all(&[*head.get(i).unwrap_or(&b'a')]);
                }
                i += 1;
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let t0 = Instant::now();
    let layout = s.path("pulled");
    crate::common::images::skopeo(&[
        "copy",
        "--all",
        "--preserve-digests",
        "--src-tls-verify=false",
        &format!("docker://{addr}/kube-apiserver:v1.30.2"),
        &format!("oci:{}:x", layout.display()),
    ]);
    let took = t0.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    trickle.join().unwrap();
    assert!(took < Duration::from_secs(10), "the pull took {took:?}");
    // skopeo checked every blob's digest; the layout holds the image.
    assert!(layout.join("index.json").is_file());
    // Room was made by closing idle connections of the flood, not by ignoring the cap.
    let closed = flood
        .iter()
        .filter(|c| {
            c.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
            let mut r: &std::net::TcpStream = c;
            match r.read(&mut [0u8; 1]) {
                Ok(n) => n == 0,
                Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
            }
        })
        .count();
    assert!(
        closed >= 400 - 128,
        "only {closed} idle connections were closed"
    );
}

/// Bytes in indicatif's `{bytes}` form (`1.61 MiB`, `512 B`).
fn human_bytes(num: &str, unit: &str) -> Option<f64> {
    let scale = match unit {
        "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some(num.parse::<f64>().ok()? * scale)
}

/// Every `DONE/TOTAL` a progress bar drew in `text` (terminal output), in bytes.
fn bar_fractions(text: &str) -> Vec<(f64, f64)> {
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c == ']' || c.is_control())
        .filter(|w| !w.is_empty())
        .collect();
    words
        .windows(3)
        .filter_map(|w| {
            let (unit, total) = w[1].split_once('/')?;
            Some((human_bytes(w[0], unit)?, human_bytes(total, w[2])?))
        })
        .collect()
}

#[test]
fn the_fetch_progress_bar_never_counts_past_its_total() {
    let s = Scenario::new();
    let (fleet, _) = published(&s);
    // script(1) gives the command a terminal, so the bar is drawn as a user sees it.
    let cmd = format!(
        "{} fetch {}/airlock/hop:v1 --trust {}.pub --out {} --insecure",
        crate::common::verify_bin().display(),
        fleet.host(),
        s.key.display(),
        s.path("fetched").display()
    );
    let o = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("DOCKER_CONFIG", &s.docker_config)
        .output()
        .expect("run script (Debian package bsdutils)");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("fetched and verified"), "{text}");
    let frames = bar_fractions(&text);
    assert!(
        frames.iter().any(|(_, total)| *total > 0.0),
        "no bar with a total was drawn:\n{text}"
    );
    for (done, total) in frames {
        assert!(done <= total, "{done} of {total} bytes:\n{text}");
    }
}
