//! A Sigstore-shaped world for tests (feature `test-world`; never in a release build):
//! a Fulcio-like CA (P-384 root + intermediate) and a second CA the trusted root does not
//! know, leaf certificates with the Fulcio extensions and a real embedded SCT, a CT log
//! key, a Rekor log key, an in-memory RFC 6962 log giving entries, SETs, inclusion proofs
//! and signed checkpoints, and the `trusted_root.json` / `trust_config.json` that airlock
//! and sigstore-python read. Everything is made by `openssl` (3.0) in a temporary
//! directory per world; nothing comes from the internet. Being a fixture, it panics with
//! the failing command's output instead of returning errors.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Which key signs a piece of log or CT evidence: the one the trusted root names, or a
/// stranger's (for the "signed by an unknown key" cases).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signer {
    Trusted,
    Stranger,
}

/// What a leaf certificate says and who issues it.
#[derive(Debug, Clone)]
pub struct LeafSpec {
    pub san: String,
    pub issuer: String,
    /// Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    /// `Trusted`: the trusted root's CA; `Stranger`: a CA the root does not list.
    pub ca: Signer,
    /// Who signs the embedded SCT.
    pub ct_log: Signer,
}

/// A leaf certificate and its private key.
#[derive(Debug, Clone)]
pub struct Leaf {
    pub key: PathBuf,
    pub der: Vec<u8>,
    pub pem: String,
}

/// An entry as the log holds it.
#[derive(Debug, Clone)]
pub struct Logged {
    pub index: u64,
    pub body: Vec<u8>,
    pub integrated_time: i64,
    pub set: Vec<u8>,
}

/// One signature of a blob as dl.k8s.io publishes it, plus its entry from the log API.
#[derive(Debug, Clone)]
pub struct BlobSignature {
    /// `<file>.sig`: base64 of the DER signature.
    pub sig: Vec<u8>,
    /// `<file>.cert`: base64 of the PEM certificate (cosign's default).
    pub cert: Vec<u8>,
    pub logged: Logged,
}

/// One cosign `.sig` tag layer: its annotations and blob (the simple-signing payload).
#[derive(Debug, Clone)]
pub struct CosignLayer {
    pub annotations: BTreeMap<String, String>,
    pub payload: Vec<u8>,
    pub logged: Logged,
}

struct Ca {
    cert: PathBuf,
    key: PathBuf,
    spki: Vec<u8>,
}

struct LogKey {
    key: PathBuf,
    spki: Vec<u8>,
}

impl LogKey {
    fn id(&self) -> [u8; 32] {
        Sha256::digest(&self.spki).into()
    }
}

/// The world; see the module docs.
pub struct World {
    dir: tempfile::TempDir,
    root_der: Vec<u8>,
    intermediate_der: Vec<u8>,
    ca: Ca,
    stranger_ca: Ca,
    ct: LogKey,
    rekor: LogKey,
    stranger_key: LogKey,
    serial: std::cell::Cell<u64>,
    leaves: Vec<[u8; 32]>,
    bodies: Vec<Vec<u8>>,
    logged: Vec<Logged>,
    /// When the world was made (unix seconds); the default leaf and log times hang off it.
    pub now: i64,
    /// The start of every `validFor` in the trusted root.
    pub valid_from: i64,
    /// The start of the CA's `validFor` (`valid_from` unless a test moves it).
    pub ca_valid_from: i64,
}

/// The origin line of the world's checkpoints (Rekor's form: `<host> - <tree id>`).
pub const ORIGIN: &str = "rekor.airlock.test - 1";

