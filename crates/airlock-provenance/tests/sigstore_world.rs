//! airlock-provenance against a generated Sigstore world (`airlock_provenance::testworld`),
//! each bundle also judged by the Sigstore project's own client, sigstore-python 4.5.1
//! (`bin/sigstore` beside `AIRLOCK_TEST_PYTHON`; scripts/test.sh installs it): what
//! airlock accepts it must accept, what airlock refuses for a Sigstore reason it must
//! refuse too.

use airlock_provenance::testworld::{Leaf, Signer, World};
use airlock_provenance::{
    Artifact, Identity, KUBERNETES_FILES, KUBERNETES_IMAGES, ProvenanceError, ProvenanceFacts,
    TrustedRoot, bundle_from_blob_signature, bundle_from_cosign_layer, check_artifact,
    parse_rekor_entry,
};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use std::path::PathBuf;
use std::process::Command;

const IMAGE: &str = "sha256:3b7b8bd0e7c1c1bd1a6b5a0d3b8f6f7c2c7e1f6a0f3c5d9e8b7a6c5d4e3f2a1b";
const REFERENCE: &str = "registry.k8s.io/kubernetes/kube-apiserver";

/// sigstore-python's CLI, beside the test virtualenv's python.
fn sigstore_cli() -> PathBuf {
    let python = std::env::var_os("AIRLOCK_TEST_PYTHON").expect(
        "AIRLOCK_TEST_PYTHON must name the test virtualenv's python (scripts/test.sh sets it up \
         with sigstore==4.5.1)",
    );
    PathBuf::from(python).with_file_name("sigstore")
}

/// Runs `sigstore verify identity --offline` on `bundle` for the file `artifact`;
/// returns whether it accepted, and its output for the failure message.
fn sigstore_python(
    world: &World,
    bundle: &[u8],
    artifact: &[u8],
    who: &Identity,
) -> (bool, String) {
    let n = Sha256::digest(bundle);
    let a = world.write_file(&format!("{}.artifact", hex::encode(&n[..8])), artifact);
    sigstore_python_on(world, bundle, a.as_os_str(), who)
}

