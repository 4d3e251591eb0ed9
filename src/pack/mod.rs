//! Pack: store + plans -> a bundle directory.
//!
//! Reproducibility rules (tested in `tests/e2e/reproducible.rs` and below):
//! - entries in a fixed order ([`entries::Collected::into_order`]): `oci-layout`,
//!   `index.json`, then content that compresses sorted by path, then already-compressed
//!   content (gzip/zstd/xz layers and archives, by media type or file name) sorted by
//!   path;
//! - canonical ustar headers ([`crate::layout::tar_header`]);
//! - zstd output that does not depend on the number of workers ([`payload`]);
//! - the manifest is serialized with a fixed field order and sorted lists, and ed25519
//!   signatures are deterministic.
//!
//! Everything is written into a temporary directory beside the output and renamed into
//! place at the end, so an interrupted build never leaves a bundle that looks complete.

pub mod delta;
pub mod entries;
mod offload;
pub mod payload;
mod provenance;
mod stored;
pub mod verifier;
pub mod volumes;

use std::path::{Path, PathBuf};

use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::layout::{self, DocPath, MANIFEST_FILE, PAYLOAD_FILE, SIGNATURES_DIR, SUMS_FILE};
use crate::lock::Lock;
use crate::manifest::{
    BUNDLE_FORMAT, BundleManifest, Document, ImageRecord, ManifestKind, PayloadInfo,
};
use crate::sign::Signer as KeySigner;
use crate::upstream_fetch::ImagePlan;
use crate::upstream_store::Store;

/// Options for [`write_bundle`].
pub struct WriteOptions<'a> {
    /// zstd level for compressible content (1..=19).
    pub level: i32,
    /// zstd worker threads (at least 1; the output is the same for any value >= 1).
    pub threads: u32,
    /// Replace an existing output directory.
    pub force: bool,
    /// Keys that sign the manifest (one signature file each).
    pub keys: &'a [Box<dyn KeySigner>],
    /// Called with payload bytes written, for a progress bar.
    pub on_progress: &'a (dyn Fn(u64) + Sync),
    /// Called once with the bytes the payload will carry, before packing starts.
    pub on_total: &'a (dyn Fn(u64) + Sync),
    /// Change window, channel and sequence for the signed manifest.
    pub validity: Validity,
    /// The role the build signatures are made in, and the signer's name.
    pub signer: Signer,
    /// Volumes, parity and volume directories.
    pub media: volumes::Media,
    /// What earlier bundles carried, to leave out (a one-way delta).
    pub delta: Option<delta::DeltaPlan>,
    /// The verifier to carry beside the payload (`--with-verifier`).
    pub verifier: Option<verifier::Carried>,
}

/// When and where a bundle may be installed; all optional.
#[derive(Debug, Clone, Default)]
pub struct Validity {
    /// Not valid before.
    pub not_before: Option<crate::time::Timestamp>,
    /// Not valid after.
    pub expires: Option<crate::time::Timestamp>,
    /// The cluster or site.
    pub channel: Option<String>,
    /// The place in the channel's order.
    pub sequence: Option<u64>,
}

/// Who signs at build time, as the trusted comment records it.
#[derive(Debug, Clone)]
pub struct Signer {
    /// The role (`builder` unless told otherwise).
    pub role: crate::trust::policy::RoleName,
    /// A name for people (the policy's name for the key is what counts).
    pub name: Option<String>,
    /// When it was signed, as approvers' signatures record it (`SOURCE_DATE_EPOCH` when
    /// set, so builds stay reproducible).
    pub time: crate::time::Timestamp,
}

/// What was written.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WriteSummary {
    /// The bundle directory.
    pub dir: PathBuf,
    /// sha256 of `manifest.json`.
    pub manifest_sha256: String,
    /// Payload size in bytes.
    pub payload_size: u64,
    /// sha256 of the payload.
    pub payload_sha256: String,
    /// Uncompressed tar size.
    pub tar_size: u64,
    /// Number of payload entries.
    pub entries: usize,
    /// Signature files written.
    pub signatures: Vec<String>,
    /// Volume files written (data then parity); empty for one payload file.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<String>,
    /// Blobs and files left out because a delta base carried them.
    pub omitted: usize,
    /// Their bytes.
    pub omitted_bytes: u64,
}

