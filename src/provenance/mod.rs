//! Upstream provenance on the connected side (issue 23): finding the Sigstore evidence of
//! what the lock pins and turning it into one bundle per artifact, checked offline by
//! `airlock_provenance::check_artifact`. So far: the Rekor lookups (`rekor`). Discovery in
//! registries, the lock fields and the resolve wiring come next (docs/design/provenance.md §6).

pub mod rekor;
pub mod trusted_root;
