//! Relative paths that come from untrusted input (lock files, bundle manifests, tar
//! entries) and may only ever name something *inside* a target directory.
//!
//! Zarf's CVE-2026-40090 built output paths from fields inside a package; tough's
//! GHSA-x3r5-q6mj-m485 followed `..` in target names. Here every such path is parsed once
//! into a [`SafeRelPath`], and only that type is joined onto a directory.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Longest path accepted, in bytes (Linux's PATH_MAX).
pub const MAX_PATH_LEN: usize = 4096;
/// Longest path component accepted, in bytes (Linux's NAME_MAX).
pub const MAX_COMPONENT_LEN: usize = 255;

/// Airlock's own state directory below `--dest` (the install log, receipts). No bundle
/// file may enter or shadow it.
pub const STATE_DIR: &str = ".airlock";

/// True if `p` is the state directory or anything below it.
pub fn is_reserved(p: &SafeRelPath) -> bool {
    p.components().next() == Some(STATE_DIR)
}

/// A path that is refused, and why (the crate's error shows it as [`Error::UnsafePath`](
/// crate::Error::UnsafePath)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsafe path {}: {reason}", crate::escape::Untrusted(path))]
pub struct UnsafePath {
    /// The path as given.
    pub path: String,
    /// Why it is refused.
    pub reason: String,
}

/// A non-empty relative path of plain `/`-separated components: no `..`, no `.`, no empty
/// component, no leading `/`.
///
/// Every component uses only the portable file name characters `A-Z a-z 0-9 . _ -` and
/// `+ @ = , ~`, and does not start with `-`. That refuses control characters, escape
/// sequences, backslashes, spaces and every non-ASCII character, so a name cannot read
/// as another (a right-to-left override, a zero-width space, a one-dot leader for `.`, a
/// full-width solidus for `/`) in a log or a terminal, nor as an option in a command.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SafeRelPath(String);

impl SafeRelPath {
    /// Check `s` and wrap it.
    pub fn new(s: &str) -> Result<Self, UnsafePath> {
        let bad = |reason: &str| UnsafePath {
            path: s.to_string(),
            reason: reason.to_string(),
        };
        if s.is_empty() {
            return Err(bad("empty path"));
        }
        if s.len() > MAX_PATH_LEN {
            return Err(bad("longer than 4096 bytes"));
        }
        if s.starts_with('/') {
            return Err(bad("absolute path"));
        }
        if s.chars().any(|c| c.is_control()) {
            return Err(bad("control character in path"));
        }
        if let Some(c) = s.chars().find(|&c| !(c == '/' || portable(c))) {
            return Err(bad(&format!(
                "character {} is not allowed (only A-Z a-z 0-9 . _ - + @ = , ~ and /)",
                crate::escape::Untrusted(&c.to_string())
            )));
        }
        for comp in s.split('/') {
            match comp {
                "" => return Err(bad("empty component (// or trailing /)")),
                "." => return Err(bad("'.' component")),
                ".." => return Err(bad("'..' component")),
                c if c.starts_with('-') => {
                    return Err(bad("component starts with '-'"));
                }
                c if c.len() > MAX_COMPONENT_LEN => {
                    return Err(bad("component longer than 255 bytes"));
                }
                _ => {}
            }
        }
        Ok(SafeRelPath(s.to_string()))
    }

    /// The path as text (printable ASCII only, by construction).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `base` joined with this path; by construction the result is below `base`.
    pub fn under(&self, base: &Path) -> PathBuf {
        let mut p = base.to_path_buf();
        for comp in self.0.split('/') {
            p.push(comp);
        }
        p
    }

    /// The components, in order.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }
}

fn portable(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | '@' | '=' | ',' | '~')
}

impl fmt::Display for SafeRelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SafeRelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl Serialize for SafeRelPath {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SafeRelPath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        SafeRelPath::new(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_relative_paths() {
        for ok in [
            "a",
            "bin/v1.30.2/linux/amd64/kubeadm",
            "files/sha256/ab",
            "a..b/c",
        ] {
            SafeRelPath::new(ok).unwrap();
        }
    }

    #[test]
    fn rejects_escapes() {
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a/./b",
            "a//b",
            "a/",
            "a\\b",
            "a b",
            "bin/kube\u{202e}adm",
            "bin/kube\u{200b}adm",
            "a\u{2024}b",
            "a\u{ff0f}b",
            "-rf",
            "a/-x",
            ".airlock\u{1b}[2J",
            "a\0b",
            "a\nb",
            ".",
        ] {
            assert!(SafeRelPath::new(bad).is_err(), "{bad:?} accepted");
        }
    }

    use proptest::prelude::*;

    proptest::proptest! {
        #[test]
        fn accepted_paths_stay_inside(s in "[a-z./]{0,20}") {
            if let Ok(p) = SafeRelPath::new(&s) {
                let base = Path::new("/base");
                let joined = p.under(base);
                prop_assert!(joined.starts_with(base));
                prop_assert!(!joined.components().any(|c| matches!(c, std::path::Component::ParentDir)));
            }
        }
    }
}
