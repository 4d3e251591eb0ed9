//! The carried upstream evidence (issue 23): the Sigstore trusted root resolve checked
//! against and, per checked image and file (Kubernetes' and add-ons'), the policy it was
//! checked under, the facts its signature proved and the evidence files under
//! `provenance/`, or the `--allow-unsigned` exception. Guarantees:
//! each entry names an image (by reference and pinned digest) or a file (by URL and
//! sha256) the manifest carries, once, with exactly one of a signature and an exception.
//! The files' bytes are checked by `SignedBundle::verify` like the documents'; whether the
//! evidence proves anything is `airlock-verify provenance`'s question, not the core's.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{FileRecord, ImageRecord};
use crate::digest::{Sha256Digest, bare_hex};
use crate::error::{Checked, FormatError};
use crate::layout::{
    PROVENANCE_TRUSTED_ROOT, provenance_bundle_file, provenance_key_file, provenance_payload_file,
};

/// The provenance section of the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// `provenance/trusted_root.json`.
    pub trusted_root: Evidence,
    /// One entry per checked image and file (Kubernetes' and add-ons'), in lock order.
    pub artifacts: Vec<ArtifactEvidence>,
}

/// A carried evidence file: its size and sha256 (its name follows from them and its kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    /// Size in bytes.
    pub size: u64,
    /// sha256 of the content.
    #[serde(with = "bare_hex")]
    pub sha256: Sha256Digest,
}

/// Whether the artifact is an image or a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArtifactKind {
    /// An image, by its canonical reference; the digest is the pinned manifest or index.
    Image,
    /// A file, by its URL; the digest is its sha256.
    File,
}

/// One Kubernetes artifact's evidence or exception.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArtifactEvidence {
    /// The image reference or the file's URL.
    pub artifact: String,
    /// Image or file.
    pub kind: ArtifactKind,
    /// What the signature covers: the image's pinned digest or the file's sha256.
    #[serde(with = "bare_hex")]
    pub digest: Sha256Digest,
    /// The signature resolve checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<SignatureEvidence>,
    /// Why it was let in without one (`--allow-unsigned`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsigned_exception: Option<String>,
}

/// Where resolve found a signature (docs/design/provenance.md §1.1–1.3). Kept in the
/// manifest so the report can say it from the bundle alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProvenanceSource {
    /// A Sigstore bundle attached as an OCI 1.1 referrer.
    Referrer,
    /// A layer of cosign's `sha256-<hex>.sig` tag.
    SigTag,
    /// `<url>.sig` + `<url>.cert` beside a release file.
    Blob,
}

impl std::fmt::Display for ProvenanceSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Referrer => "referrer",
            Self::SigTag => "sig-tag",
            Self::Blob => "blob",
        })
    }
}

/// The facts a signature proved at resolve and the files that prove them again. The
/// policy it was checked under is keyless `identity` + `issuer`, or, with `key`, that
/// cosign key (then `identity` is `key sha256:<hex of its DER>` and `issuer` empty).
/// Bundles written before add-on policies were carried list only Kubernetes artifacts,
/// whose recorded identity and issuer are the built-in ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureEvidence {
    /// Where the signature was found (absent in manifests written before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ProvenanceSource>,
    /// The certificate's SAN, or `key sha256:<hex>` for a keyed signature.
    pub identity: String,
    /// The OIDC issuer in the certificate (empty for a keyed signature).
    pub issuer: String,
    /// The entry's global index in the transparency log.
    pub log_index: u64,
    /// Unix seconds, the signing time the log vouches for.
    pub integrated_time: i64,
    /// `provenance/<sha256>.sigstore.json`.
    pub bundle: Evidence,
    /// `provenance/<sha256>.payload.json`, for a simple-signing (`.sig` tag) signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Evidence>,
    /// `provenance/<sha256>.pub.pem`, the cosign public key of a keyed policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Evidence>,
}

impl Provenance {
    /// Every carried file, by its path in the bundle, trusted root first, each once.
    pub fn files(&self) -> Vec<(String, Evidence)> {
        let mut out = vec![(PROVENANCE_TRUSTED_ROOT.to_owned(), self.trusted_root)];
        for s in self.artifacts.iter().filter_map(|a| a.signature.as_ref()) {
            out.push((provenance_bundle_file(&s.bundle.sha256), s.bundle));
            if let Some(p) = &s.payload {
                out.push((provenance_payload_file(&p.sha256), *p));
            }
            // One key may sign several add-on artifacts: it is carried (and listed) once.
            if let Some(k) = s
                .key
                .filter(|k| !out.iter().any(|(_, e)| e.sha256 == k.sha256))
            {
                out.push((provenance_key_file(&k.sha256), k));
            }
        }
        out
    }
}

