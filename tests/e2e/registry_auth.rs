//! Registries that demand credentials: airlock reads them from the docker config
//! (`$DOCKER_CONFIG/config.json`, as `docker login` writes it) on both sides.

use crate::common::images::{sha256_digest, skopeo_inspect_raw_with_creds};
use crate::common::scenario::{Scenario, docker_config};
use crate::common::servers::Registry;

#[test]
fn basic_auth_from_docker_config_on_both_sides() {
    let s = Scenario::with_upstream(Registry::start_with_basic_auth("alice", "upstream-pw"));
    let enclave = Registry::start_with_basic_auth("bob", "enclave-pw");
    let up = s.upstream.host();
    let en = enclave.host();

    // Without credentials the build fails, naming the registry.
    let key = format!("{}.key", s.key.display());
    let out_dir = s.path("bundle");
    let mut args = vec![
        "build".to_string(),
        s.lock.display().to_string(),
        "--key".into(),
        key,
        "--out".into(),
        out_dir.display().to_string(),
    ];
    args.extend(s.net_args());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = s.airlock(&refs).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("registry.k8s.io") || stderr.contains(&up),
        "{stderr}"
    );
    assert!(!out_dir.exists());

    // With a docker config it works.
    let cfg = docker_config(
        &s.path("docker"),
        &[(&up, "alice", "upstream-pw"), (&en, "bob", "enclave-pw")],
    );
    let out = s
        .airlock(&refs)
        .env("DOCKER_CONFIG", &cfg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Install into the authenticated enclave.
    let pubkey = format!("{}.pub", s.key.display());
    let out = s
        .verify_bin(&[
            "install",
            out_dir.to_str().unwrap(),
            "--trust",
            &pubkey,
            "--registry",
            &en,
            "--insecure",
            "--dest",
            s.path("dest").to_str().unwrap(),
            "--quiet",
        ])
        .env("DOCKER_CONFIG", &cfg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let raw = skopeo_inspect_raw_with_creds(
        &format!("{en}/kube-apiserver:v1.30.2"),
        Some(("bob", "enclave-pw")),
    );
    assert_eq!(sha256_digest(&raw), s.images[0].index_digest);
}
