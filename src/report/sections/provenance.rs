//! Section 11, upstream provenance: for every image and file the bundle carries, who
//! signed it upstream (identity, issuer, transparency-log index and time, where the
//! signature was found) as resolve checked it, or the exception that let it in; and the
//! one line a board reads first. Read from the manifest's provenance section alone, so a
//! re-rendered report says what the build said.

use airlock_provenance::{KUBERNETES_FILES, KUBERNETES_IMAGES};

use crate::manifest::{ArtifactEvidence, ArtifactKind, BundleManifest, SignatureEvidence};
use crate::report::{Inputs, ProvenanceLine, ProvenanceSection, ProvenanceSignature};
use crate::time::Timestamp;

/// Said of every artifact when resolve ran without `--trusted-root`.
const NOT_CHECKED: &str = "provenance not checked: resolve ran without --trusted-root";
/// Said of an artifact no provenance policy covered (outside registry.k8s.io and dl.k8s.io).
const NOT_COVERED: &str = "provenance not checked: no provenance policy covered it at resolve";

/// The provenance section.
pub(crate) fn build(i: &Inputs<'_>) -> ProvenanceSection {
    let Some(m) = i.manifest else {
        return ProvenanceSection {
            checked: false,
            summary: "Provenance not evaluated: no bundle manifest.".into(),
            trusted_root_sha256: None,
            artifacts: Vec::new(),
        };
    };
    let artifacts = lines_of(m);
    let checked = m.provenance.is_some();
    let summary = summary_line(&artifacts, checked);
    ProvenanceSection {
        checked,
        summary,
        trusted_root_sha256: m
            .provenance
            .as_ref()
            .map(|p| p.trusted_root.sha256.to_string()),
        artifacts,
    }
}

/// One line per carried image (by reference) and file (by source), images first: the
/// signature the manifest records, or the exception (the SBOM records the same).
pub(in crate::report) fn lines_of(m: &BundleManifest) -> Vec<ProvenanceLine> {
    let evidence = m.provenance.as_ref().map(|p| &p.artifacts[..]);
    lines(m, evidence.unwrap_or_default(), evidence.is_some())
}

fn lines(m: &BundleManifest, evidence: &[ArtifactEvidence], checked: bool) -> Vec<ProvenanceLine> {
    let find = |kind: ArtifactKind, name: &str| {
        evidence
            .iter()
            .find(|a| a.kind == kind && a.artifact == name)
    };
    let line = |kind, name: String, digest: String| {
        let found = find(kind, &name);
        let exception = match found {
            Some(a) => a.unsigned_exception.clone(),
            None if checked => Some(NOT_COVERED.into()),
            None => Some(NOT_CHECKED.into()),
        };
        ProvenanceLine {
            kind: match kind {
                ArtifactKind::Image => "image",
                ArtifactKind::File => "file",
            },
            signature: found.and_then(|a| a.signature.as_ref()).map(signature),
            exception,
            artifact: name,
            digest,
        }
    };
    let images = m.images.iter().map(|i| {
        line(
            ArtifactKind::Image,
            i.name.to_string(),
            i.source.digest.to_string(),
        )
    });
    let files = m
        .files
        .iter()
        .map(|f| line(ArtifactKind::File, f.source.clone(), f.sha256.to_string()));
    images.chain(files).collect()
}

fn signature(s: &SignatureEvidence) -> ProvenanceSignature {
    ProvenanceSignature {
        identity: s.identity.clone(),
        issuer: s.issuer.clone(),
        log_index: s.log_index,
        integrated_time: Timestamp(s.integrated_time).to_string(),
        source: s.source.map(|x| x.to_string()),
    }
}

/// Whether a signature is one of Kubernetes' release identities (images or files).
fn by_kubernetes(s: &ProvenanceSignature) -> bool {
    [KUBERNETES_IMAGES, KUBERNETES_FILES]
        .iter()
        .any(|k| k.san == s.identity.as_str() && k.issuer == s.issuer.as_str())
}

