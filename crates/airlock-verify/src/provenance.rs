//! `airlock-verify provenance`: re-check, offline, the upstream Sigstore evidence a
//! verified bundle carries (issue 23). The bundle's signatures vouch that these are the
//! files resolve checked; this proves again, inside the enclave and against the carried
//! trusted root or the enclave's own pinned one, that each image and file was signed
//! under the policy the manifest records for it (Kubernetes' release identities, an
//! add-on's identity, or an add-on's carried cosign key), so the enclave need not take
//! the builder's word for the signatures.

use airlock_core::manifest::{ArtifactEvidence, ArtifactKind, BundleManifest, SignatureEvidence};
use airlock_core::trust::policy::ProvenanceRule;
use airlock_core::verify::SignedBundle;
use airlock_provenance::{
    Artifact, Identity, KUBERNETES_DOWNLOADS, KUBERNETES_FILES, KUBERNETES_IMAGES,
    KUBERNETES_REGISTRY, MAX_BUNDLE, MAX_TRUSTED_ROOT, Policy, ProvenanceError, ProvenanceFacts,
    PublicKey, TrustedRoot,
};

use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::layout::{
    PROVENANCE_TRUSTED_ROOT, provenance_bundle_file, provenance_key_file, provenance_payload_file,
};
use airlock_core::trust::TrustError;

/// What the re-check found for one artifact.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rechecked {
    /// The image reference or the file's URL.
    pub artifact: String,
    /// Image or file.
    pub kind: ArtifactKind,
    /// The signature's facts, proven again, or the exception resolve allowed.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// A passed signature or a recorded exception.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The facts the check proved.
    Signed {
        /// The certificate's SAN.
        identity: String,
        /// The OIDC issuer.
        issuer: String,
        /// The entry's global index in the log.
        log_index: u64,
        /// Unix seconds the log vouches for.
        integrated_time: i64,
    },
    /// Let in without a signature at resolve (`--allow-unsigned`).
    Exception(String),
}

/// Re-check every carried signature of `bundle` against `pinned_root` (the enclave's own
/// `trusted_root.json`, named `origin` in errors) or, without one, the carried root.
/// Exit 3 for a bundle without evidence or an artifact whose check fails (named); exit 4
/// for a trusted root that does not parse. Each evidence file is read against the size
/// and sha256 the signed manifest lists, so the payload need not be verified first (a
/// missing or altered file is exit 3, naming it).
pub fn recheck(
    bundle: &SignedBundle,
    pinned_root: Option<(&str, &[u8])>,
) -> Result<Vec<Rechecked>> {
    let Some(p) = &bundle.manifest().provenance else {
        return Err(Error::verification(
            bundle.dir().display().to_string(),
            "carries no upstream evidence (built from a lock resolved without --trusted-root)",
        ));
    };
    if let Some(name) = uncovered(bundle.manifest()).first() {
        return Err(Error::verification(
            name,
            "no upstream evidence or exception is listed",
        ));
    }
    check_pin(bundle, PROVENANCE_TRUSTED_ROOT, p.trusted_root.sha256)?;
    let carried;
    let (origin, root_bytes) = match pinned_root {
        Some(r) => {
            check_pin(bundle, r.0, Sha256Digest::of(r.1))?;
            r
        }
        None => {
            carried = bundle.read_evidence(
                PROVENANCE_TRUSTED_ROOT,
                &p.trusted_root,
                MAX_TRUSTED_ROOT as u64,
            )?;
            (PROVENANCE_TRUSTED_ROOT, &carried[..])
        }
    };
    let root = TrustedRoot::from_json(root_bytes)
        .map_err(|e| Error::invalid("trusted root", origin, e))?;
    p.artifacts
        .iter()
        .map(|a| {
            let outcome = match (&a.signature, &a.unsigned_exception) {
                (Some(s), _) => check_one(bundle, a, s, &root)?,
                (None, Some(reason)) => Outcome::Exception(reason.clone()),
                // check_consistency refuses an entry with neither.
                (None, None) => return Err(Error::verification(&a.artifact, "no evidence")),
            };
            Ok(Rechecked {
                artifact: a.artifact.clone(),
                kind: a.kind,
                outcome,
            })
        })
        .collect()
}

