use super::*;
use crate::manifest::WorkersMode;

/// 1.33 -> 1.37 with workers skipping: they land on 1.36 and 1.37.
fn schedule() -> Schedule {
    let phase = |n: u32, from: &str, to: &str, workers: Option<&str>, after: &str, floor: u32| {
        SchedulePhase {
            n,
            control_plane_from: from.into(),
            control_plane: to.into(),
            workers: workers.map(str::to_string),
            workers_after: after.into(),
            workers_kubeadm: workers.is_none().then(|| to.to_string()),
            kubelet_floor_minor: floor,
        }
    };
    Schedule {
        workers: WorkersMode::Skip,
        from: "v1.33.9".into(),
        phases: vec![
            phase(1, "v1.33.9", "v1.34.5", None, "v1.33.9", 31),
            phase(2, "v1.34.5", "v1.35.3", None, "v1.33.9", 32),
            phase(3, "v1.35.3", "v1.36.2", Some("v1.36.2"), "v1.36.2", 33),
            phase(4, "v1.36.2", "v1.37.1", Some("v1.37.1"), "v1.37.1", 34),
        ],
        accepted_uncertain: Vec::new(),
    }
}

/// A dump as `kubectl get nodes -o json` writes it: one control-plane node, two workers.
fn dump(cp: &str, workers: [&str; 2]) -> Dump {
    let node = |name: &str, v: &str, cp: bool| {
        let labels = if cp {
            serde_json::json!({"node-role.kubernetes.io/control-plane": ""})
        } else {
            serde_json::json!({})
        };
        serde_json::json!({"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": labels},
            "status": {"nodeInfo": {"kubeletVersion": v}}})
    };
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [
        node("cp-0", cp, true), node("w-0", workers[0], false), node("w-1", workers[1], false)
    ]});
    let mut d = Dump::default();
    d.add_json(list.to_string().as_bytes(), "nodes.json")
        .unwrap();
    d
}

fn phase_n(n: &Next) -> String {
    match n {
        Next::Phase { phase } => format!("phase {}", phase.n),
        Next::Workers { phase, behind } => format!("workers of {}: {}", phase.n, behind.join(", ")),
        Next::Done { version } => format!("done at {version}"),
    }
}

#[test]
fn names_the_next_step_at_each_phase() {
    let s = schedule();
    let cases = [
        (("v1.33.9", ["v1.33.9", "v1.33.9"]), "phase 1"),
        (("v1.34.5", ["v1.33.9", "v1.33.9"]), "phase 2"),
        (("v1.35.3", ["v1.33.9", "v1.33.9"]), "phase 3"),
        (
            ("v1.36.2", ["v1.33.9", "v1.36.2"]),
            "workers of 3: w-0 (v1.33.9)",
        ),
        (("v1.36.2", ["v1.36.2", "v1.36.2"]), "phase 4"),
        (
            ("v1.37.1", ["v1.36.2", "v1.37.1"]),
            "workers of 4: w-0 (v1.36.2)",
        ),
        (("v1.37.1", ["v1.37.1", "v1.37.1"]), "done at v1.37.1"),
    ];
    for ((cp, w), want) in cases {
        assert_eq!(
            phase_n(&next(&s, &dump(cp, w)).unwrap()),
            want,
            "{cp} {w:?}"
        );
    }
}

#[test]
fn refuses_a_node_older_than_the_next_step_allows() {
    let s = schedule();
    // A worker left at 1.32 cannot meet phase 2's floor (1.32 is fine for phase 1's 1.31,
    // but the control plane is already at 1.34.5, so phase 2 is next and needs 1.32).
    let e = next(&s, &dump("v1.34.5", ["v1.33.9", "v1.31.0"])).unwrap_err();
    assert_eq!(
        e,
        PlanError::TooOld {
            phase: 2,
            to: "v1.35.3".into(),
            floor: 32,
            nodes: "w-1 (kubelet v1.31.0)".into()
        }
    );
    assert!(e.to_string().contains("w-1 (kubelet v1.31.0)"), "{e}");
    // kube-proxy's DaemonSet left behind is refused too.
    let mut d = dump("v1.35.3", ["v1.33.9", "v1.33.9"]);
    d.kube_proxy_image = Some("registry.k8s.io/kube-proxy:v1.32.4".into());
    let e = next(&s, &d).unwrap_err().to_string();
    assert!(
        e.contains("kube-proxy DaemonSet (registry.k8s.io/kube-proxy:v1.32.4)"),
        "{e}"
    );
    // A control plane the schedule does not know.
    let e = next(&s, &dump("v1.30.0", ["v1.30.0", "v1.30.0"])).unwrap_err();
    assert!(matches!(e, PlanError::OffSchedule { .. }), "{e}");
}
