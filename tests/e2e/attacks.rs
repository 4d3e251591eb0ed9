//! Issue 15's attacks on the inputs added since the core path, one test each in the style
//! of `bad_input.rs`: every case fails with a specific error and exit code, and after
//! every case the whole temporary root of the test is walked to show that nothing was
//! written outside the destination (child processes get their `TMPDIR` inside that root,
//! so their temporary files are walked too). SECURITY.md lists each attack with its test.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use crate::common::charts::{chart_config, chart_tgz, push_chart};
use crate::common::cli::ok;
use crate::common::images::sha256_hex;
use crate::common::packages::{PgpKey, build_deb_repo, k8s_packages};
use crate::common::scenario::{Scenario, assert_fails, public_key_b64, sh, trust_policy};
use crate::common::servers::{Registry, http_request};
use crate::common::upstream::{Opts, Upstream};
use crate::common::{assert_changed_only_under, tree};

type Tree = BTreeMap<String, (u64, std::time::SystemTime)>;

/// The temporary root of a test, walked before and after each attack.
struct Root {
    dir: PathBuf,
    before: Tree,
}

impl Root {
    /// Walk `dir` now; `TMPDIR` for the commands run in the attack is `dir/tmp`.
    fn watch(dir: &Path) -> Root {
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        Root {
            dir: dir.to_path_buf(),
            before: tree(dir),
        }
    }

    fn tmpdir(&self) -> PathBuf {
        self.dir.join("tmp")
    }

    /// Nothing changed under the root except below `allowed`.
    fn only_changed(&self, allowed: &[&str]) {
        assert_changed_only_under(&self.before, &tree(&self.dir), allowed);
    }
}

struct Board {
    alice: PathBuf,
    bob: PathBuf,
    carol: PathBuf,
}

fn board(s: &Scenario) -> Board {
    Board {
        alice: s.keygen("alice"),
        bob: s.keygen("bob"),
        carol: s.keygen("carol"),
    }
}

/// A policy: the scenario's key builds, one change-board approval per bundle, two to
/// change the policy.
fn policy_json(s: &Scenario, k: &Board, version: u64) -> String {
    let board = [("Alice", &*k.alice), ("Bob", &k.bob), ("Carol", &k.carol)];
    trust_policy(version, Some(&s.key), &board, 1)
}

fn approve(s: &Scenario, dir: &Path, key: &Path) {
    s.sign(dir, key, "change-board").ok();
}

/// `airlock-verify ARGS` with `TMPDIR` inside the watched root.
fn verify_cmd(s: &Scenario, root: &Root, args: &[&str]) -> Output {
    s.verify_bin(args)
        .env("TMPDIR", root.tmpdir())
        .output()
        .unwrap()
}

/// `airlock-verify install BUNDLE --policy POLICY` into `enclave`, files under dest/,
/// state in enclave/state.
fn install_with_policy(
    s: &Scenario,
    root: &Root,
    bundle: &Path,
    policy: &Path,
    enclave: &Registry,
) -> Output {
    let (dest, state) = (s.path("dest"), s.path("enclave/state"));
    verify_cmd(
        s,
        root,
        &[
            "install",
            bundle.to_str().unwrap(),
            "--policy",
            policy.to_str().unwrap(),
            "--registry",
            &enclave.host(),
            "--insecure",
            "--dest",
            dest.to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
            "--quiet",
        ],
    )
}

