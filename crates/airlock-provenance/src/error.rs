//! Why an artifact's provenance was refused: one variant per failure, each naming the
//! artifact. Variants that come from `sigstore-verify` keep its detail text.

use sigstore_verify::types::{Bundle, SignatureContent};

/// A refused provenance check or conversion.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProvenanceError {
    #[error("{artifact}: signed by {actual}, the policy wants {expected}")]
    WrongIdentity {
        artifact: String,
        expected: String,
        actual: String,
    },
    #[error("{artifact}: certificate issued for OIDC issuer {actual}, the policy wants {expected}")]
    WrongIssuer {
        artifact: String,
        expected: String,
        actual: String,
    },
    #[error(
        "{artifact}: the signing certificate does not chain to a CA of the trusted root: {detail}"
    )]
    UnknownCa { artifact: String, detail: String },
    #[error(
        "{artifact}: the signing time proven by the log is outside the certificate's (or its CA's) validity: {detail}"
    )]
    SigningTimeOutsideValidity { artifact: String, detail: String },
    #[error(
        "{artifact}: the certificate's signed certificate timestamp is missing or not from a trusted CT log: {detail}"
    )]
    BadSct { artifact: String, detail: String },
    #[error("{artifact}: the log entry names a log that is not in the trusted root: {detail}")]
    UnknownLog { artifact: String, detail: String },
    #[error("{artifact}: the log entry is for another artifact, signature or key: {detail}")]
    LogEntryForAnotherArtifact { artifact: String, detail: String },
    #[error("{artifact}: the inclusion proof does not lead to the log's root: {detail}")]
    BadInclusionProof { artifact: String, detail: String },
    #[error(
        "{artifact}: the checkpoint is not signed by the log's key or does not match the proof: {detail}"
    )]
    BadCheckpoint { artifact: String, detail: String },
    #[error(
        "{artifact}: the signed entry timestamp is missing or not signed by the log's key: {detail}"
    )]
    BadSignedEntryTimestamp { artifact: String, detail: String },
    #[error("{artifact}: the signature does not verify over this artifact: {detail}")]
    SignatureOverAnotherDigest { artifact: String, detail: String },
    #[error("{artifact}: the signed message digest is not this artifact's: {detail}")]
    BundleForAnotherArtifact { artifact: String, detail: String },
    #[error("{artifact}: the signed payload names {claimed}, the artifact is {expected}")]
    PayloadNamesAnotherDigest {
        artifact: String,
        claimed: String,
        expected: String,
    },
    #[error("{artifact}: the DSSE statement does not bind this image: {detail}")]
    DsseMismatch { artifact: String, detail: String },
    #[error("{artifact}: malformed {what}: {detail}")]
    Malformed {
        artifact: String,
        what: &'static str,
        detail: String,
    },
    #[error("{artifact}: {what} is {size} bytes, over the {limit}-byte limit")]
    TooLarge {
        artifact: String,
        what: &'static str,
        size: usize,
        limit: usize,
    },
    #[error("trusted root: {detail}")]
    BadTrustedRoot { detail: String },
    /// A root without a certificate authority or a transparency log: no keyless signature
    /// could pass against it, so it is refused as it is read rather than on first use.
    #[error("trusted root: lists no {missing}; no signature can be checked against it")]
    IncompleteTrustedRoot { missing: &'static str },
    #[error("{artifact}: verification did not establish {what}; refused")]
    Incomplete {
        artifact: String,
        what: &'static str,
    },
    #[error("{artifact}: signature refused: {detail}")]
    Other { artifact: String, detail: String },
}

impl ProvenanceError {
    pub(crate) fn malformed(artifact: &str, what: &'static str, detail: impl ToString) -> Self {
        Self::Malformed {
            artifact: artifact.to_owned(),
            what,
            detail: detail.to_string(),
        }
    }

    pub(crate) fn too_large(artifact: &str, what: &'static str, size: usize, limit: usize) -> Self {
        Self::TooLarge {
            artifact: artifact.to_owned(),
            what,
            size,
            limit,
        }
    }

