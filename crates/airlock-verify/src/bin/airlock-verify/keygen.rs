//! `airlock-verify keygen`

use std::path::PathBuf;

use airlock_verify::sign::{PassphraseSource, Protection};

/// Create the enclave's own key pair, which signs receipts and the enclave state.
/// Writes NAME.key (encrypted PKCS#8 unless --no-passphrase; mode 0600) and NAME.pub
/// (minisign format: auditors check receipts with `minisign -V -p NAME.pub`).
#[derive(clap::Args)]
pub struct Args {
    /// Path prefix of the pair: DIR/NAME gives DIR/NAME.key and DIR/NAME.pub.
    #[arg(long, value_name = "DIR/NAME")]
    out: PathBuf,
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
    let protection = if a.no_passphrase {
        Protection::None
    } else {
        Protection::Passphrase(PassphraseSource {
            file: a.passphrase_file.clone(),
        })
    };
    let paths = airlock_verify::sign::write_keypair(&a.out, a.force, &protection)?;
    println!("secret key: {}", paths.secret_key.display());
    println!(
        "public key: {} (key id {})",
        paths.public_key.display(),
        paths.key_id
    );
    Ok(())
}
