//! Who must have signed an artifact: a keyless identity (certificate SAN) and the OIDC
//! issuer that vouched for it, compared byte for byte (no patterns).

use std::borrow::Cow;

/// A keyless signer: the certificate's subject alternative name and its OIDC issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The SAN (an email for Google service accounts, a URI for workload identities).
    pub san: Cow<'static, str>,
    /// The OIDC issuer URL (Fulcio extension 1.3.6.1.4.1.57264.1.8, or .1.1).
    pub issuer: Cow<'static, str>,
}

impl Identity {
    /// An identity given at run time (an add-on's `provenance:` entry).
    pub fn new(san: impl Into<String>, issuer: impl Into<String>) -> Self {
        Self {
            san: Cow::Owned(san.into()),
            issuer: Cow::Owned(issuer.into()),
        }
    }
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (issuer {})", self.san, self.issuer)
    }
}

/// Google's OIDC issuer, which vouches for both Kubernetes release identities.
pub const GOOGLE_ISSUER: &str = "https://accounts.google.com";

/// Who signs every image on registry.k8s.io.
///
/// Source: kubernetes/website
/// `content/en/docs/tasks/administer-cluster/verify-signed-artifacts.md`
/// (<https://kubernetes.io/docs/tasks/administer-cluster/verify-signed-artifacts/>),
/// confirmed by SIG Release in kubernetes/website PR #41071.
pub const KUBERNETES_IMAGES: Identity = Identity {
    san: Cow::Borrowed("krel-trust@k8s-releng-prod.iam.gserviceaccount.com"),
    issuer: Cow::Borrowed(GOOGLE_ISSUER),
};

/// Who signs the binaries, tarballs and SPDX documents on dl.k8s.io (`.sig` + `.cert`
/// beside each file). Source: as [`KUBERNETES_IMAGES`].
pub const KUBERNETES_FILES: Identity = Identity {
    san: Cow::Borrowed("krel-staging@k8s-releng-prod.iam.gserviceaccount.com"),
    issuer: Cow::Borrowed(GOOGLE_ISSUER),
};

/// The registry whose images Kubernetes signs as [`KUBERNETES_IMAGES`] (resolve checks
/// them, and the enclave requires evidence for them).
pub const KUBERNETES_REGISTRY: &str = "registry.k8s.io";
/// Where Kubernetes publishes the release files it signs as [`KUBERNETES_FILES`].
pub const KUBERNETES_DOWNLOADS: &str = "https://dl.k8s.io/";

/// A cosign key pair's public half (`cosign.pub`): signatures made with the private key,
/// logged in Rekor like keyless ones, but with no certificate and so no identity.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    der: Vec<u8>,
    sha256: String,
    /// The PEM text as given, carried into the bundle so the enclave re-checks with it.
    pem: String,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey(sha256 {})", self.sha256)
    }
}

impl PublicKey {
    /// Reads one `PUBLIC KEY` PEM block (what `cosign generate-key-pair` and `openssl ec
    /// -pubout` write); only ECDSA P-256, cosign's key type, is accepted.
    pub fn from_pem(origin: &str, pem: &str) -> Result<Self, crate::ProvenanceError> {
        use sigstore_verify::crypto::KeyAlgorithm;
        let bad = |d: String| crate::ProvenanceError::malformed(origin, "cosign public key", d);
        let key =
            sigstore_verify::types::DerPublicKey::from_pem(pem).map_err(|e| bad(e.to_string()))?;
        match KeyAlgorithm::from_spki(&key) {
            Ok(KeyAlgorithm::EcdsaP256) => {}
            Ok(other) => return Err(bad(format!("a {other:?} key; cosign keys are ECDSA P-256"))),
            Err(e) => return Err(bad(e.to_string())),
        }
        let der = key.as_bytes().to_vec();
        use sha2::Digest as _;
        let sha256 = hex::encode(sha2::Sha256::digest(&der));
        Ok(Self {
            der,
            sha256,
            pem: pem.to_owned(),
        })
    }

    /// The PEM text the key was read from.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// What the lock and report show as the signer: `key sha256:<hex of the DER SPKI>`.
    pub fn label(&self) -> String {
        format!("key sha256:{}", self.sha256)
    }
}

impl std::fmt::Display for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label())
    }
}

/// Who must have signed an artifact: a keyless signer or the holder of a cosign key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Policy {
    /// Certificate SAN and OIDC issuer, exactly.
    Keyless(Identity),
    /// A cosign public key.
    Key(PublicKey),
}

impl std::fmt::Display for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Keyless(i) => i.fmt(f),
            Self::Key(k) => k.fmt(f),
        }
    }
}
