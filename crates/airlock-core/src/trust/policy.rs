//! The enclave's trust policy: which keys count, under which names and roles, and how
//! many of each role must approve.
//!
//! ```json
//! { "format": 1, "kind": "airlock-trust-policy", "version": 1,
//!   "keys": [ { "name": "build server", "key": "RWQ...", "roles": ["builder"] },
//!             { "name": "Alice Smith",  "key": "RWR...", "roles": ["change-board"] } ],
//!   "rules": [ { "role": "builder", "at_least": 1 }, { "role": "change-board", "at_least": 2 } ],
//!   "update": { "at_least": 2, "role": "change-board" } }
//! ```
//!
//! Every rule must hold (AND). A signature counts for the role its trusted comment names,
//! and only if the policy gives its key that role; a key counts once however many
//! signature files it has; a key the policy does not list is reported, never counted.
//! `update` says who must sign the next version of the policy (see [`accept_update`]).
//! `--trust KEY --threshold N` is the same machinery with one anonymous role.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::comment::{self, CommentKind};
use super::timestamp::{PinnedTsa, TimeStampFacts, verify_timestamp};
use super::{KeyId, MessageDigest, PublicKey, TrustError, VerifiedSignature, verify_digest};
use crate::digest::Sha256Digest;
use crate::escape::Untrusted;
use crate::time::Timestamp;

mod draft;
pub use draft::{DraftError, DraftKey, PolicyDraft, RuleChange};

/// The policy format this version reads.
pub const POLICY_FORMAT: u32 = 1;
/// Largest policy file read.
pub const MAX_POLICY_BYTES: u64 = 1024 * 1024;

/// A role name: lower-case letters, digits and `-` (`builder`, `change-board`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct RoleName(String);

impl RoleName {
    /// Check and wrap.
    pub fn new(s: &str) -> Result<Self, RoleNameError> {
        let ok = !s.is_empty()
            && s.len() <= 40
            && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(RoleName(s.to_string()))
        } else {
            Err(RoleNameError {
                found: s.to_owned(),
            })
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A role name outside its alphabet or length.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "role {} must be lower-case letters, digits and '-' (e.g. change-board)",
    Untrusted(found)
)]
pub struct RoleNameError {
    /// The text given.
    pub found: String,
}

impl fmt::Display for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RoleName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        RoleName::new(&s).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum PolicyKind {
    #[serde(rename = "airlock-trust-policy")]
    TrustPolicy,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    format: u32,
    kind: PolicyKind,
    version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    keys: Vec<KeyEntry>,
    rules: Vec<RuleEntry>,
    update: UpdateEntry,
    /// Time-stamping authorities whose RFC 3161 timestamps count (issue 24).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tsa: Vec<TsaEntry>,
    /// Whether `install` requires upstream evidence (issue 23; `policy require-provenance`).
    #[serde(default, skip_serializing_if = "ProvenanceRule::is_optional")]
    provenance: ProvenanceRule,
    /// The sha256 of the only Sigstore `trusted_root.json` a bundle's evidence may have
    /// been checked against (`provenance/trusted_root.json`), issue 23.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    provenance_trusted_root: Option<Sha256Digest>,
}

/// Whether a bundle must carry upstream Sigstore evidence for every Kubernetes image and
/// file, and evidence that re-checks for every artifact its manifest lists as signed
/// (`"provenance": "required"`), or may carry none (`"optional"`, the default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProvenanceRule {
    /// `install` refuses a bundle without evidence, or with an `--allow-unsigned`
    /// exception, and re-checks the evidence it carries (also when everything is held).
    Required,
    /// No requirement (`airlock-verify provenance` can still be run by hand).
    #[default]
    Optional,
}

impl ProvenanceRule {
    fn is_optional(&self) -> bool {
        *self == ProvenanceRule::Optional
    }
}

/// A TSA the policy trusts: a pinned certificate (its root, an intermediate or the TSA
/// certificate itself) and, optionally, the TSA policy OIDs accepted from it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TsaEntry {
    name: String,
    /// The certificate, base64 DER (the body of a PEM file).
    certificate: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    policy_oids: Vec<String>,
}

