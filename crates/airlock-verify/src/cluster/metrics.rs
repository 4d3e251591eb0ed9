//! A saved scrape of the API server's `/metrics` (`kubectl get --raw /metrics`): the
//! gauge `apiserver_requested_deprecated_apis{group,version,resource,subresource,
//! removed_release}` is 1 for every deprecated API version a client requested since the
//! server started, so it names what controllers and scripts still call even when no
//! stored object shows it. The text is Prometheus's exposition format; only that
//! metric's samples are kept, lines are read through a length bound, and the file is
//! read as it streams.

use std::io::{BufRead, Read};

use serde::Serialize;

use crate::error::{Error, Result};

/// The metric read.
pub const METRIC: &str = "apiserver_requested_deprecated_apis";

/// Largest metrics file read (a large cluster's scrape is tens of MiB).
pub const MAX_METRICS_BYTES: u64 = 256 * 1024 * 1024;

/// Longest line kept: a sample of this metric is about 150 bytes; longer lines (of other
/// metrics, or hostile) are skipped without being held whole.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// One requested deprecated API version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Requested {
    /// API group (`""` for the core group).
    pub group: String,
    /// Version.
    pub version: String,
    /// Resource (plural, lower case: `cronjobs`).
    pub resource: String,
    /// The release the server says removes it (`1.25`), when set.
    pub removed_release: String,
}

impl Requested {
    /// `group/version` (`version` for the core group).
    pub fn group_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// Read every sample of [`METRIC`] with a non-zero value from a scrape.
pub fn read(r: impl std::io::Read, origin: &str) -> Result<Vec<Requested>> {
    let mut r = std::io::BufReader::new(r);
    let mut out: Vec<Requested> = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = Read::by_ref(&mut r)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::invalid("metrics scrape", origin, e))?;
        if n == 0 {
            break;
        }
        if line.len() > MAX_LINE_BYTES && line.last() != Some(&b'\n') {
            // Skip the rest of an overlong line without keeping it.
            skip_line(&mut r, origin)?;
            continue;
        }
        let Ok(text) = std::str::from_utf8(&line) else {
            continue;
        };
        if let Some(s) = sample(text.trim_end())
            && !out.contains(&s)
        {
            out.push(s);
        }
    }
    Ok(out)
}

fn skip_line(r: &mut impl BufRead, origin: &str) -> Result<()> {
    loop {
        let buf = r
            .fill_buf()
            .map_err(|e| Error::invalid("metrics scrape", origin, e))?;
        if buf.is_empty() {
            return Ok(());
        }
        match buf.iter().position(|&b| b == b'\n') {
            Some(i) => {
                r.consume(i + 1);
                return Ok(());
            }
            None => {
                let k = buf.len();
                r.consume(k);
            }
        }
    }
}

/// One sample line of the metric with a non-zero value, or none.
fn sample(line: &str) -> Option<Requested> {
    let rest = line.strip_prefix(METRIC)?.strip_prefix('{')?;
    let (labels, value) = parse_labels(rest)?;
    let value: f64 = value.split_whitespace().next()?.parse().ok()?;
    if value == 0.0 || value.is_nan() {
        return None;
    }
    let get = |k: &str| {
        labels
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let s = Requested {
        group: get("group"),
        version: get("version"),
        resource: get("resource"),
        removed_release: get("removed_release"),
    };
    (!s.version.is_empty() && !s.resource.is_empty()).then_some(s)
}

/// `name="value",...}` -> the labels and what follows the `}`. Values use Prometheus's
/// escapes `\\`, `\"` and `\n`.
fn parse_labels(s: &str) -> Option<(Vec<(String, String)>, &str)> {
    let mut labels = Vec::new();
    let mut rest = s.trim_start();
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return Some((labels, after));
        }
        let eq = rest.find('=')?;
        let name = rest[..eq].trim().to_string();
        let mut chars = rest[eq + 1..].trim_start().char_indices();
        let body = rest[eq + 1..].trim_start();
        if chars.next()?.1 != '"' {
            return None;
        }
        let mut value = String::new();
        let end = loop {
            let (i, c) = chars.next()?;
            match c {
                '"' => break i + 1,
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                c => value.push(c),
            }
        };
        labels.push((name, value));
        rest = body[end..].trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_requested_deprecated_apis_and_nothing_else() {
        let scrape = "# HELP apiserver_requested_deprecated_apis [STABLE] Gauge of deprecated APIs that have been requested, broken out by API group, version, resource, subresource, and removed_release.\n\
            # TYPE apiserver_requested_deprecated_apis gauge\n\
            apiserver_requested_deprecated_apis{group=\"batch\",removed_release=\"1.25\",resource=\"cronjobs\",subresource=\"\",version=\"v1beta1\"} 1\n\
            apiserver_requested_deprecated_apis{group=\"\",removed_release=\"\",resource=\"componentstatuses\",subresource=\"\",version=\"v1\"} 1\n\
            apiserver_requested_deprecated_apis{group=\"x\\\"y\",removed_release=\"\",resource=\"z\",subresource=\"\",version=\"v1\"} 0\n\
            apiserver_request_total{code=\"200\"} 7\n";
        let r = read(scrape.as_bytes(), "metrics.txt").unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].group_version(), "batch/v1beta1");
        assert_eq!(
            (r[0].resource.as_str(), r[0].removed_release.as_str()),
            ("cronjobs", "1.25")
        );
        assert_eq!(r[1].group_version(), "v1");
    }

    #[test]
    fn an_overlong_line_is_skipped_not_kept() {
        let mut s = format!(
            "{METRIC}{{group=\"{}\"}} 1\n",
            "a".repeat(MAX_LINE_BYTES * 3)
        );
        s.push_str(&format!(
            "{METRIC}{{group=\"policy\",resource=\"podsecuritypolicies\",version=\"v1beta1\"}} 1\n"
        ));
        let r = read(s.as_bytes(), "m").unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].group_version(), "policy/v1beta1");
    }

    proptest::proptest! {
        #[test]
        fn reading_never_panics(s in "\\PC{0,400}") {
            let _ = read(s.as_bytes(), "p");
            let _ = read(format!("{METRIC}{{{s}").as_bytes(), "p");
        }

        /// A label value with quotes and backslashes, escaped as Prometheus writes it,
        /// comes back as it was.
        #[test]
        fn escaped_values_read_back(v in "[a-z\"\\\\]{1,12}") {
            let esc = v.replace('\\', "\\\\").replace('"', "\\\"");
            let line = format!("{METRIC}{{group=\"{esc}\",resource=\"r\",version=\"v1\"}} 1\n");
            let r = read(line.as_bytes(), "p").unwrap();
            proptest::prop_assert_eq!(&r[0].group, &v);
        }
    }
}
