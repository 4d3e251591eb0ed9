//! One function per parser of untrusted input. Each must return (never panic, never
//! hang, never allocate without bound) whatever the bytes; `src/bin/*.rs` runs them under
//! AFL++, and the tests below run them over seeds and generated inputs in CI.

use std::sync::OnceLock;

use airlock_verify::digest::Sha256Digest;
use airlock_verify::layout::PayloadPath;
use airlock_verify::manifest::BundleManifest;

/// A fuzz target: any bytes in, never a panic.
pub type Target = fn(&[u8]);

/// The targets, by name.
pub const TARGETS: &[(&str, Target)] = &[
    ("bundle_manifest", bundle_manifest),
    ("payload", payload),
    ("minisign", minisign),
    ("trust_policy", trust_policy),
    ("lock", lock),
    ("oci_manifest", oci_manifest),
    ("trusted_comment", trusted_comment),
    ("cluster_dump", cluster_dump),
    ("cve_feed", cve_feed),
    ("timestamps", timestamps),
    ("deb_metadata", deb_metadata),
    ("rpm_metadata", rpm_metadata),
    ("openpgp", openpgp),
    ("release_files", release_files),
    ("inventory", inventory),
    ("volume_names", volume_names),
    ("hop_manifest", hop_manifest),
    ("kube_manifest", kube_manifest),
    ("helm_chart", helm_chart),
    ("kube_version", kube_version),
    ("chart_index", chart_index),
    ("helm_release", helm_release),
    ("metrics_scrape", metrics_scrape),
    ("etcd_manifest", etcd_manifest),
    ("simple_signing_payload", simple_signing_payload),
    ("sigstore_bundle", sigstore_bundle),
    ("rekor_entry", rekor_entry),
    ("trusted_root", trusted_root),
    ("pkcs11_uri", pkcs11_uri),
    ("rfc3161", rfc3161),
];

/// cosign's simple-signing payload (the blob of a `.sig` tag layer).
pub fn simple_signing_payload(data: &[u8]) {
    let _ = airlock_provenance::simple_signing::check("fuzz", data, SEED_DIGEST);
}

/// A Sigstore bundle, through the whole check against the seed trusted root (parsing and
/// every structural check run before the first key is needed).
pub fn sigstore_bundle(data: &[u8]) {
    static ROOT: OnceLock<Option<airlock_provenance::TrustedRoot>> = OnceLock::new();
    let Some(root) =
        ROOT.get_or_init(|| airlock_provenance::TrustedRoot::from_json(SEED_TRUSTED_ROOT).ok())
    else {
        return;
    };
    let who = &airlock_provenance::KUBERNETES_IMAGES;
    for artifact in [
        airlock_provenance::Artifact::Blob {
            name: "fuzz",
            sha256: [0; 32],
        },
        airlock_provenance::Artifact::Image {
            name: "fuzz",
            digest: SEED_DIGEST,
            payload: Some(b"{}"),
        },
        airlock_provenance::Artifact::Image {
            name: "fuzz",
            digest: SEED_DIGEST,
            payload: None,
        },
    ] {
        let _ = airlock_provenance::check_artifact(data, &artifact, who, root);
    }
}

/// A Rekor API entry response, and the bundle converters that consume it.
pub fn rekor_entry(data: &[u8]) {
    if let Ok(entry) = airlock_provenance::parse_rekor_entry("fuzz", data) {
        let _ = airlock_provenance::bundle_from_blob_signature(
            "fuzz",
            b"AAAA",
            Some(SEED_CERT),
            &[0; 32],
            &entry,
        );
    }
}

/// A `trusted_root.json`.
pub fn trusted_root(data: &[u8]) {
    let _ = airlock_provenance::TrustedRoot::from_json(data);
}

