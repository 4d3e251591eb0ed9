//! Package repositories shaped like pkgs.k8s.io's, built with Debian's own tools: an
//! OpenPGP key made by `gpg` in a private GNUPGHOME; `.deb` files by `dpkg-deb` and a
//! flat repository (`Packages`, `Packages.gz`, `Release`, `InRelease`, `Release.gpg`) by
//! `apt-ftparchive` and `gpg`; `.rpm` files by `rpmbuild`, signed by `rpmsign`, and
//! rpm-md metadata by `createrepo_c` with `repomd.xml.asc` by `gpg --detach-sign`.
//!
//! Packages are tiny (a shell script each) with the dependencies the real ones declare,
//! so kubeadm asks for cri-tools and kubelet for kubernetes-cni.
//!
//! Debian packages needed: gpg (gnupg), dpkg-dev, apt-utils, rpm, createrepo-c; and apt
//! (`apt-get`) and dnf with dnf-plugins-core to read the mirrors back.

use std::path::{Path, PathBuf};
use std::process::Command;

/// One package to build.
#[derive(Debug, Clone)]
pub struct PkgSpec {
    /// Name (`kubeadm`).
    pub name: String,
    /// Debian version (`1.30.2-1.1`); for rpm, `1.30.2` and the release.
    pub version: String,
    /// rpm release (`150500.1.1`).
    pub release: String,
    /// Dependencies, Debian syntax (`cri-tools (>= 1.30.0), kubelet`).
    pub depends: String,
}

/// The five packages of one Kubernetes version, as the real repositories version them:
/// `1.30.2-1.1` (deb) / `1.30.2-150500.1.1` (rpm); cri-tools and kubernetes-cni at the
/// given versions.
pub fn k8s_packages(k8s: &str, cri: &str, cni: &str) -> Vec<PkgSpec> {
    let minor: String = k8s.split('.').take(2).collect::<Vec<_>>().join(".");
    let p = |name: &str, v: &str, depends: String| PkgSpec {
        name: name.into(),
        version: v.into(),
        release: "150500.1.1".into(),
        depends,
    };
    vec![
        p(
            "kubeadm",
            k8s,
            format!("kubelet (>= 1.19.0), kubectl (>= 1.13.0), cri-tools (>= {minor}.0)"),
        ),
        p(
            "kubelet",
            k8s,
            "iptables (>= 1.4.21), kubernetes-cni (>= 1.2.0), iproute2, socat, util-linux, mount, ethtool, ebtables, conntrack".into(),
        ),
        p("kubectl", k8s, String::new()),
        p("cri-tools", cri, String::new()),
        p("kubernetes-cni", cni, String::new()),
    ]
}

fn run(cmd: &mut Command, what: &str) -> std::process::Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// An OpenPGP key in its own GNUPGHOME: an RSA primary key and a signing subkey (what
/// gpg makes by default, and what repository keys usually are).
pub struct PgpKey {
    /// The GNUPGHOME.
    pub home: PathBuf,
    /// The armored public key (`Release.key`).
    pub armored: PathBuf,
    /// The binary public keyring (`gpg --dearmor` of it), for apt's `signed-by`.
    pub keyring: PathBuf,
    /// Primary key fingerprint (upper-case hex).
    pub fingerprint: String,
}

