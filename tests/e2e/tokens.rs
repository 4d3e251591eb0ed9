//! Signing keys on a PKCS#11 token (issue 24): a real SoftHSM2 token per test, keys made
//! on it by `airlock keygen --pkcs11` / `airlock-verify keygen --pkcs11`, bundles,
//! approvals, policy updates and receipts signed through it; every signature checked with
//! Debian's `minisign -V` against the `.pub` airlock wrote, and that `.pub` compared with
//! the key OpenSC's `pkcs11-tool` reads off the token.

use std::path::{Path, PathBuf};

use crate::common::check::assert_contains;
use crate::common::cli::{self, Cli};
use crate::common::scenario::{Scenario, sh_ok, trust_policy};
use crate::common::servers::Registry;
use crate::common::softhsm::{PIN, Token, minisign_key_bytes};

/// The key id airlock names signature files by, from `PREFIX.pub`.
fn key_id(prefix: &Path) -> String {
    let text = std::fs::read_to_string(cli::pub_of(prefix)).unwrap();
    airlock_verify::trust::PublicKey::from_minisign(&text)
        .unwrap()
        .key_id()
        .to_string()
}

/// Debian's minisign verifies `file` (in `dir`) with `prefix.pub` and its signature in
/// `dir/signatures/`; returns its output (the trusted comment).
fn minisign_verifies(dir: &Path, file: &str, prefix: &Path) -> String {
    let sig = format!("signatures/{}.minisig", key_id(prefix));
    let cmd = format!("minisign -V -p {} -m {file} -x {sig}", cli::pub_of(prefix));
    String::from_utf8_lossy(&sh_ok(&cmd, dir).stdout).into_owned()
}

/// `airlock sign DIR --key URI --role change-board --pin-file PIN`, to run.
fn sign_with(token: &Token, dir: &Path, object: &str, pin: &Path) -> Cli {
    let cli = Cli::airlock().arg("sign").arg(dir);
    let cli = cli.args(["--key", &token.uri(object), "--role", "change-board"]);
    token.on(cli).arg("--pin-file").arg(pin)
}

#[test]
fn keygen_on_the_token_writes_the_key_pkcs11_tool_reads() {
    let token = Token::new("release");
    let work = crate::common::workdir();
    let build = token.keygen("build", &work.path().join("keys/build"));
    assert!(
        !work.path().join("keys/build.key").exists(),
        "no secret key file"
    );
    assert_eq!(
        minisign_key_bytes(&build),
        token.public_key_by_pkcs11_tool("build")
    );
    // The enclave's keygen makes its key on a token the same way.
    let enclave = work.path().join("keys/enclave");
    token
        .on(Cli::verify())
        .args(["keygen", "--pkcs11", &token.uri("receipts"), "--out"])
        .arg(&enclave)
        .arg("--pin-file")
        .arg(&token.pin_file)
        .ok();
    assert_eq!(
        minisign_key_bytes(&enclave),
        token.public_key_by_pkcs11_tool("receipts")
    );
    // A second key under a label already on the token is refused.
    let again = token
        .on(Cli::airlock())
        .args(["keygen", "--pkcs11", &token.uri("build")]);
    let again = again.arg("--out").arg(work.path().join("keys/again"));
    again
        .arg("--pin-file")
        .arg(&token.pin_file)
        .fails(4, "already on the token");
}

#[test]
fn a_bundle_built_with_two_token_keys_verifies_with_minisign_and_airlock() {
    let s = Scenario::new();
    let token = Token::new("release");
    let keys = [
        token.keygen("build", &s.path("keys/token-build")),
        token.keygen("second", &s.path("keys/token-second")),
    ];
    // Two keys of one token in one process: one module context, one login.
    let cli = s.airlock_cli().arg("build").arg(&s.lock);
    let cli = cli.args(["--key", &token.uri("build"), "--key", &token.uri("second")]);
    let cli = cli.arg("--out").arg(s.path("bundle")).arg("--quiet");
    token
        .on(cli.args(s.net_args()))
        .arg("--pin-file")
        .arg(&token.pin_file)
        .ok();
    let bundle = s.path("bundle");
    for key in &keys {
        assert_contains(
            &minisign_verifies(&bundle, "manifest.json", key),
            "role=builder",
        );
    }
    let verify = s.verify_cli().arg("verify").arg(&bundle);
    let trust = [
        "--trust",
        &cli::pub_of(&keys[0]),
        "--trust",
        &cli::pub_of(&keys[1]),
    ];
    verify
        .args(trust)
        .args(["--threshold", "2", "--quiet"])
        .ok();
}

