//! Policies written by commands (`airlock-verify policy init`, `add-key`, ...): a draft of
//! the policy file, edited one checked step at a time and written back in one canonical
//! form (2-space JSON, fields in the format's order, a final newline).
//!
//! A draft may be incomplete (a fresh `init` has no keys, no rules and an update rule of
//! 0), so [`TrustPolicy::parse`] may still refuse it; every edit refuses what could never
//! become a valid policy (a name or key twice, a rule for a role no key holds or needing
//! more keys than hold it, removing a key a rule still needs). A draft is only a file: it
//! changes an enclave's policy only as a signed `policy update`.

use std::collections::BTreeSet;

use serde::de::DeserializeOwned;

use super::{
    KeyEntry, PolicyFile, RoleName, RuleEntry, TimestampRule, TrustPolicy, TsaEntry, key_name_ok,
};
use crate::escape::Untrusted;
use crate::trust::{KeyId, PublicKey};

/// Why an edit of a policy draft was refused (exit 4: invalid input).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DraftError {
    /// A key name outside the policy's rules for names.
    #[error(
        "key name {} is empty, longer than 100 bytes or has control characters",
        Untrusted(name)
    )]
    BadName {
        /// The name given.
        name: String,
    },
    /// A name already in the policy.
    #[error("a key named {} is already in the policy", Untrusted(name))]
    DuplicateName {
        /// The name given.
        name: String,
    },
    /// A key already in the policy, under another name.
    #[error(
        "key {key_id} is already in the policy as {}: one approver would count twice",
        Untrusted(name)
    )]
    DuplicateKey {
        /// The key's id.
        key_id: KeyId,
        /// The name it is listed under.
        name: String,
    },
    /// One role given twice for one key.
    #[error("role {role} is given twice")]
    RoleTwice {
        /// The role.
        role: RoleName,
    },
    /// A key given without a role could never count.
    #[error("a key needs at least one role (--role ROLE)")]
    NoRole,
    /// `remove-key` of a name or key id the policy does not list.
    #[error(
        "no key named {} (or with that key id) is in the policy",
        Untrusted(key)
    )]
    NoSuchKey {
        /// The name or key id given.
        key: String,
    },
    /// A rule for a role no key holds.
    #[error("no key holds role {role}: add keys with --role {role} first")]
    UnknownRole {
        /// The role.
        role: RoleName,
    },
    /// A rule needing more approvals than keys hold the role.
    #[error("rule {role} x {need} needs more keys than the {have} holding role {role}")]
    RuleNeedsKeys {
        /// The role.
        role: RoleName,
        /// Approvals the rule asks for.
        need: usize,
        /// Keys holding the role.
        have: usize,
    },
    /// `set-rule ROLE 0` for a role without a rule.
    #[error("there is no rule for role {role} to remove")]
    NoSuchRule {
        /// The role.
        role: RoleName,
    },
    /// An update rule of 0 would let anyone replace the policy.
    #[error("the update rule must require at least 1 approval")]
    UpdateZero,
    /// An update rule needing more approvals than there are keys able to give them.
    #[error("the update rule needs {need} approval(s) but only {have} key(s) {}", scope(role.as_ref()))]
    UpdateNeedsKeys {
        /// Approvals the rule asks for.
        need: usize,
        /// Keys able to approve.
        have: usize,
        /// The role the update rule counts, if any.
        role: Option<RoleName>,
    },
    /// Removing a key would leave a rule that can never be met.
    #[error(
        "removing {} would leave rule {role} x {need} with {left} key(s): lower it first \
         (policy set-rule {role} {left})",
        Untrusted(name)
    )]
    KeyNeededByRule {
        /// The key's name.
        name: String,
        /// The rule's role.
        role: RoleName,
        /// Approvals the rule asks for.
        need: usize,
        /// Keys left holding the role.
        left: usize,
    },
    /// Removing a key would leave an update rule that can never be met.
    #[error(
        "removing {} would leave the update rule ({need} approval(s)) with {left} key(s): \
         lower it first (policy set-update-rule)",
        Untrusted(name)
    )]
    KeyNeededByUpdate {
        /// The key's name.
        name: String,
        /// Approvals the update rule asks for.
        need: usize,
        /// Keys left able to approve.
        left: usize,
    },
    /// A TSA certificate or name the policy format would refuse.
    #[error("tsa {}: {reason}", Untrusted(name))]
    BadTsa {
        /// The name given.
        name: String,
        /// Why.
        reason: String,
    },
    /// A TSA name already in the policy.
    #[error("a tsa named {} is already in the policy", Untrusted(name))]
    DuplicateTsa {
        /// The name given.
        name: String,
    },
    /// `remove-tsa` of a name the policy does not list.
    #[error("no tsa named {} is in the policy", Untrusted(name))]
    NoSuchTsa {
        /// The name given.
        name: String,
    },
    /// Removing the last TSA while a rule requires timestamps would leave a rule no
    /// signature can meet.
    #[error(
        "removing tsa {} would leave rule {role} requiring timestamps from no tsa: \
         `policy set-rule {role} N --timestamp optional` first",
        Untrusted(name)
    )]
    TsaNeededByRule {
        /// The TSA's name.
        name: String,
        /// A rule that requires timestamps.
        role: RoleName,
    },
    /// Requiring timestamps in a policy that lists no TSA.
    #[error(
        "rule {role} cannot require timestamps: the policy lists no tsa (policy add-tsa first)"
    )]
    TimestampWithoutTsa {
        /// The rule's role.
        role: RoleName,
    },
    /// The policy is at the largest version: nothing can follow it.
    #[error("version {version} is the largest there is: no version can follow it")]
    LastVersion {
        /// The version.
        version: u64,
    },
}

