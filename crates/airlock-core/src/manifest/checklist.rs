//! The upgrade checklist carried from the lock. Guarantees: each step id is listed once.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::error::{Checked, FormatError};

/// One checklist step of the upgrade runbook.
///
/// The fields are declared in alphabetical order because format 1 has always written them
/// that way (the checklist began as untyped JSON); the signed bytes must not change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// How to tell the step worked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
    /// Shell commands, in order.
    #[serde(default)]
    pub commands: Vec<String>,
    /// Stable id, `phase.name`.
    pub id: String,
    /// The phase the step belongs to.
    pub phase: Phase,
    /// What to do.
    pub title: String,
}

/// The phases of a hop, in the order they are carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Before the change window: backups, pre-pulls, checks.
    Pre,
    /// The first control-plane node.
    Cp1,
    /// The other control-plane nodes.
    Cp,
    /// The CNI, after the control planes.
    Cni,
    /// Worker nodes.
    Workers,
    /// After the upgrade: validation.
    Post,
    /// The back-out plan.
    Backout,
}

impl Phase {
    /// The id prefix (`pre`, `cp1`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pre => "pre",
            Phase::Cp1 => "cp1",
            Phase::Cp => "cp",
            Phase::Cni => "cni",
            Phase::Workers => "workers",
            Phase::Post => "post",
            Phase::Backout => "backout",
        }
    }
}

/// Each step id once.
pub(crate) fn check(steps: &[Step]) -> Checked {
    let mut ids = BTreeSet::new();
    for s in steps {
        if !ids.insert(s.id.as_str()) {
            return Err(FormatError::StepTwice { id: s.id.clone() });
        }
    }
    Ok(())
}
