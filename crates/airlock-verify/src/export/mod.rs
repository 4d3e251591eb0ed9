//! Export: one archive per image of a verified bundle, for nodes without any registry
//! (`ctr images import`, `docker load`, `skopeo copy oci-archive:/docker-archive:`).
//!
//! Export takes a [`VerifiedBundle`] and streams its payload once more; every entry goes
//! through the [`VerifyingReader`], straight into every archive that needs it (a shared
//! base layer is read once and written to each). Archives are written to temporary names
//! and renamed only after the whole payload verified again, so no archive with
//! unverified bytes ever appears under its name. Memory stays flat; disk holds only the
//! archives. A `docker-archive` (or `--platform`) needs each image's platform manifest
//! first, to know its config and layers: those small manifests are read in a pass of
//! their own before.
//!
//! [`VerifyingReader`]: crate::verify::VerifyingReader

pub mod archive;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::PathBuf;
use std::str::FromStr;

use archive::TarFile;

use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::escape::Untrusted;
use crate::layout::PayloadPath;
use crate::manifest::{BundleManifest, Carried, ImageRecord, Role};
use crate::oci::{MAX_MANIFEST_BYTES, ManifestDoc, Platform, platform_matches};
use crate::verify::VerifiedBundle;

/// The archive format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// A tar of an OCI image layout.
    OciArchive,
    /// `docker save`'s layout (one platform).
    DockerArchive,
}

impl Format {
    /// The file name ending.
    pub fn extension(self) -> &'static str {
        match self {
            Format::OciArchive => ".oci.tar",
            Format::DockerArchive => ".docker.tar",
        }
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "oci-archive" => Ok(Format::OciArchive),
            "docker-archive" => Ok(Format::DockerArchive),
            _ => Err(format!(
                "unknown format {:?}: oci-archive or docker-archive",
                Untrusted(s)
            )),
        }
    }
}

/// What to export, and where.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// The archive format.
    pub format: Format,
    /// The directory the archives go to (created if missing).
    pub out: PathBuf,
    /// One platform per archive. Required in effect for `docker-archive` (default
    /// `linux/amd64`); for `oci-archive`, without it every carried platform is kept.
    pub platform: Option<Platform>,
    /// Replace archives that already exist.
    pub force: bool,
}

/// The platform a docker archive gets when none is named.
pub fn default_platform() -> Platform {
    Platform {
        os: "linux".into(),
        architecture: "amd64".into(),
        variant: None,
    }
}

/// One archive written.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Exported {
    /// The image's canonical name.
    pub image: String,
    /// The archive's path.
    pub archive: PathBuf,
    /// Its format.
    pub format: Format,
    /// The manifest or index the archive's image is.
    pub digest: String,
    /// The one platform it holds, if it holds one.
    pub platform: Option<Platform>,
    /// Archive size in bytes.
    pub size: u64,
    /// sha256 of the archive.
    pub sha256: String,
}

/// One archive to write: its small metadata entries, then these blobs.
struct Plan {
    image: String,
    format: Format,
    target: PathBuf,
    top: Carried,
    platform: Option<Platform>,
    head: Vec<(String, Vec<u8>)>,
    blobs: BTreeSet<Sha256Digest>,
}

/// Export every image of `bundle` as one archive each.
pub fn export(
    bundle: &VerifiedBundle,
    opts: &ExportOptions,
    on_progress: &dyn Fn(u64),
) -> Result<Vec<Exported>> {
    bundle.require_full("export")?;
    std::fs::create_dir_all(&opts.out).map_err(|e| Error::io("create directory", &opts.out, e))?;
    let platform = match opts.format {
        Format::DockerArchive => Some(opts.platform.clone().unwrap_or_else(default_platform)),
        Format::OciArchive => opts.platform.clone(),
    };
    // A Helm chart has no platform: it is left out of one-platform archives (it goes to a
    // registry with `install`, or whole into an oci-archive without --platform).
    let without_charts;
    let m = match &platform {
        Some(_)
            if bundle
                .manifest()
                .images
                .iter()
                .any(|i| i.role == Some(Role::Chart)) =>
        {
            without_charts = BundleManifest {
                images: bundle
                    .manifest()
                    .images
                    .iter()
                    .filter(|i| i.role != Some(Role::Chart))
                    .cloned()
                    .collect(),
                ..bundle.manifest().clone()
            };
            &without_charts
        }
        _ => bundle.manifest(),
    };
    let chosen = match &platform {
        Some(p) => Some(choose_platform(m, p)?),
        None => None,
    };
    let targets = targets(m, opts)?;
    let docs = match &chosen {
        Some(c) => read_manifests(bundle, c.iter().map(|c| c.digest).collect(), on_progress)?,
        None => BTreeMap::new(),
    };
    let mut plans = Vec::new();
    for (i, img) in m.images.iter().enumerate() {
        let plan = match &chosen {
            None => plan_index(img, targets[i].clone()),
            Some(c) => plan_platform(m, img, &c[i], &docs, opts.format, targets[i].clone())?,
        };
        plans.push(plan);
    }
    write_all(bundle, &plans, opts.force, on_progress)
}

