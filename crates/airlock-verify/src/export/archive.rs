//! The two archive formats `export` writes, and a plain ustar writer that can copy one
//! payload entry into several archives at once.
//!
//! - `oci-archive`: a tar of an OCI image layout holding one image (`oci-layout`,
//!   `index.json`, `blobs/sha256/<hex>`), as `skopeo copy oci-archive:` and
//!   `ctr images import` read it. `index.json` names the image twice, the way containerd's
//!   own export does: `io.containerd.image.name` (the canonical name) and
//!   `org.opencontainers.image.ref.name` (the tag).
//! - `docker-archive`: the `docker save` layout for one platform: `manifest.json`
//!   (`Config`, `RepoTags`, `Layers`, paths in the archive) and the config and layers under
//!   `blobs/sha256/<hex>` (where Docker 25 puts them too), read by `skopeo copy
//!   docker-archive:`, `docker load` and `ctr images import`.
//!
//! Every header is the canonical one (`layout::canonical_tar_header`: mode 0644, owner 0,
//! mtime 0), metadata comes first and blobs follow in payload order, so the same bundle
//! always exports to the same bytes.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::digest::{HashingWriter, Sha256Digest};
use crate::error::{Error, Result};
use crate::layout::{self, PayloadPath};
use crate::manifest::Carried;
use crate::oci::OCI_INDEX;

/// `oci-layout` of an OCI image layout.
pub const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;
/// The annotation containerd reads an imported image's name from.
pub const CONTAINERD_NAME: &str = "io.containerd.image.name";
/// The OCI annotation for a reference name inside an image layout.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// The archive path of a blob.
pub fn blob_path(d: &Sha256Digest) -> String {
    PayloadPath::Blob(*d).to_string()
}

/// `index.json` of an OCI archive holding one image whose top manifest is `top`.
pub fn oci_index(top: &Carried, name: &str, tag: Option<&str>) -> Vec<u8> {
    let mut annotations = serde_json::Map::new();
    annotations.insert(CONTAINERD_NAME.into(), name.into());
    if let Some(t) = tag {
        annotations.insert(REF_NAME.into(), t.into());
    }
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{
            "mediaType": top.media_type,
            "digest": top.digest.to_string(),
            "size": top.size,
            "annotations": annotations,
        }],
    });
    index.to_string().into_bytes()
}

/// One entry of a `docker save` `manifest.json`.
#[derive(Serialize)]
struct DockerItem<'a> {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags")]
    repo_tags: &'a [String],
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

/// `manifest.json` of a docker archive of one image.
pub fn docker_manifest(
    config: &Sha256Digest,
    layers: &[Sha256Digest],
    repo_tags: &[String],
) -> Vec<u8> {
    let item = DockerItem {
        config: blob_path(config),
        repo_tags,
        layers: layers.iter().map(blob_path).collect(),
    };
    // Serializing a struct of strings cannot fail.
    serde_json::to_vec(&[item]).unwrap_or_default()
}

/// An archive being written to a temporary file next to its final name.
pub struct TarFile {
    out: HashingWriter<io::BufWriter<tempfile::NamedTempFile>>,
    target: PathBuf,
}

impl TarFile {
    /// Start `target` (written as a hidden temporary file in the same directory).
    pub fn create(target: &Path) -> Result<Self> {
        let dir = target.parent().unwrap_or(Path::new("."));
        let tmp = tempfile::Builder::new()
            .prefix(".airlock-export-")
            .tempfile_in(dir)
            .map_err(|e| Error::io("create temporary file in", dir, e))?;
        Ok(TarFile {
            out: HashingWriter::new(io::BufWriter::with_capacity(256 * 1024, tmp)),
            target: target.to_path_buf(),
        })
    }

    /// The final path.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Write a canonical header for `name` of `size` bytes.
    pub fn header(&mut self, name: &str, size: u64) -> Result<()> {
        let h = layout::canonical_tar_header(name, size).map_err(|e| self.fail(e))?;
        self.write(h.as_bytes())
    }

