//! `airlock-verify keygen`

use std::path::PathBuf;

use airlock_verify::outln;
use airlock_verify::sign::{PassphraseSource, Protection};

/// Create the enclave's own key pair, which signs receipts and the enclave state.
/// Writes NAME.key (encrypted PKCS#8 unless --no-passphrase; mode 0600) and NAME.pub
/// (minisign format: auditors check receipts with `minisign -V -p NAME.pub`).
///
/// With --pkcs11 URI the key is made on a PKCS#11 token (an HSM or smart card) and never
/// leaves it; only NAME.pub is written. Give the same URI as --receipt-key afterwards.
#[derive(clap::Args)]
pub struct Args {
    /// Path prefix of the pair: DIR/NAME gives DIR/NAME.key and DIR/NAME.pub.
    #[arg(long, value_name = "DIR/NAME")]
    out: PathBuf,
    /// Make the key on the PKCS#11 token this RFC 7512 URI names, e.g.
    /// 'pkcs11:token=enclave;object=receipts?module-path=/usr/lib/softhsm/libsofthsm2.so'
    /// (object= is the new key's label; the module may also come from
    /// AIRLOCK_PKCS11_MODULE). Writes NAME.pub only.
    #[arg(long, value_name = "URI", conflicts_with_all = ["no_passphrase", "passphrase_file"])]
    pkcs11: Option<String>,
    /// File holding the token PIN for --pkcs11 (else the URI's pin-source,
    /// AIRLOCK_PKCS11_PIN, or a prompt).
    #[arg(long, value_name = "FILE", requires = "pkcs11")]
    pin_file: Option<PathBuf>,
    /// Leave the secret key unencrypted (for unattended installs); the public key file
    /// records it.
    #[arg(long)]
    no_passphrase: bool,
    /// File holding the new passphrase (else AIRLOCK_PASSPHRASE or a prompt).
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
    /// Replace existing files.
    #[arg(long)]
    force: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    if let Some(dir) = a.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| airlock_verify::Error::io("create directory", dir, e))?;
    }
    if let Some(uri) = &a.pkcs11 {
        let pin = PassphraseSource {
            file: a.pin_file.clone(),
        };
        let (public, key_id) =
            airlock_verify::sign::write_token_keypair(uri, &a.out, a.force, &pin)?;
        outln!("secret key: on the token ({uri})")?;
        outln!("public key: {} (key id {key_id})", public.display())?;
        return Ok(());
    }
    let protection = if a.no_passphrase {
        Protection::None
    } else {
        Protection::Passphrase(PassphraseSource {
            file: a.passphrase_file.clone(),
        })
    };
    let paths = airlock_verify::sign::write_keypair(&a.out, a.force, &protection)?;
    outln!("secret key: {}", paths.secret_key.display())?;
    outln!(
        "public key: {} (key id {})",
        paths.public_key.display(),
        paths.key_id
    )?;
    Ok(())
}
