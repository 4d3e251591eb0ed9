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

pub mod estimate;

use crate::catalog::{Catalog, Version};
use crate::manifest::{PackageFormat, Phase, Step};
use airlock_verify::escape::Untrusted;
use airlock_verify::install::mirror::{APT_KEYRING, RPM_KEY};

/// The one way a value enters a command: as exactly one shell word (`shlex` quotes only
/// what needs it, so plain names read as they are). The runbook is signed and run by an
/// operator, so a value from a chart, a hop manifest or the catalog must never become
/// shell syntax. A NUL cannot be part of any shell word; it is shown escaped instead
/// (no value airlock accepts holds one).
pub fn quote(value: &str) -> String {
    match shlex::try_quote(value) {
        Ok(q) => q.into_owned(),
        Err(_) => quote(&value.replace('\0', "\\u{0}")),
    }
}

/// A file below `${AIRLOCK_DEST}`, as one shell word.
fn under_dest(target: &str) -> String {
    format!("\"${{AIRLOCK_DEST}}\"/{}", quote(target))
}

/// Text in a `#` comment: a newline would end the comment and start a command, so it is
/// shown the way every untrusted name is shown (printable ASCII only).
fn comment(text: &str) -> String {
    Untrusted(text).to_string()
}

/// A tool archive carried in the bundle (`crictl`, `cni-plugins`).
#[derive(Debug, Clone)]
pub struct ToolFile {
    /// Tool name.
    pub name: String,
    /// Target below `AIRLOCK_DEST`, with `${ARCH}` in place of the architecture.
    pub target: String,
}

/// The node packages a bundle carries in one format (`airlock resolve --packages`): the
/// package steps replace the loose-binary ones.
#[derive(Debug, Clone)]
pub struct PackageSource {
    /// `deb` or `rpm`.
    pub format: PackageFormat,
    /// The target minor's mirror below the packages directory (`v1.30/deb`).
    pub to_dir: String,
    /// The `from` minor's mirror, when the back-out set is carried.
    pub from_dir: Option<String>,
    /// The cri-tools version carried for the target.
    pub cri_tools: String,
    /// The kubernetes-cni version carried for the target.
    pub kubernetes_cni: String,
}

/// A Helm chart the bundle carries, for `helm upgrade`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelmChart {
    /// The chart's name (the release name used in the command).
    pub name: String,
    /// Its version.
    pub version: String,
    /// Where it is inside the enclave.
    pub at: HelmChartAt,
}

/// Where a carried chart is inside the enclave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HelmChartAt {
    /// An OCI artifact in the enclave registry, at this repository path.
    Registry(String),
    /// A `.tgz` file at this target below `--dest`.
    File(String),
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
    /// Helm charts from the hop manifests, upgraded after the manifests.
    pub addon_charts: Vec<HelmChart>,
    /// Workers upgraded at once.
    pub worker_batch: u32,
    /// Node packages carried, per format (empty: loose binaries).
    pub packages: Vec<PackageSource>,
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

/// A version as a command argument.
fn ver(version: &Version) -> String {
    quote(&version.to_string())
}

/// A binary of `version` carried below `${AIRLOCK_DEST}`, for the node's `${ARCH}`.
fn bin_path(version: &Version, name: &str) -> String {
    format!(
        "{}/\"${{ARCH}}\"/{}",
        under_dest(&format!("bin/{version}/linux")),
        quote(name)
    )
}

fn install_bin(version: &Version, name: &str) -> String {
    format!(
        "install -m 0755 {} {}",
        bin_path(version, name),
        quote(&format!("/usr/bin/{name}"))
    )
}