impl World {
    /// Makes the CAs and keys (about 20 `openssl` runs).
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory for the Sigstore world");
        let d = dir.path().to_owned();
        std::fs::create_dir_all(d.join("newcerts")).expect("newcerts directory");
        std::fs::write(
            d.join("ca.cnf"),
            CA_CONFIG.replace("@DIR@", &d.display().to_string()),
        )
        .expect("write ca.cnf");
        let now = jiff::Timestamp::now().as_second();
        let valid_from = now - 86_400;
        let mut world_serial = 1;
        let mut ca = |name: &str| {
            let root = make_ca(&d, &format!("{name}-root"), None, world_serial);
            let inter = make_ca(
                &d,
                &format!("{name}-intermediate"),
                Some(&root),
                world_serial + 1,
            );
            world_serial += 2;
            (root, inter)
        };
        let (root, ca_inter) = ca("fulcio");
        let (_stranger_root, stranger_ca) = ca("stranger");
        let world = Self {
            root_der: der_of_cert(&root.cert),
            intermediate_der: der_of_cert(&ca_inter.cert),
            ca: ca_inter,
            stranger_ca,
            ct: make_key(&d, "ct"),
            rekor: make_key(&d, "rekor"),
            stranger_key: make_key(&d, "stranger"),
            serial: std::cell::Cell::new(100),
            leaves: Vec::new(),
            bodies: Vec::new(),
            logged: Vec::new(),
            now,
            valid_from,
            ca_valid_from: valid_from,
            dir,
        };
        world.rewrite_trust_files();
        world
    }

    /// Writes `trusted_root.json` and `trust_config.json` again (after a test moved a
    /// window).
    pub fn rewrite_trust_files(&self) {
        self.write_file("trusted_root.json", &self.trusted_root_json());
        self.write_file("trust_config.json", &self.trust_config_json());
    }

    /// The world's directory (holds `trusted_root.json` and `trust_config.json`).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `bytes` to `name` in the world's directory and returns the path.
    pub fn write_file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    /// A leaf for `san`/`issuer`, valid from 5 minutes ago for 10 minutes, by the trusted CA.
    pub fn leaf_spec(&self, san: &str, issuer: &str) -> LeafSpec {
        LeafSpec {
            san: san.to_owned(),
            issuer: issuer.to_owned(),
            not_before: self.now - 300,
            not_after: self.now + 300,
            ca: Signer::Trusted,
            ct_log: Signer::Trusted,
        }
    }

    /// Issues a leaf in two passes (design §5 step 3): once without the SCT to get the
    /// TBS a CT log signs, then again with the same serial, dates and extensions plus the
    /// SCT list last, so the verifiers' rebuilt precertificate matches.
    pub fn issue_leaf(&self, spec: &LeafSpec) -> Leaf {
        let d = self.path();
        let serial = self.serial.get();
        self.serial.set(serial + 1);
        let name = format!("leaf-{serial}");
        let key = d.join(format!("{name}.key"));
        openssl(
            &[
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
            ],
            &[&key],
        )
        .run();
        let csr = d.join(format!("{name}.csr"));
        openssl(
            &["req", "-new", "-subj", "/CN=sigstore-leaf", "-key"],
            &[&key],
        )
        .args(["-out"])
        .arg(&csr)
        .run();
        let ca = match spec.ca {
            Signer::Trusted => &self.ca,
            Signer::Stranger => &self.stranger_ca,
        };
        let extensions = leaf_extensions(spec);
        let pre = self.sign_leaf(ca, &csr, spec, serial, &format!("{name}-pre"), &extensions);
        let sct = self.sct_list(&tbs_of(&pre), &ca.spki, spec);
        let ext = format!(
            "{extensions}1.3.6.1.4.1.11129.2.4.2 = DER:{}\n",
            hex::encode(der_octet_string(&sct))
        );
        let der = self.sign_leaf(ca, &csr, spec, serial, &name, &ext);
        let pem = std::fs::read_to_string(d.join(format!("{name}.pem"))).expect("leaf PEM");
        Leaf { key, der, pem }
    }

    fn sign_leaf(
        &self,
        ca: &Ca,
        csr: &Path,
        spec: &LeafSpec,
        serial: u64,
        name: &str,
        ext: &str,
    ) -> Vec<u8> {
        let d = self.path();
        let ext_file = d.join(format!("{name}.ext"));
        std::fs::write(&ext_file, format!("[leaf]\n{ext}")).expect("write leaf extensions");
        let out = d.join(format!("{name}.pem"));
        ca_sign(
            d,
            ca,
            csr,
            &out,
            "leaf",
            Some(&ext_file),
            serial,
            spec.not_before,
            spec.not_after,
        );
        der_of_cert(&out)
    }

    /// An RFC 6962 SCT list with one SCT over the precertificate entry (§3.2).
    fn sct_list(&self, tbs: &[u8], issuer_spki: &[u8], spec: &LeafSpec) -> Vec<u8> {
        let log = match spec.ct_log {
            Signer::Trusted => &self.ct,
            Signer::Stranger => &self.stranger_key,
        };
        let timestamp = (spec.not_before as u64) * 1000 + 500;
        let mut signed = vec![0u8, 0]; // v1, certificate_timestamp
        signed.extend_from_slice(&timestamp.to_be_bytes());
        signed.extend_from_slice(&1u16.to_be_bytes()); // precert_entry
        signed.extend_from_slice(&Sha256::digest(issuer_spki));
        signed.extend_from_slice(&(tbs.len() as u32).to_be_bytes()[1..]);
        signed.extend_from_slice(tbs);
        signed.extend_from_slice(&0u16.to_be_bytes()); // no extensions
        let sig = self.sign_with(&log.key, &signed);
        let mut sct = vec![0u8];
        sct.extend_from_slice(&self.ct.id()); // names the trusted log even when a stranger signs
        sct.extend_from_slice(&timestamp.to_be_bytes());
        sct.extend_from_slice(&0u16.to_be_bytes());
        sct.extend_from_slice(&[4, 3]); // sha256, ecdsa
        sct.extend_from_slice(&(sig.len() as u16).to_be_bytes());
        sct.extend_from_slice(&sig);
        let mut list = ((sct.len() + 2) as u16).to_be_bytes().to_vec();
        list.extend_from_slice(&(sct.len() as u16).to_be_bytes());
        list.extend_from_slice(&sct);
        list
    }

    /// A DER ECDSA signature by `leaf` over SHA-256 of `data` (what cosign signs).
    pub fn sign(&self, leaf: &Leaf, data: &[u8]) -> Vec<u8> {
        self.sign_with(&leaf.key, data)
    }

    fn sign_with(&self, key: &Path, data: &[u8]) -> Vec<u8> {
        let n = self.serial.get();
        self.serial.set(n + 1);
        let input = self.write_file(&format!("tbs-{n}.bin"), data);
        let out = self.path().join(format!("sig-{n}.der"));
        openssl(&["dgst", "-sha256", "-sign"], &[key])
            .args(["-out"])
            .arg(&out)
            .arg(&input)
            .run();
        std::fs::read(&out).expect("read signature")
    }

    /// Appends a `hashedrekord` 0.0.1 entry (`sha256` of the artifact, the signature, the
    /// PEM certificate or, for a keyed signature, PEM public key) integrated at `time`, with its SET signed by `set_signer`.
    pub fn log(
        &mut self,
        sha256: &[u8; 32],
        sig: &[u8],
        cert_pem: &str,
        time: i64,
        set_signer: Signer,
    ) -> Logged {
        let body = serde_json_canonicalizer::to_vec(&json!({
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": { "hash": { "algorithm": "sha256", "value": hex::encode(sha256) } },
                "signature": {
                    "content": B64.encode(sig),
                    "publicKey": { "content": B64.encode(cert_pem) },
                },
            },
        }))
        .expect("canonical body");
        self.append(body, time, set_signer)
    }

    /// Appends `body` integrated at `time`, with its SET (RFC 8785 JSON of body, time,
    /// log ID and index) signed by `set_signer`.
    pub fn append(&mut self, body: Vec<u8>, time: i64, set_signer: Signer) -> Logged {
        let index = self.bodies.len() as u64;
        self.leaves.push(leaf_hash(&body));
        self.bodies.push(body.clone());
        let promise = serde_json_canonicalizer::to_vec(&json!({
            "body": B64.encode(&body),
            "integratedTime": time,
            "logID": hex::encode(self.rekor.id()),
            "logIndex": index,
        }))
        .expect("canonical SET payload");
        let key = match set_signer {
            Signer::Trusted => self.rekor.key.clone(),
            Signer::Stranger => self.stranger_key.key.clone(),
        };
        let set = self.sign_with(&key, &promise);
        let logged = Logged {
            index,
            body,
            integrated_time: time,
            set,
        };
        self.logged.push(logged.clone());
        logged
    }

    /// A Rekor-like HTTP server on loopback answering for every entry logged so far
    /// (proofs against the tree as it is now); see [`RekorServer`].
    pub fn rekor_server(&self) -> RekorServer {
        self.rekor_server_tampered(|_| {})
    }

    /// As [`World::rekor_server`], with `tamper` applied to every entry's API object
    /// (`{body, integratedTime, logID, logIndex, verification}`) before it is served: a
    /// log, or a man in the middle, that lies about a proof or a checkpoint.
    pub fn rekor_server_tampered(&self, tamper: impl Fn(&mut Value)) -> RekorServer {
        let entries = self
            .logged
            .iter()
            .map(|l| {
                let uuid = hex::encode(leaf_hash(&l.body));
                let mut api: Value =
                    serde_json::from_slice(&self.rekor_api_entry(l)).expect("own API entry");
                tamper(&mut api[&uuid]);
                ServedEntry {
                    index: l.index,
                    uuid,
                    artifact_hash: hashedrekord_hash(&l.body),
                    api: serde_json::to_vec_pretty(&api).expect("API entry JSON"),
                }
            })
            .collect();
        RekorServer::start(entries)
    }

    /// Logs `n` unrelated entries, so proofs have more than one hash.
    pub fn log_filler(&mut self, n: usize) {
        for i in 0..n {
            let body = format!("{{\"filler\":{i}}}").into_bytes();
            self.leaves.push(leaf_hash(&body));
            self.bodies.push(body);
        }
    }

    /// The Rekor API response for `entry` (`GET /api/v1/log/entries?logIndex=`), with an
    /// inclusion proof against the current tree and a checkpoint signed by the log key.
    pub fn rekor_api_entry(&self, entry: &Logged) -> Vec<u8> {
        let size = self.leaves.len();
        let index = entry.index as usize;
        let root = mth(&self.leaves);
        let proof = path(index, &self.leaves);
        let id = self.rekor.id();
        let note = format!("{ORIGIN}\n{size}\n{}\n", B64.encode(root));
        let mut hinted = id[..4].to_vec();
        hinted.extend_from_slice(&self.sign_with(&self.rekor.key, note.as_bytes()));
        let checkpoint = format!(
            "{note}\n\u{2014} rekor.airlock.test {}\n",
            B64.encode(hinted)
        );
        let uuid = hex::encode(leaf_hash(&entry.body));
        serde_json::to_vec_pretty(&json!({ uuid: {
            "body": B64.encode(&entry.body),
            "integratedTime": entry.integrated_time,
            "logID": hex::encode(id),
            "logIndex": entry.index,
            "verification": {
                "signedEntryTimestamp": B64.encode(&entry.set),
                "inclusionProof": {
                    "checkpoint": checkpoint,
                    "hashes": proof.iter().map(hex::encode).collect::<Vec<_>>(),
                    "logIndex": entry.index,
                    "rootHash": hex::encode(root),
                    "treeSize": size,
                },
            },
        }}))
        .expect("API entry JSON")
    }

    /// Signs `blob` as `cosign sign-blob` does and logs it a minute ago.
    pub fn sign_blob(&mut self, leaf: &Leaf, blob: &[u8]) -> BlobSignature {
        let sig = self.sign(leaf, blob);
        let logged = self.log(
            &Sha256::digest(blob).into(),
            &sig,
            &leaf.pem,
            self.now - 60,
            Signer::Trusted,
        );
        BlobSignature {
            sig: B64.encode(&sig).into_bytes(),
            cert: B64.encode(&leaf.pem).into_bytes(),
            logged,
        }
    }

    /// Signs image `digest` as cosign does for a `.sig` tag layer (simple-signing payload
    /// naming `digest` and `reference`), logged a minute ago.
    pub fn sign_image(&mut self, leaf: &Leaf, digest: &str, reference: &str) -> CosignLayer {
        self.sign_image_by(&leaf.key, &leaf.pem, true, digest, reference)
    }

    /// Signs image `digest` as `cosign sign --key` does: the layer has no certificate
    /// annotation and the log body names the PEM public key `public_pem` of `key`.
    pub fn sign_image_with_key(
        &mut self,
        key: &Path,
        public_pem: &str,
        digest: &str,
        reference: &str,
    ) -> CosignLayer {
        self.sign_image_by(key, public_pem, false, digest, reference)
    }

    /// Signs `blob` as `cosign sign-blob --key` does and logs it a minute ago; returns
    /// the `.sig` file (base64 of the DER signature).
    pub fn sign_blob_with_key(&mut self, key: &Path, public_pem: &str, blob: &[u8]) -> Vec<u8> {
        let sig = self.sign_with(key, blob);
        self.log(
            &Sha256::digest(blob).into(),
            &sig,
            public_pem,
            self.now - 60,
            Signer::Trusted,
        );
        B64.encode(&sig).into_bytes()
    }

    fn sign_image_by(
        &mut self,
        key: &Path,
        verifier_pem: &str,
        with_certificate: bool,
        digest: &str,
        reference: &str,
    ) -> CosignLayer {
        let payload = serde_json::to_vec(&json!({
            "critical": {
                "identity": { "docker-reference": reference },
                "image": { "docker-manifest-digest": digest },
                "type": crate::simple_signing::COSIGN_TYPE,
            },
            "optional": null,
        }))
        .expect("payload JSON");
        let sig = self.sign_with(key, &payload);
        let logged = self.log(
            &Sha256::digest(&payload).into(),
            &sig,
            verifier_pem,
            self.now - 60,
            Signer::Trusted,
        );
        let promise = json!({
            "SignedEntryTimestamp": B64.encode(&logged.set),
            "Payload": {
                "body": B64.encode(&logged.body),
                "integratedTime": logged.integrated_time,
                "logIndex": logged.index,
                "logID": hex::encode(self.rekor.id()),
            },
        });
        let mut annotations = BTreeMap::from([
            (crate::SIGNATURE_ANNOTATION.to_owned(), B64.encode(&sig)),
            (crate::BUNDLE_ANNOTATION.to_owned(), promise.to_string()),
        ]);
        if with_certificate {
            annotations.insert(
                crate::CERTIFICATE_ANNOTATION.to_owned(),
                verifier_pem.to_owned(),
            );
        }
        CosignLayer {
            annotations,
            payload,
            logged,
        }
    }

    /// Signs image `digest` as cosign 3 does for an OCI referrer: a DSSE envelope over an
    /// in-toto Statement v1 with `predicate_type`, logged as `dsse` 0.0.1 a minute ago.
    /// Returns the whole Sigstore bundle (what the referrer's layer holds); call after
    /// any filler, as its proof is against the tree at this point.
    pub fn sign_image_dsse(&mut self, leaf: &Leaf, digest: &str, predicate_type: &str) -> Vec<u8> {
        const TYPE: &str = "application/vnd.in-toto+json";
        let hex_digest = digest.strip_prefix("sha256:").expect("a sha256: digest");
        let statement = serde_json::to_vec(&json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{ "name": "registry.k8s.io/kube-apiserver", "digest": { "sha256": hex_digest } }],
            "predicateType": predicate_type,
            "predicate": {},
        }))
        .expect("statement JSON");
        let mut pae = format!("DSSEv1 {} {TYPE} {} ", TYPE.len(), statement.len()).into_bytes();
        pae.extend_from_slice(&statement);
        let sig = self.sign(leaf, &pae);
        let envelope = json!({
            "payload": B64.encode(&statement),
            "payloadType": TYPE,
            "signatures": [{ "sig": B64.encode(&sig), "keyid": "" }],
        });
        let body = serde_json_canonicalizer::to_vec(&json!({
            "apiVersion": "0.0.1",
            "kind": "dsse",
            "spec": {
                "envelopeHash": { "algorithm": "sha256", "value": hex::encode(Sha256::digest(envelope.to_string())) },
                "payloadHash": { "algorithm": "sha256", "value": hex::encode(Sha256::digest(&statement)) },
                "signatures": [{ "signature": B64.encode(&sig), "verifier": B64.encode(&leaf.pem) }],
            },
        }))
        .expect("canonical body");
        let logged = self.append(body, self.now - 60, Signer::Trusted);
        let entry = crate::parse_rekor_entry("dsse", &self.rekor_api_entry(&logged))
            .expect("own API entry");
        let bundle = json!({
            "mediaType": crate::BUNDLE_V03,
            "verificationMaterial": {
                "certificate": { "rawBytes": B64.encode(&leaf.der) },
                "tlogEntries": [crate::convert::tlog_entry_json("dsse", &entry).expect("own entry")],
            },
            "dsseEnvelope": envelope,
        });
        serde_json::to_vec_pretty(&bundle).expect("bundle JSON")
    }

    /// `trusted_root.json` (TrustedRoot 0.1): the world's CA, Rekor key and CT key.
    pub fn trusted_root_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(&self.trusted_root()).expect("trusted root JSON")
    }

    fn trusted_root(&self) -> Value {
        let start = jiff::Timestamp::from_second(self.valid_from)
            .expect("valid time")
            .to_string();
        let log = |key: &LogKey, url: &str| {
            json!({
                "baseUrl": url,
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": B64.encode(&key.spki),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": { "start": start },
                },
                "logId": { "keyId": B64.encode(key.id()) },
            })
        };
        json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [log(&self.rekor, "https://rekor.airlock.test")],
            "certificateAuthorities": [{
                "subject": { "organization": "airlock test", "commonName": "fulcio-intermediate" },
                "uri": "https://fulcio.airlock.test",
                "certChain": { "certificates": [
                    { "rawBytes": B64.encode(&self.intermediate_der) },
                    { "rawBytes": B64.encode(&self.root_der) },
                ]},
                "validFor": { "start": jiff::Timestamp::from_second(self.ca_valid_from).expect("valid time").to_string() },
            }],
            "ctlogs": [log(&self.ct, "https://ctfe.airlock.test")],
            "timestampAuthorities": [],
        })
    }

    /// sigstore-python's `--trust-config` (ClientTrustConfig 0.1 with a SigningConfig
    /// 0.2; its URLs are never contacted with `--offline`).
    pub fn trust_config_json(&self) -> Vec<u8> {
        let start = jiff::Timestamp::from_second(self.valid_from)
            .expect("valid time")
            .to_string();
        let service = |url: &str| json!([{ "url": url, "majorApiVersion": 1, "validFor": { "start": start }, "operator": "airlock.test" }]);
        serde_json::to_vec_pretty(&json!({
            "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
            "trustedRoot": self.trusted_root(),
            "signingConfig": {
                "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
                "caUrls": service("https://fulcio.airlock.test"),
                "oidcUrls": service("https://oauth2.airlock.test/auth"),
                "rekorTlogUrls": service("https://rekor.airlock.test"),
                "tsaUrls": [],
                "rekorTlogConfig": { "selector": "ANY" },
                "tsaConfig": { "selector": "ANY" },
            },
        }))
        .expect("trust config JSON")
    }
}

