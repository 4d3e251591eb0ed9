//! Receipts: the signed record of every install and every refused one, chained.
//!
//! Each receipt is a file `receipts/NNNNNN.json` (the exact bytes signed) with its
//! signature `NNNNNN.json.minisig`, made with the enclave's own key in minisign's format,
//! so an auditor can check one with `minisign -V` alone. Each receipt holds its index and
//! the sha256 of the receipt before it; the signed state file holds the index and sha256
//! of the last one. So any edit (a signature fails), deletion, insertion or reordering (an
//! index or a previous hash does not match), and truncation of the end (the state names a
//! later receipt) is found by [`check_chain`], which names the first bad entry.

use serde::{Deserialize, Serialize};

use super::dir::StateDir;
use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::sign::Signer;
use crate::time::Timestamp;
use crate::trust::PublicKey;
use crate::trust::comment::{self, CommentKind};

/// The subdirectory of the state directory that holds the receipts.
pub const RECEIPTS_DIR: &str = "receipts";
/// The receipt format this version writes and reads.
pub const RECEIPT_FORMAT: u32 = 1;
/// Largest receipt read.
const MAX_RECEIPT_BYTES: u64 = 16 * 1024 * 1024;

/// How an install ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Everything is in place.
    Installed,
    /// Refused (verification, policy, window, rollback) or failed (registry, disk).
    Failed,
    /// A new trust policy was accepted.
    PolicyUpdated,
    /// `preflight` checked the cluster against a bundle.
    Preflight,
    /// The operator reset the clock floor (`state reset-clock`), with a reason.
    ClockReset,
    /// `state recover` finished an append a crash had interrupted.
    Recovered,
}

/// One receipt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// [`RECEIPT_FORMAT`].
    pub format: u32,
    /// Always `airlock-receipt`.
    pub kind: String,
    /// 1 for the first receipt of this state directory.
    pub index: u64,
    /// sha256 of the previous receipt file (none for the first).
    pub previous_sha256: Option<Sha256Digest>,
    /// How it ended.
    pub outcome: Outcome,
    /// Why it failed (escaped), when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The bundle directory as given.
    pub bundle: String,
    /// What was verified (absent when the bundle could not be read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<serde_json::Value>,
    /// Who approved and under which policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approvals: Option<serde_json::Value>,
    /// What was installed or already present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install: Option<serde_json::Value>,
    /// True when `--allow-expired` let an expired or not-yet-valid bundle through.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_expired: bool,
    /// What the operator or the recovery said (`state reset-clock`, `state recover`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// When the install started.
    pub started: Timestamp,
    /// When it ended.
    pub finished: Timestamp,
    /// The host it ran on.
    pub host: String,
}

