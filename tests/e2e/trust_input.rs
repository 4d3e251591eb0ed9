//! Issue 21, trust: key files, passphrases and `--trust` files as an operator hands them
//! over, wrong or hostile. Each mistake is invalid input (exit 4) with a message that
//! says what the file is and what to give instead; none is "do not trust this bundle"
//! (exit 3), and none writes anything outside the destination.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::common::scenario::{Scenario, assert_fails, sh_ok};

/// `airlock keygen` with a passphrase into keys/NAME; returns the prefix.
fn keygen_with_passphrase(s: &Scenario, name: &str, pass: &Path) -> PathBuf {
    crate::common::cli::keygen_with_passphrase(&s.path(&format!("keys/{name}")), pass)
}

/// `airlock-verify install BUNDLE --trust KEY.pub --receipt-key KEY EXTRA...` into
/// `dest`, against a registry port nothing listens on (every case here fails before
/// any registry is asked).
fn install_with_receipt_key(
    s: &Scenario,
    bundle: &Path,
    dest: &Path,
    key: &Path,
    extra: &[&str],
) -> Output {
    s.verify_bin(&[
        "install",
        bundle.to_str().unwrap(),
        "--trust",
        &format!("{}.pub", s.key.display()),
        "--registry",
        "127.0.0.1:1",
        "--insecure",
        "--dest",
        dest.to_str().unwrap(),
        "--quiet",
        "--receipt-key",
        key.to_str().unwrap(),
    ])
    .args(extra)
    .output()
    .unwrap()
}

/// `airlock sign BUNDLE --key KEY --role change-board EXTRA...`.
fn sign(s: &Scenario, bundle: &Path, key: &Path, extra: &[&str]) -> Output {
    // The key file itself, not a prefix: these are key files given by mistake.
    let cli = s
        .airlock_cli()
        .arg("sign")
        .arg(bundle)
        .args(["--role", "change-board"]);
    cli.arg("--key").arg(key).args(extra).run().output
}

/// `airlock-verify verify BUNDLE --quiet ARGS...`.
fn verify_args(s: &Scenario, bundle: &Path, args: &[&str]) -> Output {
    s.verify_bin(&["verify", bundle.to_str().unwrap(), "--quiet"])
        .args(args)
        .output()
        .unwrap()
}

/// Item 16/17: every mistake with a key, a passphrase, a `--trust` file or the bundle
/// path is exit 4 with a message naming the file and what it is, for both binaries;
/// `verify` writes nothing and `install` nothing outside its destination. One test per
/// command.
mod key_passphrase_and_path_mistakes_are_invalid_input {
    use super::*;
    use crate::common::check::assert_lacks;
    use crate::common::cli::stderr;
    use crate::common::{assert_changed_only_under, tree};

    /// A key mistake: what it is, the key file, extra arguments, what the error says.
    type Mistake = (&'static str, PathBuf, Vec<String>, &'static str);

    /// A built scenario and the four key mistakes both `sign --key` and `install
    /// --receipt-key` are given: a wrong passphrase, none, a truncated key, a `.pub`.
    fn key_mistakes() -> (Scenario, PathBuf, Vec<Mistake>) {
        let (s, bundle) = Scenario::built();
        let pass = s.path("pass");
        std::fs::write(&pass, "correct horse\n").unwrap();
        let wrong = s.path("wrong");
        std::fs::write(&wrong, "battery staple\n").unwrap();
        let enc_key = PathBuf::from(format!(
            "{}.key",
            keygen_with_passphrase(&s, "enc", &pass).display()
        ));
        let truncated = s.path("keys/truncated.key");
        let text = std::fs::read(format!("{}.key", s.key.display())).unwrap();
        std::fs::write(&truncated, &text[..text.len() / 2]).unwrap();
        let public = PathBuf::from(format!("{}.pub", s.key.display()));
        let wrong_pass = vec!["--passphrase-file".to_string(), wrong.display().to_string()];
        let cases: Vec<Mistake> = vec![
            (
                "wrong passphrase",
                enc_key.clone(),
                wrong_pass,
                "wrong passphrase",
            ),
            (
                "no passphrase source",
                enc_key,
                vec![],
                "needs a passphrase",
            ),
            ("truncated key", truncated, vec![], "truncated.key"),
            ("a .pub as --key", public, vec![], "this is a public key"),
        ];
        (s, bundle, cases)
    }

