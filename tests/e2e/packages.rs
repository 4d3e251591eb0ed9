//! Node packages (`airlock resolve --packages deb,rpm --package-key FILE`): repositories
//! shaped like pkgs.k8s.io's, built with Debian's own tools (`dpkg-deb`,
//! `apt-ftparchive`, `gpg`, `rpmbuild`, `rpmsign`, `createrepo_c`), served by a real file
//! server; the hop is resolved, built, verified and installed with `--packages-dir`, and
//! then real `apt-get` and `dnf` read the installed partial mirror with signature
//! checking on. Bad inputs (a bad signature, a key that is not the repository's, an
//! index or package that does not match its hash, a missing version, an unsigned rpm
//! repository) each fail naming the file, and nothing is carried.

use std::path::{Path, PathBuf};

use crate::common::cli::{self, Cli, ok};
use crate::common::images::sha256_hex;
use crate::common::packages::{
    PgpKey, PkgSpec, apt, build_deb_repo, build_rpm_repo, dnf, k8s_packages,
};
use crate::common::scenario::{sh, sh_ok};
use crate::common::servers::{FileServer, Registry};
use crate::common::upstream::{Opts, Upstream};

/// The packages of the v1.30 repository: two patches of the core three, an old
/// cri-tools that kubeadm's dependency rules out, two kubernetes-cni that both satisfy.
fn v130() -> Vec<PkgSpec> {
    let mut p = k8s_packages("1.30.2-1.1", "1.30.0-1.1", "1.4.0-1.1");
    p.extend(
        k8s_packages("1.30.1-1.1", "1.29.0-1.1", "1.3.0-1.1")
            .into_iter()
            .filter(|p| p.name != "cri-tools"),
    );
    // cri-tools 1.29.0 is older than kubeadm's `cri-tools (>= 1.30.0)`.
    p.push(PkgSpec {
        name: "cri-tools".into(),
        version: "1.29.0-1.1".into(),
        release: "150500.1.1".into(),
        depends: String::new(),
    });
    p
}

fn v129() -> Vec<PkgSpec> {
    k8s_packages("1.29.6-1.1", "1.29.0-1.1", "1.3.0-1.1")
}

/// `www/pkgs/core:/stable:/v1.NN/{deb,rpm}` for 1.29 and 1.30, signed by `key`.
fn build_repos(www: &Path, key: &PgpKey, rpm: bool) {
    let base = www.join("pkgs/core:/stable:");
    for (minor, pkgs) in [("v1.30", v130()), ("v1.29", v129())] {
        build_deb_repo(
            &base.join(minor).join("deb"),
            &pkgs,
            &["amd64", "arm64"],
            key,
        );
        if rpm {
            build_rpm_repo(&base.join(minor).join("rpm"), &pkgs, &["x86_64"], key);
        }
    }
}

fn file_sha(p: &Path) -> String {
    sha256_hex(&std::fs::read(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display())))
}

/// A deb and rpm hop: resolved with the repositories' key, built, verified and installed
/// with `--packages-dir`; then the lock, apt-get and dnf with rpm are checked, one test
/// each.
mod deb_and_rpm_hop_builds_verifies_installs_and_the_package_managers_read_it {
    use super::*;

    /// An upstream with deb and rpm repositories signed by `key`, resolved with it.
    fn resolved() -> (Upstream, PgpKey) {
        let u = Upstream::new(Opts::default());
        let key = PgpKey::generate(&u.path("pgp"), "Kubernetes packages (test)");
        build_repos(&u.www, &key, true);
        let key_arg = key.armored.display().to_string();
        let out = u.resolve(&["--packages", "deb,rpm", "--package-key", &key_arg]);
        let stdout = ok(&out);
        assert!(stdout.contains("packages: deb"), "{stdout}");
        (u, key)
    }

    /// [`resolved`], built, verified and installed with its packages under `mirror/`.
    struct Installed {
        u: Upstream,
        key: PgpKey,
        /// The install's JSON report.
        report: serde_json::Value,
        /// The `--packages-dir`.
        pkgdir: PathBuf,
        /// Upstream's v1.30 deb repository.
        upstream_repo: PathBuf,
    }

