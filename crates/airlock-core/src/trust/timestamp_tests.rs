//! `verify_timestamp` against tokens from OpenSSL's own TSA (`openssl ts -reply`), each
//! case also judged by `openssl ts -verify`, so airlock and OpenSSL agree on both sides.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;

/// A TSA made by `openssl` in a temporary directory: an Ed25519 root and a TSA
/// certificate of `key` (`ec` for P-256, `ec384`, `rsa`).
struct Tsa {
    dir: tempfile::TempDir,
    key: &'static str,
}

fn openssl(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl")
}

fn ok(dir: &Path, args: &[&str]) {
    let out = openssl(dir, args);
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const TSA_EXT: &str = "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
                       extendedKeyUsage=critical,timeStamping\n";

impl Tsa {
    fn new(key: &'static str, root: &str) -> Tsa {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        ok(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "ed25519",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "3650",
                "-subj",
                root,
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        let newkey: &[&str] = match key {
            "ec" => &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
            "ec384" => &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
            _ => &["-newkey", "rsa:2048"],
        };
        let mut args = vec!["req"];
        args.extend_from_slice(newkey);
        args.extend_from_slice(&[
            "-nodes",
            "-keyout",
            "tsa.key",
            "-out",
            "tsa.csr",
            "-subj",
            "/CN=test TSA",
        ]);
        ok(d, &args);
        std::fs::write(d.join("tsa.ext"), TSA_EXT).expect("write");
        ok(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "tsa.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "365",
                "-extfile",
                "tsa.ext",
                "-out",
                "tsa.pem",
            ],
        );
        std::fs::write(d.join("tsaserial"), "01\n").expect("write");
        Tsa { dir, key }.config("")
    }

    fn config(self, extra: &str) -> Tsa {
        let cnf = format!(
            "[tsa]\ndefault_tsa = t\n[t]\nserial = ./tsaserial\ncrypto_device = builtin\n\
             signer_cert = ./tsa.pem\ncerts = ./ca.pem\nsigner_key = ./tsa.key\n\
             signer_digest = {}\ndefault_policy = 1.3.6.1.4.1.99999.1\n\
             other_policies = 1.3.6.1.4.1.99999.2\n\
             digests = sha256, sha384, sha512\naccuracy = secs:1\nordering = yes\n\
             tsa_name = yes\ness_cert_id_chain = no\ness_cert_id_alg = sha256\n{extra}",
            if self.key == "ec384" {
                "sha384"
            } else {
                "sha256"
            }
        );
        std::fs::write(self.dir.path().join("tsa.cnf"), cnf).expect("write");
        self
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The `TimeStampResp` OpenSSL's TSA answers for `data` (the request is airlock's).
    fn stamp(&self, data: &[u8]) -> Vec<u8> {
        std::fs::write(
            self.path("q.tsq"),
            request_der(data, 0x8123_4567_89ab_cdef).expect("req"),
        )
        .expect("write");
        ok(
            self.dir.path(),
            &[
                "ts",
                "-reply",
                "-config",
                "tsa.cnf",
                "-queryfile",
                "q.tsq",
                "-out",
                "r.tsr",
            ],
        );
        std::fs::read(self.path("r.tsr")).expect("read")
    }

    fn pin(&self, which: &str) -> PinnedTsa {
        let der = pem_to_der(&std::fs::read_to_string(self.path(which)).expect("read"));
        PinnedTsa::new("test TSA", &der, vec![]).expect("pin")
    }

    /// `openssl ts -verify` of `token` over `data` against this TSA's root.
    fn openssl_accepts(&self, token: &[u8], data: &[u8]) -> bool {
        std::fs::write(self.path("v.tsr"), token).expect("write");
        std::fs::write(self.path("v.data"), data).expect("write");
        openssl(
            self.dir.path(),
            &[
                "ts", "-verify", "-data", "v.data", "-in", "v.tsr", "-CAfile", "ca.pem",
            ],
        )
        .status
        .success()
    }
}

fn pem_to_der(pem: &str) -> Vec<u8> {
    use base64::Engine as _;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("base64")
}

const DATA: &[u8] = b"untrusted comment: signature\nRUQ...\ntrusted comment: x\nabc\n";

#[test]
fn tokens_from_openssl_verify_for_each_tsa_key_type() {
    for key in ["ec", "ec384", "rsa"] {
        let tsa = Tsa::new(key, "/CN=test TSA root");
        let token = tsa.stamp(DATA);
        assert!(tsa.openssl_accepts(&token, DATA), "{key}");
        let facts = verify_timestamp(&token, DATA, &[tsa.pin("ca.pem")]).expect(key);
        assert_eq!(facts.tsa, "test TSA");
        assert_eq!(facts.policy_oid, "1.3.6.1.4.1.99999.1");
        assert_eq!(facts.accuracy_secs, 1);
        assert!(
            (facts.time.0 - Timestamp::now().0).abs() < 120,
            "{key}: {:?}",
            facts.time
        );
        // Pinning the TSA certificate itself works too.
        verify_timestamp(&token, DATA, &[tsa.pin("tsa.pem")]).expect("leaf pin");
    }
}

#[test]
fn another_signature_is_refused_by_both() {
    let tsa = Tsa::new("ec", "/CN=test TSA root");
    let token = tsa.stamp(DATA);
    let other = b"another signature file";
    assert!(!tsa.openssl_accepts(&token, other));
    let e = verify_timestamp(&token, other, &[tsa.pin("ca.pem")]).unwrap_err();
    assert!(matches!(e, TrustError::TimestampImprint { .. }), "{e}");
    assert_eq!(e.exit_code(), 3);
}

