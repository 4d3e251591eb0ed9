//! Fuzz target: see `airlock_fuzz::openpgp`.
airlock_fuzz::main!(airlock_fuzz::openpgp);
