//! Installable everywhere (issue 25): the Debian packages scripts/package.sh makes, taken
//! apart and run by Debian's own tools (dpkg-deb, dpkg -x, apt-get, man, bash), and the
//! verifier a bundle carries, checked by hand with the bootstrap block of
//! docs/manual-verify.md (minisign, sha256sum) before it runs.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::common::scenario::{Scenario, sh_ok};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The two .deb files (airlock, airlock-verify), made once per test run from the
/// binaries under test (`--fast`: gzip, because debug binaries are large).
fn debs() -> (&'static Path, &'static Path) {
    static DEBS: OnceLock<(tempfile::TempDir, PathBuf, PathBuf)> = OnceLock::new();
    let (_, a, v) = DEBS.get_or_init(|| {
        let verify = crate::common::verify_bin();
        let bin_dir = verify.parent().expect("binary directory");
        let out = tempfile::tempdir().expect("tempdir");
        sh_ok(
            &format!(
                "bash scripts/package.sh --fast --bin-dir '{}' --out '{}'",
                bin_dir.display(),
                out.path().display()
            ),
            Path::new(ROOT),
        );
        let find = |name: &str| {
            std::fs::read_dir(out.path())
                .expect("read package dir")
                .map(|e| e.expect("entry").path())
                .find(|p| {
                    let f = p.file_name().unwrap_or_default().to_string_lossy();
                    f.starts_with(&format!("{name}_")) && f.ends_with(".deb")
                })
                .unwrap_or_else(|| panic!("no {name}_*.deb in {}", out.path().display()))
        };
        let (a, v) = (find("airlock"), find("airlock-verify"));
        (out, a, v)
    });
    (a, v)
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn each_deb_unpacks_into_a_clean_root_and_runs_with_man_pages_and_completions() {
    let (airlock_deb, verify_deb) = debs();
    let dir = tempfile::tempdir().expect("tempdir");
    for (deb, name) in [(airlock_deb, "airlock"), (verify_deb, "airlock-verify")] {
        let root = dir.path().join(name);
        // dpkg-deb reads the control file back; apt-get resolves it as it would install.
        let info = stdout(&sh_ok(
            &format!("dpkg-deb -f '{}'", deb.display()),
            &root_parent(&root),
        ));
        assert!(info.contains(&format!("Package: {name}\n")), "{info}");
        sh_ok(
            &format!("apt-get install --simulate -q '{}'", deb.display()),
            &root_parent(&root),
        );
        sh_ok(
            &format!("dpkg -x '{}' '{}'", deb.display(), root.display()),
            &root_parent(&root),
        );
        // Run from the unpacked root, found on PATH as an installed one would be.
        let path = format!("{}/usr/bin:/usr/bin:/bin", root.display());
        let version = stdout(&sh_ok(&format!("PATH='{path}' {name} --version"), &root));
        assert!(version.starts_with(&format!("{name} ")), "{version}");
        assert!(version.contains("(commit "), "{version}");
        let help = stdout(&sh_ok(&format!("PATH='{path}' {name} --help"), &root));
        assert!(help.contains("completions"), "{help}");
        // man renders every page (one per subcommand); the main one names the program.
        let man = root.join("usr/share/man/man1");
        let rendered = stdout(&sh_ok(
            &format!("MANWIDTH=80 man -l '{}/{name}.1.gz'", man.display()),
            &root,
        ));
        assert!(
            rendered.contains("NAME") && rendered.contains(name),
            "{rendered}"
        );
        let pages = std::fs::read_dir(&man).expect("man dir").count();
        assert!(pages > 5, "{pages} man pages in {}", man.display());
        sh_ok(
            &format!(
                "for p in '{}'/*.1.gz; do man -l \"$p\" > /dev/null; done",
                man.display()
            ),
            &root,
        );
        // bash loads the packaged completions and registers the function for the name.
        let comp = root
            .join("usr/share/bash-completion/completions")
            .join(name);
        let out = stdout(&sh_ok(
            &format!(
                "bash -c 'source \"{}\" && complete -p {name}'",
                comp.display()
            ),
            &root,
        ));
        assert!(out.trim_end().ends_with(&format!(" {name}")), "{out}");
        for f in [
            format!("usr/share/zsh/vendor-completions/_{name}"),
            format!("usr/share/fish/vendor_completions.d/{name}.fish"),
        ] {
            assert!(
                root.join(&f)
                    .metadata()
                    .map(|m| m.len() > 0)
                    .unwrap_or(false),
                "{f}"
            );
        }
    }
}

fn root_parent(root: &Path) -> PathBuf {
    root.parent().expect("parent").to_path_buf()
}

/// The shell block of docs/manual-verify.md that starts with `# bootstrap:`.
fn bootstrap_script() -> String {
    let doc = std::fs::read_to_string(Path::new(ROOT).join("docs/manual-verify.md"))
        .expect("read docs/manual-verify.md");
    let start = doc
        .find("```sh\n# bootstrap:")
        .expect("the bootstrap block")
        + "```sh\n".len();
    let len = doc[start..].find("```").expect("end of the block");
    doc[start..start + len].to_string()
}

fn run_bootstrap(s: &Scenario, bundle: &Path) -> std::process::Output {
    let sig = std::fs::read_dir(bundle.join("signatures"))
        .expect("signatures")
        .next()
        .expect("one signature")
        .expect("entry")
        .path();
    std::process::Command::new("bash")
        .arg("-c")
        .arg(bootstrap_script())
        .env("BUNDLE", bundle)
        .env("PUBKEY", s.pubkey())
        .env("SIG", sig)
        .output()
        .expect("run bash")
}

fn sha256_file(p: &Path) -> String {
    let out = sh_ok(&format!("sha256sum '{}'", p.display()), Path::new("/"));
    stdout(&out)
        .split(' ')
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn carried_verifier_bootstrap() {
    let s = Scenario::new();
    let verifier = crate::common::verify_bin();
    let (_, deb) = debs();
    let bundle = s.build(
        "bundle",
        &[
            "--with-verifier",
            &verifier.display().to_string(),
            "--with-verifier-package",
            &deb.display().to_string(),
        ],
    );
    // airlock-verify accepts it, documents included; the carried files are the built ones.
    let out = s.verify(&bundle);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let carried = bundle.join("verifier/airlock-verify");
    assert_eq!(sha256_file(&carried), sha256_file(&verifier));
    assert_eq!(
        sha256_file(&bundle.join("verifier/airlock-verify.deb")),
        sha256_file(deb)
    );
    // The main procedure's step 2 (SHA256SUMS names only what the manifest lists) and
    // sha256sum -c accept the new lines.
    sh_ok(&crate::manual_verify::documented_step_two(), &bundle);

    // The bootstrap block as documented: minisign, then sha256sum -c, then it runs.
    let out = run_bootstrap(&s, &bundle);
    let text = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert!(text.contains("verifier/airlock-verify: OK"), "{text}");
    assert!(text.contains("verifier/airlock-verify.deb: OK"), "{text}");
    assert!(text.contains("airlock-verify 0.1.0 (commit"), "{text}");

    // A verifier swapped in transit (SHA256SUMS rewritten to match) is stopped by
    // sha256sum -c against the signed manifest's entry, before it runs.
    let swapped = s.build(
        "swapped",
        &["--with-verifier", &verifier.display().to_string()],
    );
    let evil = swapped.join("verifier/airlock-verify");
    std::fs::remove_file(&evil).expect("remove");
    std::fs::write(&evil, b"\x7fELF#!/bin/sh\necho ran\n").expect("write");
    let out = run_bootstrap(&s, &swapped);
    let text = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("verifier/airlock-verify: FAILED"), "{text}");
    assert!(!text.contains("airlock-verify 0.1.0"), "{text}");
    // airlock-verify refuses it too, naming the document.
    let out = s.verify(&swapped);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("verifier/airlock-verify"));
}

