//! Add-on provenance policies (issue 23): a hop manifest's `provenance:` entry per image
//! and file names who must have signed it upstream, keylessly (identity + issuer) or with
//! a cosign public key; `airlock resolve` checks them like Kubernetes' own against the
//! generated Sigstore world, refuses an add-on artifact without an entry unless
//! `--allow-unsigned` names it, and writes nothing when it refuses. The keyless bundle
//! airlock keeps is also judged by sigstore-python, which nobody here wrote. The built
//! bundle carries each entry's evidence and policy (the key as a signed file), and
//! `airlock-verify provenance` re-checks it, refusing a re-signed manifest whose policy
//! the evidence does not meet; an install under `"provenance": "required"` refuses an
//! add-on whose carried evidence is missing, even when the enclave already holds
//! everything.

use std::path::Path;
use std::process::{Command, Output};

use crate::common::check::assert_contains;
use crate::common::cli::ok;
use crate::common::evidence::{assert_valid, yaml_as_json};
use crate::common::provenance::{CosignKey, Signing};
use crate::common::upstream::{Opts, Upstream};
use crate::provenance::{refused, sign_all};

/// Signed keylessly by a CI workflow identity.
const AGENT: &str = "acme/agent:v1.0";
const AGENT_NAME: &str = "docker.io/acme/agent:v1.0";
/// Signed with a cosign key pair.
const KEYED: &str = "acme/keyed:v2.0";
const KEYED_NAME: &str = "docker.io/acme/keyed:v2.0";
/// A file the add-on lists, signed with the same key (`cosign sign-blob --key`).
const FILE_URL: &str = "https://raw.example.com/acme/agent.yaml";
const WORKFLOW: &str =
    "https://github.com/acme/agent/.github/workflows/release.yaml@refs/tags/v1.0";
const ACTIONS: &str = "https://token.actions.githubusercontent.com";

struct World {
    u: Upstream,
    s: Signing,
    key: CosignKey,
    stranger: CosignKey,
}

/// The upstream with both add-on images and the file, everything signed.
fn world() -> World {
    let u = Upstream::new(Opts {
        extra: vec![AGENT, KEYED],
        ..Default::default()
    });
    let mut s = Signing::new();
    sign_all(&mut s, &u, &[AGENT, KEYED]);
    let agent_leaf = s.world.issue_leaf(&s.world.leaf_spec(WORKFLOW, ACTIONS));
    s.sig_tag(&u, AGENT, Some(&agent_leaf), None);
    let key = CosignKey::generate(u.work.path(), "acme");
    let stranger = CosignKey::generate(u.work.path(), "stranger");
    s.sig_tag_with_key(&u, KEYED, &key);
    let file = u.www.join("raw/acme/agent.yaml");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(
        &file,
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: agent\n",
    )
    .unwrap();
    s.file_at(&file, &agent_leaf, Some(&key));
    World {
        u,
        s,
        key,
        stranger,
    }
}

