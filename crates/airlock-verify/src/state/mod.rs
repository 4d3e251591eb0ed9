//! What the enclave remembers between installs, and proves afterwards.
//!
//! A state directory (`DEST/.airlock`, or `--state-dir`) holds:
//! - `state.json`: per channel the highest sequence installed and its manifest digest, the
//!   latest time seen, and the head of the receipt log; signed by the enclave key
//!   (the JSON on the first line, its minisign signature after it) and replaced
//!   atomically. Missing, truncated or edited, it fails closed;
//! - `receipts/`: the hash-chained, signed receipts ([`receipts`]);
//! - `enclave.key`/`enclave.pub` when airlock made the enclave key itself (no
//!   `--receipt-key` given); keep a real deployment's key elsewhere.
//!
//! [`Enclave::check`] refuses a rollback (a lower sequence), a replay with another
//! digest (the same sequence), and a clock earlier than the latest time seen (the clock
//! floor). Only a time a bundle's signed window vouches for raises the floor ([`vouched`]),
//! so one run with a wrong clock cannot brick the enclave; `state reset-clock` lowers it,
//! on record.
//!
//! Everything here is authentic but not fresh: an older copy of the whole directory put
//! back passes every check. [`Head`] (printed by install, carried on the change ticket,
//! checked with `--expect-head`) binds it to something outside the directory.

pub mod dir;
pub mod head;
pub mod receipts;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::escape::Untrusted;
use crate::sign::{SecretKey, Signer};
use crate::time::Timestamp;
use crate::trust::PublicKey;
pub use dir::StateDir;
pub use head::Head;
pub use receipts::{Outcome, Receipt};

/// File name of the signed state.
pub const STATE_FILE: &str = "state.json";
/// File names of an enclave key airlock made itself.
pub const ENCLAVE_KEY: &str = "enclave.key";
/// Its public half.
pub const ENCLAVE_PUB: &str = "enclave.pub";
const STATE_FORMAT: u32 = 1;
const MAX_STATE_BYTES: u64 = 4 * 1024 * 1024;

/// The state document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// The version of this document's format (1 for now).
    pub format: u32,
    /// Per channel: the highest sequence installed and its manifest digest.
    pub channels: BTreeMap<String, Installed>,
    /// The latest time this enclave has seen (the clock may not go back past it).
    pub latest_time_seen: Option<Timestamp>,
    /// Receipts in the log.
    pub receipts: u64,
    /// sha256 of the last receipt.
    pub last_receipt_sha256: Option<Sha256Digest>,
}

impl State {
    /// The head of the receipt log it names (none before the first receipt).
    pub fn head(&self) -> Option<Head> {
        self.last_receipt_sha256.map(|sha256| Head {
            receipts: self.receipts,
            sha256,
        })
    }
}

/// The newest bundle installed on a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Installed {
    /// Its sequence number.
    pub sequence: u64,
    /// Its manifest's sha256.
    pub manifest_sha256: Sha256Digest,
}

/// What a bundle says about where it belongs: the reader makes it, so it lives there.
pub use crate::verify::BundleIdentity;

/// An open state directory with its verified state and the enclave key.
pub struct Enclave {
    dir: StateDir,
    state: State,
    key: Box<dyn Signer>,
}

impl Enclave {
    /// Open the state in `dir` with the enclave's secret `key` (or, with `None`, the key
    /// in the state directory, made on first use). A fresh directory (no state, no
    /// receipts) starts empty; a missing state beside receipts, or a state whose signature
    /// fails, is refused with the command that recovers; so is a receipt log that a crash
    /// left beyond the state's head, and one whose receipts do not all verify and chain
    /// up to the state's head. A clock airlock cannot write is refused before anything is
    /// written.
    pub fn open(dir: StateDir, key: Option<Box<dyn Signer>>) -> Result<Self> {
        dir.lock(true)?;
        check_writable_clock(Timestamp::now())?;
        let key = match key {
            Some(k) => k,
            None => Box::new(own_key(&dir)?),
        };
        let state = match load(&dir, &key.public_key())? {
            Some(s) => {
                // Every receipt, as `log --check` reads them: a receipt changed since it
                // was written is found before another is chained after it.
                audit(&dir, &key.public_key())?;
                s
            }
            None => {
                let receipts = receipts::check_chain(&dir, &key.public_key())?;
                if receipts.receipts > 0 {
                    return Err(missing_state(&dir, receipts.receipts));
                }
                State {
                    format: STATE_FORMAT,
                    ..State::default()
                }
            }
        };
        refuse_beyond_head(&dir, state.receipts)?;
        Ok(Enclave { dir, state, key })
    }

