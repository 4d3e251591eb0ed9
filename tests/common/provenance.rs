//! Upstream signatures for the test upstream (issue 23): a Sigstore-shaped world
//! (`airlock_provenance::testworld`: a Fulcio-like CA, a Rekor-like log and its server, a
//! `trusted_root.json`) signs the Kubernetes images on the test docker-registry, as a
//! cosign `.sig` tag or as an OCI 1.1 referrer (pushed with the referrers tag schema, as
//! cosign does where a registry has no referrers API, which Debian's docker-registry has
//! not), and the release files on the file server (`<file>.sig` + `<file>.cert`).
//! Everything is pushed over the registry's own HTTP API.

use std::path::PathBuf;

use airlock_provenance::testworld::{CosignLayer, Leaf, RekorServer, World};
use airlock_provenance::{BUNDLE_V03, KUBERNETES_FILES, KUBERNETES_IMAGES};
use serde_json::json;

use super::images::sha256_digest;
use super::servers::http_request;
use super::upstream::Upstream;

/// The OCI empty descriptor's content (a referrer's config).
const EMPTY: &[u8] = b"{}";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";

/// The world plus the leaves Kubernetes signs with.
pub struct Signing {
    pub world: World,
    /// `krel-trust@…` (images).
    pub images: Leaf,
    /// `krel-staging@…` (release files).
    pub files: Leaf,
}

impl Signing {
    pub fn new() -> Signing {
        let world = World::new();
        let images =
            world.issue_leaf(&world.leaf_spec(&KUBERNETES_IMAGES.san, &KUBERNETES_IMAGES.issuer));
        let files =
            world.issue_leaf(&world.leaf_spec(&KUBERNETES_FILES.san, &KUBERNETES_FILES.issuer));
        Signing {
            world,
            images,
            files,
        }
    }

    /// `trusted_root.json` of the world.
    pub fn trusted_root(&self) -> PathBuf {
        self.world.path().join("trusted_root.json")
    }

    /// A Rekor-like server answering for everything logged so far (start it after signing).
    pub fn rekor(&self) -> RekorServer {
        self.world.rekor_server()
    }

    /// Signs image `repo:tag` of `u` with a `.sig` tag layer by `leaf`, over `digest`
    /// (the image's own unless a test names another). Returns the logged layer.
    pub fn sig_tag(
        &mut self,
        u: &Upstream,
        image: &str,
        leaf: Option<&Leaf>,
        digest: Option<&str>,
    ) -> CosignLayer {
        let built = &u.images[image];
        let leaf = leaf.unwrap_or(&self.images).clone();
        let signed = digest.unwrap_or(&built.index_digest).to_owned();
        let layer = self.world.sign_image(
            &leaf,
            &signed,
            &format!("registry.k8s.io/{}", built.repository),
        );
        push_sig_layer(u, image, &layer);
        layer
    }

    /// Signs image `repo:tag` of `u` as `cosign sign --key` does, with the cosign key
    /// pair `key` (private key file, public PEM), as a `.sig` tag layer.
    pub fn sig_tag_with_key(&mut self, u: &Upstream, image: &str, key: &CosignKey) {
        let built = &u.images[image];
        let layer = self.world.sign_image_with_key(
            &key.private,
            &key.public_pem,
            &built.index_digest,
            &built.repository,
        );
        push_sig_layer(u, image, &layer);
    }

    /// Signs the file at `path` (below the file server's root) by `leaf` (`.sig` +
    /// `.cert` beside it) or, with `key`, as `cosign sign-blob --key` does (`.sig` only).
    pub fn file_at(&mut self, path: &std::path::Path, leaf: &Leaf, key: Option<&CosignKey>) {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let sig = path.with_file_name(format!("{}.sig", file_name(path)));
        match key {
            Some(k) => {
                let signed = self
                    .world
                    .sign_blob_with_key(&k.private, &k.public_pem, &bytes);
                std::fs::write(sig, signed).unwrap();
            }
            None => {
                let signed = self.world.sign_blob(leaf, &bytes);
                std::fs::write(sig, &signed.sig).unwrap();
                std::fs::write(
                    path.with_file_name(format!("{}.cert", file_name(path))),
                    &signed.cert,
                )
                .unwrap();
            }
        }
    }
}

/// A cosign key pair made by `openssl` (ECDSA P-256, what `cosign generate-key-pair`
/// makes): the private key file and the public key's PEM, also written as `NAME.pub`.
pub struct CosignKey {
    pub private: PathBuf,
    pub public: PathBuf,
    pub public_pem: String,
}

impl CosignKey {
    pub fn generate(dir: &std::path::Path, name: &str) -> CosignKey {
        let private = dir.join(format!("{name}.key"));
        let public = dir.join(format!("{name}.pub"));
        let run = |args: &[&str], paths: &[&std::path::Path]| {
            let mut c = std::process::Command::new("openssl");
            c.args(args);
            for p in paths {
                c.arg(p);
            }
            let out = c.output().expect("run openssl");
            assert!(out.status.success(), "openssl {args:?}: {out:?}");
        };
        run(
            &[
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
            ],
            &[&private],
        );
        let mut c = std::process::Command::new("openssl");
        c.args(["ec", "-pubout", "-in"])
            .arg(&private)
            .arg("-out")
            .arg(&public);
        let out = c.output().expect("run openssl");
        assert!(out.status.success(), "openssl ec -pubout: {out:?}");
        let public_pem = std::fs::read_to_string(&public).expect("read public key");
        CosignKey {
            private,
            public,
            public_pem,
        }
    }
}