impl Default for World {
    fn default() -> Self {
        Self::new()
    }
}

/// `spec.data.hash.value` of a hashedrekord body, for the index search.
fn hashedrekord_hash(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    v.pointer("/spec/data/hash/value")?
        .as_str()
        .map(|h| format!("sha256:{h}"))
}

struct ServedEntry {
    index: u64,
    uuid: String,
    artifact_hash: Option<String>,
    api: Vec<u8>,
}

/// A Rekor v1-like server (std threads, HTTP/1.1, one request per connection):
/// `GET /api/v1/log/entries?logIndex=N`, `GET /api/v1/log/entries/{uuid}` and
/// `POST /api/v1/index/retrieve` with `{"hash":"sha256:<hex>"}` (the lookups cosign
/// makes), answering as Rekor does; 404 for an unknown entry. Stops when dropped.
pub struct RekorServer {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RekorServer {
    fn start(entries: Vec<ServedEntry>) -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let entries = std::sync::Arc::new(entries);
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let entries = entries.clone();
                std::thread::spawn(move || serve_one(conn, &entries));
            }
        });
        Self {
            url,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for RekorServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = std::net::TcpStream::connect(self.url.trim_start_matches("http://"));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve_one(mut conn: std::net::TcpStream, entries: &[ServedEntry]) {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut reader = BufReader::new(match conn.try_clone() {
        Ok(c) => c,
        Err(_) => return,
    });
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length.min(1 << 20)];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let (status, reply) = answer(method, target, &body, entries);
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reply.len()
    );
    let _ = conn
        .write_all(head.as_bytes())
        .and_then(|()| conn.write_all(&reply));
}

