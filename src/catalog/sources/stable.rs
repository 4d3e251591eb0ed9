//! `https://dl.k8s.io/release/stable-1.N.txt`: the newest patch of a minor, one version
//! string (`v1.36.4`), as kubeadm reads it (surrounding whitespace trimmed).

use crate::catalog::Version;

/// The version in a `stable-1.N.txt`, which must be of minor `minor`.
pub fn parse(text: &str, minor: u32) -> Result<Version, String> {
    let t = text.trim();
    let v: Version = t.parse().map_err(|_| {
        let shown: String = t.chars().take(40).collect();
        format!(
            "expected one version v1.{minor}.PATCH, found {:?}",
            crate::escape::Untrusted(&shown)
        )
    })?;
    if v.minor != minor {
        return Err(format!("names {v}, expected a version of 1.{minor}"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_version_of_the_minor() {
        assert_eq!(parse("v1.36.4\n", 36).unwrap(), Version::new(36, 4));
        assert_eq!(parse("  v1.36.0", 36).unwrap(), Version::new(36, 0));
        for (bad, needle) in [
            ("v1.35.9\n", "expected a version of 1.36"),
            ("1.36.4", "expected one version"),
            ("v1.36.4-rc.0", "expected one version"),
            ("v1.36.4\nv1.36.5\n", "expected one version"),
            (
                "<?xml version='1.0'?><Error><Code>NoSuchKey</Code></Error>",
                "expected one version",
            ),
            ("", "expected one version"),
            ("\u{1b}[2Jv1.36.4", "\\u{1b}"),
        ] {
            let e = parse(bad, 36).unwrap_err();
            assert!(e.contains(needle), "{bad:?}: {e}");
        }
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,60}", minor in 0u32..100) {
            if let Ok(v) = parse(&s, minor) {
                proptest::prop_assert_eq!(v.minor, minor);
            }
        }
    }
}
