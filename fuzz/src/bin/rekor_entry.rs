//! Fuzz target: see `airlock_fuzz::rekor_entry`.
airlock_fuzz::main!(airlock_fuzz::rekor_entry);
