//! Fuzz target: see `airlock_fuzz::metrics_scrape`.
airlock_fuzz::main!(airlock_fuzz::metrics_scrape);
