//! Fuzz target: see `airlock_fuzz::kube_version`.
airlock_fuzz::main!(airlock_fuzz::kube_version);
