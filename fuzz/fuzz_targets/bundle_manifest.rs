//! The bundle manifest is parsed only after its signature verified, but a stolen key must
//! still not be able to crash the verifier.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = airlock::bundle::manifest::BundleManifest::parse_verified(data);
});
