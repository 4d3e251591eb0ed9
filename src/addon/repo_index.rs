//! A Helm chart repository's `index.yaml`: which archive (URL and sha256) is chart NAME at
//! VERSION. Indexes of big repositories run to tens of megabytes, so the file is read as a
//! stream and only the wanted chart's entries are kept (the version list for messages and
//! the one entry asked for); every other chart is skipped unparsed.

use std::fmt;
use std::io::Read;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::digest::Sha256Digest;

/// Largest `index.yaml` accepted.
pub const MAX_INDEX_BYTES: u64 = 128 * 1024 * 1024;

/// The entry of one chart version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// The version as the index writes it.
    pub version: String,
    /// The archive's sha256, when the index gives one.
    pub digest: Option<Sha256Digest>,
    /// Where the archive is (absolute, or relative to the repository URL).
    pub urls: Vec<String>,
}

/// What the index says about the chart asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lookup {
    /// The entry of the version asked for.
    pub entry: Option<IndexEntry>,
    /// Every version of the chart the index lists, in index order.
    pub versions: Vec<String>,
}

/// Find `chart` at `version` in an index read from `reader`. Errors are reasons (the
/// caller names the URL).
pub fn lookup<R: Read>(reader: R, chart: &str, version: &str) -> Result<Lookup, String> {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_reader_input_bytes = Some(MAX_INDEX_BYTES as usize);
    // A big repository's index has millions of nodes; the budget still bounds the work.
    budget.max_nodes = 50_000_000;
    budget.max_events = 100_000_000;
    let mut o = serde_saphyr::Options::default();
    o.budget = Some(budget);
    serde_saphyr::with_deserializer_from_reader_with_options(reader, o, |de| {
        IndexSeed { chart, version }.deserialize(de)
    })
    .map_err(|e| format!("not a chart repository index: {e}"))
}

struct IndexSeed<'a> {
    chart: &'a str,
    version: &'a str,
}

impl<'de> DeserializeSeed<'de> for IndexSeed<'_> {
    type Value = Lookup;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Lookup, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for IndexSeed<'_> {
    type Value = Lookup;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a chart repository index (a mapping with `entries`)")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Lookup, A::Error> {
        let mut out = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == "entries" {
                out = Some(map.next_value_seed(EntriesSeed {
                    chart: self.chart,
                    version: self.version,
                })?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        out.ok_or_else(|| serde::de::Error::custom("no `entries`"))
    }
}

struct EntriesSeed<'a> {
    chart: &'a str,
    version: &'a str,
}

impl<'de> DeserializeSeed<'de> for EntriesSeed<'_> {
    type Value = Lookup;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Lookup, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EntriesSeed<'_> {
    type Value = Lookup;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping of chart names to lists of versions")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Lookup, A::Error> {
        let mut out = Lookup::default();
        while let Some(key) = map.next_key::<String>()? {
            if key == self.chart {
                out = map.next_value_seed(VersionsSeed {
                    version: self.version,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(out)
    }
}

struct VersionsSeed<'a> {
    version: &'a str,
}

impl<'de> DeserializeSeed<'de> for VersionsSeed<'_> {
    type Value = Lookup;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Lookup, D::Error> {
        d.deserialize_seq(self)
    }
}

/// One version's entry: the fields airlock reads (the rest is skipped).
#[derive(Deserialize)]
struct RawEntry {
    version: Option<Value>,
    digest: Option<String>,
    #[serde(default)]
    urls: Vec<String>,
}

impl<'de> Visitor<'de> for VersionsSeed<'_> {
    type Value = Lookup;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of chart versions")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Lookup, A::Error> {
        let mut out = Lookup::default();
        while let Some(e) = seq.next_element::<RawEntry>()? {
            let version = match e.version {
                Some(Value::String(s)) => s,
                Some(Value::Number(n)) => n.to_string(),
                _ => continue,
            };
            // The wanted version also matches with or without a leading `v`, as in Helm.
            let same = version == self.version
                || version.strip_prefix('v') == Some(self.version)
                || self.version.strip_prefix('v') == Some(version.as_str());
            if same && out.entry.is_none() {
                let digest = match e.digest.as_deref().map(str::trim) {
                    None | Some("") => None,
                    Some(d) => Some(
                        Sha256Digest::from_hex(d.strip_prefix("sha256:").unwrap_or(d)).map_err(
                            |_| {
                                serde::de::Error::custom(format!(
                                    "version {version}: digest is not a sha256"
                                ))
                            },
                        )?,
                    ),
                };
                out.entry = Some(IndexEntry {
                    version: version.clone(),
                    digest,
                    urls: e.urls,
                });
            }
            if out.versions.len() < 10_000 {
                out.versions.push(version);
            }
        }
        Ok(out)
    }
}