/// What a build needs before any work: at least one signing key, and an `out` that does
/// not exist unless `force`. The CLI calls it before fetching, so a build that cannot be
/// written fails in a second, not after the download.
pub fn check_target(out: &Path, keys: &[Box<dyn KeySigner>], force: bool) -> Result<()> {
    if keys.is_empty() {
        return Err(Error::invalid(
            "build options",
            "--key",
            "at least one signing key is needed",
        ));
    }
    crate::error::refuse_existing(out, force)
}

/// Write a bundle for `lock` into `out`.
pub fn write_bundle(
    lock: &Lock,
    lock_bytes: &[u8],
    plans: &[ImagePlan],
    store: &Store,
    out: &Path,
    opts: &WriteOptions<'_>,
) -> Result<WriteSummary> {
    check_target(out, opts.keys, opts.force)?;
    let mut sorted: Vec<&ImagePlan> = plans.iter().collect();
    sorted.sort_by_key(|p| p.locked.name.to_string());

    opts.media.check()?;
    let mut collected = entries::collect(lock, &sorted, store)?;
    let files = std::mem::take(&mut collected.files);
    let delta = opts.delta.as_ref().map(|d| d.apply(&mut collected));
    let ordered = collected.into_order();
    (opts.on_total)(ordered.iter().map(|e| e.size).sum());

    let staging = Staging::create(out)?;
    let compression = payload::Compression {
        level: opts.level,
        threads: opts.threads,
    };
    let written = match opts.media.volume_size {
        None => {
            let payload_path = staging.path().join(PAYLOAD_FILE);
            let sink = payload::FileSink::create(&payload_path)?;
            payload::write(
                sink,
                &payload_path,
                ordered,
                store,
                &compression,
                opts.on_progress,
            )?
        }
        Some(size) => {
            let sink = volumes::VolumeSink::new(staging.path(), size, opts.media.volume_dirs);
            payload::write(
                sink,
                staging.path(),
                ordered,
                store,
                &compression,
                opts.on_progress,
            )?
        }
    };
    // A fetch running beside packing must have ended well (its checks too) before
    // anything is signed.
    store.wait_settled()?;
    let parity = match opts.media.parity {
        0 => None,
        n => Some(volumes::write_parity(
            staging.path(),
            &written.volumes,
            n,
            opts.media.volume_dirs,
        )?),
    };
    let mut manifest = BundleManifest {
        format: BUNDLE_FORMAT,
        kind: ManifestKind::AirlockBundle,
        hop: lock.hop.clone(),
        not_before: opts.validity.not_before,
        expires: opts.validity.expires,
        channel: opts.validity.channel.clone(),
        sequence: opts.validity.sequence,
        lock_sha256: Sha256Digest::of(lock_bytes),
        catalog: lock.catalog.clone(),
        notes: lock.notes.clone(),
        payload: PayloadInfo {
            file: PAYLOAD_FILE.into(),
            size: written.size,
            sha256: written.sha256,
            tar_size: written.tar_size,
            structure_sha256: Some(written.structure_sha256),
            volumes: written.volumes,
            parity,
        },
        entries: written.entries,
        images: sorted.iter().map(|p| image_record(p)).collect(),
        files,
        checklist: lock.checklist.clone(),
        documents: Vec::new(),
        package_repositories: lock.package_repositories.clone(),
        delta,
        provenance: provenance::write(staging.path(), lock, store)?,
        schedule: lock.schedule.clone(),
    };
    manifest.documents = write_documents(staging.path(), &manifest, lock, store)?;
    if let Some(v) = &opts.verifier {
        manifest.documents.extend(v.write(staging.path())?);
    }
    // Never sign what the verifier would refuse.
    manifest.check_consistency()?;
    let (manifest_sha, signatures) = write_signed(
        staging.path(),
        &manifest,
        opts.keys,
        &opts.signer,
        opts.media.volume_dirs,
    )?;
    if opts.media.volume_dirs {
        let ids: Vec<String> = opts.keys.iter().map(|k| k.key_id().to_string()).collect();
        volumes::write_readmes(staging.path(), &manifest, &manifest_sha, &ids)?;
    }
    staging.commit(out)?;
    Ok(WriteSummary {
        dir: out.to_path_buf(),
        manifest_sha256: manifest_sha.hex(),
        payload_size: manifest.payload.size,
        payload_sha256: manifest.payload.sha256.hex(),
        tar_size: manifest.payload.tar_size,
        entries: manifest.entries.len(),
        signatures,
        volumes: manifest
            .payload
            .all_volumes()
            .map(|v| v.file.to_string())
            .collect(),
        omitted: manifest
            .delta
            .as_ref()
            .map(|d| d.omitted.len())
            .unwrap_or(0),
        omitted_bytes: manifest
            .delta
            .as_ref()
            .map(|d| d.omitted.iter().map(|o| o.size).sum())
            .unwrap_or(0),
    })
}

