//! The signing half of airlock's trust: secret keys and the signatures made with them.
//!
//! Kept apart from [`crate::trust`] (which reads public keys and signatures and counts
//! signers) so a reviewer of the verify path can skip it: nothing `verify` calls is in
//! here. The connected side signs bundles with it; the enclave signs its own state and
//! receipts, and reads the secret keys an operator hands over (`--receipt-key`).
//!
//! - [`SecretKey`]: generated, PKCS#8 PEM (plain or passphrase-encrypted);
//! - [`write_keypair`]: a new pair on disk, written atomically;
//! - [`load_secret_key`]: airlock's PEM or minisign's own secret key file, with its key
//!   derivation bounded first ([`kdf_limits`]) and the passphrase from [`PassphraseSource`];
//! - [`sign`]: a minisign `.minisig` file with a trusted comment, made by any [`Signer`]
//!   (a [`SecretKey`], or a key on a PKCS#11 token with the `pkcs11` feature, issue 24);
//! - [`open_signer`]: a `--key` argument, a file or a `pkcs11:` URI ([`Pkcs11Uri`]).

pub mod kdf_limits;
mod key_file;
mod keypair;
pub(crate) mod minisign_key;
mod passphrase;
#[cfg(feature = "pkcs11")]
pub mod pkcs11;
mod pkcs11_uri;
mod secret_key;
mod signature;
mod signer;

pub use key_file::{load_secret_key, load_secret_key_with};
pub use keypair::{KeyPairPaths, Protection, write_keypair, write_token_keypair};
pub use passphrase::{PASSPHRASE_ENV, PassphraseSource};
pub use pkcs11_uri::{PKCS11_MODULE_ENV, PKCS11_PIN_ENV, Pkcs11Uri};
pub use secret_key::SecretKey;
pub use signature::{sign, sign_digest};
pub use signer::{KeySecrets, PKCS11_PREFIX, Signer, open_signer};

// What the moved files reach through `super::`.
use crate::trust::{
    KeyId, PublicKey, SECRET_KEY_MAX_BYTES, TrustError, Zeroizing, read_limited, with_artifact,
};
