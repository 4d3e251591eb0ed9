//! Node packages: the kubeadm, kubelet, kubectl, cri-tools and kubernetes-cni packages of
//! a hop, from the Kubernetes package repositories (`pkgs.k8s.io/core:/stable:/v1.NN/deb/`
//! and `.../rpm/`, one repository per minor), with upstream's signature chain intact.
//!
//! For each repository the hop needs: the signed metadata is fetched and its OpenPGP
//! signature checked with the user's key ([`openpgp`]); every index it lists is
//! fetched by the sha256 it lists ([`deb`], [`rpm`]); the packages are picked by the
//! repository's own version strings ([`version`]) and pinned by the sha256 the index
//! lists. The lock then holds every metadata file (kind `package-metadata`) and package
//! (kind `package`) as files whose targets lay out a partial mirror under
//! `packages/v1.NN/{deb,rpm}/`, as upstream lays them out, so apt and dnf on the nodes
//! check upstream's signature themselves. See `docs/resolve.md`, "Node packages".
//!
//! The verified metadata goes into the content cache as it is checked, so a build of
//! the lock uses exactly the bytes resolve verified, even after upstream republishes.

pub mod deb;
pub mod deb822;
pub mod openpgp;
pub mod rpm;
pub mod version;

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::io::{BufRead, Read};
use std::path::Path;

use crate::catalog::Version;
use crate::checklist::PackageSource;
use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::http::HttpClient;
use crate::lock::{FileSource, LockedFile};
use crate::manifest::{
    CarriedPackage, FileKind, Mode, PackageFormat, PackageRepository, Role, is_package_token,
};
use crate::paths::SafeRelPath;
use crate::upstream_store::Store;
use openpgp::RepoKey;
use version::{Evr, cmp_deb, cmp_evr};

/// The Kubernetes package repositories: `{base}v1.NN/deb/` and `{base}v1.NN/rpm/`. Reach
/// a mirror with `--mirror https://pkgs.k8s.io=URL`; the lock keeps this name.
pub const PKGS_K8S_IO: &str = "https://pkgs.k8s.io/core:/stable:/";

/// The packages of the node procedure, each at the hop's version.
pub const CORE_PACKAGES: [&str; 3] = ["kubeadm", "kubelet", "kubectl"];
/// Dependencies picked by what kubeadm and kubelet ask for.
pub const CRI_TOOLS: &str = "cri-tools";
/// See [`CRI_TOOLS`].
pub const KUBERNETES_CNI: &str = "kubernetes-cni";

/// Largest signed metadata file (`InRelease`, `repomd.xml`) or signature read.
pub const MAX_SIGNED_BYTES: usize = 4 * 1024 * 1024;
/// Largest decompressed index (`Packages`, `primary.xml`) parsed.
pub const MAX_INDEX_BYTES: u64 = 1024 * 1024 * 1024;

/// What the user asked for.
pub struct PackageOptions {
    /// `deb`, `rpm` or both.
    pub formats: Vec<PackageFormat>,
    /// The repository key (`--package-key`).
    pub key: RepoKey,
    /// The repositories' base URL ([`PKGS_K8S_IO`]).
    pub base_url: String,
}

/// Where package metadata comes from and is kept.
pub struct Ctx<'a> {
    /// Downloads (mirrors applied).
    pub http: &'a HttpClient,
    /// The content cache; verified metadata is stored here.
    pub store: &'a Store,
    /// The repository key.
    pub key: &'a RepoKey,
}

impl Ctx<'_> {
    /// Fetch `data_url` and its detached signature `sig_url` and check the signature with
    /// the repository key: (data, signature, signer fingerprint). `not_found` says what a
    /// missing data file means; a missing signature is always refused (exit 5).
    pub(crate) async fn fetch_detached_signed(
        &self,
        data_url: &str,
        sig_url: &str,
        not_found: &str,
        unsigned: &str,
    ) -> Result<(Vec<u8>, Vec<u8>, String)> {
        let data = self
            .http
            .fetch_document(data_url, MAX_SIGNED_BYTES)
            .await?
            .ok_or_else(|| Error::Http {
                url: data_url.to_string(),
                reason: not_found.to_string(),
            })?;
        let sig = self
            .http
            .fetch_document(sig_url, MAX_SIGNED_BYTES)
            .await?
            .ok_or_else(|| Error::Signature {
                artifact: data_url.to_string(),
                reason: unsigned.to_string(),
            })?;
        let fpr = self.key.verify_detached(&sig, &data, data_url)?;
        Ok((data, sig, fpr))
    }
}

