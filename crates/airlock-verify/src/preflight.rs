//! Preflight: the bundle's pre-checks against the cluster, inside the enclave, before the
//! change window. Nothing leaves the enclave: the inputs are `kubectl ... -o json` dumps
//! and the bundle's own signed change report.
//!
//! Each check passes, fails, or cannot be evaluated (with why): the cluster runs the
//! hop's from-minor; kubelet and kube-proxy skew against the target; objects that use an
//! API the target no longer serves; free disk at the install destination; and that the
//! cluster's kubeadm `imageRepository` names the registry the bundle goes into.

use std::path::Path;

use serde::Serialize;

use crate::cluster::{Dump, RemovedApi, parse_version};
use crate::escape::Untrusted;
use crate::manifest::BundleManifest;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Fine.
    Pass,
    /// Must be fixed before the window.
    Fail,
    /// The inputs do not say (the detail says which input is missing).
    NotEvaluated,
}

/// One check.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Stable id.
    pub id: &'static str,
    /// Outcome.
    pub status: Status,
    /// What was found.
    pub detail: String,
}

/// What the checks need besides the dump.
pub struct Target<'a> {
    /// The destination files will be installed under, if given.
    pub dest: Option<&'a Path>,
    /// The registry (and prefix) images will be installed into, if given:
    /// `HOST:PORT[/PREFIX]`.
    pub image_repository: Option<String>,
    /// kubelet may be this many minors older than the API server.
    pub kubelet_max_minors_older: u32,
    /// API versions the target no longer serves.
    pub removed: &'a [RemovedApi],
    /// Step 1 of a two-step hop: API versions the target removes only in step 2 (still
    /// served while the control plane emulates the old minor); named, never failed on.
    pub removed_in_step2: &'a [RemovedApi],
    /// Which step of a two-step hop the bundle is (its report says), if it is one.
    pub two_step: Option<u8>,
}

/// Run every check.
pub fn run(m: &BundleManifest, dump: &Dump, t: &Target<'_>) -> Vec<Check> {
    let hop = m.hop.as_ref();
    let from = hop.and_then(|h| parse_version(&h.from));
    let to = hop.and_then(|h| parse_version(&h.to));
    vec![
        version(dump, from),
        skew(dump, from, to, t.kubelet_max_minors_older),
        removed(dump, t.removed, t.removed_in_step2),
        disk(m, t.dest),
        repository(dump, t.image_repository.as_deref()),
        emulation(dump, t.two_step),
    ]
}

fn check(id: &'static str, status: Status, detail: String) -> Check {
    Check { id, status, detail }
}

fn version(d: &Dump, from: Option<(u32, u32, u32)>) -> Check {
    let (Some(sv), Some(from)) = (&d.server_version, from) else {
        return check(
            "version",
            Status::NotEvaluated,
            "no `kubectl version -o json` output among the dumps (or the bundle has no hop)".into(),
        );
    };
    match parse_version(sv) {
        Some(v) if (v.0, v.1) == (from.0, from.1) => check(
            "version",
            Status::Pass,
            format!(
                "the API server runs {}, the hop's from-minor 1.{}",
                Untrusted(sv),
                from.1
            ),
        ),
        Some(_) => check(
            "version",
            Status::Fail,
            format!(
                "the API server runs {}, but the bundle hops from v{}.{}.{}",
                Untrusted(sv),
                from.0,
                from.1,
                from.2
            ),
        ),
        None => check(
            "version",
            Status::NotEvaluated,
            format!("cannot read the server version {}", Untrusted(sv)),
        ),
    }
}