fn answer(
    method: &str,
    target: &str,
    body: &[u8],
    entries: &[ServedEntry],
) -> (&'static str, Vec<u8>) {
    let not_found = (
        "404 Not Found",
        br#"{"code":404,"message":"entry not found"}"#.to_vec(),
    );
    let found = |e: Option<&ServedEntry>| {
        e.map_or_else(|| not_found.clone(), |e| ("200 OK", e.api.clone()))
    };
    match (method, target) {
        ("GET", t) if t.starts_with("/api/v1/log/entries?logIndex=") => {
            let index = t["/api/v1/log/entries?logIndex=".len()..]
                .parse::<u64>()
                .ok();
            found(entries.iter().find(|e| Some(e.index) == index))
        }
        ("GET", t) if t.starts_with("/api/v1/log/entries/") => {
            let uuid = &t["/api/v1/log/entries/".len()..];
            found(entries.iter().find(|e| e.uuid == uuid))
        }
        ("POST", "/api/v1/index/retrieve") => {
            let hash = serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v.get("hash").and_then(Value::as_str).map(str::to_owned));
            let uuids: Vec<&str> = entries
                .iter()
                .filter(|e| hash.is_some() && e.artifact_hash == hash)
                .map(|e| e.uuid.as_str())
                .collect();
            (
                "200 OK",
                serde_json::to_vec(&uuids).expect("uuid list JSON"),
            )
        }
        _ => not_found,
    }
}