/// Whether a rule's signatures must carry a valid timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum TimestampRule {
    /// A signature counts only with a valid stamp from a listed TSA.
    Required,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntry {
    name: String,
    /// The minisign public key, base64 (the second line of a `.pub` file).
    key: String,
    roles: Vec<RoleName>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleEntry {
    role: RoleName,
    at_least: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    timestamp: Option<TimestampRule>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateEntry {
    at_least: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    role: Option<RoleName>,
}

/// One trusted key and what the policy says about it.
#[derive(Debug, Clone)]
pub struct Approver {
    /// The name the policy gives it.
    pub name: String,
    /// The key.
    pub key: PublicKey,
    /// The roles it may sign in.
    pub roles: BTreeSet<RoleName>,
}

/// How many approvals are needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rules {
    /// `--threshold N`: N distinct keys, roles ignored.
    Threshold(usize),
    /// Every `(role, at least)` must hold.
    AllOf(Vec<(RoleName, usize)>),
}

/// The trust policy a bundle (or a new policy) is checked against.
#[derive(Debug, Clone)]
pub struct TrustPolicy {
    approvers: Vec<Approver>,
    rules: Rules,
    update: Option<(usize, Option<RoleName>)>,
    version: Option<u64>,
    sha256: Option<Sha256Digest>,
    /// The TSAs whose stamps count.
    tsas: Vec<PinnedTsa>,
    /// Roles whose signatures count only with a valid stamp.
    stamped_roles: BTreeSet<RoleName>,
    /// Whether upstream evidence is required.
    provenance: ProvenanceRule,
    /// The pinned Sigstore trusted root's sha256, if any.
    provenance_trusted_root: Option<Sha256Digest>,
}

/// A signature that counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Counted {
    /// `signatures/<file>`.
    pub file: String,
    /// The key.
    pub key_id: String,
    /// The name the policy gives the key (or its id, in threshold mode).
    pub name: String,
    /// The role it counted for (none in threshold mode).
    pub role: Option<String>,
    /// The signer name the signature itself claims (authenticated, informational).
    pub claimed_signer: Option<String>,
    /// When the signature says it was made.
    pub time: Option<String>,
    /// The change request the approval names (`airlock sign --change`); absent in
    /// signatures made without it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<String>,
    /// For a policy signature: the version it approves.
    #[serde(skip)]
    pub policy_version: Option<u64>,
    /// Its valid RFC 3161 timestamp, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<TimeStampFacts>,
    /// Why its timestamp file (present, but not required) was not accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp_problem: Option<String>,
}

/// A signature that did not count, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotCounted {
    /// `signatures/<file>`.
    pub file: String,
    /// Why.
    pub reason: String,
}

/// One rule and how far it is met.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleStatus {
    /// The role (none in threshold mode).
    pub role: Option<String>,
    /// Approvals needed.
    pub need: usize,
    /// Names of the keys that counted.
    pub have: Vec<String>,
}

/// The result of checking signatures against a policy.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// Signatures that counted.
    pub counted: Vec<Counted>,
    /// Signatures that did not, with the reason.
    pub not_counted: Vec<NotCounted>,
    /// Every rule and what it still needs.
    pub rules: Vec<RuleStatus>,
}

impl Evaluation {
    /// The change numbers the counted approvals name, sorted, each once.
    pub fn changes(&self) -> Vec<String> {
        let set: BTreeSet<&str> = self
            .counted
            .iter()
            .filter_map(|c| c.change.as_deref())
            .collect();
        set.into_iter().map(str::to_string).collect()
    }

    /// The latest time a counted signature's valid timestamp proves it existed by
    /// (genTime minus accuracy): a lower bound of real time a TSA vouches for.
    pub fn approved_by_tsa(&self) -> Option<Timestamp> {
        self.counted
            .iter()
            .filter_map(|c| c.timestamp.as_ref())
            .map(TimeStampFacts::lower_bound)
            .max()
    }

    /// True when every rule is met.
    pub fn satisfied(&self) -> bool {
        self.rules.iter().all(|r| r.have.len() >= r.need)
    }

    /// What is still missing, in words (`1 more change-board`), empty when satisfied.
    pub fn missing(&self) -> Vec<String> {
        self.rules
            .iter()
            .filter(|r| r.have.len() < r.need)
            .map(|r| {
                let n = r.need - r.have.len();
                match &r.role {
                    Some(role) => format!("{n} more {role}"),
                    None => format!("{n} more distinct trusted key(s)"),
                }
            })
            .collect()
    }