/// Commands that put `names` of `version` in place on a node: the loose binaries from
/// `${AIRLOCK_DEST}`, or, when packages are carried, the official package procedure
/// (unhold, install the version, hold again; `--allow-downgrades`/`downgrade` to go back).
fn install_cmds(
    input: &ChecklistInput<'_>,
    names: &[&str],
    version: &Version,
    back: bool,
) -> Vec<String> {
    if input.packages.is_empty() {
        return names.iter().map(|n| install_bin(version, n)).collect();
    }
    let v = format!("1.{}.{}", version.minor, version.patch);
    let both = input.packages.len() > 1;
    let mut out = Vec::new();
    for p in &input.packages {
        match p.format {
            PackageFormat::Deb => {
                if both {
                    out.push("# apt (deb) nodes:".into());
                }
                let list = names.iter().map(|n| quote(n)).collect::<Vec<_>>().join(" ");
                let pins: Vec<String> = names
                    .iter()
                    .map(|n| format!("{}={}", quote(n), quote(&format!("{v}-*"))))
                    .collect();
                out.push(format!(
                    "apt-mark unhold {list} && apt-get update && apt-get install -y {}{} && apt-mark hold {list}",
                    if back { "--allow-downgrades " } else { "" },
                    pins.join(" ")
                ));
            }
            PackageFormat::Rpm => {
                if both {
                    out.push("# dnf/yum (rpm) nodes:".into());
                }
                let pins: Vec<String> = names
                    .iter()
                    .map(|n| format!("{}-{}", quote(n), quote(&format!("{v}-*"))))
                    .collect();
                out.push(format!(
                    "yum {} -y {} --disableexcludes=kubernetes",
                    if back { "downgrade" } else { "install" },
                    pins.join(" ")
                ));
            }
        }
    }
    out
}

/// Commands that point a node's package manager at the mirror directory `dir` of each
/// carried format (`to_dir` or `from_dir`), below `${AIRLOCK_PACKAGES_URL}`.
fn point_at_mirror(
    input: &ChecklistInput<'_>,
    dir_of: impl Fn(&PackageSource) -> Option<String>,
) -> Vec<String> {
    let both = input.packages.len() > 1;
    let mut out = Vec::new();
    for p in &input.packages {
        let Some(dir) = dir_of(p) else { continue };
        match p.format {
            PackageFormat::Deb => {
                if both {
                    out.push("# apt (deb) nodes:".into());
                }
                // The line `airlock_verify::install::mirror::apt_source_line` writes, with
                // the directory passed as an argument rather than spliced into the text.
                out.push(format!(
                    "printf 'deb [signed-by=%s] %s/%s/ /\\n' {} \"${{AIRLOCK_PACKAGES_URL}}\" {} > /etc/apt/sources.list.d/kubernetes.list",
                    quote(APT_KEYRING),
                    quote(&dir)
                ));
                out.push("apt-get update".into());
                out.push("apt-cache madison kubeadm kubelet kubectl".into());
            }
            PackageFormat::Rpm => {
                if both {
                    out.push("# dnf/yum (rpm) nodes:".into());
                }
                out.push(format!(
                    "printf '[kubernetes]\\nname=Kubernetes\\nbaseurl=%s/%s/\\nenabled=1\\ngpgcheck=1\\nrepo_gpgcheck=1\\ngpgkey=file://%s\\nexclude=kubelet kubeadm kubectl cri-tools kubernetes-cni\\n' \"${{AIRLOCK_PACKAGES_URL}}\" {} {} > /etc/yum.repos.d/kubernetes.repo",
                    quote(&dir),
                    quote(RPM_KEY)
                ));
                out.push("yum makecache".into());
                out.push("yum list --showduplicates kubeadm kubelet kubectl --disableexcludes=kubernetes".into());
            }
        }
    }
    out
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
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
        snapshot: quote(&format!("/var/lib/airlock/etcd-before-{to}.db")),
        conf_backup: quote(&format!("/var/lib/airlock/etc-kubernetes-before-{to}")),
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
                commands.push(format!(
                    "kubectl get --raw {}",
                    quote(&format!("/apis/{}", r.group_version))
                ));
            }
            for k in &r.kinds {
                commands.push(format!(
                    "grep -rln --include='*.yaml' --include='*.yml' --include='*.json' {} YOUR_MANIFESTS_AND_CHARTS  # {}",
                    quote(&format!("apiVersion: {}", r.group_version)),
                    comment(k)
                ));
            }
            if !r.kinds.is_empty() {
                commands.push(format!(
                    "kubectl get {} -A -o yaml | grep -c {} || true  # last-applied-configuration annotations",
                    quote(&r.kinds.iter().map(|k| k.to_lowercase()).collect::<Vec<_>>().join(",")),
                    quote(&r.group_version)
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
                "{} config images pull --kubernetes-version {} --image-repository \"${{AIRLOCK_REGISTRY}}\"",
                bin_path(&to, "kubeadm"),
                ver(&to)
            ),
            &format!(
                "{} config images list --kubernetes-version {} --image-repository \"${{AIRLOCK_REGISTRY}}\"",
                bin_path(&to, "kubeadm"),
                ver(&to)
            ),
        ],
        Some("every image pulls from the enclave registry; no node reaches outside the enclave during the window"),
    ));
    if !input.packages.is_empty() {
        let cmds = point_at_mirror(input, |p| Some(p.to_dir.clone()));
        s.push(step(
            "pre.packages",
            format!(
                "Every node: point the package manager at the enclave's mirror of the {} packages (AIRLOCK_PACKAGES_URL: see the airlock-verify install report)",
                to.minor_key()
            ),
            &refs(&cmds),
            Some(&format!(
                "the update reports no signature error (the key at {APT_KEYRING} or {RPM_KEY} is the repository's Release.key) and lists kubeadm {}",
                &to.to_string()[1..]
            )),
        ));
    }
}

