//! Fuzz target: see `airlock_fuzz::hop_manifest`.
airlock_fuzz::main!(airlock_fuzz::hop_manifest);