const SEED_DIGEST: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
const SEED_CERT: &[u8] = b"-----BEGIN CERTIFICATE-----\nMAMCAQU=\n-----END CERTIFICATE-----\n";
/// A trusted root with one CA and one log (an empty one is refused as it is read), written
/// once by the test world (`airlock_provenance::testworld::World::trusted_root_json`):
/// its keys sign nothing the fuzzer sends, so every check still runs up to the first key.
const SEED_TRUSTED_ROOT: &[u8] = include_bytes!("trusted_root.json");

/// The signed manifest, parsed after its signature checked (a stolen key must still not
/// crash the verifier).
pub fn bundle_manifest(data: &[u8]) {
    let _ = BundleManifest::parse_verified(data);
}

/// A small real payload and the manifest that describes it, for the payload target.
pub fn seed_payload() -> &'static (Vec<u8>, BundleManifest) {
    static SEED: OnceLock<(Vec<u8>, BundleManifest)> = OnceLock::new();
    SEED.get_or_init(|| {
        let blob: Vec<u8> = (0..3000u32).map(|i| (i % 7) as u8).collect();
        let script = b"#!/bin/sh\necho kubeadm\n".to_vec();
        airlock_verify::testdata::payload(&[
            (
                PayloadPath::OciLayout,
                br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
                3,
            ),
            (PayloadPath::Blob(Sha256Digest::of(&blob)), blob, -1),
            (PayloadPath::File(Sha256Digest::of(&script)), script, 3),
        ])
    })
}

/// The payload stream (zstd, tar, every check of the walk) as a transport attacker
/// shapes it: the manifest is the seed's, the payload file is the input (its size and
/// sha256 made to match, so the walk goes past the file checks).
pub fn payload(data: &[u8]) {
    let (_, seed) = seed_payload();
    let Ok(dir) = tempfile::tempdir() else { return };
    if std::fs::write(dir.path().join("payload.tar.zst"), data).is_err() {
        return;
    }
    let mut m = seed.clone();
    m.payload.size = data.len() as u64;
    m.payload.sha256 = Sha256Digest::of(data);
    // Both ways of checking the file: the structure digest (new bundles) and the whole
    // file's sha256 (bundles written before it).
    m.payload.structure_sha256 = data
        .first()
        .is_none_or(|b| b & 1 == 0)
        .then(|| airlock_verify::structure::of(data));
    let _ = airlock_verify::verify::fuzz_walk(dir.path(), m);
}

/// Signature and public-key files.
pub fn minisign(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = airlock_verify::trust::PublicKey::from_minisign(text);
        // A fixed key: the signature parser runs before any key comparison.
        static KEY: OnceLock<Option<airlock_verify::sign::SecretKey>> = OnceLock::new();
        if let Some(key) = KEY.get_or_init(|| airlock_verify::sign::SecretKey::generate().ok()) {
            let _ = airlock_verify::trust::verify(&[key.public_key()], b"data", text);
        }
    }
}

/// The enclave's trust policy.
pub fn trust_policy(data: &[u8]) {
    let _ = airlock_verify::trust::policy::TrustPolicy::parse(data, "fuzz");
}

/// Lock files.
pub fn lock(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = airlock::lock::Lock::parse(text, "fuzz");
    }
}

/// Image manifests and indexes from registries.
pub fn oci_manifest(data: &[u8]) {
    let _ = airlock_verify::oci::ManifestDoc::parse(data, "fuzz", None);
}

/// Trusted comments of signatures.
pub fn trusted_comment(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = airlock_verify::trust::comment::parse(text);
    }
}

/// Cluster dumps (`kubectl -o json`) for the report and preflight.
pub fn cluster_dump(data: &[u8]) {
    let mut d = airlock_verify::cluster::Dump::default();
    if d.add_json(data, "fuzz").is_ok() {
        let _ = d.removed_in_use(&[]);
    }
    // The streaming path preflight and the report use.
    let mut d = airlock_verify::cluster::Dump::default();
    let _ = d.add_json_reader(data, "fuzz");
}

