//! Section 1, the summary: what changes, where, when, and what the bundle's bytes are.

use std::collections::BTreeMap;

use crate::manifest::{BundleManifest, Entry};
use crate::report::{Inputs, Summary};

/// The summary of `i`'s bundle (empty fields without a manifest).
pub(crate) fn build(i: &Inputs<'_>) -> Summary {
    let m = i.manifest;
    Summary {
        from: m.and_then(|m| m.hop.as_ref()).map(|h| h.from.clone()),
        to: m.and_then(|m| m.hop.as_ref()).map(|h| h.to.clone()),
        channel: m.and_then(|m| m.channel.clone()),
        sequence: m.and_then(|m| m.sequence),
        not_before: m.and_then(|m| m.not_before).map(|t| t.to_string()),
        expires: m.and_then(|m| m.expires).map(|t| t.to_string()),
        manifest_sha256: i.manifest_sha256.clone(),
        payload_sha256: m.map(|m| m.payload.sha256.hex()).unwrap_or_default(),
        payload_bytes: m.map(|m| m.payload.size).unwrap_or(0),
        content_bytes: m
            .map(|m| m.entries.iter().map(|e| e.size).sum())
            .unwrap_or(0),
        images: m.map(|m| m.images.len()).unwrap_or(0),
        blobs: m
            .map(|m| {
                m.entries
                    .iter()
                    .filter(|e| e.path.to_string().starts_with("blobs/"))
                    .count()
            })
            .unwrap_or(0),
        files: m.map(|m| m.files.len()).unwrap_or(0),
        bytes_by_kind: m.map(bytes_by_kind).unwrap_or_default(),
        target_end_of_life: i.facts.and_then(|f| f.target_end_of_life.clone()),
    }
}

/// What the payload's bytes are made of, largest first (ties by label, so the order is
/// stable).
fn bytes_by_kind(m: &BundleManifest) -> Vec<(String, u64)> {
    let mut by_kind: BTreeMap<String, u64> = BTreeMap::new();
    for e in &m.entries {
        *by_kind.entry(kind_label(e).to_string()).or_default() += e.size;
    }
    let mut sorted: Vec<(String, u64)> = by_kind.into_iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    sorted
}

/// The label an entry's bytes are counted under, from its media type.
fn kind_label(e: &Entry) -> &'static str {
    if e.media_type.contains("layer") {
        "image layers"
    } else if e.media_type.contains("config") {
        "image configs"
    } else if e.media_type.starts_with("application/vnd.airlock.file.") {
        match e.media_type.rsplit('.').next().unwrap_or("file") {
            "binary" => "Kubernetes binaries",
            "tool" => "node tools",
            "manifest" | "chart" => "add-on manifests and charts",
            "package" | "package-metadata" => "node packages",
            _ => "other files",
        }
    } else {
        "image manifests and layout"
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture;
    use super::*;

    #[test]
    fn says_what_where_when_and_what_the_bytes_are() {
        let (m, f) = (fixture::manifest(), fixture::facts());
        let s = build(&Inputs {
            manifest: Some(&m),
            manifest_sha256: Some("abc".into()),
            facts: Some(&f),
            ..Default::default()
        });
        assert_eq!(s.from.as_deref(), Some("v1.29.6"));
        assert_eq!(s.to.as_deref(), Some("v1.30.2"));
        assert_eq!(
            (s.channel.as_deref(), s.sequence),
            (Some("site-a"), Some(7))
        );
        assert_eq!(s.not_before.as_deref(), Some("2026-12-01T08:00:00Z"));
        assert_eq!(s.expires.as_deref(), Some("2026-12-04T08:00:00Z"));
        assert_eq!(s.manifest_sha256.as_deref(), Some("abc"));
        assert_eq!(s.payload_sha256, "a".repeat(64));
        assert_eq!((s.payload_bytes, s.content_bytes), (5000, 5050));
        assert_eq!((s.images, s.blobs, s.files), (5, 2, 1));
        assert_eq!(s.target_end_of_life.as_deref(), Some("2025-07-15"));
        let kinds: Vec<(&str, u64)> = s
            .bytes_by_kind
            .iter()
            .map(|(k, n)| (k.as_str(), *n))
            .collect();
        assert_eq!(
            kinds,
            [
                ("image layers", 4000),
                ("Kubernetes binaries", 1000),
                ("image manifests and layout", 30),
                ("image configs", 20)
            ]
        );
    }

    #[test]
    fn without_a_manifest_is_empty_not_an_error() {
        let s = build(&Inputs::default());
        assert_eq!((s.from, s.payload_bytes, s.images), (None, 0, 0));
        assert!(s.payload_sha256.is_empty() && s.bytes_by_kind.is_empty());
    }

    #[test]
    fn labels_airlock_files_by_their_kind() {
        let label = |media_type: &str| {
            let mut e = fixture::manifest().entries.remove(0);
            e.media_type = media_type.into();
            kind_label(&e)
        };
        assert_eq!(label("application/vnd.airlock.file.tool"), "node tools");
        assert_eq!(
            label("application/vnd.airlock.file.chart"),
            "add-on manifests and charts"
        );
        assert_eq!(
            label("application/vnd.airlock.file.package-metadata"),
            "node packages"
        );
        assert_eq!(label("application/vnd.airlock.file.other"), "other files");
    }
}
