//! Fuzz target: see `airlock_fuzz::rfc3161`.
airlock_fuzz::main!(airlock_fuzz::rfc3161);
