//! What a skipping catch-up bundle carries for workers: the files and node packages of
//! worker-only architectures and package formats, kept only where workers install them
//! (landing minors, kubeadm-only steps, the workers' back-outs).

use std::collections::BTreeSet;

use super::phases::{KUBEADM, schedule_error};
use crate::catalog::{Catalog, Version};
use crate::error::Result;
use crate::lock::Lock;
use crate::manifest::{PackageFormat, Role, Schedule};
use crate::packages::{CRI_TOOLS, package_arch};
use crate::paths::SafeRelPath;

/// What only worker nodes use: carried only where workers install it.
#[derive(Debug, Clone, Default)]
pub struct WorkerOnly {
    /// Architectures only workers run (`--worker-arch`): their binaries, tools and node
    /// packages.
    pub arches: Vec<String>,
    /// Package formats only workers install from (`--worker-packages`): every package of
    /// those repositories, whatever its architecture.
    pub package_formats: Vec<PackageFormat>,
}

impl WorkerOnly {
    /// `arm64, rpm packages` for notes.
    pub(super) fn describe(&self) -> String {
        let formats = self.package_formats.iter().map(|f| format!("{f} packages"));
        self.arches
            .iter()
            .cloned()
            .chain(formats)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The architecture a file target is for: the segment after `linux/`.
pub(super) fn arch_of(target: &str) -> Option<&str> {
    let mut parts = target.split('/');
    parts.by_ref().find(|p| *p == "linux")?;
    parts.next()
}

/// `bin/VERSION/...`: the Kubernetes version of a release binary.
pub(super) fn bin_version(target: &str) -> Option<&str> {
    target.strip_prefix("bin/")?.split('/').next()
}

/// `bin/VERSION/linux/ARCH/NAME`: (VERSION, NAME) of a release binary.
pub(super) fn bin_of(target: &str) -> Option<(String, String)> {
    let name = target.rsplit('/').next()?;
    Some((bin_version(target)?.to_string(), name.to_string()))
}

/// `tools/NAME/VERSION/`: the target prefix of each tool the minors workers land on
/// install. A landing hop's lock also carries the previous minor's tools for its back-out,
/// which workers that skipped that minor never ran.
pub(super) fn landing_tools(schedule: &Schedule, catalog: &Catalog) -> Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    for w in schedule.phases.iter().filter_map(|p| p.workers.as_deref()) {
        let v: Version = w
            .parse()
            .map_err(|e| schedule_error(format!("phase version {w}: {e}")))?;
        let m = catalog.minor_of(&v).ok_or_else(|| {
            schedule_error(format!("minor {} is not in the catalog", v.minor_key()))
        })?;
        out.extend(
            m.tools
                .iter()
                .map(|t| format!("tools/{}/{}/", t.name, t.version)),
        );
    }
    Ok(out)
}

/// Drop the worker-only architectures' files that no landing phase needs; returns their
/// targets.
pub(super) fn drop_skipped_worker_files(
    out: &mut Lock,
    hops: &[Lock],
    schedule: &Schedule,
    worker_only_arches: &[String],
    landing_tools: &BTreeSet<String>,
    backout: &BTreeSet<(String, String)>,
) -> Vec<String> {
    let landings: BTreeSet<&str> = schedule
        .phases
        .iter()
        .filter_map(|p| p.workers.as_deref())
        .collect();
    let needed: BTreeSet<String> = hops
        .iter()
        .zip(&schedule.phases)
        .filter(|(_, p)| p.workers.is_some())
        .flat_map(|(l, _)| l.files.iter().map(|f| f.target.to_string()))
        .collect();
    let kubeadm_only: BTreeSet<&str> = schedule
        .phases
        .iter()
        .filter_map(|p| p.workers_kubeadm.as_deref())
        .collect();
    let mut left_out = Vec::new();
    out.files.retain(|f| {
        let target = f.target.to_string();
        let worker_only =
            arch_of(&target).is_some_and(|a| worker_only_arches.iter().any(|w| w == a));
        // A landing hop's lock also carries its back-out binaries and tools (the
        // previous control-plane version's), which workers never ran.
        let tool_kept = !target.starts_with("tools/")
            || landing_tools.iter().any(|t| target.starts_with(t.as_str()));
        let keep = !worker_only
            || (needed.contains(&target)
                && bin_version(&target).is_none_or(|v| landings.contains(v))
                && tool_kept)
            || bin_of(&target).is_some_and(|(v, name)| {
                (name == KUBEADM && kubeadm_only.contains(v.as_str()))
                    || backout.contains(&(v, name))
            });
        if !keep {
            left_out.push(target);
        }
        keep
    });
    left_out
}

/// Drop the node packages (`--packages`) of worker-only architectures and formats that no
/// worker installs; returns their targets. Kept: every package a landing phase installs; in a
/// kubeadm-only phase its kubeadm and cri-tools (kubeadm's package asks for cri-tools of
/// its minor, so apt and dnf upgrade cri-tools with it; the kubelet stays, and with it
/// kubernetes-cni and kubectl); and what the workers' back-outs reinstall (`backout`).
/// Packages of every architecture (`all`, `noarch`) are worker-only only in a worker-only
/// format. The signed metadata stays whole: it lists versions a partial mirror does not carry,
/// as for every hop, and the nodes' package managers fetch only what they install.
pub(super) fn drop_skipped_worker_packages(
    out: &mut Lock,
    hops: &[Lock],
    schedule: &Schedule,
    worker_only: &WorkerOnly,
    backout: &BTreeSet<(String, String)>,
) -> Vec<String> {
    let mut keep: BTreeSet<&SafeRelPath> = BTreeSet::new();
    for (l, p) in hops.iter().zip(&schedule.phases) {
        let kubeadm_only = p.workers.is_none() && p.workers_kubeadm.is_some();
        let carried = l.package_repositories.iter().flat_map(|r| &r.packages);
        keep.extend(
            carried
                .filter(|c| c.role == Role::Target)
                .filter(|c| {
                    p.workers.is_some()
                        || (kubeadm_only && [KUBEADM, CRI_TOOLS].contains(&c.name.as_str()))
                })
                .map(|c| &c.target),
        );
    }
    // Back-out packages by name and version: `1.30.2-1.1` (deb), `1.30.2-150500.1.1` (rpm).
    let backout_packages: Vec<(String, &str)> = backout
        .iter()
        .map(|(v, name)| (format!("{}-", v.trim_start_matches('v')), name.as_str()))
        .collect();
    let mut drop: BTreeSet<SafeRelPath> = BTreeSet::new();
    for r in &out.package_repositories {
        let format_only = worker_only.package_formats.contains(&r.format);
        let arches: Vec<String> = worker_only
            .arches
            .iter()
            .map(|a| package_arch(r.format, a))
            .collect();
        for c in &r.packages {
            let is_backout = backout_packages
                .iter()
                .any(|(v, name)| c.name == *name && c.version.starts_with(v.as_str()));
            let only_workers = format_only || arches.contains(&c.arch);
            if only_workers && !keep.contains(&c.target) && !is_backout {
                drop.insert(c.target.clone());
            }
        }
    }
    for r in &mut out.package_repositories {
        r.packages.retain(|c| !drop.contains(&c.target));
    }
    out.files.retain(|f| !drop.contains(&f.target));
    drop.into_iter().map(|t| t.to_string()).collect()
}