/// `install` under a policy with `"provenance": "required"`, before anything is written
/// and whether or not the enclave already holds everything: the signed manifest must meet
/// the rule ([`unmet`]), the carried root must be the pinned one, and every carried
/// signature, Kubernetes' or an add-on's, must have its evidence files (their bytes the
/// ones the manifest lists) and re-check offline against the carried root ([`recheck`]).
/// Exit 3, naming the bundle, the artifact or the evidence file. Nothing under
/// `"optional"`.
pub fn require(bundle: &SignedBundle) -> Result<()> {
    if bundle.provenance_rule() == ProvenanceRule::Optional {
        return Ok(());
    }
    if let Some((artifact, reason)) = unmet(bundle.manifest()) {
        let name = artifact.unwrap_or_else(|| bundle.dir().display().to_string());
        return Err(Error::verification(name, reason));
    }
    recheck(bundle, None).map(drop)
}

/// What `"provenance": "required"` refuses from the signed manifest alone: the artifact
/// (`None`: the whole bundle) and why. A bundle without evidence; a registry.k8s.io image
/// or dl.k8s.io file the section does not list ([`uncovered`]); any artifact, Kubernetes'
/// or an add-on's, let in with `--allow-unsigned`. An add-on artifact the section does not
/// list passes: the manifest is the only record of which add-ons had a `provenance:`
/// entry, and without one resolve checks (and lists) nothing for them.
fn unmet(m: &BundleManifest) -> Option<(Option<String>, &'static str)> {
    let Some(p) = &m.provenance else {
        return Some((
            None,
            "the trust policy requires upstream provenance and the bundle carries none \
             (its lock was resolved with --no-provenance or without a trusted root)",
        ));
    };
    if let Some(name) = uncovered(m).into_iter().next() {
        return Some((
            Some(name),
            "the trust policy requires upstream provenance and the manifest lists none for it",
        ));
    }
    p.artifacts
        .iter()
        .find(|a| a.unsigned_exception.is_some())
        .map(|a| {
            (
                Some(a.artifact.clone()),
                "the trust policy requires upstream provenance and this artifact was let in \
                 unsigned (--allow-unsigned)",
            )
        })
}

/// A trusted root (`root`, with sha256 `found`) other than the one the trust policy pins
/// (`"provenance_trusted_root"`) is refused, exit 3; without a pin any passes.
fn check_pin(bundle: &SignedBundle, root: &str, found: Sha256Digest) -> Result<()> {
    match bundle.provenance_trusted_root() {
        Some(pinned) if pinned != found => Err(TrustError::TrustedRootNotPinned {
            root: root.to_owned(),
            found,
            pinned,
        }
        .into()),
        _ => Ok(()),
    }
}

/// The images on `registry.k8s.io` and files from `https://dl.k8s.io/` of `m` (what resolve's
/// built-in Kubernetes policy covers) that the provenance section does not list: a
/// section that leaves one out must not pass for complete.
pub fn uncovered(m: &BundleManifest) -> Vec<String> {
    let listed = |kind: ArtifactKind, name: &str| {
        m.provenance.as_ref().is_some_and(|p| {
            p.artifacts
                .iter()
                .any(|a| a.kind == kind && a.artifact == name)
        })
    };
    let images = m
        .images
        .iter()
        .filter(|i| i.name.registry == KUBERNETES_REGISTRY)
        .map(|i| i.name.to_string())
        .filter(|n| !listed(ArtifactKind::Image, n));
    let files = m
        .files
        .iter()
        .filter(|f| f.source.starts_with(KUBERNETES_DOWNLOADS))
        .map(|f| f.source.clone())
        .filter(|n| !listed(ArtifactKind::File, n));
    images.chain(files).collect()
}

/// One artifact: its Sigstore bundle (and payload) from the bundle, checked under the
/// policy the manifest records ([`recorded_policy`]); the facts must be the ones the
/// manifest signs.
fn check_one(
    bundle: &SignedBundle,
    a: &ArtifactEvidence,
    s: &SignatureEvidence,
    root: &TrustedRoot,
) -> Result<Outcome> {
    let limit = MAX_BUNDLE as u64;
    let doc = bundle.read_evidence(&provenance_bundle_file(&s.bundle.sha256), &s.bundle, limit)?;
    let payload = match &s.payload {
        Some(e) => Some(bundle.read_evidence(&provenance_payload_file(&e.sha256), e, limit)?),
        None => None,
    };
    let digest = a.digest.to_string();
    let artifact = match a.kind {
        ArtifactKind::Image => Artifact::Image {
            name: &a.artifact,
            digest: &digest,
            payload: payload.as_deref(),
        },
        ArtifactKind::File => Artifact::Blob {
            name: &a.artifact,
            sha256: *a.digest.as_bytes(),
        },
    };
    let policy = recorded_policy(bundle, a, s)?;
    let facts = airlock_provenance::check(&doc, &artifact, &policy, root)
        .map_err(|e| refused(&a.artifact, e))?;
    let ProvenanceFacts {
        identity,
        issuer,
        log_index,
        integrated_time,
        ..
    } = facts;
    if (&identity, &issuer, log_index, integrated_time)
        != (&s.identity, &s.issuer, s.log_index, s.integrated_time)
    {
        return Err(Error::verification(
            &a.artifact,
            "the evidence proves other facts (identity, issuer, log index or time) than the manifest lists",
        ));
    }
    Ok(Outcome::Signed {
        identity,
        issuer,
        log_index,
        integrated_time,
    })
}

