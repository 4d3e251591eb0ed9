//! Fuzz target: see `airlock_fuzz::rpm_metadata`.
airlock_fuzz::main!(airlock_fuzz::rpm_metadata);