/// As [`sigstore_python`], the input given as a file path or a `sha256:<hex>` digest.
fn sigstore_python_on(
    world: &World,
    bundle: &[u8],
    input: &std::ffi::OsStr,
    who: &Identity,
) -> (bool, String) {
    let n = Sha256::digest(bundle);
    let b = world.write_file(&format!("{}.sigstore.json", hex::encode(&n[..8])), bundle);
    let out = Command::new(sigstore_cli())
        .arg("--trust-config")
        .arg(world.path().join("trust_config.json"))
        .args(["verify", "identity", "--offline", "--bundle"])
        .arg(&b)
        .args([
            "--cert-identity",
            &who.san,
            "--cert-oidc-issuer",
            &who.issuer,
        ])
        .arg(input)
        .output()
        .expect("run sigstore-python (pip install sigstore==4.5.1 into the test venv)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn root(world: &World) -> TrustedRoot {
    TrustedRoot::from_json(&world.trusted_root_json()).expect("the world's trusted root parses")
}

/// A signed, logged kubectl-like blob and its bundle.
struct BlobCase {
    world: World,
    blob: Vec<u8>,
    bundle: Vec<u8>,
}

fn blob_case(
    leaf_spec: impl FnOnce(&World) -> airlock_provenance::testworld::LeafSpec,
) -> BlobCase {
    let mut world = World::new();
    world.log_filler(5);
    let leaf = world.issue_leaf(&leaf_spec(&world));
    let blob = b"\x7fELF kubectl built by the test".to_vec();
    let signed = world.sign_blob(&leaf, &blob);
    world.log_filler(2);
    let api = world.rekor_api_entry(&signed.logged);
    let entry = parse_rekor_entry("kubectl", &api).expect("API entry parses");
    let bundle = bundle_from_blob_signature(
        "kubectl",
        &signed.sig,
        Some(&signed.cert),
        &sha(&blob),
        &entry,
    )
    .expect("blob signature converts");
    BlobCase {
        world,
        blob,
        bundle,
    }
}

fn kubernetes_leaf(world: &World, who: &Identity) -> airlock_provenance::testworld::LeafSpec {
    world.leaf_spec(&who.san, &who.issuer)
}

fn sha(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

fn check_blob(
    case: &BlobCase,
    bundle: &[u8],
    who: &Identity,
) -> Result<ProvenanceFacts, ProvenanceError> {
    let artifact = Artifact::Blob {
        name: "kubectl",
        sha256: sha(&case.blob),
    };
    check_artifact(bundle, &artifact, who, &root(&case.world))
}

/// Asserts airlock refuses with the error `matches` accepts and sigstore-python refuses too.
fn refused_by_both(
    case: &BlobCase,
    bundle: &[u8],
    who: &Identity,
    matches: fn(&ProvenanceError) -> bool,
) {
    let got = check_blob(case, bundle, who);
    match &got {
        Err(e) if matches(e) => {}
        other => panic!("airlock: unexpected result {other:?}"),
    }
    let (ok, text) = sigstore_python(&case.world, bundle, &case.blob, who);
    assert!(
        !ok,
        "sigstore-python accepted what airlock refused ({got:?}):\n{text}"
    );
    // Shown with --nocapture: that the independent refusal has the same reason.
    eprintln!("airlock: {got:?}\nsigstore-python: {}", text.trim());
}

fn edit(bundle: &[u8], f: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(bundle).expect("bundle JSON");
    f(&mut v);
    serde_json::to_vec(&v).expect("bundle JSON")
}

fn entry(v: &mut Value) -> &mut Value {
    &mut v["verificationMaterial"]["tlogEntries"][0]
}

#[test]
fn a_blob_signature_is_accepted_by_airlock_and_by_sigstore_python() {
    let case = blob_case(|w| kubernetes_leaf(w, &KUBERNETES_FILES));
    let facts = check_blob(&case, &case.bundle, &KUBERNETES_FILES).expect("airlock accepts");
    assert_eq!(facts.identity, KUBERNETES_FILES.san);
    assert_eq!(facts.issuer, KUBERNETES_FILES.issuer);
    assert_eq!(facts.log_index, 5);
    assert_eq!(facts.integrated_time, case.world.now - 60);
    assert_eq!(facts.docker_reference, None);
    let (ok, text) = sigstore_python(&case.world, &case.bundle, &case.blob, &KUBERNETES_FILES);
    assert!(
        ok,
        "sigstore-python refused a bundle airlock accepts:\n{text}"
    );
}

#[test]
fn a_cosign_image_signature_is_accepted_by_airlock_and_by_sigstore_python() {
    let mut world = World::new();
    world.log_filler(3);
    let leaf = world.issue_leaf(&kubernetes_leaf(&world, &KUBERNETES_IMAGES));
    let layer = world.sign_image(&leaf, IMAGE, REFERENCE);
    let entry =
        parse_rekor_entry("kube-apiserver", &world.rekor_api_entry(&layer.logged)).expect("entry");
    let bundle =
        bundle_from_cosign_layer("kube-apiserver", &layer.annotations, &layer.payload, &entry)
            .expect("cosign layer converts");
    let artifact = Artifact::Image {
        name: "kube-apiserver",
        digest: IMAGE,
        payload: Some(&layer.payload),
    };
    let facts = check_artifact(&bundle, &artifact, &KUBERNETES_IMAGES, &root(&world))
        .expect("airlock accepts");
    assert_eq!(facts.identity, KUBERNETES_IMAGES.san);
    assert_eq!(facts.docker_reference.as_deref(), Some(REFERENCE));
    assert_eq!(facts.log_index, 3);
    let (ok, text) = sigstore_python(&world, &bundle, &layer.payload, &KUBERNETES_IMAGES);
    assert!(
        ok,
        "sigstore-python refused a bundle airlock accepts:\n{text}"
    );

    // The same signature, checked for another image: the payload names IMAGE. This binding
    // is airlock's (design §3 step 9); sigstore-python checks the payload bytes only and
    // accepts, which shows the refusal comes from the digest claim, not the signature.
    let other = IMAGE.replace("3b7b", "0000");
    let for_other = Artifact::Image {
        name: "kube-apiserver",
        digest: &other,
        payload: Some(&layer.payload),
    };
    match check_artifact(&bundle, &for_other, &KUBERNETES_IMAGES, &root(&world)) {
        Err(ProvenanceError::PayloadNamesAnotherDigest {
            claimed, expected, ..
        }) => {
            assert_eq!(
                (claimed.as_str(), expected.as_str()),
                (IMAGE, other.as_str())
            );
        }
        got => panic!("expected PayloadNamesAnotherDigest, got {got:?}"),
    }
}

#[test]
fn a_cosign3_dsse_image_signature_is_accepted_and_bound_to_its_digest_and_predicate() {
    let mut world = World::new();
    world.log_filler(4);
    let leaf = world.issue_leaf(&kubernetes_leaf(&world, &KUBERNETES_IMAGES));
    let bundle = world.sign_image_dsse(&leaf, IMAGE, airlock_provenance::COSIGN_SIGN_PREDICATE);
    let image = |digest| Artifact::Image {
        name: "kube-apiserver",
        digest,
        payload: None,
    };
    let facts = check_artifact(&bundle, &image(IMAGE), &KUBERNETES_IMAGES, &root(&world))
        .expect("airlock accepts");
    assert_eq!((facts.log_index, facts.docker_reference), (4, None));
    let (ok, text) = sigstore_python_on(&world, &bundle, IMAGE.as_ref(), &KUBERNETES_IMAGES);
    assert!(
        ok,
        "sigstore-python refused a DSSE bundle airlock accepts:\n{text}"
    );

    // Another image: the statement's subject is not its digest. Both refuse.
    let other = IMAGE.replace("3b7b", "0000");
    match check_artifact(&bundle, &image(&other), &KUBERNETES_IMAGES, &root(&world)) {
        Err(ProvenanceError::DsseMismatch { .. }) => {}
        got => panic!("expected DsseMismatch, got {got:?}"),
    }
    let (ok, text) = sigstore_python_on(&world, &bundle, other.as_ref(), &KUBERNETES_IMAGES);
    assert!(
        !ok,
        "sigstore-python accepted a statement for another digest:\n{text}"
    );

    // Another predicate (an SBOM attestation, say) is not an image signature. The
    // predicate check is airlock's; sigstore-python verifies any statement and accepts.
    let sbom = world.sign_image_dsse(&leaf, IMAGE, "https://spdx.dev/Document");
    match check_artifact(&sbom, &image(IMAGE), &KUBERNETES_IMAGES, &root(&world)) {
        Err(ProvenanceError::DsseMismatch { detail, .. }) => {
            assert!(detail.contains("spdx"), "{detail}")
        }
        got => panic!("expected DsseMismatch, got {got:?}"),
    }
}

#[test]
fn a_cosign_layer_is_converted_only_with_the_log_entry_its_annotation_names() {
    let mut world = World::new();
    let leaf = world.issue_leaf(&kubernetes_leaf(&world, &KUBERNETES_IMAGES));
    let first = world.sign_image(&leaf, IMAGE, REFERENCE);
    let second = world.sign_image(&leaf, IMAGE, "registry.k8s.io/kube-apiserver");
    let entry_of_second =
        parse_rekor_entry("kube-apiserver", &world.rekor_api_entry(&second.logged)).expect("entry");
    match bundle_from_cosign_layer(
        "kube-apiserver",
        &first.annotations,
        &first.payload,
        &entry_of_second,
    ) {
        Err(ProvenanceError::LogEntryForAnotherArtifact { .. }) => {}
        got => panic!("expected LogEntryForAnotherArtifact, got {got:?}"),
    }
    // Without a certificate it is a keyed signature (`cosign sign --key`): it converts,
    // and a keyless policy refuses it (no certificate to check the identity of).
    let mut keyed = second.annotations.clone();
    keyed.remove(airlock_provenance::CERTIFICATE_ANNOTATION);
    let bundle =
        bundle_from_cosign_layer("kube-apiserver", &keyed, &second.payload, &entry_of_second)
            .expect("a layer without a certificate converts as keyed");
    let artifact = Artifact::Image {
        name: "kube-apiserver",
        digest: IMAGE,
        payload: Some(&second.payload),
    };
    assert!(check_artifact(&bundle, &artifact, &KUBERNETES_IMAGES, &root(&world)).is_err());
    for key in [
        airlock_provenance::SIGNATURE_ANNOTATION,
        airlock_provenance::BUNDLE_ANNOTATION,
    ] {
        let mut annotations = second.annotations.clone();
        annotations.remove(key);
        match bundle_from_cosign_layer(
            "kube-apiserver",
            &annotations,
            &second.payload,
            &entry_of_second,
        ) {
            Err(ProvenanceError::Malformed { detail, .. }) => {
                assert!(detail.contains(key), "{detail}")
            }
            got => panic!("expected Malformed without {key}, got {got:?}"),
        }
    }
}

#[test]
fn a_blob_certificate_is_read_as_pem_or_as_base64_of_pem() {
    let mut world = World::new();
    let leaf = world.issue_leaf(&kubernetes_leaf(&world, &KUBERNETES_FILES));
    let blob = b"kubeadm".to_vec();
    let signed = world.sign_blob(&leaf, &blob);
    let entry =
        parse_rekor_entry("kubeadm", &world.rekor_api_entry(&signed.logged)).expect("entry");
    let from_b64 = bundle_from_blob_signature(
        "kubeadm",
        &signed.sig,
        Some(&signed.cert),
        &sha(&blob),
        &entry,
    )
    .expect("base64 of PEM");
    let from_pem = bundle_from_blob_signature(
        "kubeadm",
        &signed.sig,
        Some(leaf.pem.as_bytes()),
        &sha(&blob),
        &entry,
    )
    .expect("PEM");
    assert_eq!(from_b64, from_pem);
    let artifact = Artifact::Blob {
        name: "kubeadm",
        sha256: sha(&blob),
    };
    check_artifact(&from_pem, &artifact, &KUBERNETES_FILES, &root(&world)).expect("accepted");
}

#[test]
fn a_wrong_identity_or_issuer_is_refused() {
    let case = blob_case(|w| kubernetes_leaf(w, &KUBERNETES_FILES));
    refused_by_both(
        &case,
        &case.bundle,
        &KUBERNETES_IMAGES,
        |e| matches!(e, ProvenanceError::WrongIdentity { actual, .. } if actual == KUBERNETES_FILES.san.as_ref()),
    );
    let other_issuer = Identity::new(
        KUBERNETES_FILES.san.to_string(),
        "https://token.actions.githubusercontent.com",
    );
    refused_by_both(
        &case,
        &case.bundle,
        &other_issuer,
        |e| matches!(e, ProvenanceError::WrongIssuer { actual, .. } if actual == "https://accounts.google.com"),
    );
}

#[test]
fn a_certificate_from_another_ca_is_refused() {
    let case = blob_case(|w| {
        let mut spec = kubernetes_leaf(w, &KUBERNETES_FILES);
        spec.ca = Signer::Stranger;
        spec
    });
    refused_by_both(&case, &case.bundle, &KUBERNETES_FILES, |e| {
        matches!(e, ProvenanceError::UnknownCa { .. })
    });
}

#[test]
fn a_signing_time_outside_the_certificate_validity_is_refused() {
    // The leaf expired 50 minutes before the log says the signature was made.
    let case = blob_case(|w| {
        let mut spec = kubernetes_leaf(w, &KUBERNETES_FILES);
        (spec.not_before, spec.not_after) = (w.now - 3600, w.now - 3000);
        spec
    });
    refused_by_both(&case, &case.bundle, &KUBERNETES_FILES, |e| {
        matches!(e, ProvenanceError::SigningTimeOutsideValidity { .. })
    });
}

#[test]
fn a_signing_time_before_the_cas_validity_in_the_trusted_root_is_refused() {
    // The log says a minute ago; the trusted root trusts the CA only from 30 s ago
    // (design §1.6: a CA's validFor must contain the signing time).
    let mut case = blob_case(|w| kubernetes_leaf(w, &KUBERNETES_FILES));
    case.world.ca_valid_from = case.world.now - 30;
    case.world.rewrite_trust_files();
    match check_blob(&case, &case.bundle, &KUBERNETES_FILES) {
        Err(ProvenanceError::SigningTimeOutsideValidity { .. }) => {}
        got => panic!("expected SigningTimeOutsideValidity, got {got:?}"),
    }
    // sigstore-python 4.5.1 is laxer here: `TrustedRoot.get_fulcio_certs`
    // (sigstore/models.py) takes every CA valid now (`allow_expired=True`) and never
    // compares validFor with the signing time, so it accepts. Asserted, so a client
    // that starts refusing is noticed and this case joins `refused_by_both`.
    let (ok, text) = sigstore_python(&case.world, &case.bundle, &case.blob, &KUBERNETES_FILES);
    assert!(
        ok,
        "sigstore-python now refuses a CA window at signing time:\n{text}"
    );
}

#[test]
fn an_sct_from_an_unknown_ct_log_is_refused() {
    let case = blob_case(|w| {
        let mut spec = kubernetes_leaf(w, &KUBERNETES_FILES);
        spec.ct_log = Signer::Stranger;
        spec
    });
    refused_by_both(&case, &case.bundle, &KUBERNETES_FILES, |e| {
        matches!(e, ProvenanceError::BadSct { .. })
    });
}

/// Two blobs signed by one leaf; the bundle of the second carries the first's log entry.
#[test]
fn a_log_entry_for_another_artifact_is_refused() {
    let mut case = blob_case(|w| kubernetes_leaf(w, &KUBERNETES_FILES));
    let leaf: Leaf = case
        .world
        .issue_leaf(&kubernetes_leaf(&case.world, &KUBERNETES_FILES));
    let first = case.world.sign_blob(&leaf, b"kubeadm");
    let second = case.world.sign_blob(&leaf, &case.blob);
    let entry =
        parse_rekor_entry("kubectl", &case.world.rekor_api_entry(&first.logged)).expect("entry");
    case.bundle = bundle_from_blob_signature(
        "kubectl",
        &second.sig,
        Some(&second.cert),
        &sha(&case.blob),
        &entry,
    )
    .expect("converts: the converter does not judge");
    refused_by_both(&case, &case.bundle, &KUBERNETES_FILES, |e| {
        matches!(e, ProvenanceError::LogEntryForAnotherArtifact { .. })
    });
}

#[test]
fn a_signature_over_another_digest_is_refused() {
    // The log and the bundle say kubectl's digest; the signature is over other bytes.
    let mut case = blob_case(|w| kubernetes_leaf(w, &KUBERNETES_FILES));
    let leaf = case
        .world
        .issue_leaf(&kubernetes_leaf(&case.world, &KUBERNETES_FILES));
    let sig = case.world.sign(&leaf, b"something else");
    let logged = case.world.log(
        &sha(&case.blob),
        &sig,
        &leaf.pem,
        case.world.now - 60,
        Signer::Trusted,
    );
    let entry = parse_rekor_entry("kubectl", &case.world.rekor_api_entry(&logged)).expect("entry");
    let b64 = |b: &[u8]| base64_encode(b);
    case.bundle = bundle_from_blob_signature(
        "kubectl",
        b64(&sig).as_bytes(),
        Some(leaf.pem.as_bytes()),
        &sha(&case.blob),
        &entry,
    )
    .expect("converts");
    refused_by_both(&case, &case.bundle, &KUBERNETES_FILES, |e| {
        matches!(e, ProvenanceError::SignatureOverAnotherDigest { .. })
    });
}

#[test]
fn a_bundle_whose_message_digest_is_another_artifacts_is_refused() {
    let case = blob_case(|w| kubernetes_leaf(w, &KUBERNETES_FILES));
    let other = edit(&case.bundle, |v| {
        v["messageSignature"]["messageDigest"]["digest"] =
            Value::String(base64_encode(&sha(b"kubeadm")));
    });
    refused_by_both(&case, &other, &KUBERNETES_FILES, |e| {
        matches!(e, ProvenanceError::BundleForAnotherArtifact { .. })
    });
}

#[test]
fn a_set_by_an_unknown_key_is_refused() {
    let mut case = blob_case(|w| kubernetes_leaf(w, &KUBERNETES_FILES));
    let leaf = case
        .world
        .issue_leaf(&kubernetes_leaf(&case.world, &KUBERNETES_FILES));
    let sig = case.world.sign(&leaf, &case.blob);
    let logged = case.world.log(
        &sha(&case.blob),
        &sig,
        &leaf.pem,
        case.world.now - 60,
        Signer::Stranger,
    );
    let entry = parse_rekor_entry("kubectl", &case.world.rekor_api_entry(&logged)).expect("entry");
    case.bundle = bundle_from_blob_signature(
        "kubectl",
        base64_encode(&sig).as_bytes(),
        Some(leaf.pem.as_bytes()),
        &sha(&case.blob),
        &entry,
    )
    .expect("converts");
    refused_by_both(&case, &case.bundle, &KUBERNETES_FILES, |e| {
        matches!(e, ProvenanceError::BadSignedEntryTimestamp { .. })
    });
}

#[test]
fn a_tampered_inclusion_proof_is_refused() {
    let case = blob_case(|w| kubernetes_leaf(w, &KUBERNETES_FILES));
    let tampered = edit(&case.bundle, |v| {
        let h = &mut entry(v)["inclusionProof"]["hashes"][0];
        let mut bytes = base64_decode(h.as_str().expect("hash"));
        bytes[0] ^= 1;
        *h = Value::String(base64_encode(&bytes));
    });
    refused_by_both(&case, &tampered, &KUBERNETES_FILES, |e| {
        matches!(e, ProvenanceError::BadInclusionProof { .. })
    });
}

#[test]
fn a_tampered_checkpoint_is_refused() {
    let case = blob_case(|w| kubernetes_leaf(w, &KUBERNETES_FILES));
    // The tree size in the signed note changed: the signature no longer covers it.
    let resized = edit(&case.bundle, |v| {
        let c = &mut entry(v)["inclusionProof"]["checkpoint"]["envelope"];
        let text = c.as_str().expect("envelope").to_owned();
        let mut lines: Vec<&str> = text.split('\n').collect();
        let bigger = format!("{}", lines[1].parse::<u64>().expect("size") + 1);
        lines[1] = &bigger;
        *c = Value::String(lines.join("\n"));
    });
    refused_by_both(&case, &resized, &KUBERNETES_FILES, |e| {
        matches!(e, ProvenanceError::BadCheckpoint { .. })
    });
}

#[test]
fn malformed_bundles_are_refused_with_a_named_error() {
    let case = blob_case(|w| kubernetes_leaf(w, &KUBERNETES_FILES));
    let no_proof = edit(&case.bundle, |v| {
        entry(v)
            .as_object_mut()
            .expect("entry")
            .remove("inclusionProof");
    });
    let no_media_type = edit(&case.bundle, |v| {
        v.as_object_mut().expect("bundle").remove("mediaType");
    });
    let no_set = edit(&case.bundle, |v| {
        entry(v)
            .as_object_mut()
            .expect("entry")
            .remove("inclusionPromise");
    });
    for bad in [b"not json".to_vec(), b"{}".to_vec(), no_proof, no_set] {
        refused_by_both(&case, &bad, &KUBERNETES_FILES, |e| {
            matches!(e, ProvenanceError::Malformed { .. })
        });
    }
    // sigstore-types reads a missing mediaType as 0.1 (old cosign bundles); airlock
    // wants what it carries to say its version.
    match check_blob(&case, &no_media_type, &KUBERNETES_FILES) {
        Err(ProvenanceError::Malformed { detail, .. }) => assert!(detail.contains("mediaType")),
        got => panic!("expected Malformed, got {got:?}"),
    }
    let huge = vec![b' '; airlock_provenance::MAX_BUNDLE + 1];
    assert!(matches!(
        check_blob(&case, &huge, &KUBERNETES_FILES),
        Err(ProvenanceError::TooLarge { .. })
    ));
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .expect("base64 in the bundle")
}

/// Every byte of an accepted bundle matters: changing any one (each of a spread of
/// positions, xor 1) is refused, except where the bytes carry no evidence. The one such
/// place found is the name on the checkpoint's signature line, which no Sigstore client
/// checks (the key hint picks the key); there the facts must stay the same.
#[test]
fn a_one_byte_change_anywhere_in_a_bundle_is_refused_or_changes_nothing() {
    let case = blob_case(|w| kubernetes_leaf(w, &KUBERNETES_FILES));
    let root = root(&case.world);
    let artifact = Artifact::Blob {
        name: "kubectl",
        sha256: sha(&case.blob),
    };
    let facts =
        check_artifact(&case.bundle, &artifact, &KUBERNETES_FILES, &root).expect("accepted");
    let text = String::from_utf8(case.bundle.clone()).expect("JSON text");
    let name_at = text
        .find("\u{2014} rekor.airlock.test ")
        .expect("checkpoint signature line")
        + 4;
    let step = (case.bundle.len() / 400).max(1);
    for at in (0..case.bundle.len()).step_by(step) {
        let mut b = case.bundle.clone();
        b[at] ^= 1;
        match check_artifact(&b, &artifact, &KUBERNETES_FILES, &root) {
            Err(_) => {}
            Ok(f) => {
                assert!(
                    (name_at..name_at + 18).contains(&at),
                    "a change at byte {at} was accepted: {:?}",
                    String::from_utf8_lossy(&case.bundle[at.saturating_sub(40)..at + 10])
                );
                assert_eq!(f, facts);
            }
        }
    }
}

/// A cosign key pair made by `openssl` in the world's directory: (private key, public PEM).
fn cosign_key_pair(world: &World, name: &str) -> (PathBuf, String) {
    let key = world.path().join(format!("{name}.key"));
    let public = world.path().join(format!("{name}.pub"));
    for args in [
        vec![
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
        ],
        vec!["ec", "-pubout", "-in"],
    ] {
        let mut c = Command::new("openssl");
        c.args(&args).arg(&key);
        if args[0] == "ec" {
            c.arg("-out").arg(&public);
        }
        let out = c.output().expect("run openssl");
        assert!(out.status.success(), "{out:?}");
    }
    (
        key,
        std::fs::read_to_string(public).expect("read public key"),
    )
}

#[test]
fn a_keyed_cosign_signature_passes_with_its_key_and_is_refused_with_another() {
    use airlock_provenance::{Policy, PublicKey, check};
    let mut world = World::new();
    let (key, public) = cosign_key_pair(&world, "addon");
    let (_, stranger) = cosign_key_pair(&world, "stranger");
    let layer = world.sign_image_with_key(&key, &public, IMAGE, "example.com/addon");
    let entry = parse_rekor_entry("addon", &world.rekor_api_entry(&layer.logged)).expect("entry");
    let bundle = bundle_from_cosign_layer("addon", &layer.annotations, &layer.payload, &entry)
        .expect("a layer without a certificate converts");
    let artifact = Artifact::Image {
        name: "addon",
        digest: IMAGE,
        payload: Some(&layer.payload),
    };
    let good = Policy::Key(PublicKey::from_pem("addon.pub", &public).expect("P-256 key"));
    let facts = check(&bundle, &artifact, &good, &root(&world)).expect("accepted with its key");
    assert!(facts.identity.starts_with("key sha256:"), "{facts:?}");
    assert_eq!(facts.issuer, "");
    let wrong = Policy::Key(PublicKey::from_pem("stranger.pub", &stranger).expect("P-256 key"));
    match check(&bundle, &artifact, &wrong, &root(&world)) {
        Err(ProvenanceError::SignatureOverAnotherDigest { .. })
        | Err(ProvenanceError::LogEntryForAnotherArtifact { .. }) => {}
        other => panic!("another key: {other:?}"),
    }
    // A keyless policy does not accept a keyed signature, and a key is not a certificate.
    assert!(check_artifact(&bundle, &artifact, &KUBERNETES_IMAGES, &root(&world)).is_err());
    assert!(matches!(
        PublicKey::from_pem(
            "leaf",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
        ),
        Err(ProvenanceError::Malformed { .. })
    ));
}
