//! Upstream provenance at resolve time (issue 23): `airlock resolve --trusted-root` against
//! the test upstream whose Kubernetes images carry cosign `.sig` tags or OCI referrers on a
//! real docker-registry (no referrers API: the tag-schema fallback) and whose release files
//! carry `.sig` + `.cert`, with a Rekor-like log server. The Sigstore bundles airlock keeps
//! are also checked by sigstore-python, which nobody here wrote.

use std::path::Path;
use std::process::{Command, Output};

use airlock_provenance::{COSIGN_SIGN_PREDICATE, KUBERNETES_FILES};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::common::check::assert_contains;
use crate::common::cli::ok;
use crate::common::evidence::{assert_valid, yaml_as_json};
use crate::common::images::sha256_hex;
use crate::common::provenance::Signing;
use crate::common::servers::Registry;
use crate::common::upstream::{Opts, Upstream};

pub(crate) const PAUSE: &str = "pause:3.9";
pub(crate) const PAUSE_NAME: &str = "registry.k8s.io/pause:3.9";
/// Has only an SLSA provenance referrer, which is not a signature of the image, and a
/// `.sig` tag: the referrer is listed as not counted and the tag counts.
const ETCD: &str = "etcd:3.5.15-0";

/// Signs every image of `u` but `except` (`.sig` tag for the control plane, a referrer
/// for the rest, both for [`ETCD`]) and every dl.k8s.io file.
pub(crate) fn sign_all(s: &mut Signing, u: &Upstream, except: &[&str]) {
    for image in u.images.keys().filter(|i| !except.contains(&i.as_str())) {
        if image == ETCD {
            s.referrer(u, image, "https://slsa.dev/provenance/v1");
            s.sig_tag(u, image, None, None);
        } else if image.starts_with("kube-") {
            s.sig_tag(u, image, None, None);
        } else {
            s.referrer(u, image, COSIGN_SIGN_PREDICATE);
        }
    }
    for url in u
        .sums
        .keys()
        .filter(|u| u.starts_with("https://dl.k8s.io/"))
    {
        s.file(u, url);
    }
}

pub(crate) fn resolve(u: &Upstream, s: &Signing, rekor: &str, extra: &[&str]) -> Output {
    let root = s.trusted_root().display().to_string();
    let mut args = vec!["--trusted-root", &root, "--rekor-url", rekor];
    args.extend_from_slice(extra);
    u.resolve(&args)
}

/// Fails with exit 3 naming `expected`, and writes no lock.
pub(crate) fn refused(u: &Upstream, out: &Output, expected: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert_contains(&stderr, expected);
    assert!(
        !u.path("hop.lock").exists(),
        "a refused resolve wrote a lock"
    );
}

/// sigstore-python's verdict on a kept bundle for a release file.
fn sigstore_python_accepts(s: &Signing, bundle: &Path, file: &Path) -> bool {
    let python = std::env::var_os("AIRLOCK_TEST_PYTHON")
        .expect("AIRLOCK_TEST_PYTHON names the test virtualenv's python (with sigstore==4.5.1)");
    let out = Command::new(Path::new(&python).with_file_name("sigstore"))
        .arg("--trust-config")
        .arg(s.world.path().join("trust_config.json"))
        .args(["verify", "identity", "--offline", "--bundle"])
        .arg(bundle)
        .args(["--cert-identity", &KUBERNETES_FILES.san])
        .args(["--cert-oidc-issuer", &KUBERNETES_FILES.issuer])
        .arg(file)
        .output()
        .expect("run sigstore-python");
    out.status.success()
}

