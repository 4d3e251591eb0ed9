//! `airlock provenance trusted-root`: Sigstore's `trusted_root.json` fetched through
//! Sigstore's TUF repository with `tough` (TUF 1.0 client), starting from a `root.json`
//! the user got out of band. tough verifies the metadata chain (root rotation, signature
//! thresholds, expiry, rollback, consistent snapshots) and the target's length and sha256;
//! airlock then checks the bytes parse as a Sigstore trusted root and writes them
//! atomically. The enclave never runs this: it pins the file (docs/trust.md).

use std::path::{Path, PathBuf};

use reqwest::Url;
use serde::{Deserialize, Serialize};
use tough::error::Error as TufError;
use tough::{
    ExpirationEnforcement, IntoVec as _, RepositoryLoader, TargetName, TransportError,
    TransportErrorKind, TransportStream,
};

use crate::digest::Sha256Digest;
pub use crate::error::TrustedRootError;
use crate::error::{Error, Result};
use crate::http::HttpClient;

/// Sigstore's public TUF repository (metadata at the root, targets under `targets/`).
pub const SIGSTORE_TUF_URL: &str = "https://tuf-repo-cdn.sigstore.dev";

/// The target that holds Sigstore's trusted root.
pub const TARGET: &str = "trusted_root.json";

/// Sigstore's trusted-root media types (`…+json;version=0.1`, `….v0.2+json`).
const MEDIA_TYPE_PREFIX: &str = "application/vnd.dev.sigstore.trustedroot";

/// The largest `root.json` read from the user.
const MAX_ROOT_FILE: u64 = 1024 * 1024;

/// What to fetch and where to put it.
#[derive(Debug, Clone)]
pub struct Request {
    /// The repository's metadata base URL.
    pub tuf_url: Url,
    /// The targets base URL (`<tuf_url>/targets` when `None`).
    pub targets_url: Option<Url>,
    /// The trusted `root.json` to start from.
    pub root: PathBuf,
    /// Where to write `trusted_root.json`.
    pub out: PathBuf,
    /// Replace an existing `out`.
    pub force: bool,
    /// A directory that keeps the last metadata seen, for rollback checks across runs
    /// (a fresh temporary directory when `None`).
    pub datastore: Option<PathBuf>,
}

/// One certificate authority or log of the trusted root, with its validity window.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Authority {
    /// The CA's `uri` or the log's `baseUrl`.
    pub url: String,
    /// `validFor.start` (RFC 3339).
    pub valid_from: Option<String>,
    /// `validFor.end`, absent while current.
    pub valid_until: Option<String>,
}

/// What was fetched, for the `--json` output.
#[derive(Debug, Clone, Serialize)]
pub struct Fetched {
    /// The repository's metadata URL.
    pub tuf_url: String,
    /// The targets URL.
    pub targets_url: String,
    /// sha256 of the `root.json` the user gave.
    pub initial_root_sha256: String,
    /// The root version tough ended at after following rotations.
    pub root_version: u64,
    /// The timestamp, snapshot and targets versions read.
    pub timestamp_version: u64,
    /// See `timestamp_version`.
    pub snapshot_version: u64,
    /// See `timestamp_version`.
    pub targets_version: u64,
    /// When the first of the four roles expires (RFC 3339).
    pub metadata_expires: String,
    /// The target's name.
    pub target: String,
    /// sha256 of the bytes written (equal to the signed targets' hash).
    pub sha256: String,
    /// Their length.
    pub size: u64,
    /// Where they were written.
    pub out: PathBuf,
    /// The trusted root's `mediaType`.
    pub media_type: String,
    /// Fulcio-like CAs.
    pub certificate_authorities: Vec<Authority>,
    /// Rekor-like transparency logs.
    pub tlogs: Vec<Authority>,
    /// Certificate transparency logs.
    pub ctlogs: Vec<Authority>,
    /// RFC 3161 timestamp authorities.
    pub timestamp_authorities: Vec<Authority>,
}

/// Loads the repository, fetches and checks `trusted_root.json`, writes it to `req.out`.
/// Nothing is written unless every check passed.
pub async fn fetch(http: &HttpClient, req: &Request) -> Result<Fetched> {
    crate::error::refuse_existing(&req.out, req.force)?;
    let root = read_root(&req.root)?;
    let targets_url = match &req.targets_url {
        Some(u) => u.clone(),
        None => join_dir(&req.tuf_url, "targets")?,
    };
    let url = req.tuf_url.to_string();
    let tempstore;
    let datastore = match &req.datastore {
        Some(d) => d.clone(),
        None => {
            tempstore = tempfile::tempdir()
                .map_err(|e| Error::io("create temporary directory", std::env::temp_dir(), e))?;
            tempstore.path().to_owned()
        }
    };
    let repo = RepositoryLoader::new(&root, req.tuf_url.clone(), targets_url.clone())
        .transport(Transport(http.clone()))
        .datastore(datastore)
        .expiration_enforcement(ExpirationEnforcement::Safe)
        .load()
        .await
        .map_err(|e| classify_load(&url, &req.root, e))?;
    let bytes = read_target(&repo, &url).await?;
    let summary = check_trusted_root(&url, &bytes)?;
    write_atomically(&req.out, &bytes, req.force)?;
    Ok(Fetched {
        tuf_url: url,
        targets_url: targets_url.to_string(),
        initial_root_sha256: Sha256Digest::of(&root).hex(),
        root_version: repo.root().signed.version.get(),
        timestamp_version: repo.timestamp().signed.version.get(),
        snapshot_version: repo.snapshot().signed.version.get(),
        targets_version: repo.targets().signed.version.get(),
        metadata_expires: earliest_expiry(&repo),
        target: TARGET.to_owned(),
        sha256: Sha256Digest::of(&bytes).hex(),
        size: bytes.len() as u64,
        out: req.out.clone(),
        media_type: summary.media_type,
        certificate_authorities: summary.certificate_authorities,
        tlogs: summary.tlogs,
        ctlogs: summary.ctlogs,
        timestamp_authorities: summary.timestamp_authorities,
    })
}

