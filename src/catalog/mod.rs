//! The Kubernetes version catalog: which images, binaries and tools one Kubernetes version
//! needs, as data (`manifests/catalog/kubernetes.yaml`, documented in `docs/catalog.md`).
//!
//! The default catalog is compiled in; `--catalog FILE` replaces it at run time, so a new
//! patch release needs a data edit, not a new airlock. [`update`] derives a minor's facts
//! from upstream's own files at the release tags ([`sources`] parses them), [`compare`]
//! lists where two catalogs disagree, [`support`] says which minors are supported on a
//! given day, and [`plan`] finds the hops from one version to another. The file's types
//! are in `schema.rs`; the rules serde cannot express are in `validate.rs`.

pub mod compare;
pub mod date;
pub mod plan;
pub mod schedule;
mod schema;
pub mod sources;
pub mod support;
pub mod two_step;
pub mod update;
mod validate;

use std::path::Path;

use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::manifest::CatalogIdentity;
pub use date::Date;
pub use schema::{
    Binary, Catalog, CatalogImage, ChecksumFormat, Compatibility, Confidence, Defaults, Document,
    EarlierRemovedApi, KubeadmSkew, MinorEntry, MinorRange, MinorSkew, RemovedApi, ServedApis,
    ServedGroupVersion, ServedResource, Skew, Source, TagRow, TooOldKubelet, Tool, TwoStepOffer,
    Version, expand_template, is_catalog_version, parse_minor_key,
};
pub use validate::check_group_version;

/// The catalog format this version reads.
pub const CATALOG_FORMAT: u32 = 1;
/// Largest catalog file accepted.
pub const MAX_CATALOG_BYTES: u64 = 4 * 1024 * 1024;
/// The catalog compiled into airlock.
pub const DEFAULT_CATALOG: &str = include_str!("../../manifests/catalog/kubernetes.yaml");
/// How the default catalog is named in errors.
pub const DEFAULT_CATALOG_ORIGIN: &str = "<built-in manifests/catalog/kubernetes.yaml>";

/// A catalog and the identity of the bytes it was read from.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The catalog.
    pub catalog: Catalog,
    /// Its `catalog_version` and the sha256 of its bytes.
    pub identity: CatalogIdentity,
    /// Where it came from, for messages (a path, the built-in name, or "upstream").
    pub origin: String,
}

impl Loaded {
    /// Parse catalog bytes and remember their identity.
    pub fn from_bytes(bytes: &[u8], origin: &str) -> Result<Self> {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| Error::invalid("catalog", origin, "not UTF-8"))?;
        let catalog = Catalog::parse(text, origin)?;
        let identity = CatalogIdentity {
            version: catalog.catalog_version.clone(),
            sha256: Sha256Digest::of(bytes),
        };
        Ok(Loaded {
            catalog,
            identity,
            origin: origin.to_string(),
        })
    }

    /// The compiled-in catalog.
    pub fn builtin() -> Result<Self> {
        Self::from_bytes(DEFAULT_CATALOG.as_bytes(), DEFAULT_CATALOG_ORIGIN)
    }

    /// Read, parse and validate a catalog file.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = crate::fsutil::read_limited(path, MAX_CATALOG_BYTES, "catalog")?;
        Self::from_bytes(&bytes, &path.display().to_string())
    }

    /// `--catalog FILE`, or the built-in catalog.
    pub fn file_or_builtin(path: Option<&Path>) -> Result<Self> {
        match path {
            Some(p) => Self::load(p),
            None => Self::builtin(),
        }
    }
}

impl Catalog {
    /// The compiled-in catalog.
    pub fn builtin() -> Result<Self> {
        Self::parse(DEFAULT_CATALOG, DEFAULT_CATALOG_ORIGIN)
    }

    /// Read, parse and validate a catalog file.
    pub fn load(path: &Path) -> Result<Self> {
        Loaded::load(path).map(|l| l.catalog)
    }

    /// The catalog as a file: a header comment, then YAML. Deterministic; it reads back as
    /// the same catalog (checked).
    pub fn to_file_text(&self) -> Result<String> {
        let body =
            serde_saphyr::to_string(self).map_err(|e| Error::invalid("catalog", "<memory>", e))?;
        let text = format!(
            "# airlock Kubernetes catalog {}. Format and how to update it: docs/catalog.md.\n{body}",
            self.catalog_version
        );
        let again = Catalog::parse(&text, "<memory>")?;
        if &again != self {
            return Err(Error::invalid(
                "catalog",
                "<memory>",
                "internal error: the catalog does not read back identically",
            ));
        }
        Ok(text)
    }