/// One artifact's lock entry: the exception for pause; for the rest the signature's facts
/// as the world made them, the bundle kept in the cache under its sha256, and for a
/// release file sigstore-python's agreement with the kept bundle.
fn assert_recorded(u: &Upstream, s: &Signing, a: &serde_json::Value) {
    let name = a["artifact"].as_str().unwrap();
    if name == PAUSE_NAME {
        assert!(a["signature"].is_null(), "{a}");
        assert_contains(
            a["unsigned_exception"].as_str().unwrap(),
            "--allow-unsigned",
        );
        return;
    }
    let sig = &a["signature"];
    let (source, who) = if name.starts_with("https://") {
        (
            "blob",
            "krel-staging@k8s-releng-prod.iam.gserviceaccount.com",
        )
    } else if name.starts_with("registry.k8s.io/kube-") || name.ends_with(ETCD) {
        (
            "sig-tag",
            "krel-trust@k8s-releng-prod.iam.gserviceaccount.com",
        )
    } else {
        (
            "referrer",
            "krel-trust@k8s-releng-prod.iam.gserviceaccount.com",
        )
    };
    assert_eq!(
        (&sig["source"], &sig["identity"]),
        (&source.into(), &who.into()),
        "{name}"
    );
    assert_eq!(sig["issuer"], "https://accounts.google.com");
    assert!(sig["log_index"].as_u64().is_some() && sig["integrated_time"].as_i64().is_some());
    assert_eq!(sig["log_id"].as_str().unwrap().len(), 64);
    let bundle_hex = sig["bundle_sha256"]
        .as_str()
        .unwrap()
        .strip_prefix("sha256:")
        .unwrap();
    let kept = u.path("cache").join("blobs/sha256").join(bundle_hex);
    assert_eq!(sha256_hex(&std::fs::read(&kept).unwrap()), bundle_hex);
    assert_eq!(
        sig["payload_sha256"].is_null(),
        source != "sig-tag",
        "{name}"
    );
    let not_counted = a["not_counted"].as_array().map(Vec::len).unwrap_or(0);
    assert_eq!(not_counted, usize::from(name.ends_with(ETCD)), "{a}");
    if name.ends_with(ETCD) {
        assert_contains(a["not_counted"][0].as_str().unwrap(), "referrer: ");
    }
    if source == "blob" {
        let rel = name.strip_prefix("https://dl.k8s.io/").unwrap();
        assert!(
            sigstore_python_accepts(s, &kept, &u.www.join("dl").join(rel)),
            "sigstore-python refused the bundle kept for {name}"
        );
    }
}

#[test]
fn records_every_kubernetes_signature_and_an_allowed_exception() {
    let u = Upstream::new(Opts::default());
    let mut s = Signing::new();
    sign_all(&mut s, &u, &[PAUSE]);
    let rekor = s.rekor();

    // pause has no signature: refused, then let in by name.
    refused(
        &u,
        &resolve(&u, &s, &rekor.url, &[]),
        &format!("{PAUSE_NAME}: no upstream signature found"),
    );
    // The registry asks for no credentials: airlock asks it so once (`GET /v2/`), not
    // before each of its ~60 requests as oci-client does (BENCHMARKS.md, issue 23).
    let pings = |u: &Upstream| {
        u.registry
            .log_contents()
            .matches("\"GET /v2/ HTTP/1.1\"")
            .count()
    };
    let before = pings(&u);
    let out = resolve(&u, &s, &rekor.url, &["--allow-unsigned", PAUSE_NAME]);
    ok(&out);
    assert_eq!(pings(&u) - before, 1, "GET /v2/ per resolve");

    assert_valid("lock.schema.json", &yaml_as_json(&u.path("hop.lock")));
    let lock = u.lock();
    let p = &lock["provenance"];
    assert_eq!(p["status"], "checked");
    let root = std::fs::read(s.trusted_root()).unwrap();
    assert_eq!(
        p["trusted_root_sha256"],
        format!("sha256:{}", sha256_hex(&root))
    );
    let artifacts = p["artifacts"].as_array().expect("artifacts");
    let images = lock["images"].as_array().unwrap();
    let dl_files: Vec<_> = lock["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            f["url"]
                .as_str()
                .is_some_and(|u| u.starts_with("https://dl.k8s.io/"))
        })
        .collect();
    assert_eq!(artifacts.len(), images.len() + dl_files.len());
    assert_contains(
        &String::from_utf8_lossy(&out.stdout),
        &format!(
            "provenance: {} upstream signatures checked, 1 allowed unsigned",
            artifacts.len() - 1
        ),
    );
    for a in artifacts {
        assert_recorded(&u, &s, a);
    }
}

