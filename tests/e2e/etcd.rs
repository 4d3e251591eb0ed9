//! The runbook's per-member etcd restore against real etcd: a three-member cluster
//! (Debian's etcd-server) holds keys, a snapshot is taken, each member's static pod
//! manifest gives the runbook its member, and the runbook's own restore commands rebuild
//! three new data dirs that come up as one cluster of three with the keys.

use crate::common::etcd::{Cluster, Member, restore_tool};
use airlock::checklist::{ChecklistInput, build};
use airlock::etcd::EtcdCluster;

/// A static pod manifest as kubeadm writes it, for member `m`.
fn manifest(m: &Member) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: etcd\n  namespace: kube-system\nspec:\n  containers:\n  - command:\n    - etcd\n    - --data-dir={}\n    - --initial-advertise-peer-urls={}\n    - --name={}\n    image: registry.k8s.io/etcd:3.5.15-0\n    name: etcd\n",
        m.data_dir.display(),
        m.peer_url,
        m.name
    )
}

#[test]
fn the_runbooks_per_member_restore_brings_back_a_cluster_of_three_with_the_keys() {
    let work = crate::common::workdir();
    let old: Vec<Member> = ["cp1", "cp2", "cp3"]
        .iter()
        .map(|n| Member::new(n, &work.path().join("old")))
        .collect();
    let snapshot = work.path().join("snapshot.db");
    {
        let c = Cluster::start(&old, work.path());
        for (k, v) in [("/registry/a", "1"), ("/registry/b", "2")] {
            assert!(c.ctl(&["put", k, v]).status.success());
        }
        let one = old[0].client_url.as_str();
        let out = crate::common::etcd::etcdctl()
            .args(["--endpoints", one, "snapshot", "save"])
            .arg(&snapshot)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The restored members: new data dirs and ports, one manifest per control plane.
    let new: Vec<Member> = ["cp1", "cp2", "cp3"]
        .iter()
        .map(|n| Member::new(n, &work.path().join("new")))
        .collect();
    let files: Vec<_> = new
        .iter()
        .map(|m| {
            let p = work.path().join(format!("{}-etcd.yaml", m.name));
            std::fs::write(&p, manifest(m)).unwrap();
            p
        })
        .collect();
    let catalog = airlock::catalog::Catalog::builtin().unwrap();
    let steps = build(&ChecklistInput {
        catalog: &catalog,
        from: "v1.31.14".parse().unwrap(),
        to: "v1.32.2".parse().unwrap(),
        backout: true,
        tools: vec![],
        addon_manifests: vec![],
        addon_charts: vec![],
        worker_batch: 1,
        packages: vec![],
        etcd: EtcdCluster::from_files(&files).unwrap(),
    })
    .steps;
    for i in 1..=3 {
        let step = steps
            .iter()
            .find(|s| s.id == format!("backout.etcd-restore.{i}"))
            .expect("a step per member");
        let cmd = step
            .commands
            .iter()
            .find(|c| c.contains("snapshot restore"))
            .unwrap();
        let words = shlex::split(cmd).unwrap();
        // The words after the image's `etcdutl`, with the snapshot where this test keeps it.
        let at = words.iter().position(|w| w == "etcdutl").unwrap() + 1;
        let args: Vec<String> = words[at..]
            .iter()
            .map(|w| {
                if w.starts_with("/var/lib/airlock/") {
                    snapshot.display().to_string()
                } else {
                    w.clone()
                }
            })
            .collect();
        let out = restore_tool().args(&args).output().unwrap();
        assert!(
            out.status.success(),
            "{cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let c = Cluster::start(&new, work.path());
    let got = c.ctl(&["get", "/registry/b", "--print-value-only"]);
    assert_eq!(String::from_utf8_lossy(&got.stdout).trim(), "2");
    let members = String::from_utf8_lossy(&c.ctl(&["member", "list"]).stdout).to_string();
    assert_eq!(members.lines().count(), 3, "{members}");
    assert!(
        ["cp1", "cp2", "cp3"]
            .iter()
            .all(|n| members.contains(&format!(", {n}, "))),
        "{members}"
    );
}