fn skew(d: &Dump, from: Option<(u32, u32, u32)>, to: Option<(u32, u32, u32)>, older: u32) -> Check {
    let (Some(from), Some(to)) = (from, to) else {
        return check("skew", Status::NotEvaluated, "the bundle has no hop".into());
    };
    if d.nodes.is_empty() {
        return check(
            "skew",
            Status::NotEvaluated,
            "no nodes in the dumps (`kubectl get nodes -o json`)".into(),
        );
    }
    let mut bad = Vec::new();
    let mut judge = |who: String, what: &str, v: &str| match parse_version(v) {
        Some(k) if k.1 + older < to.1 => bad.push(format!(
            "{who} {what} {} is more than {older} minors older than {}.{}",
            Untrusted(v),
            to.0,
            to.1
        )),
        Some(k) if (k.1, k.2) > (from.1, from.2) => bad.push(format!(
            "{who} {what} {} is newer than the API server's v{}.{}.{}",
            Untrusted(v),
            from.0,
            from.1,
            from.2
        )),
        Some(_) => {}
        None => bad.push(format!(
            "{who} {what} version {} cannot be read",
            Untrusted(v)
        )),
    };
    for n in &d.nodes {
        for (what, v) in [("kubelet", &n.kubelet), ("kube-proxy", &n.kube_proxy)] {
            if !v.is_empty() {
                judge(Untrusted(&n.name).to_string(), what, v);
            }
        }
    }
    // From 1.33 nodes no longer report kube-proxy's version; kubeadm's DaemonSet image
    // tag is then the only record of it, and a check that read neither must say so.
    let mut proxy_note = String::new();
    if let Some(image) = &d.kube_proxy_image {
        judge(
            "kube-system/kube-proxy DaemonSet".into(),
            "image",
            image_tag(image),
        );
    } else if d.nodes.iter().all(|n| n.kube_proxy.is_empty()) {
        proxy_note = "; kube-proxy not checked: the nodes do not report it (1.33 and later) and \
                      the dumps hold no kube-system/kube-proxy DaemonSet (add \
                      `kubectl get daemonset -n kube-system kube-proxy -o json`)"
            .into();
    }
    if bad.is_empty() {
        check(
            "skew",
            Status::Pass,
            format!(
                "{} node(s) within the skew policy{proxy_note}",
                d.nodes.len()
            ),
        )
    } else {
        check("skew", Status::Fail, bad.join("; "))
    }
}

/// The tag of an image reference (`registry.k8s.io/kube-proxy:v1.33.2[@sha256:...]`),
/// or the whole reference when it has none, so that the reading fails naming it.
fn image_tag(image: &str) -> &str {
    let named = image.split('@').next().unwrap_or(image);
    let last = named.rsplit('/').next().unwrap_or(named);
    last.split_once(':').map_or(image, |(_, tag)| tag)
}

fn removed(d: &Dump, removed: &[RemovedApi], later: &[RemovedApi]) -> Check {
    let mut c = removed_now(d, removed);
    if !later.is_empty() {
        c.detail.push_str(&step2_note(d, later));
    }
    c
}

/// What step 1 of a two-step hop says about the APIs step 2 removes: which, and any use
/// of them the dump shows, to move before step 2.
fn step2_note(d: &Dump, later: &[RemovedApi]) -> String {
    let names: Vec<String> = later
        .iter()
        .map(|r| Untrusted(&r.group_version).to_string())
        .collect();
    let mut note = format!(
        "; not checked against this step: {} stop(s) being served in step 2 of this two-step hop (its preflight checks them)",
        names.join(", ")
    );
    if d.can_show_api_use() {
        let f = d.removed_in_use(later);
        if !f.is_empty() {
            note.push_str(&format!(
                "; to move before step 2: {}",
                f.iter().map(finding).collect::<Vec<_>>().join("; ")
            ));
        }
    }
    note
}

fn removed_now(d: &Dump, removed: &[RemovedApi]) -> Check {
    if !d.can_show_api_use() {
        return check(
            "removed-apis",
            Status::NotEvaluated,
            "no resource dumps (`kubectl get ... -A -o json`, Helm release Secrets) and no --metrics scrape".into(),
        );
    }
    if removed.is_empty() {
        // A bundle whose report lists no removed API cannot judge any: a pass here
        // would be a false one.
        return check(
            "removed-apis",
            Status::NotEvaluated,
            "the bundle's change report lists no removed API versions to check against".into(),
        );
    }
    let f = d.removed_in_use(removed);
    if f.is_empty() {
        check(
            "removed-apis",
            Status::Pass,
            format!(
                "none of {} objects and {} metrics scrape(s) uses one of the {} API versions the target no longer serves",
                d.objects.len(),
                d.metrics_files.len(),
                removed.len()
            ),
        )
    } else {
        check(
            "removed-apis",
            Status::Fail,
            f.iter().map(finding).collect::<Vec<_>>().join("; "),
        )
    }
}

/// One finding as a line: the object, the version, the source that found it, and what
/// to use instead.
fn finding(x: &crate::cluster::Finding) -> String {
    let source = match &x.object.helm_release {
        Some(r) => format!("{}: {}", x.seen_in, Untrusted(r)),
        None => x.seen_in.to_string(),
    };
    format!(
        "{} uses {} (removed in {}; found in {source}){}",
        crate::cluster::describe(&x.object),
        Untrusted(&x.uses),
        Untrusted(&x.removed_in),
        x.replacement
            .as_deref()
            .map(|r| format!(", use {}", Untrusted(r)))
            .unwrap_or_else(|| ", no replacement".into())
    )
}