/// A Helm release as stored in its Secret (gzip of JSON, bounded), and the manifest
/// scanner over the same bytes as text.
pub fn helm_release(data: &[u8]) {
    let _ = airlock_verify::cluster::helm::decode_release(data, "fuzz");
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = airlock_verify::cluster::helm::decode_secret_value(text, "fuzz");
        let _ = airlock_verify::cluster::helm::manifest_objects(text);
    }
}

/// A saved `/metrics` scrape of the API server.
pub fn metrics_scrape(data: &[u8]) {
    let mut d = airlock_verify::cluster::Dump::default();
    if d.add_metrics_reader(data, "fuzz").is_ok() {
        let _ = d.removed_in_use(&[airlock_verify::cluster::RemovedApi {
            group_version: "batch/v1beta1".into(),
            kinds: vec!["CronJob".into()],
            replacement: None,
            removed_in: "1.25".into(),
        }]);
    }
}

/// A release as Helm stores it: the gzip of its JSON.
fn seed_helm_release() -> Vec<u8> {
    use std::io::Write;
    let json = br#"{"name":"a","namespace":"n","version":1,"manifest":"---\napiVersion: batch/v1beta1\nkind: CronJob\nmetadata:\n  name: j\n"}"#;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = gz.write_all(json);
    gz.finish().unwrap_or_default()
}

/// An etcd static pod manifest or pod list (`airlock resolve --etcd-manifest`).
pub fn etcd_manifest(data: &[u8]) {
    let _ = airlock::etcd::members_of(data, "fuzz");
}

/// The Kubernetes CVE feed.
pub fn cve_feed(data: &[u8]) {
    let _ = airlock::report::cve::evaluate(data, "fuzz", (29, 6), (30, 2));
}

/// Times and windows from manifests and the command line.
pub fn timestamps(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = airlock_verify::time::Timestamp::parse(text, false);
        let _ = airlock_verify::time::parse_window(text);
        let _ = airlock_verify::time::parse_duration(text);
    }
}

/// The bytes the RFC 3161 seed stamps (a stand-in for a `.minisig`).
pub const STAMPED: &[u8] = b"untrusted comment: signature from airlock\n";

/// RFC 3161 timestamp responses (`signatures/*.tsr`), through the enclave's check
/// (`verify_timestamp`, no TSA pinned) and the connected side's (`check_response`, which
/// follows the token's own chain and verifies every signature on the way).
pub fn rfc3161(data: &[u8]) {
    use airlock_verify::trust::timestamp::{check_response, verify_timestamp};
    let _ = verify_timestamp(data, STAMPED, &[]);
    let _ = check_response(data, STAMPED, 0x0123_4567_89ab_cdef, &[]);
}

/// A real response over [`STAMPED`] from OpenSSL's TSA (`openssl ts -reply`, made in a
/// temporary folder); none when `openssl` is missing.
pub fn seed_rfc3161() -> Option<Vec<u8>> {
    use std::process::Command;
    let dir = tempfile::tempdir().ok()?;
    let d = dir.path();
    let run = |args: &[&str]| {
        Command::new("openssl")
            .args(args)
            .current_dir(d)
            .output()
            .ok()
            .filter(|o| o.status.success())
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "tsa.key",
        "-out",
        "tsa.pem",
        "-days",
        "30",
        "-subj",
        "/CN=fuzz TSA",
        "-addext",
        "extendedKeyUsage=critical,timeStamping",
    ])?;
    std::fs::write(d.join("serial"), "01\n").ok()?;
    std::fs::write(
        d.join("tsa.cnf"),
        "[tsa]\ndefault_tsa = t\n[t]\nserial = ./serial\nsigner_cert = ./tsa.pem\n\
         signer_key = ./tsa.key\nsigner_digest = sha256\ndefault_policy = 1.2.3.4\n\
         digests = sha256\naccuracy = secs:1\ness_cert_id_alg = sha256\n",
    )
    .ok()?;
    let query =
        airlock_verify::trust::timestamp::request_der(STAMPED, 0x0123_4567_89ab_cdef).ok()?;
    std::fs::write(d.join("q.tsq"), query).ok()?;
    run(&[
        "ts",
        "-reply",
        "-config",
        "tsa.cnf",
        "-queryfile",
        "q.tsq",
        "-out",
        "r.tsr",
    ])?;
    std::fs::read(d.join("r.tsr")).ok()
}

