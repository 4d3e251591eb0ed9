//! Fuzz target: see `airlock_fuzz::deb_metadata`.
airlock_fuzz::main!(airlock_fuzz::deb_metadata);
