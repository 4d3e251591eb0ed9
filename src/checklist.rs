//! The ordered upgrade checklist of one hop, as data.
//!
//! Each step has a stable id (`pre.snapshot`, `cp1.apply`, `backout.etcd-restore`, ...) so
//! runbooks, tickets and tools can refer to it. Commands use two shell variables the
//! operator sets on each node: `AIRLOCK_DEST` (the `--dest` directory `airlock-verify
//! install` wrote files under), `AIRLOCK_REGISTRY` (the enclave registry and `--prefix`
//! the bundle was installed into, which kubeadm's `imageRepository` must name) and
//! `ARCH` (`amd64` or `arm64`); and `NODE` for the node being worked on. Every tool a step
//! runs is on a kubeadm node already or carried in the bundle: etcdctl and etcdutl run
//! from the etcd image (`crictl exec` into the running pod, `ctr run` when it is stopped),
//! never from the node's PATH.

use crate::catalog::{Catalog, Version};
use crate::manifest::{Phase, Step};

/// A tool archive carried in the bundle (`crictl`, `cni-plugins`).
#[derive(Debug, Clone)]
pub struct ToolFile {
    /// Tool name.
    pub name: String,
    /// Target below `AIRLOCK_DEST`, with `${ARCH}` in place of the architecture.
    pub target: String,
}

/// What the checklist is built from.
#[derive(Debug, Clone)]
pub struct ChecklistInput<'a> {
    /// The catalog.
    pub catalog: &'a Catalog,
    /// The version the cluster runs.
    pub from: Version,
    /// The version the hop goes to.
    pub to: Version,
    /// Whether the bundle carries the back-out set.
    pub backout: bool,
    /// Target-minor tools in the bundle.
    pub tools: Vec<ToolFile>,
    /// Manifests from the hop manifest to apply after the control planes (targets).
    pub addon_manifests: Vec<String>,
    /// Workers upgraded at once.
    pub worker_batch: u32,
}

fn step(id: &str, title: impl Into<String>, commands: &[&str], check: Option<&str>) -> Step {
    Step {
        id: id.to_string(),
        phase: phase_of(id),
        title: title.into(),
        commands: commands.iter().map(|c| c.to_string()).collect(),
        check: check.map(str::to_string),
    }
}

/// The phase named by a step id's prefix. Ids are this module's own constants, so an
/// unknown prefix is a bug caught by the unit tests.
fn phase_of(id: &str) -> Phase {
    match id.split('.').next().unwrap_or(id) {
        "pre" => Phase::Pre,
        "cp1" => Phase::Cp1,
        "cp" => Phase::Cp,
        "cni" => Phase::Cni,
        "workers" => Phase::Workers,
        "post" => Phase::Post,
        _ => Phase::Backout,
    }
}

fn install_bin(version: &Version, name: &str) -> String {
    format!(
        "install -m 0755 \"${{AIRLOCK_DEST}}/bin/{version}/linux/${{ARCH}}/{name}\" /usr/bin/{name}"
    )
}

/// etcdctl as kubeadm nodes have it: inside the running etcd static pod (the etcd image
/// carries etcdctl and etcdutl; the node does not), with the pod's own certificates.
const ETCDCTL: &str = "crictl exec \"$(crictl ps --name etcd -q | head -n1)\" etcdctl \
--endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt \
--cert=/etc/kubernetes/pki/etcd/server.crt --key=/etc/kubernetes/pki/etcd/server.key";

/// etcdutl from the etcd image itself, for when etcd is stopped (containerd's `ctr` is on
/// every containerd node; the image is already in its store).
const ETCDUTL_OFFLINE: &str = "ctr -n k8s.io run --rm \
--mount type=bind,src=/var/lib,dst=/var/lib,options=rbind:rw \"$ETCD_IMAGE\" airlock-etcdutl etcdutl";

/// The values every phase's steps use.
struct Ctx {
    minor_hop: bool,
    snapshot: String,
    conf_backup: String,
}

