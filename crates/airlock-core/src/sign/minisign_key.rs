//! Reading minisign's own secret key files (`minisign -G`), so a team that already signs
//! with minisign keeps its keys.
//!
//! Layout (minisign.h, 158 bytes after base64): sig_alg "Ed", kdf_alg "Sc" (scrypt) or
//! 0x0000 (none), chk_alg "B2", kdf_salt[32], kdf_opslimit u64le, kdf_memlimit u64le,
//! then keynum[8] || sk[64] || chk[32], XORed with scrypt(passphrase, salt) when
//! encrypted. chk is BLAKE2b-256(sig_alg || keynum || sk); unencrypted keys from
//! minisign 0.11 leave it zero, so it is checked only for encrypted keys, where a
//! mismatch means a wrong passphrase.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use blake2::Digest;

use crate::key_format::MINISIGN_SECRET_KEY_LEN;
use crate::sign::kdf_limits::KdfError;

use super::{KeyId, PassphraseSource, SecretKey, TrustError, Zeroizing, kdf_limits};

const LEN: usize = MINISIGN_SECRET_KEY_LEN;
const ENCRYPTED_OFF: usize = 54;

/// Parse a minisign secret key file, decrypting it with a passphrase from `source` when
/// it is encrypted.
pub fn parse(text: &str, what: &str, source: &PassphraseSource) -> Result<SecretKey, TrustError> {
    let bad = |reason: &str| TrustError::InvalidKey {
        artifact: what.to_string(),
        reason: format!("minisign secret key: {reason}"),
    };
    let mut lines = text.lines();
    let (Some(_comment), Some(b64)) = (lines.next(), lines.next()) else {
        return Err(bad("expected two lines"));
    };
    let raw = Zeroizing::new(BASE64.decode(b64.trim()).map_err(|_| bad("bad base64"))?);
    if raw.len() != LEN {
        return Err(bad(&format!("{} bytes, expected {LEN}", raw.len())));
    }
    if &raw[0..2] != b"Ed" || &raw[4..6] != b"B2" {
        return Err(bad("not an Ed25519 key with a BLAKE2b checksum"));
    }
    let mut body = Zeroizing::new([0u8; LEN - ENCRYPTED_OFF]);
    body.copy_from_slice(&raw[ENCRYPTED_OFF..]);
    let encrypted = match &raw[2..4] {
        b"Sc" => true,
        [0, 0] => false,
        _ => return Err(bad("unknown key derivation")),
    };
    if encrypted {
        let salt = &raw[6..38];
        let ops = u64::from_le_bytes(raw[38..46].try_into().map_err(|_| bad("length"))?);
        let mem = u64::from_le_bytes(raw[46..54].try_into().map_err(|_| bad("length"))?);
        let params = scrypt_params(ops, mem).map_err(|r| bad(&r.to_string()))?;
        let pass = source.get(what, false)?;
        let mut stream = Zeroizing::new([0u8; LEN - ENCRYPTED_OFF]);
        scrypt::scrypt(pass.as_bytes(), salt, &params, stream.as_mut())
            .map_err(|_| bad("scrypt failed"))?;
        for (b, s) in body.iter_mut().zip(stream.iter()) {
            *b ^= s;
        }
    }
    let keynum: [u8; 8] = body[0..8].try_into().map_err(|_| bad("length"))?;
    let sk = &body[8..72];
    if encrypted {
        let mut h = blake2::Blake2b::<blake2::digest::consts::U32>::new();
        h.update(b"Ed");
        h.update(keynum);
        h.update(sk);
        if h.finalize().as_slice() != &body[72..104] {
            return Err(bad("wrong passphrase (checksum mismatch)"));
        }
    }
    let seed: [u8; 32] = sk[..32].try_into().map_err(|_| bad("length"))?;
    let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
    if signing.verifying_key().as_bytes() != &sk[32..64] {
        return Err(bad("the public half does not match the secret key"));
    }
    Ok(SecretKey::with_key_id(signing, KeyId::from_bytes(keynum)))
}

