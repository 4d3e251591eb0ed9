//! Fuzz target: see `airlock_fuzz::simple_signing_payload`.
airlock_fuzz::main!(airlock_fuzz::simple_signing_payload);