    /// The file name of `key`, as the error must say it.
    fn name_of(key: &Path) -> &str {
        key.file_name().unwrap().to_str().unwrap()
    }

    #[test]
    fn sign_key() {
        let (s, bundle, cases) = key_mistakes();
        for (what, key, extra, needle) in &cases {
            let before = tree(s.work.path());
            let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
            let out = sign(&s, &bundle, key, &extra);
            assert_fails(&out, 4, needle);
            assert!(
                stderr(&out).contains(name_of(key)),
                "{what}: {}",
                stderr(&out)
            );
            // Said first, not after a permission warning about a file that is not a secret key.
            if *what == "a .pub as --key" {
                assert_lacks(&stderr(&out), "chmod");
                assert_lacks(&stderr(&out), "expected 158");
            }
            assert_changed_only_under(&before, &tree(s.work.path()), &[]);
        }
    }

    /// `install --receipt-key`, each into its own destination.
    #[test]
    fn install_receipt_key() {
        let (s, bundle, cases) = key_mistakes();
        for (i, (what, key, extra, needle)) in cases.iter().enumerate() {
            let dest = s.path(&format!("dest{i}"));
            let before = tree(s.work.path());
            let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
            let out = install_with_receipt_key(&s, &bundle, &dest, key, &extra);
            assert_fails(&out, 4, needle);
            assert!(
                stderr(&out).contains(name_of(key)),
                "{what}: {}",
                stderr(&out)
            );
            assert_changed_only_under(&before, &tree(s.work.path()), &[&format!("dest{i}")]);
        }
    }

    /// `--trust` given a secret key, a malformed file, a missing file; a mistyped bundle.
    #[test]
    fn verify_trust_and_bundle_path() {
        let (s, bundle) = Scenario::built();
        let (public, secret) = (s.pubkey(), crate::common::cli::key_of(&s.key));
        let garbage = s.path("keys/garbage.pub");
        std::fs::write(&garbage, "not a key\n").unwrap();
        let (missing, mistyped) = (s.path("keys/missing.pub"), s.path("bundel"));
        let cases: Vec<(&Path, Vec<&str>, &str)> = vec![
            (&bundle, vec!["--trust", &secret], "this is a secret key"),
            (
                &bundle,
                vec!["--trust", garbage.to_str().unwrap()],
                "garbage.pub",
            ),
            (
                &bundle,
                vec!["--trust", missing.to_str().unwrap()],
                "missing.pub",
            ),
            (&mistyped, vec!["--trust", &public], "bundle directory"),
            (
                Path::new(&public),
                vec!["--trust", &public],
                "not a directory",
            ),
        ];
        for (b, args, needle) in &cases {
            let before = tree(s.work.path());
            let out = verify_args(&s, b, args);
            assert_fails(&out, 4, needle);
            assert_changed_only_under(&before, &tree(s.work.path()), &[]);
        }
        // A secret key given to --trust is named as one, not as a file of "2 lines".
        let out = verify_args(&s, &bundle, &["--trust", &secret]);
        assert!(!String::from_utf8_lossy(&out.stderr).contains("lines"));
        assert!(!mistyped.exists());
    }

    /// `log --check --receipt-pub` given a secret key: 4 as well (it was 1), writing
    /// nothing. The state comes from an install that failed at the (absent) registry.
    #[test]
    fn log_receipt_pub() {
        let (s, bundle) = Scenario::built();
        let dest = s.path("logged");
        let out = s.install_to(
            &bundle,
            "127.0.0.1:1",
            &dest,
            &["--insecure", "--attempts", "1"],
        );
        crate::common::scenario::assert_code(&out, 1);
        let before = tree(s.work.path());
        let secret = crate::common::cli::key_of(&s.key);
        let log = [
            "log",
            "--check",
            "--dest",
            dest.to_str().unwrap(),
            "--receipt-pub",
            &secret,
        ];
        assert_fails(&s.run_verify(&log), 4, "this is a secret key");
        assert_changed_only_under(&before, &tree(s.work.path()), &[]);
    }
}

/// The key id (16 hex digits) of a public key file's text.
fn id_of(pub_text: &str) -> String {
    airlock_verify::trust::PublicKey::from_minisign(pub_text)
        .unwrap()
        .key_id()
        .to_string()
}