/// The policy an entry was checked under at resolve: its carried cosign key (read, parsed,
/// and named by the recorded identity `key sha256:<hex>`), else keyless with the recorded
/// identity and issuer (for bundles from before add-on policies were carried, that is
/// always a built-in Kubernetes identity).
fn recorded_policy(
    bundle: &SignedBundle,
    a: &ArtifactEvidence,
    s: &SignatureEvidence,
) -> Result<Policy> {
    if let Some(own) = kubernetes_identity(a) {
        // Kubernetes' own artifacts re-check under the built-in identity whatever the
        // manifest records: the bundle's signing key alone must not be able to swap in
        // another signer (any Sigstore identity can sign anything).
        if s.key.is_some() || s.identity != own.san || s.issuer != own.issuer {
            return Err(Error::verification(
                &a.artifact,
                format!(
                    "the manifest records the signer {:?} (issuer {:?}), not Kubernetes' own {} (issuer {})",
                    s.identity, s.issuer, own.san, own.issuer
                ),
            ));
        }
        return Ok(Policy::Keyless(own));
    }
    let Some(k) = &s.key else {
        return Ok(Policy::Keyless(Identity::new(&s.identity, &s.issuer)));
    };
    let path = provenance_key_file(&k.sha256);
    let pem = bundle.read_evidence(&path, k, MAX_KEY)?;
    let text = std::str::from_utf8(&pem)
        .map_err(|_| Error::verification(&a.artifact, format!("{path} is not UTF-8")))?;
    let key = PublicKey::from_pem(&path, text).map_err(|e| Error::verification(&a.artifact, e))?;
    if key.label() != s.identity {
        return Err(Error::verification(
            &a.artifact,
            format!(
                "the carried key {path} is {}, not the {} the manifest lists",
                key.label(),
                s.identity
            ),
        ));
    }
    Ok(Policy::Key(key))
}

/// The built-in identity an artifact on `registry.k8s.io` or `https://dl.k8s.io/` must be
/// signed by (what resolve's Kubernetes policy and [`uncovered`] cover); `None` for others.
fn kubernetes_identity(a: &ArtifactEvidence) -> Option<Identity> {
    match a.kind {
        ArtifactKind::Image
            if a.artifact
                .strip_prefix(KUBERNETES_REGISTRY)
                .is_some_and(|rest| rest.starts_with('/')) =>
        {
            Some(KUBERNETES_IMAGES)
        }
        ArtifactKind::File if a.artifact.starts_with(KUBERNETES_DOWNLOADS) => {
            Some(KUBERNETES_FILES)
        }
        _ => None,
    }
}

/// The largest carried cosign key read (resolve reads at most as much).
const MAX_KEY: u64 = 64 * 1024;