/// Debian repository metadata as a mirror serves it (before and after its signature is
/// checked): deb822 paragraphs, the Release hash list, Packages entries, Depends.
pub fn deb_metadata(data: &[u8]) {
    use airlock::packages::{deb, deb822};
    let mut r = deb822::Reader::new(std::io::Cursor::new(data));
    for _ in 0..64 {
        match r.next_paragraph() {
            Ok(Some(p)) => {
                let _ = deb::sha256_entries(&p);
                let _ = deb::listed(&p);
                if let Some(d) = p.get("Depends") {
                    let _ = deb::parse_depends(d);
                }
            }
            _ => break,
        }
    }
}

/// rpm repository metadata: repomd.xml and the streamed primary.xml.
pub fn rpm_metadata(data: &[u8]) {
    let _ = airlock::packages::rpm::parse_repomd(data);
    let _ = airlock::packages::rpm::parse_primary(std::io::Cursor::new(data));
}

/// OpenPGP keys and signatures (armored or binary), as `--package-key` and a mirror give them.
pub fn openpgp(data: &[u8]) {
    use airlock::packages::openpgp::RepoKey;
    let _ = RepoKey::parse(data, "fuzz");
    if let Ok(text) = std::str::from_utf8(data)
        && let Some(key) = fixed_pgp_key()
    {
        let _ = key.verify_cleartext(text, "fuzz");
    }
    if let Some(key) = fixed_pgp_key() {
        let _ = key.verify_detached(data, b"data", "fuzz");
    }
}

/// An Ed25519 OpenPGP public key made for the fuzz targets (gpg --quick-gen-key).
const TEST_PGP_KEY: &str = r"-----BEGIN PGP PUBLIC KEY BLOCK-----

mDMEawc+YhYJKwYBBAHaRw8BAQdACrisVjP90gHiolTDgg73M2M0NdwwCG8woCVG
RsG9HOu0I2FpcmxvY2sgZnV6eiA8ZnV6ekBleGFtcGxlLmludmFsaWQ+iJAEExYI
ADgWIQS630fmf5E7tAnS74wTBWCWyd9WfQUCawc+YgIbAwULCQgHAgYVCgkICwIE
FgIDAQIeAQIXgAAKCRATBWCWyd9WfQoEAP0UT7SE/E0PlAL605/p17Is8EAInwFN
baUc+3hVm4nP7AEAhaV8Q8D/nNQ4zjnXLeh8VnqXhzaQxHMQjDjPa8CbcgI=
=NI+k
-----END PGP PUBLIC KEY BLOCK-----
";

/// A key to check signatures against: the signature parser runs whatever the key.
fn fixed_pgp_key() -> Option<&'static airlock::packages::openpgp::RepoKey> {
    static KEY: OnceLock<Option<airlock::packages::openpgp::RepoKey>> = OnceLock::new();
    KEY.get_or_init(|| {
        airlock::packages::openpgp::RepoKey::parse(TEST_PGP_KEY.as_bytes(), "fuzz").ok()
    })
    .as_ref()
}