/// Build the ordered checklist, phase by phase.
pub fn build(input: &ChecklistInput<'_>) -> Vec<Step> {
    let (from, to) = (input.from, input.to);
    let c = Ctx {
        minor_hop: to.minor != from.minor,
        snapshot: format!("/var/lib/airlock/etcd-before-{to}.db"),
        conf_backup: format!("/var/lib/airlock/etc-kubernetes-before-{to}"),
    };
    let mut s = Vec::new();
    pre_checks(input, &c, &mut s);
    first_control_plane(input, &c, &mut s);
    other_control_planes(input, &c, &mut s);
    workers(input, &c, &mut s);
    cni_and_tools(input, &c, &mut s);
    post_checks(input, &c, &mut s);
    backout(input, &c, &mut s);
    s
}

/// Before the window: the cluster is what the hop expects, and can be restored.
fn pre_checks(input: &ChecklistInput<'_>, c: &Ctx, s: &mut Vec<Step>) {
    let (from, to) = (input.from, input.to);
    let (snapshot, conf_backup) = (&c.snapshot, &c.conf_backup);
    s.push(step(
        "pre.version",
        format!("Confirm the cluster runs {from}"),
        &["kubectl version", "kubectl get nodes -o wide"],
        Some(&format!(
            "the server version and every node's kubelet version are {from}"
        )),
    ));
    let skew = &input.catalog.skew;
    let oldest_kubelet = to.minor.saturating_sub(skew.kubelet_max_minors_older);
    s.push(step(
        "pre.skew",
        format!("Check version skew against {to}"),
        &[
            "kubectl get nodes -o custom-columns=NAME:.metadata.name,KUBELET:.status.nodeInfo.kubeletVersion,PROXY:.status.nodeInfo.kubeProxyVersion",
            "kubectl version --client",
        ],
        Some(&format!(
            "every kubelet and kube-proxy is v1.{oldest_kubelet} or newer (at most {} minors older than {to}) and none is newer than {from}; kubectl is within {} minor of the API server",
            skew.kubelet_max_minors_older, skew.kubectl_max_minors_skew
        )),
    ));
    let removed: Vec<_> = if c.minor_hop {
        input
            .catalog
            .minor_of(&to)
            .map(|m| m.removed_apis.clone())
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    if removed.is_empty() {
        s.push(step(
            "pre.removed-apis",
            format!(
                "No API version stops being served in {} (per the catalog)",
                to.minor_key()
            ),
            &[],
            None,
        ));
    } else {
        let mut commands = Vec::new();
        let mut what = Vec::new();
        for r in &removed {
            if !r.partial {
                commands.push(format!("kubectl get --raw /apis/{}", r.group_version));
            }
            for k in &r.kinds {
                commands.push(format!(
                    "grep -rln --include='*.yaml' --include='*.yml' --include='*.json' 'apiVersion: {}' YOUR_MANIFESTS_AND_CHARTS  # {k}",
                    r.group_version
                ));
            }
            if !r.kinds.is_empty() {
                commands.push(format!(
                    "kubectl get {} -A -o yaml | grep -c '{}' || true  # last-applied-configuration annotations",
                    r.kinds.iter().map(|k| k.to_lowercase()).collect::<Vec<_>>().join(","),
                    r.group_version
                ));
            }
            let instead = match (&r.replacement, r.partial) {
                (Some(rep), _) => format!(" -> {rep}"),
                (None, true) => " (the group/version stays; these kinds go)".to_string(),
                (None, false) => " (no replacement)".to_string(),
            };
            what.push(format!(
                "{} ({}){instead}",
                r.group_version,
                r.kinds.join(", "),
            ));
        }
        let cmd_refs: Vec<&str> = commands.iter().map(String::as_str).collect();
        s.push(step(
            "pre.removed-apis",
            format!(
                "Move objects off the API versions {} no longer serves: {}",
                to.minor_key(),
                what.join("; ")
            ),
            &cmd_refs,
            Some("no manifest, Helm chart or last-applied-configuration annotation uses a removed API version"),
        ));
    }
    s.push(step(
        "pre.snapshot",
        "Take an etcd snapshot and copy /etc/kubernetes (on the first control plane)",
        &[
            "mkdir -p /var/lib/airlock",
            // The pod mounts /var/lib/etcd from the node: save there, then move it out.
            &format!("{ETCDCTL} snapshot save /var/lib/etcd/airlock-snapshot.db"),
            &format!("mv /var/lib/etcd/airlock-snapshot.db {snapshot}"),
            "ETCD_IMAGE=$(awk '/image:/ {print $2; exit}' /etc/kubernetes/manifests/etcd.yaml)",
            &format!("{ETCDUTL_OFFLINE} snapshot status {snapshot} -w table"),
            &format!("cp -a /etc/kubernetes {conf_backup}"),
        ],
        Some("the snapshot status shows a non-zero revision and key count; copy the snapshot off the node"),
    ));
    s.push(step(
        "pre.disk",
        "Check free disk space on every node",
        &["df -h / /var/lib/etcd /var/lib/containerd /var/lib/kubelet /var/lib/airlock"],
        Some("enough free space for the new images and binaries plus the etcd snapshot (at least twice the etcd database size)"),
    ));
    s.push(step(
        "pre.image-repository",
        "Check kubeadm pulls from the enclave registry the bundle was installed into",
        &["kubectl -n kube-system get configmap kubeadm-config -o jsonpath='{.data.ClusterConfiguration}' | grep imageRepository"],
        Some("imageRepository is ${AIRLOCK_REGISTRY} (the registry and --prefix of airlock-verify install); airlock-verify preflight checks the same"),
    ));
    s.push(step(
        "pre.images",
        format!("Before the window, every node: pre-pull the {to} images from the enclave registry"),
        &[
            &format!(
                "\"${{AIRLOCK_DEST}}/bin/{to}/linux/${{ARCH}}/kubeadm\" config images pull --kubernetes-version {to} --image-repository \"${{AIRLOCK_REGISTRY}}\""
            ),
            &format!(
                "\"${{AIRLOCK_DEST}}/bin/{to}/linux/${{ARCH}}/kubeadm\" config images list --kubernetes-version {to} --image-repository \"${{AIRLOCK_REGISTRY}}\""
            ),
        ],
        Some("every image pulls from the enclave registry; no node reaches outside the enclave during the window"),
    ));
}

/// The first control-plane node: kubeadm upgrade apply.
fn first_control_plane(input: &ChecklistInput<'_>, _: &Ctx, s: &mut Vec<Step>) {
    let to = input.to;
    s.push(step(
        "cp1.kubeadm",
        format!("First control plane: install kubeadm {to}"),
        &[&install_bin(&to, "kubeadm"), "kubeadm version -o short"],
        Some(&format!("prints {to}")),
    ));
    s.push(step(
        "cp1.plan",
        "First control plane: check the upgrade plan",
        &[&format!("kubeadm upgrade plan {to}")],
        Some(&format!(
            "the plan offers {to} and shows no errors; note the etcd version (kubeadm never downgrades etcd)"
        )),
    ));
    s.push(step(
        "cp1.apply",
        format!("First control plane: upgrade to {to}"),
        &[&format!("kubeadm upgrade apply {to}")],
        Some(&format!(
            "[upgrade/successful] SUCCESS! Your cluster was upgraded to \"{to}\""
        )),
    ));
    s.push(step(
        "cp1.drain",
        "First control plane: drain the node",
        &["kubectl drain \"${NODE}\" --ignore-daemonsets --delete-emptydir-data"],
        None,
    ));
    s.push(step(
        "cp1.kubelet",
        format!("First control plane: install kubelet and kubectl {to}"),
        &[&install_bin(&to, "kubelet"), &install_bin(&to, "kubectl")],
        None,
    ));
    s.push(step(
        "cp1.restart",
        "First control plane: restart kubelet",
        &["systemctl daemon-reload && systemctl restart kubelet"],
        Some("systemctl is-active kubelet prints active"),
    ));
    s.push(step(
        "cp1.uncordon",
        "First control plane: uncordon the node",
        &[
            "kubectl uncordon \"${NODE}\"",
            "kubectl get node \"${NODE}\"",
        ],
        Some(&format!("the node is Ready with version {to}")),
    ));
}

/// The other control-plane nodes: kubeadm upgrade node.
fn other_control_planes(input: &ChecklistInput<'_>, _: &Ctx, s: &mut Vec<Step>) {
    let to = input.to;
    s.push(step(
        "cp.kubeadm",
        format!("Each other control plane, one at a time: install kubeadm {to}"),
        &[&install_bin(&to, "kubeadm")],
        None,
    ));
    s.push(step(
        "cp.upgrade",
        "Each other control plane: upgrade the node",
        &["kubeadm upgrade node"],
        Some("[upgrade] The control plane instance for this node was successfully updated!"),
    ));
    s.push(step(
        "cp.drain",
        "Each other control plane: drain the node",
        &["kubectl drain \"${NODE}\" --ignore-daemonsets --delete-emptydir-data"],
        None,
    ));
    s.push(step(
        "cp.kubelet",
        "Each other control plane: install kubelet and kubectl, restart kubelet",
        &[
            &install_bin(&to, "kubelet"),
            &install_bin(&to, "kubectl"),
            "systemctl daemon-reload && systemctl restart kubelet",
        ],
        None,
    ));
    s.push(step(
        "cp.uncordon",
        "Each other control plane: uncordon the node",
        &["kubectl uncordon \"${NODE}\""],
        Some(&format!("the node is Ready with version {to}")),
    ));
}

/// Worker nodes, a batch at a time.
fn workers(input: &ChecklistInput<'_>, _: &Ctx, s: &mut Vec<Step>) {
    let to = input.to;
    let batch = input.worker_batch.max(1);
    let w = |t: &str| format!("Workers, {batch} at a time: {t}");
    s.push(step(
        "workers.kubeadm",
        w(&format!(
            "install kubeadm {to} and upgrade the node configuration"
        )),
        &[&install_bin(&to, "kubeadm"), "kubeadm upgrade node"],
        None,
    ));
    s.push(step(
        "workers.drain",
        w("drain the batch"),
        &["kubectl drain \"${NODE}\" --ignore-daemonsets --delete-emptydir-data"],
        Some("PodDisruptionBudgets are respected; the drain finishes"),
    ));
    s.push(step(
        "workers.kubelet",
        w("install kubelet and kubectl, restart kubelet"),
        &[
            &install_bin(&to, "kubelet"),
            &install_bin(&to, "kubectl"),
            "systemctl daemon-reload && systemctl restart kubelet",
        ],
        None,
    ));
    s.push(step(
        "workers.uncordon",
        w("uncordon the batch, then go on with the next batch"),
        &["kubectl uncordon \"${NODE}\""],
        Some(&format!(
            "the nodes are Ready with version {to} before the next batch starts"
        )),
    ));
}

/// The CNI and node tools carried in the bundle.
fn cni_and_tools(input: &ChecklistInput<'_>, _: &Ctx, s: &mut Vec<Step>) {
    let mut commands = Vec::new();
    for t in &input.tools {
        match t.name.as_str() {
            "cni-plugins" => commands.push(format!(
                "mkdir -p /opt/cni/bin && tar -C /opt/cni/bin -xzf \"${{AIRLOCK_DEST}}/{}\"",
                t.target
            )),
            "crictl" => commands.push(format!(
                "tar -C /usr/local/bin -xzf \"${{AIRLOCK_DEST}}/{}\" crictl",
                t.target
            )),
            _ => commands.push(format!("# {}: \"${{AIRLOCK_DEST}}/{}\"", t.name, t.target)),
        }
    }
    let refs: Vec<&str> = commands.iter().map(String::as_str).collect();
    s.push(step(
        "cni.plugins",
        "Every node: install the CNI plugins and crictl for this minor",
        &refs,
        Some("crictl --version prints the bundled version"),
    ));
    let applies: Vec<String> = input
        .addon_manifests
        .iter()
        .map(|t| format!("kubectl apply -f \"${{AIRLOCK_DEST}}/{t}\""))
        .collect();
    let refs: Vec<&str> = applies.iter().map(String::as_str).collect();
    s.push(step(
        "cni.upgrade",
        "Upgrade the CNI and add-ons if their release notes require it for this Kubernetes version",
        &refs,
        Some("the CNI pods are Running on every node; new pods get addresses"),
    ));
}

/// After the hop: the checks that say it worked.
fn post_checks(input: &ChecklistInput<'_>, _: &Ctx, s: &mut Vec<Step>) {
    let to = input.to;
    s.push(step(
        "post.versions",
        format!("Confirm every component runs {to}"),
        &["kubectl version", "kubectl get nodes -o wide"],
        Some(&format!("the server and every node report {to}")),
    ));
    s.push(step(
        "post.pods",
        "Confirm workloads recovered",
        &[
            "kubectl get pods -A --field-selector=status.phase!=Running,status.phase!=Succeeded",
            "kubectl -n kube-system get pods -o wide",
        ],
        Some("no pod is Pending, CrashLoopBackOff or Failed that was healthy before the hop"),
    ));
    s.push(step(
        "post.etcd",
        "Confirm etcd is healthy",
        &[&format!("{ETCDCTL} endpoint health --cluster")],
        Some("every member reports healthy"),
    ));
}

/// The back-out plan.
fn backout(input: &ChecklistInput<'_>, c: &Ctx, s: &mut Vec<Step>) {
    let (from, to) = (input.from, input.to);
    let (snapshot, conf_backup) = (&c.snapshot, &c.conf_backup);
    s.push(step(
        "backout.stop",
        "Back-out, every control plane: stop the control plane",
        &[
            "systemctl stop kubelet",
            "mv /etc/kubernetes/manifests /etc/kubernetes/manifests.failed",
        ],
        Some("crictl ps shows no kube-apiserver or etcd container"),
    ));
    s.push(step(
        "backout.etcd-restore",
        format!("Back-out: restore the etcd snapshot taken before {to} (each member, with its own --name and --initial-cluster)"),
        &[
            &format!("ETCD_IMAGE=$(awk '/image:/ {{print $2; exit}}' {conf_backup}/manifests/etcd.yaml)"),
            "mv /var/lib/etcd /var/lib/etcd.failed",
            &format!("{ETCDUTL_OFFLINE} snapshot restore {snapshot} --data-dir /var/lib/etcd"),
            &format!("rm -rf /etc/kubernetes/manifests && cp -a {conf_backup}/manifests /etc/kubernetes/manifests"),
        ],
        Some("the static pod manifests name the previous images again"),
    ));
    if input.backout {
        s.push(step(
            "backout.binaries",
            format!("Back-out, every node: reinstall the {from} binaries from the bundle"),
            &[
                &install_bin(&from, "kubeadm"),
                &install_bin(&from, "kubelet"),
                &install_bin(&from, "kubectl"),
                "systemctl daemon-reload && systemctl restart kubelet",
            ],
            Some(&format!("kubelet --version prints Kubernetes {from}")),
        ));
        s.push(step(
            "backout.images",
            format!("Back-out: check the previous ({from}) images are in the enclave registry"),
            &[&format!(
                "kubeadm config images list --kubernetes-version {from}"
            )],
            Some("every listed image was installed from this bundle (role backout) or is still in the registry"),
        ));
    } else {
        s.push(step(
            "backout.binaries",
            format!("Back-out: this bundle does not carry the {from} binaries and images (--no-backout); reinstall them from the bundle that brought the cluster to {from}"),
            &[],
            None,
        ));
    }
    s.push(step(
        "backout.verify",
        format!("Back-out: confirm the cluster runs {from} again"),
        &["kubectl version", "kubectl get nodes -o wide"],
        Some(&format!("the server and every node report {from}")),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_ordered() {
        let c = Catalog::builtin().unwrap();
        let steps = build(&ChecklistInput {
            catalog: &c,
            from: "v1.31.14".parse().unwrap(),
            to: "v1.32.2".parse().unwrap(),
            backout: true,
            tools: vec![],
            addon_manifests: vec!["addons/calico.yaml".into()],
            worker_batch: 2,
        });
        let ids: Vec<&str> = steps.iter().map(|s| s.id.as_str()).collect();
        let set: std::collections::BTreeSet<_> = ids.iter().collect();
        assert_eq!(set.len(), ids.len());
        let pos = |id: &str| ids.iter().position(|x| *x == id).unwrap();
        assert!(pos("pre.snapshot") < pos("cp1.apply"));
        assert!(pos("cp1.apply") < pos("cp.upgrade"));
        assert!(pos("cp.upgrade") < pos("workers.drain"));
        assert!(pos("workers.uncordon") < pos("cni.upgrade"));
        assert!(pos("post.pods") < pos("backout.etcd-restore"));
        let removed = &steps[pos("pre.removed-apis")];
        assert!(
            removed
                .title
                .contains("flowcontrol.apiserver.k8s.io/v1beta3")
        );
        let apply = &steps[pos("cp1.apply")];
        assert_eq!(apply.commands, vec!["kubeadm upgrade apply v1.32.2"]);
        assert!(steps[pos("backout.binaries")].commands[0].contains("bin/v1.31.14/linux/"));
        let json = serde_json::to_value(&steps).unwrap();
        assert!(json.is_array());
    }
}