/// Pushes `layer` as the one layer of image `image`'s `sha256-<hex>.sig` tag.
fn push_sig_layer(u: &Upstream, image: &str, layer: &CosignLayer) {
    {
        let built = &u.images[image];
        let host = u.registry.host();
        let repo = &built.repository;
        let config = push_blob(&host, repo, EMPTY);
        let payload = push_blob(&host, repo, &layer.payload);
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": EMPTY.len() },
            "layers": [{
                "mediaType": SIMPLE_SIGNING,
                "digest": payload,
                "size": layer.payload.len(),
                "annotations": layer.annotations,
            }],
        });
        let tag = format!("{}.sig", built.index_digest.replace(':', "-"));
        push_manifest(
            &host,
            repo,
            &tag,
            OCI_MANIFEST,
            &serde_json::to_vec(&manifest).unwrap(),
        );
    }
}

impl Signing {
    /// Signs image `repo:tag` of `u` as cosign 3 does (a DSSE Sigstore bundle whose
    /// statement has `predicate_type`) and attaches it as a referrer, listed under the
    /// referrers tag schema's tag.
    pub fn referrer(&mut self, u: &Upstream, image: &str, predicate_type: &str) {
        let built = &u.images[image];
        let bundle =
            self.world
                .sign_image_dsse(&self.images.clone(), &built.index_digest, predicate_type);
        let host = u.registry.host();
        let repo = &built.repository;
        let config = push_blob(&host, repo, EMPTY);
        let layer = push_blob(&host, repo, &bundle);
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": BUNDLE_V03,
            "config": { "mediaType": "application/vnd.oci.empty.v1+json", "digest": config, "size": EMPTY.len() },
            "layers": [{ "mediaType": BUNDLE_V03, "digest": layer, "size": bundle.len() }],
            "subject": { "mediaType": OCI_INDEX, "digest": built.index_digest, "size": 0 },
        }))
        .unwrap();
        let digest = sha256_digest(&manifest);
        push_manifest(&host, repo, &digest, OCI_MANIFEST, &manifest);
        let index = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [{
                "mediaType": OCI_MANIFEST,
                "digest": digest,
                "size": manifest.len(),
                "artifactType": BUNDLE_V03,
            }],
        }))
        .unwrap();
        push_manifest(
            &host,
            repo,
            &built.index_digest.replace(':', "-"),
            OCI_INDEX,
            &index,
        );
    }

    /// Signs the release file at canonical `url` of `u` (`<file>.sig` + `<file>.cert`
    /// beside it on the file server).
    pub fn file(&mut self, u: &Upstream, url: &str) {
        let rel = url
            .strip_prefix("https://dl.k8s.io/")
            .expect("a dl.k8s.io URL");
        let path = u.www.join("dl").join(rel);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let signed = self.world.sign_blob(&self.files.clone(), &bytes);
        std::fs::write(
            path.with_file_name(format!("{}.sig", file_name(&path))),
            &signed.sig,
        )
        .unwrap();
        std::fs::write(
            path.with_file_name(format!("{}.cert", file_name(&path))),
            &signed.cert,
        )
        .unwrap();
    }
}

fn file_name(p: &std::path::Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// Pushes `bytes` as a blob of `repo` (POST then PUT, as the distribution spec's
/// two-step upload); returns its digest.
pub fn push_blob(host: &str, repo: &str, bytes: &[u8]) -> String {
    let digest = sha256_digest(bytes);
    let start = http_request(
        host,
        "POST",
        &format!("/v2/{repo}/blobs/uploads/"),
        &[],
        &[],
    )
    .expect("start upload");
    assert_eq!(start.status, 202, "upload start: {}", start.text());
    let location = start
        .header("location")
        .expect("upload Location")
        .to_owned();
    let path = location
        .strip_prefix(&format!("http://{host}"))
        .unwrap_or(&location);
    let sep = if path.contains('?') { '&' } else { '?' };
    let put = http_request(
        host,
        "PUT",
        &format!("{path}{sep}digest={digest}"),
        &[("Content-Type", "application/octet-stream")],
        bytes,
    )
    .expect("finish upload");
    assert_eq!(put.status, 201, "upload {digest}: {}", put.text());
    digest
}

/// Pushes a manifest or index under `reference` (a tag or its digest).
pub fn push_manifest(host: &str, repo: &str, reference: &str, media_type: &str, bytes: &[u8]) {
    let put = http_request(
        host,
        "PUT",
        &format!("/v2/{repo}/manifests/{reference}"),
        &[("Content-Type", media_type)],
        bytes,
    )
    .expect("push manifest");
    assert_eq!(
        put.status,
        201,
        "manifest {repo}:{reference}: {}",
        put.text()
    );
}
