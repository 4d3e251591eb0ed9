//! Upstream's own files, where a release publishes its facts, and a strict parser for each.
//!
//! | source | canonical URL | parser |
//! |---|---|---|
//! | newest patch of a minor | `https://dl.k8s.io/release/stable-1.N.txt` | [`stable`] |
//! | images kubeadm deploys | `.../kubernetes/vX.Y.Z/cmd/kubeadm/app/constants/constants.go` | [`constants_go`] |
//! | crictl and CNI pins | `.../kubernetes/vX.Y.Z/build/dependencies.yaml` | [`dependencies`] |
//! | served APIs | `.../kubernetes/vX.Y.Z/api/discovery/{api,apis,aggregated_v2,api__v1}.json` (`aggregated_v2beta1.json` before 1.30) | [`discovery`] |
//! | release and end-of-life dates | `.../website/main/data/releases/{schedule,eol}.yaml` | [`website`] |
//!
//! Each parser takes the document's text and returns the facts or a reason that says what
//! was expected; it never guesses. The caller names the URL.

pub mod constants_go;
pub mod dependencies;
pub mod discovery;
pub mod stable;
pub mod website;

use crate::catalog::Version;
use crate::digest::Sha256Digest;
use crate::escape::Untrusted;

/// Where kubernetes/kubernetes files are read at a tag.
pub const K8S_RAW: &str = "https://raw.githubusercontent.com/kubernetes/kubernetes";
/// kubernetes/website release data (the `main` branch: it is kept current there).
pub const WEBSITE_RELEASES: &str =
    "https://raw.githubusercontent.com/kubernetes/website/main/data/releases";
/// The release bucket's version markers.
pub const DL_RELEASE: &str = "https://dl.k8s.io/release";

/// One upstream document airlock reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Doc {
    /// `stable-1.N.txt`.
    Stable(u32),
    /// kubeadm's `constants.go` at a tag.
    Constants(Version),
    /// `build/dependencies.yaml` at a tag.
    Dependencies(Version),
    /// One of the discovery documents at a tag.
    Discovery(Version, DiscoveryFile),
    /// `schedule.yaml` of the website.
    Schedule,
    /// `eol.yaml` of the website.
    Eol,
}

/// The discovery documents under `api/discovery/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DiscoveryFile {
    /// `api.json`: the core group's versions (`APIVersions`).
    Api,
    /// `api__v1.json`: the core group's resources (`APIResourceList`).
    CoreV1,
    /// `apis.json`: every other group and its versions (`APIGroupList`).
    Apis,
    /// `aggregated_v2.json`: every group's versions and resources (`APIGroupDiscoveryList`).
    Aggregated,
    /// `aggregated_v2beta1.json`: the same in `apidiscovery.k8s.io/v2beta1`, read at tags
    /// that have no `aggregated_v2.json` (apidiscovery v2 is GA from 1.30).
    AggregatedV2beta1,
}

impl DiscoveryFile {
    /// Every discovery file a tag is read for, in reading order (`AggregatedV2beta1` only
    /// when `Aggregated` is missing).
    pub const ALL: [DiscoveryFile; 4] = [
        DiscoveryFile::Api,
        DiscoveryFile::CoreV1,
        DiscoveryFile::Apis,
        DiscoveryFile::Aggregated,
    ];

    fn file_name(self) -> &'static str {
        match self {
            DiscoveryFile::Api => "api.json",
            DiscoveryFile::CoreV1 => "api__v1.json",
            DiscoveryFile::Apis => "apis.json",
            DiscoveryFile::Aggregated => "aggregated_v2.json",
            DiscoveryFile::AggregatedV2beta1 => "aggregated_v2beta1.json",
        }
    }

    fn id_name(self) -> &'static str {
        match self {
            DiscoveryFile::Api => "discovery-api",
            DiscoveryFile::CoreV1 => "discovery-api-v1",
            DiscoveryFile::Apis => "discovery-apis",
            DiscoveryFile::Aggregated => "discovery-aggregated-v2",
            DiscoveryFile::AggregatedV2beta1 => "discovery-aggregated-v2beta1",
        }
    }
}