/// A control plane part-way through a two-step hop (its static pods run with
/// `--emulated-version`) takes only that hop's step 2: kubeadm judges versions by the
/// binary, so it would let a minor hop leave the control plane emulating two minors back,
/// and any `kubeadm upgrade` without step 1's patches drops the flag unplanned
/// (docs/design/two-step.md §1.4).
fn emulation(d: &Dump, step: Option<u8>) -> Check {
    let seen = d
        .objects
        .iter()
        .any(|o| o.kind == "Pod" && o.name.starts_with("kube-apiserver"));
    if !seen {
        return check(
            "emulation",
            Status::NotEvaluated,
            "no kube-apiserver Pod among the dumps (`kubectl -n kube-system get pods -l tier=control-plane -o json`): whether a two-step hop's step 2 is pending was not checked".into(),
        );
    }
    let pods: Vec<String> = d
        .emulated
        .iter()
        .map(|(p, v)| format!("{} ({})", Untrusted(p), Untrusted(v)))
        .collect();
    match (pods.is_empty(), step) {
        (true, Some(2)) => check(
            "emulation",
            Status::Fail,
            "no control-plane Pod runs with --emulated-version: step 1 of this two-step hop was not carried out, or step 2 already was".into(),
        ),
        (true, _) => check(
            "emulation",
            Status::Pass,
            "no control-plane Pod runs with --emulated-version".into(),
        ),
        (false, Some(2)) => check(
            "emulation",
            Status::Pass,
            format!("emulating, as step 2 expects: {}", pods.join(", ")),
        ),
        (false, _) => check(
            "emulation",
            Status::Fail,
            format!(
                "step 2 of a two-step hop is pending: {} run(s) with --emulated-version; carry out that step 2 before any other hop (kubeadm judges the binary version, and an upgrade without step 1's patches drops the flag unplanned)",
                pods.join(", ")
            ),
        ),
    }
}

fn disk(m: &BundleManifest, dest: Option<&Path>) -> Check {
    let Some(dest) = dest else {
        return check("disk", Status::NotEvaluated, "no --dest given".into());
    };
    let need = m.files.iter().fold(0u64, |a, f| a.saturating_add(f.size));
    let probe = dest.ancestors().find(|p| p.exists()).unwrap_or(dest);
    match rustix::fs::statvfs(probe) {
        Ok(st) => {
            let free = st.f_bavail.saturating_mul(st.f_frsize);
            if free >= need {
                check(
                    "disk",
                    Status::Pass,
                    format!(
                        "{} has {free} bytes free, the files need {need}",
                        probe.display()
                    ),
                )
            } else {
                check(
                    "disk",
                    Status::Fail,
                    format!(
                        "{} has {free} bytes free, the files need {need}",
                        probe.display()
                    ),
                )
            }
        }
        Err(e) => check(
            "disk",
            Status::NotEvaluated,
            format!("cannot read free space of {}: {e}", probe.display()),
        ),
    }
}

