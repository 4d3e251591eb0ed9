//! The package repository mirrors a bundle carries, as the nodes see them: where each one
//! was installed and the exact `sources.list` line or `.repo` file that points apt or
//! dnf at it. The metadata is upstream's, untouched, so the nodes check upstream's
//! signature with the key they hold; airlock adds no key and no trust of its own.

use std::path::Path;

use serde::Serialize;

use crate::manifest::{CarriedPackage, PackageFormat, PackageRepository};

/// Where nodes keep the repository key for apt (the official install procedure's path).
pub const APT_KEYRING: &str = "/etc/apt/keyrings/kubernetes-apt-keyring.gpg";
/// Where nodes keep the repository key for dnf/yum.
pub const RPM_KEY: &str = "/etc/pki/rpm-gpg/kubernetes.key";

/// The `sources.list` line for a mirror directory `dir` below `base` (a URL).
pub fn apt_source_line(base: &str, dir: &str) -> String {
    format!(
        "deb [signed-by={APT_KEYRING}] {}/{dir}/ /",
        base.trim_end_matches('/')
    )
}

/// The `.repo` file for a mirror directory `dir` below `base` (a URL). `repo_gpgcheck`
/// makes dnf check `repomd.xml.asc`; `gpgcheck` checks each package's own signature.
pub fn dnf_repo_file(base: &str, dir: &str) -> String {
    format!(
        "[kubernetes]\nname=Kubernetes\nbaseurl={}/{dir}/\nenabled=1\ngpgcheck=1\nrepo_gpgcheck=1\ngpgkey=file://{RPM_KEY}\nexclude=kubelet kubeadm kubectl cri-tools kubernetes-cni\n",
        base.trim_end_matches('/')
    )
}

/// A `file://` URL for a local directory, percent-encoding every byte outside the
/// characters URLs and sources.list lines take as they are.
pub fn file_url(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut out = String::from("file://");
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~+,=@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The mirrors of one install, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct PackagesReport {
    /// The directory the mirrors are below.
    pub dir: String,
    /// The URL nodes reach that directory at (`--packages-url`, or its `file://` URL):
    /// the value of `AIRLOCK_PACKAGES_URL` in the checklist.
    pub url: String,
    /// Each repository.
    pub repositories: Vec<RepositoryReport>,
}

/// One repository mirror.
#[derive(Debug, Clone, Serialize)]
pub struct RepositoryReport {
    /// `deb` or `rpm`.
    pub format: PackageFormat,
    /// The upstream repository it is a partial mirror of.
    pub upstream: String,
    /// Where it was installed.
    pub path: String,
    /// The key fingerprint that verified its metadata when the hop was resolved.
    pub signed_by: String,
    /// The line for `/etc/apt/sources.list.d/kubernetes.list` (deb).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sources_list: Option<String>,
    /// The content of `/etc/yum.repos.d/kubernetes.repo` (rpm).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repo_file: Option<String>,
    /// The packages it holds.
    pub packages: Vec<CarriedPackage>,
}

/// The report for `repos` installed below `root`, reached by nodes at `url`.
pub fn report(repos: &[PackageRepository], root: &Path, url: &str) -> PackagesReport {
    let repositories = repos
        .iter()
        .map(|r| {
            // Every repository dir is below `packages/` (checked with the manifest).
            let rel = r
                .dir
                .as_str()
                .strip_prefix(crate::layout::PACKAGES_DIR)
                .map(|s| s.trim_start_matches('/'))
                .unwrap_or(r.dir.as_str());
            RepositoryReport {
                format: r.format,
                upstream: r.source.clone(),
                path: root.join(rel).display().to_string(),
                signed_by: r.signed_by.clone(),
                sources_list: (r.format == PackageFormat::Deb).then(|| apt_source_line(url, rel)),
                repo_file: (r.format == PackageFormat::Rpm).then(|| dnf_repo_file(url, rel)),
                packages: r.packages.clone(),
            }
        })
        .collect();
    PackagesReport {
        dir: root.display().to_string(),
        url: url.to_string(),
        repositories,
    }
}

/// Check a `--packages-url` value: an http(s) or file URL without spaces or control
/// characters (it goes into a sources.list line).
pub fn check_url(url: &str) -> std::result::Result<(), String> {
    let scheme_ok =
        url.starts_with("http://") || url.starts_with("https://") || url.starts_with("file:/");
    if !scheme_ok
        || url
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '\'')
    {
        return Err(format!(
            "{} is not an http://, https:// or file:/ URL without spaces or quotes",
            crate::escape::Untrusted(url)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_urls() {
        assert_eq!(
            apt_source_line("file:///srv/p/", "v1.30/deb"),
            "deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] file:///srv/p/v1.30/deb/ /"
        );
        assert!(
            dnf_repo_file("http://m/p", "v1.30/rpm").contains("baseurl=http://m/p/v1.30/rpm/\n")
        );
        assert_eq!(
            file_url(Path::new("/srv/a b/ü")),
            "file:///srv/a%20b/%C3%BC"
        );
        assert!(check_url("http://mirror/pkgs").is_ok());
        assert!(check_url("file:///srv/pkgs").is_ok());
        assert!(check_url("ftp://x").is_err());
        assert!(check_url("http://x/a b").is_err());
    }
}