/// The change report (JSON, Markdown, HTML) and the SBOM, written beside the payload and
/// listed in the manifest so the signatures cover them.
fn write_documents(
    dir: &Path,
    m: &BundleManifest,
    lock: &Lock,
    store: &Store,
) -> Result<Vec<Document>> {
    use crate::report::render::{Format, render};
    let report = crate::report::assemble(&crate::report::Inputs {
        manifest: Some(m),
        facts: lock.facts.as_ref(),
        ..Default::default()
    });
    std::fs::create_dir_all(dir.join(layout::REPORT_DIR))
        .map_err(|e| Error::io("create directory", dir.join(layout::REPORT_DIR), e))?;
    let mut docs = Vec::new();
    let mut outputs = Vec::new();
    for (path, format) in [
        (DocPath::ReportJson, Format::Json),
        (DocPath::ReportMarkdown, Format::Markdown),
        (DocPath::ReportHtml, Format::Html),
    ] {
        outputs.push((path, render(&report, format)?));
    }
    {
        use crate::report::sbom;
        // The platform manifests were fetched: their configs and layers are known.
        let read = |d: &Sha256Digest| store.read_verified(d, crate::oci::MAX_MANIFEST_BYTES);
        let children = sbom::platform_children(m, &read)?;
        outputs.push((
            DocPath::Sbom,
            sbom::sbom(m, sbom::source_date_from_env(m)?, &children)?,
        ));
    }
    for (path, bytes) in outputs {
        write_file(&dir.join(path.file_name()), &bytes)?;
        docs.push(Document {
            path,
            size: bytes.len() as u64,
            sha256: Sha256Digest::of(&bytes),
            media_type: path.media_type().to_string(),
        });
    }
    Ok(docs)
}

fn image_record(p: &ImagePlan) -> ImageRecord {
    ImageRecord {
        name: p.locked.name.clone(),
        role: p.locked.role,
        platforms: p.locked.platforms.clone(),
        source: p.source.clone(),
        served_as: p.served_as,
        served: p.served.clone(),
        manifests: p.manifests.clone(),
        blobs: p.blobs.clone(),
    }
}

/// Write `manifest.json`, `SHA256SUMS` and one signature per key into `dir`.
fn write_signed(
    dir: &Path,
    manifest: &BundleManifest,
    keys: &[Box<dyn KeySigner>],
    signer: &Signer,
    volume_dirs: bool,
) -> Result<(Sha256Digest, Vec<String>)> {
    let manifest_path = dir.join(MANIFEST_FILE);
    let manifest_sha = write_manifest(&manifest_path, manifest)?;
    let sums = manifest.sums_text(&manifest_sha, volume_dirs);
    write_file(&dir.join(SUMS_FILE), sums.as_bytes())?;
    let sig_dir = dir.join(SIGNATURES_DIR);
    std::fs::create_dir(&sig_dir).map_err(|e| Error::io("create directory", &sig_dir, e))?;
    let comment = trusted_comment(manifest, &manifest_sha, signer);
    let digest = crate::trust::MessageDigest::of_file(&manifest_path)?;
    let mut signatures = Vec::new();
    for key in keys {
        let sig = crate::sign::sign_digest(&**key, &digest, &comment)?;
        let name = layout::signature_file(&key.key_id().to_string());
        write_file(&sig_dir.join(&name), sig.as_bytes())?;
        signatures.push(layout::signature_path(&name));
    }
    signatures.sort();
    Ok((manifest_sha, signatures))
}

