//! Fuzz target: see `airlock_fuzz::minisign`.
airlock_fuzz::main!(airlock_fuzz::minisign);