#[test]
fn refused_or_missing_signatures_stop_the_resolve_unless_allowed() {
    let u = Upstream::new(Opts::default());
    let mut s = Signing::new();
    sign_all(&mut s, &u, &[PAUSE]);
    // pause signed by the release-file identity, not the image one.
    let files = s.files.clone();
    s.sig_tag(&u, PAUSE, Some(&files), None);
    let rekor = s.rekor();
    refused(
        &u,
        &resolve(&u, &s, &rekor.url, &[]),
        &format!("{PAUSE_NAME}: signed by krel-staging@k8s-releng-prod.iam.gserviceaccount.com"),
    );
    // Let in by name: the exception and the refused signature, with its reason, are recorded.
    ok(&resolve(
        &u,
        &s,
        &rekor.url,
        &["--allow-unsigned", PAUSE_NAME],
    ));
    let lock = u.lock();
    let pause = lock["provenance"]["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["artifact"] == PAUSE_NAME)
        .expect("pause is listed");
    assert_contains(
        pause["unsigned_exception"].as_str().unwrap(),
        "no signature passed",
    );
    assert_contains(
        pause["not_counted"][0].as_str().unwrap(),
        "sig-tag: registry.k8s.io/pause:3.9: signed by krel-staging",
    );
    std::fs::remove_file(u.path("hop.lock")).unwrap();
    drop(rekor);

    // pause's .sig payload names another image's digest.
    let other = u.images["kube-apiserver:v1.30.2"].index_digest.clone();
    s.sig_tag(&u, PAUSE, None, Some(&other));
    let rekor = s.rekor();
    refused(
        &u,
        &resolve(&u, &s, &rekor.url, &[]),
        &format!("{PAUSE_NAME}: the signed payload names {other}"),
    );

    // An exception that names nothing of the lock is a typo: refused before any lookup.
    let out = resolve(
        &u,
        &s,
        &rekor.url,
        &["--allow-unsigned", "registry.k8s.io/paus:3.9"],
    );
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_contains(
        &String::from_utf8_lossy(&out.stderr),
        "--allow-unsigned registry.k8s.io/paus:3.9",
    );

    // pause signed again, but a release file lost its .sig: refused, naming its URL.
    drop(rekor);
    s.sig_tag(&u, PAUSE, None, None);
    let rekor = s.rekor();
    let kubeadm = "https://dl.k8s.io/release/v1.30.2/bin/linux/amd64/kubeadm";
    std::fs::remove_file(u.www.join("dl/release/v1.30.2/bin/linux/amd64/kubeadm.sig")).unwrap();
    refused(
        &u,
        &resolve(&u, &s, &rekor.url, &[]),
        &format!("{kubeadm}: no upstream signature found"),
    );

    // A .sig that no log entry records (signed, never logged): not proven, refused.
    let file = u.www.join("dl/release/v1.30.2/bin/linux/amd64/kubeadm");
    let unlogged = s.world.sign(&s.files, &std::fs::read(&file).unwrap());
    std::fs::write(file.with_file_name("kubeadm.sig"), B64.encode(unlogged)).unwrap();
    refused(
        &u,
        &resolve(&u, &s, &rekor.url, &[]),
        &format!("{kubeadm}: verification did not establish a base64 .sig that a Rekor entry logs"),
    );

    // Without --trusted-root nothing is checked, and the lock and a warning say so.
    let out = u.resolve(&[]);
    ok(&out);
    assert_contains(
        &String::from_utf8_lossy(&out.stderr),
        "warning: provenance: not checked",
    );
    assert_eq!(u.lock()["provenance"]["status"], "not-checked");
    assert_valid("lock.schema.json", &yaml_as_json(&u.path("hop.lock")));
}

/// `airlock-verify provenance BUNDLE --trust KEY.pub --quiet EXTRA`.
fn provenance(u: &Upstream, key: &Path, extra: &[&str]) -> crate::common::cli::Cli {
    crate::common::cli::Cli::verify()
        .arg("provenance")
        .arg(u.path("bundle"))
        .args(["--trust", &crate::common::cli::pub_of(key), "--quiet"])
        .args(extra)
}

#[test]
fn the_bundle_carries_the_evidence_and_the_enclave_rechecks_it_offline() {
    let u = Upstream::new(Opts::default());
    let mut s = Signing::new();
    sign_all(&mut s, &u, &[PAUSE]);
    let rekor = s.rekor();
    ok(&resolve(
        &u,
        &s,
        &rekor.url,
        &["--allow-unsigned", PAUSE_NAME],
    ));
    let (key, out) = u.keygen_and_build();
    ok(&out);
    // No more lookups: the re-check is offline.
    drop(rekor);

    // The manifest lists every lock entry's facts, and the files are the kept bytes.
    let bundle = u.path("bundle");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("manifest.json")).unwrap()).unwrap();
    let carried = &manifest["provenance"];
    let lock = u.lock();
    let locked = lock["provenance"]["artifacts"].as_array().unwrap();
    let listed = carried["artifacts"].as_array().expect("provenance section");
    assert_eq!(listed.len(), locked.len());
    let root = std::fs::read(bundle.join("provenance/trusted_root.json")).unwrap();
    assert_eq!(root, std::fs::read(s.trusted_root()).unwrap());
    assert_eq!(carried["trusted_root"]["sha256"], sha256_hex(&root));
    let mut evidence = Vec::new();
    for (c, l) in listed.iter().zip(locked) {
        assert_eq!(c["artifact"], l["artifact"]);
        if l["signature"].is_null() {
            assert_eq!(c["unsigned_exception"], l["unsigned_exception"]);
            continue;
        }
        for field in ["identity", "issuer", "log_index", "integrated_time"] {
            assert_eq!(c["signature"][field], l["signature"][field], "{field}");
        }
        let hex = c["signature"]["bundle"]["sha256"].as_str().unwrap();
        let path = bundle.join(format!("provenance/{hex}.sigstore.json"));
        assert_eq!(sha256_hex(&std::fs::read(&path).unwrap()), hex);
        assert_eq!(
            format!("sha256:{hex}"),
            l["signature"]["bundle_sha256"].as_str().unwrap()
        );
        evidence.push(path);
    }

    // SHA256SUMS lists the evidence files, and sha256sum agrees with them.
    let sums = std::fs::read_to_string(bundle.join("SHA256SUMS")).unwrap();
    assert_contains(&sums, "  provenance/trusted_root.json\n");
    assert_eq!(sums.matches(".sigstore.json\n").count(), evidence.len());
    let check = Command::new("sha256sum")
        .args(["-c", "--quiet", "SHA256SUMS"])
        .current_dir(&bundle)
        .output()
        .expect("run sha256sum");
    assert!(check.status.success(), "{check:?}");
    // docs/manual-verify.md step 2 accepts the evidence lines (their sha256 is signed).
    crate::common::scenario::sh_ok(&crate::manual_verify::documented_step_two(), &bundle);

    // Passes against the carried root: one line per artifact, the exception named.
    let run = provenance(&u, &key, &[]).ok();
    let stdout = run.stdout();
    assert_eq!(stdout.lines().count(), listed.len(), "{stdout}");
    assert_contains(
        &stdout,
        "signed by krel-trust@k8s-releng-prod.iam.gserviceaccount.com (issuer https://accounts.google.com), log index",
    );
    assert_contains(
        &stdout,
        "signed by krel-staging@k8s-releng-prod.iam.gserviceaccount.com",
    );
    assert_contains(&stdout, &format!("{PAUSE_NAME}: exception: "));
    let json: serde_json::Value =
        serde_json::from_str(&provenance(&u, &key, &["--json"]).ok().stdout()).unwrap();
    assert_eq!(json["trusted_root"], "provenance/trusted_root.json");
    let rechecked = json["artifacts"].as_array().unwrap();
    assert_eq!(rechecked.len(), listed.len());
    for (r, c) in rechecked.iter().zip(listed) {
        assert_eq!(r["artifact"], c["artifact"]);
        if c["signature"].is_null() {
            assert_eq!(r["exception"], c["unsigned_exception"]);
        } else {
            assert_eq!(r["signed"]["log_index"], c["signature"]["log_index"]);
        }
    }

    // The evidence travels through a registry (`publish`, `fetch`) and re-checks there.
    let fleet = Registry::start();
    let target = format!("{}/airlock/hop:1", fleet.host());
    let public = crate::common::cli::pub_of(&key);
    crate::common::cli::Cli::verify()
        .arg("publish")
        .arg(&bundle)
        .args([
            "--trust",
            &public,
            "--registry",
            &target,
            "--insecure",
            "--quiet",
        ])
        .ok();
    let fetched = u.path("fetched");
    crate::common::cli::Cli::verify()
        .arg("fetch")
        .arg(&target)
        .args(["--trust", &public, "--out"])
        .arg(&fetched)
        .args(["--insecure", "--quiet"])
        .ok();
    let again = crate::common::cli::Cli::verify()
        .arg("provenance")
        .arg(&fetched)
        .args(["--trust", &public, "--quiet"])
        .ok();
    assert_eq!(again.stdout(), stdout);

    // The enclave's pinned root of another world does not hold the signing CA: exit 3,
    // naming the first artifact checked.
    let other = Signing::new();
    let first = listed.iter().find(|a| !a["signature"].is_null()).unwrap()["artifact"]
        .as_str()
        .unwrap();
    let pinned = other.trusted_root().display().to_string();
    provenance(&u, &key, &["--trusted-root", &pinned]).fails(3, first);
    // A root that is not one is bad input.
    let junk = u.path("junk-root.json");
    std::fs::write(&junk, b"{\"mediaType\": 1}").unwrap();
    provenance(&u, &key, &["--trusted-root", &junk.display().to_string()]).fails(4, "trusted root");

    // A policy that requires provenance refuses the bundle for its exception, before
    // anything is written.
    let enclave = Registry::start();
    install_required(&u, &key, &enclave).fails(3, PAUSE_NAME);
    assert_eq!(
        enclave.get("/v2/_catalog").text().matches("pause").count(),
        0
    );

    // An altered evidence file fails `verify` and `provenance` (exit 3), naming it.
    let victim = &evidence[0];
    let mut bytes = std::fs::read(victim).unwrap();
    bytes[0] ^= b' ' ^ b'\n';
    std::fs::write(victim, &bytes).unwrap();
    let name = victim.file_name().unwrap().to_str().unwrap();
    u.verify(&key, &[]).fails(3, name);
    provenance(&u, &key, &[]).fails(3, name);

    // `provenance` reads the signed manifest and the evidence, not the payload (which
    // holds no evidence): with the evidence restored and a payload byte altered, it
    // passes and `verify` is what refuses the bundle.
    bytes[0] ^= b' ' ^ b'\n';
    std::fs::write(victim, &bytes).unwrap();
    let payload = bundle.join("payload.tar.zst");
    let mut p = std::fs::read(&payload).unwrap();
    let last = p.len() - 1;
    p[last] ^= 1;
    std::fs::write(&payload, &p).unwrap();
    provenance(&u, &key, &[]).ok();
    u.verify(&key, &[]).fails(3, "payload");
}

