//! A real PKCS#11 token for the tests: SoftHSM2 (Debian `softhsm2`), one token directory
//! per test in its own temporary folder (`SOFTHSM2_CONF` points there), so tests run in
//! parallel. `pkcs11-tool` (Debian `opensc`) reads the keys back independently.
//!
//! ```ignore
//! let token = Token::new("release");
//! let build = token.keygen("build", &work.join("keys/build"));   // airlock keygen --pkcs11
//! token.on(Cli::airlock()).args(["sign", dir, "--key", &token.uri("build")]).arg("--pin-file").arg(&token.pin_file).ok();
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;

use super::cli::Cli;

/// Debian's SoftHSM2 module.
pub const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// The user PIN every test token gets.
pub const PIN: &str = "1234";

/// An initialized SoftHSM2 token in a temporary directory.
pub struct Token {
    /// The token directory and its config (removed on drop).
    pub dir: tempfile::TempDir,
    /// `SOFTHSM2_CONF` for every command that reaches the token.
    pub conf: PathBuf,
    /// The token label.
    pub label: String,
    /// A file holding [`PIN`], for `--pin-file`.
    pub pin_file: PathBuf,
}

impl Token {
    /// A fresh token labelled `label` (SO PIN 12345678, user PIN [`PIN`]).
    pub fn new(label: &str) -> Token {
        let dir = super::workdir();
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).expect("create the token directory");
        let conf = dir.path().join("softhsm2.conf");
        let text = format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        );
        std::fs::write(&conf, text).expect("write softhsm2.conf");
        let pin_file = dir.path().join("pin");
        std::fs::write(&pin_file, format!("{PIN}\n")).expect("write the PIN file");
        let token = Token {
            dir,
            conf,
            label: label.to_string(),
            pin_file,
        };
        let init = [
            "--init-token",
            "--free",
            "--label",
            label,
            "--so-pin",
            "12345678",
        ];
        token.tool("softhsm2-util", &[&init[..], &["--pin", PIN]].concat());
        token
    }

    /// `pkcs11:token=LABEL;object=OBJECT?module-path=MODULE`.
    pub fn uri(&self, object: &str) -> String {
        format!(
            "pkcs11:token={};object={object}?module-path={MODULE}",
            self.label
        )
    }

    /// `cli` with `SOFTHSM2_CONF` pointing at this token.
    pub fn on(&self, cli: Cli) -> Cli {
        cli.env("SOFTHSM2_CONF", &self.conf)
    }

    /// `airlock keygen --pkcs11 URI --out PREFIX --pin-file PIN`, asserted; returns PREFIX
    /// (only `PREFIX.pub` exists: the secret half stays on the token).
    pub fn keygen(&self, object: &str, prefix: &Path) -> PathBuf {
        self.on(Cli::airlock())
            .args(["keygen", "--pkcs11", &self.uri(object), "--out"])
            .arg(prefix)
            .arg("--pin-file")
            .arg(&self.pin_file)
            .ok();
        prefix.to_path_buf()
    }

    /// The raw 32-byte Ed25519 public key of `object`, read with `pkcs11-tool
    /// --read-object` (OpenSC) and decoded by `openssl pkey`: a route to the key that
    /// shares no code with airlock.
    pub fn public_key_by_pkcs11_tool(&self, object: &str) -> Vec<u8> {
        let pem = self.dir.path().join(format!("{object}.pem"));
        let pem_arg = pem.to_str().expect("UTF-8 temporary path");
        let read = [
            "--read-object",
            "--type",
            "pubkey",
            "--label",
            object,
            "-o",
            pem_arg,
        ];
        let token = ["--module", MODULE, "--token-label", &self.label];
        self.tool("pkcs11-tool", &[&token[..], &read[..]].concat());
        let out = Command::new("openssl")
            .args(["pkey", "-pubin", "-outform", "DER", "-in"])
            .arg(&pem)
            .output()
            .expect("run openssl pkey");
        assert!(
            out.status.success(),
            "openssl pkey: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // SPKI of an Ed25519 key: a 12-byte header, then the 32 key bytes (RFC 8410).
        assert_eq!(out.stdout.len(), 44, "not an Ed25519 SubjectPublicKeyInfo");
        out.stdout[12..].to_vec()
    }

    /// Runs `program args` (a token tool) with this token's config; asserted.
    fn tool(&self, program: &str, args: &[&str]) {
        let out = Command::new(program)
            .env("SOFTHSM2_CONF", &self.conf)
            .args(args)
            .output()
            .expect("run a SoftHSM2/OpenSC tool");
        assert!(
            out.status.success(),
            "{program} {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The raw 32-byte key of a minisign public key file `PREFIX.pub` (base64 of `"Ed" ||
/// key id || key`).
pub fn minisign_key_bytes(prefix: &Path) -> Vec<u8> {
    use base64::Engine as _;
    let b64 = super::scenario::public_key_b64(prefix);
    let blob = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("base64 public key");
    blob[10..].to_vec()
}
