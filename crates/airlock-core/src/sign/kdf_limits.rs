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

/// Why a secret key file's key derivation is refused; each names the value and the bound.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KdfError {
    /// scrypt N beyond any representable size.
    #[error("scrypt N = 2^{log_n} is out of range")]
    ScryptRange {
        /// log2(N).
        log_n: u8,
    },
    /// scrypt memory above [`MAX_SCRYPT_MEMORY`].
    #[error(
        "scrypt N = 2^{log_n}, r = {r} needs {memory} bytes of memory, more than the \
         {MAX_SCRYPT_MEMORY} airlock accepts (minisign's default)"
    )]
    ScryptMemory {
        /// log2(N).
        log_n: u8,
        /// r.
        r: u32,
        /// Bytes it needs.
        memory: u128,
    },
    /// scrypt work above [`MAX_SCRYPT_OPS`].
    #[error(
        "scrypt N = 2^{log_n}, r = {r}, p = {p} is {work} units of work, more than the \
         {MAX_SCRYPT_OPS} airlock accepts (minisign's default)"
    )]
    ScryptWork {
        /// log2(N).
        log_n: u8,
        /// r.
        r: u32,
        /// p.
        p: u32,
        /// Its work, in libsodium's unit.
        work: u128,
    },
    /// A minisign key's opslimit or memlimit above minisign's own default.
    #[error(
        "scrypt {name} {value} is more than the {max} airlock accepts (minisign's own \
         default); not derived"
    )]
    ScryptLimit {
        /// `opslimit` or `memlimit`.
        name: &'static str,
        /// The key file's value.
        value: u64,
        /// The bound.
        max: u64,
    },
    /// scrypt p out of range.
    #[error("scrypt p = {p} is out of range")]
    ScryptP {
        /// p.
        p: u64,
    },
    /// scrypt N that is not a power of two.
    #[error("scrypt N = {n} is not a power of two")]
    ScryptNotPowerOfTwo {
        /// N.
        n: u64,
    },
    /// Parameters the scrypt crate refuses.
    #[error("scrypt parameters: {reason}")]
    ScryptParams {
        /// The scrypt crate's reason.
        reason: String,
    },
    /// PBKDF2 iterations above [`MAX_PBKDF2_ITERATIONS`].
    #[error(
        "PBKDF2 with {iterations} iterations, more than the {MAX_PBKDF2_ITERATIONS} \
         airlock accepts"
    )]
    Pbkdf2 {
        /// The iteration count.
        iterations: u32,
    },
    /// A derived key of zero or more than [`MAX_DERIVED_KEY_BYTES`] bytes.
    #[error("derived key length {len} bytes; expected 1 to {MAX_DERIVED_KEY_BYTES}")]
    KeyLength {
        /// The length asked for.
        len: u16,
    },
    /// PKCS#5 v1 encryption.
    #[error("PBES1 encryption is not supported (use PBES2)")]
    Pbes1,
    /// A key derivation other than PBKDF2 and scrypt.
    #[error("unknown key derivation function")]
    UnknownKdf,
}

/// Refuse scrypt parameters (N = 2^`log_n`, `r`, `p`) whose memory or work is above the
/// bounds.
pub fn check_scrypt(log_n: u8, r: u32, p: u32) -> Result<(), KdfError> {
    if log_n >= 64 {
        return Err(KdfError::ScryptRange { log_n });
    }
    let n = 1u128 << log_n;
    let memory = 128 * n * u128::from(r);
    if memory > u128::from(MAX_SCRYPT_MEMORY) {
        return Err(KdfError::ScryptMemory { log_n, r, memory });
    }
    let work = 4 * n * u128::from(r) * u128::from(p);
    if work > u128::from(MAX_SCRYPT_OPS) {
        return Err(KdfError::ScryptWork { log_n, r, p, work });
    }
    Ok(())
}

/// Refuse a PBKDF2 iteration count above the bound.
pub fn check_pbkdf2(iterations: u32) -> Result<(), KdfError> {
    if iterations > MAX_PBKDF2_ITERATIONS {
        return Err(KdfError::Pbkdf2 { iterations });
    }
    Ok(())
}

/// Refuse a derived key length above the bound (or zero).
pub fn check_key_length(len: Option<u16>) -> Result<(), KdfError> {
    match len {
        Some(n) if n == 0 || n > MAX_DERIVED_KEY_BYTES => Err(KdfError::KeyLength { len: n }),
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
        let memory = 128 * (1 << 24) * 8;
        let e = check_scrypt(24, 8, 1);
        assert_eq!(
            e,
            Err(KdfError::ScryptMemory {
                log_n: 24,
                r: 8,
                memory
            })
        );
        assert!(matches!(
            check_scrypt(20, 8, 32768),
            Err(KdfError::ScryptWork { p: 32768, .. })
        ));
        assert!(matches!(
            check_scrypt(63, u32::MAX, u32::MAX),
            Err(KdfError::ScryptMemory { .. })
        ));
        assert_eq!(
            check_scrypt(64, 1, 1),
            Err(KdfError::ScryptRange { log_n: 64 })
        );
        let iterations = 4_000_000_000;
        assert_eq!(
            check_pbkdf2(iterations),
            Err(KdfError::Pbkdf2 { iterations })
        );
        assert_eq!(
            check_key_length(Some(65535)),
            Err(KdfError::KeyLength { len: 65535 })
        );
        assert_eq!(
            check_key_length(Some(0)),
            Err(KdfError::KeyLength { len: 0 })
        );
    }
}