/// A version constraint's operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `<<`, `LT`
    Lt,
    /// `<=`, `LE`
    Le,
    /// `=`, `EQ`
    Eq,
    /// `>=`, `GE`
    Ge,
    /// `>>`, `GT`
    Gt,
}

impl Op {
    fn holds(self, o: Ordering) -> bool {
        match self {
            Op::Lt => o == Ordering::Less,
            Op::Le => o != Ordering::Greater,
            Op::Eq => o == Ordering::Equal,
            Op::Ge => o != Ordering::Less,
            Op::Gt => o == Ordering::Greater,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Op::Lt => "<<",
            Op::Le => "<=",
            Op::Eq => "=",
            Op::Ge => ">=",
            Op::Gt => ">>",
        }
    }
}

/// A version as its package manager orders it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionKey {
    /// A dpkg version string.
    Deb(String),
    /// An rpm epoch-version-release.
    Rpm(Evr),
}

impl VersionKey {
    fn cmp(&self, other: &VersionKey) -> Ordering {
        match (self, other) {
            (VersionKey::Deb(a), VersionKey::Deb(b)) => cmp_deb(a, b),
            (VersionKey::Rpm(a), VersionKey::Rpm(b)) => cmp_evr(a, b),
            _ => Ordering::Equal,
        }
    }

    /// The upstream part: `1.30.2` of `1.30.2-1.1`.
    fn upstream(&self) -> &str {
        match self {
            VersionKey::Deb(v) => version::parse_deb(v).map(|p| p.upstream).unwrap_or(v),
            VersionKey::Rpm(e) => &e.ver,
        }
    }

    fn display(&self) -> String {
        match self {
            VersionKey::Deb(v) => v.clone(),
            VersionKey::Rpm(e) => e.display(),
        }
    }
}

/// One dependency: a name and maybe a constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dep {
    /// Package name.
    pub name: String,
    /// `(op, version)`, when versioned.
    pub constraint: Option<(Op, VersionKey)>,
}

impl Dep {
    /// As Debian writes it (`cri-tools (>= 1.30.0)`), escaped for display: it comes from
    /// the repository's index.
    fn describe(&self) -> String {
        let text = match &self.constraint {
            Some((op, v)) => format!("{} ({} {})", self.name, op.symbol(), v.display()),
            None => self.name.clone(),
        };
        crate::escape::Untrusted(&text).to_string()
    }
}

/// A package as the repository's index lists it.
#[derive(Debug, Clone)]
pub struct Listed {
    /// Name.
    pub name: String,
    /// Version, as the index writes it (rpm: `[epoch:]ver-rel`).
    pub version: VersionKey,
    /// Architecture (`amd64`, `x86_64`, `all`, `noarch`).
    pub arch: String,
    /// Path relative to the repository (`amd64/kubeadm_1.30.2-1.1_amd64.deb`).
    pub path: String,
    /// sha256 the index lists, if it lists one.
    pub sha256: Option<Sha256Digest>,
    /// Size the index lists.
    pub size: Option<u64>,
    /// Dependencies (every alternative).
    pub depends: Vec<Dep>,
}

/// A metadata file of a repository, pinned by its sha256.
#[derive(Debug, Clone)]
pub struct MetaFile {
    /// Path relative to the repository.
    pub path: SafeRelPath,
    /// sha256.
    pub sha256: Sha256Digest,
    /// Size.
    pub size: u64,
}

/// What a repository's verified metadata says.
#[derive(Debug, Clone)]
pub struct RepoIndex {
    /// The repository URL (ends with `/`).
    pub url: String,
    /// The index the packages were read from, for messages (`.../Packages.gz`).
    pub index_url: String,
    /// The metadata files to carry, signed file first.
    pub meta: Vec<MetaFile>,
    /// The packages of interest it lists.
    pub packages: Vec<Listed>,
    /// Fingerprint of the key that verified it.
    pub signed_by: String,
    /// Things the user should know (an expiry date apt would enforce).
    pub notes: Vec<String>,
}

/// Everything `--packages` adds to a lock.
#[derive(Debug, Default)]
pub struct Resolved {
    /// The repositories, in order.
    pub repositories: Vec<PackageRepository>,
    /// Metadata files and packages.
    pub files: Vec<LockedFile>,
    /// Notes for the lock.
    pub notes: Vec<String>,
    /// What the checklist's package steps need.
    pub sources: Vec<PackageSource>,
}