    /// The document with this id.
    pub fn document(&self, id: &str) -> Option<&Document> {
        self.documents.iter().find(|d| d.id == id)
    }

    /// Parse and validate catalog text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let expect = airlock_verify::versioned::Expect {
            what: "catalog",
            format: CATALOG_FORMAT,
            kind: "airlock-kubernetes-catalog",
        };
        let catalog: Catalog =
            airlock_verify::versioned::parse::<crate::yaml::Yaml, _>(text, expect, origin)?;
        catalog
            .validate()
            .map_err(|reason| Error::invalid("catalog", origin, reason))?;
        Ok(catalog)
    }
    /// The entry of minor `"1.30"`.
    pub fn minor(&self, minor: &str) -> Option<&MinorEntry> {
        self.minors.iter().find(|m| m.minor == minor)
    }

    /// The entry of a version's minor.
    pub fn minor_of(&self, v: &Version) -> Option<&MinorEntry> {
        self.minor(&v.minor_key())
    }

    /// Newest known patch of minor `"1.30"`.
    pub fn latest_patch(&self, minor: &str) -> Option<u32> {
        self.minor(minor).map(|m| m.latest_patch)
    }

    /// The tag image `name` has in `minor` at `patch`: the last row with
    /// `from_patch <= patch`.
    pub fn image_tag(&self, minor: &str, name: &str, patch: u32) -> Option<&TagRow> {
        let img = self.minor(minor)?.images.iter().find(|i| i.name == name)?;
        img.tags.iter().rev().find(|r| r.from_patch <= patch)
    }

    /// The version is in the catalog (its minor is listed and the patch is not newer than
    /// `latest_patch`); the error says how to fix it.
    pub fn check_known(&self, v: &Version) -> std::result::Result<&MinorEntry, String> {
        let m = self.minor_of(v).ok_or_else(|| {
            let known = match (self.minors.first(), self.minors.last()) {
                (Some(a), Some(b)) => format!("it knows 1.{}..{}", &a.minor[2..], b.minor),
                _ => "it lists no minors".into(),
            };
            format!(
                "{v}: minor {} is not in the catalog ({known}); update it or pass a newer one with --catalog FILE",
                v.minor_key()
            )
        })?;
        if v.patch > m.latest_patch {
            return Err(format!(
                "{v}: the catalog knows {} up to v{}.{} (catalog may be outdated); update it or pass a newer one with --catalog FILE",
                m.minor, m.minor, m.latest_patch
            ));
        }
        Ok(m)
    }

    /// Every API version a cluster at `to` no longer serves: the deprecation guide's
    /// removals before the catalog's first minor (`earlier_removed_apis`, 1.16 on) and each
    /// listed minor's up to `to`, oldest first. A replacement that is itself removed by `to`
    /// is followed to the one still served (1.26's flowcontrol `v1beta2` -> `v1`), so the
    /// advice never names a version the target does not serve.
    pub fn removed_apis_up_to(&self, to: &Version) -> Vec<airlock_verify::cluster::RemovedApi> {
        use airlock_verify::cluster::RemovedApi as R;
        let mut out: Vec<R> = self
            .earlier_removed_apis
            .iter()
            .map(|r| R {
                group_version: r.group_version.clone(),
                kinds: r.kinds.clone(),
                replacement: r.replacement.clone(),
                removed_in: r.removed_in.clone(),
            })
            .collect();
        for m in &self.minors {
            if parse_minor_key(&m.minor).is_none_or(|n| n > to.minor) {
                continue;
            }
            out.extend(m.removed_apis.iter().map(|r| R {
                group_version: r.group_version.clone(),
                kinds: r.kinds.clone(),
                replacement: r.replacement.clone(),
                removed_in: m.minor.clone(),
            }));
        }
        let chained: Vec<Option<String>> = out
            .iter()
            .map(|r| still_served(&out, r.replacement.clone(), &r.kinds))
            .collect();
        for (r, c) in out.iter_mut().zip(chained) {
            r.replacement = c;
        }
        out
    }
}