const CA_CONFIG: &str = "\
[ca]
default_ca = world
[world]
dir = @DIR@
database = $dir/index.txt
new_certs_dir = $dir/newcerts
serial = $dir/serial
default_md = sha384
policy = anything
unique_subject = no
email_in_dn = no
copy_extensions = none
[anything]
organizationName = optional
commonName = optional
[req]
distinguished_name = dn
[dn]
[root]
basicConstraints = critical,CA:true
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[intermediate]
basicConstraints = critical,CA:true,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
";

/// The Fulcio leaf extensions in Fulcio's order, before the SCT (design §5 step 2).
fn leaf_extensions(spec: &LeafSpec) -> String {
    format!(
        "keyUsage = critical,digitalSignature\n\
         extendedKeyUsage = codeSigning\n\
         subjectAltName = email:{}\n\
         1.3.6.1.4.1.57264.1.1 = DER:{}\n\
         1.3.6.1.4.1.57264.1.8 = ASN1:UTF8String:{}\n",
        spec.san,
        hex::encode(spec.issuer.as_bytes()),
        spec.issuer,
    )
}

/// A P-384 CA, self-signed when `parent` is `None`, valid from two days ago for a year.
fn make_ca(d: &Path, name: &str, parent: Option<&Ca>, serial: u64) -> Ca {
    let key = d.join(format!("{name}.key"));
    openssl(
        &["ecparam", "-name", "secp384r1", "-genkey", "-noout", "-out"],
        &[&key],
    )
    .run();
    let csr = d.join(format!("{name}.csr"));
    openssl(
        &[
            "req",
            "-new",
            "-subj",
            &format!("/O=airlock test/CN={name}"),
            "-key",
        ],
        &[&key],
    )
    .args(["-out"])
    .arg(&csr)
    .run();
    let cert = d.join(format!("{name}.pem"));
    let now = jiff::Timestamp::now().as_second();
    let (start, end) = (now - 2 * 86_400, now + 365 * 86_400);
    let ca = Ca {
        cert: cert.clone(),
        key: key.clone(),
        spki: Vec::new(),
    };
    match parent {
        None => ca_sign(d, &ca, &csr, &cert, "root", None, serial, start, end),
        Some(p) => ca_sign(d, p, &csr, &cert, "intermediate", None, serial, start, end),
    }
    let spki = public_der(&key);
    Ca { cert, key, spki }
}

