//! `--tsa URL`: an RFC 3161 timestamp over each signature file just written (issue 24).
//!
//! The request is SHA-256 of the exact bytes of `signatures/<KEYID>.minisig`, with a
//! fresh nonce and `certReq`; the answer is checked (granted, nonce, imprint, the token's
//! signature and chain, by the same core code the enclave runs) before it is written
//! beside the signature as `signatures/<KEYID>.tsr`. The `.minisig` is not touched, so
//! `minisign -V` still verifies it; the enclave checks the `.tsr` against its policy's TSAs.

use std::path::{Path, PathBuf};

use airlock_verify::layout;
use airlock_verify::trust::timestamp::{
    TIMESTAMP_MAX_BYTES, TimeStampFacts, check_response, random_nonce, request_der,
};

use crate::error::{Error, Result};
use crate::http::HttpClient;

/// RFC 3161 §3.4 media types.
const QUERY: &str = "application/timestamp-query";
const REPLY: &str = "application/timestamp-reply";

/// One stamp written.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Stamped {
    /// The `.tsr` file.
    pub file: PathBuf,
    /// What it says.
    pub facts: TimeStampFacts,
}

/// The `.tsr` path beside a `.minisig` path.
pub fn timestamp_path(minisig: &Path) -> PathBuf {
    minisig.with_extension(layout::TIMESTAMP_EXT)
}

/// Ask the TSA at `url` to stamp `minisig` and write its answer beside it.
pub async fn stamp(http: &HttpClient, url: &str, minisig: &Path) -> Result<Stamped> {
    let tsa = |reason: String| Error::Tsa {
        url: url.to_string(),
        reason,
    };
    let bytes = std::fs::read(minisig).map_err(|e| Error::io("read", minisig, e))?;
    let nonce = random_nonce()?;
    let query = request_der(&bytes, nonce).map_err(|e| tsa(e.to_string()))?;
    let reply = http
        .post(url, QUERY, REPLY, query, TIMESTAMP_MAX_BYTES)
        .await
        .map_err(|e| tsa(e.to_string()))?;
    let facts = check_response(&reply, &bytes, nonce, &[]).map_err(|e| tsa(e.to_string()))?;
    let file = timestamp_path(minisig);
    airlock_verify::fsutil::write_atomic(&file, &reply, 0o644)?;
    Ok(Stamped { file, facts })
}

/// [`stamp`] for each file, one after the other (a TSA is a shared service).
pub async fn stamp_all(http: &HttpClient, url: &str, files: &[PathBuf]) -> Result<Vec<Stamped>> {
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        out.push(stamp(http, url, f).await?);
    }
    Ok(out)
}
