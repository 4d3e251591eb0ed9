//! Add-ons that upgrade with the cluster (see `docs/resolve.md`, "Add-ons").

pub mod constraint;
pub mod kube;
pub mod chart;
pub mod repo_index;
pub mod compat;
pub mod facts;