#[test]
fn a_tampered_or_truncated_policy_file_is_refused() {
    let s = Scenario::new();
    let k = board(&s);
    let policy = s.path("enclave/policy.json");
    std::fs::create_dir_all(policy.parent().unwrap()).unwrap();
    let good = policy_json(&s, &k, 1);
    std::fs::write(&policy, &good).unwrap();
    let b = s.build("bundle", &[]);
    approve(&s, &b, &k.alice);
    let enclave = Registry::start();
    let verify = |root: &Root| {
        verify_cmd(
            &s,
            root,
            &[
                "verify",
                b.to_str().unwrap(),
                "--policy",
                policy.to_str().unwrap(),
                "--quiet",
            ],
        )
    };
    let root = Root::watch(s.work.path());
    ok(&verify(&root));
    root.only_changed(&[]);

    // Alice's key with one base64 character of its key id changed (the same Ed25519
    // point, so the policy still loads), or replaced by another valid key: either way her
    // approval no longer counts and the bundle lacks a change-board signature. (A
    // character changed inside the point may make it no point at all: exit 4 instead.)
    let alice = public_key_b64(&k.alice);
    let mut chars: Vec<char> = alice.chars().collect();
    chars[5] = if chars[5] == 'A' { 'B' } else { 'A' };
    let forged: String = chars.into_iter().collect();
    let mallory = public_key_b64(&s.keygen("mallory"));
    let cases: Vec<(&str, String, i32, &str)> = vec![
        (
            "truncated",
            good[..good.len() / 2].to_string(),
            4,
            "policy.json",
        ),
        ("empty", String::new(), 4, "policy.json"),
        (
            "an unknown field",
            good.replacen("\"rules\"", "\"allow_unsigned\":true,\"rules\"", 1),
            4,
            "allow_unsigned",
        ),
        (
            "a key that is not base64",
            good.replacen(&alice, &format!("{}!", &alice[..alice.len() - 1]), 1),
            4,
            "policy.json",
        ),
        (
            "a key id changed by one character",
            good.replacen(&alice, &forged, 1),
            3,
            "change-board",
        ),
        (
            "a key replaced by another",
            good.replacen(&alice, &mallory, 1),
            3,
            "change-board",
        ),
    ];
    for (what, text, code, needle) in cases {
        std::fs::write(&policy, &text).unwrap();
        let root = Root::watch(s.work.path());
        let out = verify(&root);
        assert_fails(&out, code, needle);
        let out = install_with_policy(&s, &root, &b, &policy, &enclave);
        assert_eq!(
            out.status.code(),
            Some(code),
            "install with a policy with {what}:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(enclave.snapshot().is_empty(), "{what}: pushed");
        assert!(!s.path("dest/bin").exists(), "{what}: files placed");
        // A refused install may record its refusal in the state directory; nothing else.
        root.only_changed(&["enclave/state", "dest"]);
        assert!(
            !s.path("dest").exists() || tree(&s.path("dest")).keys().all(|p| p.is_empty()),
            "{what}: written into the destination"
        );
    }
    std::fs::write(&policy, &good).unwrap();
    ok(&install_with_policy(
        &s,
        &Root::watch(s.work.path()),
        &b,
        &policy,
        &enclave,
    ));
}

#[test]
fn policy_updates_tampered_truncated_or_replayed_are_refused() {
    let s = Scenario::new();
    let k = board(&s);
    let policy = s.path("enclave/policy.json");
    std::fs::create_dir_all(policy.parent().unwrap()).unwrap();
    std::fs::write(&policy, policy_json(&s, &k, 1)).unwrap();
    // Signed updates to version 2 and 3, each approved by two change-board keys.
    let signed = |version: u64, name: &str| {
        let dir = s.path(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("policy.json"), policy_json(&s, &k, version)).unwrap();
        approve(&s, &dir, &k.alice);
        approve(&s, &dir, &k.bob);
        dir
    };
    let v2 = signed(2, "update-v2");
    let v3 = signed(3, "update-v3");
    let update = |root: &Root, dir: &Path| {
        verify_cmd(
            &s,
            root,
            &[
                "policy",
                "update",
                "--policy",
                policy.to_str().unwrap(),
                dir.to_str().unwrap(),
            ],
        )
    };
    let refused = |dir: &Path, needle: &str| {
        let current = std::fs::read(&policy).unwrap();
        let root = Root::watch(s.work.path());
        assert_fails(&update(&root, dir), 3, needle);
        // The policy is unchanged and no backup was made: nothing written anywhere.
        root.only_changed(&[]);
        assert_eq!(std::fs::read(&policy).unwrap(), current);
    };

    // Changed after it was signed (one byte), truncated, or extended: no signature holds.
    let tampered = |name: &str, edit: &dyn Fn(&mut Vec<u8>)| {
        let dir = s.path(name);
        sh(
            &format!("cp -a {} {}", v2.display(), dir.display()),
            s.work.path(),
        );
        let p = dir.join("policy.json");
        let mut bytes = std::fs::read(&p).unwrap();
        edit(&mut bytes);
        std::fs::write(&p, bytes).unwrap();
        dir
    };
    let flipped = tampered("flipped", &|b| {
        let i = b.len() / 2;
        b[i] ^= 0x01;
    });
    refused(&flipped, "change-board");
    let cut = tampered("cut", &|b| b.truncate(b.len() - 1));
    refused(&cut, "change-board");
    let longer = tampered("longer", &|b| b.push(b'\n'));
    refused(&longer, "change-board");
    // Version 3 before 2: a skipped version.
    refused(&v3, "is not 2");

    let root = Root::watch(s.work.path());
    ok(&update(&root, &v2));
    root.only_changed(&["enclave"]);
    // The same accepted update again: a replay.
    refused(&v2, "is not 3");
    let root = Root::watch(s.work.path());
    ok(&update(&root, &v3));
    root.only_changed(&["enclave"]);
    // An older update after a newer one, and the newer one again.
    refused(&v2, "is not 4");
    refused(&v3, "is not 4");
    let now = crate::common::read_json(&policy);
    assert_eq!(now["version"], 3);
}

#[test]
fn truncated_or_extended_state_and_receipt_files_are_refused() {
    let s = Scenario::new();
    let k = board(&s);
    let policy = s.path("enclave/policy.json");
    std::fs::create_dir_all(policy.parent().unwrap()).unwrap();
    std::fs::write(&policy, policy_json(&s, &k, 1)).unwrap();
    let b = s.build("bundle", &["--channel", "site-a", "--sequence", "1"]);
    approve(&s, &b, &k.carol);
    let enclave = Registry::start();
    for _ in 0..3 {
        ok(&install_with_policy(
            &s,
            &Root::watch(s.work.path()),
            &b,
            &policy,
            &enclave,
        ));
    }
    let state = s.path("enclave/state");
    let log = |root: &Root| {
        verify_cmd(
            &s,
            root,
            &["log", "--check", "--state-dir", state.to_str().unwrap()],
        )
    };
    ok(&log(&Root::watch(s.work.path())));
    let receipts = state.join("receipts");

    // Each file of the state directory spoiled in turn: `log --check` names it (exit 3)
    // and writes nothing anywhere. A spoiled state also stops an install (exit 3); a
    // spoiled receipt does not (install trusts the signed state, which names the head of
    // the log, and does not re-read the history: `log --check` is the audit).
    let files = [
        ("receipts/000002.json", "000002.json"),
        ("receipts/000002.json.minisig", "000002.json"),
        ("receipts/000003.json", "000003.json"),
        ("state.json", "state"),
    ];
    for (rel, needle) in files {
        let p = state.join(rel);
        let original = std::fs::read(&p).unwrap();
        let n = original.len();
        let mut extended = original.clone();
        extended.extend_from_slice(b"\n");
        let mut flipped = original.clone();
        flipped[n / 3] ^= 0x20;
        for (what, bytes) in [
            ("cut in half", original[..n / 2].to_vec()),
            ("last byte cut", original[..n - 1].to_vec()),
            ("emptied", Vec::new()),
            ("a newline appended", extended),
            ("a byte flipped", flipped),
        ] {
            std::fs::write(&p, &bytes).unwrap();
            let root = Root::watch(s.work.path());
            let out = log(&root);
            assert_eq!(
                out.status.code(),
                Some(3),
                "{rel} {what}: log --check:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains(needle), "{rel} {what}: {err}");
            if rel == "state.json" {
                let out = install_with_policy(&s, &root, &b, &policy, &enclave);
                assert_fails(&out, 3, "state recover");
            }
            root.only_changed(&[]);
            std::fs::write(&p, &original).unwrap();
        }
    }
    // A receipt added at the end (a copy of the last, renumbered): the chain and the
    // signed state disagree.
    let root = Root::watch(s.work.path());
    std::fs::copy(receipts.join("000003.json"), receipts.join("000004.json")).unwrap();
    std::fs::copy(
        receipts.join("000003.json.minisig"),
        receipts.join("000004.json.minisig"),
    )
    .unwrap();
    assert_fails(&log(&root), 3, "000004.json");
    std::fs::remove_file(receipts.join("000004.json")).unwrap();
    std::fs::remove_file(receipts.join("000004.json.minisig")).unwrap();
    root.only_changed(&[]);
    ok(&log(&Root::watch(s.work.path())));
    ok(&install_with_policy(
        &s,
        &Root::watch(s.work.path()),
        &b,
        &policy,
        &enclave,
    ));
}

/// The scenario's lock with one more file (a release note) and everything else the same.
fn lock_with_notes(s: &Scenario) -> PathBuf {
    let notes = s.path("notes.txt");
    std::fs::write(&notes, b"hop notes\n").unwrap();
    let text = std::fs::read_to_string(&s.lock).unwrap();
    let lock = s.path("with-notes.lock");
    std::fs::write(
        &lock,
        format!(
            "{text}  - name: notes\n    path: notes.txt\n    sha256: {}\n    target: docs/notes.txt\n    kind: document\n",
            sha256_hex(b"hop notes\n")
        ),
    )
    .unwrap();
    lock
}

/// A lock of another hop: only the pause image, nothing the scenario's other images share
/// but their base layer.
fn lock_of_another_hop(s: &Scenario) -> PathBuf {
    let lock = s.path("other-hop.lock");
    std::fs::write(
        &lock,
        format!(
            "format: 1\nkind: airlock-lock\nhop: {{ from: v1.29.5, to: v1.29.6 }}\nimages:\n  - name: registry.k8s.io/pause:3.9\n    digest: {}\n    platforms: [linux/amd64]\n    role: target\n",
            s.images[1].index_digest
        ),
    )
    .unwrap();
    lock
}

fn build_lock(s: &Scenario, lock: &Path, out: &str, extra: &[&str]) -> PathBuf {
    s.build_lock(lock, out, extra).ok();
    s.path(out)
}

#[test]
fn a_delta_whose_recorded_base_is_not_what_the_enclave_holds_is_refused() {
    let s = Scenario::new();
    let base = s.build("base", &[]);
    let with_notes = lock_with_notes(&s);
    let base_arg = base.display().to_string();
    let delta = build_lock(&s, &with_notes, "delta", &["--since", &base_arg]);
    let base_sha = sha256_hex(&std::fs::read(base.join("manifest.json")).unwrap());
    // The enclave holds another bundle (another hop), not the recorded base.
    let other = build_lock(&s, &lock_of_another_hop(&s), "other", &[]);
    let enclave = Registry::start();
    let dest = s.path("dest");
    let pubkey = format!("{}.pub", s.key.display());
    let install = |root: &Root, bundle: &Path| {
        verify_cmd(
            &s,
            root,
            &[
                "install",
                bundle.to_str().unwrap(),
                "--trust",
                &pubkey,
                "--registry",
                &enclave.host(),
                "--insecure",
                "--dest",
                dest.to_str().unwrap(),
                "--quiet",
            ],
        )
    };
    ok(&install(&Root::watch(s.work.path()), &other));
    let held = enclave.snapshot();

    let root = Root::watch(s.work.path());
    let out = install(&root, &delta);
    assert_fails(&out, 1, "the enclave lacks");
    assert_fails(&out, 1, &format!("bundle with manifest sha256 {base_sha}"));
    assert_fails(&out, 1, "Nothing was installed");
    // Nothing pushed, no file placed; only the receipt of the refusal was written.
    assert_eq!(enclave.snapshot(), held);
    assert!(!dest.join("docs/notes.txt").exists());
    root.only_changed(&["dest/.airlock"]);

    // Once the recorded base is installed, the same delta installs.
    ok(&install(&Root::watch(s.work.path()), &base));
    ok(&install(&Root::watch(s.work.path()), &delta));
    assert_eq!(
        std::fs::read(dest.join("docs/notes.txt")).unwrap(),
        b"hop notes\n"
    );
}

#[test]
fn an_apt_release_signed_by_another_key_is_refused() {
    let u = Upstream::new(Opts::default());
    let key = PgpKey::generate(&u.path("pgp"), "Kubernetes packages (test)");
    let mallory = PgpKey::generate(&u.path("pgp-mallory"), "Kubernetes packages (test)");
    let base = u.www.join("pkgs/core:/stable:");
    for (minor, k8s, cri, cni) in [
        ("v1.30", "1.30.2-1.1", "1.30.0-1.1", "1.4.0-1.1"),
        ("v1.29", "1.29.6-1.1", "1.29.0-1.1", "1.3.0-1.1"),
    ] {
        build_deb_repo(
            &base.join(minor).join("deb"),
            &k8s_packages(k8s, cri, cni),
            &["amd64"],
            &key,
        );
    }
    // A mirror re-signs the v1.30 Release with its own key (same user id), both as
    // InRelease and as Release.gpg.
    let repo = base.join("v1.30/deb");
    mallory.clearsign(&repo.join("Release"), &repo.join("InRelease.new"));
    std::fs::rename(repo.join("InRelease.new"), repo.join("InRelease")).unwrap();
    std::fs::remove_file(repo.join("Release.gpg")).unwrap();
    mallory.detach_sign(&repo.join("Release"), &repo.join("Release.gpg"));
    let key_arg = key.armored.display().to_string();

    let root = Root::watch(u.work.path());
    let out = u
        .airlock(&resolve_args(
            &u,
            &["--packages", "deb", "--package-key", &key_arg],
        ))
        .env("TMPDIR", root.tmpdir())
        .output()
        .unwrap();
    assert_fails(
        &out,
        5,
        "https://pkgs.k8s.io/core:/stable:/v1.30/deb/InRelease",
    );
    assert_fails(&out, 5, "not a signing key in the given key file");
    assert!(!u.path("hop.lock").exists(), "a lock was written");
    // Only the content cache (what was fetched, by hash) and gpg's own home changed.
    root.only_changed(&["cache", "pgp", "pgp-mallory"]);
}

/// `airlock resolve` arguments of `Upstream::resolve`, for running with a custom env.
fn resolve_args(u: &Upstream, extra: &[&str]) -> Vec<String> {
    u.resolve_args(extra)
}

#[test]
fn a_chart_whose_digest_changed_since_it_was_pinned_is_refused() {
    let u = Upstream::new(Opts::default());
    let h = u.registry.host();
    let chart = |desc: &str| {
        chart_tgz(
            "web",
            &[(
                "Chart.yaml",
                format!("apiVersion: v2\nname: web\nversion: 1.0.0\ndescription: {desc}\n")
                    .as_bytes(),
            )],
        )
    };
    let config = chart_config("web", "1.0.0", "1", "");
    let (pinned, _) = push_chart(&h, "charts/web", "1.0.0", &config, &chart("first"));
    let hop = u.path("addons/web.yaml");
    std::fs::create_dir_all(hop.parent().unwrap()).unwrap();
    std::fs::write(
        &hop,
        format!(
            "format: 1\nkind: airlock-hop-manifest\nname: web\ncharts:\n  - oci: oci://{h}/charts/web:1.0.0\n    digest: {pinned}\n"
        ),
    )
    .unwrap();
    let hop_arg = hop.display().to_string();
    let resolve = |root: &Root| {
        u.airlock(&resolve_args(&u, &["--with", &hop_arg]))
            .env("TMPDIR", root.tmpdir())
            .output()
            .unwrap()
    };
    let root = Root::watch(u.work.path());
    ok(&resolve(&root));
    root.only_changed(&["cache", "hop.lock"]);
    std::fs::remove_file(u.path("hop.lock")).unwrap();

    // The same tag re-pushed with another archive: the pinned digest no longer matches.
    let (moved, _) = push_chart(&h, "charts/web", "1.0.0", &config, &chart("rebuilt"));
    assert_ne!(moved, pinned);
    let root = Root::watch(u.work.path());
    let out = resolve(&root);
    assert_fails(&out, 5, "the chart changed since it was pinned");
    assert_fails(&out, 5, &pinned);
    assert!(!u.path("hop.lock").exists(), "a lock was written");
    root.only_changed(&["cache"]);
}

#[test]
fn serve_answers_huge_and_hostile_range_headers_at_once() {
    let (s, bundle) = Scenario::built();
    let spool = s.path("spool");
    std::fs::create_dir(&spool).unwrap();
    let root = Root::watch(s.work.path());
    let served = s.serve(&bundle, &["--spool", spool.to_str().unwrap()]);
    let m = crate::common::read_json(&bundle.join("manifest.json"));
    let api = crate::common::find(
        &m["images"],
        "name",
        "registry.k8s.io/kube-apiserver:v1.30.2",
    );
    let blob = &api["blobs"][0];
    let (digest, size) = (
        blob["digest"].as_str().unwrap(),
        blob["size"].as_u64().unwrap(),
    );
    let path = format!("/v2/kube-apiserver/blobs/{digest}");
    let addr = served.addr.clone();

    // Just under the 16 KiB header limit: thousands of ranges, overlapping ranges, a
    // number of 15,000 digits. Each is refused as one unsatisfiable range, quickly.
    let many: String = (0..1800).map(|i| format!("{i}-{i},")).collect();
    let overlapping: String = (0..1800).map(|_| "0-,".to_string()).collect();
    let huge_number = format!("bytes=0-{}", "9".repeat(15_000));
    for range in [
        format!("bytes={}", many.trim_end_matches(',')),
        format!("bytes={}", overlapping.trim_end_matches(',')),
        huge_number,
        format!("bytes=-{}", "9".repeat(15_000)),
        "bytes=18446744073709551615-18446744073709551616".to_string(),
    ] {
        let t0 = Instant::now();
        let r = http_request(&addr, "GET", &path, &[("Range", &range)], &[]).unwrap();
        assert_eq!(r.status, 416, "{}...", &range[..40]);
        assert_eq!(
            r.header("Content-Range"),
            Some(format!("bytes */{size}").as_str())
        );
        assert!(r.body.is_empty());
        assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    }

    // Over the limit: the request is refused without being read to the end, and the
    // server goes on serving.
    let mut sock = TcpStream::connect(&addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let head = format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nRange: bytes=0-{}\r\n\r\n",
        "9".repeat(64 * 1024)
    );
    let _ = sock.write_all(head.as_bytes());
    let mut answer = Vec::new();
    let _ = sock.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 431") || text.starts_with("HTTP/1.1 400"),
        "{}",
        &text[..text.len().min(200)]
    );
    let r = http_request(&addr, "GET", &path, &[("Range", "bytes=0-0")], &[]).unwrap();
    assert_eq!(r.status, 206);
    assert_eq!(r.body.len(), 1);
    let (status, _) = served.terminate();
    assert!(status.success() || status.code() == Some(130) || status.code().is_none());
    // serve wrote only its spool.
    root.only_changed(&["spool"]);
}

#[test]
fn a_published_artifact_with_a_swapped_layer_writes_nothing_anywhere() {
    let s = Scenario::new();
    let a = s.build("a", &[]);
    let b = s.build("b", &["--level", "9"]);
    let fleet = Registry::start();
    let host = fleet.host();
    let pubkey = format!("{}.pub", s.key.display());
    for (bundle, tag) in [(&a, "a"), (&b, "b")] {
        ok(&s.run_verify(&[
            "publish",
            bundle.to_str().unwrap(),
            "--trust",
            &pubkey,
            "--registry",
            &format!("{host}/airlock/hop:{tag}"),
            "--insecure",
            "--quiet",
        ]));
    }
    let manifest = |tag: &str| -> serde_json::Value {
        serde_json::from_slice(&crate::common::images::skopeo_inspect_raw(&format!(
            "{host}/airlock/hop:{tag}"
        )))
        .unwrap()
    };
    let (man_a, man_b) = (manifest("a"), manifest("b"));
    let title = |m: &serde_json::Value, t: &str| {
        m["layers"]
            .as_array()
            .unwrap()
            .iter()
            .position(|l| l["annotations"]["org.opencontainers.image.title"] == t)
            .unwrap()
    };
    let mut swapped = man_a.clone();
    swapped["layers"][title(&man_a, "payload.tar.zst")] =
        man_b["layers"][title(&man_b, "payload.tar.zst")].clone();
    let r = http_request(
        &host,
        "PUT",
        "/v2/airlock/hop/manifests/swapped",
        &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
        &serde_json::to_vec(&swapped).unwrap(),
    )
    .unwrap();
    assert_eq!(r.status, 201, "{}", r.text());

    let site = s.path("site");
    std::fs::create_dir(&site).unwrap();
    let out_dir = site.join("bundle");
    let fetch = |root: &Root, tag: &str| {
        verify_cmd(
            &s,
            root,
            &[
                "fetch",
                &format!("{host}/airlock/hop:{tag}"),
                "--trust",
                &pubkey,
                "--out",
                out_dir.to_str().unwrap(),
                "--insecure",
                "--quiet",
            ],
        )
    };
    let root = Root::watch(s.work.path());
    let out = fetch(&root, "swapped");
    assert_fails(&out, 3, "bundle verification failed");
    assert_fails(&out, 3, "payload.tar.zst");
    // Not in the destination, not beside it, not in TMPDIR: nothing at all.
    root.only_changed(&[]);

    let root = Root::watch(s.work.path());
    ok(&fetch(&root, "a"));
    root.only_changed(&["site/bundle"]);
    let sums = sh("sha256sum --quiet -c SHA256SUMS", &out_dir);
    assert!(sums.status.success());
}

#[test]
fn mixed_volumes_and_a_lying_parity_volume_replace_nothing() {
    let s = Scenario::new();
    let a = s.build("a", &["--volume-size", "1MiB", "--parity", "1"]);
    let b = s.build(
        "b",
        &["--volume-size", "1MiB", "--parity", "1", "--level", "9"],
    );
    let pubkey = format!("{}.pub", s.key.display());
    let run = |root: &Root, cmd: &str| {
        verify_cmd(
            &s,
            root,
            &[cmd, a.to_str().unwrap(), "--trust", &pubkey, "--quiet"],
        )
    };
    let good = |name: &str| std::fs::read(s.path("a-good").join(name)).unwrap();
    sh(
        &format!("cp -a {} {}", a.display(), s.path("a-good").display()),
        s.work.path(),
    );

    // Volume 2 of the other bundle in place of this one's: named, exit 3, nothing written.
    std::fs::copy(b.join("payload.tar.zst.002"), a.join("payload.tar.zst.002")).unwrap();
    let root = Root::watch(s.work.path());
    assert_fails(
        &run(&root, "verify"),
        3,
        "payload.tar.zst.002 is not a volume of this bundle",
    );
    root.only_changed(&[]);

    // Volume 1 lost as well, and the parity volume the other bundle's: repair refuses,
    // naming each, and writes nothing (no volume, no temporary file).
    std::fs::remove_file(a.join("payload.tar.zst.001")).unwrap();
    std::fs::copy(b.join("payload.parity.001"), a.join("payload.parity.001")).unwrap();
    let root = Root::watch(s.work.path());
    let out = run(&root, "repair");
    assert_fails(&out, 3, "cannot repair");
    assert_fails(&out, 3, "payload.tar.zst.001 is missing");
    assert_fails(&out, 3, "payload.parity.001 is not a volume of this bundle");
    root.only_changed(&[]);

    // A parity volume that lies subtly: its own, one byte changed past its first 64 KiB.
    std::fs::write(a.join("payload.tar.zst.002"), good("payload.tar.zst.002")).unwrap();
    let mut parity = good("payload.parity.001");
    let at = parity.len() - 10;
    parity[at] ^= 0x01;
    std::fs::write(a.join("payload.parity.001"), &parity).unwrap();
    let root = Root::watch(s.work.path());
    let out = run(&root, "repair");
    assert_fails(&out, 3, "payload.parity.001 is corrupt");
    assert_fails(&out, 3, "payload.tar.zst.001 is missing");
    root.only_changed(&[]);
    assert!(!a.join("payload.tar.zst.001").exists());

    // With the true parity volume the lost one is rebuilt, and sha256sum agrees.
    std::fs::write(a.join("payload.parity.001"), good("payload.parity.001")).unwrap();
    let root = Root::watch(s.work.path());
    ok(&run(&root, "repair"));
    root.only_changed(&["a/payload.tar.zst.001"]);
    assert_eq!(
        std::fs::read(a.join("payload.tar.zst.001")).unwrap(),
        good("payload.tar.zst.001")
    );
    assert!(sh("sha256sum --quiet -c SHA256SUMS", &a).status.success());
}