/// `airlock-verify install bundle --policy P` with a policy whose one rule is the build key
/// and which requires provenance.
pub(crate) fn install_required(
    u: &Upstream,
    key: &Path,
    enclave: &Registry,
) -> crate::common::cli::Cli {
    let public = std::fs::read_to_string(crate::common::cli::pub_of(key)).unwrap();
    let policy = serde_json::json!({
        "format": 1, "kind": "airlock-trust-policy", "version": 1,
        "keys": [{"name": "build", "key": public.lines().nth(1).unwrap(), "roles": ["builder"]}],
        "rules": [{"role": "builder", "at_least": 1}],
        "update": {"at_least": 1},
        "provenance": "required",
    });
    let path = u.path("policy.json");
    std::fs::write(&path, policy.to_string()).unwrap();
    assert_valid("trust-policy.schema.json", &path);
    u.install_under_policy(&path, enclave)
}

#[test]
fn a_policy_that_requires_provenance_installs_only_bundles_with_rechecked_evidence() {
    let u = Upstream::new(Opts::default());
    let mut s = Signing::new();
    sign_all(&mut s, &u, &[]);
    let rekor = s.rekor();
    ok(&resolve(&u, &s, &rekor.url, &[]));
    let (key, out) = u.keygen_and_build();
    ok(&out);
    let enclave = Registry::start();
    install_required(&u, &key, &enclave).ok();
    let tags = enclave.get("/v2/pause/tags/list").text();
    assert!(tags.contains("3.9"), "{tags}");

    // The same hop resolved without --trusted-root carries no evidence: refused.
    std::fs::remove_file(u.path("hop.lock")).unwrap();
    std::fs::remove_dir_all(u.path("bundle")).unwrap();
    ok(&u.resolve(&[]));
    ok(&u.build("hop.lock", "bundle", &[]).run().output);
    let other = Registry::start();
    install_required(&u, &key, &other).fails(
        3,
        "the trust policy requires upstream provenance and the bundle carries none",
    );
    provenance(&u, &key, &[]).fails(3, "carries no upstream evidence");
}