/// `openssl ca` with exact dates and serial; a fresh database each time, because the
/// two passes of a leaf reuse its serial.
#[allow(clippy::too_many_arguments)]
fn ca_sign(
    d: &Path,
    ca: &Ca,
    csr: &Path,
    out: &Path,
    section: &str,
    ext: Option<&Path>,
    serial: u64,
    start: i64,
    end: i64,
) {
    std::fs::write(d.join("index.txt"), "").expect("reset CA database");
    std::fs::write(d.join("serial"), format!("{serial:04X}\n")).expect("write CA serial");
    let date = |t: i64| {
        jiff::Timestamp::from_second(t)
            .expect("valid time")
            .strftime("%Y%m%d%H%M%SZ")
            .to_string()
    };
    let mut cmd = openssl(
        &["ca", "-batch", "-notext", "-config"],
        &[&d.join("ca.cnf")],
    );
    cmd.args([
        "-extensions",
        section,
        "-startdate",
        &date(start),
        "-enddate",
        &date(end),
        "-keyfile",
    ])
    .arg(&ca.key)
    .args(["-in"])
    .arg(csr)
    .args(["-out"])
    .arg(out);
    if ca.spki.is_empty() {
        cmd.arg("-selfsign");
    } else {
        cmd.args(["-cert"]).arg(&ca.cert);
    }
    if let Some(ext) = ext {
        cmd.args(["-extfile"]).arg(ext);
    }
    cmd.run();
}

