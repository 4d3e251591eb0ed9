//! Build metadata for `airlock --version`: commit and date (build-support/version.rs) and
//! the embedded catalog's version.

include!("build-support/version.rs");

/// The catalog compiled in (src/catalog/mod.rs `DEFAULT_CATALOG`).
const CATALOG: &str = "manifests/catalog/kubernetes.yaml";

fn main() {
    emit_version();
    println!("cargo:rerun-if-changed={CATALOG}");
    // Only the version string is copied here; the catalog itself is parsed and validated
    // where it is used (`catalog::Loaded::builtin`) and by its tests.
    let text = std::fs::read_to_string(CATALOG).unwrap_or_default();
    let version = text
        .lines()
        .find_map(|l| l.strip_prefix("catalog_version:"))
        .map(|v| v.trim().trim_matches('"').to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=AIRLOCK_CATALOG_VERSION={version}");
}