fn repository(d: &Dump, expected: Option<&str>) -> Check {
    let Some(expected) = expected else {
        return check(
            "image-repository",
            Status::NotEvaluated,
            "no --registry given".into(),
        );
    };
    match &d.image_repository {
        None => check(
            "image-repository",
            Status::NotEvaluated,
            "no kubeadm-config ConfigMap among the dumps (`kubectl -n kube-system get configmap kubeadm-config -o json`)".into(),
        ),
        Some(r) if r.trim_end_matches('/') == expected.trim_end_matches('/') => check(
            "image-repository",
            Status::Pass,
            format!("kubeadm pulls from {}", Untrusted(r)),
        ),
        Some(r) => check(
            "image-repository",
            Status::Fail,
            format!(
                "kubeadm's imageRepository is {}, but the bundle goes into {expected}: kubeadm would pull from elsewhere",
                Untrusted(r)
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nodes on `kubelet` that report no kube-proxy (1.33 and later), plus the given objects.
    fn dump(kubelet: &str, more: serde_json::Value) -> Dump {
        let mut items = vec![serde_json::json!({
            "apiVersion": "v1", "kind": "Node", "metadata": {"name": "w1"},
            "status": {"nodeInfo": {"kubeletVersion": kubelet, "kubeProxyVersion": ""}}})];
        items.extend(more.as_array().cloned().unwrap_or_default());
        let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
        let mut d = Dump::default();
        d.add_json(list.to_string().as_bytes(), "dump.json")
            .expect("a well-formed dump");
        d
    }

    fn proxy_daemonset(image: &str) -> serde_json::Value {
        serde_json::json!([{
            "apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
            "spec": {"template": {"spec": {"containers": [
                {"name": "sidecar", "image": "registry.k8s.io/pause:3.10"},
                {"name": "kube-proxy", "image": image}]}}}}])
    }

    /// kubeadm's static kube-apiserver and kube-scheduler Pods, with `flag` on their
    /// command line (or none).
    fn control_plane(flag: Option<&str>) -> serde_json::Value {
        let pod = |c: &str| {
            let mut command = vec![c.to_string(), "--v=2".to_string()];
            command.extend(flag.map(str::to_string));
            serde_json::json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": format!("{c}-cp1"), "namespace": "kube-system"},
                "spec": {"containers": [{"name": c, "image": "registry.k8s.io/x:v1", "command": command}]}})
        };
        serde_json::json!([pod("kube-apiserver"), pod("kube-scheduler")])
    }

    #[test]
    fn a_pending_step2_refuses_every_bundle_but_that_step2() {
        let emulating = dump("v1.37.1", control_plane(Some("--emulated-version=1.36")));
        let lifted = dump("v1.37.1", control_plane(None));
        for (d, step, want) in [
            (&emulating, None, Status::Fail),
            (&emulating, Some(1), Status::Fail),
            (&emulating, Some(2), Status::Pass),
            (&lifted, None, Status::Pass),
            (&lifted, Some(2), Status::Fail),
        ] {
            let c = emulation(d, step);
            assert_eq!(c.status, want, "{step:?}: {}", c.detail);
        }
        let c = emulation(&emulating, None);
        assert!(
            c.detail.contains("kube-apiserver-cp1 (1.36)"),
            "{}",
            c.detail
        );
        assert!(
            c.detail.contains("kube-scheduler-cp1 (1.36)"),
            "{}",
            c.detail
        );
        let c = emulation(&dump("v1.37.1", serde_json::json!([])), None);
        assert_eq!(c.status, Status::NotEvaluated, "{}", c.detail);
    }

    const FROM: Option<(u32, u32, u32)> = Some((1, 34, 2));
    const TO: Option<(u32, u32, u32)> = Some((1, 35, 0));

    #[test]
    fn kube_proxy_is_judged_by_its_daemonset_image_when_nodes_do_not_report_it() {
        let old = dump(
            "v1.34.2",
            proxy_daemonset("registry.k8s.io/kube-proxy:v1.31.4"),
        );
        assert_eq!(
            old.kube_proxy_image.as_deref(),
            Some("registry.k8s.io/kube-proxy:v1.31.4")
        );
        let c = skew(&old, FROM, TO, 3);
        assert_eq!(c.status, Status::Fail, "{}", c.detail);
        assert!(
            c.detail
                .contains("kube-proxy DaemonSet image v1.31.4 is more than 3 minors"),
            "{}",
            c.detail
        );

        let pinned = "enclave:5000/k8s/kube-proxy:v1.34.2@sha256:".to_string() + &"a".repeat(64);
        let fine = skew(&dump("v1.34.2", proxy_daemonset(&pinned)), FROM, TO, 3);
        assert_eq!(fine.status, Status::Pass, "{}", fine.detail);
        assert!(!fine.detail.contains("not checked"), "{}", fine.detail);

        let newer = skew(
            &dump("v1.34.2", proxy_daemonset("k/kube-proxy:v1.35.0")),
            FROM,
            TO,
            3,
        );
        assert!(
            newer.detail.contains("newer than the API server's v1.34.2"),
            "{}",
            newer.detail
        );
    }

    #[test]
    fn a_skew_check_that_could_not_see_kube_proxy_says_so() {
        let c = skew(&dump("v1.34.2", serde_json::json!([])), FROM, TO, 3);
        assert_eq!(c.status, Status::Pass);
        assert!(c.detail.contains("kube-proxy not checked"), "{}", c.detail);
        // A DaemonSet of that name elsewhere, or without a kube-proxy container, is not it.
        let mut elsewhere = proxy_daemonset("k/kube-proxy:v1.20.0");
        elsewhere[0]["metadata"]["namespace"] = "default".into();
        assert_eq!(dump("v1.34.2", elsewhere).kube_proxy_image, None);
        let mut renamed = proxy_daemonset("k/kube-proxy:v1.20.0");
        renamed[0]["spec"]["template"]["spec"]["containers"][1]["name"] = "proxy".into();
        assert_eq!(dump("v1.34.2", renamed).kube_proxy_image, None);
    }

    #[test]
    fn an_image_without_a_tag_fails_naming_it() {
        let c = skew(
            &dump("v1.34.2", proxy_daemonset("registry:5000/kube-proxy")),
            FROM,
            TO,
            3,
        );
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.detail.contains("registry:5000/kube-proxy"),
            "{}",
            c.detail
        );
    }

    #[test]
    fn odd_container_shapes_read_as_none() {
        for containers in [
            serde_json::json!("x"),
            serde_json::json!(7),
            serde_json::json!({"a": 1}),
            serde_json::json!([1, "x", null]),
        ] {
            let mut ds = proxy_daemonset("k/kube-proxy:v1.34.0");
            ds[0]["spec"]["template"]["spec"]["containers"] = containers;
            assert_eq!(dump("v1.34.2", ds).kube_proxy_image, None);
        }
    }
}