fn make_key(d: &Path, name: &str) -> LogKey {
    let key = d.join(format!("{name}.key"));
    openssl(
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
        ],
        &[&key],
    )
    .run();
    LogKey {
        spki: public_der(&key),
        key,
    }
}

fn public_der(key: &Path) -> Vec<u8> {
    let out = key.with_extension("spki.der");
    openssl(&["pkey", "-pubout", "-outform", "DER", "-in"], &[key])
        .args(["-out"])
        .arg(&out)
        .run();
    std::fs::read(&out).expect("read public key")
}

fn der_of_cert(pem: &Path) -> Vec<u8> {
    let out = pem.with_extension("der");
    openssl(&["x509", "-outform", "DER", "-in"], &[pem])
        .args(["-out"])
        .arg(&out)
        .run();
    std::fs::read(&out).expect("read certificate DER")
}

/// The TBSCertificate of a DER certificate: the first element of its outer SEQUENCE.
fn tbs_of(cert: &[u8]) -> Vec<u8> {
    let (_, inner) = der_tlv(cert);
    let (tbs_len, _) = der_tlv(inner);
    inner[..tbs_len].to_vec()
}

/// The total length of the TLV at the start of `b`, and its contents.
fn der_tlv(b: &[u8]) -> (usize, &[u8]) {
    let (len, head) = match b[1] {
        n if n < 0x80 => (n as usize, 2),
        n => {
            let k = (n & 0x7f) as usize;
            (
                b[2..2 + k].iter().fold(0usize, |a, &x| a << 8 | x as usize),
                2 + k,
            )
        }
    };
    (head + len, &b[head..head + len])
}

