//! Registries that demand credentials: airlock reads them from the docker config
//! (`$DOCKER_CONFIG/config.json`, as `docker login` writes it) on both sides.

use crate::common::images::{sha256_digest, skopeo_inspect_raw_with_creds};
use crate::common::scenario::{Scenario, docker_config};
use crate::common::servers::Registry;

#[test]
fn basic_auth_from_docker_config_on_both_sides() {
    let mut s = Scenario::with_upstream(Registry::start_with_basic_auth("alice", "upstream-pw"));
    let enclave = Registry::start_with_basic_auth("bob", "enclave-pw");
    let up = s.upstream.host();
    let en = enclave.host();

    // Without credentials the build fails, naming the registry.
    let out_dir = s.path("bundle");
    let out = s.try_build("bundle", &s.net_args());
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
    s.docker_config = cfg;
    let out = s.try_build("bundle", &s.net_args());
    crate::common::cli::ok(&out);

    // Install into the authenticated enclave.
    let out = s.install_to(&out_dir, &en, &s.path("dest"), &["--insecure"]);
    crate::common::cli::ok(&out);
    let raw = skopeo_inspect_raw_with_creds(
        &format!("{en}/kube-apiserver:v1.30.2"),
        Some(("bob", "enclave-pw")),
    );
    assert_eq!(sha256_digest(&raw), s.images[0].index_digest);
}

#[test]
fn tls_registry_needs_the_extra_ca() {
    let certs = crate::common::workdir();
    let (ca, cert, key) = crate::common::servers::make_test_ca(certs.path());
    let s = Scenario::with_upstream(Registry::start_with_tls(&cert, &key));
    let up = s.upstream.host();
    let build = |out: &str, extra: &[&str]| {
        let mut args = vec![
            "--mirror".to_string(),
            format!("registry.k8s.io={up}"),
            "--mirror".into(),
            format!("https://dl.k8s.io={}", s.files.url()),
        ];
        args.extend(extra.iter().map(|x| x.to_string()));
        s.try_build(out, &args)
    };
    // HTTPS with an unknown CA is refused ...
    let out = build("untrusted", &[]);
    assert!(
        !out.status.success(),
        "a registry with an unknown CA was trusted"
    );
    assert!(!s.path("untrusted").exists());
    // ... and accepted with --ca-file.
    let out = build("trusted", &["--ca-file", ca.to_str().unwrap()]);
    crate::common::cli::ok(&out);

    // The enclave side takes --ca-file too.
    let enclave = Registry::start_with_tls(&cert, &key);
    let out = s.install_to(
        &s.path("trusted"),
        &enclave.host(),
        &s.path("dest"),
        &["--ca-file", ca.to_str().unwrap()],
    );
    crate::common::cli::ok(&out);
    let out = crate::common::images::skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{}/kube-apiserver:v1.30.2", enclave.host()),
    ]);
    assert_eq!(sha256_digest(&out.stdout), s.images[0].index_digest);
}

#[test]
fn bearer_token_auth_with_docker_config_credentials() {
    // HTTPS registry -> 401 Bearer challenge -> token server (basic auth) -> JWT.
    let certs = crate::common::workdir();
    let (ca, _, _) = crate::common::servers::make_test_ca(certs.path());
    let upstream = Registry::start_with_token_auth(certs.path(), "carol", "token-pw");
    let mut s = Scenario::with_upstream(upstream);
    let up = s.upstream.host();
    let args = vec![
        "--ca-file".to_string(),
        ca.display().to_string(),
        "--mirror".into(),
        format!("registry.k8s.io={up}"),
        "--mirror".into(),
        format!("https://dl.k8s.io={}", s.files.url()),
    ];
    // No credentials: the token server refuses, and so does the build.
    let out = s.try_build("anonymous", &args);
    assert!(
        !out.status.success(),
        "the registry let an anonymous client in"
    );
    assert!(!s.path("anonymous").exists());

    s.docker_config = docker_config(&s.path("docker"), &[(&up, "carol", "token-pw")]);
    let out = s.try_build("bundle", &args);
    crate::common::cli::ok(&out);
    let bundle = s.path("bundle");
    assert!(s.verify(&bundle).status.success());
    // The bytes really came through the bearer flow: the token server issued tokens.
    let log: String = std::fs::read_dir(certs.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("token-server-"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    assert!(
        log.contains("GET /token?") && log.contains("\" 200 "),
        "token server log:\n{log}"
    );
}