/// The repository URL of a minor: `{base}v1.30/deb/`.
pub fn repository_url(base: &str, minor: u32, format: PackageFormat) -> String {
    format!("{}/v1.{minor}/{format}/", base.trim_end_matches('/'))
}

/// The mirror's directory for a minor below the packages dir: `v1.30/deb`.
pub fn mirror_dir(minor: u32, format: PackageFormat) -> String {
    format!("v1.{minor}/{format}")
}

/// The package architecture of an airlock architecture.
pub fn package_arch(format: PackageFormat, arch: &str) -> String {
    match (format, arch) {
        (PackageFormat::Rpm, "amd64") => "x86_64".into(),
        (PackageFormat::Rpm, "arm64") => "aarch64".into(),
        _ => arch.to_string(),
    }
}

/// Parse `deb`, `rpm` or `deb,rpm` (each once).
pub fn parse_formats(list: &[String]) -> std::result::Result<Vec<PackageFormat>, String> {
    let mut out = Vec::new();
    for s in list.iter().flat_map(|s| s.split(',')) {
        let f: PackageFormat = s
            .trim()
            .parse()
            .map_err(|e: crate::manifest::PackageFormatError| e.to_string())?;
        if !out.contains(&f) {
            out.push(f);
        }
    }
    Ok(out)
}

/// Resolve the packages of `versions` (the target first, then the back-out version) for
/// `arches`, in every requested format.
pub async fn resolve(
    ctx: &Ctx<'_>,
    opts: &PackageOptions,
    versions: &[(Version, Role)],
    arches: &[String],
) -> Result<Resolved> {
    let mut out = Resolved::default();
    for &format in &opts.formats {
        let mut minors: Vec<u32> = Vec::new();
        for (v, _) in versions {
            if !minors.contains(&v.minor) {
                minors.push(v.minor);
            }
        }
        let mut source = PackageSource {
            format,
            to_dir: String::new(),
            from_dir: None,
            cri_tools: String::new(),
            kubernetes_cni: String::new(),
        };
        for minor in minors {
            let url = repository_url(&opts.base_url, minor, format);
            let index = match format {
                PackageFormat::Deb => deb::index(ctx, &url).await?,
                PackageFormat::Rpm => rpm::index(ctx, &url).await?,
            };
            let dir = format!(
                "{}/{}",
                crate::layout::PACKAGES_DIR,
                mirror_dir(minor, format)
            );
            let mut repo = RepoBuilder::new(format, &index, &dir)?;
            for (v, role) in versions.iter().filter(|(v, _)| v.minor == minor) {
                for arch in arches {
                    let picked = repo.pick_version(v, &package_arch(format, arch), *role)?;
                    if *role == Role::Target && source.cri_tools.is_empty() {
                        source.cri_tools = picked.0;
                        source.kubernetes_cni = picked.1;
                    }
                }
                match role {
                    Role::Target => source.to_dir = mirror_dir(minor, format),
                    _ => source.from_dir = Some(mirror_dir(minor, format)),
                }
            }
            out.notes.push(format!(
                "packages: {format} repository {url} verified with key {} ({} files of metadata); {}",
                index.signed_by,
                index.meta.len(),
                repo.notes.join("; ")
            ));
            out.notes.extend(index.notes.iter().cloned());
            let (r, files) = repo.finish();
            out.repositories.push(r);
            out.files.extend(files);
        }
        out.sources.push(source);
    }
    Ok(out)
}

/// One repository's lock entries, built up package by package.
struct RepoBuilder<'a> {
    format: PackageFormat,
    index: &'a RepoIndex,
    dir: SafeRelPath,
    files: Vec<LockedFile>,
    packages: Vec<CarriedPackage>,
    seen: BTreeSet<String>,
    notes: Vec<String>,
}

impl<'a> RepoBuilder<'a> {
    fn new(format: PackageFormat, index: &'a RepoIndex, dir: &str) -> Result<Self> {
        let mut b = RepoBuilder {
            format,
            index,
            dir: SafeRelPath::new(dir).map_err(Error::from)?,
            files: Vec::new(),
            packages: Vec::new(),
            seen: BTreeSet::new(),
            notes: Vec::new(),
        };
        for m in &index.meta {
            let target = b.target(m.path.as_str())?;
            if b.seen.insert(target.to_string()) {
                b.files.push(LockedFile {
                    name: format!("{} ({format} {})", m.path, dir),
                    source: FileSource::Url(format!("{}{}", index.url, m.path)),
                    sha256: m.sha256,
                    size: Some(m.size),
                    target,
                    mode: Mode(0o644),
                    kind: Some(FileKind::PackageMetadata),
                });
            }
        }
        Ok(b)
    }

