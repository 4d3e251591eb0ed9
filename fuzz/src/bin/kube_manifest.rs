//! Fuzz target: see `airlock_fuzz::kube_manifest`.
airlock_fuzz::main!(airlock_fuzz::kube_manifest);
