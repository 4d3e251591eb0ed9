//! `airlock keygen`

use std::path::PathBuf;

/// Create a signing key pair.
///
/// Writes NAME.key (PKCS#8 PEM, mode 0600; encrypted with a passphrase unless
/// --no-passphrase, and readable by `openssl pkey`) and NAME.pub (minisign public-key
/// format, so `minisign -V -p NAME.pub` can check airlock's signatures). Refuses to
/// overwrite either. Existing minisign keys (`minisign -G`) can sign too.
#[derive(clap::Args)]
pub struct Args {
    /// Path prefix of the pair: DIR/NAME gives DIR/NAME.key and DIR/NAME.pub.
    #[arg(long, value_name = "DIR/NAME")]
    out: PathBuf,
    /// Replace existing files.
    #[arg(long)]
    force: bool,
    /// Leave the secret key unencrypted (for automation); the public key file records it.
    #[arg(long)]
    no_passphrase: bool,
    /// File holding the new key's passphrase (else AIRLOCK_PASSPHRASE, or asked twice on
    /// the terminal).
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    if let Some(dir) = a.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| airlock::Error::io("create directory", dir, e))?;
    }
    let protection = if a.no_passphrase {
        airlock::sign::Protection::None
    } else {
        airlock::sign::Protection::Passphrase(airlock::sign::PassphraseSource {
            file: a.passphrase_file.clone(),
        })
    };
    let paths = airlock::sign::write_keypair(&a.out, a.force, &protection)?;
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "secret_key": paths.secret_key,
                "public_key": paths.public_key,
                "key_id": paths.key_id.to_string(),
            })
        );
    } else {
        println!(
            "secret key: {} (keep it off shared disks)",
            paths.secret_key.display()
        );
        println!(
            "public key: {} (key id {})",
            paths.public_key.display(),
            paths.key_id
        );
    }
    Ok(())
}
