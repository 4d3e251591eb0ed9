//! airlock's HTTP client settings, one place for both upstream clients (`http` for
//! release files and documents, `upstream_registry`'s direct reads): user agent, timeouts,
//! and the system roots plus `--ca-file`.

use std::path::PathBuf;

use crate::error::{Error, Result};

/// The PEM files of `--ca-file`, read now so a bad path fails before any transfer.
pub fn read_ca_files(paths: &[PathBuf]) -> Result<Vec<(PathBuf, Vec<u8>)>> {
    paths
        .iter()
        .map(|path| {
            std::fs::read(path)
                .map(|pem| (path.clone(), pem))
                .map_err(|e| Error::io("read CA certificate", path, e))
        })
        .collect()
}

/// airlock's HTTP client: its user agent and timeouts, the system roots and `roots` (PEM,
/// with the path each came from for errors).
pub fn reqwest_client(roots: &[(PathBuf, Vec<u8>)]) -> Result<reqwest::Client> {
    let mut b = reqwest::Client::builder()
        .user_agent(concat!("airlock/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(std::time::Duration::from_secs(30))
        .read_timeout(std::time::Duration::from_secs(300));
    for (path, pem) in roots {
        let cert = reqwest::Certificate::from_pem(pem)
            .map_err(|e| Error::invalid("CA certificate", path.display(), e))?;
        b = b.add_root_certificate(cert);
    }
    b.build().map_err(|e| Error::Http {
        url: String::new(),
        reason: e.to_string(),
    })
}