#[test]
fn with_verifier_refuses_a_file_that_is_not_an_executable_before_fetching() {
    let s = Scenario::new();
    let not_elf = s.path("script.sh");
    std::fs::write(&not_elf, "#!/bin/sh\n").expect("write");
    let out = s.try_build(
        "bundle",
        &["--with-verifier".into(), not_elf.display().to_string()],
    );
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not an ELF executable") && err.contains("script.sh"),
        "{err}"
    );
    assert!(!s.path("bundle").exists());
}

#[test]
fn version_names_commit_build_date_and_catalog() {
    let catalog =
        std::fs::read_to_string(Path::new(ROOT).join("manifests/catalog/kubernetes.yaml"))
            .expect("catalog");
    let version = catalog
        .lines()
        .find_map(|l| l.strip_prefix("catalog_version: "))
        .expect("catalog_version")
        .trim_matches('"');
    let out = crate::common::cli::Cli::airlock()
        .arg("--version")
        .ok()
        .stdout();
    // The commit the binary names is this repository's HEAD, or an ancestor of it when a
    // commit landed after the build (cargo rebuilds on the next run).
    let commit = out
        .split("commit ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .expect("a commit in --version");
    assert!(commit.len() == 12, "{out}");
    sh_ok(
        &format!("git merge-base --is-ancestor {commit} HEAD"),
        Path::new(ROOT),
    );
    assert!(out.contains(&format!("catalog {version})")), "{out}");
    // The date is that commit's (no SOURCE_DATE_EPOCH here), as YYYY-MM-DD.
    let day = stdout(&sh_ok(
        &format!("TZ=UTC git log -1 --format=%cd --date=format-local:%Y-%m-%d {commit}"),
        Path::new(ROOT),
    ));
    let out = crate::common::cli::Cli::verify()
        .arg("--version")
        .ok()
        .stdout();
    assert!(out.contains(&format!("built {}", day.trim())), "{out}");
}
