//! `"provenance": "required"` written by the drafting commands (issue 23): `airlock-verify
//! policy require-provenance` on a draft of the next version, shown with its note (no
//! trusted root pinned), checked by the `jsonschema` validator, signed with `airlock sign`
//! and accepted by `policy update`; under it `install` refuses a bundle built with an
//! `--allow-unsigned` exception (exit 3, nothing written) and installs one whose every
//! artifact was checked.

use std::path::Path;

use airlock_provenance::COSIGN_SIGN_PREDICATE;

use crate::common::check::assert_contains;
use crate::common::cli::{Cli, key_of, ok, policy, pub_of};
use crate::common::evidence::assert_valid;
use crate::common::provenance::Signing;
use crate::common::servers::Registry;
use crate::common::upstream::{Opts, Upstream};
use crate::provenance::{PAUSE, PAUSE_NAME, resolve, sign_all};

/// Version 1 (the build key, one builder approval, provenance optional) at `installed`,
/// then version 2 requiring provenance, drafted, signed and accepted by `policy update`.
fn require_by_commands(u: &Upstream, key: &Path, installed: &Path) {
    policy(installed, &["init"]).ok();
    let public = pub_of(key);
    policy(
        installed,
        &["add-key", "build", "--key", &public, "--role", "builder"],
    )
    .ok();
    policy(installed, &["set-rule", "builder", "1"]).ok();
    policy(installed, &["set-update-rule", "1", "--role", "builder"]).ok();
    policy(installed, &["show"]).ok();

    let dir = u.path("policy-v2");
    let draft = dir.join("policy.json");
    policy(installed, &["next", "--out", draft.to_str().unwrap()]).ok();
    let run = policy(&draft, &["require-provenance"]).ok();
    assert_contains(
        &run.stdout(),
        "upstream provenance required at install (was optional); no trusted root is pinned",
    );
    assert_valid("trust-policy.schema.json", &draft);
    let shown = policy(&draft, &["show"]).ok().stdout();
    assert_contains(
        &shown,
        "required at install; trusted root: any the bundle carries",
    );
    assert_contains(
        &shown,
        "note: no trusted root is pinned: evidence is re-checked against the root each bundle carries",
    );
    // The drafted file is the canonical form `show --json` prints.
    let canonical = policy(&draft, &["show", "--json"]).ok().stdout();
    assert_eq!(canonical.as_bytes(), std::fs::read(&draft).unwrap());
    assert_contains(&canonical, "\"provenance\": \"required\"");

    Cli::airlock()
        .arg("sign")
        .arg(&dir)
        .args(["--key", &key_of(key), "--role", "builder"])
        .ok();
    Cli::verify()
        .args(["policy", "update", "--policy"])
        .arg(installed)
        .arg(&dir)
        .ok();
    assert_eq!(
        std::fs::read(installed).unwrap(),
        std::fs::read(&draft).unwrap()
    );
}

#[test]
fn a_drafted_policy_requiring_provenance_refuses_exceptions_and_installs_checked_bundles() {
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

    let installed = u.path("enclave/policy.json");
    require_by_commands(&u, &key, &installed);

    // The bundle that let pause in unsigned: refused by name, nothing written.
    let enclave = Registry::start();
    let run = u
        .install_under_policy(&installed, &enclave)
        .fails(3, PAUSE_NAME);
    assert_contains(
        &run.stderr(),
        "the trust policy requires upstream provenance and this artifact was let in unsigned",
    );
    assert_eq!(
        enclave.get("/v2/_catalog").text().matches("pause").count(),
        0
    );
    assert!(!u.path("dest").join("bin").exists(), "nothing is written");

    // Pause signed upstream, resolved and built again: every artifact checked, installed.
    s.referrer(&u, PAUSE, COSIGN_SIGN_PREDICATE);
    std::fs::remove_file(u.path("hop.lock")).unwrap();
    std::fs::remove_dir_all(u.path("bundle")).unwrap();
    ok(&resolve(&u, &s, &rekor.url, &[]));
    u.build("hop.lock", "bundle", &[]).ok();
    u.install_under_policy(&installed, &enclave).ok();
    let tags = enclave.get("/v2/pause/tags/list").text();
    assert!(tags.contains("3.9"), "{tags}");
}
