//! The enclave pins the Sigstore trusted root (issue 23): `airlock-verify policy
//! pin-trusted-root` writes its sha256 into the trust policy, and `airlock-verify
//! provenance --policy` and `install` under `"provenance": "required"` refuse (exit 3,
//! nothing written) a bundle whose carried root is another; a file that is not a usable
//! trusted root cannot be pinned (exit 4). The sha256 printed is compared with
//! `sha256sum`'s.

use std::path::Path;
use std::process::Command;

use crate::common::check::assert_contains;
use crate::common::cli::{Cli, ok, policy, pub_of};
use crate::common::evidence::assert_valid;
use crate::common::provenance::Signing;
use crate::common::servers::Registry;
use crate::common::upstream::{Opts, Upstream};
use crate::provenance::{resolve, sign_all};

/// `sha256sum FILE`'s digest, as `sha256:HEX`.
fn sha256sum(file: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(file)
        .output()
        .expect("run sha256sum");
    let text = ok(&out);
    format!("sha256:{}", text.split_whitespace().next().unwrap())
}

#[test]
fn a_pinned_trusted_root_refuses_evidence_checked_against_another() {
    let u = Upstream::new(Opts::default());
    let mut s = Signing::new();
    sign_all(&mut s, &u, &[]);
    let rekor = s.rekor();
    ok(&resolve(&u, &s, &rekor.url, &[]));
    let (key, out) = u.keygen_and_build();
    ok(&out);
    drop(rekor);

    // A policy that requires provenance, pinned to another world's root.
    let public = std::fs::read_to_string(pub_of(&key)).unwrap();
    let p = u.path("policy.json");
    let text = serde_json::json!({
        "format": 1, "kind": "airlock-trust-policy", "version": 1,
        "keys": [{"name": "build", "key": public.lines().nth(1).unwrap(), "roles": ["builder"]}],
        "rules": [{"role": "builder", "at_least": 1}],
        "update": {"at_least": 1},
        "provenance": "required",
    });
    std::fs::write(&p, text.to_string()).unwrap();
    let other = Signing::new();
    let other_root = other.trusted_root();
    let other_sha = sha256sum(&other_root);
    let run = policy(&p, &["pin-trusted-root", other_root.to_str().unwrap()]).ok();
    assert_contains(
        &run.stdout(),
        &format!("pinned Sigstore trusted root {other_sha} (was none)"),
    );
    assert_valid("trust-policy.schema.json", &p);
    let shown = policy(&p, &["show"]).ok().stdout();
    assert_contains(
        &shown,
        &format!("required at install; trusted root: pinned {other_sha}"),
    );

    // The carried root is not the pinned one: provenance and install refuse, by name.
    let carried = u.path("bundle").join("provenance/trusted_root.json");
    let carried_sha = sha256sum(&carried);
    let refusal = format!(
        "provenance/trusted_root.json: sha256 {carried_sha} is not the Sigstore trusted root the trust policy pins ({other_sha})"
    );
    let with_policy = |extra: &[&str]| {
        Cli::verify()
            .arg("provenance")
            .arg(u.path("bundle"))
            .arg("--policy")
            .arg(&p)
            .arg("--quiet")
            .args(extra)
    };
    with_policy(&[]).fails(3, &refusal);
    // Nor does naming a root by hand get round the pin.
    with_policy(&["--trusted-root", s.trusted_root().to_str().unwrap()]).fails(3, &refusal);
    let enclave = Registry::start();
    u.install_under_policy(&p, &enclave).fails(3, &refusal);
    assert_eq!(
        enclave.get("/v2/_catalog").text().matches("pause").count(),
        0
    );
    assert!(!u.path("dest").join("bin").exists(), "nothing is written");

    // What cannot be a trusted root is not pinned (exit 4), and the policy is unchanged.
    let before = std::fs::read(&p).unwrap();
    let junk = u.path("junk.json");
    std::fs::write(&junk, b"{\"mediaType\": 1}").unwrap();
    policy(&p, &["pin-trusted-root", junk.to_str().unwrap()]).fails(4, "trusted root");
    let mut no_ca: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.trusted_root()).unwrap()).unwrap();
    no_ca["certificateAuthorities"] = serde_json::json!([]);
    let no_ca_path = u.path("no-ca.json");
    std::fs::write(&no_ca_path, no_ca.to_string()).unwrap();
    policy(&p, &["pin-trusted-root", no_ca_path.to_str().unwrap()])
        .fails(4, "lists no certificate authority");
    assert_eq!(std::fs::read(&p).unwrap(), before);

    // Pinned to the root resolve used (the one carried): both pass, and install installs.
    let run = policy(&p, &["pin-trusted-root", carried.to_str().unwrap()]).ok();
    assert_contains(
        &run.stdout(),
        &format!("pinned Sigstore trusted root {carried_sha} (was {other_sha})"),
    );
    assert_eq!(carried_sha, sha256sum(&s.trusted_root()));
    with_policy(&[]).ok();
    u.install_under_policy(&p, &enclave).ok();
    assert!(enclave.get("/v2/pause/tags/list").text().contains("3.9"));

    // --remove takes the pin out again.
    policy(&p, &["pin-trusted-root", "--remove"]).ok();
    assert!(
        !std::fs::read_to_string(&p)
            .unwrap()
            .contains("provenance_trusted_root")
    );
    assert_contains(
        &policy(&p, &["show"]).ok().stdout(),
        "trusted root: any the bundle carries",
    );
}