    /// Names a `sigstore-verify` refusal by what it means for airlock.
    pub(crate) fn from_sigstore(artifact: &str, err: sigstore_verify::Error) -> Self {
        use sigstore_verify::{CertificateError as C, Error as E, TransparencyLogError as T};
        let artifact = artifact.to_owned();
        let detail = err.to_string();
        match err {
            E::IdentityMismatch { expected, actual } => Self::WrongIdentity {
                artifact,
                expected: expected.to_string(),
                actual: actual.map_or_else(|| "no identity".into(), |a| a.as_str().to_owned()),
            },
            E::IssuerMismatch { expected, actual } => Self::WrongIssuer {
                artifact,
                expected,
                actual: actual.unwrap_or_else(|| "no issuer".into()),
            },
            E::SignatureInvalid(_) => Self::SignatureOverAnotherDigest { artifact, detail },
            E::ArtifactMismatch(_) => Self::BundleForAnotherArtifact { artifact, detail },
            E::Certificate(C::ChainInvalid(_)) => Self::UnknownCa { artifact, detail },
            E::Certificate(
                C::NoValidAuthority { .. } | C::NotYetValid { .. } | C::Expired { .. },
            )
            | E::TransparencyLog(T::IntegratedTime(_)) => {
                Self::SigningTimeOutsideValidity { artifact, detail }
            }
            E::Certificate(C::Sct(_)) => Self::BadSct { artifact, detail },
            E::Certificate(_) => Self::malformed(&artifact, "signing certificate", detail),
            E::TransparencyLog(T::UnknownLog { .. }) => Self::UnknownLog { artifact, detail },
            E::TransparencyLog(T::InclusionProof(_)) => {
                Self::BadInclusionProof { artifact, detail }
            }
            E::TransparencyLog(T::Checkpoint(_)) => Self::BadCheckpoint { artifact, detail },
            E::TransparencyLog(T::InclusionPromise(_)) => {
                Self::BadSignedEntryTimestamp { artifact, detail }
            }
            E::TransparencyLog(T::EntryMismatch(_)) => {
                Self::LogEntryForAnotherArtifact { artifact, detail }
            }
            E::TransparencyLog(_) => Self::malformed(&artifact, "log entry", detail),
            E::InvalidBundle(_) | E::UnsupportedBundle(_) | E::Bundle(_) | E::Types(_) => {
                Self::malformed(&artifact, "Sigstore bundle", detail)
            }
            E::InvalidTrustRoot(_) | E::TrustRoot(_) | E::TrustedCertificate(_) => {
                Self::BadTrustedRoot { detail }
            }
            _ => Self::Other { artifact, detail },
        }
    }
}

/// Names a sigstore-verify refusal, using the (unverified) bundle where the error kind
/// alone is ambiguous: a chain that fails because the log's time is outside the leaf's
/// validity is that, not an unknown CA; an artifact mismatch is the log entry's for a
/// message signature and the statement subject's for DSSE.
pub(crate) fn refusal(name: &str, err: sigstore_verify::Error, bundle: &Bundle) -> ProvenanceError {
    use sigstore_verify::{CertificateError, Error};
    let detail = err.to_string();
    match &err {
        Error::Certificate(CertificateError::ChainInvalid(_)) if time_outside_leaf(bundle) => {
            ProvenanceError::SigningTimeOutsideValidity {
                artifact: name.to_owned(),
                detail,
            }
        }
        Error::ArtifactMismatch(_) => match bundle.content {
            SignatureContent::DsseEnvelope(_) => ProvenanceError::DsseMismatch {
                artifact: name.to_owned(),
                detail,
            },
            _ => ProvenanceError::LogEntryForAnotherArtifact {
                artifact: name.to_owned(),
                detail,
            },
        },
        _ => ProvenanceError::from_sigstore(name, err),
    }
}

fn time_outside_leaf(bundle: &Bundle) -> bool {
    let (Some(cert), Some(time)) = (
        bundle.signing_certificate(),
        bundle
            .verification_material
            .tlog_entries
            .first()
            .and_then(|e| e.integrated_time),
    ) else {
        return false;
    };
    sigstore_verify::crypto::parse_certificate_info(cert)
        .is_ok_and(|info| time < info.not_before || time > info.not_after)
}
