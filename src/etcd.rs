//! The members of a kubeadm cluster's stacked etcd, for a runbook that restores every one
//! of them. Read from each control plane's static pod manifest
//! (`/etc/kubernetes/manifests/etcd.yaml`) or from `kubectl -n kube-system get pods -l
//! component=etcd -o json` (the mirror pods carry the same command line): the `etcd`
//! container's `--name`, `--initial-advertise-peer-urls`, `--data-dir` and
//! `--initial-cluster-token`.
//!
//! A restore must give every member the same `--initial-cluster` listing all of them
//! (etcd's disaster-recovery procedure); kubeadm writes a joined member's manifest with
//! only the members present when it joined, so the list is built from every member's own
//! name and peer URL rather than copied from one manifest.

use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};

/// Largest manifest or pod list read (a pod list of three etcd pods is tens of KiB).
pub const MAX_ETCD_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;

/// One etcd member.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EtcdMember {
    /// `--name` (kubeadm: the node name).
    pub name: String,
    /// `--initial-advertise-peer-urls` (`https://10.0.0.11:2380`).
    pub peer_url: String,
    /// `--data-dir` (kubeadm: `/var/lib/etcd`).
    pub data_dir: String,
}

/// Every member, in the order given, and the cluster token when one is set.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EtcdCluster {
    /// The members.
    pub members: Vec<EtcdMember>,
    /// `--initial-cluster-token`, when the manifests set one (etcd's default otherwise).
    pub token: Option<String>,
}

impl EtcdCluster {
    /// `--initial-cluster` for a restore: every member's `name=peer-url`.
    pub fn initial_cluster(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer_url))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Read the members from static pod manifests or pod lists (YAML or JSON).
    pub fn from_files(paths: &[impl AsRef<Path>]) -> Result<Option<EtcdCluster>> {
        let mut members: Vec<EtcdMember> = Vec::new();
        let mut token = None;
        for p in paths {
            let p = p.as_ref();
            let bytes = crate::fsutil::read_limited(p, MAX_ETCD_MANIFEST_BYTES, "etcd manifest")?;
            let origin = p.display().to_string();
            for (m, t) in members_of(&bytes, &origin)? {
                if members.iter().any(|x| x.name == m.name) {
                    return Err(Error::invalid(
                        "etcd manifest",
                        &origin,
                        format!("member {:?} is given twice", m.name),
                    ));
                }
                members.push(m);
                token = token.or(t);
            }
        }
        Ok((!members.is_empty()).then_some(EtcdCluster { members, token }))
    }
}

/// The members one file describes: a Pod, or a List of Pods, YAML or JSON.
pub fn members_of(bytes: &[u8], origin: &str) -> Result<Vec<(EtcdMember, Option<String>)>> {
    let bad = |reason: String| Error::invalid("etcd manifest", origin, reason);
    let text = std::str::from_utf8(bytes).map_err(|_| bad("not UTF-8".into()))?;
    let doc: Value =
        serde_saphyr::from_str(text).map_err(|e| bad(format!("not YAML or JSON: {e}")))?;
    let pods: Vec<&Value> = match doc.get("items").and_then(Value::as_array) {
        Some(items) => items.iter().collect(),
        None => vec![&doc],
    };
    let mut out = Vec::new();
    for pod in pods {
        if pod.get("kind").and_then(Value::as_str) != Some("Pod") {
            continue;
        }
        let containers = pod["spec"]["containers"].as_array();
        let Some(etcd) = containers
            .into_iter()
            .flatten()
            .find(|c| c["name"].as_str() == Some("etcd"))
        else {
            continue;
        };
        let args: Vec<&str> = ["command", "args"]
            .iter()
            .filter_map(|k| etcd[*k].as_array())
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let flag = |name: &str| {
            let prefix = format!("--{name}=");
            args.iter()
                .find_map(|a| a.strip_prefix(prefix.as_str()))
                .map(str::to_string)
        };
        let need = |name: &str| {
            flag(name)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| bad(format!("the etcd container has no --{name}=")))
        };
        let peer = need("initial-advertise-peer-urls")?;
        out.push((
            EtcdMember {
                name: need("name")?,
                // Several URLs are allowed; the first is the one the cluster list names.
                peer_url: peer.split(',').next().unwrap_or(&peer).to_string(),
                data_dir: flag("data-dir").unwrap_or_else(|| "/var/lib/etcd".into()),
            },
            flag("initial-cluster-token"),
        ));
    }
    if out.is_empty() {
        return Err(bad(
            "no Pod with an etcd container (give /etc/kubernetes/manifests/etcd.yaml or `kubectl -n kube-system get pods -l component=etcd -o json`)".into(),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A static pod manifest as kubeadm writes it for a joined member.
    fn manifest(name: &str, ip: &str, cluster: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: etcd\n  namespace: kube-system\nspec:\n  containers:\n  - command:\n    - etcd\n    - --advertise-client-urls=https://{ip}:2379\n    - --data-dir=/var/lib/etcd\n    - --initial-advertise-peer-urls=https://{ip}:2380\n    - --initial-cluster={cluster}\n    - --initial-cluster-state=existing\n    - --name={name}\n    image: registry.k8s.io/etcd:3.5.15-0\n    name: etcd\n"
        )
    }

    #[test]
    fn members_come_from_each_manifest_and_the_cluster_list_names_all() {
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<_> = [
            ("cp1", "10.0.0.11", "cp1=https://10.0.0.11:2380"),
            (
                "cp2",
                "10.0.0.12",
                "cp1=https://10.0.0.11:2380,cp2=https://10.0.0.12:2380",
            ),
        ]
        .iter()
        .map(|(n, ip, c)| {
            let p = dir.path().join(format!("{n}.yaml"));
            std::fs::write(&p, manifest(n, ip, c)).unwrap();
            p
        })
        .collect();
        let json = dir.path().join("pods.json");
        let pods = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"name": "etcd",
              "command": ["etcd", "--name=cp3", "--initial-advertise-peer-urls=https://10.0.0.13:2380",
                          "--data-dir=/data/etcd", "--initial-cluster-token=tok"]}]}}]});
        std::fs::write(&json, pods.to_string()).unwrap();
        let mut all = files.clone();
        all.push(json);
        let c = EtcdCluster::from_files(&all).unwrap().unwrap();
        assert_eq!(c.members.len(), 3);
        assert_eq!(c.members[2].data_dir, "/data/etcd");
        assert_eq!(c.token.as_deref(), Some("tok"));
        assert_eq!(
            c.initial_cluster(),
            "cp1=https://10.0.0.11:2380,cp2=https://10.0.0.12:2380,cp3=https://10.0.0.13:2380"
        );
        let e = EtcdCluster::from_files(&[&files[0], &files[0]])
            .unwrap_err()
            .to_string();
        assert!(e.contains("given twice"), "{e}");
        std::fs::write(
            &files[1],
            "apiVersion: v1\nkind: Pod\nspec: {containers: [{name: etcd, command: [etcd]}]}\n",
        )
        .unwrap();
        let e = EtcdCluster::from_files(&[&files[1]])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("cp2.yaml") && e.contains("--initial-advertise-peer-urls"),
            "{e}"
        );
        let none: [&Path; 0] = [];
        assert!(EtcdCluster::from_files(&none).unwrap().is_none());
    }

    proptest::proptest! {
        #[test]
        fn reading_never_panics(s in "\\PC{0,300}") {
            let _ = members_of(s.as_bytes(), "p");
        }
    }
}