/// "41 of 43 artifacts signed by Kubernetes; 2 exceptions: NAME (--allow-unsigned), ...".
fn summary_line(lines: &[ProvenanceLine], checked: bool) -> String {
    let n = lines.len();
    if !checked {
        return format!(
            "Provenance not checked: resolve ran without --trusted-root, so no upstream signature of the {n} artifacts was checked."
        );
    }
    let signed: Vec<&ProvenanceSignature> =
        lines.iter().filter_map(|l| l.signature.as_ref()).collect();
    let kubernetes = signed.iter().filter(|s| by_kubernetes(s)).count();
    let mut out = format!("{kubernetes} of {n} artifacts signed by Kubernetes");
    let others = signed.len() - kubernetes;
    if others > 0 {
        out.push_str(&format!(
            "; {others} signed by other identities that the resolve's policy named"
        ));
    }
    let exceptions: Vec<String> = lines
        .iter()
        .filter_map(|l| {
            let e = l.exception.as_deref()?;
            let why = if e.contains("--allow-unsigned") {
                "--allow-unsigned"
            } else {
                "not checked"
            };
            Some(format!("{} ({why})", l.artifact))
        })
        .collect();
    if exceptions.is_empty() {
        out.push_str("; no exceptions.");
    } else {
        out.push_str(&format!(
            "; {} exception{}: {}.",
            exceptions.len(),
            if exceptions.len() == 1 { "" } else { "s" },
            exceptions.join(", ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::fixture;
    use super::*;
    use crate::digest::Sha256Digest;
    use crate::manifest::{Evidence, Provenance, ProvenanceSource};

    fn evidence(b: &[u8]) -> Evidence {
        Evidence {
            size: b.len() as u64,
            sha256: Sha256Digest::of(b),
        }
    }

    /// The fixture with evidence for both kube-apiservers (a `.sig` tag and a referrer),
    /// kubeadm (a blob signature) and an `--allow-unsigned` exception for etcd 3.5.12-0;
    /// CoreDNS and the other etcd are left out, as resolve leaves out what no policy covers.
    fn checked() -> BundleManifest {
        let mut m = fixture::manifest();
        let sig = |identity: &str, index, source| SignatureEvidence {
            source: Some(source),
            identity: identity.into(),
            issuer: "https://accounts.google.com".into(),
            log_index: index,
            integrated_time: 1_765_000_000 + index as i64,
            bundle: evidence(identity.as_bytes()),
            payload: None,
            key: None,
        };
        let image = |name: &str, c, s: Option<SignatureEvidence>| ArtifactEvidence {
            artifact: name.into(),
            kind: ArtifactKind::Image,
            digest: fixture::digest(c).parse().unwrap(),
            unsigned_exception: s
                .is_none()
                .then(|| format!("no signature found; carried anyway (--allow-unsigned {name})")),
            signature: s,
        };
        let trust = &KUBERNETES_IMAGES.san;
        let url = m.files[0].source.clone();
        m.provenance = Some(Provenance {
            trusted_root: evidence(b"root"),
            artifacts: vec![
                image("registry.k8s.io/etcd:3.5.12-0", 'f', None),
                image(
                    "registry.k8s.io/kube-apiserver:v1.29.6",
                    'a',
                    Some(sig(trust, 7, ProvenanceSource::SigTag)),
                ),
                image(
                    "registry.k8s.io/kube-apiserver:v1.30.2",
                    'b',
                    Some(sig(trust, 8, ProvenanceSource::Referrer)),
                ),
                ArtifactEvidence {
                    artifact: url,
                    kind: ArtifactKind::File,
                    digest: m.files[0].sha256,
                    signature: Some(sig(&KUBERNETES_FILES.san, 9, ProvenanceSource::Blob)),
                    unsigned_exception: None,
                },
            ],
        });
        m
    }

    #[test]
    fn every_artifact_has_its_signature_or_its_exception() {
        let m = checked();
        let p = build(&Inputs {
            manifest: Some(&m),
            ..Default::default()
        });
        assert!(p.checked);
        assert_eq!(
            p.trusted_root_sha256,
            Some(Sha256Digest::of(b"root").to_string())
        );
        assert_eq!(p.artifacts.len(), 6, "five images and one file");
        let by_name = |n: &str| p.artifacts.iter().find(|l| l.artifact == n).unwrap();
        let new = by_name("registry.k8s.io/kube-apiserver:v1.30.2");
        let s = new.signature.as_ref().unwrap();
        assert_eq!(
            (s.log_index, s.source.as_deref(), s.integrated_time.as_str()),
            (8, Some("referrer"), "2025-12-06T05:46:48Z")
        );
        assert_eq!(new.exception, None);
        let kubeadm = by_name("https://dl.k8s.io/release/v1.30.2/bin/linux/amd64/kubeadm");
        assert_eq!(kubeadm.kind, "file");
        assert_eq!(
            kubeadm.signature.as_ref().unwrap().identity,
            KUBERNETES_FILES.san
        );
        let etcd = by_name("registry.k8s.io/etcd:3.5.12-0");
        assert!(etcd.signature.is_none());
        assert!(
            etcd.exception
                .as_ref()
                .unwrap()
                .contains("--allow-unsigned")
        );
        assert_eq!(
            by_name("registry.k8s.io/coredns/coredns:v1.11.1")
                .exception
                .as_deref(),
            Some(NOT_COVERED)
        );
        assert_eq!(
            p.summary,
            "3 of 6 artifacts signed by Kubernetes; 3 exceptions: \
             registry.k8s.io/coredns/coredns:v1.11.1 (not checked), \
             registry.k8s.io/etcd:3.5.10-0 (not checked), \
             registry.k8s.io/etcd:3.5.12-0 (--allow-unsigned)."
        );
    }

    #[test]
    fn other_signers_are_counted_apart_and_a_clean_hop_says_no_exceptions() {
        let mut m = checked();
        let p = m.provenance.as_mut().unwrap();
        p.artifacts[1].signature.as_mut().unwrap().identity = "someone@example.com".into();
        p.artifacts.remove(0);
        m.images
            .retain(|i| i.name.repository.starts_with("kube-apiserver"));
        let s = build(&Inputs {
            manifest: Some(&m),
            ..Default::default()
        })
        .summary;
        assert_eq!(
            s,
            "2 of 3 artifacts signed by Kubernetes; 1 signed by other identities that the resolve's policy named; no exceptions."
        );
    }

    #[test]
    fn without_a_trusted_root_every_artifact_says_not_checked() {
        let m = fixture::manifest();
        let p = build(&Inputs {
            manifest: Some(&m),
            ..Default::default()
        });
        assert!(!p.checked);
        assert_eq!(p.trusted_root_sha256, None);
        assert_eq!(p.artifacts.len(), 6);
        assert!(
            p.artifacts
                .iter()
                .all(|l| l.signature.is_none() && l.exception.as_deref() == Some(NOT_CHECKED))
        );
        assert!(
            p.summary.starts_with("Provenance not checked"),
            "{}",
            p.summary
        );
    }
}
