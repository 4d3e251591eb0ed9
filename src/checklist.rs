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
//!
//! A value the runbook cannot know (the bundle directory, an etcd member's name when no
//! manifest was given) is a required parameter: a `${NAME:?what to set}` the shell refuses
//! to run without, never placeholder text. A step with nothing to do is left out, and
//! [`Checklist::left_out`] says which and why (the report's JSON carries it).

pub mod estimate;
pub mod two_step;

use crate::catalog::{Catalog, Version};
use crate::etcd::{EtcdCluster, EtcdMember};
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
    /// The etcd members (`--etcd-manifest`), for per-member restore steps; without them
    /// the restore names each member's values as required parameters.
    pub etcd: Option<EtcdCluster>,
}

/// A step the runbook leaves out; the lock's facts carry the list, so it is defined there.
pub use crate::lock::LeftOut;

/// The runbook of one hop.
#[derive(Debug, Clone)]
pub struct Checklist {
    /// The steps, in order; every one has at least one command.
    pub steps: Vec<Step>,
    /// Steps left out.
    pub left_out: Vec<LeftOut>,
}

/// What the phase builders write to.
struct Out {
    steps: Vec<Step>,
    left_out: Vec<LeftOut>,
}

impl Out {
    fn push(&mut self, s: Step) {
        self.steps.push(s);
    }
    fn leave_out(&mut self, id: &str, reason: impl Into<String>) {
        self.left_out.push(LeftOut {
            id: id.to_string(),
            reason: reason.into(),
        });
    }
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
    let formats: Vec<PackageFormat> = input.packages.iter().map(|p| p.format).collect();
    install_cmds_in(&formats, names, version, back)
}