/// libsodium's `crypto_pwhash_scryptsalsa208sha256` parameter choice (pickparams), as
/// minisign uses it, after bounding the file's limits (see [`kdf_limits`]): a key asking
/// for more than minisign's own defaults is refused, not derived.
fn scrypt_params(opslimit: u64, memlimit: u64) -> Result<scrypt::Params, KdfError> {
    for (name, value, max) in [
        ("opslimit", opslimit, kdf_limits::MAX_SCRYPT_OPS),
        ("memlimit", memlimit, kdf_limits::MAX_SCRYPT_MEMORY),
    ] {
        if value > max {
            return Err(KdfError::ScryptLimit { name, value, max });
        }
    }
    let ops = opslimit.max(32768);
    let r: u64 = 8;
    let (log_n, p) = if ops < memlimit / 32 {
        let max_n = ops / (4 * r);
        (log2_above(max_n / 2), 1u64)
    } else {
        let max_n = memlimit / (128 * r);
        let log_n = log2_above(max_n / 2);
        let max_rp = ((ops / 4) >> log_n).min(0x3fff_ffff);
        (log_n, (max_rp / r).max(1))
    };
    let p = u32::try_from(p).map_err(|_| KdfError::ScryptP { p })?;
    kdf_limits::check_scrypt(log_n, r as u32, p)?;
    scrypt::Params::new(log_n, r as u32, p).map_err(|e| KdfError::ScryptParams {
        reason: e.to_string(),
    })
}

/// The smallest n >= 1 with 2^n > x.
fn log2_above(x: u64) -> u8 {
    let mut n = 1u8;
    while n < 63 && (1u64 << n) <= x {
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key_format::looks_like_secret_key;

    #[test]
    fn libsodium_parameter_choice() {
        // minisign C's defaults (sensitive): N = 2^20, r = 8, p = 1.
        let p = scrypt_params(33_554_432, 1_073_741_824).unwrap();
        assert_eq!((p.log_n(), p.r(), p.p()), (20, 8, 1));
        // rust-minisign's: N = 2^15.
        let p = scrypt_params(1_048_576, 33_554_432).unwrap();
        assert_eq!((p.log_n(), p.r(), p.p()), (15, 8, 1));
        assert!(scrypt_params(1 << 40, 1 << 40).is_err());
        // Issue 21: opslimit 2^40 at 1 GiB gave p = 32768, a day of work.
        let e = scrypt_params(1 << 40, 1 << 30).unwrap_err();
        let (value, max) = (1 << 40, 33_554_432);
        let name = "opslimit";
        assert_eq!(e, KdfError::ScryptLimit { name, value, max });
        // Within the limits, a tiny memlimit cannot turn into unbounded work either.
        let p = scrypt_params(33_554_432, 0).unwrap();
        let work = 4 * (1u64 << p.log_n()) * u64::from(p.r()) * u64::from(p.p());
        assert!(work <= 33_554_432, "{work}");
    }

    /// A key made by Debian's `minisign -G` (C, encrypted with the default 1 GiB scrypt)
    /// signs, and `minisign -V` accepts the signature with the key's own public file.
    #[test]
    fn signs_with_a_key_made_by_minisign() {
        let dir = tempfile::tempdir().unwrap();
        let (pk, sk) = (dir.path().join("k.pub"), dir.path().join("k.key"));
        let mut child = std::process::Command::new("minisign")
            .args(["-G", "-f", "-p"])
            .arg(&pk)
            .arg("-s")
            .arg(&sk)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("run minisign -G");
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"correct horse\ncorrect horse\n")
            .unwrap();
        assert!(child.wait().unwrap().success());
        let pass = dir.path().join("pass");
        std::fs::write(&pass, "correct horse\n").unwrap();
        let src = PassphraseSource {
            file: Some(pass.clone()),
        };
        let text = std::fs::read_to_string(&sk).unwrap();
        // Given where a public key belongs, it is named as a secret key (issue 21).
        assert!(looks_like_secret_key(&text));
        let e = super::super::PublicKey::load(&sk).unwrap_err();
        assert!(e.to_string().contains("this is a secret key"), "{e}");
        let key = parse(&text, "k.key", &src).unwrap();
        let public = super::super::PublicKey::load(&pk).unwrap();
        assert_eq!(key.public_key(), public);
        let data = dir.path().join("data");
        std::fs::write(&data, b"signed by a minisign key").unwrap();
        let sig = super::super::sign(&key, b"signed by a minisign key", "comment").unwrap();
        std::fs::write(dir.path().join("data.minisig"), sig).unwrap();
        let out = std::process::Command::new("minisign")
            .args(["-V", "-p"])
            .arg(&pk)
            .arg("-m")
            .arg(&data)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // A wrong passphrase is named as such.
        std::fs::write(&pass, "wrong\n").unwrap();
        let e = parse(&text, "k.key", &src).unwrap_err();
        assert!(e.to_string().contains("wrong passphrase"), "{e}");
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,300}") {
            let src = PassphraseSource { file: Some("/nonexistent".into()) };
            let _ = parse(&s, "p", &src);
        }
    }
}