    /// Several lines for an error or a listing.
    pub fn explain(&self) -> String {
        let mut out = String::new();
        for r in &self.rules {
            let role = r.role.as_deref().unwrap_or("signatures");
            out.push_str(&format!(
                "\n  {role}: {} required, {} counted ({})",
                r.need,
                r.have.len(),
                if r.have.is_empty() {
                    "none".to_string()
                } else {
                    r.have.join(", ")
                }
            ));
        }
        for n in &self.not_counted {
            out.push_str(&format!("\n  {}: not counted: {}", n.file, n.reason));
        }
        out
    }
}

impl TrustPolicy {
    /// `--trust KEYS --threshold N`, unchecked: only [`crate::verify::Policy::threshold`]
    /// calls it, after refusing a threshold of 0, one that can never be met and one key
    /// under two names (public, it would let a caller build a policy that an unsigned
    /// bundle satisfies).
    pub(crate) fn threshold(keys: Vec<PublicKey>, threshold: usize) -> Self {
        TrustPolicy {
            approvers: keys
                .into_iter()
                .map(|key| Approver {
                    name: key.key_id().to_string(),
                    key,
                    roles: BTreeSet::new(),
                })
                .collect(),
            rules: Rules::Threshold(threshold),
            update: None,
            version: None,
            sha256: None,
            tsas: Vec::new(),
            stamped_roles: BTreeSet::new(),
            provenance: ProvenanceRule::Optional,
            provenance_trusted_root: None,
        }
    }

    /// Read and check a policy file.
    pub fn load(path: &Path) -> Result<Self, crate::Error> {
        let bytes = crate::fsutil::read_limited(path, MAX_POLICY_BYTES, "trust policy")?;
        Self::parse(&bytes, &path.display().to_string())
    }

    /// Parse and check policy bytes; `origin` names them in errors.
    pub fn parse(bytes: &[u8], origin: &str) -> Result<Self, crate::Error> {
        let bad = |r: String| crate::Error::invalid("trust policy", origin, r);
        let text = std::str::from_utf8(bytes).map_err(|_| bad("not UTF-8".into()))?;
        let expect = crate::versioned::Expect {
            what: "trust policy",
            format: POLICY_FORMAT,
            kind: "airlock-trust-policy",
        };
        let f: PolicyFile =
            crate::versioned::parse::<crate::versioned::Json, _>(text, expect, origin)?;
        let mut approvers = Vec::new();
        let mut ids: BTreeMap<KeyId, String> = BTreeMap::new();
        let mut names = BTreeSet::new();
        for k in f.keys {
            if !key_name_ok(&k.name) {
                return Err(bad(format!(
                    "key name {} is empty, too long or has control characters",
                    Untrusted(&k.name)
                )));
            }
            if !names.insert(k.name.clone()) {
                return Err(bad(format!("name {} is listed twice", Untrusted(&k.name))));
            }
            let key = PublicKey::from_base64(&k.key)
                .map_err(|e| bad(format!("key of {}: {e}", Untrusted(&k.name))))?;
            if let Some(other) = ids.insert(key.key_id(), k.name.clone()) {
                return Err(bad(format!(
                    "key {} is listed twice (as {} and {}): one approver would count twice",
                    key.key_id(),
                    Untrusted(&other),
                    Untrusted(&k.name)
                )));
            }
            if approvers
                .iter()
                .any(|a: &Approver| a.key.as_bytes() == key.as_bytes())
            {
                return Err(bad(format!(
                    "the key of {} is listed twice",
                    Untrusted(&k.name)
                )));
            }
            approvers.push(Approver {
                name: k.name,
                key,
                roles: k.roles.into_iter().collect(),
            });
        }
        let holders = |role: &RoleName| approvers.iter().filter(|a| a.roles.contains(role)).count();
        if f.rules.is_empty() {
            return Err(bad(
                "no rules: a policy must require at least one approval".into()
            ));
        }
        let mut rules = Vec::new();
        let mut stamped_roles = BTreeSet::new();
        let tsas = parse_tsas(&f.tsa).map_err(bad)?;
        for r in f.rules {
            if r.at_least == 0 || r.at_least > holders(&r.role) {
                return Err(bad(format!(
                    "rule {} x {}: must be at least 1 and at most the {} key(s) holding that role",
                    r.at_least,
                    r.role,
                    holders(&r.role)
                )));
            }
            if rules.iter().any(|(role, _)| role == &r.role) {
                return Err(bad(format!("role {} has two rules", r.role)));
            }
            if r.timestamp == Some(TimestampRule::Required) {
                if tsas.is_empty() {
                    return Err(bad(format!(
                        "rule {} requires timestamps but the policy lists no tsa",
                        r.role
                    )));
                }
                stamped_roles.insert(r.role.clone());
            }
            rules.push((r.role, r.at_least));
        }
        let able = match &f.update.role {
            Some(role) => holders(role),
            None => approvers.len(),
        };
        if f.update.at_least == 0 || f.update.at_least > able {
            return Err(bad(format!(
                "update.at_least {} must be at least 1 and at most {able}",
                f.update.at_least
            )));
        }
        Ok(TrustPolicy {
            approvers,
            rules: Rules::AllOf(rules),
            update: Some((f.update.at_least, f.update.role)),
            version: Some(f.version),
            sha256: Some(Sha256Digest::of(bytes)),
            tsas,
            stamped_roles,
            provenance: f.provenance,
            provenance_trusted_root: f.provenance_trusted_root,
        })
    }