/// Upstream release files the catalog is derived from: kubeadm's constants.go,
/// build/dependencies.yaml, discovery documents, stable markers, the website's schedule.
pub fn release_files(data: &[u8]) {
    use airlock::catalog::sources::{constants_go, dependencies, discovery, stable, website};
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(c) = constants_go::parse(text, 36) {
        let _ = constants_go::select_etcd(&c, 36);
    }
    let _ = dependencies::parse(text);
    let _ = discovery::parse_api_versions(text);
    let _ = discovery::parse_resource_list(text);
    let _ = discovery::parse_group_list(text);
    let _ = stable::parse(text, 36);
    let _ = website::parse_schedule(text);
    if let Ok(rows) = website::parse_eol(text) {
        let _ = website::ended(&rows, 36);
    }
}

/// An enclave inventory (`airlock build --have`): the signature check against a fixed
/// key, and the JSON body parser on its own (a stolen enclave key must still not crash
/// the connected side).
pub fn inventory(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        static KEY: OnceLock<Option<airlock_verify::sign::SecretKey>> = OnceLock::new();
        if let Some(key) = KEY.get_or_init(|| airlock_verify::sign::SecretKey::generate().ok()) {
            let _ = airlock_verify::inventory::Inventory::parse(text, &key.public_key(), "fuzz");
        }
        let first = text.lines().next().unwrap_or("");
        let _ = airlock_verify::inventory::InventoryBody::parse(first);
    }
}

/// Volume file names (from a fetched artifact's titles) and `--volume-size` strings.
pub fn volume_names(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = airlock_verify::layout::BundleFile::parse(text);
        let _ = airlock_verify::layout::VolumeName::parse(text);
        let _ = text.parse::<airlock_verify::media::size::VolumeSize>();
    }
}

/// Hop manifests (`--with FILE`): the add-on's schema, charts and compat block.
pub fn hop_manifest(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(m) = airlock::hop_manifest::HopManifest::parse(text, "fuzz")
    {
        for c in &m.charts {
            let _ = c.source();
        }
    }
}

/// Kubernetes manifests of add-ons (multi-document YAML): images, APIs, CRD kinds.
pub fn kube_manifest(data: &[u8]) {
    let _ = airlock::addon::kube::scan(data, "fuzz");
}

/// Helm chart archives (gzip, tar, Chart.yaml, values.yaml, nested archives).
pub fn helm_chart(data: &[u8]) {
    let _ = airlock::addon::chart::read_chart(data, "fuzz");
}

/// Helm `kubeVersion` constraints and versions.
pub fn kube_version(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let (c, v) = text.split_once('\n').unwrap_or((text, "1.30.2"));
        if let (Ok(c), Ok(v)) = (
            airlock::addon::constraint::Constraints::parse(c),
            airlock::addon::constraint::SemVer::parse(v),
        ) {
            let _ = c.check(&v);
        }
    }
}

/// Chart repository indexes (`index.yaml`).
pub fn chart_index(data: &[u8]) {
    let _ = airlock::addon::repo_index::lookup(data, "ingress-nginx", "4.11.2");
}

/// `--key pkcs11:...` URIs (RFC 7512): what parses names a key and never carries a PIN.
pub fn pkcs11_uri(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match airlock_verify::sign::Pkcs11Uri::parse(text) {
        Ok(uri) => {
            assert!(uri.object.is_some() || uri.id.is_some(), "{uri}");
            assert!(
                uri.module_path.as_ref().is_none_or(|p| p.is_absolute()),
                "{uri}"
            );
        }
        Err(e) => {
            // A refused pin-value is never echoed (checked where its text is unique, so
            // the same characters elsewhere in the URI may show).
            let shown = e.to_string();
            let query = text.split_once('?').map_or("", |(_, q)| q);
            for pair in query.split('&') {
                let is_pin = pair
                    .split_once('=')
                    .is_some_and(|(n, v)| n.eq_ignore_ascii_case("pin-value") && !v.is_empty());
                if is_pin && text.matches(pair).count() == 1 {
                    assert!(!shown.contains(pair), "{shown}");
                }
            }
        }
    }
}