/// Replace bytes 2..10 (the key id, in public keys and in signatures alike) of the
/// base64 blob on line 2 of a minisign file.
fn with_key_id(text: &str, id: [u8; 8]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut blob = BASE64.decode(lines[1].trim()).unwrap();
    blob[2..10].copy_from_slice(&id);
    lines[1] = BASE64.encode(&blob);
    lines.join("\n") + "\n"
}

/// Item 2: two `--trust` files with the same public key under different key ids, and one
/// secret key that signed once per id (a minisign key file's key id is not signed: its
/// holder can sign under any id), must not make `--threshold 2` with one signer.
#[test]
fn one_key_under_two_ids_is_refused_for_trust() {
    let (s, bundle) = Scenario::built();
    let public = PathBuf::from(format!("{}.pub", s.key.display()));
    let text = std::fs::read_to_string(&public).unwrap();
    let twin_text = with_key_id(&text, *b"twin-id!");
    let twin = s.path("keys/twin.pub");
    std::fs::write(&twin, &twin_text).unwrap();
    // The builder's signature again, under the twin id.
    let sigs = bundle.join("signatures");
    let sig = std::fs::read_to_string(sigs.join(format!("{}.minisig", id_of(&text)))).unwrap();
    std::fs::write(
        sigs.join(format!("{}.minisig", id_of(&twin_text))),
        with_key_id(&sig, *b"twin-id!"),
    )
    .unwrap();
    let (p, t) = (public.to_str().unwrap(), twin.to_str().unwrap());
    let args = ["--trust", p, "--trust", t, "--threshold", "2"];

    let before = crate::common::tree(s.work.path());
    let out = verify_args(&s, &bundle, &args);
    assert_fails(&out, 4, "twin.pub");
    assert_fails(&out, 4, "same public key");
    crate::common::assert_changed_only_under(&before, &crate::common::tree(s.work.path()), &[]);

    let dest = s.path("dest");
    let out = s
        .verify_bin(&[
            "install",
            bundle.to_str().unwrap(),
            "--registry",
            "127.0.0.1:1",
            "--insecure",
            "--dest",
            dest.to_str().unwrap(),
            "--quiet",
        ])
        .args(args)
        .output()
        .unwrap();
    assert_fails(&out, 4, "same public key");
    crate::common::assert_changed_only_under(
        &before,
        &crate::common::tree(s.work.path()),
        &["dest"],
    );
    // Nothing installed: at most the enclave's own state and the receipt of the refusal.
    let installed: Vec<_> = walkdir::WalkDir::new(&dest)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && !e.path().starts_with(dest.join(".airlock")))
        .map(|e| e.path().display().to_string())
        .collect();
    assert!(installed.is_empty(), "{installed:?}");
    // Each id alone still verifies: the signature itself is good.
    let out = verify_args(&s, &bundle, &["--trust", p]);
    crate::common::cli::ok(&out);
}

/// A minisign secret key file (encrypted, "Sc") with the given scrypt limits and a random
/// body: what `minisign -G` writes, with the limits a hostile author chose.
fn minisign_secret_key(opslimit: u64, memlimit: u64) -> String {
    let mut raw = Vec::with_capacity(158);
    raw.extend_from_slice(b"EdScB2");
    raw.extend_from_slice(&[7u8; 32]); // salt
    raw.extend_from_slice(&opslimit.to_le_bytes());
    raw.extend_from_slice(&memlimit.to_le_bytes());
    raw.extend_from_slice(&[9u8; 104]); // keynum, secret key, checksum (encrypted)
    assert_eq!(raw.len(), 158);
    format!(
        "untrusted comment: minisign encrypted secret key\n{}\n",
        BASE64.encode(raw)
    )
}

/// An encrypted PKCS#8 key (PBES2, AES-256-CBC) with the given key derivation and
/// meaningless ciphertext: nothing is ever decrypted, the parameters are the attack.
fn pkcs8_secret_key(kdf: pkcs8::pkcs5::pbes2::Kdf) -> String {
    use pkcs8::der::EncodePem as _;
    use pkcs8::pkcs5::{EncryptionScheme, pbes2};
    let info = pkcs8::EncryptedPrivateKeyInfoOwned {
        encryption_algorithm: EncryptionScheme::Pbes2(pbes2::Parameters {
            kdf,
            encryption: pbes2::EncryptionScheme::Aes256Cbc { iv: [3; 16] },
        }),
        encrypted_data: pkcs8::der::asn1::OctetString::new(vec![5u8; 48]).unwrap(),
    };
    info.to_pem(pkcs8::LineEnding::LF).unwrap()
}