    fn installed() -> Installed {
        let (u, key) = resolved();
        // Build (the metadata comes from the cache resolve verified into), verify, install.
        let (keyp, out) = u.keygen_and_build();
        ok(&out);
        u.verify(&keyp, &[]).ok();
        let enclave = Registry::start();
        let dest = u.path("dest");
        let pkgdir = u.path("mirror");
        let install = u.install(&keyp, &enclave, &dest);
        let report = install.arg("--packages-dir").arg(&pkgdir).ok().json();
        let upstream_repo = u.www.join("pkgs/core:/stable:/v1.30/deb");
        assert!(
            !dest.join("packages").exists(),
            "relocated by --packages-dir"
        );
        assert!(dest.join("bin/v1.30.2/linux/amd64/kubeadm").is_file());
        Installed {
            u,
            key,
            report,
            pkgdir,
            upstream_repo,
        }
    }

    impl Installed {
        /// The report's field `field` for the repository whose path ends in `suffix`.
        fn repository(&self, suffix: &str, field: &str) -> String {
            let repos = self.report["packages"]["repositories"]
                .as_array()
                .expect("report");
            let repo = repos
                .iter()
                .find(|r| r["path"].as_str().unwrap().ends_with(suffix));
            repo.and_then(|r| r[field].as_str())
                .expect(field)
                .to_string()
        }
    }