/// Archive paths, one per image: unique, and new unless `force`.
fn targets(m: &BundleManifest, opts: &ExportOptions) -> Result<Vec<PathBuf>> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for img in &m.images {
        let path = opts.out.join(archive_name(img, opts.format));
        if !seen.insert(path.clone()) {
            return Err(Error::invalid(
                "bundle",
                format!("image {}", Untrusted(&img.name.to_string())),
                format!("another image exports to the same file {}", path.display()),
            ));
        }
        if !opts.force && std::fs::symlink_metadata(&path).is_ok() {
            return Err(Error::from(airlock_core::Error::AlreadyExists { path }));
        }
        out.push(path);
    }
    Ok(out)
}

/// `REGISTRY+REPO+PATH_TAG.oci.tar`: the canonical name with `/` as `+` (which no
/// reference contains) and anything outside `[A-Za-z0-9._-]` (a port's `:`) as `_`, so
/// the name is one path component without a `:` (which `oci-archive:PATH` would misread).
pub fn archive_name(img: &ImageRecord, format: Format) -> String {
    let r = &img.name;
    let suffix = match &r.tag {
        Some(t) => t.clone(),
        None => format!("sha256-{}", &img.served.digest.hex()[..12]),
    };
    let raw = format!("{}/{}_{suffix}", r.registry, r.repository);
    let name: String = raw
        .chars()
        .map(|c| match c {
            '/' => '+',
            c if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') => c,
            _ => '_',
        })
        .collect();
    format!("{name}{}", format.extension())
}

