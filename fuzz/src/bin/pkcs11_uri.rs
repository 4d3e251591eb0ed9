//! Fuzz target: see `airlock_fuzz::pkcs11_uri`.
airlock_fuzz::main!(airlock_fuzz::pkcs11_uri);