    #[test]
    fn the_lock_carries_four_signed_repositories_and_the_package_procedure() {
        let (u, key) = resolved();
        // The lock: four repositories signed by the key, the right versions, amd64 only.
        let lock = u.lock();
        let repos = lock["package_repositories"]
            .as_array()
            .expect("repositories");
        let dirs: Vec<&str> = repos.iter().map(|r| r["dir"].as_str().unwrap()).collect();
        assert_eq!(
            dirs,
            [
                "packages/v1.30/deb",
                "packages/v1.29/deb",
                "packages/v1.30/rpm",
                "packages/v1.29/rpm"
            ]
        );
        for r in repos {
            assert_eq!(r["signed_by"], key.fingerprint.as_str());
        }
        let carried = |i: usize| -> Vec<String> {
            repos[i]["packages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    format!(
                        "{} {} {} {}",
                        p["name"].as_str().unwrap(),
                        p["version"].as_str().unwrap(),
                        p["arch"].as_str().unwrap(),
                        p["role"].as_str().unwrap()
                    )
                })
                .collect()
        };
        assert_eq!(
            carried(0),
            [
                "cri-tools 1.30.0-1.1 amd64 target",
                "kubeadm 1.30.2-1.1 amd64 target",
                "kubectl 1.30.2-1.1 amd64 target",
                "kubelet 1.30.2-1.1 amd64 target",
                "kubernetes-cni 1.4.0-1.1 amd64 target",
            ]
        );
        assert_eq!(
            carried(1),
            [
                "cri-tools 1.29.0-1.1 amd64 backout",
                "kubeadm 1.29.6-1.1 amd64 backout",
                "kubectl 1.29.6-1.1 amd64 backout",
                "kubelet 1.29.6-1.1 amd64 backout",
                "kubernetes-cni 1.3.0-1.1 amd64 backout",
            ]
        );
        assert!(
            carried(2).contains(&"kubeadm 1.30.2-150500.1.1 x86_64 target".to_string()),
            "{:?}",
            carried(2)
        );
        let notes = lock["notes"].to_string();
        assert!(
            notes.contains(
                "cri-tools 1.30.0-1.1: the newest satisfying kubeadm 1.30.2-1.1's dependency cri-tools (>= 1.30.0)"
            ),
            "{notes}"
        );
        let files = lock["files"].as_array().unwrap();
        let targets: Vec<&str> = files
            .iter()
            .map(|f| f["target"].as_str().unwrap())
            .collect();
        for t in [
            "packages/v1.30/deb/InRelease",
            "packages/v1.30/deb/Packages",
            "packages/v1.30/deb/Packages.gz",
            "packages/v1.30/deb/amd64/kubeadm_1.30.2-1.1_amd64.deb",
            "packages/v1.30/rpm/repodata/repomd.xml",
            "packages/v1.30/rpm/repodata/repomd.xml.asc",
            "packages/v1.29/deb/amd64/kubelet_1.29.6-1.1_amd64.deb",
        ] {
            assert!(targets.contains(&t), "{t} not in {targets:#?}");
        }
        assert!(!targets.iter().any(|t| t.contains("arm64")), "{targets:#?}");
        assert!(
            !targets.iter().any(|t| t.contains("1.30.1")),
            "{targets:#?}"
        );
        // The checklist uses the package procedure.
        let checklist = lock["checklist"].to_string();
        assert!(
            checklist.contains("apt-mark unhold kubeadm && apt-get update && apt-get install -y kubeadm='1.30.2-*' && apt-mark hold kubeadm"),
            "{checklist}"
        );
        assert!(
            checklist.contains("yum install -y kubeadm-'1.30.2-*' --disableexcludes=kubernetes"),
            "{checklist}"
        );
        assert!(!checklist.contains("install -m 0755"), "{checklist}");
    }

    #[test]
    fn apt_get_reads_the_installed_mirror() {
        let i = installed();
        let (u, key, pkgdir, upstream_repo) = (&i.u, &i.key, &i.pkgdir, &i.upstream_repo);
        // Metadata untouched, byte for byte; packages where upstream has them.
        for f in [
            "InRelease",
            "Packages",
            "Packages.gz",
            "amd64/kubeadm_1.30.2-1.1_amd64.deb",
        ] {
            assert_eq!(
                file_sha(&pkgdir.join("v1.30/deb").join(f)),
                file_sha(&upstream_repo.join(f)),
                "{f}"
            );
        }
        let line = i.repository("v1.30/deb", "sources_list");
        let mirror_url = format!("file://{}", pkgdir.display());
        assert_eq!(
            line,
            format!(
                "deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] {mirror_url}/v1.30/deb/ /"
            )
        );
        // Real apt-get, signature checking on, against the installed mirror.
        let ours = line.replace(
            "/etc/apt/keyrings/kubernetes-apt-keyring.gpg",
            &key.keyring.display().to_string(),
        );
        let aptdir = u.path("apt");
        let upd = apt(&aptdir, &ours, &["update"]);
        ok(&upd);
        let dl = apt(&aptdir, &ours, &["download", "kubeadm=1.30.2-1.1"]);
        ok(&dl);
        assert_eq!(
            file_sha(&aptdir.join("download/kubeadm_1.30.2-1.1_amd64.deb")),
            file_sha(&upstream_repo.join("amd64/kubeadm_1.30.2-1.1_amd64.deb"))
        );
        // The version the mirror does not carry is listed by the signed index but absent.
        let absent = apt(&aptdir, &ours, &["download", "kubeadm=1.30.1-1.1"]);
        assert!(!absent.status.success(), "1.30.1 is not carried");
        // With a key that is not the repository's, apt refuses the mirror.
        let other = PgpKey::generate(&u.path("pgp-other"), "Someone else");
        let theirs = line.replace(
            "/etc/apt/keyrings/kubernetes-apt-keyring.gpg",
            &other.keyring.display().to_string(),
        );
        let bad = apt(&u.path("apt-other"), &theirs, &["update"]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&bad.stdout),
            String::from_utf8_lossy(&bad.stderr)
        );
        assert!(
            !bad.status.success() && (text.contains("NO_PUBKEY") || text.contains("not signed")),
            "{text}"
        );
    }

    #[test]
    fn dnf_and_rpm_read_the_installed_mirror() {
        let i = installed();
        let (u, key) = (&i.u, &i.key);
        // Real dnf (repo_gpgcheck on: repomd.xml.asc is checked) downloads the rpm, and rpm
        // checks the package's own signature with the key.
        let repo_file = i.repository("v1.30/rpm", "repo_file").replace(
            "file:///etc/pki/rpm-gpg/kubernetes.key",
            &format!("file://{}", key.armored.display()),
        );
        assert!(repo_file.contains("repo_gpgcheck=1"), "{repo_file}");
        let dnfdir = u.path("dnf");
        let dest_dl = dnfdir.join("download").display().to_string();
        let got = dnf(
            &dnfdir,
            &repo_file,
            &[
                "--disableexcludes=kubernetes",
                "download",
                "--destdir",
                &dest_dl,
                "kubeadm-1.30.2-150500.1.1",
            ],
        );
        ok(&got);
        let rpm = dnfdir.join("download/kubeadm-1.30.2-150500.1.1.x86_64.rpm");
        assert_eq!(
            file_sha(&rpm),
            file_sha(
                &u.www.join(
                    "pkgs/core:/stable:/v1.30/rpm/x86_64/kubeadm-1.30.2-150500.1.1.x86_64.rpm"
                )
            )
        );
        let db = dnfdir.join("rpmdb");
        std::fs::create_dir_all(&db).unwrap();
        let check = sh(
            &format!(
                "rpmkeys --dbpath {db} --import {key} && rpmkeys --dbpath {db} --checksig {rpm}",
                db = db.display(),
                key = key.armored.display(),
                rpm = rpm.display()
            ),
            &dnfdir,
        );
        let said = ok(&check);
        assert!(said.contains("signatures OK"), "{said}");
    }
}

