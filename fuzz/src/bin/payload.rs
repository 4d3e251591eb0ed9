//! Fuzz target: see `airlock_fuzz::payload`.
airlock_fuzz::main!(airlock_fuzz::payload);
