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
        return Err(Error::Usage(format!(
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
    let data = p.volumes.len() as u32;
    let mut temps: Vec<(PathBuf, PathBuf)> = Vec::new();
    let mut shard = |v: &crate::manifest::Volume, status: &VolumeStatus| -> Result<Shard> {
        if status.problem.is_none() {
            let path = volumes::locate(dir, v.file, data)
                .ok_or_else(|| Error::verification(v.file.to_string(), "vanished"))?;
            return Ok(Shard::Good(path));
        }
        let target = volumes::target_path(dir, v.file, data);
        if let Some(Problem::NotRegular { kind }) = &status.problem {
            return Err(Error::verification(
                &status.path,
                format!("is {kind}; remove it before repair"),
            ));
        }
        let tmp = temp_beside(&target, v.file)?;
        temps.push((tmp.clone(), target));
        Ok(Shard::Lost {
            path: tmp,
            size: v.size,
        })
    };
    let all: Vec<&crate::manifest::Volume> = p.all_volumes().collect();
    let mut shards = Vec::new();
    for (v, s) in all.iter().zip(&before) {
        shards.push(shard(v, s)?);
    }
    let parity_shards = shards.split_off(p.volumes.len());
    let cleanup = |temps: &[(PathBuf, PathBuf)]| {
        for (t, _) in temps {
            let _ = std::fs::remove_file(t);
        }
    };
    let rebuilt = match parity::rebuild(
        &shards,
        &parity_shards,
        p.volumes[0].size,
        par.stripe,
        on_progress,
    ) {
        Ok(r) => r,
        Err(e) => {
            cleanup(&temps);
            // An error from the operating system (a full disk, an unreadable volume) is
            // operational, not a verdict on the bundle: exit 1, the cause as source().
            if e.raw_os_error().is_some() {
                return Err(Error::io("rebuild volumes in", dir, e));
            }
            return Err(Error::verification(
                "payload volumes",
                format!("rebuild: {e}"),
            ));
        }
    };
    // Check every rebuilt volume against its signed digest before any is used.
    for (i, w) in &rebuilt {
        let v = all[*i];
        if w.size != v.size || w.sha256 != v.sha256 {
            cleanup(&temps);
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
    let mut names = Vec::new();
    for (tmp, target) in &temps {
        if let Err(e) = std::fs::rename(tmp, target) {
            cleanup(&temps);
            return Err(Error::io("rename into place", target, e));
        }
        if let Some(parent) = target.parent() {
            crate::fsutil::sync_dir(parent)?;
        }
        names.push(
            target
                .strip_prefix(dir)
                .unwrap_or(target)
                .display()
                .to_string(),
        );
    }
    Ok(RepairReport {
        before,
        rebuilt: names,
    })
}

fn unrepairable(before: &[VolumeStatus], why: &str) -> Error {
    let damage = volumes::damage_error(before)
        .map(|e| crate::error::chain(&e))
        .unwrap_or_default();
    Error::verification("payload volumes", format!("cannot repair: {why}; {damage}"))
}

/// A temporary file beside `target` (same filesystem, so the rename is atomic).
fn temp_beside(target: &Path, v: VolumeName) -> Result<PathBuf> {
    let parent = target.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| Error::io("create directory", parent, e))?;
    Ok(parent.join(format!(".{v}.repair-{}", std::process::id())))
}