/// A repository pair for the library-level bad-input checks: built once, copied into
/// the served folder for each case.
struct Repos {
    work: tempfile::TempDir,
    key: PgpKey,
    pristine: PathBuf,
    served: PathBuf,
    files: FileServer,
}

impl Repos {
    fn new() -> Repos {
        let work = crate::common::workdir();
        let key = PgpKey::generate(&work.path().join("pgp"), "Kubernetes packages (test)");
        let pristine = work.path().join("pristine");
        build_repos(&pristine, &key, true);
        let served = work.path().join("www");
        std::fs::create_dir_all(&served).unwrap();
        let files = FileServer::start(&served);
        Repos {
            work,
            key,
            pristine,
            served,
            files,
        }
    }

    /// Lay the pristine repositories out again, then let `change` spoil them.
    fn reset(&self, change: impl FnOnce(&Path)) {
        let _ = std::fs::remove_dir_all(self.served.join("pkgs"));
        let o = sh(
            &format!(
                "cp -a {}/pkgs {}/",
                self.pristine.display(),
                self.served.display()
            ),
            self.work.path(),
        );
        assert!(o.status.success());
        change(&self.served.join("pkgs/core:/stable:"));
    }

    fn http(&self) -> airlock::http::HttpClient {
        airlock::http::HttpClient::new(airlock::http::HttpOptions {
            mirrors: vec![(
                "https://pkgs.k8s.io".into(),
                format!("{}/pkgs", self.files.url()),
            )],
            ca_files: vec![],
        })
        .unwrap()
    }

    /// Resolve the packages of v1.30.2 (and v1.29.6 as back-out) in `formats` with the
    /// key file `key`, into a fresh cache.
    fn resolve(
        &self,
        formats: &[airlock::manifest::PackageFormat],
        key: &Path,
        to: &str,
    ) -> airlock::Result<airlock::packages::Resolved> {
        let cache = tempfile::tempdir_in(self.work.path()).unwrap();
        let store = airlock::upstream_store::Store::open(cache.path()).unwrap();
        let http = self.http();
        let opts = airlock::packages::PackageOptions {
            formats: formats.to_vec(),
            key: airlock::packages::openpgp::RepoKey::load(key)?,
            base_url: airlock::packages::PKGS_K8S_IO.into(),
        };
        let ctx = airlock::packages::Ctx {
            http: &http,
            store: &store,
            key: &opts.key,
        };
        let versions = [
            (to.parse().unwrap(), airlock::manifest::Role::Target),
            ("v1.29.6".parse().unwrap(), airlock::manifest::Role::Backout),
        ];
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(airlock::packages::resolve(
            &ctx,
            &opts,
            &versions,
            &["amd64".to_string()],
        ))
    }
}

fn expect_err(
    r: airlock::Result<airlock::packages::Resolved>,
    code: u8,
    needles: &[&str],
) -> String {
    let e = match r {
        Ok(_) => panic!("resolve succeeded; expected {needles:?}"),
        Err(e) => e,
    };
    let text = airlock::error::chain(&e);
    assert_eq!(e.exit_code(), code, "{text}");
    for n in needles {
        assert!(text.contains(n), "{n:?} not in: {text}");
    }
    text
}

/// Package repositories that are wrong or spoiled, each refused naming the file: the apt
/// cases, the dnf cases, and a package changed after it was pinned.
mod bad_package_repositories_are_refused_naming_the_file {
    use super::*;
    use airlock::manifest::PackageFormat::{Deb, Rpm};

    const DEB130: &str = "https://pkgs.k8s.io/core:/stable:/v1.30/deb/";

