//! Reproducibility: the same lock gives byte-identical bundle files whatever the machine
//! state: another cache, another upstream instance on another port, another zstd thread
//! count.

use crate::common::scenario::{Scenario, read_tree};

#[test]
fn same_lock_same_bytes_across_caches_ports_and_threads() {
    let a = Scenario::new();
    let b = Scenario::new(); // new registry, new port, new cache, new key
    // Same key for both so signatures can match too.
    std::fs::copy(
        format!("{}.key", a.key.display()),
        format!("{}.key", b.key.display()),
    )
    .unwrap();
    std::fs::copy(
        format!("{}.pub", a.key.display()),
        format!("{}.pub", b.key.display()),
    )
    .unwrap();
    let one = a.build("one", &["--threads", "1"]);
    let two = b.build("two", &["--threads", "2", "--jobs", "1"]);
    let ta = read_tree(&one);
    let tb = read_tree(&two);
    assert_eq!(
        ta.iter().map(|(n, _)| n).collect::<Vec<_>>(),
        tb.iter().map(|(n, _)| n).collect::<Vec<_>>()
    );
    for ((n, x), (_, y)) in ta.iter().zip(tb.iter()) {
        assert!(x == y, "{n} differs between the two builds");
    }
}
