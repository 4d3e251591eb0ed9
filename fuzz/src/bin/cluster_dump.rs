//! Fuzz target: see `airlock_fuzz::cluster_dump`.
airlock_fuzz::main!(airlock_fuzz::cluster_dump);