#[test]
fn plan_build_checks_every_hop_like_resolve() {
    let u = Upstream::new(Opts::default());
    let mut s = Signing::new();
    sign_all(&mut s, &u, &[PAUSE]);
    let rekor = s.rekor();
    let (catalog, key) = (u.catalog_129_6(), u.keygen("plan"));
    let root = s.trusted_root().display().to_string();
    let plan = |extra: &[&str]| {
        u.plan_build_checked(("v1.29.6", "v1.30.2"), &key, &u.path("hops"), &catalog)
            .args(["--trusted-root", &root, "--rekor-url", &rekor.url])
            .args(extra)
            .args(u.net_args())
    };
    // pause is unsigned: the hop stops, naming it, and writes no lock.
    plan(&[]).fails(3, &format!("{PAUSE_NAME}: no upstream signature found"));
    let lock = u.path("hops/airlock-v1.29.6-to-v1.30.2.lock");
    assert!(!lock.exists(), "a refused hop wrote its lock");
    // Allowed by name: the lock records every signature and the exception.
    plan(&["--allow-unsigned", PAUSE_NAME]).ok();
    let text = std::fs::read_to_string(&lock).unwrap();
    let lock: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    assert_eq!(lock["provenance"]["status"], "checked");
    let artifacts = lock["provenance"]["artifacts"].as_array().unwrap();
    assert!(
        artifacts
            .iter()
            .any(|a| a["artifact"] == PAUSE_NAME && a["signature"].is_null())
    );
    assert!(
        artifacts
            .iter()
            .filter(|a| !a["signature"].is_null())
            .count()
            > 1
    );
}