impl PgpKey {
    /// Make a key in `dir`.
    pub fn generate(dir: &Path, name: &str) -> PgpKey {
        let home = dir.join("gnupg");
        std::fs::create_dir_all(&home).expect("mkdir gnupg");
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700))
                .expect("chmod gnupg");
        }
        let params = dir.join("keyparams");
        std::fs::write(
            &params,
            format!(
                "%no-protection\nKey-Type: RSA\nKey-Length: 2048\nKey-Usage: sign\nSubkey-Type: RSA\nSubkey-Length: 2048\nSubkey-Usage: sign\nName-Real: {name}\nName-Email: packages@example.invalid\nExpire-Date: 0\n%commit\n"
            ),
        )
        .expect("write key params");
        run(
            Command::new("gpg")
                .env("GNUPGHOME", &home)
                .args(["--batch", "--quiet", "--gen-key"])
                .arg(&params),
            "gpg --gen-key",
        );
        let armored = dir.join("Release.key");
        let out = run(
            Command::new("gpg")
                .env("GNUPGHOME", &home)
                .args(["--armor", "--export"]),
            "gpg --export",
        );
        std::fs::write(&armored, &out.stdout).expect("write Release.key");
        let keyring = dir.join("keyring.gpg");
        let out = run(
            Command::new("gpg")
                .env("GNUPGHOME", &home)
                .args(["--export"]),
            "gpg --export",
        );
        std::fs::write(&keyring, &out.stdout).expect("write keyring");
        let out = run(
            Command::new("gpg")
                .env("GNUPGHOME", &home)
                .args(["--list-keys", "--with-colons"]),
            "gpg --list-keys",
        );
        let fingerprint = String::from_utf8_lossy(&out.stdout)
            .lines()
            .find(|l| l.starts_with("fpr:"))
            .and_then(|l| l.split(':').nth(9))
            .expect("fingerprint")
            .to_string();
        PgpKey {
            home,
            armored,
            keyring,
            fingerprint,
        }
    }

    fn gpg(&self) -> Command {
        let mut c = Command::new("gpg");
        c.env("GNUPGHOME", &self.home).args(["--batch", "--yes"]);
        c
    }

    /// `gpg --clearsign` `input` into `output`.
    pub fn clearsign(&self, input: &Path, output: &Path) {
        run(
            self.gpg()
                .arg("--clearsign")
                .arg("-o")
                .arg(output)
                .arg(input),
            "gpg --clearsign",
        );
    }

    /// `gpg --detach-sign --armor` `input` into `output`.
    pub fn detach_sign(&self, input: &Path, output: &Path) {
        run(
            self.gpg()
                .args(["--detach-sign", "--armor", "-o"])
                .arg(output)
                .arg(input),
            "gpg --detach-sign",
        );
    }
}

impl Drop for PgpKey {
    /// Stop the gpg-agent this key's GNUPGHOME started (it would linger otherwise).
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(&self.home)
            .args(["--kill", "gpg-agent"])
            .output();
    }
}

/// Build `.deb`s for `pkgs` (each for every arch) into `repo/ARCH/` and write a flat
/// repository there: `Packages`, `Packages.gz`, `Release`, `InRelease`, `Release.gpg`.
pub fn build_deb_repo(repo: &Path, pkgs: &[PkgSpec], arches: &[&str], key: &PgpKey) {
    let work = repo.with_extension("build");
    for arch in arches {
        std::fs::create_dir_all(repo.join(arch)).expect("mkdir arch");
        for p in pkgs {
            let root = work.join(format!("{}_{}_{arch}", p.name, p.version));
            std::fs::create_dir_all(root.join("DEBIAN")).expect("mkdir DEBIAN");
            std::fs::create_dir_all(root.join("usr/bin")).expect("mkdir usr/bin");
            let bin = root.join("usr/bin").join(&p.name);
            std::fs::write(&bin, format!("#!/bin/sh\necho {} {}\n", p.name, p.version))
                .expect("write script");
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755))
                    .expect("chmod");
            }
            let depends = if p.depends.is_empty() {
                String::new()
            } else {
                format!("Depends: {}\n", p.depends)
            };
            std::fs::write(
                root.join("DEBIAN/control"),
                format!(
                    "Package: {}\nVersion: {}\nArchitecture: {arch}\nMaintainer: Test <packages@example.invalid>\n{depends}Description: stand-in for {}\n",
                    p.name, p.version, p.name
                ),
            )
            .expect("write control");
            run(
                Command::new("dpkg-deb")
                    .args(["--root-owner-group", "-Zgzip", "--build"])
                    .arg(&root)
                    .arg(
                        repo.join(arch)
                            .join(format!("{}_{}_{arch}.deb", p.name, p.version)),
                    ),
                "dpkg-deb --build",
            );
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    // Scanned from the top, so `Filename:` reads `./amd64/...`.
    let out = run(
        Command::new("apt-ftparchive")
            .args(["packages", "."])
            .current_dir(repo),
        "apt-ftparchive packages",
    );
    std::fs::write(repo.join("Packages"), &out.stdout).expect("write Packages");
    run(
        Command::new("gzip")
            .args(["-9kn", "Packages"])
            .current_dir(repo),
        "gzip Packages",
    );
    // Written outside the repository: apt-ftparchive would hash a half-written Release.
    let out = run(
        Command::new("apt-ftparchive")
            .args([
                "-o",
                "APT::FTPArchive::Release::Date=Thu, 01 Jan 2026 00:00:00 UTC",
                "-o",
                "APT::FTPArchive::Release::Origin=obs://build.opensuse.org/isv:kubernetes/deb",
                "-o",
                "APT::FTPArchive::Release::Label=isv:kubernetes",
                "-o",
            ])
            .arg(format!(
                "APT::FTPArchive::Release::Architectures={}",
                arches.join(" ")
            ))
            .args(["release", "."])
            .current_dir(repo),
        "apt-ftparchive release",
    );
    std::fs::write(repo.join("Release"), &out.stdout).expect("write Release");
    key.clearsign(&repo.join("Release"), &repo.join("InRelease"));
    run(
        key.gpg()
            .args(["--detach-sign", "-o"])
            .arg(repo.join("Release.gpg"))
            .arg(repo.join("Release")),
        "gpg --detach-sign Release",
    );
}

