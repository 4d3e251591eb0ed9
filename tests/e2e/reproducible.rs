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
    // The build signature records its time; SOURCE_DATE_EPOCH fixes it, as for any
    // reproducible build.
    let one = build_at(&a, "one", &["--threads", "1"]);
    let two = build_at(&b, "two", &["--threads", "2", "--jobs", "1"]);
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

/// `airlock build` into `out` with `SOURCE_DATE_EPOCH` set.
fn build_at(s: &Scenario, out: &str, extra: &[&str]) -> std::path::PathBuf {
    let (lock, key, dir) = (
        s.lock.display().to_string(),
        format!("{}.key", s.key.display()),
        s.path(out).display().to_string(),
    );
    let mut args = vec!["build", &lock, "--key", &key, "--out", &dir, "--quiet"];
    let net = s.net_args();
    args.extend(net.iter().map(String::as_str));
    args.extend_from_slice(extra);
    let o = s
        .airlock(&args)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    s.path(out)
}