    fn target(&self, rel: &str) -> Result<SafeRelPath> {
        Ok(SafeRelPath::new(&format!("{}/{rel}", self.dir))?)
    }

    /// kubeadm, kubelet and kubectl at `v`, and the cri-tools and kubernetes-cni they
    /// ask for; returns the versions of the last two.
    fn pick_version(&mut self, v: &Version, arch: &str, role: Role) -> Result<(String, String)> {
        let upstream = format!("1.{}.{}", v.minor, v.patch);
        let mut core = Vec::new();
        for name in CORE_PACKAGES {
            let p = self
                .newest(name, arch, |p| p.version.upstream() == upstream)
                .ok_or_else(|| self.lacks(name, &upstream, arch))?;
            core.push(p);
        }
        let mut chosen = core.clone();
        let mut picked = Vec::new();
        for (who, name) in [(&core[0], CRI_TOOLS), (&core[1], KUBERNETES_CNI)] {
            let p = self.pick_dependency(who, name, arch)?;
            picked.push(p.version.display());
            chosen.push(p);
        }
        let core_note = format!(
            "{} {} for {arch}: {}",
            CORE_PACKAGES.join("/"),
            upstream,
            core.iter()
                .map(|p| p.version.display())
                .collect::<Vec<_>>()
                .join(", ")
        );
        self.notes.push(core_note);
        for p in chosen {
            self.carry(&p, role)?;
        }
        Ok((picked[0].clone(), picked[1].clone()))
    }

    /// The newest `name` that satisfies `who`'s dependency on it (any version when `who`
    /// names none), with a note saying so.
    fn pick_dependency(&mut self, who: &Listed, name: &str, arch: &str) -> Result<Listed> {
        let dep = who.depends.iter().find(|d| d.name == name).cloned();
        let wanted = |p: &Listed| match &dep {
            Some(Dep {
                constraint: Some((op, want)),
                ..
            }) => op.holds(p.version.cmp(want)),
            _ => true,
        };
        let who_is = format!("{} {}", who.name, who.version.display());
        let Some(p) = self.newest(name, arch, wanted) else {
            let why = dep
                .as_ref()
                .map(|d| format!("satisfying {who_is}'s dependency {}", d.describe()))
                .unwrap_or_default();
            return Err(self.lacks(name, &why, arch));
        };
        let why = match &dep {
            Some(d) => format!(
                "{name} {}: the newest satisfying {who_is}'s dependency {}",
                p.version.display(),
                d.describe()
            ),
            None => format!(
                "{name} {}: {who_is} names no version of it, so the newest in the repository",
                p.version.display()
            ),
        };
        if !self.notes.contains(&why) {
            self.notes.push(why);
        }
        Ok(p)
    }

    /// The newest package of `name` for `arch` (or arch-independent) that `ok` accepts.
    fn newest(&self, name: &str, arch: &str, ok: impl Fn(&Listed) -> bool) -> Option<Listed> {
        self.index
            .packages
            .iter()
            .filter(|p| p.name == name && (p.arch == arch || p.arch == "all" || p.arch == "noarch"))
            .filter(|p| ok(p))
            .max_by(|a, b| a.version.cmp(&b.version))
            .cloned()
    }

    fn lacks(&self, name: &str, what: &str, arch: &str) -> Error {
        let mut have: Vec<String> = self
            .index
            .packages
            .iter()
            .filter(|p| p.name == name && (p.arch == arch || p.arch == "all" || p.arch == "noarch"))
            .map(|p| crate::escape::Untrusted(&p.version.display()).to_string())
            .collect();
        have.sort();
        have.dedup();
        Error::Repository {
            url: self.index.index_url.clone(),
            reason: format!(
                "the repository has no {name} {what} for {arch} (it lists {})",
                if have.is_empty() {
                    "none".to_string()
                } else {
                    have.join(", ")
                }
            ),
        }
    }