/// Build signed `.rpm`s for `pkgs` (each for every rpm arch) into `repo/ARCH/` and write
/// rpm-md metadata with `createrepo_c`, signed into `repodata/repomd.xml.asc`.
pub fn build_rpm_repo(repo: &Path, pkgs: &[PkgSpec], arches: &[&str], key: &PgpKey) {
    let top = repo.with_extension("rpmbuild");
    std::fs::create_dir_all(top.join("SPECS")).expect("mkdir SPECS");
    for arch in arches {
        std::fs::create_dir_all(repo.join(arch)).expect("mkdir arch");
        for p in pkgs {
            let requires: Vec<String> = p
                .depends
                .split(',')
                .map(|d| d.trim().replace(['(', ')'], ""))
                .filter(|d| !d.is_empty())
                .collect();
            let spec = top.join("SPECS").join(format!("{}.spec", p.name));
            std::fs::write(
                &spec,
                format!(
                    "Name: {n}\nVersion: {v}\nRelease: {r}\nSummary: stand-in for {n}\nLicense: Apache-2.0\nBuildArch: {arch}\n{req}\n%description\nstand-in for {n}\n%install\nmkdir -p %{{buildroot}}/usr/bin\nprintf '#!/bin/sh\\necho {n} {v}\\n' > %{{buildroot}}/usr/bin/{n}\nchmod 755 %{{buildroot}}/usr/bin/{n}\n%files\n/usr/bin/{n}\n",
                    n = p.name,
                    v = p.version.split('-').next().unwrap_or(&p.version),
                    r = p.release,
                    req = if requires.is_empty() {
                        String::new()
                    } else {
                        format!("Requires: {}", requires.join(", "))
                    },
                ),
            )
            .expect("write spec");
            run(
                Command::new("rpmbuild")
                    .arg("--quiet")
                    .arg("--define")
                    .arg(format!("_topdir {}", top.display()))
                    // No post-install scripts (strip, compress): the packages hold a
                    // shell script, and a fresh machine has no binutils.
                    .args(["--define", "_build_id_links none"])
                    .args(["--define", "__os_install_post %{nil}"])
                    .args(["--define", "debug_package %{nil}"])
                    .args(["--target", arch, "-bb"])
                    .arg(&spec),
                "rpmbuild",
            );
        }
        let built = top.join("RPMS").join(arch);
        for e in std::fs::read_dir(&built).expect("read RPMS") {
            let e = e.expect("entry");
            std::fs::rename(e.path(), repo.join(arch).join(e.file_name())).expect("move rpm");
        }
    }
    let mut rpms: Vec<PathBuf> = Vec::new();
    for arch in arches {
        for e in std::fs::read_dir(repo.join(arch)).expect("read arch dir") {
            rpms.push(e.expect("entry").path());
        }
    }
    rpms.sort();
    run(
        Command::new("rpmsign")
            .env("GNUPGHOME", &key.home)
            .args(["--define", "__gpg /usr/bin/gpg", "--define"])
            .arg(format!("_gpg_name {}", key.fingerprint))
            .arg("--addsign")
            .args(&rpms),
        "rpmsign",
    );
    let _ = std::fs::remove_dir_all(&top);
    run(
        Command::new("createrepo_c")
            .args(["--no-database", "--quiet"])
            .arg(repo),
        "createrepo_c",
    );
    key.detach_sign(
        &repo.join("repodata/repomd.xml"),
        &repo.join("repodata/repomd.xml.asc"),
    );
}