/// Each entry names a carried image or file, once, with a signature or an exception.
pub(crate) fn check(p: &Provenance, images: &[ImageRecord], files: &[FileRecord]) -> Checked {
    let mut seen = BTreeSet::new();
    for a in &p.artifacts {
        let bad = |reason: &'static str| FormatError::Provenance {
            artifact: a.artifact.clone(),
            reason,
        };
        if !seen.insert((a.kind as u8, a.artifact.as_str())) {
            return Err(bad("listed twice"));
        }
        let carried = match a.kind {
            ArtifactKind::Image => images
                .iter()
                .any(|i| i.name.to_string() == a.artifact && i.source.digest == a.digest),
            ArtifactKind::File => files
                .iter()
                .any(|f| f.source == a.artifact && f.sha256 == a.digest),
        };
        if !carried {
            return Err(bad(
                "names no image or file of this bundle with that digest",
            ));
        }
        if a.signature.is_some() == a.unsigned_exception.is_some() {
            return Err(bad(
                "needs exactly one of a signature and an unsigned exception",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Mode;
    use crate::paths::SafeRelPath;

    const URL: &str = "https://dl.k8s.io/release/v1.30.2/bin/linux/amd64/kubectl";

    fn file() -> FileRecord {
        FileRecord {
            name: "kubectl".into(),
            target: SafeRelPath::new("bin/kubectl").unwrap(),
            mode: Mode(0o755),
            sha256: Sha256Digest::of(b"kubectl"),
            size: 7,
            source: URL.into(),
            kind: None,
        }
    }

    fn evidence(b: &[u8]) -> Evidence {
        Evidence {
            size: b.len() as u64,
            sha256: Sha256Digest::of(b),
        }
    }

    fn section() -> Provenance {
        Provenance {
            trusted_root: evidence(b"root"),
            artifacts: vec![ArtifactEvidence {
                artifact: URL.into(),
                kind: ArtifactKind::File,
                digest: Sha256Digest::of(b"kubectl"),
                signature: Some(SignatureEvidence {
                    source: Some(ProvenanceSource::Blob),
                    identity: "krel-staging@k8s-releng-prod.iam.gserviceaccount.com".into(),
                    issuer: "https://accounts.google.com".into(),
                    log_index: 7,
                    integrated_time: 1_700_000_000,
                    bundle: evidence(b"bundle"),
                    payload: None,
                    key: None,
                }),
                unsigned_exception: None,
            }],
        }
    }

    fn reason(p: &Provenance) -> Option<&'static str> {
        match check(p, &[], &[file()]) {
            Ok(()) => None,
            Err(FormatError::Provenance { artifact, reason }) => {
                assert_eq!(artifact, URL);
                Some(reason)
            }
            Err(e) => panic!("unexpected {e}"),
        }
    }

    #[test]
    fn each_entry_names_a_carried_artifact_once_with_a_signature_or_an_exception() {
        let p = section();
        assert_eq!(reason(&p), None);
        let files: Vec<String> = p.files().into_iter().map(|(f, _)| f).collect();
        let bundle = Sha256Digest::of(b"bundle").hex();
        assert_eq!(
            files,
            [
                "provenance/trusted_root.json".to_owned(),
                format!("provenance/{bundle}.sigstore.json")
            ]
        );
        let mut twice = p.clone();
        twice.artifacts.push(p.artifacts[0].clone());
        assert_eq!(reason(&twice), Some("listed twice"));
        let mut other_digest = p.clone();
        other_digest.artifacts[0].digest = Sha256Digest::of(b"other");
        let named_nothing = "names no image or file of this bundle with that digest";
        assert_eq!(reason(&other_digest), Some(named_nothing));
        let mut as_image = p.clone();
        as_image.artifacts[0].kind = ArtifactKind::Image;
        assert_eq!(reason(&as_image), Some(named_nothing));
        let mut both = p.clone();
        both.artifacts[0].unsigned_exception = Some("allowed".into());
        let one = "needs exactly one of a signature and an unsigned exception";
        assert_eq!(reason(&both), Some(one));
        let mut neither = p;
        neither.artifacts[0].signature = None;
        assert_eq!(reason(&neither), Some(one));
    }

    #[test]
    fn a_key_shared_by_two_entries_is_one_carried_file() {
        let mut p = section();
        let key = evidence(b"-----BEGIN PUBLIC KEY-----");
        let keyed = |a: &mut ArtifactEvidence, n: &[u8]| {
            let s = a.signature.as_mut().unwrap();
            s.identity = "key sha256:00".into();
            s.issuer = String::new();
            s.bundle = evidence(n);
            s.key = Some(key);
        };
        keyed(&mut p.artifacts[0], b"one");
        let mut second = p.artifacts[0].clone();
        second.artifact = "https://example.com/other".into();
        keyed(&mut second, b"two");
        p.artifacts.push(second);
        let files: Vec<String> = p.files().into_iter().map(|(f, _)| f).collect();
        let pem = format!("provenance/{}.pub.pem", key.sha256.hex());
        assert_eq!(files.iter().filter(|f| **f == pem).count(), 1, "{files:?}");
        assert_eq!(files.len(), 4, "{files:?}");
    }
}
