//! What a bundle is for and when: its hop, its catalog, its channel and its change window.
//! Guarantees: `expires` is after `not_before`; a channel comes with a sequence and a
//! sequence with a channel; a channel name is 1-64 of `A-Z a-z 0-9 . _ -`.

use serde::{Deserialize, Serialize};

use crate::digest::{Sha256Digest, bare_hex};
use crate::error::{Checked, FormatError};
use crate::time::Timestamp;

/// One Kubernetes version step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hop {
    /// The version the cluster runs now, e.g. `v1.29.6`.
    pub from: String,
    /// The version the hop goes to, e.g. `v1.30.2`.
    pub to: String,
}

/// Which version catalog a hop was resolved with: its data version and the sha256 of the
/// exact catalog bytes, so a reviewer can tell which facts the bundle rests on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogIdentity {
    /// The catalog's `catalog_version`, e.g. `2026.11.25`.
    pub version: String,
    /// sha256 of the catalog file's bytes.
    #[serde(with = "bare_hex")]
    pub sha256: Sha256Digest,
}

/// The change window and the channel's rules.
pub(crate) fn check(
    not_before: Option<Timestamp>,
    expires: Option<Timestamp>,
    channel: Option<&str>,
    sequence: Option<u64>,
) -> Checked {
    if let (Some(nb), Some(exp)) = (not_before, expires)
        && exp <= nb
    {
        return Err(FormatError::Window {
            not_before: nb,
            expires: exp,
        });
    }
    if sequence.is_some() != channel.is_some() {
        return Err(FormatError::ChannelWithoutSequence);
    }
    if let Some(ch) = channel
        && !valid_channel(ch)
    {
        return Err(FormatError::Channel {
            channel: ch.to_owned(),
        });
    }
    Ok(())
}

/// A channel name: 1-64 of `A-Z a-z 0-9 . _ -`.
pub fn valid_channel(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}
