//! `airlock-verify repair`: rebuild lost or damaged volumes from the parity volumes.
//!
//! The bundle's signatures are checked first ([`SignedBundle`]), so the volume list, the
//! sizes and the sha256s are the signed ones. Every volume is checked on its own; the bad
//! ones (at most as many as there are parity volumes) are rebuilt stripe by stripe into
//! temporary files beside where they belong, each rebuilt file is checked against its
//! signed size and sha256, and only when all of them match are they renamed into place.
//! A parity volume that lies (or a wrong rebuild for any reason) replaces nothing.

use std::path::{Path, PathBuf};

use super::parity::{self, Shard};
use super::volumes::{self, Problem, VolumeStatus};
use crate::error::{Error, Result};
use crate::layout::VolumeName;
use crate::verify::SignedBundle;

/// What repair found and did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RepairReport {
    /// Every volume as found before the repair.
    pub before: Vec<VolumeStatus>,
    /// The volumes rebuilt, by their path in the bundle.
    pub rebuilt: Vec<String>,
}

/// Check every volume of a signed bundle and rebuild the damaged ones.
pub fn repair(bundle: &SignedBundle, on_progress: &dyn Fn(u64)) -> Result<RepairReport> {
    let p = &bundle.manifest().payload;
    let dir = bundle.dir();
    if p.volumes.is_empty() {
        return Err(Error::usage(format!(
            "{} has one payload file, not volumes: there is nothing to repair from",
            dir.display()
        )));
    }
    let before = volumes::check_all(dir, p, volumes::Depth::Whole, on_progress);
    let bad: Vec<&VolumeStatus> = before.iter().filter(|s| s.problem.is_some()).collect();
    if bad.is_empty() {
        return Ok(RepairReport {
            before,
            rebuilt: Vec::new(),
        });
    }
    refuse_linked_dirs(dir, &before)?;
    let Some(par) = &p.parity else {
        return Err(unrepairable(&before, "the bundle has no parity volumes"));
    };
    if bad.len() > par.volumes.len() {
        return Err(unrepairable(
            &before,
            &format!(
                "{} volumes are damaged and {} parity volume(s) rebuild at most {}",
                bad.len(),
                par.volumes.len(),
                par.volumes.len()
            ),
        ));
    }
    let temps = rebuild_into_temps(dir, p, par, &before, on_progress)?;
    let rebuilt = put_in_place(dir, temps)?;
    Ok(RepairReport { before, rebuilt })
}

/// A `volume-NNN/` directory that is a link leads out of the bundle: refuse before
/// writing anything (exit 4), whatever else is damaged.
fn refuse_linked_dirs(dir: &Path, before: &[VolumeStatus]) -> Result<()> {
    for s in before {
        if let Some(Problem::LinkedDirectory { dir: linked }) = &s.problem {
            return Err(Error::from(airlock_core::Error::UnsafePath {
                path: linked.clone(),
                reason: format!(
                    "is a symbolic link in the bundle {}; repair writes only inside the \
                     bundle: replace the link with a copy of the directory it points to, \
                     then run repair again (nothing was written)",
                    dir.display()
                ),
            }));
        }
    }
    Ok(())
}

/// Rebuild the damaged volumes into temporary files, each checked against its signed
/// size and sha256. Returns each file with where it goes.
fn rebuild_into_temps(
    dir: &Path,
    p: &crate::manifest::PayloadInfo,
    par: &crate::manifest::Parity,
    before: &[VolumeStatus],
    on_progress: &dyn Fn(u64),
) -> Result<Vec<(tempfile::NamedTempFile, PathBuf)>> {
    let data = p.volumes.len() as u32;
    let all: Vec<&crate::manifest::Volume> = p.all_volumes().collect();
    // Dropping a temporary file removes it: every early return below leaves none.
    let mut temps = Vec::new();
    let mut shards = Vec::new();
    for (v, status) in all.iter().zip(before) {
        shards.push(shard(dir, data, v, status, &mut temps)?);
    }
    let parity_shards = shards.split_off(p.volumes.len());
    let rebuilt = parity::rebuild(
        &shards,
        &parity_shards,
        p.volumes[0].size,
        par.stripe,
        on_progress,
    )
    .map_err(|e| {
        // An error from the operating system (a full disk, an unreadable volume) is
        // operational, not a verdict on the bundle: exit 1, the cause as source().
        if e.raw_os_error().is_some() {
            Error::io("rebuild volumes in", dir, e)
        } else {
            Error::verification("payload volumes", format!("rebuild: {e}"))
        }
    })?;
    check_rebuilt(&rebuilt, &all)?;
    Ok(temps)
}

