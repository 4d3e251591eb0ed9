//! Fuzz target: see `airlock_fuzz::lock`.
airlock_fuzz::main!(airlock_fuzz::lock);
