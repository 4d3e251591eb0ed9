//! Fuzz target: see `airlock_fuzz::timestamps`.
airlock_fuzz::main!(airlock_fuzz::timestamps);
