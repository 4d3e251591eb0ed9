//! Fuzz target: see `airlock_fuzz::oci_manifest`.
airlock_fuzz::main!(airlock_fuzz::oci_manifest);
