//! Upstream provenance refusals end to end (issue 23): each through `airlock resolve`
//! against the generated Sigstore world (test docker-registry, file server, Rekor-like
//! log), with its named error and exit code and no lock written; each bundle also judged
//! by sigstore-python, which nobody here wrote and which must refuse it too. Then the
//! trusted root's own life: `airlock provenance trusted-root` refusing an expired or
//! wrongly signed TUF repository leaves no root, so resolve stops with a setup error
//! (exit 4) that says how to get one; a good repository writes the default root that
//! resolve then checks against without `--trusted-root`.

use std::path::Path;
use std::process::Command;

use airlock_provenance::testworld::{CosignLayer, LeafSpec, Signer, World};
use airlock_provenance::{KUBERNETES_IMAGES, bundle_from_cosign_layer, parse_rekor_entry};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::common::check::assert_contains;
use crate::common::cli::ok;
use crate::common::provenance::Signing;
use crate::common::tuf::{TufRepo, TufSpec};
use crate::common::upstream::{Opts, Upstream};
use crate::provenance::{refused, sign_all};

const PAUSE: &str = "pause:3.9";
const PAUSE_NAME: &str = "registry.k8s.io/pause:3.9";

fn resolve(u: &Upstream, s: &Signing, rekor: &str) -> std::process::Output {
    let root = s.trusted_root().display().to_string();
    u.resolve(&["--trusted-root", &root, "--rekor-url", rekor])
}

/// sigstore-python's verdict on `layer` as airlock converts it (with the API entry `api`
/// of its log entry), for the Kubernetes image identity.
fn sigstore_python_accepts(world: &World, layer: &CosignLayer, api: &[u8]) -> bool {
    let entry = parse_rekor_entry(PAUSE_NAME, api).expect("an API entry");
    let bundle = bundle_from_cosign_layer(PAUSE_NAME, &layer.annotations, &layer.payload, &entry)
        .expect("the converter does not judge");
    let n = layer.logged.index;
    let b = world.write_file(&format!("negative-{n}.sigstore.json"), &bundle);
    let p = world.write_file(&format!("negative-{n}.payload.json"), &layer.payload);
    let python = std::env::var_os("AIRLOCK_TEST_PYTHON")
        .expect("AIRLOCK_TEST_PYTHON names the test virtualenv's python (with sigstore==4.5.1)");
    let out = Command::new(Path::new(&python).with_file_name("sigstore"))
        .arg("--trust-config")
        .arg(world.path().join("trust_config.json"))
        .args(["verify", "identity", "--offline", "--bundle"])
        .arg(&b)
        .args(["--cert-identity", &KUBERNETES_IMAGES.san])
        .args(["--cert-oidc-issuer", &KUBERNETES_IMAGES.issuer])
        .arg(&p)
        .output()
        .expect("run sigstore-python");
    out.status.success()
}

/// pause re-signed (its `.sig` tag replaced) with a leaf made from `spec`; resolve is
/// refused naming `expected`, and sigstore-python refuses the same signature.
fn refused_leaf(u: &Upstream, s: &mut Signing, spec: &LeafSpec, expected: &str) {
    let leaf = s.world.issue_leaf(spec);
    let layer = s.sig_tag(u, PAUSE, Some(&leaf), None);
    let rekor = s.rekor();
    refused(u, &resolve(u, s, &rekor.url), expected);
    let api = s.world.rekor_api_entry(&layer.logged);
    assert!(
        !sigstore_python_accepts(&s.world, &layer, &api),
        "sigstore-python accepted what airlock refuses ({expected})"
    );
}

