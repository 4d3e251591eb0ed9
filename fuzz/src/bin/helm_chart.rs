//! Fuzz target: see `airlock_fuzz::helm_chart`.
airlock_fuzz::main!(airlock_fuzz::helm_chart);