#[test]
fn another_tsa_is_refused_by_both() {
    let tsa = Tsa::new("ec", "/CN=test TSA root");
    let stranger = Tsa::new("ec", "/CN=test TSA root");
    let token = stranger.stamp(DATA);
    assert!(!tsa.openssl_accepts(&token, DATA));
    let e = verify_timestamp(&token, DATA, &[tsa.pin("ca.pem")]).unwrap_err();
    assert!(matches!(e, TrustError::TimestampUnlistedTsa { .. }), "{e}");
    let e = verify_timestamp(&token, DATA, &[]).unwrap_err();
    assert!(matches!(e, TrustError::TimestampUnlistedTsa { .. }), "{e}");
}

#[test]
fn every_flipped_byte_of_the_tstinfo_is_refused_by_both() {
    let tsa = Tsa::new("ec", "/CN=test TSA root");
    let token = tsa.stamp(DATA);
    // The TSTInfo starts at the policy OID, which OpenSSL writes once.
    let oid = [
        0x06, 0x09, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x86, 0x8d, 0x1f, 0x01,
    ];
    let at = token
        .windows(oid.len())
        .position(|w| w == oid)
        .expect("policy OID");
    for i in [at + 10, at + 20, at + 40] {
        let mut bad = token.clone();
        bad[i] ^= 0x01;
        let ours = verify_timestamp(&bad, DATA, &[tsa.pin("ca.pem")]);
        assert!(ours.is_err(), "byte {i} accepted");
        assert!(
            !tsa.openssl_accepts(&bad, DATA),
            "openssl accepted byte {i}"
        );
    }
}

#[test]
fn gen_time_outside_the_tsa_certificate_is_refused() {
    let tsa = Tsa::new("ec", "/CN=test TSA root");
    let d = tsa.dir.path();
    // A TSA certificate valid only in January 2020; OpenSSL's TSA still signs with it.
    std::fs::write(
        d.join("ca.cnf"),
        "[ca]\ndefault_ca = c\n[c]\ndatabase = ./index.txt\nnew_certs_dir = .\n\
         serial = ./ca.srl\ndefault_md = sha256\npolicy = p\ncopy_extensions = none\n\
         [p]\ncommonName = supplied\n[tsaext]\nbasicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=critical,timeStamping\n",
    )
    .expect("write");
    std::fs::write(d.join("index.txt"), "").expect("write");
    ok(
        d,
        &[
            "ca",
            "-batch",
            "-config",
            "ca.cnf",
            "-cert",
            "ca.pem",
            "-keyfile",
            "ca.key",
            "-in",
            "tsa.csr",
            "-out",
            "tsa.pem",
            "-startdate",
            "20200101000000Z",
            "-enddate",
            "20200201000000Z",
            "-extensions",
            "tsaext",
            "-notext",
        ],
    );
    let token = tsa.stamp(DATA);
    assert!(!tsa.openssl_accepts(&token, DATA));
    let e = verify_timestamp(&token, DATA, &[tsa.pin("ca.pem")]).unwrap_err();
    assert!(matches!(e, TrustError::TimestampCertValidity { .. }), "{e}");
    assert!(e.to_string().contains("2020-02-01"), "{e}");
}

#[test]
fn fractional_gen_time_is_read_and_truncated() {
    let tsa = Tsa::new("rsa", "/CN=test TSA root").config("clock_precision_digits = 3\n");
    let token = tsa.stamp(DATA);
    assert!(tsa.openssl_accepts(&token, DATA));
    let facts = verify_timestamp(&token, DATA, &[tsa.pin("ca.pem")]).expect("fractions");
    assert!((facts.time.0 - Timestamp::now().0).abs() < 120);
    let g = GenTime("20261207010203.5Z".into());
    assert_eq!(g.unix(), GenTime("20261207010203Z".into()).unix());
    for bad in [
        "20261207010203.50Z",
        "20261207010203.Z",
        "202612070102Z",
        "20261207010203",
    ] {
        assert_eq!(GenTime(bad.into()).unix(), None, "{bad}");
    }
}

#[test]
fn a_policy_oid_the_pin_does_not_allow_is_refused() {
    let tsa = Tsa::new("ec", "/CN=test TSA root");
    let token = tsa.stamp(DATA);
    let der = pem_to_der(&std::fs::read_to_string(tsa.path("ca.pem")).expect("read"));
    let only = PinnedTsa::new("t", &der, vec!["1.3.6.1.4.1.99999.2".into()]).expect("pin");
    let e = verify_timestamp(&token, DATA, &[only]).unwrap_err();
    assert!(matches!(e, TrustError::TimestampPolicy { .. }), "{e}");
}

#[test]
fn check_response_wants_the_request_nonce() {
    let tsa = Tsa::new("ec", "/CN=test TSA root");
    let token = tsa.stamp(DATA);
    check_response(&token, DATA, 0x8123_4567_89ab_cdef, &[]).expect("same nonce");
    let e = check_response(&token, DATA, 7, &[]).unwrap_err();
    assert!(matches!(e, TrustError::TimestampNonce { .. }), "{e}");
}

#[test]
fn garbage_and_oversize_are_refused_by_name() {
    let e = verify_timestamp(b"\x30\x03\x02\x01", DATA, &[]).unwrap_err();
    assert!(matches!(e, TrustError::TimestampMalformed { .. }), "{e}");
    let big = vec![0u8; TIMESTAMP_MAX_BYTES + 1];
    let e = verify_timestamp(&big, DATA, &[]).unwrap_err();
    assert!(matches!(e, TrustError::TooLarge { .. }), "{e}");
}