#[test]
fn bad_certificates_and_a_lying_log_stop_the_resolve() {
    let u = Upstream::new(Opts::default());
    let mut s = Signing::new();
    // pause by a `.sig` tag only (sign_all would give it a referrer, looked up first).
    sign_all(&mut s, &u, &[PAUSE]);
    s.sig_tag(&u, PAUSE, None, None);
    let good = s
        .world
        .leaf_spec(&KUBERNETES_IMAGES.san, &KUBERNETES_IMAGES.issuer);

    // The right identity, vouched for by another OIDC issuer.
    let other_issuer = LeafSpec {
        issuer: "https://accounts.example.com".into(),
        ..good.clone()
    };
    refused_leaf(
        &u,
        &mut s,
        &other_issuer,
        &format!(
            "{PAUSE_NAME}: certificate issued for OIDC issuer https://accounts.example.com, the policy wants https://accounts.google.com"
        ),
    );
    // A certificate from a CA the trusted root does not list.
    let stranger_ca = LeafSpec {
        ca: Signer::Stranger,
        ..good.clone()
    };
    refused_leaf(
        &u,
        &mut s,
        &stranger_ca,
        &format!(
            "{PAUSE_NAME}: the signing certificate does not chain to a CA of the trusted root"
        ),
    );
    // Logged (a minute ago) after the certificate expired (an hour ago).
    let expired = LeafSpec {
        not_before: s.world.now - 7200,
        not_after: s.world.now - 3600,
        ..good.clone()
    };
    refused_leaf(
        &u,
        &mut s,
        &expired,
        &format!(
            "{PAUSE_NAME}: the signing time proven by the log is outside the certificate's (or its CA's) validity"
        ),
    );

    // pause signed properly again; now the log lies about the proof, then the checkpoint.
    let layer = s.sig_tag(&u, PAUSE, None, None);
    s.world.log_filler(2);
    ok(&resolve(&u, &s, &s.rekor().url));
    std::fs::remove_file(u.path("hop.lock")).unwrap();
    let flip = |b64: &str| {
        let mut bytes = B64.decode(b64).unwrap_or_default();
        if let Some(b) = bytes.first_mut() {
            *b ^= 1;
        }
        bytes
    };
    let tampered_proof = |api: &mut serde_json::Value| {
        let hashes = &mut api["verification"]["inclusionProof"]["hashes"];
        if let Some(h) = hashes.get_mut(0) {
            let mut bytes = hex::decode(h.as_str().unwrap()).unwrap();
            bytes[0] ^= 1;
            *h = hex::encode(bytes).into();
        }
    };
    // The checkpoint's signature line altered: the note no longer verifies with the log key.
    let tampered_checkpoint = |api: &mut serde_json::Value| {
        let cp = &mut api["verification"]["inclusionProof"]["checkpoint"];
        let text = cp.as_str().unwrap().to_owned();
        let (head, sig) = text.rsplit_once(' ').unwrap();
        let altered = B64.encode(flip(sig.trim_end()));
        *cp = format!("{head} {altered}\n").into();
    };
    let cases: [(&Tamper<'_>, &str); 2] = [
        (
            &tampered_proof,
            "the inclusion proof does not lead to the log's root",
        ),
        (
            &tampered_checkpoint,
            "the checkpoint is not signed by the log's key",
        ),
    ];
    for (tamper, expected) in cases {
        let rekor = s.world.rekor_server_tampered(tamper);
        // The first artifact looked up in lock order is the first refused.
        refused(&u, &resolve(&u, &s, &rekor.url), expected);
        let mut api: serde_json::Value =
            serde_json::from_slice(&s.world.rekor_api_entry(&layer.logged)).unwrap();
        let uuid = api.as_object().unwrap().keys().next().unwrap().clone();
        tamper(&mut api[&uuid]);
        assert!(
            !sigstore_python_accepts(&s.world, &layer, &serde_json::to_vec(&api).unwrap()),
            "sigstore-python accepted a bundle whose log evidence was tampered ({expected})"
        );
    }
}

/// What a lying log does to an entry's API object.
type Tamper<'a> = dyn Fn(&mut serde_json::Value) + 'a;

/// `airlock provenance trusted-root --tuf-url URL --root ROOT` into the cache of `u`
/// (its default location).
fn fetch_default_root(u: &Upstream, r: &TufRepo) -> std::process::Output {
    let args: Vec<String> = [
        "provenance",
        "trusted-root",
        "--tuf-url",
        &r.server.url(),
        "--root",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([r.root.display().to_string()])
    .collect();
    u.airlock(&args)
        .output()
        .expect("run airlock provenance trusted-root")
}

#[test]
fn resolve_checks_by_default_against_the_root_the_tuf_client_wrote() {
    let u = Upstream::new(Opts::default());
    let mut s = Signing::new();
    sign_all(&mut s, &u, &[]);
    let rekor = s.rekor();
    let default_root = u.path("cache/sigstore/trusted_root.json");
    // Resolve with provenance on and neither --trusted-root nor --no-provenance.
    let resolve_default = || {
        let mut args = u.resolve_args(&["--rekor-url", &rekor.url]);
        args.retain(|a| a != "--no-provenance");
        u.airlock(&args).output().expect("run airlock resolve")
    };
    let no_root = |out: &std::process::Output| {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(4), "{stderr}");
        assert_contains(&stderr, &default_root.display().to_string());
        assert_contains(&stderr, "airlock provenance trusted-root");
        assert_contains(&stderr, "--no-provenance");
        assert!(!u.path("hop.lock").exists(), "a lock was written");
    };
    no_root(&resolve_default());

    // An expired timestamp, then a root with other keys than the repository signs with:
    // refused (exit 3), nothing written, so resolve still stops for want of a root.
    let work = crate::common::workdir();
    let target = s.world.trusted_root_json();
    let expired = TufRepo::serve(
        &work.path().join("expired"),
        &target,
        TufSpec {
            timestamp_expires_in: -3600,
            ..TufSpec::default()
        },
    );
    let out = fetch_default_root(&u, &expired);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_contains(
        &String::from_utf8_lossy(&out.stderr),
        "timestamp metadata is expired",
    );
    assert!(!default_root.exists());
    no_root(&resolve_default());

    let good = TufRepo::serve(&work.path().join("good"), &target, TufSpec::default());
    let stranger = good.stranger_root();
    let args: Vec<String> = [
        "provenance",
        "trusted-root",
        "--tuf-url",
        &good.server.url(),
        "--root",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([stranger.display().to_string()])
    .collect();
    let out = u.airlock(&args).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!default_root.exists());
    no_root(&resolve_default());

    // The good repository writes the default root, and resolve checks against it.
    ok(&fetch_default_root(&u, &good));
    assert_eq!(std::fs::read(&default_root).unwrap(), target);
    ok(&resolve_default());
    let lock = u.lock();
    assert_eq!(lock["provenance"]["status"], "checked");
    assert_eq!(
        lock["provenance"]["trusted_root_sha256"],
        format!("sha256:{}", crate::common::images::sha256_hex(&target))
    );
}
