//! Fuzz target: see `airlock_fuzz::helm_release`.
airlock_fuzz::main!(airlock_fuzz::helm_release);
