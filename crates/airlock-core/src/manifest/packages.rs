//! Package repositories and the files that mirror them. Guarantees (the manifest's and the
//! lock's alike): every file of kind `package` or `package-metadata` is below exactly one
//! repository's `dir`; every `dir` is below `packages/`, unique and not below another;
//! every source is an http(s) URL and every `signed_by` a fingerprint; every carried
//! package is a `package` file of its repository, and its name, version and architecture
//! are plain tokens.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::images::Role;
use crate::error::{Checked, FormatError};
use crate::escape::Untrusted;
use crate::layout::FileKind;
use crate::paths::SafeRelPath;

/// The package format of a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PackageFormat {
    /// Debian packages, read by apt (`InRelease`, `Packages`, `.deb`).
    Deb,
    /// RPM packages, read by dnf and yum (`repodata/repomd.xml`, `.rpm`).
    Rpm,
}

impl PackageFormat {
    /// `deb` or `rpm`.
    pub fn as_str(self) -> &'static str {
        match self {
            PackageFormat::Deb => "deb",
            PackageFormat::Rpm => "rpm",
        }
    }
}

impl fmt::Display for PackageFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PackageFormat {
    type Err = PackageFormatError;
    fn from_str(s: &str) -> std::result::Result<Self, PackageFormatError> {
        match s {
            "deb" => Ok(PackageFormat::Deb),
            "rpm" => Ok(PackageFormat::Rpm),
            _ => Err(PackageFormatError {
                found: s.to_owned(),
            }),
        }
    }
}

/// A package format that is neither `deb` nor `rpm`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("package format {:?}: expected deb or rpm", Untrusted(found))]
pub struct PackageFormatError {
    /// The text given.
    pub found: String,
}

/// A package repository the bundle carries a partial mirror of: its signed metadata as
/// upstream served it, and the packages the hop needs, laid out under `dir` as upstream
/// lays them out under `source`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageRepository {
    /// `deb` or `rpm`.
    pub format: PackageFormat,
    /// The upstream repository URL (ends with `/`).
    pub source: String,
    /// Where the mirror goes: `packages/v1.30/deb` (below `--dest`, or relocated by
    /// `--packages-dir`).
    pub dir: SafeRelPath,
    /// Fingerprint (upper-case hex) of the OpenPGP key that verified the metadata when
    /// the hop was resolved; the nodes check the same signature with the key they hold.
    pub signed_by: String,
    /// The packages carried, sorted by name, version and architecture.
    pub packages: Vec<CarriedPackage>,
}

/// One package in a [`PackageRepository`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarriedPackage {
    /// Package name (`kubeadm`).
    pub name: String,
    /// The repository's own version string (`1.30.2-1.1`, `1.30.2-150500.1.1`).
    pub version: String,
    /// The package architecture (`amd64`, `x86_64`).
    pub arch: String,
    /// Why it is carried (`target` or `backout`).
    pub role: Role,
    /// Its file target (a file of kind `package`).
    pub target: SafeRelPath,
}

/// True if `s` may be shown in a package manager command unquoted-safe: package names,
/// versions and architectures use only `A-Z a-z 0-9 . + ~ : _ -`, start with an
/// alphanumeric, and are at most 128 bytes.
pub fn is_package_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'~' | b':' | b'_' | b'-')
        })
}

