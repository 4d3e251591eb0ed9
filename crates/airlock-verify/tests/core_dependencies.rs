//! The trust core (`airlock-core`: format, trust, reader) is what a reviewer reads to trust
//! `verify`; it must stay free of what a reader does not need. This test asks cargo which
//! packages the core links and fails on an HTTP stack, an async runtime or a CLI parser.

use std::process::Command;

/// Packages the trust core must never link, with why.
const FORBIDDEN: &[(&str, &str)] = &[
    ("reqwest", "an HTTP client"),
    ("hyper", "an HTTP stack"),
    ("hyper-util", "an HTTP stack"),
    ("h2", "an HTTP stack"),
    ("tokio", "an async runtime"),
    ("tokio-rustls", "an async TLS stack"),
    ("clap", "a CLI parser"),
    ("airlock", "the connected side"),
    (
        "airlock-verify",
        "the enclave side, which builds on the core",
    ),
];

/// The names of the packages `package` links for normal (non-dev, non-build) use.
fn normal_dependencies(package: &str) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["tree", "-p", package, "-e", "normal", "--prefix", "none"])
        .arg("--offline")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn core_links_no_http_stack_async_runtime_or_cli_parser() {
    let packages = normal_dependencies("airlock-core");
    assert!(packages.iter().any(|p| p == "airlock-core"), "{packages:?}");
    for (bad, what) in FORBIDDEN {
        assert!(
            !packages.iter().any(|p| p == bad),
            "airlock-core links {bad} ({what}); the trust core must not:\n{packages:#?}"
        );
    }
}

#[test]
fn the_enclave_links_the_core() {
    // The re-exports in airlock-verify's lib.rs only mean something if it is the core
    // that the enclave uses, not a copy.
    let packages = normal_dependencies("airlock-verify");
    assert!(packages.iter().any(|p| p == "airlock-core"), "{packages:?}");
}

#[test]
fn the_provenance_checker_links_no_http_stack_async_runtime_or_cli_parser() {
    // airlock-provenance is what `verify`/`install` will call to re-check Sigstore
    // evidence offline; it is read with the core and must stay as free of those.
    let packages = normal_dependencies("airlock-provenance");
    assert!(
        packages.iter().any(|p| p == "sigstore-verify"),
        "{packages:?}"
    );
    for (bad, what) in FORBIDDEN.iter().filter(|(b, _)| *b != "airlock-verify") {
        assert!(
            !packages.iter().any(|p| p == bad),
            "airlock-provenance links {bad} ({what}); the offline checker must not:\n{packages:#?}"
        );
    }
    assert!(
        !packages.iter().any(|p| p == "airlock-verify"),
        "airlock-provenance links the enclave binary's crate; it must be the other way round"
    );
}

#[test]
fn the_core_links_no_sigstore_crate() {
    // The core checks carried evidence like any signed entry (bytes, sha256); the
    // Sigstore checks live in airlock-provenance alone.
    let packages = normal_dependencies("airlock-core");
    let sigstore: Vec<_> = packages
        .iter()
        .filter(|p| p.starts_with("sigstore") || *p == "airlock-provenance")
        .collect();
    assert!(sigstore.is_empty(), "airlock-core links {sigstore:?}");
}

#[test]
fn no_enclave_crate_links_a_tuf_client() {
    // Sigstore's trusted root is fetched through TUF on the connected side only
    // (`airlock provenance trusted-root`); the enclave pins the file it was given.
    for package in ["airlock-core", "airlock-provenance", "airlock-verify"] {
        let packages = normal_dependencies(package);
        assert!(
            !packages.iter().any(|p| p == "tough"),
            "{package} links tough; TUF belongs to the connected side"
        );
    }
}
