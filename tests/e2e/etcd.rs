//! The runbook's per-member etcd restore against real etcd: a three-member cluster
//! (Debian's etcd-server) holds keys, a snapshot is taken, each member's static pod
//! manifest gives the runbook its member, and the runbook's own restore commands rebuild
//! three new data dirs that come up as one cluster of three with the keys.

use crate::common::etcd::{Cluster, Member, run_restore, snapshot_of, write_manifests};
use airlock::checklist::{ChecklistInput, build};
use airlock::etcd::EtcdCluster;

/// The runbook of a 1.31 -> 1.32 hop for the etcd members of `manifests`.
fn runbook(manifests: &[std::path::PathBuf]) -> Vec<airlock::manifest::Step> {
    let catalog = airlock::catalog::Catalog::builtin().unwrap();
    let input = ChecklistInput {
        catalog: &catalog,
        from: "v1.31.14".parse().unwrap(),
        to: "v1.32.2".parse().unwrap(),
        backout: true,
        tools: vec![],
        addon_manifests: vec![],
        addon_charts: vec![],
        worker_batch: 1,
        packages: vec![],
        etcd: EtcdCluster::from_files(manifests).unwrap(),
    };
    build(&input).steps
}

#[test]
fn the_runbooks_per_member_restore_brings_back_a_cluster_of_three_with_the_keys() {
    let work = crate::common::workdir();
    let names = ["cp1", "cp2", "cp3"];
    let old: Vec<Member> = names
        .iter()
        .map(|n| Member::new(n, &work.path().join("old")))
        .collect();
    let snapshot = snapshot_of(
        &old,
        &[("/registry/a", "1"), ("/registry/b", "2")],
        work.path(),
    );
    // The restored members: new data dirs and ports, one manifest per control plane.
    let new: Vec<Member> = names
        .iter()
        .map(|n| Member::new(n, &work.path().join("new")))
        .collect();
    let steps = runbook(&write_manifests(&new, work.path()));
    for i in 1..=3 {
        let id = format!("backout.etcd-restore.{i}");
        let step = steps
            .iter()
            .find(|s| s.id == id)
            .expect("a step per member");
        let restore = step
            .commands
            .iter()
            .find(|c| c.contains("snapshot restore"))
            .unwrap();
        run_restore(restore, &snapshot);
    }
    let c = Cluster::start(&new, work.path());
    assert_eq!(
        (c.get("/registry/a"), c.get("/registry/b")),
        ("1".into(), "2".into())
    );
    assert_eq!(c.member_names(), names);
}