#[test]
fn a_catch_up_bundle_carries_every_hops_evidence_and_rechecks_it() {
    let u = Upstream::new(Opts {
        versions: vec!["v1.29.3"],
        ..Opts::default()
    });
    let mut s = Signing::new();
    sign_all(&mut s, &u, &[PAUSE]);
    let rekor = s.rekor();
    let (catalog, key) = (u.catalog_129_6(), u.keygen("plan"));
    let root = s.trusted_root().display().to_string();
    // v1.29.3 -> v1.29.6 -> v1.30.2 as one bundle; pause (in both hops) let in unsigned.
    u.plan_build_checked(("v1.29.3", "v1.30.2"), &key, &u.path("one"), &catalog)
        .args(["--trusted-root", &root, "--rekor-url", &rekor.url])
        .args(["--one-bundle", "--allow-unsigned", PAUSE_NAME])
        .args(u.net_args())
        .ok();
    drop(rekor);
    let name = "airlock-v1.29.3-to-v1.30.2";
    assert_valid(
        "lock.schema.json",
        &yaml_as_json(&u.path(&format!("one/{name}.lock"))),
    );
    let bundle = u.path(&format!("one/{name}"));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("manifest.json")).unwrap()).unwrap();
    let listed = manifest["provenance"]["artifacts"]
        .as_array()
        .expect("the catch-up bundle carries a provenance section");
    // Every Kubernetes image of both hops has evidence or the exception, once.
    let names: Vec<&str> = listed
        .iter()
        .filter_map(|a| a["artifact"].as_str())
        .collect();
    for want in [
        "registry.k8s.io/kube-apiserver:v1.29.6",
        "registry.k8s.io/kube-apiserver:v1.30.2",
    ] {
        assert!(names.contains(&want), "{names:?}");
    }
    let unique: std::collections::BTreeSet<_> = names.iter().collect();
    assert_eq!(unique.len(), names.len(), "{names:?}");
    let images = manifest["images"].as_array().unwrap();
    let k8s = images
        .iter()
        .filter(|i| i["name"].as_str().unwrap().starts_with("registry.k8s.io/"))
        .count();
    assert_eq!(listed.iter().filter(|a| a["kind"] == "image").count(), k8s);
    let pause = listed.iter().find(|a| a["artifact"] == PAUSE_NAME).unwrap();
    assert!(pause["unsigned_exception"].is_string(), "{pause}");

    // The enclave re-checks it offline: one line per entry, the exception named.
    let run = crate::common::cli::Cli::verify()
        .arg("provenance")
        .arg(&bundle)
        .args(["--trust", &crate::common::cli::pub_of(&key), "--quiet"])
        .ok();
    let stdout = run.stdout();
    assert_eq!(stdout.lines().count(), listed.len(), "{stdout}");
    assert_contains(
        &stdout,
        "registry.k8s.io/kube-apiserver:v1.29.6: signed by krel-trust@",
    );
    assert_contains(&stdout, &format!("{PAUSE_NAME}: exception: "));
}