    /// Whether `install` requires upstream evidence (`--trust` never does).
    pub fn provenance(&self) -> ProvenanceRule {
        self.provenance
    }

    /// The sha256 of the one Sigstore trusted root the enclave accepts evidence checked
    /// against (`"provenance_trusted_root"`); `None`: any the bundle carries.
    pub fn provenance_trusted_root(&self) -> Option<Sha256Digest> {
        self.provenance_trusted_root
    }

    /// The TSAs the policy lists.
    pub fn tsas(&self) -> &[PinnedTsa] {
        &self.tsas
    }

    /// True when some rule counts a signature only with a valid timestamp.
    pub fn requires_timestamps(&self) -> bool {
        !self.stamped_roles.is_empty()
    }

    /// The keys.
    pub fn approvers(&self) -> &[Approver] {
        &self.approvers
    }

    /// The rules.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// The policy's version (none for `--trust`/`--threshold`).
    pub fn version(&self) -> Option<u64> {
        self.version
    }

    /// sha256 of the policy file (none for `--trust`/`--threshold`).
    pub fn sha256(&self) -> Option<&Sha256Digest> {
        self.sha256.as_ref()
    }

    /// Check bundle `signatures` (file name, text) over a manifest with `digest` against
    /// the rules.
    pub fn evaluate(&self, digest: &MessageDigest, signatures: &[(String, String)]) -> Evaluation {
        self.evaluate_stamped(digest, signatures, &BTreeMap::new())
    }

    /// [`TrustPolicy::evaluate`] with each signature's timestamp (`.tsr` bytes, keyed by
    /// the signature's name as in `signatures`).
    pub fn evaluate_stamped(
        &self,
        digest: &MessageDigest,
        signatures: &[(String, String)],
        stamps: &BTreeMap<String, Vec<u8>>,
    ) -> Evaluation {
        self.evaluate_rules(
            digest,
            signatures,
            stamps,
            &self.rules,
            &[CommentKind::Bundle, CommentKind::Approval],
        )
    }

    fn evaluate_rules(
        &self,
        digest: &MessageDigest,
        signatures: &[(String, String)],
        stamps: &BTreeMap<String, Vec<u8>>,
        rules: &Rules,
        kinds: &[CommentKind],
    ) -> Evaluation {
        let keys: Vec<PublicKey> = self.approvers.iter().map(|a| a.key.clone()).collect();
        let mut counted: Vec<Counted> = Vec::new();
        let mut not_counted = Vec::new();
        let mut seen: BTreeSet<KeyId> = BTreeSet::new();
        for (file, text) in signatures {
            let v = match verify_digest(&keys, digest, text) {
                Ok(v) => v,
                Err(e) => {
                    not_counted.push(NotCounted {
                        file: file.clone(),
                        reason: e.to_string(),
                    });
                    continue;
                }
            };
            let counts = self
                .count(rules, kinds, &v, &mut seen)
                .and_then(|(name, role, c)| {
                    let stamp = self.check_stamp(file, text, stamps, role.as_deref(), c.as_ref());
                    match stamp {
                        Ok(stamp) => Ok((name, role, c, stamp)),
                        Err(e) => {
                            seen.remove(&v.key_id());
                            Err(e)
                        }
                    }
                });
            match counts {
                Ok((name, role, c, (timestamp, timestamp_problem))) => counted.push(Counted {
                    file: file.clone(),
                    key_id: v.key_id().to_string(),
                    name,
                    role,
                    claimed_signer: c.as_ref().and_then(|c| c.get("signer")).map(str::to_string),
                    time: c.as_ref().and_then(|c| c.get("time")).map(str::to_string),
                    change: c.as_ref().and_then(|c| c.get("change")).map(str::to_string),
                    policy_version: c
                        .as_ref()
                        .filter(|c| c.kind == CommentKind::Policy)
                        .and_then(|c| c.get("version"))
                        .and_then(|v| v.parse().ok()),
                    timestamp,
                    timestamp_problem,
                }),
                Err(reason) => not_counted.push(NotCounted {
                    file: file.clone(),
                    reason: reason.to_string(),
                }),
            }
        }
        let status = |role: Option<&RoleName>, need: usize| RuleStatus {
            role: role.map(|r| r.to_string()),
            need,
            have: counted
                .iter()
                .filter(|c| role.is_none() || c.role.as_deref() == role.map(RoleName::as_str))
                .map(|c| c.name.clone())
                .collect(),
        };
        let rules = match rules {
            Rules::Threshold(n) => vec![status(None, *n)],
            Rules::AllOf(list) => list.iter().map(|(r, n)| status(Some(r), *n)).collect(),
        };
        Evaluation {
            counted,
            not_counted,
            rules,
        }
    }

