//! End-to-end tests: the real `airlock` and `airlock-verify` binaries against real
//! registries (`docker-registry`), a real HTTP file server, and checked with tools nobody
//! here wrote (`skopeo`, `minisign`, `sha256sum`, `zstd`, `tar`).
//!
//! One test binary, split by topic (as ripgrep does), so the fixtures compile once.

#[path = "../common/mod.rs"]
mod common;

mod addons;
mod attacks;
mod bad_input;
mod board;
mod bounds;
mod catalog;
mod catch_up;
mod catch_up_packages;
mod containerd;
mod core_path;
mod etcd;
mod evidence;
mod exit_codes;
mod export;
mod faults;
mod fleet;
mod hostile;
mod installable;
mod manual_verify;
mod media;
mod packages;
mod planted;
mod policy;
mod provenance;
mod provenance_addons;
mod provenance_bench;
mod provenance_delta;
mod provenance_negatives;
mod provenance_pin;
mod provenance_report;
mod provenance_required;
mod provenance_tuf;
mod registry_auth;
mod reinstall;
mod removed_apis;
mod report;
mod reproducible;
mod resolve;
mod runbook;
mod serve;
mod state;
mod timestamps;
mod tokens;
mod trust;
mod trust_input;
mod two_step;