/// A refused signature is a trust failure (exit 3) naming the artifact; a root the checker
/// cannot use is bad input (exit 4).
fn refused(artifact: &str, e: ProvenanceError) -> Error {
    match e {
        ProvenanceError::BadTrustedRoot { .. } => Error::invalid("trusted root", artifact, e),
        e => Error::verification(artifact, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_core::digest::Sha256Digest;
    use airlock_core::manifest::{Evidence, FileRecord, Mode, Provenance};

    #[test]
    fn a_kubernetes_file_without_an_entry_is_uncovered() {
        let url = "https://dl.k8s.io/release/v1.30.2/bin/linux/amd64/kubectl";
        let mut m = crate::testdata::empty_manifest();
        let file = |source: &str| FileRecord {
            name: "kubectl".into(),
            target: airlock_core::paths::SafeRelPath::new("bin/kubectl").unwrap(),
            mode: Mode(0o755),
            sha256: Sha256Digest::of(b"k"),
            size: 1,
            source: source.into(),
            kind: None,
        };
        m.files = vec![file(url), file("https://github.com/x/y")];
        assert_eq!(uncovered(&m), [url]);
        m.provenance = Some(Provenance {
            trusted_root: Evidence {
                size: 1,
                sha256: Sha256Digest::of(b"r"),
            },
            artifacts: vec![ArtifactEvidence {
                artifact: url.into(),
                kind: ArtifactKind::File,
                digest: Sha256Digest::of(b"k"),
                signature: None,
                unsigned_exception: Some("allowed".into()),
            }],
        });
        assert!(uncovered(&m).is_empty());
    }

    /// A manifest with a Kubernetes file and an add-on file, both listed as signed.
    fn signed_pair() -> BundleManifest {
        let mut m = crate::testdata::empty_manifest();
        let record = |source: &str, target: &str| FileRecord {
            name: target.into(),
            target: airlock_core::paths::SafeRelPath::new(target).unwrap(),
            mode: Mode(0o755),
            sha256: Sha256Digest::of(source.as_bytes()),
            size: 1,
            source: source.into(),
            kind: None,
        };
        m.files = vec![record(KUBECTL, "bin/kubectl"), record(ADDON, "bin/tool")];
        let evidence = |b: &[u8]| Evidence {
            size: b.len() as u64,
            sha256: Sha256Digest::of(b),
        };
        let signed = |url: &str, identity: &str| ArtifactEvidence {
            artifact: url.into(),
            kind: ArtifactKind::File,
            digest: Sha256Digest::of(url.as_bytes()),
            signature: Some(SignatureEvidence {
                source: None,
                identity: identity.into(),
                issuer: "https://accounts.google.com".into(),
                log_index: 1,
                integrated_time: 1_700_000_000,
                bundle: evidence(url.as_bytes()),
                payload: None,
                key: None,
            }),
            unsigned_exception: None,
        };
        m.provenance = Some(Provenance {
            trusted_root: evidence(b"root"),
            artifacts: vec![
                signed(KUBECTL, &KUBERNETES_FILES.san),
                signed(ADDON, "ci@example.com"),
            ],
        });
        m
    }

    const KUBECTL: &str = "https://dl.k8s.io/release/v1.30.2/bin/linux/amd64/kubectl";
    const ADDON: &str = "https://github.com/example/tool/releases/download/v1/tool";

    #[test]
    fn required_refuses_no_evidence_an_unlisted_kubernetes_artifact_and_any_exception() {
        let m = signed_pair();
        assert_eq!(unmet(&m), None);
        let mut none = m.clone();
        none.provenance = None;
        let (whole, why) = unmet(&none).unwrap();
        assert_eq!(whole, None);
        assert!(why.contains("carries none"), "{why}");
        // Kubernetes' own artifact left out of the section.
        let mut dropped = m.clone();
        dropped.provenance.as_mut().unwrap().artifacts.remove(0);
        let (name, why) = unmet(&dropped).unwrap();
        assert_eq!(name.as_deref(), Some(KUBECTL));
        assert!(why.contains("lists none for it"), "{why}");
        // An add-on let in unsigned is refused like Kubernetes' own.
        let mut excepted = m.clone();
        let addon = &mut excepted.provenance.as_mut().unwrap().artifacts[1];
        addon.signature = None;
        addon.unsigned_exception = Some("--allow-unsigned".into());
        let (name, why) = unmet(&excepted).unwrap();
        assert_eq!(name.as_deref(), Some(ADDON));
        assert!(why.contains("let in unsigned"), "{why}");
        // An add-on the section does not list had no `provenance:` entry as far as the
        // signed manifest says: nothing to demand (docs/trust.md).
        let mut unlisted = m;
        unlisted.provenance.as_mut().unwrap().artifacts.remove(1);
        assert_eq!(unmet(&unlisted), None);
    }

    #[test]
    fn kubernetes_artifacts_answer_to_the_built_in_identities_only() {
        let entry = |artifact: &str, kind| ArtifactEvidence {
            artifact: artifact.into(),
            kind,
            digest: Sha256Digest::of(b"x"),
            signature: None,
            unsigned_exception: None,
        };
        let image = entry("registry.k8s.io/kube-apiserver", ArtifactKind::Image);
        assert_eq!(kubernetes_identity(&image), Some(KUBERNETES_IMAGES));
        let file = entry(
            "https://dl.k8s.io/release/v1.37.1/bin/linux/amd64/kubeadm",
            ArtifactKind::File,
        );
        assert_eq!(kubernetes_identity(&file), Some(KUBERNETES_FILES));
        // A look-alike host and an add-on's registry get their recorded policy.
        let lookalike = entry("registry.k8s.io.example.com/x", ArtifactKind::Image);
        assert_eq!(kubernetes_identity(&lookalike), None);
        let addon = entry("quay.io/cilium/cilium", ArtifactKind::Image);
        assert_eq!(kubernetes_identity(&addon), None);
    }
}