/// The trusted comment of a build signature: what was signed, in which role and when, in
/// words a person running `minisign -V` can check. Deterministic given the signer's time
/// (`SOURCE_DATE_EPOCH`), so the same lock and key give the same signature.
pub fn trusted_comment(m: &BundleManifest, manifest_sha: &Sha256Digest, signer: &Signer) -> String {
    use crate::trust::comment::{CommentKind, render};
    let hop = m
        .hop
        .as_ref()
        .map(|h| format!("{}->{}", h.from, h.to))
        .unwrap_or_else(|| "none".into());
    let format = m.format.to_string();
    let mut fields: Vec<(&str, &str)> = vec![
        ("format", &format),
        ("hop", &hop),
        ("role", signer.role.as_str()),
    ];
    if let Some(n) = &signer.name {
        fields.push(("signer", n));
    }
    let time = signer.time.to_string();
    fields.push(("time", &time));
    let (msha, psha) = (manifest_sha.hex(), m.payload.sha256.hex());
    fields.push(("manifest_sha256", &msha));
    fields.push(("payload_sha256", &psha));
    render(CommentKind::Bundle, &fields)
}

/// Write the manifest as it is serialized (hashing it on the way) and refuse one the
/// verifier would not read: the enclave must never be the first to find out.
fn write_manifest(path: &Path, manifest: &BundleManifest) -> Result<Sha256Digest> {
    use std::io::Write;
    let f = std::fs::File::create(path).map_err(|e| Error::io("create", path, e))?;
    let mut w = crate::digest::HashingWriter::new(std::io::BufWriter::new(f));
    manifest
        .write_to(&mut w)
        .and_then(|()| w.flush())
        .map_err(|e| Error::io("write", path, e))?;
    let (buf, sha256, size) = w.finish();
    let f = buf
        .into_inner()
        .map_err(|e| Error::io("write", path, e.into_error()))?;
    f.sync_all().map_err(|e| Error::io("sync", path, e))?;
    if size > crate::manifest::MAX_MANIFEST_JSON_BYTES {
        return Err(Error::invalid(
            "bundle",
            path.display(),
            format!(
                "the manifest is {size} bytes, more than the {} a verifier reads; split the \
                 hop's images over several bundles (`--since` makes the later ones deltas)",
                crate::manifest::MAX_MANIFEST_JSON_BYTES
            ),
        ));
    }
    Ok(sha256)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::File::create(path).map_err(|e| Error::io("create", path, e))?;
    f.write_all(bytes)
        .map_err(|e| Error::io("write", path, e))?;
    f.sync_all().map_err(|e| Error::io("sync", path, e))
}

/// A temporary directory beside the output that becomes the output only when complete.
///
/// It is named `.NAME.partial-XXXXXX` (never mistaken for a bundle) and locked (flock on
/// the directory) for the build's whole life. A build killed with `kill -9` leaves it
/// behind; the next build of the same output finds partial directories whose lock it can
/// take (their owner is gone) and removes them, so interrupted runs do not fill the disk.
struct Staging {
    tmp: tempfile::TempDir,
    parent: PathBuf,
    name: String,
    _lock: std::fs::File,
}

impl Staging {
    fn create(out: &Path) -> Result<Self> {
        let parent = out
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        std::fs::create_dir_all(&parent).map_err(|e| Error::io("create directory", &parent, e))?;
        let name = out
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("bundle")
            .to_string();
        let prefix = format!(".{name}.partial-");
        remove_stale_partials(&parent, &prefix);
        let tmp = tempfile::Builder::new()
            .prefix(&prefix)
            .tempdir_in(&parent)
            .map_err(|e| Error::io("create temporary directory in", &parent, e))?;
        let lock = std::fs::File::open(tmp.path()).map_err(|e| Error::io("open", tmp.path(), e))?;
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive)
            .map_err(|e| Error::io("lock", tmp.path(), e.into()))?;
        Ok(Staging {
            tmp,
            parent,
            name,
            _lock: lock,
        })
    }

    fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// Rename into place (moving an existing output aside first, for `--force`).
    fn commit(self, out: &Path) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let tmp_path = self.tmp.keep();
        // tempdir creates 0700; a bundle directory is meant to be read by others.
        std::fs::set_permissions(&tmp_path, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| Error::io("set permissions on", &tmp_path, e))?;
        if out.exists() {
            let old = self
                .parent
                .join(format!(".{}.replaced-{}", self.name, std::process::id()));
            std::fs::rename(out, &old).map_err(|e| Error::io("move aside", out, e))?;
            std::fs::rename(&tmp_path, out).map_err(|e| Error::io("rename into place", out, e))?;
            std::fs::remove_dir_all(&old).map_err(|e| Error::io("remove", &old, e))?;
        } else {
            std::fs::rename(&tmp_path, out).map_err(|e| Error::io("rename into place", out, e))?;
        }
        airlock_verify::fsutil::sync_dir(&self.parent)?;
        Ok(())
    }
}

