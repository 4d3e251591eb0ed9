//! A delta bundle installs only on top of its bases: every blob and file it leaves out
//! must already be in the enclave registry (in the image's repository, or mountable from
//! another one this install touches) or at its target under `--dest`. Checked after the
//! presence survey and before anything is written; the error names the base bundles
//! whose content is missing.

use std::collections::BTreeSet;

use super::presence::Needs;
use crate::enclave_registry::{EnclaveRegistry, Mount};
use crate::error::{Error, Result};
use crate::layout::PayloadPath;
use crate::manifest::{BaseKind, BundleManifest};

/// An omitted blob a changed image needs may sit in the repository of an image this
/// bundle leaves alone (a shared base layer): mount it from there.
pub async fn mount_omitted(
    m: &BundleManifest,
    repos: &[String],
    reg: &EnclaveRegistry,
    needs: &mut Needs,
) -> Result<()> {
    if m.delta.is_none() {
        return Ok(());
    }
    let wanted: Vec<_> = needs
        .to_upload
        .keys()
        .filter(|d| m.omitted(&PayloadPath::Blob(**d)).is_some())
        .copied()
        .collect();
    let all: BTreeSet<&String> = repos.iter().collect();
    for d in wanted {
        let targets = needs.to_upload.get(&d).cloned().unwrap_or_default();
        let mut from = None;
        for r in all.iter().filter(|r| !targets.contains(r)) {
            if reg.blob_exists(r, &d).await? {
                from = Some(r.to_string());
                break;
            }
        }
        let Some(from) = from else { continue };
        let mut left = Vec::new();
        for t in targets {
            match reg.mount_blob(&t, &from, &d).await? {
                Mount::Linked => needs.blobs_mounted += 1,
                Mount::Session(_) | Mount::Refused => left.push(t),
            }
        }
        if left.is_empty() {
            needs.to_upload.remove(&d);
        } else {
            needs.to_upload.insert(d, left);
        }
    }
    Ok(())
}

/// Refuse a delta whose omitted content the enclave does not hold.
pub fn check(m: &BundleManifest, needs: &Needs) -> Result<()> {
    let Some(d) = &m.delta else {
        return Ok(());
    };
    let mut missing: Vec<(PayloadPath, usize)> = Vec::new();
    for digest in needs.to_upload.keys() {
        if let Some(o) = m.omitted(&PayloadPath::Blob(*digest)) {
            missing.push((o.path, o.base));
        }
    }
    for &i in &needs.files {
        if let Some(o) = m.omitted(&PayloadPath::File(m.files[i].sha256)) {
            missing.push((o.path, o.base));
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let bases: BTreeSet<usize> = missing.iter().map(|(_, b)| *b).collect();
    let named: Vec<String> = bases
        .iter()
        .filter_map(|&b| d.bases.get(b))
        .map(|b| {
            let what = match b.kind {
                BaseKind::Bundle => "bundle",
                BaseKind::Inventory => "inventory",
            };
            let hop = b
                .hop
                .as_ref()
                .map(|h| {
                    format!(
                        " ({} -> {})",
                        crate::escape::Untrusted(&h.from),
                        crate::escape::Untrusted(&h.to)
                    )
                })
                .unwrap_or_default();
            format!("{what} with manifest sha256 {}{hop}", b.sha256.hex())
        })
        .collect();
    let examples: Vec<String> = missing.iter().take(3).map(|(p, _)| p.to_string()).collect();
    Err(Error::Install {
        target: "delta bundle".into(),
        reason: format!(
            "the enclave lacks {} blob(s) and file(s) this delta leaves out (e.g. {}); \
             install its base first: {}. Nothing was installed",
            missing.len(),
            examples.join(", "),
            named.join("; ")
        ),
    })
}
