//! Lock files come from users and from `airlock resolve`; parsing must never panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = airlock::lock::Lock::parse(text, "fuzz");
    }
});