impl Doc {
    /// The canonical URL (a `--mirror` maps it).
    pub fn url(&self) -> String {
        match self {
            Doc::Stable(minor) => format!("{DL_RELEASE}/stable-1.{minor}.txt"),
            Doc::Constants(v) => format!("{K8S_RAW}/{v}/cmd/kubeadm/app/constants/constants.go"),
            Doc::Dependencies(v) => format!("{K8S_RAW}/{v}/build/dependencies.yaml"),
            Doc::Discovery(v, f) => format!("{K8S_RAW}/{v}/api/discovery/{}", f.file_name()),
            Doc::Schedule => format!("{WEBSITE_RELEASES}/schedule.yaml"),
            Doc::Eol => format!("{WEBSITE_RELEASES}/eol.yaml"),
        }
    }

    /// Files at a release tag never change; the others (version markers, website data) do.
    pub fn is_immutable(&self) -> bool {
        matches!(
            self,
            Doc::Constants(_) | Doc::Dependencies(_) | Doc::Discovery(..)
        )
    }

    /// The catalog id of this document with this content: `NAME@TAG` for files at a tag,
    /// `NAME@SHA256PREFIX` for documents that change, so two readings of them can coexist.
    pub fn id(&self, sha256: &Sha256Digest) -> String {
        let short = &sha256.hex()[..12];
        match self {
            Doc::Stable(minor) => format!("stable-1.{minor}@{short}"),
            Doc::Constants(v) => format!("kubeadm-constants@{v}"),
            Doc::Dependencies(v) => format!("build-dependencies@{v}"),
            Doc::Discovery(v, f) => format!("{}@{v}", f.id_name()),
            Doc::Schedule => format!("website-schedule@{short}"),
            Doc::Eol => format!("website-eol@{short}"),
        }
    }

    /// The document to read instead when this one is missing (404).
    pub fn fallback(&self) -> Option<Doc> {
        match self {
            Doc::Discovery(v, DiscoveryFile::Aggregated) => {
                Some(Doc::Discovery(*v, DiscoveryFile::AggregatedV2beta1))
            }
            _ => None,
        }
    }

    /// Largest document accepted.
    pub fn limit(&self) -> usize {
        match self {
            Doc::Stable(_) => 1024,
            Doc::Discovery(..) => 16 * 1024 * 1024,
            _ => 2 * 1024 * 1024,
        }
    }
}

/// A line of upstream text, shortened and escaped, for an error message.
pub(crate) fn snippet(line: &str) -> String {
    let short: String = line.trim().chars().take(80).collect();
    let more = if line.trim().chars().count() > 80 {
        "..."
    } else {
        ""
    };
    format!("`{}{more}`", Untrusted(&short))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_urls_and_ids() {
        let v = Version::new(36, 2);
        assert_eq!(
            Doc::Constants(v).url(),
            "https://raw.githubusercontent.com/kubernetes/kubernetes/v1.36.2/cmd/kubeadm/app/constants/constants.go"
        );
        assert_eq!(
            Doc::Discovery(Version::new(36, 0), DiscoveryFile::Aggregated).url(),
            "https://raw.githubusercontent.com/kubernetes/kubernetes/v1.36.0/api/discovery/aggregated_v2.json"
        );
        assert_eq!(
            Doc::Stable(36).url(),
            "https://dl.k8s.io/release/stable-1.36.txt"
        );
        assert_eq!(
            Doc::Eol.url(),
            "https://raw.githubusercontent.com/kubernetes/website/main/data/releases/eol.yaml"
        );
        let d = Sha256Digest::of(b"x");
        assert_eq!(Doc::Constants(v).id(&d), "kubeadm-constants@v1.36.2");
        assert!(Doc::Schedule.id(&d).starts_with("website-schedule@"));
        assert!(Doc::Constants(v).is_immutable());
        assert!(!Doc::Stable(36).is_immutable());
    }
}
