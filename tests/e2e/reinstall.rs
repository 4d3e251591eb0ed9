//! Re-installs. An install first looks, read-only and from the signed manifest alone, at
//! what the enclave holds; when it holds every image, tag and file, the payload is not
//! read (and the report and receipt say so). Anything missing takes the verified path:
//! every byte checked before anything is written.

use std::path::Path;
use std::process::Output;

use crate::common::check::assert_contains;
use crate::common::images::{sha256_digest, skopeo_inspect_raw};
use crate::common::scenario::{Scenario, assert_fails};
use crate::common::servers::{Registry, http_request};

/// The install record of a successful `install --json`.
fn report(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "install failed ({:?}):\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

/// Requests that changed something in the registry, from its access log.
fn writes(reg: &Registry) -> usize {
    reg.log_contents()
        .lines()
        .filter(|l| {
            ["\"PUT ", "\"POST ", "\"PATCH ", "\"DELETE "]
                .iter()
                .any(|m| l.contains(m))
        })
        .count()
}

/// Receipt number `n` of the state below `dest`.
fn receipt(dest: &Path, n: u32) -> serde_json::Value {
    let p = dest.join(format!(".airlock/receipts/{n:06}.json"));
    serde_json::from_slice(&std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .expect("receipt JSON")
}

/// `airlock-verify log --check --dest DEST` passes: every signature, the chain, the state.
fn log_checks(dest: &Path) {
    crate::common::cli::log_check(dest);
}

/// Flip one byte in the middle of payload.tar.zst (the signatures still hold: only the
/// payload's hash no longer matches); returns what to give [`restore`].
fn corrupt_payload(bundle: &Path) -> (usize, u8) {
    let p = bundle.join("payload.tar.zst");
    let mut bytes = std::fs::read(&p).unwrap();
    let at = bytes.len() / 2;
    let was = bytes[at];
    bytes[at] ^= 0x5a;
    std::fs::write(&p, bytes).unwrap();
    (at, was)
}

fn restore(bundle: &Path, (at, was): (usize, u8)) {
    let p = bundle.join("payload.tar.zst");
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[at] = was;
    std::fs::write(&p, bytes).unwrap();
}

#[test]
fn a_second_install_reads_no_payload_writes_nothing_and_says_so() {
    let (s, bundle) = Scenario::built();
    let enclave = Registry::start();
    let dest = s.path("dest");
    let first = report(&s.install(&bundle, &enclave, &dest, &[]));
    assert_eq!(first["payload"], "verified", "{first}");
    assert_eq!(first["payload_pass"], true);

    let held = enclave.snapshot();
    let writes_before = writes(&enclave);
    let before = crate::common::tree(s.work.path());
    let again = report(&s.install(&bundle, &enclave, &dest, &[]));
    assert_eq!(again["payload"], "not-read", "{again}");
    assert_eq!(
        again["payload_reason"],
        "the enclave already held every image, tag and file"
    );
    assert_eq!(again["payload_pass"], false);
    for n in ["blobs_pushed", "bytes_pushed", "blobs_mounted"] {
        assert_eq!(again[n], 0, "{n}: {again}");
    }
    let all = |key: &str, field: &str, want: &str| {
        again[key]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x[field] == want)
    };
    assert!(all("images", "action", "present"), "{again}");
    assert!(all("files", "action", "unchanged"), "{again}");
    // Nothing was written: no registry write request, nothing on disk but the receipt.
    assert_eq!(
        writes(&enclave),
        writes_before,
        "{}",
        enclave.log_contents()
    );
    assert_eq!(enclave.snapshot(), held);
    crate::common::assert_changed_only_under(
        &before,
        &crate::common::tree(s.work.path()),
        &["dest/.airlock"],
    );

    // The receipts say which install read the payload, in `verified` and in `install`.
    let r1 = receipt(&dest, 1);
    assert_eq!(r1["verified"]["payload"], "verified");
    let r2 = receipt(&dest, 2);
    assert_eq!(r2["outcome"], "installed");
    assert_eq!(r2["verified"]["payload"], "not-read", "{r2}");
    assert_eq!(r2["install"]["payload"], "not-read");
    assert!(
        r2["verified"]["payload_reason"]
            .as_str()
            .unwrap()
            .contains("already held every image, tag and file")
    );

    // And the human output.
    let out = s.install_to(&bundle, &enclave.host(), &dest, &["--insecure"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_contains(
        &text,
        "payload not read: the enclave already held every image, tag and file",
    );
    log_checks(&dest);
}

/// Documented behaviour (docs/cli.md, SECURITY.md): a re-install that needs nothing does
/// not read the payload, so it does not notice a payload damaged since the first install
/// (it installs nothing from it either); `--verify-payload` does.
#[test]
fn a_damaged_payload_goes_unread_when_nothing_is_missing_unless_verify_payload() {
    let (s, bundle) = Scenario::built();
    let enclave = Registry::start();
    let dest = s.path("dest");
    report(&s.install(&bundle, &enclave, &dest, &[]));
    let held = enclave.snapshot();
    let damage = corrupt_payload(&bundle);

    let again = report(&s.install(&bundle, &enclave, &dest, &[]));
    assert_eq!(again["payload"], "not-read", "{again}");

    let writes_before = writes(&enclave);
    let before = crate::common::tree(s.work.path());
    let out = s.install(&bundle, &enclave, &dest, &["--verify-payload"]);
    assert_fails(&out, 3, "payload");
    assert_eq!(receipt(&dest, 3)["outcome"], "failed");
    assert_eq!(writes(&enclave), writes_before);
    assert_eq!(enclave.snapshot(), held);
    crate::common::assert_changed_only_under(
        &before,
        &crate::common::tree(s.work.path()),
        &["dest/.airlock"],
    );

    // Mended, --verify-payload checks every byte and still has nothing to write.
    restore(&bundle, damage);
    let forced = report(&s.install(&bundle, &enclave, &dest, &["--verify-payload"]));
    assert_eq!(forced["payload"], "verified-on-request", "{forced}");
    assert_eq!(forced["payload_pass"], false);
    assert_eq!(forced["blobs_pushed"], 0);
    assert_eq!(
        receipt(&dest, 4)["verified"]["payload"],
        "verified-on-request"
    );
    log_checks(&dest);
}

#[test]
fn a_reinstall_that_lacks_anything_verifies_every_byte_first() {
    let (s, bundle) = Scenario::built();
    let enclave = Registry::start();
    let dest = s.path("dest");
    report(&s.install(&bundle, &enclave, &dest, &[]));
    let held = enclave.snapshot();
    let damage = corrupt_payload(&bundle);

    // A file deleted from --dest: the damaged payload is refused, nothing is written.
    let kubeadm = dest.join("bin/v1.30.2/linux/amd64/kubeadm");
    std::fs::remove_file(&kubeadm).unwrap();
    let writes_before = writes(&enclave);
    let out = s.install(&bundle, &enclave, &dest, &[]);
    assert_fails(&out, 3, "payload");
    assert!(!kubeadm.exists());
    assert_eq!(writes(&enclave), writes_before);

    // A tag moved to another manifest of its repository (the served index is still
    // there by digest): refused too, and the tag stays where it was put.
    let host = enclave.host();
    let amd64 = s.images[0]
        .manifest_digest("linux/amd64")
        .unwrap()
        .to_string();
    let raw = skopeo_inspect_raw(&format!("{host}/kube-apiserver@{amd64}"));
    let media: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    let put = http_request(
        &host,
        "PUT",
        "/v2/kube-apiserver/manifests/v1.30.2",
        &[("Content-Type", media["mediaType"].as_str().unwrap())],
        &raw,
    )
    .unwrap();
    assert_eq!(put.status, 201, "{}", put.text());
    let writes_before = writes(&enclave);
    let out = s.install(&bundle, &enclave, &dest, &[]);
    assert_fails(&out, 3, "payload");
    assert_eq!(writes(&enclave), writes_before);
    let tagged = skopeo_inspect_raw(&format!("{host}/kube-apiserver:v1.30.2"));
    assert_eq!(sha256_digest(&tagged), amd64);

    // A tag deleted (this registry's API deletes only by digest, which would take the
    // image too: the tag goes from its storage): refused, and the tag stays deleted.
    let pause_tag = enclave
        .storage_dir()
        .join("docker/registry/v2/repositories/pause/_manifests/tags/3.9");
    std::fs::remove_dir_all(&pause_tag).unwrap();
    let out = s.install(&bundle, &enclave, &dest, &[]);
    assert_fails(&out, 3, "payload");
    assert_eq!(writes(&enclave), writes_before);
    let now = enclave.snapshot();
    assert!(!now.contains_key("pause:3.9"), "{now:?}");

    // A fresh registry, --dest complete: refused, the registry stays empty.
    let fresh = Registry::start();
    let out = s.install(&bundle, &fresh, &dest, &[]);
    assert_fails(&out, 3, "payload");
    let catalog = fresh.get("/v2/_catalog").text();
    assert!(catalog.contains("\"repositories\":[]"), "{catalog}");

    // Mended, the same re-install verifies and puts back the file and the tag.
    restore(&bundle, damage);
    let mended = report(&s.install(&bundle, &enclave, &dest, &[]));
    assert_eq!(mended["payload"], "verified", "{mended}");
    assert_eq!(
        mended["payload_reason"],
        "the enclave lacked 0 image(s), 2 tag(s) and 1 file(s)"
    );
    let api = crate::common::find(
        &mended["images"],
        "name",
        "registry.k8s.io/kube-apiserver:v1.30.2",
    );
    assert_eq!(api["action"], "present");
    assert_eq!(api["tag_moved_from"], amd64.as_str());
    assert_eq!(
        std::fs::read(&kubeadm).unwrap(),
        crate::common::scenario::kubeadm_bytes()
    );
    let tagged = skopeo_inspect_raw(&format!("{host}/kube-apiserver:v1.30.2"));
    assert_eq!(sha256_digest(&tagged), s.images[0].index_digest);
    assert_eq!(enclave.snapshot(), held);
    log_checks(&dest);
}