    fn carry(&mut self, p: &Listed, role: Role) -> Result<()> {
        let version = p.version.display();
        let bad = |r: String| Error::Repository {
            url: self.index.index_url.clone(),
            reason: format!(
                "{}: {r}",
                crate::escape::Untrusted(&format!("{} {version} {}", p.name, p.arch))
            ),
        };
        for tok in [&p.name, &version, &p.arch] {
            if !is_package_token(tok) {
                return Err(bad(format!(
                    "{} is not a plain package token",
                    crate::escape::Untrusted(tok)
                )));
            }
        }
        let sha256 = p
            .sha256
            .ok_or_else(|| bad("the index lists no sha256 for it".into()))?;
        let rel = p.path.trim_start_matches("./");
        // The unsafe path keeps its own error (exit 4), with where it was found.
        let target = self.target(rel).map_err(|e| {
            e.context(format!(
                "{}: {}: its path",
                self.index.index_url,
                crate::escape::Untrusted(&format!("{} {version} {}", p.name, p.arch))
            ))
        })?;
        if !self.seen.insert(target.to_string()) {
            return Ok(());
        }
        self.files.push(LockedFile {
            name: format!("{} {version} {}", p.name, p.arch),
            source: FileSource::Url(format!("{}{rel}", self.index.url)),
            sha256,
            size: p.size,
            target: target.clone(),
            mode: Mode(0o644),
            kind: Some(FileKind::Package),
        });
        self.packages.push(CarriedPackage {
            name: p.name.clone(),
            version,
            arch: p.arch.clone(),
            role,
            target,
        });
        Ok(())
    }

    fn finish(mut self) -> (PackageRepository, Vec<LockedFile>) {
        self.packages.sort();
        (
            PackageRepository {
                format: self.format,
                source: self.index.url.clone(),
                dir: self.dir,
                signed_by: self.index.signed_by.clone(),
                packages: self.packages,
            },
            self.files,
        )
    }
}

/// Open a stored index, decompressing gzip or zstd (told by magic bytes), limited to
/// [`MAX_INDEX_BYTES`]. `None` for a compression this airlock cannot read (xz, bzip2).
pub fn open_index(path: &Path) -> Result<Option<Box<dyn BufRead>>> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io("open", path, e))?;
    let mut head = [0u8; 6];
    let mut n = 0;
    while n < head.len() {
        let k = f
            .read(&mut head[n..])
            .map_err(|e| Error::io("read", path, e))?;
        if k == 0 {
            break;
        }
        n += k;
    }
    let f = std::fs::File::open(path).map_err(|e| Error::io("open", path, e))?;
    let head = &head[..n];
    let r: Box<dyn Read> = if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(std::io::BufReader::new(
            f,
        )))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(zstd::Decoder::new(f).map_err(|e| Error::io("open zstd stream", path, e))?)
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) || head.starts_with(b"BZh") {
        return Ok(None);
    } else {
        Box::new(f)
    };
    Ok(Some(Box::new(std::io::BufReader::new(
        r.take(MAX_INDEX_BYTES),
    ))))
}

