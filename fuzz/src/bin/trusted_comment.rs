//! Fuzz target: see `airlock_fuzz::trusted_comment`.
airlock_fuzz::main!(airlock_fuzz::trusted_comment);