fn scope(role: Option<&RoleName>) -> String {
    match role {
        Some(r) => format!("hold role {r}"),
        None => "are in the policy".to_string(),
    }
}

impl DraftError {
    /// The documented exit code: every refused edit is invalid input.
    pub fn exit_code(&self) -> u8 {
        4
    }
}

/// One key of a draft, for listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DraftKey {
    /// The name the policy gives it.
    pub name: String,
    /// Its key id (as `signatures/<KEYID>.minisig` names it).
    pub key_id: KeyId,
    /// The roles it may sign in, in the file's order.
    pub roles: Vec<RoleName>,
}

/// One pinned time-stamping authority of a draft, for listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DraftTsa {
    /// The name the policy gives it.
    pub name: String,
    /// The pinned certificate's subject.
    pub subject: String,
    /// SHA-256 of the pinned certificate (DER), hex: what to compare out of band.
    pub sha256: String,
    /// TSA policy OIDs accepted from it (empty: any).
    pub policy_oids: Vec<String>,
}

/// What `set-rule` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleChange {
    /// A new rule, appended.
    Added,
    /// An existing rule with a new count.
    Changed,
    /// `N = 0`: the rule is gone.
    Removed,
}

/// A policy file being written by commands.
#[derive(Debug, Clone)]
pub struct PolicyDraft {
    file: PolicyFile,
    /// The parsed key of each entry of `file.keys`, same order (checked when read or
    /// added).
    pubs: Vec<PublicKey>,
}

/// New entries go through the deserializer that reads policy files, so a field the
/// format gains later starts at its default here instead of being forgotten.
fn entry<T: DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).expect("a fixed policy entry matches the policy format")
}

impl PolicyDraft {
    /// `policy init`: version 1, no keys, no rules, an update rule still to set.
    pub fn new(description: Option<String>) -> Self {
        let mut v = serde_json::json!({
            "format": super::POLICY_FORMAT, "kind": "airlock-trust-policy", "version": 1,
            "keys": [], "rules": [], "update": { "at_least": 0 } });
        if let Some(d) = description {
            v["description"] = serde_json::Value::String(d);
        }
        PolicyDraft {
            file: entry(v),
            pubs: Vec::new(),
        }
    }