/// Hash the decompressed content of a stored index (to check that every compressed
/// variant of one index says the same).
pub fn decompressed_sha256(path: &Path) -> Result<Option<Sha256Digest>> {
    let Some(r) = open_index(path)? else {
        return Ok(None);
    };
    let mut h = crate::digest::HashingReader::new(r);
    std::io::copy(&mut h, &mut std::io::sink()).map_err(|e| Error::io("decompress", path, e))?;
    Ok(Some(h.finish().1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(name: &str, v: &str, arch: &str, depends: &str) -> Listed {
        Listed {
            name: name.into(),
            version: VersionKey::Deb(v.into()),
            arch: arch.into(),
            path: format!("./{arch}/{name}_{v}_{arch}.deb"),
            sha256: Some(Sha256Digest::of(format!("{name}{v}{arch}").as_bytes())),
            size: Some(10),
            depends: deb::parse_depends(depends),
        }
    }

    fn index() -> RepoIndex {
        let mut packages = Vec::new();
        for arch in ["amd64", "arm64"] {
            for v in ["1.30.1-1.1", "1.30.2-1.0", "1.30.2-1.1"] {
                packages.push(listed("kubeadm", v, arch, "cri-tools (>= 1.30.0)"));
                packages.push(listed("kubelet", v, arch, "kubernetes-cni (>= 1.2.0)"));
                packages.push(listed("kubectl", v, arch, ""));
            }
            for v in ["1.29.0-1.1", "1.30.0-1.1", "1.30.1-1.1"] {
                packages.push(listed("cri-tools", v, arch, ""));
            }
            packages.push(listed("kubernetes-cni", "1.1.0-1.1", arch, ""));
            packages.push(listed("kubernetes-cni", "1.4.0-1.1", arch, ""));
        }
        RepoIndex {
            url: "https://pkgs.k8s.io/core:/stable:/v1.30/deb/".into(),
            index_url: "https://pkgs.k8s.io/core:/stable:/v1.30/deb/Packages".into(),
            meta: vec![MetaFile {
                path: SafeRelPath::new("InRelease").unwrap(),
                sha256: Sha256Digest::of(b"r"),
                size: 1,
            }],
            packages,
            signed_by: "ABCD".into(),
            notes: vec![],
        }
    }

    #[test]
    fn picks_the_newest_build_of_the_version_and_what_the_dependencies_ask() {
        let idx = index();
        let mut b = RepoBuilder::new(PackageFormat::Deb, &idx, "packages/v1.30/deb").unwrap();
        let (cri, cni) = b
            .pick_version(&Version::new(30, 2), "amd64", Role::Target)
            .unwrap();
        assert_eq!((cri.as_str(), cni.as_str()), ("1.30.1-1.1", "1.4.0-1.1"));
        // The same packages again (another version sharing them) are carried once.
        b.pick_version(&Version::new(30, 2), "amd64", Role::Backout)
            .unwrap();
        let (repo, files) = b.finish();
        let got: Vec<String> = repo
            .packages
            .iter()
            .map(|p| format!("{} {} {} {}", p.name, p.version, p.arch, p.role))
            .collect();
        assert_eq!(
            got,
            [
                "cri-tools 1.30.1-1.1 amd64 target",
                "kubeadm 1.30.2-1.1 amd64 target",
                "kubectl 1.30.2-1.1 amd64 target",
                "kubelet 1.30.2-1.1 amd64 target",
                "kubernetes-cni 1.4.0-1.1 amd64 target",
            ]
        );
        assert_eq!(files.len(), 6);
        assert_eq!(
            files[4].target.as_str(),
            "packages/v1.30/deb/amd64/cri-tools_1.30.1-1.1_amd64.deb"
        );
        assert_eq!(
            files[4].source.describe(),
            "https://pkgs.k8s.io/core:/stable:/v1.30/deb/amd64/cri-tools_1.30.1-1.1_amd64.deb"
        );
        assert_eq!(files[0].kind, Some(FileKind::PackageMetadata));
        let lock_check = crate::manifest::check_package_repositories(
            std::slice::from_ref(&repo),
            files.iter().map(|f| (&f.target, f.kind)),
        );
        assert_eq!(lock_check, Ok(()));
    }

    #[test]
    fn a_missing_version_or_dependency_names_the_index() {
        let idx = index();
        let mut b = RepoBuilder::new(PackageFormat::Deb, &idx, "packages/v1.30/deb").unwrap();
        let e = b
            .pick_version(&Version::new(30, 3), "amd64", Role::Target)
            .unwrap_err()
            .to_string();
        assert!(e.contains("/v1.30/deb/Packages"), "{e}");
        assert!(e.contains("no kubeadm 1.30.3 for amd64"), "{e}");
        assert!(e.contains("1.30.1-1.1, 1.30.2-1.0, 1.30.2-1.1"), "{e}");
        let mut idx = index();
        idx.packages
            .retain(|p| p.name != "cri-tools" || p.version == VersionKey::Deb("1.29.0-1.1".into()));
        let mut b = RepoBuilder::new(PackageFormat::Deb, &idx, "packages/v1.30/deb").unwrap();
        let e = b
            .pick_version(&Version::new(30, 2), "arm64", Role::Target)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(
                "cri-tools satisfying kubeadm 1.30.2-1.1's dependency cri-tools (>= 1.30.0)"
            ),
            "{e}"
        );
    }

    #[test]
    fn formats_and_urls() {
        assert_eq!(
            parse_formats(&["deb,rpm".into(), "deb".into()]).unwrap(),
            [PackageFormat::Deb, PackageFormat::Rpm]
        );
        assert!(parse_formats(&["apk".into()]).is_err());
        assert_eq!(
            repository_url(PKGS_K8S_IO, 30, PackageFormat::Rpm),
            "https://pkgs.k8s.io/core:/stable:/v1.30/rpm/"
        );
        assert_eq!(package_arch(PackageFormat::Rpm, "arm64"), "aarch64");
        assert_eq!(package_arch(PackageFormat::Deb, "arm64"), "arm64");
    }
}
