//! `airlock keygen`

use airlock_verify::outln;
use std::path::PathBuf;

/// Create a signing key pair.
///
/// Writes NAME.key (PKCS#8 PEM, mode 0600; encrypted with a passphrase unless
/// --no-passphrase, and readable by `openssl pkey`) and NAME.pub (minisign public-key
/// format, so `minisign -V -p NAME.pub` can check airlock's signatures). Refuses to
/// overwrite either. Existing minisign keys (`minisign -G`) can sign too.
///
/// With --pkcs11 URI the key is made on a PKCS#11 token (an HSM or smart card) and never
/// leaves it; only NAME.pub is written. Sign with `--key URI` afterwards.
#[derive(clap::Args)]
pub struct Args {
    /// Path prefix of the pair: DIR/NAME gives DIR/NAME.key and DIR/NAME.pub.
    #[arg(long, value_name = "DIR/NAME")]
    out: PathBuf,
    /// Replace existing files.
    #[arg(long)]
    force: bool,
    /// Make the key on the PKCS#11 token this RFC 7512 URI names, e.g.
    /// 'pkcs11:token=release;object=build?module-path=/usr/lib/softhsm/libsofthsm2.so'
    /// (object= is the new key's label; the module may also come from
    /// AIRLOCK_PKCS11_MODULE). Writes NAME.pub only.
    #[arg(long, value_name = "URI", conflicts_with_all = ["no_passphrase", "passphrase_file"])]
    pkcs11: Option<String>,
    /// File holding the token PIN for --pkcs11 (else the URI's pin-source,
    /// AIRLOCK_PKCS11_PIN, or a prompt).
    #[arg(long, value_name = "FILE", requires = "pkcs11")]
    pin_file: Option<PathBuf>,
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
    if let Some(uri) = &a.pkcs11 {
        return token_keygen(&a, uri);
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
        outln!(
            "{}",
            serde_json::json!({
                "secret_key": paths.secret_key,
                "public_key": paths.public_key,
                "key_id": paths.key_id.to_string(),
            })
        )?;
    } else {
        outln!(
            "secret key: {} (keep it off shared disks)",
            paths.secret_key.display()
        )?;
        outln!(
            "public key: {} (key id {})",
            paths.public_key.display(),
            paths.key_id
        )?;
    }
    Ok(())
}

/// `--pkcs11 URI`: the key made on the token, only its `.pub` written.
fn token_keygen(a: &Args, uri: &str) -> anyhow::Result<()> {
    let pin = airlock::sign::PassphraseSource {
        file: a.pin_file.clone(),
    };
    let (public, key_id) = airlock::sign::write_token_keypair(uri, &a.out, a.force, &pin)?;
    if a.json {
        outln!(
            "{}",
            serde_json::json!({
                "secret_key": uri,
                "public_key": public,
                "key_id": key_id.to_string(),
            })
        )?;
    } else {
        outln!("secret key: on the token ({uri})")?;
        outln!("public key: {} (key id {key_id})", public.display())?;
    }
    Ok(())
}