/// Remove `PREFIX*` directories in `parent` whose lock can be taken: builds that were
/// killed. A live build holds its lock, so its directory is left alone.
fn remove_stale_partials(parent: &Path, prefix: &str) {
    let Ok(listing) = std::fs::read_dir(parent) else {
        return;
    };
    for ent in listing.flatten() {
        let is_partial = ent
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(prefix));
        if !is_partial || !ent.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let Ok(dir) = std::fs::File::open(ent.path()) else {
            continue;
        };
        if rustix::fs::flock(&dir, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_ok()
            && std::fs::remove_dir_all(ent.path()).is_ok()
        {
            tracing::info!(
                "removed {} left by an interrupted build",
                ent.path().display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    //! In-process round trips: pack a small bundle from a store, then open and verify it
    //! with the enclave crate, without any network.

    use super::*;
    use crate::lock::{FileSource, LockedFile, LockedImage};
    use crate::manifest::{Carried, FileKind, Mode, Role, ServedAs};
    use crate::upstream_fetch::ImagePlan;
    use airlock_verify::verify::{Policy, SignedBundle};

    struct Fixture {
        _dir: tempfile::TempDir,
        root: PathBuf,
        store: Store,
        lock: Lock,
        plans: Vec<ImagePlan>,
        keys: Vec<Box<dyn KeySigner>>,
    }

    #[test]
    fn a_manifest_larger_than_the_verifier_reads_is_never_signed() {
        let mut m: BundleManifest = serde_json::from_value(serde_json::json!({
            "format": 1, "kind": "airlock-bundle", "hop": null, "lock_sha256": "0".repeat(64),
            "notes": [], "entries": [], "images": [], "files": [], "checklist": null,
            "payload": {"file": "payload.tar.zst", "size": 0, "sha256": "0".repeat(64),
                        "tar_size": 1024},
        }))
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(MANIFEST_FILE);
        // Streamed to disk, the same bytes as in memory.
        let sha = write_manifest(&path, &m).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), m.to_bytes());
        assert_eq!(sha, Sha256Digest::of(&m.to_bytes()));
        // About 200 bytes an entry: 100,000 entries pass 16 MiB.
        let e = airlock_verify::manifest::Entry {
            path: airlock_verify::layout::PayloadPath::Blob(Sha256Digest::of(b"x")),
            size: 1,
            sha256: Sha256Digest::of(b"x"),
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
        };
        m.entries = vec![e; 100_000];
        let err = write_manifest(&path, &m).unwrap_err().to_string();
        assert!(
            err.contains("more than the 16777216 a verifier reads"),
            "{err}"
        );
    }

    fn put(store: &Store, bytes: &[u8]) -> Sha256Digest {
        let d = Sha256Digest::of(bytes);
        store.put_bytes(bytes, "test", &d).unwrap();
        d
    }

    fn carried(d: Sha256Digest, media_type: &str, size: usize) -> Carried {
        Carried {
            digest: d,
            media_type: media_type.into(),
            size: size as u64,
            platform: None,
        }
    }

    /// One single-platform image (config, a gzip-looking layer, a plain layer) and one file.
    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let store = Store::open(&root.join("cache")).unwrap();
        let config = br#"{"architecture":"amd64","os":"linux"}"#.to_vec();
        let gz: Vec<u8> = [0x1f, 0x8b]
            .iter()
            .copied()
            .chain((0..5000).map(|i| (i * 7) as u8))
            .collect();
        let plain: Vec<u8> = (0..70_000u32).map(|i| (i % 13) as u8).collect();
        let (cd, gd, pd) = (put(&store, &config), put(&store, &gz), put(&store, &plain));
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{m}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{cd}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{gd}","size":{}}},{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{pd}","size":{}}}]}}"#,
            config.len(),
            gz.len(),
            plain.len(),
            m = crate::oci::OCI_MANIFEST
        );
        let md = put(&store, manifest.as_bytes());
        let source = carried(md, crate::oci::OCI_MANIFEST, manifest.len());
        let locked = LockedImage {
            name: crate::image_ref::ImageRef::parse("registry.k8s.io/pause:3.10").unwrap(),
            digest: md,
            platforms: vec!["linux/amd64".parse().unwrap()],
            role: Some(Role::Target),
        };
        let plans = vec![ImagePlan {
            locked: locked.clone(),
            source: source.clone(),
            served_as: ServedAs::Manifest,
            served: source.clone(),
            subset_bytes: None,
            manifests: vec![source],
            blobs: vec![
                carried(cd, "application/vnd.oci.image.config.v1+json", config.len()),
                carried(gd, "application/vnd.oci.image.layer.v1.tar+gzip", gz.len()),
                carried(pd, "application/vnd.oci.image.layer.v1.tar", plain.len()),
            ],
        }];
        let kubeadm = b"#!/bin/sh\necho kubeadm\n".to_vec();
        let kd = put(&store, &kubeadm);
        let mut lock = Lock::new();
        lock.images = vec![locked];
        lock.files = vec![LockedFile {
            name: "kubeadm".into(),
            source: FileSource::Url(
                "https://dl.k8s.io/release/v1.35.0/bin/linux/amd64/kubeadm".into(),
            ),
            sha256: kd,
            size: Some(kubeadm.len() as u64),
            target: crate::paths::SafeRelPath::new("bin/v1.35.0/linux/amd64/kubeadm").unwrap(),
            mode: Mode(0o755),
            kind: Some(FileKind::Binary),
        }];
        Fixture {
            _dir: dir,
            root,
            store,
            lock,
            plans,
            keys: vec![Box::new(crate::sign::SecretKey::generate().unwrap())],
        }
    }

    fn pack(f: &Fixture, name: &str, threads: u32) -> WriteSummary {
        try_pack(f, &f.store, name, threads).unwrap()
    }

    fn try_pack(f: &Fixture, store: &Store, name: &str, threads: u32) -> Result<WriteSummary> {
        write_bundle(
            &f.lock,
            b"lock bytes",
            &f.plans,
            store,
            &f.root.join(name),
            &WriteOptions {
                level: 3,
                threads,
                force: false,
                keys: &f.keys,
                on_progress: &|_| {},
                on_total: &|_| {},
                validity: Validity::default(),
                signer: Signer {
                    role: crate::trust::policy::RoleName::new("builder").unwrap(),
                    name: None,
                    time: crate::time::Timestamp(1_700_000_000),
                },
                media: Default::default(),
                delta: None,
                verifier: None,
            },
        )
    }

    /// Packing from `store` fails on a cache entry (exit 5) and leaves no bundle and no
    /// partial directory behind.
    fn assert_refused_leaving_nothing(f: &Fixture, store: &Store) {
        let e = try_pack(f, store, "bad", 1).unwrap_err();
        assert_eq!(e.exit_code(), 5, "{e}");
        assert_no_bundle(f, "bad");
    }

    /// Neither bundle `name` nor any partial bundle directory is there.
    fn assert_no_bundle(f: &Fixture, name: &str) {
        assert!(!f.root.join(name).exists());
        let leftovers: Vec<_> = std::fs::read_dir(&f.root)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains("partial"))
            .collect();
        assert!(
            leftovers.is_empty(),
            "a partial bundle directory was left behind"
        );
    }

    #[test]
    fn partial_directories_of_killed_builds_are_removed_and_live_ones_kept() {
        let parent = tempfile::tempdir().unwrap();
        let dead = parent.path().join(".b.partial-dead");
        std::fs::create_dir(&dead).unwrap();
        std::fs::write(dead.join("manifest.json"), b"{}").unwrap();
        let live = Staging::create(&parent.path().join("b")).unwrap();
        let other = parent.path().join(".c.partial-x");
        std::fs::create_dir(&other).unwrap();
        remove_stale_partials(parent.path(), ".b.partial-");
        assert!(
            !dead.exists(),
            "a partial directory nobody holds is removed"
        );
        assert!(live.path().exists(), "a running build's directory is kept");
        assert!(
            other.exists(),
            "another output's partial directory is not ours"
        );
    }

    #[test]
    fn what_is_packed_verifies_and_reads_back() {
        let f = fixture();
        let summary = pack(&f, "bundle", 1);
        // oci-layout, index.json, manifest, config, two layers, one file.
        assert_eq!(summary.entries, 7);
        let policy = Policy::threshold(vec![f.keys[0].public_key()], 1).unwrap();
        let signed = SignedBundle::open(&summary.dir, &policy).unwrap();
        assert_eq!(signed.manifest().files[0].size, 23);
        let verified = signed.verify(&|_| {}).unwrap();
        assert_eq!(verified.summary().entries, 7);
        // The order: layout files, compressible content, then the gzip layer last.
        let m = verified.manifest();
        assert_eq!(m.entries[0].path, crate::layout::PayloadPath::OciLayout);
        assert_eq!(m.entries[1].path, crate::layout::PayloadPath::OciIndex);
        assert_eq!(
            m.entries.last().unwrap().media_type,
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
        let mut seen = Vec::new();
        verified
            .walk::<airlock_core::Error>(
                &mut |e, r| {
                    let mut buf = Vec::new();
                    std::io::Read::read_to_end(r, &mut buf).unwrap();
                    assert_eq!(Sha256Digest::of(&buf), e.sha256);
                    seen.push(e.path);
                    Ok(())
                },
                &|_| {},
            )
            .unwrap();
        assert_eq!(seen.len(), 7);
    }

    #[test]
    fn same_inputs_same_bytes_for_any_thread_count() {
        let f = fixture();
        let a = pack(&f, "a", 1);
        let b = pack(&f, "b", 3);
        for name in [MANIFEST_FILE, PAYLOAD_FILE, SUMS_FILE] {
            assert_eq!(
                std::fs::read(a.dir.join(name)).unwrap(),
                std::fs::read(b.dir.join(name)).unwrap(),
                "{name} differs"
            );
        }
        assert_eq!(a.signatures, b.signatures);
    }

    #[test]
    fn a_changed_cache_entry_is_caught_and_leaves_no_bundle() {
        let f = fixture();
        let d = f.lock.files[0].sha256;
        std::fs::write(f.store.path(&d), b"#!/bin/sh\necho tampered\n").unwrap();
        // A later run: this process's store hashed the entry on its way in and would
        // trust it, so the tampering is between runs.
        let store = Store::open(f.store.root()).unwrap();
        assert_refused_leaving_nothing(&f, &store);
    }

    #[test]
    fn a_cache_entry_that_shrank_within_the_run_is_caught() {
        let f = fixture();
        let d = f.lock.files[0].sha256;
        // This process hashed the entry on its way in, so packing only counts it: a
        // shorter file must still be caught (it would corrupt the tar).
        let path = f.store.path(&d);
        let len = std::fs::metadata(&path).unwrap().len();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - 1)
            .unwrap();
        let store = f.store.clone();
        assert_refused_leaving_nothing(&f, &store);
    }

    /// A store at a new root holding the fixture's manifests (what planning fetched), with
    /// every blob and file announced as on its way; and the content to bring, in fetch
    /// order.
    fn store_being_fetched(f: &Fixture) -> (Store, crate::upstream_store::Fetching, Vec<Vec<u8>>) {
        let late = Store::open(&f.root.join("late-cache")).unwrap();
        for m in &f.plans[0].manifests {
            put(&late, &std::fs::read(f.store.path(&m.digest)).unwrap());
        }
        let order = entries::fetch_order(&f.lock, &f.plans);
        let coming: Vec<Sha256Digest> = order.into_iter().filter(|d| !late.has(d, None)).collect();
        let fetching = late.expect(coming.clone());
        let content = coming
            .iter()
            .map(|d| std::fs::read(f.store.path(d)).unwrap())
            .collect();
        (late, fetching, content)
    }

    #[test]
    fn packing_beside_a_fetch_waits_for_each_entry_and_writes_the_same_bytes() {
        let f = fixture();
        let a = pack(&f, "a", 1);
        let (late, fetching, content) = store_being_fetched(&f);
        let b = std::thread::scope(|s| {
            let packer = s.spawn(|| try_pack(&f, &late, "b", 1));
            for bytes in &content {
                std::thread::sleep(std::time::Duration::from_millis(20));
                assert!(!f.root.join("b").exists(), "signed before the fetch ended");
                put(&late, bytes);
            }
            fetching.finish(true);
            packer.join().unwrap().unwrap()
        });
        for name in [MANIFEST_FILE, PAYLOAD_FILE, SUMS_FILE] {
            assert_eq!(
                std::fs::read(a.dir.join(name)).unwrap(),
                std::fs::read(b.dir.join(name)).unwrap(),
                "{name} differs"
            );
        }
    }

    #[test]
    fn a_fetch_that_fails_midway_or_after_everything_arrived_leaves_no_bundle() {
        for arrive in [1, usize::MAX] {
            let f = fixture();
            let (late, fetching, content) = store_being_fetched(&f);
            let e = std::thread::scope(|s| {
                let packer = s.spawn(|| try_pack(&f, &late, "bad", 1));
                for bytes in content.iter().take(arrive) {
                    put(&late, bytes);
                }
                // Everything arrived and was packed, and then a check after the
                // downloads failed: still nothing may be signed.
                std::thread::sleep(std::time::Duration::from_millis(100));
                drop(fetching);
                packer.join().unwrap().unwrap_err()
            });
            assert!(e.to_string().contains("fetch"), "{e}");
            assert_no_bundle(&f, "bad");
        }
    }

    #[test]
    fn a_media_type_that_lies_about_compression_costs_a_frame_not_the_bundle() {
        let mut f = fixture();
        // The plain layer claims gzip: it is ordered among the compressed content but
        // packed in a frame that compresses.
        f.plans[0].blobs[2].media_type = "application/vnd.oci.image.layer.v1.tar+gzip".into();
        let summary = pack(&f, "bundle", 1);
        let policy = Policy::threshold(vec![f.keys[0].public_key()], 1).unwrap();
        let verified = SignedBundle::open(&summary.dir, &policy)
            .unwrap()
            .verify(&|_| {})
            .unwrap();
        let m = verified.manifest();
        let plain = f.plans[0].blobs[2].digest;
        let gz = f.plans[0].blobs[1].digest;
        let at = |d| m.entries.iter().position(|e| e.sha256 == d).unwrap();
        assert!(at(plain) >= m.entries.len() - 2 && at(gz) >= m.entries.len() - 2);
        // Its bytes decide its frame: after the gzip layer it opens a third frame, before
        // it it stays in the first.
        let frames = zstd_frames(&summary.dir.join(PAYLOAD_FILE));
        assert_eq!(frames, if at(plain) < at(gz) { 2 } else { 3 });
        assert_eq!(
            zstd_frames(&pack(&fixture(), "honest", 1).dir.join(PAYLOAD_FILE)),
            2
        );
    }

    fn zstd_frames(path: &Path) -> usize {
        let bytes = std::fs::read(path).unwrap();
        let mut rest = &bytes[..];
        let mut n = 0;
        while !rest.is_empty() {
            let len = zstd::zstd_safe::find_frame_compressed_size(rest).unwrap();
            rest = &rest[len..];
            n += 1;
        }
        n
    }

    #[test]
    fn a_blob_that_grew_within_the_run_is_hashed_again_and_caught() {
        let f = fixture();
        // A layer's length comes from its descriptor, so packing reads only that many
        // bytes: a file that grew with other content must not pass as counted.
        let blob = f.plans[0].blobs[1].clone();
        let path = f.store.path(&blob.digest);
        std::fs::write(&path, vec![0x1f; blob.size as usize + 1]).unwrap();
        let store = f.store.clone();
        assert_refused_leaving_nothing(&f, &store);
    }
}
