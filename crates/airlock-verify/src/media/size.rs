//! `--volume-size`: bytes with an optional unit, or a medium's name.

use std::fmt;
use std::str::FromStr;

use crate::escape::Untrusted;

/// The smallest volume airlock cuts: below it a bundle becomes thousands of files.
pub const MIN_VOLUME_SIZE: u64 = 1024 * 1024;

/// The media airlock knows, with the bytes a volume may have on each.
pub const PRESETS: [(&str, u64, &str); 5] = [
    ("dvd", 4_700_000_000, "single-layer DVD±R, 4.7 GB"),
    ("dvd-dl", 8_543_666_176, "dual-layer DVD+R DL, 8.5 GB"),
    ("bd25", 25_025_314_816, "single-layer BD-R, 25 GB"),
    ("bd50", 50_050_629_632, "dual-layer BD-R, 50 GB"),
    (
        "fat32",
        4 * 1024 * 1024 * 1024 - 1,
        "largest file on FAT32, 4 GiB - 1",
    ),
];

/// The largest volume: the largest medium airlock knows. A payload that needs no cutting
/// needs no `--volume-size`.
pub const MAX_VOLUME_SIZE: u64 = 50_050_629_632;

/// A volume size in bytes, between [`MIN_VOLUME_SIZE`] and [`MAX_VOLUME_SIZE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct VolumeSize(u64);

impl VolumeSize {
    /// The size in bytes.
    pub fn bytes(self) -> u64 {
        self.0
    }

    /// A size below [`MIN_VOLUME_SIZE`], for tests of the cutting itself.
    #[doc(hidden)]
    pub fn unchecked(bytes: u64) -> Self {
        VolumeSize(bytes.max(2))
    }
}

impl fmt::Display for VolumeSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes", self.0)
    }
}

impl FromStr for VolumeSize {
    type Err = String;

    /// `4700000000`, `700MB`, `650 MiB`, `4GiB`, or a preset (`dvd`, `dvd-dl`, `bd25`,
    /// `bd50`, `fat32`). Units: `K`/`KB` = 1000, `KiB` = 1024, likewise M, G, T; case is
    /// ignored. Whole numbers only.
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let lower = t.to_ascii_lowercase();
        let bytes = match PRESETS.iter().find(|(n, _, _)| *n == lower) {
            Some((_, b, _)) => *b,
            None => parse_bytes(&lower).ok_or_else(|| {
                format!(
                    "volume size {:?}: expected a whole number of bytes with an optional \
                     unit (KB, MB, GB, KiB, MiB, GiB) or one of dvd, dvd-dl, bd25, bd50, fat32",
                    Untrusted(s).to_string()
                )
            })?,
        };
        if bytes < MIN_VOLUME_SIZE {
            return Err(format!(
                "volume size {bytes} bytes is below the minimum of {MIN_VOLUME_SIZE} bytes (1 MiB)"
            ));
        }
        if bytes > MAX_VOLUME_SIZE {
            return Err(format!(
                "volume size {bytes} bytes is larger than the largest medium airlock knows \
                 (bd50, {MAX_VOLUME_SIZE} bytes); leave --volume-size out for one payload file"
            ));
        }
        Ok(VolumeSize(bytes))
    }
}

/// Digits, optional spaces, an optional unit.
fn parse_bytes(s: &str) -> Option<u64> {
    let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(digits_end);
    if num.is_empty() || num.len() > 20 {
        return None;
    }
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit.trim_start() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "m" | "mb" => 1000_u64.pow(2),
        "g" | "gb" => 1000_u64.pow(3),
        "t" | "tb" => 1000_u64.pow(4),
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_presets_and_limits() {
        let b = |s: &str| s.parse::<VolumeSize>().map(|v| v.bytes());
        assert_eq!(b("dvd"), Ok(4_700_000_000));
        assert_eq!(b("FAT32"), Ok(4_294_967_295));
        assert_eq!(b("bd25"), Ok(25_025_314_816));
        assert_eq!(b("2MiB"), Ok(2 * 1024 * 1024));
        assert_eq!(b("2 MB"), Ok(2_000_000));
        assert_eq!(b("1048576"), Ok(1_048_576));
        assert!(b("4.7GB").unwrap_err().contains("whole number"));
        assert!(b("1048575").unwrap_err().contains("below the minimum"));
        assert!(b("1KiB").unwrap_err().contains("below the minimum"));
        assert!(b("51GB").unwrap_err().contains("largest medium"));
        for bad in [
            "",
            "MB",
            "-5MB",
            "5 XB",
            "99999999999999999999999",
            "5MBx",
            "0x10",
        ] {
            assert!(b(bad).is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics_and_stays_in_range(s in "\\PC{0,24}|[0-9]{1,22} ?[kKmMgGtT]?[iI]?[bB]?") {
            if let Ok(v) = s.parse::<VolumeSize>() {
                proptest::prop_assert!((MIN_VOLUME_SIZE..=MAX_VOLUME_SIZE).contains(&v.bytes()));
            }
        }

        #[test]
        fn plain_numbers_are_bytes(n in MIN_VOLUME_SIZE..=MAX_VOLUME_SIZE) {
            proptest::prop_assert_eq!(n.to_string().parse::<VolumeSize>().map(|v| v.bytes()), Ok(n));
        }
    }
}
