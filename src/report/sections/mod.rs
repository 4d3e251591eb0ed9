//! The report's sections, one module each, in the report's order. Each builds its part of
//! the [model](super::model) from the [`Inputs`](super::Inputs) alone (risks also read the
//! inventory and the removed APIs), so each can be tested from a small manifest.

pub(super) mod apis;
pub(super) mod approvals;
pub(super) mod backout;
pub(super) mod cves;
pub(super) mod decision;
pub(super) mod inventory;
pub(in crate::report) mod provenance;
pub(super) mod risks;
pub(super) mod runbook;
pub(super) mod schedule;
pub(super) mod summary;
pub(super) mod timing;
pub(super) mod verification;

#[cfg(test)]
mod fixture;