/// tough's transport over airlock's HTTP client, so `--mirror` and `--ca-file` apply as
/// for every other download (a 404 is "not found", which TUF needs to stop probing for
/// newer roots).
#[derive(Clone)]
struct Transport(HttpClient);

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("airlock HTTP transport")
    }
}

#[tough::async_trait]
impl tough::Transport for Transport {
    async fn fetch(&self, url: Url) -> std::result::Result<TransportStream, TransportError> {
        use futures::TryStreamExt as _;
        let url = url.to_string();
        match self.0.open(&url).await {
            Ok(Some(resp)) => {
                let stream = resp.bytes_stream().map_err(move |e| {
                    TransportError::new_with_cause(TransportErrorKind::Other, &url, e)
                });
                Ok(Box::pin(stream))
            }
            Ok(None) => Err(TransportError::new(TransportErrorKind::FileNotFound, &url)),
            Err(e) => Err(TransportError::new_with_cause(
                TransportErrorKind::Other,
                &url,
                e,
            )),
        }
    }
}

fn read_root(path: &Path) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io("read", path, e))?;
    if meta.len() > MAX_ROOT_FILE {
        return Err(Error::invalid(
            "TUF root",
            path.display(),
            format!("{} bytes, over the {MAX_ROOT_FILE}-byte limit", meta.len()),
        ));
    }
    std::fs::read(path).map_err(|e| Error::io("read", path, e))
}

/// `base` with `dir/` appended (Url::join would replace the last segment without a slash).
fn join_dir(base: &Url, dir: &str) -> Result<Url> {
    let text = format!("{}/{dir}/", base.as_str().trim_end_matches('/'));
    Url::parse(&text).map_err(|e| Error::invalid("URL", &text, e))
}

fn earliest_expiry(repo: &tough::Repository) -> String {
    [
        repo.root().signed.expires,
        repo.timestamp().signed.expires,
        repo.snapshot().signed.expires,
        repo.targets().signed.expires,
    ]
    .into_iter()
    .min()
    .map(|t| t.to_string())
    .unwrap_or_default()
}

/// The target's bytes, checked by tough against the signed length and sha256. It is read
/// whole (bounded by the trusted root's own size limit, checked before the download)
/// because it is parsed before anything is written.
async fn read_target(repo: &tough::Repository, url: &str) -> Result<Vec<u8>> {
    let missing = || TrustedRootError::TargetMissing {
        url: url.to_owned(),
        target: TARGET.to_owned(),
    };
    let name = TargetName::new(TARGET).map_err(|_| missing())?;
    let listed = repo
        .targets()
        .signed
        .targets
        .get(&name)
        .ok_or_else(missing)?;
    if listed.length > airlock_provenance::MAX_TRUSTED_ROOT as u64 {
        return Err(TrustedRootError::NotATrustedRoot {
            url: url.to_owned(),
            target: TARGET.to_owned(),
            reason: format!("signed length {} is over the limit", listed.length),
        }
        .into());
    }
    let stream = repo
        .read_target(&name)
        .await
        .map_err(|e| classify(url, e))?
        .ok_or_else(missing)?;
    stream.into_vec().await.map_err(|e| classify(url, e).into())
}

/// A `--root` that does not parse or is not signed by its own threshold is the operator's
/// input, not the repository's answer: invalid input (4), naming the file.
fn classify_load(url: &str, root: &Path, e: TufError) -> Error {
    match e {
        TufError::ParseTrustedMetadata { .. } | TufError::VerifyTrustedMetadata { .. } => {
            Error::invalid("TUF root", root.display(), airlock_verify::error::chain(&e))
        }
        e => classify(url, e).into(),
    }
}

/// Sorts tough's errors into airlock's: trust, expiry, content, network.
fn classify(url: &str, e: TufError) -> TrustedRootError {
    let url = url.to_owned();
    let reason = airlock_verify::error::chain(&e);
    if let Some(reason) = content_mismatch(&e) {
        return TrustedRootError::TargetMismatch {
            url,
            target: TARGET.to_owned(),
            reason,
        };
    }
    match e {
        TufError::ExpiredMetadata { role, .. } => TrustedRootError::Expired {
            url,
            role: role.to_string(),
        },
        TufError::Transport {
            url: failed,
            source,
            ..
        } if source.kind() != tough::TransportErrorKind::FileNotFound => {
            TrustedRootError::Network {
                url: failed.to_string(),
                reason,
            }
        }
        // Everything else (signatures, thresholds, rollback, versions, missing metadata)
        // is a repository airlock cannot trust: fail closed.
        _ => TrustedRootError::Untrusted { url, reason },
    }
}

