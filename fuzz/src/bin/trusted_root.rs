//! Fuzz target: see `airlock_fuzz::trusted_root`.
airlock_fuzz::main!(airlock_fuzz::trusted_root);
