//! Fuzz target: see `airlock_fuzz::trust_policy`.
airlock_fuzz::main!(airlock_fuzz::trust_policy);