impl Receipt {
    /// A receipt to be appended (index and previous hash are filled in by [`append`]).
    pub fn new(outcome: Outcome, bundle: &str, started: Timestamp) -> Self {
        Receipt {
            format: RECEIPT_FORMAT,
            kind: "airlock-receipt".into(),
            index: 0,
            previous_sha256: None,
            outcome,
            error: None,
            bundle: crate::escape::Untrusted(bundle).to_string(),
            verified: None,
            approvals: None,
            install: None,
            allow_expired: false,
            note: None,
            started,
            finished: Timestamp::now(),
            host: hostname(),
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// The name of receipt `index`.
pub fn file_name(index: u64) -> String {
    format!("{index:06}.json")
}

/// Append `receipt` after the receipt `(index, sha256)` (the chain's current head): fill
/// in its index and previous hash, write and sign it. Returns the new head.
pub fn append(
    state: &StateDir,
    head: Option<(u64, Sha256Digest)>,
    mut receipt: Receipt,
    key: &dyn Signer,
) -> Result<(u64, Sha256Digest, String)> {
    receipt.index = head.map(|(i, _)| i + 1).unwrap_or(1);
    receipt.previous_sha256 = head.map(|(_, h)| h);
    let mut bytes = serde_json::to_vec_pretty(&receipt)
        .map_err(|e| Error::invalid("receipt", "<memory>", e))?;
    bytes.push(b'\n');
    let sha = Sha256Digest::of(&bytes);
    let comment = comment::render(
        CommentKind::Receipt,
        &[
            ("index", &receipt.index.to_string()),
            ("outcome", outcome_word(receipt.outcome)),
            ("host", &receipt.host),
            ("finished", &receipt.finished.to_string()),
            ("receipt_sha256", &sha.hex()),
        ],
    );
    let sig = crate::sign::sign(key, &bytes, &comment)?;
    let dir = state.subdir(RECEIPTS_DIR)?;
    let name = file_name(receipt.index);
    // The signature first: a receipt file without its signature would look unsigned. A
    // name already taken is what a crash between these writes leaves (never "use --force").
    let interrupted = |e: Error| match e {
        Error::Core(airlock_core::Error::AlreadyExists { path }) => Error::StateInterrupted {
            dir: state.path().to_path_buf(),
            what: format!("{} already exists beyond the head", path.display()),
        },
        e => e,
    };
    dir.create_new(&format!("{name}.minisig"), sig.as_bytes(), 0o644)
        .map_err(interrupted)?;
    dir.create_new(&name, &bytes, 0o644).map_err(interrupted)?;
    Ok((
        receipt.index,
        sha,
        dir.path().join(name).display().to_string(),
    ))
}

fn outcome_word(o: Outcome) -> &'static str {
    match o {
        Outcome::Installed => "installed",
        Outcome::Failed => "failed",
        Outcome::PolicyUpdated => "policy-updated",
        Outcome::Preflight => "preflight",
        Outcome::ClockReset => "clock-reset",
        Outcome::Recovered => "recovered",
    }
}

/// Half of a receipt that a crash left at the end of the log: the signature without its
/// receipt (the order [`append`] writes them in), or the reverse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interrupted {
    /// The receipt's index.
    pub index: u64,
    /// The file that is there.
    pub present: String,
    /// The file that is not.
    pub missing: String,
}

impl Interrupted {
    /// In words, for messages and the recovery's receipt.
    pub fn describe(&self) -> String {
        format!("{} is there without {}", self.present, self.missing)
    }
}

/// What [`check_chain`] found.
#[derive(Debug, Clone, Serialize)]
pub struct ChainReport {
    /// Receipts checked.
    pub receipts: u64,
    /// sha256 of the last one.
    pub head: Option<Sha256Digest>,
    /// Every receipt, parsed (for `log` listings).
    #[serde(skip)]
    pub entries: Vec<Receipt>,
    /// A half-written receipt after the last whole one ([`walk_chain`] only).
    #[serde(skip)]
    pub interrupted: Option<Interrupted>,
}

impl ChainReport {
    /// The sha256 of receipt `index` (1-based), if the chain holds it: each receipt
    /// names the one before it, and the last is the head.
    pub fn sha256_of(&self, index: u64) -> Option<Sha256Digest> {
        if index == 0 || index > self.receipts {
            return None;
        }
        if index == self.receipts {
            return self.head;
        }
        self.entries
            .get(index as usize)
            .and_then(|next| next.previous_sha256)
    }
}

/// Check every receipt in order with `key`: signature, index, previous hash; and that
/// nothing follows the last one. Names the first bad entry; a half-written receipt at
/// the end is named as an interrupted append, with the command that finishes it.
pub fn check_chain(state: &StateDir, key: &PublicKey) -> Result<ChainReport> {
    let report = walk_chain(state, key)?;
    if let Some(i) = &report.interrupted {
        return Err(Error::StateInterrupted {
            dir: state.path().to_path_buf(),
            what: i.describe(),
        });
    }
    Ok(report)
}

/// [`check_chain`], but a half-written receipt at the end is reported, not refused
/// (for `state recover`, which finishes it).
pub fn walk_chain(state: &StateDir, key: &PublicKey) -> Result<ChainReport> {
    let mut report = ChainReport {
        receipts: 0,
        head: None,
        entries: Vec::new(),
        interrupted: None,
    };
    let Some(dir) = state.existing_subdir(RECEIPTS_DIR)? else {
        return Ok(report);
    };
    let names = dir.list()?;
    loop {
        let index = report.receipts + 1;
        let name = file_name(index);
        let sig_name = format!("{name}.minisig");
        let Some(bytes) = dir.read(&name, MAX_RECEIPT_BYTES)? else {
            if dir.has(&sig_name)? {
                report.interrupted = Some(Interrupted {
                    index,
                    present: sig_name,
                    missing: name,
                });
            }
            break;
        };
        let Some(sig) = dir.read(&sig_name, crate::trust::SIGNATURE_MAX_BYTES as u64)? else {
            // The last receipt alone: the other order of an interrupted append.
            let next = file_name(index + 1);
            if !dir.has(&next)? && !dir.has(&format!("{next}.minisig"))? {
                report.interrupted = Some(Interrupted {
                    index,
                    present: name,
                    missing: sig_name,
                });
                break;
            }
            return Err(Error::record_check(
                format!("receipt {}", dir.path().join(&name).display()),
                "its signature file is missing",
            ));
        };
        let r = check_entry(
            &dir.path().join(&name),
            &bytes,
            sig,
            key,
            index,
            report.head,
        )?;
        report.head = Some(Sha256Digest::of(&bytes));
        report.receipts = index;
        report.entries.push(r);
    }
    refuse_strays(&dir, &names, &report)?;
    Ok(report)
}

/// Receipt `index` read as `bytes` with its signature `sig`: signed by `key`, numbered
/// `index`, naming `prev` as the receipt before it.
fn check_entry(
    path: &std::path::Path,
    bytes: &[u8],
    sig: Vec<u8>,
    key: &PublicKey,
    index: u64,
    prev: Option<Sha256Digest>,
) -> Result<Receipt> {
    let bad = |reason: String| Error::record_check(format!("receipt {}", path.display()), reason);
    let sig = String::from_utf8(sig).map_err(|_| bad("signature is not UTF-8".into()))?;
    crate::trust::verify(std::slice::from_ref(key), bytes, &sig)
        .map_err(|e| bad(signature_problem(e, key)))?;
    let r: Receipt = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
    if r.index != index {
        return Err(bad(format!(
            "says it is receipt {}, but it is number {index} in the chain (entries were reordered)",
            r.index
        )));
    }
    if r.previous_sha256 != prev {
        return Err(bad(
            "its previous_sha256 does not match the receipt before it (an entry was \
             inserted, deleted or replaced)"
                .into(),
        ));
    }
    Ok(r)
}

/// Anything in the log beyond the chain (and a half-written last receipt) means a gap: a
/// deleted receipt, or a file added.
fn refuse_strays(dir: &StateDir, names: &[String], report: &ChainReport) -> Result<()> {
    let mut expected: std::collections::BTreeSet<String> = (1..=report.receipts)
        .flat_map(|i| [file_name(i), format!("{}.minisig", file_name(i))])
        .collect();
    if let Some(i) = &report.interrupted {
        expected.insert(i.present.clone());
    }
    let Some(extra) = names
        .iter()
        .find(|n| !n.starts_with('.') && !expected.contains(*n))
    else {
        return Ok(());
    };
    Err(Error::record_check(
        format!("receipt log {}", dir.path().display()),
        format!(
            "{} follows receipt {} without being the next one (a receipt before it was \
             deleted, or a file was added)",
            crate::escape::Untrusted(extra),
            file_name(report.receipts)
        ),
    ))
}

/// Why a receipt's signature failed. Signed by another key than the one given is most
/// often the wrong key given, so it says which key to give before it suspects tampering.
fn signature_problem(e: crate::trust::TrustError, key: &PublicKey) -> String {
    match e {
        crate::trust::TrustError::UnknownKey { key_id, .. } => format!(
            "is signed by key {key_id}, not by the key given ({}): check it with the \
             enclave's public key (--receipt-pub KEY.pub); if that is the key given, the \
             receipt was replaced",
            key.key_id()
        ),
        e => format!("signature: {e} (the receipt was edited or replaced)"),
    }
}
