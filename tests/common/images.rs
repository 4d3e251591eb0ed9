//! Deterministic test images, built offline, written as an OCI image layout
//! and pushed to a test registry with `skopeo`.
//!
//! Every image is a multi-platform OCI image index. For each platform there is
//! an OCI image manifest whose config carries the right `os`, `architecture`
//! and `rootfs.diff_ids`, and whose layers are real tar archives (optionally
//! gzip-compressed) full of seeded pseudo-random bytes. Building the same
//! specs twice gives the same bytes and so the same digests, on any machine.
//!
//! Layer content rules:
//! * [`LayerSpec::Random`]: content depends on `seed`, `size` and the
//!   platform, so every platform gets different bytes. Two images that use
//!   the same seed and size on the same platform share that layer (a cheap way
//!   to test blob de-duplication across images).
//! * [`LayerSpec::Shared`]: content depends on the name only, so it is the very
//!   same blob in every image and on every platform ("base" layer). It is
//!   gzip-compressed and [`SHARED_LAYER_SIZE`] bytes of file data.
//!
//! Each config also carries a label naming its `REPO:TAG`, so two images never
//! share a config, manifest or index digest even if their layers match.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::json;
use sha2::{Digest, Sha256};

pub const MEDIA_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MEDIA_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const MEDIA_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const MEDIA_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// Annotation that names an image inside an OCI layout's `index.json`.
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";

/// Bytes of file data in every [`LayerSpec::Shared`] layer.
pub const SHARED_LAYER_SIZE: usize = 128 * 1024;
/// Layer data is split into files of at most this many bytes.
const FILE_CHUNK: usize = 64 * 1024;
/// Fixed gzip level: the same input always gives the same compressed bytes.
const GZIP_LEVEL: u32 = 6;

// ---------------------------------------------------------------------------
// Specs and results
// ---------------------------------------------------------------------------

/// What to build: one multi-platform image `repository:tag`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpec {
    /// Repository path without registry host, e.g. "kube-apiserver" or
    /// "library/pause".
    pub repository: String,
    pub tag: String,
    /// `(os, architecture)` pairs, e.g. `("linux", "amd64")`; see [`linux`].
    pub platforms: Vec<(String, String)>,
    /// Layers bottom-up, the same list for every platform.
    pub layers: Vec<LayerSpec>,
}

impl ImageSpec {
    /// "REPO:TAG", the name used inside the OCI layout.
    pub fn reference(&self) -> String {
        format!("{}:{}", self.repository, self.tag)
    }
}

/// Shorthand for `[("linux", arch), ...]`.
pub fn linux(archs: &[&str]) -> Vec<(String, String)> {
    archs
        .iter()
        .map(|a| ("linux".to_string(), a.to_string()))
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerSpec {
    /// Identical bytes in every image and platform that names it.
    Shared(String),
    /// `size` bytes of seeded random file data, different per platform.
    Random { seed: u64, size: usize, gzip: bool },
}

impl LayerSpec {
    pub fn shared(name: &str) -> LayerSpec {
        LayerSpec::Shared(name.to_string())
    }
}

/// What was built: the digests a test can later look for in a registry or a
/// bundle. All digests are "sha256:<64 hex>".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltImage {
    pub repository: String,
    pub tag: String,
    /// Digest of the image index (what `REPO:TAG` resolves to).
    pub index_digest: String,
    /// `("linux/amd64", manifest digest)` in the order of the spec.
    pub manifests: Vec<(String, String)>,
    /// Every config and layer digest of every platform, de-duplicated, in
    /// first-seen order.
    pub blobs: Vec<String>,
}

impl BuiltImage {
    /// "REPO:TAG".
    pub fn reference(&self) -> String {
        format!("{}:{}", self.repository, self.tag)
    }

    /// Index, manifest and blob digests together: everything a complete copy
    /// of this image must contain.
    pub fn all_digests(&self) -> Vec<String> {
        let mut all = vec![self.index_digest.clone()];
        all.extend(self.manifests.iter().map(|(_, d)| d.clone()));
        all.extend(self.blobs.iter().cloned());
        all
    }

    /// Manifest digest for "os/arch".
    pub fn manifest_digest(&self, platform: &str) -> Option<&str> {
        self.manifests
            .iter()
            .find(|(p, _)| p == platform)
            .map(|(_, d)| d.as_str())
    }
}