    #[test]
    fn apt_repositories() {
        let r = Repos::new();
        let key = r.key.armored.clone();
        let deb130 = DEB130;

        // Sane: both formats resolve, with the key's fingerprint.
        r.reset(|_| {});
        let good = r.resolve(&[Deb, Rpm], &key, "v1.30.2").expect("resolve");
        assert_eq!(good.repositories.len(), 4);
        assert!(
            good.repositories
                .iter()
                .all(|p| p.signed_by == r.key.fingerprint)
        );

        // InRelease changed after signing: the signature does not verify.
        r.reset(|base| {
            let p = base.join("v1.30/deb/InRelease");
            let text = std::fs::read_to_string(&p).unwrap();
            std::fs::write(
                &p,
                text.replacen("Label: isv:kubernetes", "Label: isv:kubernetez", 1),
            )
            .unwrap();
        });
        expect_err(
            r.resolve(&[Deb], &key, "v1.30.2"),
            5,
            &[&format!("{deb130}InRelease"), "does not verify"],
        );

        // A key that is not the repository's.
        r.reset(|_| {});
        let other = PgpKey::generate(&r.work.path().join("pgp-other"), "Someone else");
        expect_err(
            r.resolve(&[Deb], &other.armored, "v1.30.2"),
            5,
            &[
                &format!("{deb130}InRelease"),
                "not a signing key in the given key file",
            ],
        );

        // Signed with SHA-1, which apt refuses.
        r.reset(|base| {
        let dir = base.join("v1.30/deb");
        let o = sh(
            &format!(
                "GNUPGHOME={} gpg --batch --yes --digest-algo SHA1 --clearsign -o InRelease Release",
                r.key.home.display()
            ),
            &dir,
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    });
        expect_err(
            r.resolve(&[Deb], &key, "v1.30.2"),
            5,
            &[
                &format!("{deb130}InRelease"),
                "uses SHA1, which apt and dnf refuse",
            ],
        );

        // A key file that is no key at all.
        let junk = r.work.path().join("junk.key");
        std::fs::write(&junk, "not a key\n").unwrap();
        expect_err(r.resolve(&[Deb], &junk, "v1.30.2"), 4, &["junk.key"]);

        // Packages.gz that differs from the sha256 InRelease lists.
        r.reset(|base| {
            let p = base.join("v1.30/deb/Packages.gz");
            let mut bytes = std::fs::read(&p).unwrap();
            bytes.extend_from_slice(b"\0");
            std::fs::write(&p, bytes).unwrap();
        });
        expect_err(
            r.resolve(&[Deb], &key, "v1.30.2"),
            5,
            &[&format!("{deb130}Packages.gz"), "does not match"],
        );

        // A version the repository lacks.
        r.reset(|_| {});
        expect_err(
            r.resolve(&[Deb], &key, "v1.30.3"),
            1,
            &[
                &format!("{deb130}Packages"),
                "no kubeadm 1.30.3 for amd64",
                "1.30.2-1.1",
            ],
        );
    }

    #[test]
    fn dnf_repositories() {
        let r = Repos::new();
        let key = r.key.armored.clone();
        // An rpm repository whose repomd.xml carries no signature.
        r.reset(|base| {
            std::fs::remove_file(base.join("v1.30/rpm/repodata/repomd.xml.asc")).unwrap();
        });
        expect_err(
            r.resolve(&[Rpm], &key, "v1.30.2"),
            5,
            &["v1.30/rpm/repodata/repomd.xml", "is not signed"],
        );

        // repomd.xml changed after signing.
        r.reset(|base| {
            let p = base.join("v1.30/rpm/repodata/repomd.xml");
            let text = std::fs::read_to_string(&p).unwrap();
            std::fs::write(&p, text.replacen("<revision>", "<revision>1", 1)).unwrap();
        });
        expect_err(
            r.resolve(&[Rpm], &key, "v1.30.2"),
            5,
            &["repodata/repomd.xml", "does not verify"],
        );
    }

    /// A package that differs from the sha256 Packages lists: resolve pins it, the build
    /// refuses it naming the URL, and no bundle is written.
    #[test]
    fn a_package_changed_after_it_was_pinned_stops_the_build() {
        let r = Repos::new();
        let key = r.key.armored.clone();
        r.reset(|_| {});
        let good = r.resolve(&[Deb], &key, "v1.30.2").expect("resolve");
        let mut lock = airlock::lock::Lock::new();
        lock.files = good.files;
        lock.package_repositories = good.repositories;
        let lock_path = r.work.path().join("packages.lock");
        airlock::pipeline::write_lock(&lock_path, &lock, false).unwrap();
        r.reset(|base| {
            let p = base.join("v1.30/deb/amd64/kubeadm_1.30.2-1.1_amd64.deb");
            let mut bytes = std::fs::read(&p).unwrap();
            bytes.push(0);
            std::fs::write(&p, bytes).unwrap();
        });
        let keyp = cli::keygen(&r.work.path().join("keys/k"));
        let out_dir = r.work.path().join("bundle");
        Cli::airlock()
            .env("AIRLOCK_CACHE", r.work.path().join("fresh-cache"))
            .arg("build")
            .arg(&lock_path)
            .args(["--quiet", "--key", &cli::key_of(&keyp), "--out"])
            .arg(&out_dir)
            .args([
                "--mirror",
                &format!("https://pkgs.k8s.io={}/pkgs", r.files.url()),
            ])
            .fails(5, &format!("{DEB130}amd64/kubeadm_1.30.2-1.1_amd64.deb"));
        assert!(!out_dir.exists(), "a bundle was written");
    }
}

/// Write `repo`'s Release again from what is there now and sign it as upstream would
/// (`apt-ftparchive`, `gpg --clearsign`): metadata that is bad but validly signed.
fn resign_deb(repo: &Path, key: &PgpKey) {
    for f in ["Release", "InRelease", "Release.gpg"] {
        let _ = std::fs::remove_file(repo.join(f));
    }
    sh_ok(
        "apt-ftparchive -o APT::FTPArchive::Release::Origin=obs://build.opensuse.org/isv:kubernetes/deb \
         -o APT::FTPArchive::Release::Label=isv:kubernetes release . > ../Release.new && mv ../Release.new Release",
        repo,
    );
    key.clearsign(&repo.join("Release"), &repo.join("InRelease"));
}

#[test]
fn an_unsafe_package_path_exits_4_and_a_packages_gz_holding_another_index_exits_5() {
    use airlock::manifest::PackageFormat::Deb;
    let r = Repos::new();
    let key = r.key.armored.clone();
    let deb130 = "https://pkgs.k8s.io/core:/stable:/v1.30/deb/";

    // A signed Packages whose Filename climbs out of the repository.
    r.reset(|base| {
        let repo = base.join("v1.30/deb");
        let p = repo.join("Packages");
        let text = std::fs::read_to_string(&p).unwrap();
        let from = "Filename: ./amd64/kubeadm_1.30.2-1.1_amd64.deb";
        assert!(text.contains(from));
        std::fs::write(
            &p,
            text.replace(from, "Filename: ../../../../etc/kubeadm.deb"),
        )
        .unwrap();
        assert!(sh("gzip -9kfn Packages", &repo).status.success());
        resign_deb(&repo, &r.key);
    });
    let text = expect_err(
        r.resolve(&[Deb], &key, "v1.30.2"),
        4,
        &[
            &format!("{deb130}Packages"),
            "kubeadm 1.30.2-1.1 amd64",
            "its path",
        ],
    );
    assert!(text.contains(".."), "{text}");

    // A signed Release listing an index (a name airlock reads) whose path climbs out.
    r.reset(|base| {
        let repo = base.join("v1.30/deb");
        std::fs::create_dir_all(repo.join("sub")).unwrap();
        std::fs::copy(repo.join("Packages"), repo.join("sub/Packages")).unwrap();
        resign_deb(&repo, &r.key);
        let p = repo.join("Release");
        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::write(
            &p,
            text.replace(" sub/Packages", " Packages./../../Packages"),
        )
        .unwrap();
        r.key.clearsign(&p, &repo.join("InRelease"));
    });
    expect_err(
        r.resolve(&[Deb], &key, "v1.30.2"),
        4,
        &[&format!("{deb130}InRelease"), "an index path"],
    );

    // Packages.gz, listed and signed, that holds another index than Packages.
    r.reset(|base| {
        let repo = base.join("v1.30/deb");
        let mut text = std::fs::read_to_string(repo.join("Packages")).unwrap();
        text.push_str(
            "\nPackage: extra\nVersion: 1\nArchitecture: amd64\nFilename: ./amd64/extra.deb\n",
        );
        std::fs::write(repo.join("Other"), text).unwrap();
        assert!(
            sh("gzip -9nc Other > Packages.gz && rm Other", &repo)
                .status
                .success()
        );
        resign_deb(&repo, &r.key);
    });
    expect_err(
        r.resolve(&[Deb], &key, "v1.30.2"),
        5,
        &[
            &format!("{deb130}Packages"),
            "decompresses to another index",
        ],
    );
}