/// A small chart archive for the `helm_chart` seeds.
fn seed_chart() -> Vec<u8> {
    use std::io::Write;
    let files: [(&str, &[u8]); 3] = [
        (
            "web/Chart.yaml",
            b"apiVersion: v2\nname: web\nversion: 1.0.0\nkubeVersion: \">=1.21.0-0\"\nannotations:\n  artifacthub.io/images: |\n    - name: web\n      image: nginx:1.27\n",
        ),
        (
            "web/values.yaml",
            b"image:\n  registry: docker.io\n  repository: library/nginx\n  tag: \"1.27\"\n",
        ),
        ("web/templates/deployment.yaml", b"kind: Deployment\n"),
    ];
    let mut b = tar::Builder::new(Vec::new());
    for (path, content) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        h.set_path(path).expect("path");
        h.set_cksum();
        b.append(&h, content).expect("append");
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&b.into_inner().expect("tar")).expect("gzip");
    gz.finish().expect("gzip")
}

/// Starting inputs for a target: one valid example of what it parses (AFL++ mutates
/// from there; `write_seeds` puts them on disk, the tests below mutate them in CI).
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    let one = |s: &[u8]| vec![s.to_vec()];
    match target {
        "payload" => vec![seed_payload().0.clone()],
        "bundle_manifest" => vec![seed_payload().1.to_bytes()],
        "oci_manifest" => one(
            br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":2,"platform":{"architecture":"amd64","os":"linux"}}]}"#,
        ),
        "trusted_comment" => one(b"airlock-approval role=change-board signer=\"A\" payload_sha256=00"),
        "minisign" => one(
            b"untrusted comment: signature\nRURBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQQ==\ntrusted comment: airlock-approval role=release signer=\"A\"\nQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQQ==\n",
        ),
        "trust_policy" => one(
            br#"{"format":1,"kind":"airlock-trust-policy","version":1,"keys":[],"rules":[],"update":{"at_least":1}}"#,
        ),
        "lock" => one(b"format: 1\nkind: airlock-lock\nimages: []\nfiles: []\n"),
        "cluster_dump" => one(
            br#"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"batch/v1beta1","kind":"CronJob","metadata":{"name":"x"}}]}"#,
        ),
        "cve_feed" => one(
            br#"{"version":"https://jsonfeed.org/version/1.1","items":[{"id":"CVE-1","content_text":"Fixed Versions v1.30.2"}]}"#,
        ),
        "timestamps" => one(b"2026-12-05T22:00Z/72h"),
        "pkcs11_uri" => vec![
            b"pkcs11:token=airlock%20test;serial=0a1b;object=build;id=%01%ff;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin".to_vec(),
            b"pkcs11:object=k?pin-value=1234&pin-value=5678".to_vec(),
        ],
        "rfc3161" => seed_rfc3161().into_iter().collect(),
        "deb_metadata" => one(
            b"Origin: obs://build.opensuse.org/isv:kubernetes:core:stable:v1.36/deb\nSHA256:\n 0000000000000000000000000000000000000000000000000000000000000000 12 Packages\n\nPackage: kubeadm\nVersion: 1.36.4-1.1\nArchitecture: amd64\nDepends: cri-tools (>= 1.30.0), kubernetes-cni (>= 1.2.0) | foo\nFilename: amd64/kubeadm_1.36.4-1.1_amd64.deb\nSize: 10\nSHA256: 0000000000000000000000000000000000000000000000000000000000000000\n",
        ),
        "rpm_metadata" => one(
            br#"<?xml version="1.0"?><repomd xmlns="http://linux.duke.edu/metadata/repo"><data type="primary"><checksum type="sha256">0000000000000000000000000000000000000000000000000000000000000000</checksum><location href="repodata/p.xml.gz"/><size>1</size></data></repomd>"#,
        ),
        "openpgp" => one(TEST_PGP_KEY.as_bytes()),
        "release_files" => one(
            b"const (\n\tDefaultEtcdVersion = \"3.6.4-0\"\n)\nvar SupportedEtcdVersion = map[uint8]string{\n\t35: \"3.6.4-0\",\n\t36: \"3.6.4-0\",\n}\n",
        ),
        "inventory" => one(
            b"{\"format\":1,\"kind\":\"airlock-inventory\",\"enclave_key\":\"ABCD\",\"registry\":\"r:5000\",\"blobs\":[\"sha256:0000000000000000000000000000000000000000000000000000000000000000\"],\"files\":[]}\nuntrusted comment: x\nRURB\ntrusted comment: airlock-inventory\nQUFB\n",
        ),
        "volume_names" => vec![b"payload.tar.zst.001".to_vec(), b"payload.parity.012".to_vec(), b"4700MB".to_vec()],
        "hop_manifest" => one(
            b"format: 1\nkind: airlock-hop-manifest\nname: calico\ncompat: {min: \"1.27\", max: \"1.30\", source: https://docs.tigera.io/x}\ncharts:\n  - oci: oci://ghcr.io/x/charts/web:1.0.0\n    digest: sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n  - repo: https://charts.example.com\n    chart: web\n    version: 1.0.0\n    sha256: ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n",
        ),
        "kube_manifest" => one(
            b"apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: n, namespace: kube-system}\nspec:\n  template:\n    spec:\n      initContainers: [{name: i, image: docker.io/calico/cni:v3.28.1}]\n      containers: [{name: c, image: calico/node:v3.28.1}]\n---\napiVersion: v1\nkind: List\nitems: [{apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {containers: [{name: x, image: busybox}]}}]\n",
        ),
        "helm_chart" => vec![seed_chart()],
        "helm_release" => vec![seed_helm_release()],
        "etcd_manifest" => one(
            b"apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: etcd\n    command: [etcd, --name=cp1, --initial-advertise-peer-urls=https://10.0.0.1:2380, --data-dir=/var/lib/etcd]\n",
        ),
        "metrics_scrape" => one(
            b"# TYPE apiserver_requested_deprecated_apis gauge\napiserver_requested_deprecated_apis{group=\"batch\",removed_release=\"1.25\",resource=\"cronjobs\",subresource=\"\",version=\"v1beta1\"} 1\n",
        ),
        "kube_version" => one(b">= 1.21.0-0 < 1.32.0-0 || ~1.33.x || ^1.2 || 1.2 - 1.4.5\nv1.30.2"),
        "chart_index" => one(
            b"apiVersion: v1\nentries:\n  ingress-nginx:\n  - name: ingress-nginx\n    version: 4.11.2\n    digest: ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n    urls: [ingress-nginx-4.11.2.tgz]\n",
        ),
        "simple_signing_payload" => one(
            br#"{"critical":{"identity":{"docker-reference":"registry.k8s.io/kube-apiserver"},"image":{"docker-manifest-digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000"},"type":"cosign container image signature"},"optional":null}"#,
        ),
        "sigstore_bundle" => one(
            br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"certificate":{"rawBytes":"MAMCAQU="},"tlogEntries":[{"logIndex":"5","logId":{"keyId":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},"kindVersion":{"kind":"hashedrekord","version":"0.0.1"},"integratedTime":"1700000000","inclusionPromise":{"signedEntryTimestamp":"MAMCAQU="},"inclusionProof":{"logIndex":"5","rootHash":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","treeSize":"8","hashes":["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="],"checkpoint":{"envelope":"rekor - 1\n8\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\u2014 rekor AAAAAAAA\n"}},"canonicalizedBody":"e30="}]},"messageSignature":{"messageDigest":{"algorithm":"SHA2_256","digest":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},"signature":"MAMCAQU="}}"#,
        ),
        "rekor_entry" => one(
            br#"{"24296fb24b8ad77a":{"body":"eyJhcGlWZXJzaW9uIjoiMC4wLjEiLCJraW5kIjoiaGFzaGVkcmVrb3JkIn0=","integratedTime":1700000000,"logID":"00","logIndex":5,"verification":{"signedEntryTimestamp":"MAMCAQU=","inclusionProof":{"checkpoint":"rekor - 1\n8\nAAAA\n","hashes":["00"],"logIndex":5,"rootHash":"00","treeSize":8}}}}"#,
        ),
        "trusted_root" => vec![SEED_TRUSTED_ROOT.to_vec()],
        _ => Vec::new(),
    }
}

/// Run `f` under AFL++ when built with the `afl` feature; otherwise over the files named
/// on the command line (to replay a crash or a corpus).
#[macro_export]
macro_rules! main {
    ($f:path) => {
        #[cfg(feature = "afl")]
        fn main() {
            afl::fuzz!(|data: &[u8]| $f(data));
        }
        #[cfg(not(feature = "afl"))]
        fn main() {
            for p in std::env::args().skip(1) {
                let data = std::fs::read(&p).expect("read an input file");
                $f(&data);
                println!("{p}: ok");
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    use airlock_verify::testdata::noise;

    #[test]
    fn the_fixed_openpgp_key_parses() {
        assert!(fixed_pgp_key().is_some());
    }

    #[test]
    fn the_sigstore_seeds_reach_past_the_parsers() {
        // Otherwise the targets would only ever exercise the first refusal.
        let root = airlock_provenance::TrustedRoot::from_json(SEED_TRUSTED_ROOT).unwrap();
        let blob = airlock_provenance::Artifact::Blob {
            name: "seed",
            sha256: [0; 32],
        };
        let bundle = &seeds("sigstore_bundle")[0];
        match airlock_provenance::check_artifact(
            bundle,
            &blob,
            &airlock_provenance::KUBERNETES_IMAGES,
            &root,
        ) {
            Err(airlock_provenance::ProvenanceError::Malformed {
                what: "Sigstore bundle",
                detail,
                ..
            }) => {
                panic!("the bundle seed does not parse: {detail}")
            }
            Ok(_) => panic!("the seed trusted root accepted a bundle nobody signed"),
            Err(_) => {}
        }
        assert!(airlock_provenance::parse_rekor_entry("seed", &seeds("rekor_entry")[0]).is_ok());
        assert!(
            airlock_provenance::simple_signing::check(
                "seed",
                &seeds("simple_signing_payload")[0],
                SEED_DIGEST
            )
            .is_ok()
        );
    }

    #[test]
    fn the_seed_payload_verifies() {
        let (bytes, m) = seed_payload();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("payload.tar.zst"), bytes).unwrap();
        airlock_verify::verify::fuzz_walk(dir.path(), m.clone()).unwrap();
    }

    #[test]
    fn the_rfc3161_seed_passes_the_connected_side_check() {
        let token = seed_rfc3161().expect("openssl makes the seed");
        let check = airlock_verify::trust::timestamp::check_response;
        check(&token, STAMPED, 0x0123_4567_89ab_cdef, &[]).expect("seed is a valid token");
    }

    #[test]
    fn every_target_survives_mutations_of_its_seeds() {
        let seeds: Vec<Vec<u8>> = TARGETS.iter().flat_map(|(n, _)| seeds(n)).collect();
        for (name, target) in TARGETS {
            for (i, seed) in seeds.iter().enumerate() {
                target(seed);
                for round in 0..40u64 {
                    let mut m = seed.clone();
                    let r = noise(round * 31 + i as u64, 8);
                    match round % 4 {
                        0 if !m.is_empty() => {
                            let at = r[0] as usize * 251 % m.len();
                            m[at] ^= r[1] | 1;
                        }
                        1 => m.truncate(r[2] as usize * m.len() / 256),
                        2 => m.extend(noise(round, r[3] as usize)),
                        _ => m = noise(round + 1000, r[4] as usize * 4),
                    }
                    target(&m);
                }
            }
            let _ = name;
        }
    }
}
