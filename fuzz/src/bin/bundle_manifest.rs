//! Fuzz target: see `airlock_fuzz::bundle_manifest`.
airlock_fuzz::main!(airlock_fuzz::bundle_manifest);
