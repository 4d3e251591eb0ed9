//! The official Kubernetes CVE feed (JSON Feed 1.1, kubernetes.io
//! `docs/reference/issues-security/official-cve-feed/index.json`) and which CVEs a hop
//! fixes.
//!
//! The feed has no structured fixed-version field: the versions are prose in
//! `content_text` ("Fixed Versions: kube-apiserver v1.25.1 ..."). They are read from the
//! text; a CVE whose versions cannot be read is listed as such, never guessed.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Largest feed read.
pub const MAX_FEED_BYTES: u64 = 32 * 1024 * 1024;

#[derive(Deserialize)]
struct Feed {
    version: String,
    items: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    id: String,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    content_text: Option<String>,
}

/// What a hop means for one CVE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CveStatus {
    /// Fixed in a version the hop reaches, and not in the version it leaves.
    FixedByHop,
    /// Already fixed in the version the cluster runs.
    AlreadyFixed,
    /// No fixed version at or below the target in the hop's minor.
    NotFixed,
    /// The item's text names no version airlock can read.
    VersionsUnreadable,
}

/// One CVE and the hop.
#[derive(Debug, Clone, Serialize)]
pub struct CveFinding {
    /// `CVE-YYYY-NNNN`.
    pub id: String,
    /// Its page.
    pub url: Option<String>,
    /// One line.
    pub summary: String,
    /// The fixed versions read from the text.
    pub fixed_versions: Vec<String>,
    /// What the hop does about it.
    pub status: CveStatus,
}

/// Parse a feed and judge every item against the hop `from -> to` (`(minor, patch)`
/// pairs of Kubernetes 1.x).
pub fn evaluate(
    bytes: &[u8],
    origin: &str,
    from: (u32, u32),
    to: (u32, u32),
) -> Result<Vec<CveFinding>> {
    let feed: Feed = serde_json::from_slice(bytes).map_err(|e| {
        Error::invalid(
            "CVE feed",
            origin,
            format!("not the JSON Feed of the official Kubernetes CVE feed ({e})"),
        )
    })?;
    if !feed.version.starts_with("https://jsonfeed.org/version/1") {
        return Err(Error::invalid(
            "CVE feed",
            origin,
            format!("version {:?} is not a JSON Feed 1.x", feed.version),
        ));
    }
    Ok(feed
        .items
        .into_iter()
        .map(|i| {
            let text = i.content_text.unwrap_or_default();
            let fixed = fixed_versions(&text);
            let status = status(&fixed, from, to);
            CveFinding {
                id: i.id,
                url: i.url,
                summary: i.summary.unwrap_or_default(),
                fixed_versions: fixed.iter().map(|(a, b)| format!("v1.{a}.{b}")).collect(),
                status,
            }
        })
        .collect())
}

/// Versions `v1.N.M` named after "fixed" in the text (the "Fixed Versions" section, or
/// sentences like "fixed in v1.25.1").
fn fixed_versions(text: &str) -> Vec<(u32, u32)> {
    let lower = text.to_ascii_lowercase();
    let Some(start) = lower.find("fixed") else {
        return Vec::new();
    };
    // Up to the next section heading, if any.
    let rest = &text[start..];
    let end = rest[5..].find("\n#").map(|i| i + 5).unwrap_or(rest.len());
    let mut out = Vec::new();
    for word in rest[..end].split(|c: char| !(c.is_ascii_alphanumeric() || c == '.')) {
        if let Some((1, minor, patch)) = airlock_verify::cluster::parse_version(word)
            && !out.contains(&(minor, patch))
        {
            out.push((minor, patch));
        }
    }
    out
}

fn status(fixed: &[(u32, u32)], from: (u32, u32), to: (u32, u32)) -> CveStatus {
    if fixed.is_empty() {
        return CveStatus::VersionsUnreadable;
    }
    // A version has the fix when its minor lists a fixed patch at or below it, or when
    // its minor is newer than every minor the fix lists (it was released with it).
    let fixed_in = |(minor, patch): (u32, u32)| -> bool {
        let same: Vec<u32> = fixed.iter().filter(|f| f.0 == minor).map(|f| f.1).collect();
        if same.is_empty() {
            fixed.iter().all(|f| f.0 < minor)
        } else {
            same.iter().any(|&p| p <= patch)
        }
    };
    match (fixed_in(from), fixed_in(to)) {
        (true, _) => CveStatus::AlreadyFixed,
        (false, true) => CveStatus::FixedByHop,
        (false, false) => CveStatus::NotFixed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fixed_versions_and_judges_the_hop() {
        let feed = serde_json::json!({
            "version": "https://jsonfeed.org/version/1.1",
            "items": [
                {"id": "CVE-2026-0001", "summary": "a", "content_text":
                  "#### Affected Versions\n- kube-apiserver v1.29.0 - v1.29.9\n#### Fixed Versions\n- kube-apiserver v1.29.10\n- kube-apiserver v1.30.2\n"},
                {"id": "CVE-2026-0002", "summary": "b", "content_text": "Fixed in v1.29.1 and v1.30.0."},
                {"id": "CVE-2026-0003", "summary": "c", "content_text": "No fix yet."},
                {"id": "CVE-2026-0004", "summary": "d", "content_text": "#### Fixed Versions\n- v1.31.5\n"}
            ]
        });
        let f = evaluate(feed.to_string().as_bytes(), "feed", (29, 6), (30, 2)).unwrap();
        assert_eq!(f[0].status, CveStatus::FixedByHop);
        assert_eq!(f[0].fixed_versions, vec!["v1.29.10", "v1.30.2"]);
        assert_eq!(f[1].status, CveStatus::AlreadyFixed);
        assert_eq!(f[2].status, CveStatus::VersionsUnreadable);
        assert_eq!(f[3].status, CveStatus::NotFixed);
        assert!(evaluate(b"{\"items\":[]}", "x", (29, 6), (30, 2)).is_err());
        assert!(evaluate(b"[]", "x", (29, 6), (30, 2)).is_err());
    }

    proptest::proptest! {
        #[test]
        fn text_reading_never_panics(s in "\\PC{0,300}") {
            let v = fixed_versions(&s);
            let _ = status(&v, (29, 6), (30, 2));
        }
    }
}
