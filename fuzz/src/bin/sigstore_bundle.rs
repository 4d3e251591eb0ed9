//! Fuzz target: see `airlock_fuzz::sigstore_bundle`.
airlock_fuzz::main!(airlock_fuzz::sigstore_bundle);
