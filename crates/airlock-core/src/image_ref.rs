//! Image references (`registry/repository[:tag][@sha256:...]`), parsed strictly.
//!
//! airlock keeps the canonical name from upstream in every lock and bundle; mirrors and
//! the enclave's `--prefix` only change where bytes travel, so the report can always say
//! which upstream image a digest came from.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::digest::Sha256Digest;

/// A parsed image reference with an explicit registry.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageRef {
    /// `registry.k8s.io`, `127.0.0.1:5000`, `docker.io`.
    pub registry: String,
    /// `kube-apiserver`, `coredns/coredns`, `library/nginx`.
    pub repository: String,
    /// `v1.30.2`.
    pub tag: Option<String>,
    /// Pinned digest written in the reference itself.
    pub digest: Option<Sha256Digest>,
}

/// Why a reference was rejected.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid image reference {input:?}: {reason}")]
pub struct RefParseError {
    /// The input.
    pub input: String,
    /// The reason.
    pub reason: String,
}

fn valid_path_component(c: &str) -> bool {
    // distribution's grammar: [a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*
    let b = c.as_bytes();
    if b.is_empty() || !is_alnum(b[0]) || !is_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !is_alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// True for a tag of the reference grammar (`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`).
pub fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|&x| x.is_ascii_alphanumeric() || matches!(x, b'_' | b'.' | b'-'))
}

/// True for a repository path of the reference grammar: at most 255 bytes of `/`-separated
/// components of lower-case letters and digits with `.`, `_`, `__` or `-` between them.
/// No component can be empty, `.` or `..`.
pub fn valid_repository(path: &str) -> bool {
    path.len() <= 255 && path.split('/').all(valid_path_component)
}

fn valid_registry(r: &str) -> bool {
    !r.is_empty()
        && r.len() <= 255
        && r.bytes()
            .all(|x| x.is_ascii_alphanumeric() || matches!(x, b'.' | b'-' | b':' | b'[' | b']'))
}

impl ImageRef {
    /// Parse a reference. A name without a registry is Docker Hub's, as with `docker pull`:
    /// `nginx:1.27` becomes `docker.io/library/nginx:1.27`.
    pub fn parse(input: &str) -> Result<Self, RefParseError> {
        let err = |reason: &str| RefParseError {
            input: input.to_string(),
            reason: reason.to_string(),
        };
        if input.len() > 1024 {
            return Err(err("longer than 1024 bytes"));
        }
        let (rest, digest) = match input.split_once('@') {
            Some((r, d)) => (
                r,
                Some(Sha256Digest::parse(d).map_err(|e| err(&e.to_string()))?),
            ),
            None => (input, None),
        };
        // The tag is after the last ':' that comes after the last '/', so a registry port
        // (`127.0.0.1:5000/x`) is not mistaken for a tag.
        let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (
                &rest[..last_slash + i],
                Some(rest[last_slash + i + 1..].to_string()),
            ),
            None => (rest, None),
        };
        if let Some(t) = &tag
            && !valid_tag(t)
        {
            return Err(err("invalid tag"));
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, path))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), path.to_string())
            }
            _ if name.contains('/') => ("docker.io".to_string(), name.to_string()),
            _ => ("docker.io".to_string(), format!("library/{name}")),
        };
        if !valid_registry(&registry) {
            return Err(err("invalid registry host"));
        }
        if !valid_repository(&repository) {
            return Err(err(
                "invalid repository path (lower-case letters, digits and . _ - separators)",
            ));
        }
        Ok(ImageRef {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The digest written in the reference, if any.
    pub fn digest(&self) -> Option<Sha256Digest> {
        self.digest
    }

    /// `registry/repository` without tag or digest.
    pub fn repository_path(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The same reference with another registry (mirrors) and an optional repository prefix
    /// (`--prefix` in the enclave).
    pub fn relocated(&self, registry: &str, prefix: Option<&str>) -> ImageRef {
        let repository = match prefix {
            Some(p) if !p.is_empty() => format!("{}/{}", p.trim_matches('/'), self.repository),
            _ => self.repository.clone(),
        };
        ImageRef {
            registry: registry.to_string(),
            repository,
            tag: self.tag.clone(),
            digest: self.digest,
        }
    }
}

/// Check a `--prefix` value: repository path components only.
pub fn validate_prefix(prefix: &str) -> Result<(), RefParseError> {
    if prefix.split('/').all(valid_path_component) {
        Ok(())
    } else {
        Err(RefParseError {
            input: prefix.to_string(),
            reason: "a prefix is repository path components (lower-case letters, digits, . _ -)"
                .into(),
        })
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}
impl fmt::Debug for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
impl FromStr for ImageRef {
    type Err = RefParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}
impl Serialize for ImageRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
impl<'de> Deserialize<'de> for ImageRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ImageRef::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms() {
        let r = ImageRef::parse("registry.k8s.io/coredns/coredns:v1.11.1").unwrap();
        assert_eq!(r.registry, "registry.k8s.io");
        assert_eq!(r.repository, "coredns/coredns");
        assert_eq!(r.tag.as_deref(), Some("v1.11.1"));
        let r = ImageRef::parse("127.0.0.1:5000/pause:3.9").unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "pause");
        let r = ImageRef::parse("nginx").unwrap();
        assert_eq!(r.to_string(), "docker.io/library/nginx");
        let r = ImageRef::parse("localhost:5000/a/b:c").unwrap();
        assert_eq!(r.relocated("h:1", Some("k8s")).to_string(), "h:1/k8s/a/b:c");
    }

    #[test]
    fn rejects_bad_forms() {
        for bad in [
            "Registry.k8s.io/UPPER:v1",
            "r.io/a/../b:v1",
            "r.io/a:",
            "r.io/a:-x",
            "r.io/a@sha256:zz",
            "r.io//a",
            "r.io/a b",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad} accepted");
        }
    }

    use proptest::prelude::*;

    proptest::proptest! {
        #[test]
        fn display_parse_round_trip(s in "[a-z0-9./:@-]{1,60}") {
            if let Ok(r) = ImageRef::parse(&s) {
                let again = ImageRef::parse(&r.to_string()).unwrap();
                prop_assert_eq!(r, again);
            }
        }
    }
}