/// `replacement`, or what replaced it when `removed` also lists it for one of `kinds`
/// (at most as many steps as entries, so a cycle in hand-edited data cannot loop).
fn still_served(
    removed: &[airlock_verify::cluster::RemovedApi],
    mut replacement: Option<String>,
    kinds: &[String],
) -> Option<String> {
    for _ in 0..removed.len() {
        let gv = replacement.as_deref()?;
        let Some(next) = removed.iter().find(|r| {
            r.group_version == gv
                && (r.kinds.is_empty()
                    || kinds.is_empty()
                    || r.kinds.iter().any(|k| kinds.contains(k)))
        }) else {
            break;
        };
        replacement = next.replacement.clone();
    }
    replacement
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    /// Issue 22: every removal since 1.16 (the deprecation guide,
    /// https://github.com/kubernetes/website/blob/main/content/en/docs/reference/using-api/deprecation-guide.md)
    /// reaches a hop's facts, each replacement one the target still serves.
    #[test]
    fn every_removal_since_1_16_is_known_up_to_the_target() {
        let c = Catalog::builtin().unwrap();
        let all = c.removed_apis_up_to(&"v1.33.1".parse().unwrap());
        let find = |gv: &str, kind: &str| {
            all.iter()
                .find(|r| r.group_version == gv && r.kinds.iter().any(|k| k == kind))
                .unwrap_or_else(|| panic!("{gv} {kind} missing"))
        };
        for (gv, kind, removed_in, replacement) in [
            ("extensions/v1beta1", "Deployment", "1.16", Some("apps/v1")),
            ("extensions/v1beta1", "PodSecurityPolicy", "1.16", None),
            (
                "extensions/v1beta1",
                "Ingress",
                "1.22",
                Some("networking.k8s.io/v1"),
            ),
            ("batch/v1beta1", "CronJob", "1.25", Some("batch/v1")),
            ("policy/v1beta1", "PodSecurityPolicy", "1.25", None),
            (
                "autoscaling/v2beta2",
                "HorizontalPodAutoscaler",
                "1.26",
                Some("autoscaling/v2"),
            ),
            (
                "flowcontrol.apiserver.k8s.io/v1beta1",
                "FlowSchema",
                "1.26",
                Some("flowcontrol.apiserver.k8s.io/v1"),
            ),
            (
                "storage.k8s.io/v1beta1",
                "CSIStorageCapacity",
                "1.27",
                Some("storage.k8s.io/v1"),
            ),
            (
                "flowcontrol.apiserver.k8s.io/v1beta3",
                "FlowSchema",
                "1.32",
                Some("flowcontrol.apiserver.k8s.io/v1"),
            ),
        ] {
            let r = find(gv, kind);
            assert_eq!(
                (r.removed_in.as_str(), r.replacement.as_deref()),
                (removed_in, replacement),
                "{gv} {kind}"
            );
        }
        assert!(!all.iter().any(|r| r.removed_in == "1.34"));
        // Before 1.32 flowcontrol v1beta3 is still served: the chain stops there.
        let older = c.removed_apis_up_to(&"v1.28.2".parse().unwrap());
        let fs = older
            .iter()
            .find(|r| r.group_version == "flowcontrol.apiserver.k8s.io/v1beta1")
            .unwrap();
        assert_eq!(
            fs.replacement.as_deref(),
            Some("flowcontrol.apiserver.k8s.io/v1beta2")
        );
    }

    /// Issue 21 item 19: the embedded data against upstream's own files. Alpha removals
    /// count (the discovery documents list every API); crictl is the pin of
    /// build/dependencies.yaml at the tag; a newest patch not read from stable-1.N.txt or a
    /// release page is marked uncertain and says why.
    #[test]
    fn builtin_catalog_agrees_with_upstreams_files() {
        let c = Catalog::builtin().unwrap();
        let removed = |minor: &str| -> Vec<String> {
            let m = c.minor(minor).unwrap();
            m.removed_apis
                .iter()
                .map(|r| r.group_version.clone())
                .collect()
        };
        assert!(removed("1.33").contains(&"admissionregistration.k8s.io/v1alpha1".into()));
        assert!(removed("1.34").contains(&"resource.k8s.io/v1alpha3".into()));
        assert!(removed("1.34").contains(&"networking.k8s.io/v1alpha1".into()));
        assert!(removed("1.35").contains(&"certificates.k8s.io/v1alpha1".into()));
        let crictl = |minor: &str| {
            let m = c.minor(minor).unwrap();
            m.tools
                .iter()
                .find(|t| t.name == "crictl")
                .unwrap()
                .version
                .clone()
        };
        assert_eq!(crictl("1.33"), "v1.32.0");
        assert_eq!(crictl("1.34"), "v1.33.0");
        for minor in ["1.35", "1.37"] {
            let m = c.minor(minor).unwrap();
            assert_eq!(
                m.latest_patch_confidence,
                Some(Confidence::Uncertain),
                "{minor}"
            );
            assert!(
                m.latest_patch_note
                    .as_deref()
                    .is_some_and(|n| n.contains("planned")),
                "{minor}"
            );
        }
    }

    #[test]
    fn builtin_catalog_loads() {
        let c = Catalog::builtin().unwrap();
        assert_eq!(c.format, 1);
        assert!(c.minor("1.30").is_some());
        assert_eq!(c.latest_patch("1.29"), Some(15));
    }

    #[test]
    fn version_parsing_is_strict() {
        assert_eq!(v("v1.30.2"), Version::new(30, 2));
        assert_eq!(v("v1.30.2").to_string(), "v1.30.2");
        for bad in [
            "1.30.2",
            "v1.30",
            "v1.30.2.1",
            "v2.0.0",
            "v1.030.2",
            "v1.30.02",
            "v1.30.x",
            "v1.30.-1",
            "v1..2",
            "V1.30.2",
            "v1.30.2-rc.1",
            " v1.30.2",
            "",
        ] {
            assert!(bad.parse::<Version>().is_err(), "{bad} accepted");
        }
        assert!(v("v1.9.0") < v("v1.10.0"));
    }

    #[test]
    fn tag_selection_takes_the_last_row_at_or_below_the_patch() {
        let c = Catalog::builtin().unwrap();
        let tag = |m: &str, n: &str, p: u32| c.image_tag(m, n, p).unwrap().tag.clone();
        assert_eq!(tag("1.30", "etcd", 0), "3.5.12-0");
        assert_eq!(tag("1.30", "etcd", 2), "3.5.12-0");
        assert_eq!(tag("1.30", "etcd", 5), "3.5.15-0");
        assert_eq!(tag("1.30", "etcd", 14), "3.5.15-0");
        assert_eq!(tag("1.29", "etcd", 2), "3.5.10-0");
        assert_eq!(tag("1.29", "etcd", 3), "3.5.12-0");
        assert_eq!(tag("1.29", "etcd", 15), "3.5.16-0");
        assert_eq!(tag("1.31", "coredns", 0), "v1.11.1");
        assert_eq!(tag("1.31", "coredns", 1), "v1.11.3");
        assert!(c.image_tag("1.99", "etcd", 0).is_none());
        assert!(c.image_tag("1.30", "nope", 0).is_none());
    }

    #[test]
    fn known_versions() {
        let c = Catalog::builtin().unwrap();
        assert!(c.check_known(&v("v1.30.2")).is_ok());
        let e = c.check_known(&v("v1.30.99")).unwrap_err();
        assert!(e.contains("--catalog"), "{e}");
        let e = c.check_known(&v("v1.12.0")).unwrap_err();
        assert!(e.contains("1.12"), "{e}");
    }

    #[test]
    fn validation_rejects_bad_catalogs() {
        let base = DEFAULT_CATALOG;
        let cases = [
            (
                base.replacen("format: 1", "format: 2", 1),
                "format 2 is not supported",
            ),
            (
                base.replacen("catalog_version:", "surprise: 1\ncatalog_version:", 1),
                "surprise",
            ),
            (
                base.replacen("source: [dl-k8s-io]", "source: [no-such-source]", 1),
                "no-such-source",
            ),
            (
                base.replacen(r#"minor: "1.28""#, r#"minor: "1.26""#, 1),
                "ascend",
            ),
            (
                base.replacen(
                    "{ from_patch: 0, tag: \"3.5.7-0\"",
                    "{ from_patch: 1, tag: \"3.5.7-0\"",
                    1,
                ),
                "from_patch: 0",
            ),
            (
                base.replacen(
                    "{ from_patch: 10, tag: \"3.5.10-0\"",
                    "{ from_patch: 5, tag: \"3.5.10-0\"",
                    1,
                ),
                "ascend",
            ),
            (
                base.replacen(
                    "/bin/linux/{arch}/kubeadm\"",
                    "/bin/linux/{arch}/{nope}\"",
                    1,
                ),
                "nope",
            ),
        ];
        for (text, needle) in cases {
            assert_ne!(text, base, "case for {needle} did not change the catalog");
            let e = Catalog::parse(&text, "t").unwrap_err().to_string();
            assert!(e.contains(needle), "{needle}: {e}");
        }
    }

    #[test]
    fn templates() {
        assert_eq!(
            expand_template(
                "a/{version}/{arch}",
                &[("version", "v1"), ("arch", "arm64")]
            )
            .unwrap(),
            "a/v1/arm64"
        );
        assert!(expand_template("a/{x}", &[]).is_err());
        assert!(expand_template("a/{x", &[("x", "1")]).is_err());
        assert!(expand_template("a/}x", &[]).is_err());
    }

    proptest::proptest! {
        #[test]
        fn version_parse_never_panics_and_round_trips(s in "\\PC{0,20}") {
            if let Ok(v) = s.parse::<Version>() {
                proptest::prop_assert_eq!(v.to_string(), s);
            }
        }

        #[test]
        fn catalog_parse_never_panics(s in "\\PC{0,300}") {
            let _ = Catalog::parse(&s, "prop");
        }
    }
}
