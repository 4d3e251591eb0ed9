//! Manifests come from upstream registries.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = airlock::oci::ManifestDoc::parse(data, "fuzz", None);
});