/// Rename every rebuilt volume into place; returns their paths in the bundle.
fn put_in_place(dir: &Path, temps: Vec<(tempfile::NamedTempFile, PathBuf)>) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for (tmp, target) in temps {
        // rename(2) replaces whatever is at the target's name (a link included) and
        // never writes through it.
        tmp.persist(&target)
            .map_err(|e| Error::io("rename into place", &target, e.error))?;
        if let Some(parent) = target.parent() {
            crate::fsutil::sync_dir(parent)?;
        }
        let rel = target.strip_prefix(dir).unwrap_or(&target);
        names.push(rel.display().to_string());
    }
    Ok(names)
}

/// The shard of one volume: the good file to read, or a fresh temporary file to rebuild
/// it into (kept in `temps` with where it goes).
fn shard(
    dir: &Path,
    data: u32,
    v: &crate::manifest::Volume,
    status: &VolumeStatus,
    temps: &mut Vec<(tempfile::NamedTempFile, PathBuf)>,
) -> Result<Shard> {
    match &status.problem {
        None => {
            let path = volumes::locate(dir, v.file, data)
                .ok_or_else(|| Error::verification(v.file.to_string(), "vanished"))?;
            return Ok(Shard::Good(path));
        }
        Some(Problem::NotRegular { kind }) => {
            return Err(Error::verification(
                &status.path,
                format!("is {kind}; remove it before repair"),
            ));
        }
        Some(_) => {}
    }
    let target = volumes::target_path(dir, v.file, data);
    let tmp = temp_beside(&target, v.file)?;
    let file = tmp
        .as_file()
        .try_clone()
        .map_err(|e| Error::io("open", tmp.path(), e))?;
    temps.push((tmp, target));
    Ok(Shard::Lost { file, size: v.size })
}

/// Check every rebuilt volume against its signed digest before any is used.
fn check_rebuilt(
    rebuilt: &[(usize, parity::Written)],
    all: &[&crate::manifest::Volume],
) -> Result<()> {
    for (i, w) in rebuilt {
        let v = all[*i];
        if w.size != v.size || w.sha256 != v.sha256 {
            return Err(Error::verification(
                v.file.to_string(),
                format!(
                    "the rebuilt volume does not match its signed sha256 (got {}, {} bytes): \
                     a parity or data volume that passed its own check cannot be, so the \
                     bundle's volumes disagree; nothing was replaced",
                    w.sha256.hex(),
                    w.size
                ),
            ));
        }
    }
    Ok(())
}

fn unrepairable(before: &[VolumeStatus], why: &str) -> Error {
    let damage = volumes::damage_error(before)
        .map(|e| crate::error::chain(&e))
        .unwrap_or_default();
    Error::verification("payload volumes", format!("cannot repair: {why}; {damage}"))
}

/// A temporary file beside `target` (same filesystem, so the rename is atomic). Its
/// name is random and it is created with `O_CREAT|O_EXCL`, which never follows a link
/// planted at the name; the directory is one [`volumes::target_path`] checked is not a
/// link.
fn temp_beside(target: &Path, v: VolumeName) -> Result<tempfile::NamedTempFile> {
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    tempfile::Builder::new()
        .prefix(&format!(".{v}.repair-"))
        .tempfile_in(parent)
        .map_err(|e| Error::io("create a temporary file in", parent, e))
}