/// [`install_cmds`] for the carried package `formats` (none: loose binaries).
fn install_cmds_in(
    formats: &[PackageFormat],
    names: &[&str],
    version: &Version,
    back: bool,
) -> Vec<String> {
    if formats.is_empty() {
        return names.iter().map(|n| install_bin(version, n)).collect();
    }
    let v = format!("1.{}.{}", version.minor, version.patch);
    let both = formats.len() > 1;
    let mut out = Vec::new();
    for format in formats {
        match format {
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
    let mirrors: Vec<(PackageFormat, String)> = input
        .packages
        .iter()
        .filter_map(|p| Some((p.format, dir_of(p)?)))
        .collect();
    point_at_dirs(&mirrors, input.packages.len() > 1)
}

/// [`point_at_mirror`] for (format, mirror directory) pairs; `both`: the node may use
/// either format, so each command says which nodes it is for.
fn point_at_dirs(mirrors: &[(PackageFormat, String)], both: bool) -> Vec<String> {
    let mut out = Vec::new();
    for (format, dir) in mirrors {
        match format {
            PackageFormat::Deb => {
                if both {
                    out.push("# apt (deb) nodes:".into());
                }
                // The line `airlock_verify::install::mirror::apt_source_line` writes, with
                // the directory passed as an argument rather than spliced into the text.
                out.push(format!(
                    "printf 'deb [signed-by=%s] %s/%s/ /\\n' {} \"${{AIRLOCK_PACKAGES_URL}}\" {} > /etc/apt/sources.list.d/kubernetes.list",
                    quote(APT_KEYRING),
                    quote(dir)
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
                    quote(dir),
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
/// every containerd node; the image is already in its store). `/var/lib` holds kubeadm's
/// data dir and the snapshot; a data dir elsewhere is mounted too.
fn etcdutl_offline(data_dir: Option<&str>) -> String {
    // A data dir at or below /var/lib is inside the first mount already (judged on the
    // text: `Path::parent` of `/var/lib/.` is `/var`, which would mount all of /var).
    let parent = data_dir
        .filter(|d| *d != "/var/lib" && !d.starts_with("/var/lib/"))
        .and_then(|d| std::path::Path::new(d).parent())
        .and_then(|p| p.to_str())
        .filter(|p| *p != "/" && !p.is_empty() && *p != "/var/lib" && !p.starts_with("/var/lib/"));
    let extra = match parent {
        Some(p) => format!(
            " --mount {}",
            quote(&format!("type=bind,src={p},dst={p},options=rbind:rw"))
        ),
        None => String::new(),
    };
    format!(
        "ctr -n k8s.io run --rm --mount type=bind,src=/var/lib,dst=/var/lib,options=rbind:rw{extra} \"$ETCD_IMAGE\" airlock-etcdutl etcdutl"
    )
}

/// Commands that put `names` of `version` back on a node from the bundle: the loose
/// binaries, or, with node packages carried, the package manager pointed at `mirrors`
/// (that version's minor: one directory per carried format) and the version installed,
/// downgrading.
pub(crate) fn reinstall_cmds(
    mirrors: &[(PackageFormat, String)],
    names: &[&str],
    version: &Version,
) -> Vec<String> {
    let formats: Vec<PackageFormat> = mirrors.iter().map(|(f, _)| *f).collect();
    let mut out = point_at_dirs(mirrors, mirrors.len() > 1);
    out.extend(install_cmds_in(&formats, names, version, true));
    out
}

/// Where the operator gives the bundle: a required parameter.
pub(crate) const BUNDLE_PARAM: &str =
    "\"${AIRLOCK_BUNDLE:?set AIRLOCK_BUNDLE to the bundle directory}\"";
/// The enclave's trust policy: a required parameter.
pub(crate) const POLICY_PARAM: &str =
    "\"${AIRLOCK_POLICY:?set AIRLOCK_POLICY to the enclave trust policy file}\"";

/// The values every phase's steps use.
struct Ctx {
    minor_hop: bool,
    snapshot: String,
    conf_backup: String,
}

/// Build the ordered checklist, phase by phase.
pub fn build(input: &ChecklistInput<'_>) -> Checklist {
    let (from, to) = (input.from, input.to);
    let c = Ctx {
        minor_hop: to.minor != from.minor,
        snapshot: quote(&format!("/var/lib/airlock/etcd-before-{to}.db")),
        conf_backup: quote(&format!("/var/lib/airlock/etc-kubernetes-before-{to}")),
    };
    let mut s = Out {
        steps: Vec::new(),
        left_out: Vec::new(),
    };
    pre_checks(input, &c, &mut s);
    first_control_plane(input, &c, &mut s);
    other_control_planes(input, &c, &mut s);
    workers(input, &c, &mut s);
    cni_and_tools(input, &c, &mut s);
    post_checks(input, &c, &mut s);
    backout(input, &c, &mut s);
    Checklist {
        steps: s.steps,
        left_out: s.left_out,
    }
}

/// Before the window: the cluster is what the hop expects, and can be restored.
fn pre_checks(input: &ChecklistInput<'_>, c: &Ctx, s: &mut Out) {
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
            "kubectl get nodes -o custom-columns=NAME:.metadata.name,KUBELET:.status.nodeInfo.kubeletVersion",
            // Nodes stopped reporting nodeInfo.kubeProxyVersion in 1.33: the DaemonSet's
            // image tag is kube-proxy's version.
            "kubectl -n kube-system get daemonset kube-proxy -o jsonpath='{.spec.template.spec.containers[0].image}{\"\\n\"}'",
            "kubectl version --client",
        ],
        Some(&format!(
            "every kubelet and the kube-proxy image tag are v1.{oldest_kubelet} or newer (at most {} minors older than {to}) and none is newer than {from}; kubectl is within {} minor of the API server",
            skew.kubelet_max_minors_older, skew.kubectl_max_minors_skew
        )),
    ));
    removed_apis(input, c, s);
    s.push(snapshot_step(input, snapshot));
    s.push(config_backup_step(conf_backup));
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

/// `pre.snapshot`: one member's etcd snapshot to `snapshot` (a quoted path), checked.
fn snapshot_step(input: &ChecklistInput<'_>, snapshot: &str) -> Step {
    step(
        "pre.snapshot",
        "First control plane: take an etcd snapshot (one member's snapshot holds the whole keyspace)",
        &[
            "mkdir -p /var/lib/airlock",
            // The pod mounts /var/lib/etcd from the node: save there, then move it out.
            &format!("{ETCDCTL} snapshot save /var/lib/etcd/airlock-snapshot.db"),
            &format!("mv /var/lib/etcd/airlock-snapshot.db {snapshot}"),
            "ETCD_IMAGE=$(awk '/image:/ {print $2; exit}' /etc/kubernetes/manifests/etcd.yaml)",
            &format!(
                "{} snapshot status {snapshot} -w table",
                etcdutl_offline(None)
            ),
            &format!("sha256sum {snapshot}"),
        ],
        Some(&format!(
            "the snapshot status shows a non-zero revision and key count; copy the snapshot to {} {snapshot} (every member restores the same snapshot) and off the cluster",
            match &input.etcd {
                Some(e) => format!(
                    "each other etcd member ({}) at",
                    e.members
                        .iter()
                        .skip(1)
                        .map(|m| comment(&m.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                None => "every other control plane at".into(),
            }
        )),
    )
}

/// `pre.config-backup`: every control plane's /etc/kubernetes, copied to `conf_backup`.
fn config_backup_step(conf_backup: &str) -> Step {
    step(
        "pre.config-backup",
        "Every control plane: copy /etc/kubernetes (the back-out restores its static pod manifests)",
        &[
            "mkdir -p /var/lib/airlock",
            &format!("cp -a /etc/kubernetes {conf_backup}"),
        ],
        Some(&format!(
            "{conf_backup}/manifests/etcd.yaml exists on every control plane"
        )),
    )
}

/// Objects on a removed API: a dump of what can show one (objects, Helm release
/// Secrets, the API server's metrics) checked by `airlock-verify preflight` against
/// every API removed up to the target (the bundle's signed report lists them).
fn removed_apis(input: &ChecklistInput<'_>, c: &Ctx, s: &mut Out) {
    s.push(removed_apis_step(input.catalog, &input.to, c.minor_hop));
}

/// The `pre.removed-apis` step for a cluster going to `to` (`minor_hop`: the APIs `to`'s
/// own minor removes are named in the title).
fn removed_apis_step(catalog: &Catalog, to: &Version, minor_hop: bool) -> Step {
    let to = *to;
    let all = catalog.removed_apis_up_to(&to);
    // The objects to dump: kinds with a GA replacement, which every cluster on the hop
    // serves by the same resource name (`kubectl get` fails whole on one unknown name,
    // so a kind with no replacement, like PodSecurityPolicy, or only a beta one is not
    // listed; Helm releases, annotations and metrics still show it). The *Review kinds
    // cannot be listed, and Events are the API server's own record, not applied objects.
    let ga = |gv: &str| {
        gv.rsplit('/').next().is_some_and(|v| {
            v.strip_prefix('v')
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
    };
    let mut resources: Vec<String> = Vec::new();
    for r in all
        .iter()
        .filter(|r| r.replacement.as_deref().is_some_and(ga))
    {
        for k in r
            .kinds
            .iter()
            .filter(|k| !k.ends_with("Review") && *k != "Event")
        {
            let res = airlock_verify::cluster::resource_of(k);
            if !resources.contains(&res) {
                resources.push(res);
            }
        }
    }
    resources.sort();
    let dir = "airlock-dump";
    let commands = vec![
        format!("mkdir -p {dir}"),
        format!("kubectl version -o json > {dir}/version.json"),
        format!("kubectl get nodes -o json > {dir}/nodes.json"),
        format!(
            "kubectl -n kube-system get configmap kubeadm-config -o json > {dir}/kubeadm-config.json"
        ),
        format!(
            "kubectl get secrets -A --field-selector type=helm.sh/release.v1 -o json > {dir}/helm-releases.json"
        ),
        format!(
            "kubectl get {} -A -o json > {dir}/objects.json",
            quote(&resources.join(","))
        ),
        format!("kubectl get --raw /metrics > {dir}/metrics.txt"),
        // The static pods' command lines: a pending step 2 of a two-step hop shows there.
        format!(
            "kubectl -n kube-system get pods -l tier=control-plane -o json > {dir}/control-plane-pods.json"
        ),
        format!(
            "airlock-verify preflight {BUNDLE_PARAM} --policy {POLICY_PARAM} --cluster-dump {dir} --metrics {dir}/metrics.txt"
        ),
    ];
    let this_hop: Vec<String> = all
        .iter()
        .filter(|r| minor_hop && r.removed_in == to.minor_key())
        .map(|r| {
            let instead = match &r.replacement {
                Some(rep) => format!(" -> {rep}"),
                None => " (no replacement)".to_string(),
            };
            format!("{} ({}){instead}", r.group_version, r.kinds.join(", "))
        })
        .collect();
    let title = if this_hop.is_empty() {
        format!(
            "Check no object uses an API version {} does not serve ({} removed since 1.16; none newly in {})",
            to.minor_key(),
            all.len(),
            to.minor_key()
        )
    } else {
        format!(
            "Move objects off the API versions {} no longer serves: {} (and the {} removed before)",
            to.minor_key(),
            this_hop.join("; "),
            all.len() - this_hop.len()
        )
    };
    step(
        "pre.removed-apis",
        title,
        &refs(&commands),
        Some(
            "the removed-apis check passes: no object, Helm release manifest, last-applied-configuration annotation or client request (apiserver_requested_deprecated_apis; scrape every API server) uses a removed API version; migrate each one it names to the replacement it gives",
        ),
    )
}

/// The first control-plane node: kubeadm upgrade apply.
fn first_control_plane(input: &ChecklistInput<'_>, _: &Ctx, s: &mut Out) {
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
fn other_control_planes(input: &ChecklistInput<'_>, _: &Ctx, s: &mut Out) {
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
fn workers(input: &ChecklistInput<'_>, _: &Ctx, s: &mut Out) {
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
fn cni_and_tools(input: &ChecklistInput<'_>, _: &Ctx, s: &mut Out) {
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
    if applies.is_empty() {
        s.leave_out(
            "cni.upgrade",
            "no CNI or add-on manifest or chart is carried (no hop manifest given with --with): upgrade the CNI from its own bundle if its release notes require it for this Kubernetes version",
        );
        return;
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
fn package_tools(input: &ChecklistInput<'_>, s: &mut Out) {
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
fn tool_archives(input: &ChecklistInput<'_>, s: &mut Out) {
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
    if commands.is_empty() {
        s.leave_out(
            "cni.plugins",
            "the bundle carries no CNI plugins or crictl archive and no node packages",
        );
        return;
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
fn post_checks(input: &ChecklistInput<'_>, _: &Ctx, s: &mut Out) {
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
fn backout(input: &ChecklistInput<'_>, c: &Ctx, s: &mut Out) {
    let (from, to) = (input.from, input.to);
    s.push(step(
        "backout.stop",
        "Back-out, every control plane: stop the control plane",
        &[
            "systemctl stop kubelet",
            "mv /etc/kubernetes/manifests /etc/kubernetes/manifests.failed",
        ],
        Some("crictl ps shows no kube-apiserver or etcd container"),
    ));
    etcd_restore(input, c, s);
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
        s.leave_out(
            "backout.binaries",
            format!("this bundle does not carry the {from} binaries and images (--no-backout): reinstall them from the bundle that brought the cluster to {from}"),
        );
        s.leave_out(
            "backout.images",
            format!("this bundle does not carry the {from} images (--no-backout)"),
        );
    }
    s.push(step(
        "backout.verify",
        format!("Back-out: confirm the cluster runs {from} again"),
        &["kubectl version", "kubectl get nodes -o wide"],
        Some(&format!("the server and every node report {from}")),
    ));
}

/// The etcd restore, member by member: every member restores the same snapshot with its
/// own name and peer URL and the same full `--initial-cluster` (etcd's disaster-recovery
/// procedure); a member's values come from `--etcd-manifest`, or are required parameters.
fn etcd_restore(input: &ChecklistInput<'_>, c: &Ctx, s: &mut Out) {
    let to = input.to;
    let (snapshot, conf_backup) = (&c.snapshot, &c.conf_backup);
    let image = format!(
        "ETCD_IMAGE=$(awk '/image:/ {{print $2; exit}}' {conf_backup}/manifests/etcd.yaml)"
    );
    let manifests = format!(
        "rm -rf /etc/kubernetes/manifests && cp -a {conf_backup}/manifests /etc/kubernetes/manifests"
    );
    let Some(cluster) = &input.etcd else {
        let restore = format!(
            "{} snapshot restore {snapshot} --name \"${{ETCD_NAME:?set ETCD_NAME to the --name of this member in {conf_backup}/manifests/etcd.yaml}}\" --initial-cluster \"${{ETCD_INITIAL_CLUSTER:?set ETCD_INITIAL_CLUSTER to NAME=PEER_URL of every member, comma-separated, the same on every member}}\" --initial-advertise-peer-urls \"${{ETCD_PEER_URL:?set ETCD_PEER_URL to the --initial-advertise-peer-urls of this member}}\" --data-dir /var/lib/etcd",
            etcdutl_offline(None)
        );
        s.push(step(
            "backout.etcd-restore",
            format!("Back-out, every etcd member (control plane): restore the snapshot taken before {to}, with the member's own name and peer URL (required parameters ETCD_NAME, ETCD_PEER_URL, ETCD_INITIAL_CLUSTER; give --etcd-manifest to resolve to have them written here)"),
            &[&image, "mv /var/lib/etcd /var/lib/etcd.failed", &restore, &manifests],
            Some("every member's data dir is restored from the same snapshot; the static pod manifests name the previous images again"),
        ));
        return;
    };
    let initial = cluster.initial_cluster();
    for (i, m) in cluster.members.iter().enumerate() {
        s.push(step(
            &format!("backout.etcd-restore.{}", i + 1),
            format!(
                "Back-out, on etcd member {} ({}): restore the snapshot taken before {to}",
                comment(&m.name),
                comment(&m.peer_url)
            ),
            &refs(&[
                image.clone(),
                format!("mv {} {}", quote(&m.data_dir), quote(&format!("{}.failed", m.data_dir))),
                restore_command(m, &initial, cluster.token.as_deref(), snapshot),
                manifests.clone(),
            ]),
            Some(&format!(
                "{} holds member {} of a {}-member cluster; the static pod manifests name the previous images again",
                comment(&m.data_dir),
                comment(&m.name),
                cluster.members.len()
            )),
        ));
    }
}

/// `etcdutl snapshot restore` of one member.
pub fn restore_command(
    m: &EtcdMember,
    initial_cluster: &str,
    token: Option<&str>,
    snapshot: &str,
) -> String {
    let token = token
        .map(|t| format!(" --initial-cluster-token {}", quote(t)))
        .unwrap_or_default();
    format!(
        "{} snapshot restore {snapshot} --name {} --initial-cluster {} --initial-advertise-peer-urls {}{token} --data-dir {}",
        etcdutl_offline(Some(&m.data_dir)),
        quote(&m.name),
        quote(initial_cluster),
        quote(&m.peer_url),
        quote(&m.data_dir)
    )
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
            etcd: None,
        })
        .steps;
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
            etcd: None,
        })
        .steps;
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

    fn hop(etcd: Option<EtcdCluster>, backout: bool) -> Checklist {
        let c = Catalog::builtin().unwrap();
        build(&ChecklistInput {
            catalog: &c,
            from: "v1.31.14".parse().unwrap(),
            to: "v1.32.2".parse().unwrap(),
            backout,
            tools: vec![],
            addon_manifests: vec![],
            addon_charts: vec![],
            worker_batch: 1,
            packages: vec![],
            etcd,
        })
    }

    #[test]
    fn no_step_is_empty_and_nothing_is_a_placeholder() {
        let h = hop(None, false);
        for st in &h.steps {
            assert!(!st.commands.is_empty(), "{} is empty", st.id);
            for c in &st.commands {
                assert!(!c.contains("YOUR_"), "{}: {c}", st.id);
            }
        }
        let left: Vec<&str> = h.left_out.iter().map(|l| l.id.as_str()).collect();
        assert_eq!(
            left,
            [
                "cni.plugins",
                "cni.upgrade",
                "backout.binaries",
                "backout.images"
            ]
        );
        assert!(h.left_out[1].reason.contains("no CNI or add-on"));
        // Unknown members: the restore names what it needs as required parameters.
        let r = h
            .steps
            .iter()
            .find(|s| s.id == "backout.etcd-restore")
            .unwrap();
        let cmd = r.commands.join("\n");
        // bash reads an apostrophe inside "${X:?...}" as a quote (POSIX leaves it open).
        let restore = r
            .commands
            .iter()
            .find(|c| c.contains("snapshot restore"))
            .unwrap();
        assert!(!restore.contains('\''), "{restore}");
        for p in [
            "${ETCD_NAME:?",
            "${ETCD_INITIAL_CLUSTER:?",
            "${ETCD_PEER_URL:?",
        ] {
            assert!(cmd.contains(p), "{cmd}");
        }
        let removed = h.steps.iter().find(|s| s.id == "pre.removed-apis").unwrap();
        let cmd = removed.commands.join("\n");
        assert!(
            cmd.contains("${AIRLOCK_BUNDLE:?")
                && cmd.contains("--metrics airlock-dump/metrics.txt"),
            "{cmd}"
        );
        assert!(
            cmd.contains("cronjobs,") && cmd.contains("horizontalpodautoscalers"),
            "{cmd}"
        );
        // Not listable, or no GA replacement: `kubectl get` would fail whole.
        assert!(
            !cmd.contains("tokenreviews") && !cmd.contains("podsecuritypolicies"),
            "{cmd}"
        );
    }

    #[test]
    fn every_etcd_member_restores_with_its_own_values() {
        let m = |n: &str, ip: &str, dir: &str| EtcdMember {
            name: n.into(),
            peer_url: format!("https://{ip}:2380"),
            data_dir: dir.into(),
        };
        let cluster = EtcdCluster {
            members: vec![
                m("cp1", "10.0.0.11", "/var/lib/etcd"),
                m("cp2", "10.0.0.12", "/var/lib/etcd"),
                m("cp-3", "10.0.0.13", "/data/etcd"),
            ],
            token: None,
        };
        let h = hop(Some(cluster), true);
        assert!(!h.steps.iter().any(|s| s.id == "backout.etcd-restore"));
        let all =
            "cp1=https://10.0.0.11:2380,cp2=https://10.0.0.12:2380,cp-3=https://10.0.0.13:2380";
        for (i, (name, ip)) in [
            ("cp1", "10.0.0.11"),
            ("cp2", "10.0.0.12"),
            ("cp-3", "10.0.0.13"),
        ]
        .iter()
        .enumerate()
        {
            let st = h
                .steps
                .iter()
                .find(|s| s.id == format!("backout.etcd-restore.{}", i + 1))
                .unwrap();
            let words = words(&st.commands[2]);
            let arg = |f: &str| words[words.iter().position(|w| w == f).unwrap() + 1].clone();
            assert_eq!(arg("--name"), *name);
            assert_eq!(arg("--initial-cluster"), all);
            assert_eq!(
                arg("--initial-advertise-peer-urls"),
                format!("https://{ip}:2380")
            );
        }
        let third = &h
            .steps
            .iter()
            .find(|s| s.id == "backout.etcd-restore.3")
            .unwrap()
            .commands[2];
        assert!(
            third.contains("src=/data,dst=/data") && third.ends_with("--data-dir /data/etcd"),
            "{third}"
        );
        assert!(h.left_out.iter().all(|l| !l.id.starts_with("backout")));
    }

    /// The values the property test puts in every slot of the checklist's input.
    struct Slots(Vec<String>);

    impl Slots {
        fn get(&self, i: usize) -> String {
            self.0[i].clone()
        }
    }

    /// How many values one input takes (see `input_of`).
    const SLOTS: usize = 21;

    /// The checklist of a hop whose every interpolated value is taken from `v`.
    fn steps_of(v: &Slots, packages: bool) -> Vec<Step> {
        let mut c = Catalog::builtin().unwrap();
        let to: Version = "v1.32.2".parse().unwrap();
        let m = c
            .minors
            .iter_mut()
            .find(|m| m.minor == to.minor_key())
            .unwrap();
        // Only in the step's title (not a command): with no replacement the kind is
        // not listed for `kubectl get`.
        m.removed_apis[0].group_version = v.get(15);
        m.removed_apis[0].kinds = vec![v.get(16)];
        m.removed_apis[0].partial = false;
        m.removed_apis[0].replacement = None;
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
            etcd: Some(EtcdCluster {
                members: vec![EtcdMember {
                    name: v.get(17),
                    peer_url: v.get(18),
                    // Below /var/lib whatever the value: no extra mount, same words.
                    data_dir: format!("/var/lib/{}", v.get(19)),
                }],
                token: Some(v.get(20)),
            }),
        })
        .steps
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
