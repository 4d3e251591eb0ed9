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
//! digest (the same sequence), and a clock earlier than the latest time seen.

pub mod dir;
pub mod receipts;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::escape::Untrusted;
use crate::time::Timestamp;
use crate::trust::{PublicKey, SecretKey};
pub use dir::StateDir;
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
    /// [`STATE_FORMAT`].
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

/// The newest bundle installed on a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Installed {
    /// Its sequence number.
    pub sequence: u64,
    /// Its manifest's sha256.
    pub manifest_sha256: Sha256Digest,
}

/// What a bundle says about where it belongs (from its signed manifest).
#[derive(Debug, Clone)]
pub struct BundleIdentity {
    /// The channel, if any.
    pub channel: Option<String>,
    /// Its sequence on that channel.
    pub sequence: Option<u64>,
    /// Its manifest's sha256.
    pub manifest_sha256: Sha256Digest,
}

/// An open state directory with its verified state and the enclave key.
pub struct Enclave {
    dir: StateDir,
    state: State,
    key: SecretKey,
}

impl Enclave {
    /// Open the state in `dir` with the enclave's secret `key` (or, with `None`, the key
    /// in the state directory, made on first use). A fresh directory (no state, no
    /// receipts) starts empty; a missing state beside receipts, or a state whose signature
    /// fails, is refused with the command that recovers.
    pub fn open(dir: StateDir, key: Option<SecretKey>) -> Result<Self> {
        dir.lock(true)?;
        let key = match key {
            Some(k) => k,
            None => own_key(&dir)?,
        };
        let state = match dir.read(STATE_FILE, MAX_STATE_BYTES)? {
            Some(bytes) => read_signed_state(&dir, &bytes, &key.public_key())?,
            None => {
                let receipts = receipts::check_chain(&dir, &key.public_key())?;
                if receipts.receipts > 0 {
                    return Err(fail_closed(
                        &dir,
                        &format!("is missing, but {} receipts exist", receipts.receipts),
                    ));
                }
                State {
                    format: STATE_FORMAT,
                    ..State::default()
                }
            }
        };
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
        Ok(crate::trust::sign(&self.key, bytes, comment)?)
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
        let finished = receipt.finished;
        let (index, sha, path) = receipts::append(&self.dir, head, receipt, &self.key)?;
        let mut next = self.state.clone();
        next.receipts = index;
        next.last_receipt_sha256 = Some(sha);
        next.latest_time_seen = Some(next.latest_time_seen.map_or(finished, |t| t.max(finished)));
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
        write_signed_state(&self.dir, &next, &self.key)?;
        self.state = next;
        Ok(path)
    }

    /// Rebuild the state from the receipt log after checking the whole chain (the
    /// recovery for a missing or damaged state file).
    pub fn recover(dir: StateDir, key: Option<SecretKey>) -> Result<State> {
        dir.lock(true)?;
        let key = match key {
            Some(k) => k,
            None => own_key(&dir)?,
        };
        let chain = receipts::check_chain(&dir, &key.public_key())?;
        let mut s = State {
            format: STATE_FORMAT,
            receipts: chain.receipts,
            last_receipt_sha256: chain.head,
            ..State::default()
        };
        for r in &chain.entries {
            s.latest_time_seen = Some(s.latest_time_seen.map_or(r.finished, |t| t.max(r.finished)));
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
        write_signed_state(&dir, &s, &key)?;
        Ok(s)
    }
}

/// The enclave key kept in the state directory, made on first use.
fn own_key(dir: &StateDir) -> Result<SecretKey> {
    if let Some(pem) = dir.read(ENCLAVE_KEY, 64 * 1024)? {
        let text = String::from_utf8(pem).map_err(|_| {
            Error::invalid(
                "enclave key",
                dir.path().join(ENCLAVE_KEY).display(),
                "not UTF-8",
            )
        })?;
        return Ok(SecretKey::from_pkcs8_pem(&text)?);
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

fn fail_closed(dir: &StateDir, what: &str) -> Error {
    Error::verification(
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
    crate::trust::verify(std::slice::from_ref(key), json.as_bytes(), sig)
        .map_err(|e| fail_closed(dir, &format!("does not verify with the enclave key ({e})")))?;
    let s: State = serde_json::from_str(json).map_err(|e| fail_closed(dir, &e.to_string()))?;
    if s.format != STATE_FORMAT {
        return Err(fail_closed(dir, &format!("has format {}", s.format)));
    }
    Ok(s)
}

fn write_signed_state(dir: &StateDir, s: &State, key: &SecretKey) -> Result<()> {
    let json = serde_json::to_string(s).map_err(|e| Error::invalid("state", "<memory>", e))?;
    let sig = crate::trust::sign(key, json.as_bytes(), "airlock-state")?;
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

    #[test]
    fn rollback_replay_and_clock_are_refused_and_tampering_fails_closed() {
        let d = tempfile::tempdir().unwrap();
        let mut e = Enclave::open(StateDir::at(d.path()).unwrap(), None).unwrap();
        let t0 = Timestamp::now();
        e.check(&id("site-a", 5, b"five"), t0).unwrap();
        e.record(
            Receipt::new(Outcome::Installed, "b5", t0),
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
