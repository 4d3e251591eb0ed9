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
