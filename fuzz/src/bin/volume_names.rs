//! Fuzz target: see `airlock_fuzz::volume_names`.
airlock_fuzz::main!(airlock_fuzz::volume_names);