    /// The state as loaded.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The state directory.
    pub fn dir(&self) -> &StateDir {
        &self.dir
    }

    /// The enclave's public key (what auditors check receipts with).
    pub fn public_key(&self) -> PublicKey {
        self.key.public_key()
    }

    /// Sign `bytes` with the enclave key (an inventory); minisign text.
    pub fn sign(&self, bytes: &[u8], comment: &str) -> Result<String> {
        Ok(crate::sign::sign(&*self.key, bytes, comment)?)
    }

    /// Refuse a state directory whose log does not hold `expected` (the head the last
    /// change ticket carried): an older copy put back, or another directory.
    pub fn expect_head(&self, expected: &Head) -> Result<()> {
        let chain = receipts::check_chain(&self.dir, &self.key.public_key())?;
        expected.check(&chain, &self.dir.path().join(receipts::RECEIPTS_DIR))
    }

    /// Refuse a clock that went back, a rollback, and a replay with another digest.
    pub fn check(&self, b: &BundleIdentity, now: Timestamp) -> Result<()> {
        if let Some(seen) = self.state.latest_time_seen
            && now < seen
        {
            return Err(Error::verification(
                "clock",
                format!(
                    "now is {now}, earlier than {seen}, the latest time this enclave has seen: \
                     the clock was moved back; fix the clock (a bundle's expiry depends on it)"
                ),
            ));
        }
        let (Some(ch), Some(seq)) = (&b.channel, b.sequence) else {
            return Ok(());
        };
        if let Some(cur) = self.state.channels.get(ch) {
            if seq < cur.sequence {
                return Err(Error::verification(
                    "manifest.json",
                    format!(
                        "sequence {seq} on channel {} is lower than {} already installed: \
                         refusing a rollback",
                        Untrusted(ch),
                        cur.sequence
                    ),
                ));
            }
            if seq == cur.sequence && b.manifest_sha256 != cur.manifest_sha256 {
                return Err(Error::verification(
                    "manifest.json",
                    format!(
                        "sequence {seq} on channel {} was already installed from another bundle \
                         (manifest {}): refusing a different bundle under the same sequence",
                        Untrusted(ch),
                        cur.manifest_sha256
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Append `receipt` to the log and, for an install, remember the bundle; write the
    /// new signed state. Returns the receipt's path.
    pub fn record(
        &mut self,
        receipt: Receipt,
        installed: Option<&BundleIdentity>,
    ) -> Result<String> {
        let head = self
            .state
            .last_receipt_sha256
            .map(|h| (self.state.receipts, h));
        let floor = floor_after(self.state.latest_time_seen, &receipt);
        let (index, sha, path) = receipts::append(&self.dir, head, receipt, &*self.key)?;
        let mut next = self.state.clone();
        next.receipts = index;
        next.last_receipt_sha256 = Some(sha);
        next.latest_time_seen = floor;
        if let Some(b) = installed
            && let (Some(ch), Some(seq)) = (&b.channel, b.sequence)
        {
            let newer = next.channels.get(ch).is_none_or(|c| seq >= c.sequence);
            if newer {
                next.channels.insert(
                    ch.clone(),
                    Installed {
                        sequence: seq,
                        manifest_sha256: b.manifest_sha256,
                    },
                );
            }
        }
        write_signed_state(&self.dir, &next, &*self.key)?;
        self.state = next;
        Ok(path)
    }

    /// Rebuild the state from the receipt log after checking the whole chain (the
    /// recovery for a missing or damaged state file). A half-written receipt at the end
    /// (a crash between its two writes) is removed and the recovery appends a receipt
    /// that says so, so the log keeps the record.
    pub fn recover(dir: StateDir, key: Option<Box<dyn Signer>>) -> Result<State> {
        dir.lock(true)?;
        check_writable_clock(Timestamp::now())?;
        let key = match key {
            Some(k) => k,
            None => Box::new(own_key(&dir)?),
        };
        let chain = receipts::walk_chain(&dir, &key.public_key())?;
        let s = replay(&chain);
        write_signed_state(&dir, &s, &*key)?;
        let Some(cut) = &chain.interrupted else {
            return Ok(s);
        };
        let receipts = dir.subdir(receipts::RECEIPTS_DIR)?;
        let sha = receipts
            .read(&cut.present, 16 * 1024 * 1024)?
            .map(|b| Sha256Digest::of(&b).hex())
            .unwrap_or_default();
        receipts.remove(&cut.present)?;
        let mut enclave = Enclave { dir, state: s, key };
        let mut r = Receipt::new(Outcome::Recovered, "-", Timestamp::now());
        r.note = Some(format!(
            "state recover: an append of receipt {} was interrupted ({}); removed {} \
             (sha256 {sha})",
            cut.index,
            cut.describe(),
            cut.present
        ));
        enclave.record(r, None)?;
        Ok(enclave.state)
    }

    /// Clear the clock floor, on record: for a floor a wrong clock set (a bundle signed
    /// for a window far ahead). The receipt keeps the reason and the floor it cleared.
    pub fn reset_clock(&mut self, reason: &str) -> Result<String> {
        let mut r = Receipt::new(Outcome::ClockReset, "-", Timestamp::now());
        r.note = Some(format!(
            "clock floor {} cleared: {}",
            self.state
                .latest_time_seen
                .map(|t| t.to_string())
                .unwrap_or_else(|| "(none)".into()),
            Untrusted(reason)
        ));
        self.record(r, None)
    }
}

/// The state a checked receipt chain describes: installed sequences, the clock floor
/// and the head.
fn replay(chain: &receipts::ChainReport) -> State {
    let mut s = State {
        format: STATE_FORMAT,
        receipts: chain.receipts,
        last_receipt_sha256: chain.head,
        ..State::default()
    };
    for r in &chain.entries {
        s.latest_time_seen = floor_after(s.latest_time_seen, r);
        if r.outcome != Outcome::Installed {
            continue;
        }
        let v = r.verified.as_ref();
        let ch = v.and_then(|v| v["channel"].as_str()).map(str::to_string);
        let seq = v.and_then(|v| v["sequence"].as_u64());
        let digest = v
            .and_then(|v| v["manifest_sha256"].as_str())
            .and_then(|d| Sha256Digest::from_hex(d).ok());
        if let (Some(ch), Some(seq), Some(d)) = (ch, seq, digest)
            && s.channels.get(&ch).is_none_or(|c| seq >= c.sequence)
        {
            s.channels.insert(
                ch,
                Installed {
                    sequence: seq,
                    manifest_sha256: d,
                },
            );
        }
    }
    s
}

/// The time a receipt vouches for: when it started, if that lies inside the signed
/// window (`not_before`, `expires`) of a bundle whose signatures were checked. Anything
/// else (a refusal before the signatures, `--allow-expired`, a bundle without an expiry)
/// proves nothing about the clock, and a floor raised from it would let one run with a
/// wrong clock refuse every later install. The TSA time of counted approvals
/// (`verified.time.tsa`, genTime minus accuracy, issue 24) is a lower bound of real time
/// a pinned TSA vouches for, whatever the clock or the window said: the later of the two.
pub fn vouched(r: &Receipt) -> Option<Timestamp> {
    let v = r.verified.as_ref()?;
    let parse = |x: &serde_json::Value| x.as_str().and_then(|s| Timestamp::parse(s, true).ok());
    let tsa = parse(&v["time"]["tsa"]);
    if r.allow_expired {
        return tsa;
    }
    let at = |k: &str| parse(&v[k]);
    let window = at("expires").and_then(|expires| {
        let inside = r.started <= expires && at("not_before").is_none_or(|nb| nb <= r.started);
        inside.then_some(r.started)
    });
    window.max(tsa)
}

/// The clock floor after `r`: raised to what it vouches for; cleared by a reset.
fn floor_after(floor: Option<Timestamp>, r: &Receipt) -> Option<Timestamp> {
    if r.outcome == Outcome::ClockReset {
        return None;
    }
    match vouched(r) {
        Some(t) => Some(floor.map_or(t, |f| f.max(t))),
        None => floor,
    }
}

/// Refuse a clock whose reading state and receipts cannot hold (past the year 9999),
/// before anything is written: written, it could never be read back.
pub fn check_writable_clock(now: Timestamp) -> Result<()> {
    if now.writable() {
        return Ok(());
    }
    Err(Error::Clock {
        reason: format!(
            "the system clock reads {now}, outside the years 1970 to 9999 that the state \
             and receipts hold; fix the clock (nothing was written)"
        ),
    })
}

/// Refuse a receipt log that goes on past the state's head: a crash between a receipt's
/// two writes, or between the receipt and the state. Appending would collide with it.
fn refuse_beyond_head(dir: &StateDir, head: u64) -> Result<()> {
    let Some(r) = dir.existing_subdir(receipts::RECEIPTS_DIR)? else {
        return Ok(());
    };
    let name = receipts::file_name(head + 1);
    let sig = format!("{name}.minisig");
    let what = match (r.has(&name)?, r.has(&sig)?) {
        (false, false) => return Ok(()),
        (true, true) => format!("{name} is there, but the signed state names {head} receipt(s)"),
        (true, false) => format!("{name} is there without {sig}"),
        (false, true) => format!("{sig} is there without {name}"),
    };
    Err(Error::StateInterrupted {
        dir: dir.path().to_path_buf(),
        what,
    })
}

/// The enclave key kept in the state directory, made on first use.
fn own_key(dir: &StateDir) -> Result<SecretKey> {
    if let Some(key) = read_own_key(dir)? {
        return Ok(key);
    }
    // A directory that already holds state was signed with a key: a new one would make
    // every receipt unverifiable and look like tampering. Stop instead.
    if holds_state(dir)? {
        return Err(Error::EnclaveKeyMissing {
            dir: dir.path().to_path_buf(),
        });
    }
    let key = SecretKey::generate()?;
    let pem = key.to_pkcs8_pem()?;
    dir.create_new(ENCLAVE_KEY, pem.as_bytes(), 0o600)?;
    dir.create_new(
        ENCLAVE_PUB,
        key.public_key()
            .to_minisign_with_note("kept in this state directory")
            .as_bytes(),
        0o644,
    )?;
    tracing::warn!(
        "made the enclave receipt key {} in {}; for real deployments keep the key elsewhere \
         (--receipt-key)",
        key.key_id(),
        dir.path().display()
    );
    Ok(key)
}

/// `enclave.key` as kept in `dir`, when it is there. Reads only.
fn read_own_key(dir: &StateDir) -> Result<Option<SecretKey>> {
    let Some(pem) = dir.read(ENCLAVE_KEY, 64 * 1024)? else {
        return Ok(None);
    };
    let text = String::from_utf8(pem).map_err(|_| {
        Error::invalid(
            "enclave key",
            dir.path().join(ENCLAVE_KEY).display(),
            "not UTF-8",
        )
    })?;
    Ok(Some(SecretKey::from_pkcs8_pem(&text)?))
}

/// Whether anything signed lives in `dir`: the state, a receipt, or a public key.
fn holds_state(dir: &StateDir) -> Result<bool> {
    Ok(dir.has(STATE_FILE)? || dir.has(ENCLAVE_PUB)? || dir.has(receipts::RECEIPTS_DIR)?)
}

/// The key that checks `dir`'s signatures without its secret: `enclave.key` (its public
/// half) or `enclave.pub` when airlock keeps the key there; `None` when it is kept
/// elsewhere (`--receipt-key`). Reads only.
pub fn public_key_in(dir: &StateDir) -> Result<Option<PublicKey>> {
    if let Some(key) = read_own_key(dir)? {
        return Ok(Some(key.public_key()));
    }
    let Some(bytes) = dir.read(ENCLAVE_PUB, 4096)? else {
        return Ok(None);
    };
    let text = String::from_utf8(bytes).map_err(|_| {
        Error::invalid(
            "enclave public key",
            dir.path().join(ENCLAVE_PUB).display(),
            "not UTF-8",
        )
    })?;
    Ok(Some(PublicKey::from_minisign(&text)?))
}

/// Whether `dir` holds an airlock state at all (a read-only command has something to check).
pub fn is_empty(dir: &StateDir) -> Result<bool> {
    Ok(!dir.has(STATE_FILE)? && !dir.has(receipts::RECEIPTS_DIR)?)
}

/// The signed state checked with `key`, reading only; `None` when there is none.
pub fn load(dir: &StateDir, key: &PublicKey) -> Result<Option<State>> {
    match dir.read(STATE_FILE, MAX_STATE_BYTES)? {
        Some(bytes) => Ok(Some(read_signed_state(dir, &bytes, key)?)),
        None => Ok(None),
    }
}

/// What a read-only check of a state directory found: the signed state and the whole
/// receipt chain, which agree.
pub struct Audit {
    /// The signed state.
    pub state: State,
    /// The checked chain.
    pub chain: receipts::ChainReport,
}

/// Check a state directory with its public key alone, reading only: the signed state,
/// every receipt, and that the state names the last one. A directory without state is
/// refused as nothing to check.
pub fn audit(dir: &StateDir, key: &PublicKey) -> Result<Audit> {
    if is_empty(dir)? {
        return Err(nothing_here(dir.path()));
    }
    let state = load(dir, key)?;
    let chain = receipts::walk_chain(dir, key)?;
    if let Some(cut) = &chain.interrupted {
        // A half the signed state already names was complete once: that is a deletion.
        if state.as_ref().is_some_and(|s| cut.index <= s.receipts) {
            return Err(Error::record_check(
                format!(
                    "receipt log {}",
                    dir.path().join(receipts::RECEIPTS_DIR).display()
                ),
                format!(
                    "{}, though the signed state names receipt {}: a file was deleted",
                    cut.describe(),
                    cut.index
                ),
            ));
        }
        return Err(Error::StateInterrupted {
            dir: dir.path().to_path_buf(),
            what: cut.describe(),
        });
    }
    let Some(state) = state else {
        return Err(missing_state(dir, chain.receipts));
    };
    if state.receipts < chain.receipts {
        return Err(Error::StateInterrupted {
            dir: dir.path().to_path_buf(),
            what: format!(
                "it holds {} receipt(s), the signed state names {}",
                chain.receipts, state.receipts
            ),
        });
    }
    if state.receipts != chain.receipts || state.last_receipt_sha256 != chain.head {
        return Err(Error::record_check(
            "receipt log",
            format!(
                "the signed state names {} receipts (last {}), the log holds {}: receipts \
                 at the end were deleted or replaced",
                state.receipts,
                state
                    .last_receipt_sha256
                    .map(|d| d.hex())
                    .unwrap_or_else(|| "none".into()),
                chain.receipts
            ),
        ));
    }
    Ok(Audit { state, chain })
}

/// A directory with no airlock state: a read-only command has nothing to check.
pub fn nothing_here(dir: &Path) -> Error {
    Error::invalid(
        "state directory",
        dir.display(),
        "holds no airlock state (no state.json, no receipts): nothing to check. Give the \
         state directory an install used (--state-dir DIR, or --dest DIR for DIR/.airlock)",
    )
}

/// No signed state beside `receipts` receipts. One receipt is what a first install leaves
/// when it stops between its receipt and its first state (a full disk, a kill): an
/// interruption for `state recover`, not tampering. With more, an earlier state existed
/// and was removed (a state is replaced by rename, never missing in between): refused.
fn missing_state(dir: &StateDir, receipts: u64) -> Error {
    if receipts == 1 {
        return Error::StateInterrupted {
            dir: dir.path().to_path_buf(),
            what: format!(
                "it holds receipt {} but no {STATE_FILE} yet: the first install stopped \
                 before writing it",
                receipts::file_name(1)
            ),
        };
    }
    fail_closed(dir, &format!("is missing, but {receipts} receipts exist"))
}

fn fail_closed(dir: &StateDir, what: &str) -> Error {
    Error::record_check(
        format!("state {}", dir.path().join(STATE_FILE).display()),
        format!(
            "{what}; airlock refuses to guess what this enclave installed. If the receipts \
             are intact, rebuild it with `airlock-verify state recover --state-dir {}`",
            dir.path().display()
        ),
    )
}

/// The state file: the state as one JSON line, then its minisign signature.
fn read_signed_state(dir: &StateDir, bytes: &[u8], key: &PublicKey) -> Result<State> {
    let text = std::str::from_utf8(bytes).map_err(|_| fail_closed(dir, "is not UTF-8"))?;
    let Some((json, sig)) = text.split_once('\n') else {
        return Err(fail_closed(dir, "is truncated"));
    };
    crate::trust::verify(std::slice::from_ref(key), json.as_bytes(), sig).map_err(|e| match e {
        // Another key's signature: most often the wrong key given, not an edit.
        crate::trust::TrustError::UnknownKey { key_id, .. } => Error::record_check(
            format!("state {}", dir.path().join(STATE_FILE).display()),
            format!(
                "is signed by key {key_id}, not by the key given ({}): give the enclave's \
                 key (--receipt-key KEY, or --receipt-pub KEY.pub to read)",
                key.key_id()
            ),
        ),
        e => fail_closed(dir, &format!("does not verify with the enclave key ({e})")),
    })?;
    let s: State = serde_json::from_str(json).map_err(|e| fail_closed(dir, &e.to_string()))?;
    if s.format != STATE_FORMAT {
        return Err(fail_closed(dir, &format!("has format {}", s.format)));
    }
    Ok(s)
}

fn write_signed_state(dir: &StateDir, s: &State, key: &dyn Signer) -> Result<()> {
    let json = serde_json::to_string(s).map_err(|e| Error::invalid("state", "<memory>", e))?;
    let sig = crate::sign::sign(key, json.as_bytes(), "airlock-state")?;
    dir.replace(STATE_FILE, format!("{json}\n{sig}").as_bytes(), 0o644)
}

/// Read a public key file (for `log --check` with an explicit `--receipt-pub`).
pub fn load_public(path: &Path) -> Result<PublicKey> {
    Ok(PublicKey::load(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ch: &str, seq: u64, b: &[u8]) -> BundleIdentity {
        BundleIdentity {
            channel: Some(ch.into()),
            sequence: Some(seq),
            manifest_sha256: Sha256Digest::of(b),
        }
    }

    /// A receipt of an install at `t` of a bundle whose signed window is `nb..exp`.
    fn in_window(t: Timestamp, nb: Timestamp, exp: Timestamp) -> Receipt {
        let mut r = Receipt::new(Outcome::Installed, "b", t);
        r.verified = Some(serde_json::json!({
            "not_before": nb.to_string(),
            "expires": exp.to_string(),
        }));
        r
    }

    #[test]
    fn rollback_replay_and_clock_are_refused_and_tampering_fails_closed() {
        let d = tempfile::tempdir().unwrap();
        let mut e = Enclave::open(StateDir::at(d.path()).unwrap(), None).unwrap();
        let t0 = Timestamp::now();
        e.check(&id("site-a", 5, b"five"), t0).unwrap();
        e.record(
            in_window(t0, t0.plus(-60), t0.plus(86400)),
            Some(&id("site-a", 5, b"five")),
        )
        .unwrap();
        // One holder at a time: the lock is released when the enclave is dropped.
        drop(e);
        let e = Enclave::open(StateDir::at(d.path()).unwrap(), None).unwrap();
        assert!(e.check(&id("site-a", 4, b"four"), t0).is_err());
        assert!(e.check(&id("site-a", 5, b"other"), t0).is_err());
        e.check(&id("site-a", 5, b"five"), t0).unwrap();
        e.check(&id("site-a", 6, b"six"), t0).unwrap();
        e.check(&id("site-b", 1, b"b"), t0).unwrap();
        assert!(e.check(&id("site-a", 6, b"six"), t0.plus(-86400)).is_err());
        drop(e);
        // Edit the state: fails closed, and recovery rebuilds it from the receipts.
        let p = d.path().join(STATE_FILE);
        let text = std::fs::read_to_string(&p)
            .unwrap()
            .replace("\"sequence\":5", "\"sequence\":1");
        std::fs::write(&p, text).unwrap();
        let err = Enclave::open(StateDir::at(d.path()).unwrap(), None)
            .err()
            .unwrap();
        assert!(err.to_string().contains("state recover"), "{err}");
        let s = Enclave::recover(StateDir::at(d.path()).unwrap(), None).unwrap();
        assert_eq!(s.receipts, 1);
        // Deleting the state beside receipts also fails closed.
        std::fs::remove_file(&p).unwrap();
        assert!(Enclave::open(StateDir::at(d.path()).unwrap(), None).is_err());
    }

    #[test]
    fn only_a_time_a_signed_window_vouches_for_raises_the_clock_floor() {
        let d = tempfile::tempdir().unwrap();
        let mut e = Enclave::open(StateDir::at(d.path()).unwrap(), None).unwrap();
        let t0 = Timestamp::now();
        let ahead = t0.plus(100 * 365 * 86400);
        // A clock a century ahead: a refusal, an --allow-expired install and an install
        // of a bundle without a window all record it, and none of them moves the floor.
        e.record(Receipt::new(Outcome::Failed, "x", ahead), None)
            .unwrap();
        let mut late = in_window(ahead, t0, t0.plus(86400));
        late.allow_expired = true;
        e.record(late, None).unwrap();
        e.record(Receipt::new(Outcome::Installed, "y", ahead), None)
            .unwrap();
        assert_eq!(e.state().latest_time_seen, None);
        e.check(&id("c", 1, b"1"), t0).unwrap();
        // Inside its window it does; the reset clears it, on record.
        e.record(in_window(t0.plus(60), t0, t0.plus(86400)), None)
            .unwrap();
        assert_eq!(e.state().latest_time_seen, Some(t0.plus(60)));
        assert!(e.check(&id("c", 1, b"1"), t0).is_err());
        e.reset_clock("ticket 7: clock was wrong").unwrap();
        assert_eq!(e.state().latest_time_seen, None);
        e.check(&id("c", 1, b"1"), t0).unwrap();
        drop(e);
        // Recovery replays the same rule: the floor stays cleared.
        let s = Enclave::recover(StateDir::at(d.path()).unwrap(), None).unwrap();
        assert_eq!(s.latest_time_seen, None);
        assert_eq!(s.receipts, 5);
        // A clock past 9999 is refused before anything is written.
        assert!(check_writable_clock(Timestamp::LAST.plus(1)).is_err());
    }

    /// A TSA time in the receipt raises the floor, window or not, and recovery replays it.
    #[test]
    fn a_tsa_time_raises_the_clock_floor() {
        let d = tempfile::tempdir().unwrap();
        let mut e = Enclave::open(StateDir::at(d.path()).unwrap(), None).unwrap();
        let t0 = Timestamp::now();
        let mut r = Receipt::new(Outcome::Installed, "b", t0);
        r.verified = Some(serde_json::json!({"time": {"tsa": t0.plus(120).to_string()}}));
        r.allow_expired = true;
        e.record(r, None).unwrap();
        assert_eq!(e.state().latest_time_seen, Some(t0.plus(120)));
        assert!(e.check(&id("c", 1, b"1"), t0).is_err());
        e.record(in_window(t0.plus(60), t0, t0.plus(86400)), None)
            .unwrap();
        assert_eq!(e.state().latest_time_seen, Some(t0.plus(120)));
        drop(e);
        let s = Enclave::recover(StateDir::at(d.path()).unwrap(), None).unwrap();
        assert_eq!(s.latest_time_seen, Some(t0.plus(120)));
    }

    /// A receipt changed after it was written stops the next writer, not only `log
    /// --check`: nothing is chained after a receipt that no longer verifies.
    #[test]
    fn a_changed_receipt_stops_the_next_append() {
        let d = tempfile::tempdir().unwrap();
        let mut e = Enclave::open(StateDir::at(d.path()).unwrap(), None).unwrap();
        for b in ["a", "b"] {
            e.record(Receipt::new(Outcome::Installed, b, Timestamp::now()), None)
                .unwrap();
        }
        drop(e);
        let first = d.path().join("receipts").join(receipts::file_name(1));
        let text = std::fs::read_to_string(&first).unwrap();
        std::fs::write(&first, text.replacen("\"a\"", "\"x\"", 1)).unwrap();
        let err = Enclave::open(StateDir::at(d.path()).unwrap(), None)
            .err()
            .unwrap();
        assert_eq!(err.exit_code(), 3, "{err}");
        assert!(err.to_string().contains(&receipts::file_name(1)), "{err}");
    }

    /// A first install that stops between its receipt and its first state (a full disk)
    /// is an interruption to recover (exit 1), found by install and by the audit alike;
    /// with a second receipt, a missing state was removed: refused (exit 3).
    #[test]
    fn a_first_install_stopped_before_its_state_is_recovered_not_refused() {
        let d = tempfile::tempdir().unwrap();
        let mut e = Enclave::open(StateDir::at(d.path()).unwrap(), None).unwrap();
        e.record(
            Receipt::new(Outcome::Installed, "b", Timestamp::now()),
            None,
        )
        .unwrap();
        let key = e.public_key();
        drop(e);
        std::fs::remove_file(d.path().join(STATE_FILE)).unwrap();
        let dir = StateDir::at(d.path()).unwrap();
        for err in [
            audit(&dir, &key).err().unwrap(),
            Enclave::open(dir, None).err().unwrap(),
        ] {
            assert_eq!(err.exit_code(), 1, "{err}");
            assert!(err.to_string().contains("state recover"), "{err}");
        }
        let s = Enclave::recover(StateDir::at(d.path()).unwrap(), None).unwrap();
        assert_eq!(s.receipts, 1);
        let mut e = Enclave::open(StateDir::at(d.path()).unwrap(), None).unwrap();
        e.record(
            Receipt::new(Outcome::Installed, "c", Timestamp::now()),
            None,
        )
        .unwrap();
        drop(e);
        std::fs::remove_file(d.path().join(STATE_FILE)).unwrap();
        let err = audit(&StateDir::at(d.path()).unwrap(), &key).err().unwrap();
        assert_eq!(err.exit_code(), 3, "{err}");
    }

    #[test]
    fn a_half_written_receipt_is_recovered_on_record() {
        let d = tempfile::tempdir().unwrap();
        let mut e = Enclave::open(StateDir::at(d.path()).unwrap(), None).unwrap();
        e.record(Receipt::new(Outcome::Failed, "x", Timestamp::now()), None)
            .unwrap();
        drop(e);
        let receipts = d.path().join("receipts");
        // A crash after the signature of receipt 2: its signature without it.
        std::fs::copy(
            receipts.join("000001.json.minisig"),
            receipts.join("000002.json.minisig"),
        )
        .unwrap();
        let err = Enclave::open(StateDir::at(d.path()).unwrap(), None)
            .err()
            .unwrap();
        assert!(matches!(err, Error::StateInterrupted { .. }), "{err}");
        assert!(err.to_string().contains("state recover"), "{err}");
        assert_eq!(err.exit_code(), 1);
        let s = Enclave::recover(StateDir::at(d.path()).unwrap(), None).unwrap();
        assert_eq!(s.receipts, 2);
        let e = Enclave::open(StateDir::at(d.path()).unwrap(), None).unwrap();
        let chain = receipts::check_chain(e.dir(), &e.public_key()).unwrap();
        assert_eq!(chain.entries[1].outcome, Outcome::Recovered);
        // The last signature deleted when the signed state names its receipt: a deletion
        // (exit 3), not a crash.
        let key = e.public_key();
        drop(e);
        std::fs::remove_file(receipts.join("000002.json.minisig")).unwrap();
        let dir = StateDir::at(d.path()).unwrap();
        let err = audit(&dir, &key).err().unwrap();
        assert_eq!(err.exit_code(), 3, "{err}");
        assert!(err.to_string().contains("a file was deleted"), "{err}");
    }

    #[test]
    fn a_deleted_enclave_key_is_never_replaced_silently() {
        let d = tempfile::tempdir().unwrap();
        let mut e = Enclave::open(StateDir::at(d.path()).unwrap(), None).unwrap();
        e.record(Receipt::new(Outcome::Failed, "x", Timestamp::now()), None)
            .unwrap();
        drop(e);
        std::fs::remove_file(d.path().join(ENCLAVE_KEY)).unwrap();
        let err = Enclave::open(StateDir::at(d.path()).unwrap(), None)
            .err()
            .unwrap();
        assert!(
            err.to_string()
                .contains("the enclave key is missing; restore it")
        );
        assert!(!d.path().join(ENCLAVE_KEY).exists());
        // Its public half still reads the state.
        let dir = StateDir::at(d.path()).unwrap();
        let key = public_key_in(&dir).unwrap().unwrap();
        assert_eq!(audit(&dir, &key).unwrap().chain.receipts, 1);
    }

    #[test]
    fn a_second_writer_waits_for_the_first() {
        let d = tempfile::tempdir().unwrap();
        let first = Enclave::open(StateDir::at(d.path()).unwrap(), None).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let path = d.path().to_path_buf();
        let second = std::thread::spawn(move || {
            let e = Enclave::open(StateDir::at(&path).unwrap(), None).unwrap();
            tx.send(()).unwrap();
            drop(e);
        });
        assert!(
            rx.recv_timeout(std::time::Duration::from_millis(300))
                .is_err(),
            "the second writer got in while the first held the state"
        );
        drop(first);
        rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
        second.join().unwrap();
    }
}
