//! Signature and public-key files are read before anything is trusted.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = airlock::trust::PublicKey::from_minisign(text);
        if let Ok(key) = airlock::trust::SecretKey::generate() {
            let _ = airlock::trust::verify(&[key.public_key()], b"data", text);
        }
    }
});
