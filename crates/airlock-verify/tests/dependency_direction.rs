//! The enclave crate must never depend on the connected side: data flows one way, and a
//! reviewer auditing the verifier must not have to read the resolver, the fetcher or the
//! upstream registry client. This test asks cargo itself which packages the verifier
//! links, and reads the verifier's sources for imports of the connected crate.

use std::process::Command;

/// Packages that belong to the connected side (or are only used there).
const FORBIDDEN: &[&str] = &[
    "airlock",
    "oci-client",
    "oci-spec",
    "serde-saphyr",
    "walkdir",
];

#[test]
fn verifier_links_nothing_of_the_connected_side() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "tree",
            "-p",
            "airlock-verify",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    let packages: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(packages.contains(&"airlock-verify"), "{tree}");
    for bad in FORBIDDEN {
        assert!(
            !packages.contains(bad),
            "airlock-verify links {bad}, which belongs to the connected side:\n{tree}"
        );
    }
}

#[test]
fn verifier_sources_never_import_the_connected_crate() {
    // The enclave crate and the trust core it builds on (crates/airlock-core).
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut stack = vec![here.join("src"), here.join("../airlock-core/src")];
    let mut files = 0;
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("read src") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files += 1;
                let text = std::fs::read_to_string(&p).expect("read source");
                for (n, line) in text.lines().enumerate() {
                    let l = line.trim_start();
                    assert!(
                        !(l.starts_with("use airlock::") || l.contains(" airlock::")),
                        "{}:{}: imports the connected crate: {line}",
                        p.display(),
                        n + 1
                    );
                }
            }
        }
    }
    assert!(files > 10, "found only {files} source files");
}