// ---------------------------------------------------------------------------
// Hashing and pseudo-random bytes
// ---------------------------------------------------------------------------

/// Lower-case hex SHA-256 of `bytes` (no "sha256:" prefix).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// "sha256:<hex>" digest of `bytes`, as used in OCI descriptors.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(bytes))
}

/// SplitMix64: tiny, fast, and fully specified, so our "random" bytes are the
/// same forever, independent of any crate's version.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let word = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }
}

/// `size` deterministic pseudo-random bytes for `seed` (e.g. file contents
/// for [`write_file_tree`]).
pub fn random_bytes(seed: u64, size: usize) -> Vec<u8> {
    let mut buf = vec![0u8; size];
    SplitMix64::new(seed).fill(&mut buf);
    buf
}

/// FNV-1a: turns names into seeds, stable across Rust versions (unlike
/// `std`'s `DefaultHasher`).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

// ---------------------------------------------------------------------------
// Layers
// ---------------------------------------------------------------------------

struct Layer {
    /// The uncompressed tar; its sha256 is the diff_id.
    diff_id: String,
    /// What goes into blobs/ (the tar, or its gzip).
    blob: Vec<u8>,
    media_type: &'static str,
}

/// A deterministic tar: entries in sorted order, mtime 0, uid/gid 0, no user
/// or group names, fixed modes. Data is `size` random bytes split into files
/// of [`FILE_CHUNK`] bytes under `layers/<label>/`, plus a `LABEL` file.
fn layer_tar(label: &str, seed: u64, size: usize) -> Vec<u8> {
    let mut rng = SplitMix64::new(seed);
    let root = format!("layers/{label}");
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    files.insert(format!("{root}/LABEL"), format!("{label}\n").into_bytes());
    let mut remaining = size;
    let mut index = 0;
    while remaining > 0 {
        let n = remaining.min(FILE_CHUNK);
        let mut data = vec![0u8; n];
        rng.fill(&mut data);
        files.insert(format!("{root}/data-{index:04}.bin"), data);
        remaining -= n;
        index += 1;
    }

    let mut builder = tar::Builder::new(Vec::new());
    for dir in ["layers/".to_string(), format!("{root}/")] {
        let mut header = fixed_header(tar::EntryType::Directory, 0o755, 0);
        builder
            .append_data(&mut header, dir, std::io::empty())
            .expect("append directory entry to layer tar");
    }
    for (path, data) in &files {
        let mut header = fixed_header(tar::EntryType::Regular, 0o644, data.len() as u64);
        builder
            .append_data(&mut header, path, data.as_slice())
            .expect("append file entry to layer tar");
    }
    builder.into_inner().expect("finish layer tar")
}

fn fixed_header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_size(size);
    header
}

fn gzip(data: &[u8]) -> Vec<u8> {
    // GzEncoder writes mtime 0 and no file name, so output is reproducible.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(GZIP_LEVEL));
    enc.write_all(data).expect("gzip layer tar");
    enc.finish().expect("finish gzip stream")
}

fn make_layer(label: &str, seed: u64, size: usize, compress: bool) -> Layer {
    let tar = layer_tar(label, seed, size);
    let diff_id = sha256_digest(&tar);
    let (blob, media_type) = if compress {
        (gzip(&tar), MEDIA_LAYER_GZIP)
    } else {
        (tar, MEDIA_LAYER_TAR)
    };
    Layer {
        diff_id,
        blob,
        media_type,
    }
}

fn shared_layer(name: &str) -> Layer {
    make_layer(
        &format!("shared-{name}"),
        fnv1a(name.as_bytes()),
        SHARED_LAYER_SIZE,
        true,
    )
}

fn random_layer(seed: u64, size: usize, compress: bool, os: &str, arch: &str) -> Layer {
    let platform_seed = seed ^ fnv1a(format!("{os}/{arch}").as_bytes()).rotate_left(17);
    make_layer(
        &format!("random-{seed}-{os}-{arch}"),
        platform_seed,
        size,
        compress,
    )
}

// ---------------------------------------------------------------------------
// OCI layout
// ---------------------------------------------------------------------------

/// Writes blobs under `blobs/sha256/` and returns (digest, size).
struct BlobStore<'a> {
    dir: &'a Path,
}