/// `apt-get` with its own state, cache and sources list below `dir` (nothing of the
/// machine's apt configuration is read or changed), signature checking on.
pub fn apt(dir: &Path, sources_line: &str, args: &[&str]) -> std::process::Output {
    apt_on_node(dir, sources_line, None, "", args)
}

/// [`apt`] as on a node of architecture `arch` (default: this machine's) whose dpkg
/// status file holds `status` (stanzas as dpkg writes them: what is installed).
pub fn apt_on_node(
    dir: &Path,
    sources_line: &str,
    arch: Option<&str>,
    status: &str,
    args: &[&str],
) -> std::process::Output {
    for sub in [
        "state/lists/partial",
        "cache/archives/partial",
        "etc/sources.list.d",
        "etc/apt.conf.d",
        "etc/preferences.d",
        "etc/trusted.gpg.d",
        "download",
    ] {
        std::fs::create_dir_all(dir.join(sub)).expect("mkdir apt dir");
    }
    std::fs::write(dir.join("etc/sources.list"), format!("{sources_line}\n")).expect("sources");
    let d = |p: &str| dir.join(p).display().to_string();
    let opts = [
        format!("Dir::State={}", d("state")),
        format!("Dir::State::status={}", d("state/status")),
        format!("Dir::Cache={}", d("cache")),
        format!("Dir::Etc={}", d("etc")),
        format!("Dir::Etc::SourceList={}", d("etc/sources.list")),
        format!("Dir::Etc::SourceParts={}", d("etc/sources.list.d")),
        format!("Dir::Etc::Parts={}", d("etc/apt.conf.d")),
        format!("Dir::Etc::PreferencesParts={}", d("etc/preferences.d")),
        format!("Dir::Etc::TrustedParts={}", d("etc/trusted.gpg.d")),
        "Debug::NoLocking=1".into(),
        "APT::Sandbox::User=root".into(),
    ];
    let opts = opts.into_iter().chain(arch.into_iter().flat_map(|a| {
        [
            format!("APT::Architecture={a}"),
            format!("APT::Architectures={a}"),
        ]
    }));
    let _ = std::fs::write(dir.join("state/status"), status);
    let mut c = Command::new("apt-get");
    for o in opts {
        c.arg("-o").arg(o);
    }
    c.args(args).current_dir(dir.join("download"));
    c.output().expect("run apt-get")
}

/// `dnf` against one `.repo` file, in an install root below `dir` (the machine's dnf
/// configuration and rpm database are not used).
pub fn dnf(dir: &Path, repo_file: &str, args: &[&str]) -> std::process::Output {
    for sub in ["root", "repos", "cache", "download"] {
        std::fs::create_dir_all(dir.join(sub)).expect("mkdir dnf dir");
    }
    std::fs::write(dir.join("repos/kubernetes.repo"), repo_file).expect("write repo file");
    let mut c = Command::new("dnf");
    c.arg("-y")
        .arg("--disableplugin=local")
        .arg(format!("--installroot={}", dir.join("root").display()))
        .arg(format!("--setopt=reposdir={}", dir.join("repos").display()))
        .arg(format!("--setopt=cachedir={}", dir.join("cache").display()))
        .arg("--releasever=9")
        .args(args);
    c.output().expect("run dnf")
}
