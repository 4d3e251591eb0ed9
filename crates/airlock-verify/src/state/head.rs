//! The head of a receipt log, `RECEIPTS:SHA256`: what install prints, the change ticket
//! carries out of the enclave, and `--expect-head` checks.
//!
//! The state directory proves itself authentic, not fresh: an older copy of it put back
//! (every signature good) would forget the installs since and let them happen again.
//! A head kept outside the directory closes that: the log must still hold that receipt.

use std::fmt;
use std::str::FromStr;

use super::receipts::ChainReport;
use crate::digest::Sha256Digest;
use crate::error::{Error, Result};

/// How many receipts the log held and the sha256 of the last one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Receipts in the log.
    pub receipts: u64,
    /// sha256 of the last receipt file.
    pub sha256: Sha256Digest,
}

impl fmt::Display for Head {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.receipts, self.sha256.hex())
    }
}

impl FromStr for Head {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::invalid(
                "option",
                "--expect-head",
                format!(
                    "{:?} is not a log head like 3:<64 hex digits>, as install and log --check print it",
                    crate::escape::Untrusted(s).to_string()
                ),
            )
        };
        let (n, hex) = s.split_once(':').ok_or_else(bad)?;
        let receipts: u64 = n.parse().map_err(|_| bad())?;
        let sha256 = Sha256Digest::from_hex(hex).map_err(|_| bad())?;
        if receipts == 0 {
            return Err(bad());
        }
        Ok(Head { receipts, sha256 })
    }
}

impl Head {
    /// Refuse a log that does not hold this head: fewer receipts (an older copy put
    /// back), or another receipt at its place (another or a rebuilt directory).
    pub fn check(&self, chain: &ChainReport, log: &std::path::Path) -> Result<()> {
        let artifact = format!("receipt log {}", log.display());
        match chain.sha256_of(self.receipts) {
            None => Err(Error::record_check(
                artifact,
                format!(
                    "holds {} receipt(s), fewer than the expected head {self}: this is an older \
                     copy of the state directory (put back from a backup?), which would let \
                     installs since then happen again; restore the current one",
                    chain.receipts
                ),
            )),
            Some(h) if h != self.sha256 => Err(Error::record_check(
                artifact,
                format!(
                    "receipt {} is {}, not the expected head {self}: this is another state \
                     directory, or one rebuilt since",
                    self.receipts,
                    h.hex()
                ),
            )),
            Some(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_it_prints_and_refuses_the_rest() {
        let h = Head {
            receipts: 3,
            sha256: Sha256Digest::of(b"x"),
        };
        assert_eq!(h.to_string().parse::<Head>().unwrap(), h);
        for bad in ["", "3", ":ab", "x:ab", "0:00", "3:abc", "-1:00"] {
            assert!(bad.parse::<Head>().is_err(), "{bad}");
        }
        let e = "3:zz".parse::<Head>().unwrap_err();
        assert_eq!(e.exit_code(), 4);
    }
}