    /// The signature's timestamp, judged: `Err` when its rule requires a stamp and it
    /// has no valid one; otherwise the valid stamp or why the one present is not.
    #[allow(clippy::type_complexity)]
    fn check_stamp(
        &self,
        file: &str,
        text: &str,
        stamps: &BTreeMap<String, Vec<u8>>,
        role: Option<&str>,
        c: Option<&comment::Comment>,
    ) -> Result<(Option<TimeStampFacts>, Option<String>), Uncounted> {
        let required = role.is_some_and(|r| self.stamped_roles.iter().any(|s| s.as_str() == r));
        let tsr = timestamp_label(file);
        let Some(bytes) = stamps.get(file) else {
            return match (required, role) {
                (true, Some(role)) => Err(Uncounted::NoTimestamp {
                    role: role.to_string(),
                    tsr,
                }),
                _ => Ok((None, None)),
            };
        };
        // The core names the artifact "timestamp"; here it has a file name.
        let checked = verify_timestamp(bytes, text.as_bytes(), &self.tsas)
            .map_err(|e| e.to_string().replacen("timestamp:", &format!("{tsr}:"), 1));
        let facts = match (checked, required) {
            (Ok(f), _) => f,
            (Err(reason), true) => {
                return Err(Uncounted::BadTimestamp {
                    role: role.unwrap_or_default().to_string(),
                    reason,
                });
            }
            (Err(reason), false) => return Ok((None, Some(reason))),
        };
        if let Some(e) = signed_after_stamp(c, &facts) {
            if required {
                return Err(e);
            }
            return Ok((None, Some(e.to_string())));
        }
        Ok((Some(facts), None))
    }

    /// Whether a verified signature counts, and for whom and which role.
    #[allow(clippy::type_complexity)]
    fn count(
        &self,
        rules: &Rules,
        kinds: &[CommentKind],
        v: &VerifiedSignature,
        seen: &mut BTreeSet<KeyId>,
    ) -> Result<(String, Option<String>, Option<comment::Comment>), Uncounted> {
        let key_id = v.key_id();
        let Some(a) = self.approvers.iter().find(|a| a.key.key_id() == key_id) else {
            return Err(Uncounted::NotInPolicy { key_id });
        };
        let name = a.name.clone();
        if seen.contains(&key_id) {
            return Err(Uncounted::Duplicate { key_id, name });
        }
        let parsed = comment::parse(v.trusted_comment());
        // With roles, the (authenticated) trusted comment must say what was signed; with
        // a bare threshold any comment is accepted, as before roles existed.
        if let Rules::AllOf(_) = rules
            && !parsed.as_ref().is_some_and(|c| kinds.contains(&c.kind))
        {
            let words: Vec<&str> = kinds.iter().map(|k| k.word()).collect();
            return Err(Uncounted::CommentKind {
                expected: words.join(" or "),
            });
        }
        let role = match rules {
            Rules::Threshold(_) => None,
            Rules::AllOf(list) => {
                let claimed = parsed
                    .as_ref()
                    .and_then(|c| c.get("role"))
                    .ok_or(Uncounted::NoRole)?;
                let role = RoleName::new(claimed)?;
                if !a.roles.contains(&role) {
                    return Err(Uncounted::RoleNotGiven { role, name });
                }
                if !list.iter().any(|(r, _)| r == &role) {
                    return Err(Uncounted::RoleNotCounted { role });
                }
                Some(role.to_string())
            }
        };
        seen.insert(v.key_id());
        Ok((a.name.clone(), role, parsed))
    }
}