impl BlobStore<'_> {
    fn put(&self, bytes: &[u8]) -> (String, usize) {
        let hex = sha256_hex(bytes);
        let path = self.dir.join("blobs/sha256").join(&hex);
        if !path.exists() {
            fs::write(&path, bytes)
                .unwrap_or_else(|e| panic!("write blob {}: {e}", path.display()));
        }
        (format!("sha256:{hex}"), bytes.len())
    }
}

fn to_json(value: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("serialise JSON")
}

/// Write ONE OCI image layout at `dir` (created if missing) holding all
/// `images`, each named "REPO:TAG" in `index.json`. Returns what was built, in
/// the same order. Panics on duplicate names or an empty platform list.
pub fn build_layout(dir: &Path, images: &[ImageSpec]) -> Vec<BuiltImage> {
    fs::create_dir_all(dir.join("blobs/sha256"))
        .unwrap_or_else(|e| panic!("create OCI layout at {}: {e}", dir.display()));
    let store = BlobStore { dir };
    let mut shared: HashMap<String, Layer> = HashMap::new();
    let mut top_level = Vec::new();
    let mut built = Vec::new();

    for spec in images {
        assert!(
            !spec.platforms.is_empty(),
            "{} has no platforms",
            spec.reference()
        );
        assert!(
            !built
                .iter()
                .any(|b: &BuiltImage| b.reference() == spec.reference()),
            "{} listed twice",
            spec.reference()
        );
        let mut blobs: Vec<String> = Vec::new();
        let mut remember = |digest: &str| {
            if !blobs.iter().any(|b| b == digest) {
                blobs.push(digest.to_string());
            }
        };
        let mut index_entries = Vec::new();
        let mut manifests = Vec::new();

        for (os, arch) in &spec.platforms {
            let mut layer_descriptors = Vec::new();
            let mut diff_ids = Vec::new();
            let mut history = Vec::new();
            for layer_spec in &spec.layers {
                let fresh;
                let layer = match layer_spec {
                    LayerSpec::Shared(name) => &*shared
                        .entry(name.clone())
                        .or_insert_with(|| shared_layer(name)),
                    LayerSpec::Random { seed, size, gzip } => {
                        fresh = random_layer(*seed, *size, *gzip, os, arch);
                        &fresh
                    }
                };
                let (digest, size) = store.put(&layer.blob);
                remember(&digest);
                diff_ids.push(layer.diff_id.clone());
                history
                    .push(json!({ "created_by": format!("airlock test fixture: {layer_spec:?}") }));
                layer_descriptors.push(json!({
                    "mediaType": layer.media_type,
                    "digest": digest,
                    "size": size,
                }));
            }

            let config = json!({
                "architecture": arch,
                "os": os,
                "config": {
                    "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                    "Labels": { "airlock.test/image": spec.reference() },
                },
                "rootfs": { "type": "layers", "diff_ids": diff_ids },
                "history": history,
            });
            let (config_digest, config_size) = store.put(&to_json(&config));
            remember(&config_digest);

            let manifest = json!({
                "schemaVersion": 2,
                "mediaType": MEDIA_MANIFEST,
                "config": {
                    "mediaType": MEDIA_CONFIG,
                    "digest": config_digest,
                    "size": config_size,
                },
                "layers": layer_descriptors,
            });
            let (manifest_digest, manifest_size) = store.put(&to_json(&manifest));
            index_entries.push(json!({
                "mediaType": MEDIA_MANIFEST,
                "digest": manifest_digest,
                "size": manifest_size,
                "platform": { "os": os, "architecture": arch },
            }));
            manifests.push((format!("{os}/{arch}"), manifest_digest));
        }

        let index = json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_INDEX,
            "manifests": index_entries,
        });
        let (index_digest, index_size) = store.put(&to_json(&index));
        top_level.push(json!({
            "mediaType": MEDIA_INDEX,
            "digest": index_digest,
            "size": index_size,
            "annotations": { REF_NAME_ANNOTATION: spec.reference() },
        }));
        built.push(BuiltImage {
            repository: spec.repository.clone(),
            tag: spec.tag.clone(),
            index_digest,
            manifests,
            blobs,
        });
    }

    let layout_index = json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_INDEX,
        "manifests": top_level,
    });
    fs::write(dir.join("index.json"), to_json(&layout_index)).expect("write OCI layout index.json");
    fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)
        .expect("write OCI layout oci-layout file");
    built
}

