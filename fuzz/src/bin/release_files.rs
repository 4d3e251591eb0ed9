//! Fuzz target: see `airlock_fuzz::release_files`.
airlock_fuzz::main!(airlock_fuzz::release_files);