/// The hop manifest: both images and the file, with the given policy lines (each
/// `None` leaves the entry out).
fn hop_manifest(w: &World, agent: Option<&str>, keyed: Option<&Path>) -> std::path::PathBuf {
    let file = w.u.www.join("raw/acme/agent.yaml");
    let sha = crate::common::images::sha256_hex(&std::fs::read(&file).unwrap());
    let mut text = String::from("format: 1\nkind: airlock-hop-manifest\nname: acme\nimages:\n");
    text.push_str(&format!("  - name: {AGENT_NAME}\n"));
    if let Some(identity) = agent {
        text.push_str(&format!(
            "    provenance:\n      identity: {identity}\n      issuer: {ACTIONS}\n"
        ));
    }
    text.push_str(&format!("  - name: {KEYED_NAME}\n"));
    let key_line = keyed.map(|k| format!("    provenance:\n      key: {}\n", k.display()));
    text.push_str(key_line.as_deref().unwrap_or(""));
    text.push_str(&format!("files:\n  - url: {FILE_URL}\n    sha256: {sha}\n"));
    text.push_str(key_line.as_deref().unwrap_or(""));
    let path = w.u.path("acme.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

fn resolve(w: &World, rekor: &str, manifest: &Path, extra: &[&str]) -> Output {
    let root = w.s.trusted_root().display().to_string();
    let m = manifest.display().to_string();
    let mut args = vec!["--trusted-root", &root, "--rekor-url", rekor, "--with", &m];
    args.extend_from_slice(extra);
    w.u.resolve(&args)
}

/// sigstore-python's verdict on a kept `.sig` tag bundle over its kept payload, for
/// `identity` and `issuer`.
fn sigstore_python_accepts(w: &World, bundle: &Path, payload: &Path, identity: &str) -> bool {
    let python = std::env::var_os("AIRLOCK_TEST_PYTHON")
        .expect("AIRLOCK_TEST_PYTHON names the test virtualenv's python (with sigstore==4.5.1)");
    let out = Command::new(Path::new(&python).with_file_name("sigstore"))
        .arg("--trust-config")
        .arg(w.s.world.path().join("trust_config.json"))
        .args(["verify", "identity", "--offline", "--bundle"])
        .arg(bundle)
        .args(["--cert-identity", identity, "--cert-oidc-issuer", ACTIONS])
        .arg(payload)
        .output()
        .expect("run sigstore-python");
    out.status.success()
}

fn entry<'a>(lock: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    lock["provenance"]["artifacts"]
        .as_array()
        .expect("artifacts")
        .iter()
        .find(|a| a["artifact"] == name)
        .unwrap_or_else(|| panic!("{name} is not in the provenance section"))
}

fn cached(w: &World, digest: &serde_json::Value) -> std::path::PathBuf {
    let hex = digest.as_str().unwrap().strip_prefix("sha256:").unwrap();
    w.u.path("cache").join("blobs/sha256").join(hex)
}

#[test]
fn addon_images_and_files_are_checked_by_their_own_keyless_or_key_policies() {
    let w = world();
    let rekor = w.s.rekor();
    let manifest = hop_manifest(&w, Some(WORKFLOW), Some(&w.key.public));
    ok(&resolve(&w, &rekor.url, &manifest, &[]));
    assert_valid("lock.schema.json", &yaml_as_json(&w.u.path("hop.lock")));
    let lock = w.u.lock();

    let agent = &entry(&lock, AGENT_NAME)["signature"];
    assert_eq!(
        (&agent["source"], &agent["identity"], &agent["issuer"]),
        (&"sig-tag".into(), &WORKFLOW.into(), &ACTIONS.into())
    );
    let (bundle, payload) = (
        cached(&w, &agent["bundle_sha256"]),
        cached(&w, &agent["payload_sha256"]),
    );
    assert!(sigstore_python_accepts(&w, &bundle, &payload, WORKFLOW));
    // The independent client refuses the same bundle for another identity, as airlock does below.
    assert!(!sigstore_python_accepts(
        &w,
        &bundle,
        &payload,
        "https://github.com/mallory/agent"
    ));

    let key_label = {
        let spki = Command::new("openssl")
            .args(["pkey", "-pubin", "-outform", "DER", "-in"])
            .arg(&w.key.public)
            .output()
            .expect("openssl pkey");
        assert!(spki.status.success());
        format!(
            "key sha256:{}",
            crate::common::images::sha256_hex(&spki.stdout)
        )
    };
    for name in [KEYED_NAME, FILE_URL] {
        let sig = &entry(&lock, name)["signature"];
        assert_eq!(sig["identity"], key_label.as_str(), "{name}");
        assert_eq!(sig["issuer"], "", "{name}");
        assert!(sig["log_index"].as_u64().is_some(), "{name}");
    }
    assert_eq!(entry(&lock, FILE_URL)["signature"]["source"], "blob");
    // The Kubernetes artifacts are still checked against their built-in identity.
    assert_eq!(
        entry(&lock, "registry.k8s.io/pause:3.9")["signature"]["identity"],
        "krel-trust@k8s-releng-prod.iam.gserviceaccount.com"
    );

    // The bundle carries every entry's evidence with the policy it was checked under,
    // the key once as a signed file, and the enclave re-checks each offline.
    let (key, out) = w.u.keygen_and_build();
    ok(&out);
    drop(rekor);
    let bundle = w.u.path("bundle");
    let manifest = read_manifest(&bundle);
    let listed = manifest["provenance"]["artifacts"].as_array().unwrap();
    assert_eq!(
        listed.len(),
        lock["provenance"]["artifacts"].as_array().unwrap().len()
    );
    let carried = |name: &str| {
        let e = listed.iter().find(|a| a["artifact"] == name);
        e.unwrap_or_else(|| panic!("{name} not carried"))["signature"].clone()
    };
    assert_eq!(
        (
            &carried(AGENT_NAME)["identity"],
            &carried(AGENT_NAME)["issuer"]
        ),
        (&WORKFLOW.into(), &ACTIONS.into())
    );
    assert!(carried(AGENT_NAME)["key"].is_null());
    let pem_hex = carried(KEYED_NAME)["key"]["sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(carried(FILE_URL)["key"]["sha256"], pem_hex.as_str());
    assert_eq!(carried(KEYED_NAME)["identity"], key_label.as_str());
    let pem = bundle.join(format!("provenance/{pem_hex}.pub.pem"));
    assert_eq!(
        std::fs::read(&pem).unwrap(),
        std::fs::read(&w.key.public).unwrap()
    );
    let sums = std::fs::read_to_string(bundle.join("SHA256SUMS")).unwrap();
    assert_eq!(sums.matches(".pub.pem\n").count(), 1, "{sums}");

    let recheck = || {
        crate::common::cli::Cli::verify()
            .arg("provenance")
            .arg(&bundle)
            .args(["--trust", &crate::common::cli::pub_of(&key), "--quiet"])
    };
    let stdout = recheck().ok().stdout();
    assert_contains(&stdout, "registry.k8s.io/pause:3.9");
    assert_contains(&stdout, &format!("signed by {WORKFLOW} (issuer {ACTIONS})"));
    for name in [AGENT_NAME, KEYED_NAME, FILE_URL] {
        assert_contains(&stdout, name);
    }
    assert_contains(&stdout, &format!("signed by {key_label}"));

    // A consistent, re-signed manifest that names another key (the stranger's, carried
    // in its place) passes `verify` and fails the re-check: that key signed nothing.
    let stranger_pem = std::fs::read(&w.stranger.public).unwrap();
    let stranger_hex = crate::common::images::sha256_hex(&stranger_pem);
    let stranger_label = {
        let spki = Command::new("openssl")
            .args(["pkey", "-pubin", "-outform", "DER", "-in"])
            .arg(&w.stranger.public)
            .output()
            .expect("openssl pkey");
        format!(
            "key sha256:{}",
            crate::common::images::sha256_hex(&spki.stdout)
        )
    };
    let forged = w.u.path("forged");
    copy_dir(&bundle, &forged);
    std::fs::remove_file(forged.join(format!("provenance/{pem_hex}.pub.pem"))).unwrap();
    std::fs::write(
        forged.join(format!("provenance/{stranger_hex}.pub.pem")),
        &stranger_pem,
    )
    .unwrap();
    crate::common::tamper::resign_manifest(
        &forged,
        Path::new(&crate::common::cli::key_of(&key)),
        |m| {
            for a in m["provenance"]["artifacts"].as_array_mut().unwrap() {
                let sig = &mut a["signature"];
                if sig["key"].is_object() {
                    sig["key"]["sha256"] = stranger_hex.as_str().into();
                    sig["key"]["size"] = stranger_pem.len().into();
                    sig["identity"] = stranger_label.as_str().into();
                }
            }
        },
    );
    let public = crate::common::cli::pub_of(&key);
    let on = |dir: &Path, cmd: &str| {
        crate::common::cli::Cli::verify()
            .arg(cmd)
            .arg(dir)
            .args(["--trust", &public, "--quiet"])
    };
    on(&forged, "verify").ok();
    on(&forged, "provenance").fails(3, KEYED_NAME);

    // A re-signed manifest that records another keyless identity for the agent: the
    // carried certificate names the workflow, so the re-check under it fails.
    let renamed = w.u.path("renamed");
    copy_dir(&bundle, &renamed);
    crate::common::tamper::resign_manifest(
        &renamed,
        Path::new(&crate::common::cli::key_of(&key)),
        |m| {
            for a in m["provenance"]["artifacts"].as_array_mut().unwrap() {
                if a["artifact"] == AGENT_NAME {
                    a["signature"]["identity"] = "https://github.com/mallory/agent".into();
                }
            }
        },
    );
    on(&renamed, "verify").ok();
    on(&renamed, "provenance").fails(3, AGENT_NAME);

    // The carried key altered in place: the manifest's sha256 no longer matches, and
    // both `verify` and `provenance` refuse it (exit 3), naming the file.
    let mut bytes = std::fs::read(&pem).unwrap();
    let last = bytes.len() - 2;
    bytes[last] ^= 1;
    std::fs::write(&pem, &bytes).unwrap();
    let name = format!("{pem_hex}.pub.pem");
    on(&bundle, "verify").fails(3, &name);
    on(&bundle, "provenance").fails(3, &name);
}

fn read_manifest(bundle: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(bundle.join("manifest.json")).unwrap()).unwrap()
}

/// A copy of a bundle directory (flat files and one level of subdirectories).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

#[test]
fn addon_artifacts_signed_by_someone_else_or_without_a_policy_are_refused() {
    let w = world();
    let rekor = w.s.rekor();

    // Another identity than the one the CI workflow signed with.
    let m = hop_manifest(
        &w,
        Some("https://github.com/mallory/agent"),
        Some(&w.key.public),
    );
    refused(
        &w.u,
        &resolve(&w, &rekor.url, &m, &[]),
        &format!(
            "{AGENT_NAME}: signed by {WORKFLOW}, the policy wants https://github.com/mallory/agent"
        ),
    );
    // Another key than the one that signed.
    let m = hop_manifest(&w, Some(WORKFLOW), Some(&w.stranger.public));
    refused(&w.u, &resolve(&w, &rekor.url, &m, &[]), KEYED_NAME);
    // A key file that is not a P-256 public key is bad input, before any lookup.
    let m = hop_manifest(&w, Some(WORKFLOW), Some(&w.key.private));
    let out = resolve(&w, &rekor.url, &m, &[]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_contains(&String::from_utf8_lossy(&out.stderr), "cosign public key");
    assert!(!w.u.path("hop.lock").exists());

    // No entry for the keyed image and the file: refused naming the first, unless allowed.
    let m = hop_manifest(&w, Some(WORKFLOW), None);
    refused(
        &w.u,
        &resolve(&w, &rekor.url, &m, &[]),
        &format!("{KEYED_NAME}: an add-on artifact with no provenance policy"),
    );
    ok(&resolve(
        &w,
        &rekor.url,
        &m,
        &["--allow-unsigned", KEYED_NAME, "--allow-unsigned", FILE_URL],
    ));
    let lock = w.u.lock();
    for name in [KEYED_NAME, FILE_URL] {
        let e = entry(&lock, name);
        assert!(e["signature"].is_null(), "{e}");
        assert_contains(
            e["unsigned_exception"].as_str().unwrap(),
            "no provenance policy for this add-on artifact",
        );
    }
    assert_eq!(entry(&lock, AGENT_NAME)["signature"]["identity"], WORKFLOW);
}

#[test]
fn required_provenance_refuses_missing_addon_evidence_even_when_the_enclave_holds_all() {
    let w = world();
    let rekor = w.s.rekor();
    let m = hop_manifest(&w, Some(WORKFLOW), Some(&w.key.public));
    ok(&resolve(&w, &rekor.url, &m, &[]));
    let (key, out) = w.u.keygen_and_build();
    ok(&out);
    drop(rekor);
    let enclave = crate::common::servers::Registry::start();
    crate::provenance::install_required(&w.u, &key, &enclave).ok();

    // The agent's Sigstore bundle does not travel; the signed manifest still lists it, so
    // the bundle's signature holds.
    let bundle = w.u.path("bundle");
    let manifest = read_manifest(&bundle);
    let hex = entry(&manifest, AGENT_NAME)["signature"]["bundle"]["sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    let file = format!("provenance/{hex}.sigstore.json");
    std::fs::remove_file(bundle.join(&file)).unwrap();

    // Everything is held, so the install would not read the payload; the rule re-checks
    // the evidence first and refuses, naming the file.
    crate::provenance::install_required(&w.u, &key, &enclave).fails(3, &file);
    // Without the rule the same held install passes (the payload and evidence unread),
    // which is what the rule closes.
    let dest = w.u.path("dest");
    let held = w.u.install(&key, &enclave, &dest).ok().json();
    assert_contains(&held.to_string(), "already held every image");
}