/// The absolute URL of an index entry's archive: absolute URLs as they are, others
/// relative to the repository URL (as Helm resolves them). `None` for URLs airlock does
/// not fetch (other schemes, `..`, spaces or control characters).
pub fn archive_url(repo: &str, url: &str) -> Option<String> {
    if url.is_empty()
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
        || url.split(['/', '?', '#']).any(|s| s == "..")
    {
        return None;
    }
    if url.starts_with("https://") || url.starts_with("http://") {
        return Some(url.to_string());
    }
    if url.contains("://") {
        return None;
    }
    let base = repo.trim_end_matches('/');
    if let Some(abs) = url.strip_prefix('/') {
        let (scheme, rest) = base.split_once("://")?;
        let host = rest.split('/').next()?;
        return Some(format!("{scheme}://{host}/{abs}"));
    }
    Some(format!("{base}/{url}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    fn index() -> String {
        format!(
            r#"apiVersion: v1
entries:
  cert-manager:
    - {{name: cert-manager, version: v1.15.0, digest: "{H}", urls: [cert-manager-v1.15.0.tgz], annotations: {{a: b}}}}
  ingress-nginx:
    - apiVersion: v2
      name: ingress-nginx
      version: 4.11.2
      kubeVersion: '>=1.21.0-0'
      digest: {H}
      urls:
        - https://github.com/kubernetes/ingress-nginx/releases/download/helm-chart-4.11.2/ingress-nginx-4.11.2.tgz
    - name: ingress-nginx
      version: 4.11.1
      urls: [charts/ingress-nginx-4.11.1.tgz]
generated: "2026-11-20T10:00:00Z"
"#
        )
    }

    #[test]
    fn finds_the_version_and_lists_the_others() {
        let l = lookup(index().as_bytes(), "ingress-nginx", "4.11.2").unwrap();
        let e = l.entry.unwrap();
        assert_eq!(e.digest.unwrap().hex(), H);
        assert_eq!(e.urls.len(), 1);
        assert_eq!(l.versions, ["4.11.2", "4.11.1"]);
        let l = lookup(index().as_bytes(), "ingress-nginx", "9.9.9").unwrap();
        assert!(l.entry.is_none());
        let l = lookup(index().as_bytes(), "cert-manager", "1.15.0").unwrap();
        assert_eq!(l.entry.unwrap().version, "v1.15.0");
        assert!(
            lookup(index().as_bytes(), "nope", "1")
                .unwrap()
                .versions
                .is_empty()
        );
    }

    #[test]
    fn refuses_what_is_not_an_index() {
        assert!(lookup("- a\n- b\n".as_bytes(), "x", "1").is_err());
        assert!(lookup("apiVersion: v1\n".as_bytes(), "x", "1").is_err());
        assert!(
            lookup(
                "entries: {x: [{version: 1, digest: nothex}]}".as_bytes(),
                "x",
                "1"
            )
            .is_err()
        );
        assert!(lookup("entries: [unclosed".as_bytes(), "x", "1").is_err());
    }

    #[test]
    fn archive_urls_resolve_like_helm() {
        let r = "https://charts.example.com/stable";
        assert_eq!(
            archive_url(r, "x-1.0.0.tgz").unwrap(),
            "https://charts.example.com/stable/x-1.0.0.tgz"
        );
        assert_eq!(
            archive_url(&format!("{r}/"), "charts/x.tgz").unwrap(),
            "https://charts.example.com/stable/charts/x.tgz"
        );
        assert_eq!(
            archive_url(r, "/dl/x.tgz").unwrap(),
            "https://charts.example.com/dl/x.tgz"
        );
        assert_eq!(
            archive_url(r, "http://o.example/x.tgz").unwrap(),
            "http://o.example/x.tgz"
        );
        for bad in [
            "",
            "../x.tgz",
            "a/../../x.tgz",
            "oci://r/x",
            "ftp://x/y.tgz",
            "a b.tgz",
        ] {
            assert!(archive_url(r, bad).is_none(), "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn lookup_never_panics(s in "\\PC{0,400}") {
            let _ = lookup(s.as_bytes(), "x", "1.0.0");
        }
    }
}