#[test]
fn a_policy_update_signed_by_two_token_keys_is_accepted() {
    let s = Scenario::new();
    let token = Token::new("board");
    let alice = token.keygen("alice", &s.path("keys/alice"));
    let bob = token.keygen("bob", &s.path("keys/bob"));
    let board = [("Alice Smith", &*alice), ("Bob Jones", &*bob)];
    let policy = s.path("enclave/policy.json");
    std::fs::create_dir_all(policy.parent().unwrap()).unwrap();
    std::fs::write(&policy, trust_policy(1, Some(&s.key), &board, 2)).unwrap();
    let update = s.path("policy-v2");
    std::fs::create_dir_all(&update).unwrap();
    std::fs::write(
        update.join("policy.json"),
        trust_policy(2, Some(&s.key), &board, 1),
    )
    .unwrap();
    for (object, prefix) in [("alice", &alice), ("bob", &bob)] {
        sign_with(&token, &update, object, &token.pin_file).ok();
        assert_contains(
            &minisign_verifies(&update, "policy.json", prefix),
            "version=2",
        );
    }
    let cli = s
        .verify_cli()
        .args(["policy", "update", "--policy"])
        .arg(&policy);
    cli.arg(&update).ok();
    assert_eq!(crate::common::read_json(&policy)["version"], 2);
}

#[test]
fn receipts_signed_by_a_token_key_verify_with_minisign() {
    let (s, bundle) = Scenario::built();
    let token = Token::new("enclave");
    let public = s.path("keys/enclave");
    let keygen = token
        .on(Cli::verify())
        .args(["keygen", "--pkcs11", &token.uri("receipts")]);
    keygen
        .arg("--out")
        .arg(&public)
        .arg("--pin-file")
        .arg(&token.pin_file)
        .ok();
    let (reg, dest) = (Registry::start(), s.path("dest"));
    let pin = token.pin_file.to_str().unwrap();
    let extra = ["--receipt-key", &token.uri("receipts"), "--pin-file", pin];
    let mut install = s.install_command(&bundle, &reg, &dest, &extra);
    let report = cli::json(&install.env("SOFTHSM2_CONF", &token.conf).output().unwrap());
    let receipt = PathBuf::from(report["receipt"].as_str().unwrap());
    let cmd = format!(
        "minisign -V -p {} -m {}",
        cli::pub_of(&public),
        receipt.display()
    );
    sh_ok(&cmd, s.work.path());
    let log = Cli::verify().args(["log", "--check", "--dest"]).arg(&dest);
    let log = log.args(["--receipt-pub", &cli::pub_of(&public)]).ok();
    assert_contains(&log.stdout(), "chain intact");
    // The key on the token checks them too (its public half read off the token).
    let log = Cli::verify().args(["log", "--check", "--dest"]).arg(&dest);
    let log = log.args(["--receipt-key", &token.uri("receipts"), "--pin-file", pin]);
    assert_contains(&token.on(log).ok().stdout(), "chain intact");
}

/// Key problems are the operator's input (exit 4, never 3) and named, without the PIN.
mod token_errors_are_named_and_exit_4 {
    use super::*;

    /// `airlock sign` of a scratch folder with the token key `object` and `pin`; asserts
    /// exit 4 with `needle`, and that the PIN is never printed.
    fn refused(object: &str, pin: &str, needle: &str) {
        let work = crate::common::workdir();
        let token = Token::new("release");
        token.keygen("build", &work.path().join("keys/build"));
        let pin_file = work.path().join("pin");
        std::fs::write(&pin_file, pin).unwrap();
        let run = sign_with(&token, work.path(), object, &pin_file).run();
        crate::common::scenario::assert_fails(&run, 4, needle);
        assert!(
            !run.stderr().contains(pin),
            "the PIN was printed: {}",
            run.stderr()
        );
    }

    #[test]
    fn a_wrong_pin() {
        refused(
            "build",
            "99999",
            "PIN refused: logging in (C_Login): CKR_PIN_INCORRECT",
        );
    }

    #[test]
    fn a_missing_object() {
        refused("nobody", PIN, "object=nobody");
        refused(
            "nobody",
            PIN,
            "no private key with this label/id on the token",
        );
    }

    #[test]
    fn a_pin_in_the_uri() {
        let uri = "pkcs11:token=t;object=k?pin-value=24682468";
        let run = Cli::airlock()
            .args(["sign", ".", "--key", uri, "--role", "r"])
            .run();
        crate::common::scenario::assert_fails(&run, 4, "pin-value is refused");
        assert!(!run.stderr().contains("24682468"), "{}", run.stderr());
    }
}
