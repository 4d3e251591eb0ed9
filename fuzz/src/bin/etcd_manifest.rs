//! Fuzz target: see `airlock_fuzz::etcd_manifest`.
airlock_fuzz::main!(airlock_fuzz::etcd_manifest);
