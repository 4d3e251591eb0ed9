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
}

/// Run every check.
pub fn run(m: &BundleManifest, dump: &Dump, t: &Target<'_>) -> Vec<Check> {
    let hop = m.hop.as_ref();
    let from = hop.and_then(|h| parse_version(&h.from));
    let to = hop.and_then(|h| parse_version(&h.to));
    vec![
        version(dump, from),
        skew(dump, from, to, t.kubelet_max_minors_older),
        removed(dump, t.removed),
        disk(m, t.dest),
        repository(dump, t.image_repository.as_deref()),
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
    for n in &d.nodes {
        for (what, v) in [("kubelet", &n.kubelet), ("kube-proxy", &n.kube_proxy)] {
            if v.is_empty() {
                continue;
            }
            match parse_version(v) {
                Some(k) if k.1 + older < to.1 => bad.push(format!(
                    "{} {what} {} is more than {older} minors older than {}.{}",
                    Untrusted(&n.name),
                    Untrusted(v),
                    to.0,
                    to.1
                )),
                Some(k) if (k.1, k.2) > (from.1, from.2) => bad.push(format!(
                    "{} {what} {} is newer than the API server's v{}.{}.{}",
                    Untrusted(&n.name),
                    Untrusted(v),
                    from.0,
                    from.1,
                    from.2
                )),
                Some(_) => {}
                None => bad.push(format!(
                    "{} {what} version {} cannot be read",
                    Untrusted(&n.name),
                    Untrusted(v)
                )),
            }
        }
    }
    if bad.is_empty() {
        check(
            "skew",
            Status::Pass,
            format!("{} node(s) within the skew policy", d.nodes.len()),
        )
    } else {
        check("skew", Status::Fail, bad.join("; "))
    }
}

fn removed(d: &Dump, removed: &[RemovedApi]) -> Check {
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