fn der_octet_string(content: &[u8]) -> Vec<u8> {
    let mut out = vec![0x04];
    match content.len() {
        n if n < 0x80 => out.push(n as u8),
        n if n < 0x100 => out.extend_from_slice(&[0x81, n as u8]),
        n => out.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]),
    }
    out.extend_from_slice(content);
    out
}

/// RFC 6962 §2.1 leaf hash.
pub fn leaf_hash(body: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(body);
    h.finalize().into()
}

fn node_hash(l: &[u8; 32], r: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(l);
    h.update(r);
    h.finalize().into()
}

/// The largest power of two below `n` (n > 1).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// RFC 6962 §2.1 Merkle tree hash over leaf hashes.
fn mth(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

/// RFC 6962 §2.1.1 audit path for leaf `m`.
fn path(m: usize, leaves: &[[u8; 32]]) -> Vec<[u8; 32]> {
    let n = leaves.len();
    if n <= 1 {
        return Vec::new();
    }
    let k = split(n);
    let (mut p, sibling) = if m < k {
        (path(m, &leaves[..k]), mth(&leaves[k..]))
    } else {
        (path(m - k, &leaves[k..]), mth(&leaves[..k]))
    };
    p.push(sibling);
    p
}

struct Openssl(Command);

fn openssl(args: &[&str], paths: &[&Path]) -> Openssl {
    let mut c = Command::new("openssl");
    c.args(args).args(paths);
    Openssl(c)
}

impl Openssl {
    fn args<'a>(&mut self, a: impl IntoIterator<Item = &'a str>) -> &mut Self {
        self.0.args(a);
        self
    }
    fn arg(&mut self, a: impl AsRef<std::ffi::OsStr>) -> &mut Self {
        self.0.arg(a);
        self
    }
    fn run(&mut self) {
        let out = self.0.output().expect("run openssl (is it installed?)");
        assert!(
            out.status.success(),
            "{:?} failed: {}",
            self.0,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