// ---------------------------------------------------------------------------
// skopeo
// ---------------------------------------------------------------------------

/// Run skopeo and return its output, panicking with its stderr on failure.
///
/// `--insecure-policy` makes skopeo ignore `/etc/containers/policy.json`, so
/// the helpers work even where that file is missing or strict.
pub fn skopeo(args: &[&str]) -> Output {
    let out = Command::new("skopeo")
        .arg("--insecure-policy")
        .args(args)
        .output()
        .expect("run skopeo (Debian package skopeo)");
    assert!(
        out.status.success(),
        "skopeo {} failed ({}):\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Push `image` from the OCI layout at `layout` to `registry_host`
/// ("127.0.0.1:PORT") as `HOST/REPO:TAG`, all platforms, digests unchanged.
pub fn push_image(layout: &Path, image: &BuiltImage, registry_host: &str) {
    push_image_with_creds(layout, image, registry_host, None);
}

/// [`push_image`] to a registry that wants basic auth.
///
/// skopeo 1.9.3 splits `oci:PATH:REF` at the FIRST colon, so the layout path
/// must not contain ':' but the ref may be "repo/with/slashes:tag".
/// `--preserve-digests` also stops skopeo from gzip-compressing our plain
/// `tar` layers on the way to a registry (which it otherwise does, changing
/// their digests).
pub fn push_image_with_creds(
    layout: &Path,
    image: &BuiltImage,
    registry_host: &str,
    creds: Option<(&str, &str)>,
) {
    let layout = layout
        .to_str()
        .unwrap_or_else(|| panic!("layout path is not UTF-8: {}", layout.display()));
    assert!(
        !layout.contains(':'),
        "skopeo cannot read an OCI layout whose path contains ':': {layout}"
    );
    let src = format!("oci:{layout}:{}", image.reference());
    let dest = format!("docker://{registry_host}/{}", image.reference());
    let creds = creds.map(|(u, p)| format!("{u}:{p}"));
    let mut args = vec![
        "copy",
        "--all",
        "--preserve-digests",
        "--dest-tls-verify=false",
        "--retry-times=2",
    ];
    if let Some(c) = &creds {
        args.extend(["--dest-creds", c.as_str()]);
    }
    args.extend([src.as_str(), dest.as_str()]);
    skopeo(&args);
}

/// `skopeo inspect --raw` of "HOST/REPO:TAG" or "HOST/REPO@sha256:..." (a
/// leading "docker://" is optional): the exact manifest or index bytes the
/// registry serves, so `sha256_digest(&raw)` is the registry's digest.
pub fn skopeo_inspect_raw(reference: &str) -> Vec<u8> {
    skopeo_inspect_raw_with_creds(reference, None)
}

pub fn skopeo_inspect_raw_with_creds(reference: &str, creds: Option<(&str, &str)>) -> Vec<u8> {
    let reference = if reference.starts_with("docker://") {
        reference.to_string()
    } else {
        format!("docker://{reference}")
    };
    let creds = creds.map(|(u, p)| format!("{u}:{p}"));
    let mut args = vec!["inspect", "--raw", "--tls-verify=false"];
    if let Some(c) = &creds {
        args.extend(["--creds", c.as_str()]);
    }
    args.push(&reference);
    skopeo(&args).stdout
}

// ---------------------------------------------------------------------------
// Files for the HTTP file server
// ---------------------------------------------------------------------------

/// Write each `(relative path, content)` under `dir` (creating folders), plus
/// `PATH.sha256` holding the lower-case hex digest only, with no newline and
/// no file name, like dl.k8s.io. Returns `(relative path, hex digest)` pairs.
pub fn write_file_tree(dir: &Path, files: &[(&str, &[u8])]) -> Vec<(String, String)> {
    files
        .iter()
        .map(|(rel, content)| {
            let path = dir.join(rel);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent)
                    .unwrap_or_else(|e| panic!("create folder {}: {e}", parent.display()));
            }
            fs::write(&path, content).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
            let hex = sha256_hex(content);
            let sum_path = dir.join(format!("{rel}.sha256"));
            fs::write(&sum_path, &hex)
                .unwrap_or_else(|e| panic!("write {}: {e}", sum_path.display()));
            (rel.to_string(), hex)
        })
        .collect()
}