/// A key name is shown to people: not blank, at most 100 bytes, no control characters.
fn key_name_ok(name: &str) -> bool {
    !name.trim().is_empty() && name.len() <= 100 && !name.chars().any(char::is_control)
}

/// Why a valid signature does not count toward the policy (shown per signature).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum Uncounted {
    /// The key is not one of the policy's.
    #[error("key {key_id} is not in the policy")]
    NotInPolicy { key_id: KeyId },
    /// The key already counted.
    #[error("duplicate: key {key_id} ({}) already counted", Untrusted(name))]
    Duplicate { key_id: KeyId, name: String },
    /// The trusted comment says another kind of signature.
    #[error("its trusted comment is not a {expected} signature")]
    CommentKind { expected: String },
    /// No role in the trusted comment.
    #[error("its trusted comment names no role (sign with `airlock sign --role ROLE`)")]
    NoRole,
    /// A role name outside its alphabet.
    #[error(transparent)]
    RoleName(#[from] RoleNameError),
    /// A role the policy does not give this signer.
    #[error(
        "signed as {role}, a role the policy does not give {}",
        Untrusted(name)
    )]
    RoleNotGiven { role: RoleName, name: String },
    /// A role no rule counts.
    #[error("role {role} is not one the policy's rules count")]
    RoleNotCounted { role: RoleName },
    /// The rule for its role requires a timestamp and there is none.
    #[error("the policy requires a timestamp for role {role} and {tsr} is missing")]
    NoTimestamp { role: String, tsr: String },
    /// The rule for its role requires a timestamp and it is not valid.
    #[error("timestamp required for role {role}: {reason}")]
    BadTimestamp { role: String, reason: String },
    /// The trusted comment says it was signed after the TSA stamped it: back-dated.
    #[error(
        "its trusted comment says time={claimed}, later than the TSA's time {stamped} \
         (+{skew} s): the signer's clock or word is false"
    )]
    SignedAfterStamp {
        claimed: String,
        stamped: String,
        skew: i64,
    },
}

/// The back-dating check: a trusted comment whose `time=` is later than the stamp's
/// genTime plus accuracy plus [`COMMENT_SKEW_SECS`] is false.
fn signed_after_stamp(c: Option<&comment::Comment>, facts: &TimeStampFacts) -> Option<Uncounted> {
    let claimed = Timestamp::parse(c?.get("time")?, false).ok()?;
    let limit = facts
        .time
        .plus(facts.accuracy_secs.min(i64::MAX as u64) as i64)
        .plus(COMMENT_SKEW_SECS);
    (claimed > limit).then(|| Uncounted::SignedAfterStamp {
        claimed: claimed.to_string(),
        stamped: facts.time.to_string(),
        skew: COMMENT_SKEW_SECS,
    })
}

/// How far a signer's `time=` may be after the TSA's genTime (plus its accuracy) before
/// the claim is called false: the comment is written before the stamp is asked for.
pub const COMMENT_SKEW_SECS: i64 = 300;

/// The `.tsr` beside a signature file: `signatures/K.minisig` -> `signatures/K.tsr`.
pub fn timestamp_label(signature_label: &str) -> String {
    match signature_label.strip_suffix(crate::layout::SIGNATURE_EXT) {
        Some(stem) => format!("{stem}{}", crate::layout::TIMESTAMP_EXT),
        None => format!("{signature_label}.{}", crate::layout::TIMESTAMP_EXT),
    }
}

fn parse_tsas(entries: &[TsaEntry]) -> Result<Vec<PinnedTsa>, String> {
    use base64::Engine as _;
    let mut out: Vec<PinnedTsa> = Vec::new();
    for t in entries {
        if t.name.trim().is_empty() || t.name.len() > 100 || t.name.chars().any(char::is_control) {
            return Err(format!(
                "tsa name {} is empty, too long or has control characters",
                Untrusted(&t.name)
            ));
        }
        if out.iter().any(|p| p.name == t.name) {
            return Err(format!("tsa {} is listed twice", Untrusted(&t.name)));
        }
        let der = base64::engine::general_purpose::STANDARD
            .decode(t.certificate.trim())
            .map_err(|e| format!("tsa {}: certificate is not base64: {e}", Untrusted(&t.name)))?;
        let pin = PinnedTsa::new(&t.name, &der, t.policy_oids.clone())
            .map_err(|e| format!("tsa {}: {e}", Untrusted(&t.name)))?;
        out.push(pin);
    }
    Ok(out)
}

