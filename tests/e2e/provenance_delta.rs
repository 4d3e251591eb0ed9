//! A delta bundle carries the evidence of what it carries (issue 23): two hops resolved
//! with `--trusted-root` (v1.29.6 and v1.29.3 to v1.30.2, sharing the target's images and
//! binaries), the second built `--since` the first. The delta leaves the shared blobs and
//! files out of its payload but still lists every image and file, so its provenance
//! section must name each Kubernetes one once, its `provenance/` directory must hold
//! exactly the files that section lists (`sha256sum -c` agrees), and `airlock-verify
//! provenance` must pass on it offline.

use std::collections::BTreeSet;
use std::process::Command;

use crate::common::cli::{Cli, ok, pub_of};
use crate::common::provenance::Signing;
use crate::common::upstream::{Opts, Upstream};
use crate::provenance::sign_all;

/// `airlock resolve --from FROM --to v1.30.2 --out LOCK --trusted-root ... --rekor-url ...`.
fn resolve(u: &Upstream, s: &Signing, rekor: &str, from: &str, lock: &str) {
    let mut args: Vec<String> = ["resolve", "--from", from, "--to", "v1.30.2", "--out"]
        .iter()
        .map(|a| a.to_string())
        .collect();
    args.push(u.path(lock).display().to_string());
    args.push("--catalog".into());
    args.push(u.path("catalog.yaml").display().to_string());
    args.extend(u.net_args());
    args.extend([
        "--trusted-root".into(),
        s.trusted_root().display().to_string(),
        "--rekor-url".into(),
        rekor.to_owned(),
    ]);
    ok(&u.airlock(&args).output().expect("run airlock resolve"));
}

/// The Kubernetes artifacts of a manifest: registry.k8s.io images by reference and
/// dl.k8s.io files by URL.
fn kubernetes_artifacts(m: &serde_json::Value) -> BTreeSet<String> {
    let images = m["images"].as_array().unwrap().iter().filter_map(|i| {
        let name = i["name"].as_str()?;
        name.starts_with("registry.k8s.io/")
            .then(|| name.to_owned())
    });
    let files = m["files"].as_array().unwrap().iter().filter_map(|f| {
        let src = f["source"].as_str()?;
        src.starts_with("https://dl.k8s.io/")
            .then(|| src.to_owned())
    });
    images.chain(files).collect()
}

#[test]
fn a_delta_bundle_carries_the_evidence_of_what_it_carries_and_rechecks() {
    let u = Upstream::new(Opts {
        versions: vec!["v1.29.3"],
        ..Default::default()
    });
    assert!(u.path("catalog.yaml").is_file(), "the fixture's catalog");
    let mut s = Signing::new();
    sign_all(&mut s, &u, &[]);
    let rekor = s.rekor();
    resolve(&u, &s, &rekor.url, "v1.29.6", "hop1.lock");
    resolve(&u, &s, &rekor.url, "v1.29.3", "hop2.lock");
    let key = u.keygen("k");
    ok(&u.build("hop1.lock", "hop1", &[]).run().output);
    let base = u.path("hop1").display().to_string();
    ok(&u
        .build("hop2.lock", "hop2-delta", &["--since", &base])
        .run()
        .output);
    drop(rekor);

    let delta = u.path("hop2-delta");
    let m = crate::common::read_json(&delta.join("manifest.json"));
    assert!(
        !m["delta"]["omitted"].as_array().unwrap().is_empty(),
        "the delta leaves the shared content out"
    );
    // One evidence entry per Kubernetes artifact the delta lists, and none other.
    let listed: Vec<String> = m["provenance"]["artifacts"]
        .as_array()
        .expect("the delta has a provenance section")
        .iter()
        .map(|a| a["artifact"].as_str().unwrap().to_owned())
        .collect();
    let unique: BTreeSet<String> = listed.iter().cloned().collect();
    assert_eq!(unique.len(), listed.len(), "an artifact listed twice");
    assert_eq!(unique, kubernetes_artifacts(&m));
    assert!(unique.iter().any(|a| a.contains("v1.29.3")), "{unique:?}");
    assert!(unique.iter().any(|a| a.contains("v1.30.2")), "{unique:?}");

    // provenance/ holds exactly the files the signed manifest lists, with those sums.
    let mut wanted: BTreeSet<String> = BTreeSet::from(["trusted_root.json".to_owned()]);
    for a in m["provenance"]["artifacts"].as_array().unwrap() {
        let sig = &a["signature"];
        wanted.insert(format!(
            "{}.sigstore.json",
            sig["bundle"]["sha256"]
                .as_str()
                .expect("every artifact signed")
        ));
        if let Some(p) = sig["payload"]["sha256"].as_str() {
            wanted.insert(format!("{p}.payload.json"));
        }
    }
    let present: BTreeSet<String> = std::fs::read_dir(delta.join("provenance"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(present, wanted);
    let check = Command::new("sha256sum")
        .args(["-c", "--quiet", "SHA256SUMS"])
        .current_dir(&delta)
        .output()
        .expect("run sha256sum");
    assert!(check.status.success(), "{check:?}");

    // Verified and re-checked offline, one line per artifact, every one signed.
    let run = Cli::verify()
        .arg("provenance")
        .arg(&delta)
        .args(["--trust", &pub_of(&key), "--quiet"])
        .ok();
    let stdout = run.stdout();
    assert_eq!(stdout.lines().count(), listed.len(), "{stdout}");
    assert!(
        stdout.lines().all(|l| l.contains(": signed by ")),
        "{stdout}"
    );
}
