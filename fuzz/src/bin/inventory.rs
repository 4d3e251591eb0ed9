//! Fuzz target: see `airlock_fuzz::inventory`.
airlock_fuzz::main!(airlock_fuzz::inventory);