/// Item 7: key files whose key derivation would take a day, allocate 16 GiB or run for
/// tens of minutes are refused in well under a second, before any derivation, by
/// `airlock sign --key` and `airlock-verify install --receipt-key` alike.
#[test]
fn hostile_key_derivation_parameters_are_refused_before_deriving() {
    use pkcs8::pkcs5::pbes2::{Kdf, Pbkdf2Params, Pbkdf2Prf, Salt, ScryptParams};
    // Built before the clock starts (a no-op when up to date).
    crate::common::verify_bin();
    let (s, bundle) = Scenario::built();
    let pass = s.path("pass");
    std::fs::write(&pass, "correct horse\n").unwrap();
    let scrypt = |log_n: u32, r: u16, p: u16| {
        Kdf::Scrypt(ScryptParams {
            salt: Salt::new([1u8; 16]).unwrap(),
            cost_parameter: 1u64 << log_n,
            block_size: r,
            parallelization: p,
            key_length: None,
        })
    };
    let pbkdf2 = |iterations: u32| {
        Kdf::Pbkdf2(Pbkdf2Params {
            salt: Salt::new([1u8; 16]).unwrap(),
            iteration_count: iterations,
            key_length: None,
            prf: Pbkdf2Prf::HmacWithSha256,
        })
    };
    let cases = [
        // scrypt p = 32768 at 1 GiB: about a day.
        (
            "minisign-ops.key",
            minisign_secret_key(1 << 40, 1 << 30),
            "opslimit",
        ),
        // memlimit 2^40: N = 2^30, 1 TiB.
        (
            "minisign-mem.key",
            minisign_secret_key(1 << 25, 1 << 40),
            "memlimit",
        ),
        ("scrypt-n.key", pkcs8_secret_key(scrypt(24, 8, 1)), "memory"),
        (
            "scrypt-p.key",
            pkcs8_secret_key(scrypt(14, 8, 65535)),
            "work",
        ),
        (
            "pbkdf2.key",
            pkcs8_secret_key(pbkdf2(4_000_000_000)),
            "PBKDF2",
        ),
        (
            "pbkdf2-below-pkcs5.key",
            pkcs8_secret_key(pbkdf2(50_000_000)),
            "PBKDF2",
        ),
    ];
    for (i, (name, text, needle)) in cases.iter().enumerate() {
        let key = s.path(name);
        std::fs::write(&key, text).unwrap();
        let pass_args = ["--passphrase-file", pass.to_str().unwrap()];
        let started = Instant::now();
        let out = sign(&s, &bundle, &key, &pass_args);
        let took = started.elapsed();
        assert_fails(&out, 4, needle);
        assert_fails(&out, 4, name);
        assert_fails(&out, 4, "not derived");
        assert!(took < Duration::from_secs(5), "airlock, {name}: {took:?}");
        let dest = s.path(&format!("dest{i}"));
        let started = Instant::now();
        let out = install_with_receipt_key(&s, &bundle, &dest, &key, &pass_args);
        let took = started.elapsed();
        assert_fails(&out, 4, needle);
        assert_fails(&out, 4, "not derived");
        assert!(
            took < Duration::from_secs(5),
            "airlock-verify, {name}: {took:?}"
        );
    }
}

/// The bounds of item 7 keep every key OpenSSL makes with its defaults: PBKDF2 (2048
/// iterations of HMAC-SHA256) and scrypt (N = 2^14, r = 8, p = 16) both still sign.
#[test]
fn keys_encrypted_by_openssl_with_its_defaults_still_sign() {
    let (s, bundle) = Scenario::built();
    let pass = s.path("pass");
    std::fs::write(&pass, "correct horse\n").unwrap();
    sh_ok(
        "openssl genpkey -algorithm ed25519 -out plain.pem && \
         openssl pkcs8 -topk8 -in plain.pem -v2 aes-256-cbc -passout file:pass -out pbkdf2.key && \
         openssl pkcs8 -topk8 -in plain.pem -v2 aes-256-cbc -scrypt -passout file:pass -out scrypt.key && \
         chmod 600 pbkdf2.key scrypt.key",
        s.work.path(),
    );
    for name in ["pbkdf2.key", "scrypt.key"] {
        let out = sign(
            &s,
            &bundle,
            &s.path(name),
            &["--passphrase-file", pass.to_str().unwrap(), "--force"],
        );
        crate::common::cli::ok(&out);
    }
}