/// Accept `new` (its file bytes, and signatures over them) as the successor of `current`:
/// its version must be exactly one more, and `current`'s update rule must be met by
/// signatures of `current`'s keys (each signing as `airlock-policy` for this version).
///
/// The signatures are checked over the bytes before the new policy is parsed, as a
/// bundle's are before its manifest is: an update changed in transit is untrusted
/// (exit 3), whatever its bytes now parse as.
pub fn accept_update(
    current: &TrustPolicy,
    new_bytes: &[u8],
    origin: &str,
    signatures: &[(String, String)],
) -> Result<(TrustPolicy, Evaluation), crate::Error> {
    let Some(cur_v) = current.version else {
        return Err(crate::Error::Usage(
            "policy updates need a policy file (--policy), not --trust".into(),
        ));
    };
    // Checked first: at the largest version nothing can follow, whoever signs.
    let Some(next_v) = cur_v.checked_add(1) else {
        return Err(crate::Error::invalid(
            "trust policy",
            format!("version {cur_v}"),
            "is the largest version there is, so no update can follow it: replace the \
             policy file through your change procedure with one at a lower version",
        ));
    };
    let Some((n, role)) = &current.update else {
        return Err(crate::Error::Usage(
            "the current policy has no update rule".into(),
        ));
    };
    // Roles always apply to updates (an update rule without a role counts every key of
    // the current policy, each in the role it claims).
    let rules = match role {
        Some(r) => Rules::AllOf(vec![(r.clone(), *n)]),
        None => Rules::Threshold(*n),
    };
    let digest = MessageDigest::of_bytes(new_bytes);
    let eval = current.evaluate_rules(
        &digest,
        signatures,
        &BTreeMap::new(),
        &rules,
        &[CommentKind::Policy],
    );
    if !eval.satisfied() {
        return Err(TrustError::PolicyUpdate {
            reason: format!(
                "the current policy (version {cur_v}) needs {}{}",
                eval.missing().join(", "),
                eval.explain()
            ),
        }
        .into());
    }
    let new = TrustPolicy::parse(new_bytes, origin)?;
    let Some(new_v) = new.version else {
        return Err(crate::Error::Usage(
            "policy updates need a policy file (--policy), not --trust".into(),
        ));
    };
    if new_v != next_v {
        return Err(TrustError::PolicyUpdate {
            reason: format!("version {new_v} is not {next_v} (the current version plus one)"),
        }
        .into());
    }
    for c in &eval.counted {
        // Each signature must say it approves this policy version, not another one.
        if c.policy_version != Some(new_v) {
            return Err(TrustError::PolicyUpdate {
                reason: format!("{}: not an approval of policy version {new_v}", c.file),
            }
            .into());
        }
    }
    Ok((new, eval))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::SecretKey;
    use crate::trust::comment::render;

    fn policy(version: u64, keys: &[&SecretKey]) -> String {
        let keys: Vec<serde_json::Value> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                serde_json::json!({"name": format!("k{i}"), "key": k.public_key().to_base64(),
                    "roles": ["change-board"]})
            })
            .collect();
        serde_json::json!({"format": 1, "kind": "airlock-trust-policy", "version": version,
            "keys": keys, "rules": [{"role": "change-board", "at_least": 1}],
            "update": {"role": "change-board", "at_least": 2}})
        .to_string()
    }

    fn signed(bytes: &[u8], version: &str, keys: &[&SecretKey]) -> Vec<(String, String)> {
        let comment = render(
            CommentKind::Policy,
            &[("role", "change-board"), ("version", version)],
        );
        keys.iter()
            .enumerate()
            .map(|(i, k)| {
                let sig = crate::sign::sign(k, bytes, &comment).unwrap();
                (format!("k{i}.minisig"), sig)
            })
            .collect()
    }

    /// A policy written before timestamps existed reads and writes the same fields.
    #[test]
    fn policies_without_timestamp_fields_serialize_as_before() {
        let (a, b) = (
            SecretKey::generate().unwrap(),
            SecretKey::generate().unwrap(),
        );
        let text = policy(1, &[&a, &b]);
        let f: PolicyFile = serde_json::from_str(&text).unwrap();
        let back: serde_json::Value = serde_json::to_value(&f).unwrap();
        let orig: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, orig);
        let p = TrustPolicy::parse(text.as_bytes(), "p").unwrap();
        assert!(!p.requires_timestamps() && p.tsas().is_empty());
    }

    /// A certificate made by `openssl`, base64 DER.
    fn openssl_cert_b64() -> String {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ])
            .args([
                "-nodes", "-keyout", "k.pem", "-out", "c.pem", "-subj", "/CN=t",
            ])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pem = std::fs::read_to_string(dir.path().join("c.pem")).unwrap();
        pem.lines().filter(|l| !l.starts_with("-----")).collect()
    }

    #[test]
    fn a_timestamp_rule_needs_a_listed_tsa_with_a_certificate() {
        let k = SecretKey::generate().unwrap();
        let mut v: serde_json::Value = serde_json::from_str(&policy(1, &[&k])).unwrap();
        v["update"]["at_least"] = 1.into();
        v["rules"][0]["timestamp"] = "required".into();
        let parse = |v: &serde_json::Value| TrustPolicy::parse(v.to_string().as_bytes(), "p");
        let e = parse(&v).unwrap_err().to_string();
        assert!(e.contains("lists no tsa"), "{e}");
        v["tsa"] = serde_json::json!([{"name": "corp TSA", "certificate": "AAAA"}]);
        let e = parse(&v).unwrap_err().to_string();
        assert!(
            e.contains("corp TSA") && e.contains("not an X.509 certificate"),
            "{e}"
        );
        v["tsa"][0]["certificate"] = openssl_cert_b64().into();
        let p = parse(&v).unwrap();
        assert!(p.requires_timestamps());
        assert_eq!(p.tsas()[0].name, "corp TSA");
        v["tsa"][0]["policy_oids"] = serde_json::json!(["not an oid"]);
        assert!(parse(&v).unwrap_err().to_string().contains("not an OID"));
        v["tsa"][0]["policy_oids"] = serde_json::json!(["1.3.6.1.4.1.99999.1"]);
        parse(&v).unwrap();
        v["rules"][0]["timestamp"] = "optional".into();
        assert!(parse(&v).is_err(), "only \"required\" is a timestamp rule");
    }

    #[test]
    fn an_update_changed_after_signing_is_untrusted_before_it_is_parsed() {
        let (a, b) = (
            SecretKey::generate().unwrap(),
            SecretKey::generate().unwrap(),
        );
        let current = TrustPolicy::parse(policy(1, &[&a, &b]).as_bytes(), "current").unwrap();
        let next = policy(2, &[&a, &b]);
        let sigs = signed(next.as_bytes(), "2", &[&a, &b]);
        assert!(accept_update(&current, next.as_bytes(), "next", &sigs).is_ok());
        // Cut in half it is no longer JSON; it must still be refused as untrusted (3),
        // not reported as invalid input (4) from parsing bytes nobody vouched for.
        let cut = &next.as_bytes()[..next.len() / 2];
        let e = accept_update(&current, cut, "next", &sigs).unwrap_err();
        assert_eq!(e.exit_code(), 3, "{}", crate::error::chain(&e));
        // One signature short: refused the same way, whatever the bytes.
        let e = accept_update(&current, next.as_bytes(), "next", &sigs[..1]).unwrap_err();
        assert_eq!(e.exit_code(), 3, "{}", crate::error::chain(&e));
        // Signed for another version than the file says.
        let sigs3 = signed(next.as_bytes(), "3", &[&a, &b]);
        let e = accept_update(&current, next.as_bytes(), "next", &sigs3).unwrap_err();
        assert!(
            crate::error::chain(&e).contains("not an approval of policy version 2"),
            "{}",
            crate::error::chain(&e)
        );
    }

    #[test]
    fn the_largest_version_has_no_successor_and_says_so() {
        let (a, b) = (
            SecretKey::generate().unwrap(),
            SecretKey::generate().unwrap(),
        );
        let current =
            TrustPolicy::parse(policy(u64::MAX, &[&a, &b]).as_bytes(), "current").unwrap();
        let next = policy(1, &[&a, &b]);
        let sigs = signed(next.as_bytes(), "1", &[&a, &b]);
        let e = accept_update(&current, next.as_bytes(), "next", &sigs).unwrap_err();
        let text = crate::error::chain(&e);
        assert!(text.contains("no update can follow it"), "{text}");
        assert!(!text.contains("is not 0"), "{text}");
        assert_eq!(e.exit_code(), 4, "{text}");
    }
}
