//! Fuzz target: see `airlock_fuzz::chart_index`.
airlock_fuzz::main!(airlock_fuzz::chart_index);