/// The first control-plane node: kubeadm upgrade apply.
fn first_control_plane(input: &ChecklistInput<'_>, _: &Ctx, s: &mut Vec<Step>) {
    let to = input.to;
    let mut cmds = install_cmds(input, &["kubeadm"], &to, false);
    cmds.push("kubeadm version -o short".into());
    s.push(step(
        "cp1.kubeadm",
        format!("First control plane: install kubeadm {to}"),
        &refs(&cmds),
        Some(&format!("prints {to}")),
    ));
    s.push(step(
        "cp1.plan",
        "First control plane: check the upgrade plan",
        &[&format!("kubeadm upgrade plan {}", ver(&to))],
        Some(&format!(
            "the plan offers {to} and shows no errors; note the etcd version (kubeadm never downgrades etcd)"
        )),
    ));
    s.push(step(
        "cp1.apply",
        format!("First control plane: upgrade to {to}"),
        &[&format!("kubeadm upgrade apply {}", ver(&to))],
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
        &refs(&install_cmds(input, &["kubelet", "kubectl"], &to, false)),
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
        &refs(&install_cmds(input, &["kubeadm"], &to, false)),
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
    let mut cmds = install_cmds(input, &["kubelet", "kubectl"], &to, false);
    cmds.push("systemctl daemon-reload && systemctl restart kubelet".into());
    s.push(step(
        "cp.kubelet",
        "Each other control plane: install kubelet and kubectl, restart kubelet",
        &refs(&cmds),
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
    let mut cmds = install_cmds(input, &["kubeadm"], &to, false);
    cmds.push("kubeadm upgrade node".into());
    s.push(step(
        "workers.kubeadm",
        w(&format!(
            "install kubeadm {to} and upgrade the node configuration"
        )),
        &refs(&cmds),
        None,
    ));
    s.push(step(
        "workers.drain",
        w("drain the batch"),
        &["kubectl drain \"${NODE}\" --ignore-daemonsets --delete-emptydir-data"],
        Some("PodDisruptionBudgets are respected; the drain finishes"),
    ));
    let mut cmds = install_cmds(input, &["kubelet", "kubectl"], &to, false);
    cmds.push("systemctl daemon-reload && systemctl restart kubelet".into());
    s.push(step(
        "workers.kubelet",
        w("install kubelet and kubectl, restart kubelet"),
        &refs(&cmds),
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
    if !input.packages.is_empty() {
        package_tools(input, s);
    } else {
        tool_archives(input, s);
    }
    let applies: Vec<String> = input
        .addon_manifests
        .iter()
        .map(|t| format!("kubectl apply -f {}", under_dest(t)))
        .collect();
    let mut applies = applies;
    for c in &input.addon_charts {
        let from = match &c.at {
            HelmChartAt::Registry(repo) => {
                format!(
                    "oci://${{AIRLOCK_REGISTRY}}/{} --version {}",
                    quote(repo),
                    quote(&c.version)
                )
            }
            HelmChartAt::File(target) => under_dest(target),
        };
        applies.push(format!(
            "helm upgrade --install {} {from}   # with the namespace and values of the release today (helm list -A; helm get values {}); --plain-http for a registry without TLS",
            quote(&c.name),
            comment(&c.name)
        ));
    }
    let refs: Vec<&str> = applies.iter().map(String::as_str).collect();
    s.push(step(
        "cni.upgrade",
        "Upgrade the CNI and add-ons if their release notes require it for this Kubernetes version",
        &refs,
        Some("the CNI pods are Running on every node; new pods get addresses"),
    ));
}

/// With packages, cri-tools and kubernetes-cni come from the mirror as dependencies.
fn package_tools(input: &ChecklistInput<'_>, s: &mut Vec<Step>) {
    let mut cmds = Vec::new();
    let mut want = Vec::new();
    for p in &input.packages {
        cmds.push(match p.format {
            PackageFormat::Deb => "dpkg-query -W cri-tools kubernetes-cni".to_string(),
            PackageFormat::Rpm => "rpm -q cri-tools kubernetes-cni".to_string(),
        });
        want.push(format!(
            "cri-tools {} and kubernetes-cni {} ({}) or newer",
            p.cri_tools, p.kubernetes_cni, p.format
        ));
    }
    s.push(step(
        "cni.plugins",
        "Every node: cri-tools and kubernetes-cni came from the package mirror as dependencies of kubeadm and kubelet",
        &refs(&cmds),
        Some(&format!("installed: {}", want.join("; "))),
    ));
}

/// Without packages: the tool archives from `${AIRLOCK_DEST}/tools/`.
fn tool_archives(input: &ChecklistInput<'_>, s: &mut Vec<Step>) {
    let mut commands = Vec::new();
    for t in &input.tools {
        match t.name.as_str() {
            "cni-plugins" => commands.push(format!(
                "mkdir -p /opt/cni/bin && tar -C /opt/cni/bin -xzf {}",
                under_dest(&t.target)
            )),
            "crictl" => commands.push(format!(
                "tar -C /usr/local/bin -xzf {} crictl",
                under_dest(&t.target)
            )),
            _ => commands.push(format!(
                "# {}: ${{AIRLOCK_DEST}}/{}",
                comment(&t.name),
                comment(&t.target)
            )),
        }
    }
    let refs: Vec<&str> = commands.iter().map(String::as_str).collect();
    s.push(step(
        "cni.plugins",
        "Every node: install the CNI plugins and crictl for this minor",
        &refs,
        Some("crictl --version prints the bundled version"),
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
        let mut cmds = Vec::new();
        if from.minor != to.minor {
            cmds = point_at_mirror(input, |p| p.from_dir.clone());
        }
        cmds.extend(install_cmds(
            input,
            &["kubeadm", "kubelet", "kubectl"],
            &from,
            true,
        ));
        cmds.push("systemctl daemon-reload && systemctl restart kubelet".into());
        let what = if input.packages.is_empty() {
            "binaries"
        } else {
            "packages"
        };
        s.push(step(
            "backout.binaries",
            format!("Back-out, every node: reinstall the {from} {what} from the bundle"),
            &refs(&cmds),
            Some(&format!("kubelet --version prints Kubernetes {from}")),
        ));
        s.push(step(
            "backout.images",
            format!("Back-out: check the previous ({from}) images are in the enclave registry"),
            &[&format!(
                "kubeadm config images list --kubernetes-version {}",
                ver(&from)
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
            addon_charts: vec![HelmChart {
                name: "tigera-operator".into(),
                version: "v3.28.1".into(),
                at: HelmChartAt::Registry("charts/tigera-operator".into()),
            }],
            worker_batch: 2,
            packages: vec![],
        });
        let ids: Vec<&str> = steps.iter().map(|s| s.id.as_str()).collect();
        let set: std::collections::BTreeSet<_> = ids.iter().collect();
        assert_eq!(set.len(), ids.len());
        let pos = |id: &str| ids.iter().position(|x| *x == id).unwrap();
        assert!(pos("pre.snapshot") < pos("cp1.apply"));
        assert!(pos("cp1.apply") < pos("cp.upgrade"));
        assert!(pos("cp.upgrade") < pos("workers.drain"));
        assert!(pos("workers.uncordon") < pos("cni.upgrade"));
        let cni = &steps[pos("cni.upgrade")].commands;
        assert!(cni[0].starts_with("kubectl apply -f"));
        assert!(
            cni[1].starts_with("helm upgrade --install tigera-operator oci://${AIRLOCK_REGISTRY}/charts/tigera-operator --version v3.28.1"),
            "{cni:?}"
        );
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

    #[test]
    fn packages_replace_the_loose_binary_steps() {
        let c = Catalog::builtin().unwrap();
        let src = |format, to: &str, from: &str| PackageSource {
            format,
            to_dir: format!("{to}/{format}"),
            from_dir: Some(format!("{from}/{format}")),
            cri_tools: "1.32.0-1.1".into(),
            kubernetes_cni: "1.6.0-1.1".into(),
        };
        let steps = build(&ChecklistInput {
            catalog: &c,
            from: "v1.31.14".parse().unwrap(),
            to: "v1.32.2".parse().unwrap(),
            backout: true,
            tools: vec![],
            addon_manifests: vec![],
            addon_charts: vec![],
            worker_batch: 1,
            packages: vec![
                src(PackageFormat::Deb, "v1.32", "v1.31"),
                src(PackageFormat::Rpm, "v1.32", "v1.31"),
            ],
        });
        let get = |id: &str| {
            steps
                .iter()
                .find(|s| s.id == id)
                .unwrap()
                .commands
                .join("\n")
        };
        let pre = get("pre.packages");
        assert!(pre.contains("printf 'deb [signed-by=%s] %s/%s/ /\\n' /etc/apt/keyrings/kubernetes-apt-keyring.gpg \"${AIRLOCK_PACKAGES_URL}\" v1.32/deb > /etc/apt/sources.list.d/kubernetes.list"), "{pre}");
        assert!(pre.contains("baseurl=%s/%s/"), "{pre}");
        assert!(pre.contains("\"${AIRLOCK_PACKAGES_URL}\" v1.32/rpm /etc/pki/rpm-gpg/kubernetes.key > /etc/yum.repos.d/kubernetes.repo"), "{pre}");
        let cp1 = get("cp1.kubeadm");
        assert!(cp1.contains("apt-mark unhold kubeadm && apt-get update && apt-get install -y kubeadm='1.32.2-*' && apt-mark hold kubeadm"), "{cp1}");
        assert!(
            cp1.contains("yum install -y kubeadm-'1.32.2-*' --disableexcludes=kubernetes"),
            "{cp1}"
        );
        let kubelet = get("workers.kubelet");
        assert!(kubelet.contains("apt-get install -y kubelet='1.32.2-*' kubectl='1.32.2-*' && apt-mark hold kubelet kubectl"), "{kubelet}");
        let back = get("backout.binaries");
        assert!(
            back.contains(
                "\"${AIRLOCK_PACKAGES_URL}\" v1.31/deb > /etc/apt/sources.list.d/kubernetes.list"
            ),
            "{back}"
        );
        assert!(
            back.contains("apt-get install -y --allow-downgrades kubeadm='1.31.14-*'"),
            "{back}"
        );
        assert!(
            back.contains("yum downgrade -y kubeadm-'1.31.14-*'"),
            "{back}"
        );
        assert!(
            !steps
                .iter()
                .any(|s| s.commands.iter().any(|c| c.contains("install -m 0755")))
        );
        assert!(get("cni.plugins").contains("dpkg-query -W cri-tools kubernetes-cni"));
    }

    /// The values the property test puts in every slot of the checklist's input.
    struct Slots(Vec<String>);

    impl Slots {
        fn get(&self, i: usize) -> String {
            self.0[i].clone()
        }
    }

    /// How many values one input takes (see `input_of`).
    const SLOTS: usize = 17;

    /// The checklist of a hop whose every interpolated value is taken from `v`.
    fn steps_of(v: &Slots, packages: bool) -> Vec<Step> {
        let mut c = Catalog::builtin().unwrap();
        let to: Version = "v1.32.2".parse().unwrap();
        let m = c
            .minors
            .iter_mut()
            .find(|m| m.minor == to.minor_key())
            .unwrap();
        m.removed_apis[0].group_version = v.get(15);
        m.removed_apis[0].kinds = vec![v.get(16)];
        m.removed_apis[0].partial = false;
        let src = |format, to_dir: String, from_dir: String| PackageSource {
            format,
            to_dir,
            from_dir: Some(from_dir),
            cri_tools: "1.32.0-1.1".into(),
            kubernetes_cni: "1.6.0-1.1".into(),
        };
        build(&ChecklistInput {
            catalog: &c,
            from: "v1.31.14".parse().unwrap(),
            to,
            backout: true,
            tools: vec![
                ToolFile {
                    name: "cni-plugins".into(),
                    target: v.get(0),
                },
                ToolFile {
                    name: "crictl".into(),
                    target: v.get(1),
                },
                ToolFile {
                    name: v.get(2),
                    target: v.get(3),
                },
            ],
            addon_manifests: vec![v.get(4)],
            addon_charts: vec![
                HelmChart {
                    name: v.get(6),
                    version: v.get(7),
                    at: HelmChartAt::Registry(v.get(5)),
                },
                HelmChart {
                    name: v.get(9),
                    version: v.get(10),
                    at: HelmChartAt::File(v.get(8)),
                },
            ],
            worker_batch: 1,
            packages: if packages {
                vec![
                    src(PackageFormat::Deb, v.get(11), v.get(12)),
                    src(PackageFormat::Rpm, v.get(13), v.get(14)),
                ]
            } else {
                vec![]
            },
        })
    }

    /// Placeholders no hostile value can contain (`z` and `q` are not in its alphabet).
    fn placeholders() -> Slots {
        Slots((0..SLOTS).map(|i| format!("zq{i:02}q")).collect())
    }

    fn words(cmd: &str) -> Vec<String> {
        shlex::split(cmd).unwrap_or_else(|| panic!("not one shell command: {cmd}"))
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Every command of every step, rendered with hostile values, lexes into the same
        /// words as with plain placeholders, each placeholder replaced by its value: no value
        /// adds, splits or swallows a word, or leaves its word.
        #[test]
        fn every_value_stays_one_word(
            values in proptest::collection::vec(
                "[a-c0-9 \t\n;|&$`'\"\\\\*?\\[\\]{}()<>#~!=%,^./:@+_\u{1b}\u{202e}é-]{1,12}",
                SLOTS,
            ),
            packages: bool,
        ) {
            let plain = steps_of(&placeholders(), packages);
            let hostile = steps_of(&Slots(values.clone()), packages);
            proptest::prop_assert_eq!(plain.len(), hostile.len());
            for (p, h) in plain.iter().zip(&hostile) {
                proptest::prop_assert_eq!(p.commands.len(), h.commands.len(), "{}", p.id);
                for (pc, hc) in p.commands.iter().zip(&h.commands) {
                    let expected: Vec<String> = words(pc)
                        .into_iter()
                        .map(|w| {
                            placeholders().0.iter().zip(&values).fold(w, |w, (ph, v)| w.replace(ph.as_str(), v))
                        })
                        .collect();
                    proptest::prop_assert_eq!(expected, words(hc), "{}: {}", p.id, hc);
                }
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(32))]
        /// What `quote` writes, a real POSIX shell (`/bin/sh`) reads back as the value.
        #[test]
        fn a_real_shell_reads_back_every_quoted_value(value in "[^\u{0}]{0,24}") {
            let out = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(format!("printf %s {}", quote(&value)))
                .output()
                .unwrap();
            proptest::prop_assert!(out.status.success());
            proptest::prop_assert_eq!(String::from_utf8_lossy(&out.stdout), value);
        }
    }

    #[test]
    fn the_evil_chart_name_is_one_quoted_word() {
        assert_eq!(
            quote("evil;touch${IFS}pwned;#"),
            "'evil;touch${IFS}pwned;#'"
        );
        assert_eq!(quote("tigera-operator"), "tigera-operator");
        // NUL can be in no shell word: it is shown escaped, still one word.
        assert_eq!(words(&quote("a\0b")), vec!["a\\u{0}b".to_string()]);
    }
}