/// The rules for package repositories and the files that mirror them, shared by the
/// manifest and the lock: every file of kind `package` or `package-metadata` is below
/// exactly one repository's `dir`; every `dir` is below [`crate::layout::PACKAGES_DIR`],
/// unique and not below another; every carried package is a `package` file of its
/// repository; names, versions and architectures are [`is_package_token`]s.
pub fn check_package_repositories<'a>(
    repos: &[PackageRepository],
    files: impl Iterator<Item = (&'a SafeRelPath, Option<FileKind>)>,
) -> Checked {
    let below = |t: &SafeRelPath, dir: &SafeRelPath| {
        t.as_str()
            .strip_prefix(dir.as_str())
            .is_some_and(|r| r.starts_with('/'))
    };
    let mut dirs: BTreeSet<&str> = BTreeSet::new();
    for r in repos {
        let d = &r.dir;
        if d.components().next() != Some(crate::layout::PACKAGES_DIR) || !d.as_str().contains('/') {
            return Err(FormatError::RepositoryDir { dir: d.clone() });
        }
        if !dirs.insert(d.as_str()) {
            return Err(FormatError::RepositoryTwice { dir: d.clone() });
        }
        if !(r.source.starts_with("https://") || r.source.starts_with("http://"))
            || r.source
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(FormatError::RepositorySource {
                dir: d.clone(),
                url: r.source.clone(),
            });
        }
        if r.signed_by.is_empty() || !r.signed_by.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(FormatError::RepositorySignedBy {
                dir: d.clone(),
                signed_by: r.signed_by.clone(),
            });
        }
    }
    for a in &dirs {
        if dirs
            .iter()
            .any(|b| b != a && b.starts_with(&format!("{a}/")))
        {
            return Err(FormatError::RepositoryNested {
                dir: (*a).to_owned(),
            });
        }
    }
    let mut package_files: BTreeSet<&SafeRelPath> = BTreeSet::new();
    for (target, kind) in files {
        let Some(kind) = kind.filter(|k| k.is_package()) else {
            continue;
        };
        if !repos.iter().any(|r| below(target, &r.dir)) {
            let target = target.clone();
            return Err(FormatError::PackageFileOutside { target, kind });
        }
        if kind == FileKind::Package {
            package_files.insert(target);
        }
    }
    for r in repos {
        for p in &r.packages {
            for tok in [&p.name, &p.version, &p.arch] {
                if !is_package_token(tok) {
                    return Err(FormatError::PackageToken {
                        dir: r.dir.clone(),
                        token: tok.clone(),
                    });
                }
            }
            if !below(&p.target, &r.dir) || !package_files.contains(&p.target) {
                return Err(FormatError::PackageWithoutFile {
                    dir: r.dir.clone(),
                    name: p.name.clone(),
                    version: p.version.clone(),
                    target: p.target.clone(),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_repositories_must_hold_their_files() {
        let p = |s: &str| SafeRelPath::new(s).unwrap();
        let repo = |dir: &str| PackageRepository {
            format: PackageFormat::Deb,
            source: "https://pkgs.k8s.io/core:/stable:/v1.30/deb/".into(),
            dir: p(dir),
            signed_by: "ABCDEF".into(),
            packages: vec![CarriedPackage {
                name: "kubeadm".into(),
                version: "1.30.2-1.1".into(),
                arch: "amd64".into(),
                role: Role::Target,
                target: p(&format!("{dir}/amd64/kubeadm.deb")),
            }],
        };
        let files = |list: &[(&str, FileKind)]| -> Vec<(SafeRelPath, Option<FileKind>)> {
            list.iter().map(|(t, k)| (p(t), Some(*k))).collect()
        };
        let check = |repos: &[PackageRepository], f: &[(SafeRelPath, Option<FileKind>)]| {
            check_package_repositories(repos, f.iter().map(|(t, k)| (t, *k)))
        };
        let good = files(&[
            ("packages/v1.30/deb/InRelease", FileKind::PackageMetadata),
            ("packages/v1.30/deb/amd64/kubeadm.deb", FileKind::Package),
            ("bin/kubeadm", FileKind::Binary),
        ]);
        assert_eq!(check(&[repo("packages/v1.30/deb")], &good), Ok(()));
        // A package file outside every repository.
        let stray = files(&[("bin/x.deb", FileKind::Package)]);
        assert!(check(&[repo("packages/v1.30/deb")], &stray).is_err());
        // A carried package without its file.
        assert!(check(&[repo("packages/v1.30/deb")], &good[..1]).is_err());
        // A repository outside packages/, twice, or inside another.
        assert!(check(&[repo("bin/v1.30")], &[]).is_err());
        assert!(check(&[repo("packages/a"), repo("packages/a")], &[]).is_err());
        let mut nested = vec![repo("packages/a"), repo("packages/a/b")];
        nested.iter_mut().for_each(|r| r.packages.clear());
        assert!(check(&nested, &[]).is_err());
        // A version that would not be a plain token in a command.
        let mut r = repo("packages/v1.30/deb");
        r.packages[0].version = "1.30.2'; rm -rf /".into();
        let (dir, token) = (r.dir.clone(), r.packages[0].version.clone());
        let e = check(&[r], &good).unwrap_err();
        assert_eq!(e, FormatError::PackageToken { dir, token });
        assert!(
            e.to_string()
                .ends_with("is not a package name, version or architecture")
        );
        let mut r = repo("packages/v1.30/deb");
        r.source = "ftp://x".into();
        assert!(check(&[r], &good).is_err());
    }

    proptest::proptest! {
        #[test]
        fn package_tokens_never_hold_shell_characters(s in "\\PC{0,40}") {
            if is_package_token(&s) {
                proptest::prop_assert!(!s.contains(['\'', '"', ' ', ';', '$', '`', '/', '\\', '*']));
            }
        }
    }
}
