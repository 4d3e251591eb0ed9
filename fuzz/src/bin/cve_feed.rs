//! Fuzz target: see `airlock_fuzz::cve_feed`.
airlock_fuzz::main!(airlock_fuzz::cve_feed);