/// For each image, the platform manifest matching `want`; an image that does not carry
/// it (or carries several that match) is an error naming it.
fn choose_platform(m: &BundleManifest, want: &Platform) -> Result<Vec<Carried>> {
    m.images
        .iter()
        .map(|img| {
            let matches: Vec<&Carried> = img
                .manifests
                .iter()
                .filter(|c| {
                    c.platform
                        .as_ref()
                        .is_some_and(|p| platform_matches(want, p))
                })
                .collect();
            match matches.as_slice() {
                [one] => Ok((*one).clone()),
                [] => Err(Error::invalid(
                    "--platform",
                    want,
                    format!(
                        "image {} carries only {}",
                        Untrusted(&img.name.to_string()),
                        img.platforms
                            .iter()
                            .map(|p| p.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )),
                _ => Err(Error::invalid(
                    "--platform",
                    want,
                    format!(
                        "image {} carries several matching manifests; name the variant",
                        Untrusted(&img.name.to_string())
                    ),
                )),
            }
        })
        .collect()
}

/// Read the chosen platform manifests (each at most 4 MiB) in a verifying pass.
fn read_manifests(
    bundle: &VerifiedBundle,
    digests: BTreeSet<Sha256Digest>,
    on_progress: &dyn Fn(u64),
) -> Result<BTreeMap<Sha256Digest, Vec<u8>>> {
    let mut out = BTreeMap::new();
    bundle.walk::<Error>(
        &mut |entry, r| {
            if let PayloadPath::Blob(d) = entry.path
                && digests.contains(&d)
            {
                if entry.size > MAX_MANIFEST_BYTES {
                    return Err(Error::verification(
                        entry.path.to_string(),
                        "manifest larger than 4 MiB",
                    ));
                }
                let mut buf = Vec::with_capacity(entry.size as usize);
                r.read_to_end(&mut buf)
                    .map_err(|e| Error::io("read payload entry", entry.path.to_string(), e))?;
                out.insert(d, buf);
            }
            Ok(())
        },
        on_progress,
    )?;
    Ok(out)
}

/// An OCI archive of everything the image carries: its served manifest or index, every
/// carried platform manifest, configs and layers.
fn plan_index(img: &ImageRecord, target: PathBuf) -> Plan {
    let name = img.name.to_string();
    let index = archive::oci_index(&img.served, &name, img.name.tag.as_deref());
    let mut blobs: BTreeSet<Sha256Digest> = img.manifests.iter().map(|c| c.digest).collect();
    blobs.insert(img.served.digest);
    blobs.extend(img.blobs.iter().map(|c| c.digest));
    Plan {
        image: name,
        format: Format::OciArchive,
        target,
        top: img.served.clone(),
        platform: None,
        head: vec![
            ("oci-layout".into(), archive::OCI_LAYOUT.to_vec()),
            ("index.json".into(), index),
        ],
        blobs,
    }
}

/// An archive of one platform: its manifest (OCI) or its config and layers (docker).
fn plan_platform(
    m: &BundleManifest,
    img: &ImageRecord,
    chosen: &Carried,
    docs: &BTreeMap<Sha256Digest, Vec<u8>>,
    format: Format,
    target: PathBuf,
) -> Result<Plan> {
    let name = img.name.to_string();
    let what = format!("{name}@{}", chosen.digest);
    let bytes = docs.get(&chosen.digest).ok_or_else(|| {
        Error::verification(
            PayloadPath::Blob(chosen.digest).to_string(),
            "not in the payload",
        )
    })?;
    let (config, layers) = match ManifestDoc::parse(bytes, &what, Some(&chosen.media_type))? {
        ManifestDoc::Image { config, layers, .. } => (config, layers),
        ManifestDoc::Index { .. } => {
            return Err(Error::invalid(
                "image manifest",
                what,
                "is an index, not a platform manifest",
            ));
        }
    };
    let mut parts = Vec::new();
    for d in std::iter::once(&config).chain(&layers) {
        parts.push(carried_blob(m, img, &what, &d.digest, d.size)?);
    }
    let (config_digest, layer_digests) = (parts[0], &parts[1..]);
    let mut blobs: BTreeSet<Sha256Digest> = parts.iter().copied().collect();
    let head = match format {
        Format::DockerArchive => {
            let tags: Vec<String> = img.name.tag.iter().map(|_| name.clone()).collect();
            let manifest = archive::docker_manifest(&config_digest, layer_digests, &tags);
            vec![("manifest.json".into(), manifest)]
        }
        Format::OciArchive => {
            blobs.insert(chosen.digest);
            let index = archive::oci_index(chosen, &name, img.name.tag.as_deref());
            vec![
                ("oci-layout".into(), archive::OCI_LAYOUT.to_vec()),
                ("index.json".into(), index),
            ]
        }
    };
    Ok(Plan {
        image: name,
        format,
        target,
        top: chosen.clone(),
        platform: chosen.platform.clone(),
        head,
        blobs,
    })
}

/// A config or layer a platform manifest names must be one the bundle carries for that
/// image, at the same size.
fn carried_blob(
    m: &BundleManifest,
    img: &ImageRecord,
    what: &str,
    digest: &str,
    size: u64,
) -> Result<Sha256Digest> {
    let d = Sha256Digest::parse(digest).map_err(|e| Error::invalid("image manifest", what, e))?;
    let carried = img.blobs.iter().any(|c| c.digest == d && c.size == size)
        && m.entry(&PayloadPath::Blob(d))
            .is_some_and(|e| e.size == size);
    if !carried {
        return Err(Error::invalid(
            "image manifest",
            what,
            format!("names {d} ({size} bytes), which the bundle does not carry for this image"),
        ));
    }
    Ok(d)
}

/// Bytes the archives will take: headers, content and padding of every entry, and the
/// end blocks (a sum that saturates: too big to count is too big for any disk).
fn archive_bytes(m: &BundleManifest, plans: &[Plan]) -> u64 {
    let sizes: BTreeMap<Sha256Digest, u64> = m
        .entries
        .iter()
        .filter_map(|e| {
            e.path
                .digest()
                .filter(|_| matches!(e.path, PayloadPath::Blob(_)))
                .map(|d| (d, e.size))
        })
        .collect();
    let entry = |size: u64| 512u64.saturating_add(size.div_ceil(512).saturating_mul(512));
    plans.iter().fold(0u64, |total, p| {
        let head = p.head.iter().map(|(_, b)| entry(b.len() as u64));
        let blobs = p
            .blobs
            .iter()
            .map(|d| entry(sizes.get(d).copied().unwrap_or(0)));
        head.chain(blobs)
            .fold(total.saturating_add(1024), u64::saturating_add)
    })
}

/// Write every archive in one verifying pass, then rename them all into place.
fn write_all(
    bundle: &VerifiedBundle,
    plans: &[Plan],
    force: bool,
    on_progress: &dyn Fn(u64),
) -> Result<Vec<Exported>> {
    if let Some(dir) = plans.first().and_then(|p| p.target.parent()) {
        let need = archive_bytes(bundle.manifest(), plans);
        crate::fsutil::require_free(dir, need, "the archives")?;
    }
    let mut files = Vec::new();
    for p in plans {
        let mut t = TarFile::create(&p.target)?;
        for (name, bytes) in &p.head {
            t.entry(name, bytes)?;
        }
        files.push(t);
    }
    let mut readers: BTreeMap<Sha256Digest, Vec<usize>> = BTreeMap::new();
    for (i, p) in plans.iter().enumerate() {
        for d in &p.blobs {
            readers.entry(*d).or_default().push(i);
        }
    }
    let mut buf = vec![0u8; 256 * 1024];
    bundle.walk::<Error>(
        &mut |entry, r| {
            let PayloadPath::Blob(d) = entry.path else {
                return Ok(());
            };
            let Some(to) = readers.get(&d) else {
                return Ok(());
            };
            let name = archive::blob_path(&d);
            for &i in to {
                files[i].header(&name, entry.size)?;
            }
            loop {
                let n = r
                    .read(&mut buf)
                    .map_err(|e| Error::io("read payload entry", entry.path.to_string(), e))?;
                if n == 0 {
                    break;
                }
                for &i in to {
                    files[i].write(&buf[..n])?;
                }
            }
            for &i in to {
                files[i].pad(entry.size)?;
            }
            Ok(())
        },
        on_progress,
    )?;
    let mut out = Vec::new();
    for (t, p) in files.into_iter().zip(plans) {
        let archive = t.target().to_path_buf();
        let (size, sha) = t.commit(force)?;
        out.push(Exported {
            image: p.image.clone(),
            archive,
            format: p.format,
            digest: p.top.digest.to_string(),
            platform: p.platform.clone(),
            size,
            sha256: sha.hex(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image_ref::ImageRef;
    use crate::manifest::ServedAs;

    fn record(name: &str) -> ImageRecord {
        let c = Carried {
            digest: Sha256Digest::of(name.as_bytes()),
            media_type: crate::oci::OCI_MANIFEST.into(),
            size: 1,
            platform: None,
        };
        ImageRecord {
            name: ImageRef::parse(name).unwrap(),
            role: None,
            platforms: vec![],
            source: c.clone(),
            served_as: ServedAs::Manifest,
            served: c,
            manifests: vec![],
            blobs: vec![],
        }
    }

    #[test]
    fn archive_names_are_one_safe_component() {
        let n = archive_name(
            &record("registry.k8s.io/coredns/coredns:v1.11.1"),
            Format::OciArchive,
        );
        assert_eq!(n, "registry.k8s.io+coredns+coredns_v1.11.1.oci.tar");
        let n = archive_name(&record("127.0.0.1:5000/app:v1"), Format::DockerArchive);
        assert_eq!(n, "127.0.0.1_5000+app_v1.docker.tar");
        let r = record(
            "r.io/app@sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        );
        let n = archive_name(&r, Format::OciArchive);
        assert!(n.starts_with("r.io+app_sha256-"), "{n}");
        assert!(!n.contains(':') && !n.contains('/'));
    }

    fn empty_manifest() -> BundleManifest {
        let mut m = crate::testdata::empty_manifest();
        m.payload.tar_size = 0;
        m
    }

    #[test]
    fn one_carried_platform_is_chosen_per_image() {
        let carried = |name: &str, platform: &str| Carried {
            digest: Sha256Digest::of(name.as_bytes()),
            media_type: crate::oci::OCI_MANIFEST.into(),
            size: 1,
            platform: Some(platform.parse().unwrap()),
        };
        let mut img = record("r.io/a:v1");
        img.platforms = vec![
            "linux/amd64".parse().unwrap(),
            "linux/arm64/v8".parse().unwrap(),
        ];
        img.manifests = vec![
            carried("amd", "linux/amd64"),
            carried("arm", "linux/arm64/v8"),
        ];
        let m = BundleManifest {
            images: vec![img.clone()],
            ..empty_manifest()
        };
        let arm = choose_platform(&m, &"linux/arm64".parse().unwrap()).unwrap();
        assert_eq!(arm[0].digest, Sha256Digest::of(b"arm"));
        let amd = choose_platform(&m, &default_platform()).unwrap();
        assert_eq!(amd[0].digest, Sha256Digest::of(b"amd"));
        let e = choose_platform(&m, &"linux/s390x".parse().unwrap()).unwrap_err();
        assert!(
            e.to_string()
                .contains("r.io/a:v1 carries only linux/amd64, linux/arm64/v8"),
            "{e}"
        );
        let mut two = img;
        two.manifests.push(carried("arm7", "linux/arm64/v9"));
        let m = BundleManifest {
            images: vec![two],
            ..empty_manifest()
        };
        let e = choose_platform(&m, &"linux/arm64".parse().unwrap()).unwrap_err();
        assert!(e.to_string().contains("name the variant"), "{e}");
    }

    #[test]
    fn formats_parse() {
        assert_eq!("oci-archive".parse::<Format>(), Ok(Format::OciArchive));
        assert_eq!(
            "docker-archive".parse::<Format>(),
            Ok(Format::DockerArchive)
        );
        assert!("tar".parse::<Format>().is_err());
    }
}
