//! The files installed under `--dest`. Guarantees: each file's content is a payload entry
//! of its size (or, in a delta, omitted with it); no target is listed twice, enters
//! airlock's state directory, or is a directory another target needs; modes carry only
//! permission bits and never write permission for others.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::entries::Contents;
use crate::digest::{Sha256Digest, bare_hex};
use crate::error::{Checked, FormatError};
use crate::escape::Untrusted;
use crate::layout::{FileKind, PayloadPath};
use crate::paths::SafeRelPath;

/// One file to install under `--dest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRecord {
    /// Short label.
    pub name: String,
    /// Where it goes below `--dest`.
    pub target: SafeRelPath,
    /// Permission bits.
    pub mode: Mode,
    /// sha256 of the content (the payload entry is `files/sha256/<this>`).
    #[serde(with = "bare_hex")]
    pub sha256: Sha256Digest,
    /// Size in bytes.
    pub size: u64,
    /// Where it came from (URL or local file name), for the report.
    pub source: String,
    /// What it is.
    pub kind: Option<FileKind>,
}

/// Unix permission bits; written as an octal string. Only `0o777` bits are allowed, and
/// never write permission for others: a bundle installs no setuid, setgid or sticky file
/// and nothing any local user could replace.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mode(pub u32);

impl fmt::Debug for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}
impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}
impl FromStr for Mode {
    type Err = ModeError;
    fn from_str(s: &str) -> std::result::Result<Self, ModeError> {
        let err = |reason| ModeError {
            mode: s.to_owned(),
            reason,
        };
        let v = u32::from_str_radix(s, 8).map_err(|_| err(ModeReason::NotOctal))?;
        if v & !0o777 != 0 {
            return Err(err(ModeReason::Special));
        }
        if v & 0o002 != 0 {
            return Err(err(ModeReason::WorldWritable));
        }
        Ok(Mode(v))
    }
}

/// A mode string that is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mode {:?}{reason}", Untrusted(mode))]
pub struct ModeError {
    /// The text given.
    pub mode: String,
    /// Why.
    pub reason: ModeReason,
}

/// Why a mode is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ModeReason {
    /// Not an octal number.
    #[error(" is not octal")]
    NotOctal,
    /// setuid, setgid or sticky bits.
    #[error(": only permission bits (0777) are allowed, not setuid/setgid/sticky")]
    Special,
    /// Write permission for others.
    #[error(": files writable by every user are not installed (use 0755 or 0644)")]
    WorldWritable,
}

impl Serialize for Mode {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
impl<'de> Deserialize<'de> for Mode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Every file against the payload's contents, and the targets against each other.
pub(crate) fn check(files: &[FileRecord], contents: &Contents) -> Checked {
    let mut targets: BTreeSet<&str> = BTreeSet::new();
    for f in files {
        let t = f.target.as_str();
        contents
            .carried_or_omitted(&PayloadPath::File(f.sha256), f.size)
            .map_err(|r| FormatError::FileCarried {
                target: t.to_owned(),
                reason: Box::new(r),
            })?;
        if crate::paths::is_reserved(&f.target) {
            return Err(FormatError::FileReserved {
                target: t.to_owned(),
            });
        }
        if !targets.insert(t) {
            return Err(FormatError::FileTwice {
                target: t.to_owned(),
            });
        }
    }
    // A target that is also a directory other targets need cannot be installed.
    for t in &targets {
        let prefix = format!("{t}/");
        if let Some(other) = targets.range(prefix.as_str()..).next()
            && other.starts_with(&prefix)
        {
            return Err(FormatError::FileIsDirectory {
                target: (*t).to_owned(),
                other: (*other).to_owned(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_refuses_special_and_world_writable_bits() {
        assert_eq!("0755".parse::<Mode>().unwrap(), Mode(0o755));
        let reason = |s: &str| s.parse::<Mode>().map_err(|e| e.reason);
        assert_eq!(reason("4755"), Err(ModeReason::Special));
        assert_eq!(reason("0777"), Err(ModeReason::WorldWritable));
        assert_eq!(reason("0666"), Err(ModeReason::WorldWritable));
        assert_eq!(reason("9"), Err(ModeReason::NotOctal));
        let e = "0666".parse::<Mode>().unwrap_err().to_string();
        assert!(e.starts_with("mode \"0666\": files writable"), "{e}");
    }
}