/// A hash or length mismatch, also when the target stream reports it wrapped in a
/// transport error: its own message (the wrapping repeats the URL three times).
fn content_mismatch(e: &TufError) -> Option<String> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        if let Some(m @ (TufError::HashMismatch { .. } | TufError::MaxSizeExceeded { .. })) =
            err.downcast_ref::<TufError>()
        {
            return Some(m.to_string());
        }
        next = err.source();
    }
    None
}

/// The parts of a trusted root the output names, read after `airlock_provenance` accepted
/// the whole document.
struct Summary {
    media_type: String,
    certificate_authorities: Vec<Authority>,
    tlogs: Vec<Authority>,
    ctlogs: Vec<Authority>,
    timestamp_authorities: Vec<Authority>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRoot {
    media_type: String,
    #[serde(default)]
    certificate_authorities: Vec<RawAuthority>,
    #[serde(default)]
    tlogs: Vec<RawAuthority>,
    #[serde(default)]
    ctlogs: Vec<RawAuthority>,
    #[serde(default)]
    timestamp_authorities: Vec<RawAuthority>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawAuthority {
    uri: Option<String>,
    base_url: Option<String>,
    valid_for: Option<RawValidity>,
    public_key: Option<RawKey>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawKey {
    valid_for: Option<RawValidity>,
}

#[derive(Deserialize, Clone)]
struct RawValidity {
    start: Option<String>,
    end: Option<String>,
}

impl From<RawAuthority> for Authority {
    fn from(a: RawAuthority) -> Self {
        // CAs carry `validFor` themselves; logs carry it on their key.
        let validity = a
            .valid_for
            .or_else(|| a.public_key.and_then(|k| k.valid_for));
        Authority {
            url: a.uri.or(a.base_url).unwrap_or_default(),
            valid_from: validity.as_ref().and_then(|v| v.start.clone()),
            valid_until: validity.and_then(|v| v.end),
        }
    }
}

fn check_trusted_root(url: &str, bytes: &[u8]) -> Result<Summary> {
    let bad = |reason: String| TrustedRootError::NotATrustedRoot {
        url: url.to_owned(),
        target: TARGET.to_owned(),
        reason,
    };
    let raw: RawRoot = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
    if !raw.media_type.starts_with(MEDIA_TYPE_PREFIX) {
        return Err(bad(format!("media type {:?}", raw.media_type)).into());
    }
    // As the checks will read it: every key and certificate usable, and at least one CA
    // and one log (a root without either could never verify a signature).
    airlock_provenance::TrustedRoot::from_json(bytes).map_err(|e| bad(e.to_string()))?;
    let list = |v: Vec<RawAuthority>| v.into_iter().map(Authority::from).collect();
    Ok(Summary {
        media_type: raw.media_type,
        certificate_authorities: list(raw.certificate_authorities),
        tlogs: list(raw.tlogs),
        ctlogs: list(raw.ctlogs),
        timestamp_authorities: list(raw.timestamp_authorities),
    })
}

/// Temporary file beside `out`, synced, renamed into place (refusing to replace an
/// existing file unless `force`).
fn write_atomically(out: &Path, bytes: &[u8], force: bool) -> Result<()> {
    use std::io::Write as _;
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)
        .map_err(|e| Error::io("create temporary file in", &dir, e))?;
    tmp.write_all(bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| Error::io("write", tmp.path(), e))?;
    let placed = if force {
        tmp.persist(out)
    } else {
        tmp.persist_noclobber(out)
    };
    placed.map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            Error::already_exists(out)
        } else {
            Error::io("rename into place", out, e.error)
        }
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_url_is_a_directory_under_the_metadata_url() {
        let base = Url::parse("https://tuf-repo-cdn.sigstore.dev").expect("url");
        let joined = join_dir(&base, "targets").expect("join");
        assert_eq!(
            joined.as_str(),
            "https://tuf-repo-cdn.sigstore.dev/targets/"
        );
        let base = Url::parse("http://127.0.0.1:8080/repo/").expect("url");
        let joined = join_dir(&base, "targets").expect("join");
        assert_eq!(joined.as_str(), "http://127.0.0.1:8080/repo/targets/");
    }

    #[test]
    fn exit_codes_separate_trust_from_network() {
        let untrusted = TrustedRootError::Untrusted {
            url: "u".into(),
            reason: "r".into(),
        };
        let network = TrustedRootError::Network {
            url: "u".into(),
            reason: "r".into(),
        };
        assert_eq!(untrusted.exit_code(), 3);
        assert_eq!(network.exit_code(), 1);
        assert_eq!(Error::from(untrusted).context("c").exit_code(), 3);
    }
}