    /// Read a draft (or a policy): the format and every key must parse; the rules may
    /// still be incomplete. `origin` names the bytes in errors.
    pub fn parse(bytes: &[u8], origin: &str) -> Result<Self, crate::Error> {
        let bad = |r: String| crate::Error::invalid("trust policy", origin, r);
        let text = std::str::from_utf8(bytes).map_err(|_| bad("not UTF-8".into()))?;
        let expect = crate::versioned::Expect {
            what: "trust policy",
            format: super::POLICY_FORMAT,
            kind: "airlock-trust-policy",
        };
        let file: PolicyFile =
            crate::versioned::parse::<crate::versioned::Json, _>(text, expect, origin)?;
        let mut pubs = Vec::new();
        for k in &file.keys {
            let key = PublicKey::from_base64(&k.key)
                .map_err(|e| bad(format!("key of {}: {e}", Untrusted(&k.name))))?;
            pubs.push(key);
        }
        Ok(PolicyDraft { file, pubs })
    }

    /// The canonical file: 2-space JSON in the format's field order, a final newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(&self.file).expect("a policy serializes to JSON");
        out.push(b'\n');
        out
    }

    /// `Ok` when the draft is a policy the enclave accepts, else why not.
    pub fn check(&self, origin: &str) -> Result<TrustPolicy, crate::Error> {
        TrustPolicy::parse(&self.to_bytes(), origin)
    }

    /// `policy next`: the same policy at the next version, to edit and sign.
    pub fn next(mut self) -> Result<Self, DraftError> {
        let version = self.file.version;
        self.file.version = version
            .checked_add(1)
            .ok_or(DraftError::LastVersion { version })?;
        Ok(self)
    }

    /// The version.
    pub fn version(&self) -> u64 {
        self.file.version
    }

    /// The upstream provenance rule and the pinned Sigstore trusted root's sha256.
    pub fn provenance(&self) -> (super::ProvenanceRule, Option<crate::digest::Sha256Digest>) {
        (self.file.provenance, self.file.provenance_trusted_root)
    }

    /// The description, if any.
    pub fn description(&self) -> Option<&str> {
        self.file.description.as_deref()
    }

    /// Every key, in the file's order.
    pub fn keys(&self) -> Vec<DraftKey> {
        self.file
            .keys
            .iter()
            .zip(&self.pubs)
            .map(|(k, key)| DraftKey {
                name: k.name.clone(),
                key_id: key.key_id(),
                roles: k.roles.clone(),
            })
            .collect()
    }

    /// Every rule (role, at least), in the file's order.
    pub fn rules(&self) -> Vec<(RoleName, usize)> {
        self.file
            .rules
            .iter()
            .map(|r| (r.role.clone(), r.at_least))
            .collect()
    }

    /// Every rule's role that counts a signature only with a valid timestamp.
    pub fn timestamped_rules(&self) -> Vec<RoleName> {
        self.file
            .rules
            .iter()
            .filter(|r| r.timestamp == Some(TimestampRule::Required))
            .map(|r| r.role.clone())
            .collect()
    }

    /// Every pinned TSA, in the file's order (entries that do not parse are skipped: they
    /// were refused when added, and [`PolicyDraft::check`] names them).
    pub fn tsas(&self) -> Vec<DraftTsa> {
        self.file
            .tsa
            .iter()
            .filter_map(|t| Some((t, super::parse_tsas(std::slice::from_ref(t)).ok()?)))
            .filter_map(|(t, pins)| {
                let pin = pins.into_iter().next()?;
                Some(DraftTsa {
                    name: t.name.clone(),
                    subject: pin.subject(),
                    sha256: pin.sha256_hex(),
                    policy_oids: t.policy_oids.clone(),
                })
            })
            .collect()
    }

    /// The update rule: approvals needed, and the role that counts (none: any key).
    pub fn update_rule(&self) -> (usize, Option<&RoleName>) {
        (self.file.update.at_least, self.file.update.role.as_ref())
    }

    /// Keys holding `role`.
    pub fn holders(&self, role: &RoleName) -> usize {
        self.file
            .keys
            .iter()
            .filter(|k| k.roles.contains(role))
            .count()
    }

    /// Keys able to approve an update under its rule.
    fn update_able(&self) -> usize {
        match &self.file.update.role {
            Some(role) => self.holders(role),
            None => self.file.keys.len(),
        }
    }

    /// `policy add-key NAME --key FILE.pub --role ROLE...`.
    pub fn add_key(
        &mut self,
        name: &str,
        key: &PublicKey,
        roles: &[RoleName],
    ) -> Result<(), DraftError> {
        if !key_name_ok(name) {
            return Err(DraftError::BadName { name: name.into() });
        }
        if self.file.keys.iter().any(|k| k.name == name) {
            return Err(DraftError::DuplicateName { name: name.into() });
        }
        // By id and by key bytes (a minisign key keeps its random id), as
        // `TrustPolicy::parse` refuses both.
        let id = key.key_id();
        if let Some((k, _)) = self
            .file
            .keys
            .iter()
            .zip(&self.pubs)
            .find(|(_, p)| p.key_id() == id || p.as_bytes() == key.as_bytes())
        {
            return Err(DraftError::DuplicateKey {
                key_id: id,
                name: k.name.clone(),
            });
        }
        if roles.is_empty() {
            return Err(DraftError::NoRole);
        }
        let mut seen = BTreeSet::new();
        if let Some(role) = roles.iter().find(|r| !seen.insert(*r)) {
            return Err(DraftError::RoleTwice { role: role.clone() });
        }
        self.file.keys.push(entry::<KeyEntry>(serde_json::json!({
            "name": name, "key": key.to_base64(), "roles": roles })));
        self.pubs.push(key.clone());
        Ok(())
    }

    /// `policy remove-key NAME|KEYID`; returns the removed key's name.
    pub fn remove_key(&mut self, name_or_id: &str) -> Result<String, DraftError> {
        let by_id = name_or_id.parse::<KeyId>().ok();
        let at = self
            .file
            .keys
            .iter()
            .position(|k| k.name == name_or_id)
            .or_else(|| self.pubs.iter().position(|p| Some(p.key_id()) == by_id))
            .ok_or_else(|| DraftError::NoSuchKey {
                key: name_or_id.into(),
            })?;
        let gone = &self.file.keys[at];
        for r in &self.file.rules {
            if gone.roles.contains(&r.role) {
                let left = self.holders(&r.role) - 1;
                if r.at_least > left {
                    return Err(DraftError::KeyNeededByRule {
                        name: gone.name.clone(),
                        role: r.role.clone(),
                        need: r.at_least,
                        left,
                    });
                }
            }
        }
        let u = &self.file.update;
        let counts = u.role.as_ref().is_none_or(|r| gone.roles.contains(r));
        if counts && u.at_least > self.update_able() - 1 {
            return Err(DraftError::KeyNeededByUpdate {
                name: gone.name.clone(),
                need: u.at_least,
                left: self.update_able() - 1,
            });
        }
        self.pubs.remove(at);
        Ok(self.file.keys.remove(at).name)
    }

    /// `policy set-rule ROLE N`: add or change the rule; `N = 0` removes it.
    pub fn set_rule(&mut self, role: &RoleName, n: usize) -> Result<RuleChange, DraftError> {
        let at = self.file.rules.iter().position(|r| &r.role == role);
        if n == 0 {
            let at = at.ok_or_else(|| DraftError::NoSuchRule { role: role.clone() })?;
            self.file.rules.remove(at);
            return Ok(RuleChange::Removed);
        }
        let have = self.holders(role);
        if have == 0 {
            return Err(DraftError::UnknownRole { role: role.clone() });
        }
        if n > have {
            return Err(DraftError::RuleNeedsKeys {
                role: role.clone(),
                need: n,
                have,
            });
        }
        match at {
            Some(i) => {
                self.file.rules[i].at_least = n;
                Ok(RuleChange::Changed)
            }
            None => {
                self.file.rules.push(entry::<RuleEntry>(
                    serde_json::json!({ "role": role, "at_least": n }),
                ));
                Ok(RuleChange::Added)
            }
        }
    }

    /// `policy set-update-rule N [--role ROLE]`: who must sign the next version.
    pub fn set_update_rule(&mut self, n: usize, role: Option<&RoleName>) -> Result<(), DraftError> {
        if n == 0 {
            return Err(DraftError::UpdateZero);
        }
        let have = match role {
            Some(r) => self.holders(r),
            None => self.file.keys.len(),
        };
        if let Some(r) = role.filter(|_| have == 0) {
            return Err(DraftError::UnknownRole { role: r.clone() });
        }
        if n > have {
            return Err(DraftError::UpdateNeedsKeys {
                need: n,
                have,
                role: role.cloned(),
            });
        }
        self.file.update = entry(serde_json::json!({ "at_least": n, "role": role }));
        Ok(())
    }

    /// `policy add-tsa NAME --cert FILE`: pin a time-stamping authority's certificate (its
    /// root, an intermediate or its own), checked as the policy format checks it.
    pub fn add_tsa(
        &mut self,
        name: &str,
        cert_der: &[u8],
        policy_oids: Vec<String>,
    ) -> Result<DraftTsa, DraftError> {
        use base64::Engine as _;
        if self.file.tsa.iter().any(|t| t.name == name) {
            return Err(DraftError::DuplicateTsa { name: name.into() });
        }
        let t: TsaEntry = entry(serde_json::json!({
            "name": name,
            "certificate": base64::engine::general_purpose::STANDARD.encode(cert_der),
            "policy_oids": policy_oids,
        }));
        let pin = super::parse_tsas(std::slice::from_ref(&t))
            .map_err(|reason| DraftError::BadTsa {
                name: name.into(),
                reason,
            })?
            .remove(0);
        let listed = DraftTsa {
            name: t.name.clone(),
            subject: pin.subject(),
            sha256: pin.sha256_hex(),
            policy_oids: t.policy_oids.clone(),
        };
        self.file.tsa.push(t);
        Ok(listed)
    }

    /// `policy pin-trusted-root FILE` (`Some`, the file's sha256, which the caller has
    /// read as a Sigstore trusted root) or `--remove` (`None`): the one trusted root a
    /// bundle's upstream evidence may have been checked against. Returns the pin it
    /// replaces.
    pub fn pin_trusted_root(
        &mut self,
        sha256: Option<crate::digest::Sha256Digest>,
    ) -> Option<crate::digest::Sha256Digest> {
        std::mem::replace(&mut self.file.provenance_trusted_root, sha256)
    }

    /// `policy require-provenance` (`Required`) or `--optional`: whether `install` requires
    /// upstream evidence. Allowed without a pinned trusted root (the evidence is then
    /// re-checked against the root each bundle carries; `policy show` says so). Returns the
    /// rule it replaces.
    pub fn set_provenance(&mut self, rule: super::ProvenanceRule) -> super::ProvenanceRule {
        std::mem::replace(&mut self.file.provenance, rule)
    }

    /// `policy remove-tsa NAME`; refused when it is the last TSA and a rule requires
    /// timestamps.
    pub fn remove_tsa(&mut self, name: &str) -> Result<(), DraftError> {
        let at = (self.file.tsa.iter())
            .position(|t| t.name == name)
            .ok_or_else(|| DraftError::NoSuchTsa { name: name.into() })?;
        if self.file.tsa.len() == 1
            && let Some(role) = self.timestamped_rules().into_iter().next()
        {
            return Err(DraftError::TsaNeededByRule {
                name: name.into(),
                role,
            });
        }
        self.file.tsa.remove(at);
        Ok(())
    }

    /// `policy set-rule ROLE N --timestamp required|optional`: whether the rule counts a
    /// signature only with a valid timestamp from a listed TSA.
    pub fn set_rule_timestamp(
        &mut self,
        role: &RoleName,
        required: bool,
    ) -> Result<(), DraftError> {
        if required && self.file.tsa.is_empty() {
            return Err(DraftError::TimestampWithoutTsa { role: role.clone() });
        }
        let rule = (self.file.rules.iter_mut())
            .find(|r| &r.role == role)
            .ok_or_else(|| DraftError::NoSuchRule { role: role.clone() })?;
        rule.timestamp = required.then_some(TimestampRule::Required);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::SecretKey;

    fn role(s: &str) -> RoleName {
        RoleName::new(s).unwrap()
    }

    #[test]
    fn a_pinned_trusted_root_is_written_read_back_and_removed() {
        use crate::digest::Sha256Digest;
        let mut d = PolicyDraft::new(None);
        let pin = Sha256Digest::of(b"trusted_root.json");
        assert_eq!(d.pin_trusted_root(Some(pin)), None);
        let text = String::from_utf8(d.to_bytes()).unwrap();
        assert!(
            text.contains(&format!("\"provenance_trusted_root\": \"{pin}\"")),
            "{text}"
        );
        let mut again = PolicyDraft::parse(text.as_bytes(), "draft").unwrap();
        assert_eq!(again.pin_trusted_root(None), Some(pin));
        assert!(
            !String::from_utf8(again.to_bytes())
                .unwrap()
                .contains("provenance_trusted_root")
        );
    }

    #[test]
    fn required_provenance_is_written_in_the_canonical_form_and_taken_back() {
        use super::super::ProvenanceRule::{Optional, Required};
        let mut d = PolicyDraft::new(None);
        assert_eq!(d.set_provenance(Required), Optional);
        let text = String::from_utf8(d.to_bytes()).unwrap();
        // Last, after the update rule: the format's field order.
        assert!(
            text.contains("\n  \"provenance\": \"required\"\n}\n"),
            "{text}"
        );
        let mut again = PolicyDraft::parse(text.as_bytes(), "draft").unwrap();
        assert_eq!(again.provenance(), (Required, None));
        assert_eq!(
            again.to_bytes(),
            d.to_bytes(),
            "read back, written the same"
        );
        // `--optional` is the default, which the canonical form omits.
        assert_eq!(again.set_provenance(Optional), Required);
        assert_eq!(again.to_bytes(), PolicyDraft::new(None).to_bytes());
    }

    fn key() -> PublicKey {
        SecretKey::generate().unwrap().public_key()
    }

    /// The example of the module documentation, by edits.
    fn example() -> (PolicyDraft, [PublicKey; 4]) {
        let keys = [key(), key(), key(), key()];
        let mut d = PolicyDraft::new(None);
        d.add_key("build server", &keys[0], &[role("builder")])
            .unwrap();
        for (name, k) in [("Alice Smith", &keys[1]), ("Bob Jones", &keys[2])] {
            d.add_key(name, k, &[role("change-board")]).unwrap();
        }
        d.add_key("Carol White", &keys[3], &[role("change-board")])
            .unwrap();
        assert_eq!(d.set_rule(&role("builder"), 1), Ok(RuleChange::Added));
        assert_eq!(d.set_rule(&role("change-board"), 2), Ok(RuleChange::Added));
        d.set_update_rule(2, Some(&role("change-board"))).unwrap();
        (d, keys)
    }

    #[test]
    fn edits_write_the_documented_policy_and_it_is_valid() {
        let (d, k) = example();
        let written: serde_json::Value = serde_json::from_slice(&d.to_bytes()).unwrap();
        let b = |i: usize| k[i].to_base64();
        let expected = serde_json::json!({ "format": 1, "kind": "airlock-trust-policy",
            "version": 1,
            "keys": [
                { "name": "build server", "key": b(0), "roles": ["builder"] },
                { "name": "Alice Smith", "key": b(1), "roles": ["change-board"] },
                { "name": "Bob Jones", "key": b(2), "roles": ["change-board"] },
                { "name": "Carol White", "key": b(3), "roles": ["change-board"] } ],
            "rules": [ { "role": "builder", "at_least": 1 },
                       { "role": "change-board", "at_least": 2 } ],
            "update": { "at_least": 2, "role": "change-board" } });
        assert_eq!(written, expected);
        let p = d.check("draft").unwrap();
        assert_eq!(p.version(), Some(1));
        assert_eq!(p.approvers().len(), 4);
        // The canonical form: 2-space indent, final newline, and reading it back and
        // writing it again changes no byte.
        let bytes = d.to_bytes();
        assert!(bytes.starts_with(b"{\n  \"format\": 1,\n"));
        assert!(bytes.ends_with(b"}\n"));
        assert_eq!(PolicyDraft::parse(&bytes, "x").unwrap().to_bytes(), bytes);
    }

    #[test]
    fn a_fresh_draft_reads_back_and_says_why_it_is_not_valid_yet() {
        let d = PolicyDraft::new(Some("plant 7".into()));
        let back = PolicyDraft::parse(&d.to_bytes(), "x").unwrap();
        assert_eq!(back.description(), Some("plant 7"));
        assert_eq!(back.update_rule(), (0, None));
        let e = crate::error::chain(&back.check("x").unwrap_err());
        assert!(e.contains("no rules"), "{e}");
        // An update rule without a role writes no `role: null` (the schema says string).
        let mut d = d;
        d.add_key("a", &key(), &[role("ops")]).unwrap();
        d.set_update_rule(1, None).unwrap();
        let text = String::from_utf8(d.to_bytes()).unwrap();
        assert!(!text.contains("null"), "{text}");
    }

    #[test]
    fn names_and_keys_twice_and_roleless_keys_are_refused() {
        let (mut d, k) = example();
        let e = d
            .add_key("Alice Smith", &key(), &[role("ops")])
            .unwrap_err();
        assert!(matches!(e, DraftError::DuplicateName { .. }), "{e}");
        let e = d.add_key("Alice again", &k[1], &[role("ops")]).unwrap_err();
        assert_eq!(
            e,
            DraftError::DuplicateKey {
                key_id: k[1].key_id(),
                name: "Alice Smith".into()
            }
        );
        assert_eq!(d.add_key("Dave", &key(), &[]), Err(DraftError::NoRole));
        let twice = [role("ops"), role("ops")];
        assert!(matches!(
            d.add_key("Dave", &key(), &twice),
            Err(DraftError::RoleTwice { .. })
        ));
        for bad in ["", "  ", "a\nb", &"x".repeat(101)] {
            assert!(matches!(
                d.add_key(bad, &key(), &[role("ops")]),
                Err(DraftError::BadName { .. })
            ));
        }
        // The same key bytes under another key id (as minisign keys carry) are one key.
        let bytes = ed25519_dalek::VerifyingKey::from_bytes(k[2].as_bytes()).unwrap();
        let other_id = PublicKey::from_parts(KeyId::from_bytes([7; 8]), bytes);
        assert!(matches!(
            d.add_key("Bob again", &other_id, &[role("ops")]),
            Err(DraftError::DuplicateKey { name, .. }) if name == "Bob Jones"
        ));
        // Nothing refused was written.
        assert_eq!(d.keys().len(), 4);
    }

    #[test]
    fn rules_need_keys_holding_their_role() {
        let (mut d, _) = example();
        assert_eq!(
            d.set_rule(&role("auditor"), 1),
            Err(DraftError::UnknownRole {
                role: role("auditor")
            })
        );
        assert_eq!(
            d.set_rule(&role("change-board"), 4),
            Err(DraftError::RuleNeedsKeys {
                role: role("change-board"),
                need: 4,
                have: 3
            })
        );
        assert_eq!(
            d.set_rule(&role("change-board"), 3),
            Ok(RuleChange::Changed)
        );
        assert_eq!(d.set_rule(&role("builder"), 0), Ok(RuleChange::Removed));
        assert_eq!(
            d.set_rule(&role("builder"), 0),
            Err(DraftError::NoSuchRule {
                role: role("builder")
            })
        );
        assert_eq!(d.rules(), vec![(role("change-board"), 3)]);
        assert_eq!(d.set_update_rule(0, None), Err(DraftError::UpdateZero));
        assert!(matches!(
            d.set_update_rule(5, None),
            Err(DraftError::UpdateNeedsKeys {
                need: 5,
                have: 4,
                ..
            })
        ));
        assert!(matches!(
            d.set_update_rule(1, Some(&role("auditor"))),
            Err(DraftError::UnknownRole { .. })
        ));
        d.set_update_rule(4, None).unwrap();
        assert_eq!(d.update_rule(), (4, None));
    }

    #[test]
    fn a_key_a_rule_still_needs_is_not_removed() {
        let (mut d, k) = example();
        // change-board x 2 of 3: one may go, by name; the next would break the rule.
        assert_eq!(d.remove_key("Carol White").unwrap(), "Carol White");
        assert_eq!(
            d.remove_key("Bob Jones"),
            Err(DraftError::KeyNeededByRule {
                name: "Bob Jones".into(),
                role: role("change-board"),
                need: 2,
                left: 1
            })
        );
        d.set_rule(&role("change-board"), 1).unwrap();
        // The update rule (2 change-board) still needs Bob.
        assert!(matches!(
            d.remove_key("Bob Jones"),
            Err(DraftError::KeyNeededByUpdate {
                need: 2,
                left: 1,
                ..
            })
        ));
        d.set_update_rule(1, Some(&role("change-board"))).unwrap();
        // By key id, as signature files name it.
        let id = k[2].key_id().to_string();
        assert_eq!(d.remove_key(&id).unwrap(), "Bob Jones");
        assert!(matches!(
            d.remove_key("Bob Jones"),
            Err(DraftError::NoSuchKey { .. })
        ));
        d.check("x").unwrap();
    }

    #[test]
    fn next_is_one_more_and_the_last_version_has_none() {
        let (d, _) = example();
        assert_eq!(d.next().unwrap().version(), 2);
        let mut v: serde_json::Value = serde_json::from_slice(&example().0.to_bytes()).unwrap();
        v["version"] = u64::MAX.into();
        let d = PolicyDraft::parse(v.to_string().as_bytes(), "x").unwrap();
        assert_eq!(
            d.next().unwrap_err(),
            DraftError::LastVersion { version: u64::MAX }
        );
    }

    /// A self-signed certificate made by OpenSSL (any certificate can be pinned; whether
    /// it may sign timestamps is judged per token, in `trust::timestamp`).
    fn openssl_cert(dir: &std::path::Path) -> Vec<u8> {
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
                "-nodes",
                "-subj",
                "/CN=Test TSA Root",
                "-days",
                "30",
                "-outform",
                "DER",
            ])
            .arg("-keyout")
            .arg(dir.join("k.pem"))
            .arg("-out")
            .arg(dir.join("c.der"))
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read(dir.join("c.der")).unwrap()
    }

    #[test]
    fn tsas_are_pinned_listed_and_kept_while_a_rule_needs_them() {
        use sha2::Digest as _;
        let tmp = tempfile::tempdir().unwrap();
        let der = openssl_cert(tmp.path());
        let (mut d, _) = example();
        let board = role("change-board");
        assert_eq!(
            d.set_rule_timestamp(&board, true),
            Err(DraftError::TimestampWithoutTsa {
                role: board.clone()
            })
        );
        let t = d.add_tsa("corp tsa", &der, vec!["1.2.3.4".into()]).unwrap();
        assert!(t.subject.contains("Test TSA Root"), "{}", t.subject);
        assert_eq!(t.sha256, hex::encode(sha2::Sha256::digest(&der)));
        assert_eq!(
            d.add_tsa("corp tsa", &der, vec![]),
            Err(DraftError::DuplicateTsa {
                name: "corp tsa".into()
            })
        );
        assert!(matches!(
            d.add_tsa("junk", b"not a certificate", vec![]),
            Err(DraftError::BadTsa { .. })
        ));
        d.set_rule_timestamp(&board, true).unwrap();
        assert_eq!(d.timestamped_rules(), vec![board.clone()]);
        let policy = d.check("draft").expect("a valid policy requiring stamps");
        assert!(policy.requires_timestamps());
        // Written and read back, the pins and the requirement are the same.
        let again = PolicyDraft::parse(&d.to_bytes(), "draft").unwrap();
        assert_eq!(again.tsas(), vec![t]);
        assert_eq!(again.to_bytes(), d.to_bytes());
        assert_eq!(
            d.remove_tsa("corp tsa"),
            Err(DraftError::TsaNeededByRule {
                name: "corp tsa".into(),
                role: board.clone()
            })
        );
        d.set_rule_timestamp(&board, false).unwrap();
        d.remove_tsa("corp tsa").unwrap();
        assert_eq!(
            d.remove_tsa("corp tsa"),
            Err(DraftError::NoSuchTsa {
                name: "corp tsa".into()
            })
        );
        assert!(d.tsas().is_empty() && d.timestamped_rules().is_empty());
    }
}
