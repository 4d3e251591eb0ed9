//! Bounds on the key derivation a secret key file asks for, checked before deriving.
//!
//! A key file is input: its parameters alone decide how much memory and time the
//! derivation takes (a minisign key with opslimit 2^40 gives scrypt p = 32768, a day of
//! work; a PKCS#8 key with scrypt N = 2^24 allocates 16 GiB; PBKDF2 with 4x10^9
//! iterations runs for tens of minutes). Every key minisign, OpenSSL or airlock makes
//! with their defaults is inside these bounds.

/// Largest scrypt work in libsodium's unit (opslimit, about 4 * N * r * p): minisign's own
/// default for secret keys (`crypto_pwhash_scryptsalsa208sha256_OPSLIMIT_SENSITIVE`),
/// the most `minisign -G` ever asks for.
pub const MAX_SCRYPT_OPS: u64 = 33_554_432;
/// Largest scrypt memory, 128 * N * r bytes (libsodium's memlimit): minisign's default
/// (`MEMLIMIT_SENSITIVE`, 1 GiB).
pub const MAX_SCRYPT_MEMORY: u64 = 1_073_741_824;
/// Largest PBKDF2 iteration count: above OWASP's 2023 advice for the slowest common
/// choice (1,300,000 for HMAC-SHA1), so sensible keys pass; seconds, not minutes.
pub const MAX_PBKDF2_ITERATIONS: u32 = 2_000_000;
/// Longest derived key: the ciphers PKCS#8 uses take at most 32 bytes (AES-256).
pub const MAX_DERIVED_KEY_BYTES: u16 = 32;

/// Refuse scrypt parameters (N = 2^`log_n`, `r`, `p`) whose memory or work is above the
/// bounds; the reason names the value and the bound.
pub fn check_scrypt(log_n: u8, r: u32, p: u32) -> Result<(), String> {
    if log_n >= 64 {
        return Err(format!("scrypt N = 2^{log_n} is out of range"));
    }
    let n = 1u128 << log_n;
    let memory = 128 * n * u128::from(r);
    if memory > u128::from(MAX_SCRYPT_MEMORY) {
        return Err(format!(
            "scrypt N = 2^{log_n}, r = {r} needs {memory} bytes of memory, more than the \
             {MAX_SCRYPT_MEMORY} airlock accepts (minisign's default)"
        ));
    }
    let work = 4 * n * u128::from(r) * u128::from(p);
    if work > u128::from(MAX_SCRYPT_OPS) {
        return Err(format!(
            "scrypt N = 2^{log_n}, r = {r}, p = {p} is {work} units of work, more than the \
             {MAX_SCRYPT_OPS} airlock accepts (minisign's default)"
        ));
    }
    Ok(())
}

/// Refuse a PBKDF2 iteration count above the bound.
pub fn check_pbkdf2(iterations: u32) -> Result<(), String> {
    if iterations > MAX_PBKDF2_ITERATIONS {
        return Err(format!(
            "PBKDF2 with {iterations} iterations, more than the {MAX_PBKDF2_ITERATIONS} \
             airlock accepts"
        ));
    }
    Ok(())
}

/// Refuse a derived key length above the bound (or zero).
pub fn check_key_length(len: Option<u16>) -> Result<(), String> {
    match len {
        Some(n) if n == 0 || n > MAX_DERIVED_KEY_BYTES => Err(format!(
            "derived key length {n} bytes; expected 1 to {MAX_DERIVED_KEY_BYTES}"
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_of_minisign_openssl_and_airlock_pass() {
        check_scrypt(20, 8, 1).unwrap(); // minisign -G
        check_scrypt(14, 8, 16).unwrap(); // openssl pkcs8 -scrypt
        check_scrypt(15, 8, 1).unwrap(); // airlock keygen
        check_pbkdf2(2048).unwrap(); // openssl pkcs8 -v2
        check_pbkdf2(600_000).unwrap(); // OWASP, SHA-256
    }

    #[test]
    fn hostile_parameters_are_refused() {
        assert!(check_scrypt(24, 8, 1).is_err());
        assert!(check_scrypt(20, 8, 32768).is_err());
        assert!(check_scrypt(63, u32::MAX, u32::MAX).is_err());
        assert!(check_scrypt(64, 1, 1).is_err());
        assert!(check_pbkdf2(4_000_000_000).is_err());
        assert!(check_key_length(Some(65535)).is_err());
        assert!(check_key_length(Some(0)).is_err());
    }
}