    /// Write content bytes.
    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.out.write_all(bytes).map_err(|e| self.fail(e))
    }

    /// Zero padding after an entry of `size` bytes.
    pub fn pad(&mut self, size: u64) -> Result<()> {
        let rem = (size % 512) as usize;
        if rem != 0 {
            self.write(&[0u8; 512][..512 - rem])?;
        }
        Ok(())
    }

    /// A whole small entry.
    pub fn entry(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        self.header(name, bytes.len() as u64)?;
        self.write(bytes)?;
        self.pad(bytes.len() as u64)
    }

    /// End the archive (two zero blocks), make it readable (0644), sync it, and rename
    /// it into place (replacing an existing file only when `replace`). Returns its size
    /// and sha256.
    pub fn commit(mut self, replace: bool) -> Result<(u64, Sha256Digest)> {
        use std::os::unix::fs::PermissionsExt;
        self.write(&[0u8; 1024])?;
        let (buf, digest, size) = self.out.finish();
        let target = self.target;
        let tmp = buf
            .into_inner()
            .map_err(|e| Error::io("write", &target, e.into_error()))?;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .and_then(|_| tmp.as_file().sync_all())
            .map_err(|e| Error::io("write", tmp.path().to_path_buf(), e))?;
        let persisted = if replace {
            tmp.persist(&target)
        } else {
            tmp.persist_noclobber(&target)
        };
        persisted.map_err(|e| {
            if e.error.kind() == io::ErrorKind::AlreadyExists {
                Error::from(airlock_core::Error::AlreadyExists {
                    path: target.clone(),
                })
            } else {
                Error::io("rename into place", &target, e.error)
            }
        })?;
        Ok((size, digest))
    }

    fn fail(&self, e: io::Error) -> Error {
        Error::io("write", &self.target, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn archives_are_plain_tars_any_reader_lists() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.tar");
        let mut t = TarFile::create(&target).unwrap();
        t.entry("oci-layout", OCI_LAYOUT).unwrap();
        let d = Sha256Digest::of(b"hello");
        t.entry(&blob_path(&d), b"hello").unwrap();
        let (size, digest) = t.commit(false).unwrap();
        let bytes = std::fs::read(&target).unwrap();
        assert_eq!(size, bytes.len() as u64);
        assert_eq!(digest, Sha256Digest::of(&bytes));
        assert_eq!(size % 512, 0);
        let mut ar = tar::Archive::new(&bytes[..]);
        let mut names = Vec::new();
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let mut body = Vec::new();
            e.read_to_end(&mut body).unwrap();
            assert_eq!(e.header().mtime().unwrap(), 0);
            assert_eq!(e.header().mode().unwrap(), 0o644);
            names.push((e.path().unwrap().display().to_string(), body));
        }
        assert_eq!(names[0], ("oci-layout".to_string(), OCI_LAYOUT.to_vec()));
        assert_eq!(names[1], (blob_path(&d), b"hello".to_vec()));
        // An existing archive is not replaced without `replace`.
        let mut t = TarFile::create(&target).unwrap();
        t.entry("x", b"y").unwrap();
        assert!(matches!(
            t.commit(false),
            Err(Error::Core(airlock_core::Error::AlreadyExists { .. }))
        ));
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "temporary file left behind");
    }

    #[test]
    fn docker_manifest_has_the_docker_save_shape() {
        let c = Sha256Digest::of(b"c");
        let l = Sha256Digest::of(b"l");
        let m = docker_manifest(&c, &[l], &["r.io/a:v1".to_string()]);
        let v: serde_json::Value = serde_json::from_slice(&m).unwrap();
        assert_eq!(v[0]["Config"], format!("blobs/sha256/{}", c.hex()));
        assert_eq!(v[0]["RepoTags"][0], "r.io/a:v1");
        assert_eq!(v[0]["Layers"][0], format!("blobs/sha256/{}", l.hex()));
    }
}
