//! UTC timestamps as the signed manifest, receipts and state write them: RFC 3339 in the
//! one form `YYYY-MM-DDTHH:MM:SSZ`, so there is exactly one spelling of each instant and
//! a change board reads dates, not numbers. Also durations (`72h`, `30d`) and windows
//! (`START/DURATION` or `START/END`) as the build command takes them.

use std::fmt;

/// Seconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Timestamp(pub i64);

/// Why a time did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TimeError(String);

impl Timestamp {
    /// Now, from the system clock.
    pub fn now() -> Self {
        #[cfg(debug_assertions)]
        if let Some(t) = test_clock() {
            return t;
        }
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        Timestamp(secs)
    }

    /// Parse `YYYY-MM-DDTHH:MM[:SS]Z`; with `strict`, seconds are required (the signed form).
    pub fn parse(s: &str, strict: bool) -> Result<Self, TimeError> {
        let bad = || {
            TimeError(format!(
                "{:?} is not a UTC time like 2026-12-05T22:00:00Z",
                crate::escape::Untrusted(s).to_string()
            ))
        };
        let b = s.as_bytes();
        let num = |r: std::ops::Range<usize>| -> Result<i64, TimeError> {
            let part = s.get(r).ok_or_else(bad)?;
            if part.is_empty() || !part.bytes().all(|c| c.is_ascii_digit()) {
                return Err(bad());
            }
            part.parse().map_err(|_| bad())
        };
        let with_secs = b.len() == 20;
        if !(with_secs || (!strict && b.len() == 17))
            || b[4] != b'-'
            || b[7] != b'-'
            || b[10] != b'T'
            || b[13] != b':'
            || b[b.len() - 1] != b'Z'
            || (with_secs && b[16] != b':')
        {
            return Err(bad());
        }
        let (y, mo, d, h, mi) = (
            num(0..4)?,
            num(5..7)?,
            num(8..10)?,
            num(11..13)?,
            num(14..16)?,
        );
        let sec = if with_secs { num(17..19)? } else { 0 };
        if !(1..=12).contains(&mo)
            || d < 1
            || d > days_in_month(y, mo)
            || h > 23
            || mi > 59
            || sec > 59
        {
            return Err(bad());
        }
        Ok(Timestamp(
            days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec,
        ))
    }

    /// The last instant the one written form can hold: 9999-12-31T23:59:59Z.
    pub const LAST: Timestamp = Timestamp(253_402_300_799);

    /// Whether this instant has the one written form (years 1970 to 9999): a later one
    /// would be written with a fifth year digit that nothing could read back.
    pub fn writable(self) -> bool {
        (0..=Self::LAST.0).contains(&self.0)
    }

    /// Add seconds, saturating.
    pub fn plus(self, secs: i64) -> Self {
        Timestamp(self.0.saturating_add(secs))
    }
}

/// Debug builds only: `AIRLOCK_TEST_NOW` (seconds since the epoch) stands in for the
/// system clock, so end-to-end tests can run the real binaries with a wrong clock.
/// Release builds, the ones deployed, never read it.
#[cfg(debug_assertions)]
fn test_clock() -> Option<Timestamp> {
    let s = std::env::var("AIRLOCK_TEST_NOW").ok()?;
    s.trim().parse().ok().map(Timestamp)
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.0.div_euclid(86400);
        let rem = self.0.rem_euclid(86400);
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Refused here rather than written unreadable: state and receipts must parse back.
        if !self.writable() {
            return Err(serde::ser::Error::custom(format!(
                "{self} is outside the years 1970 to 9999 that airlock writes"
            )));
        }
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Timestamp::parse(&s, true).map_err(serde::de::Error::custom)
    }
}

/// Parse a duration: a number and a unit `s`, `m`, `h` or `d` (`72h`, `30d`).
pub fn parse_duration(s: &str) -> Result<i64, TimeError> {
    let bad = || TimeError(format!("{s:?} is not a duration like 72h or 30d"));
    let cut = s.char_indices().last().map(|(i, _)| i).unwrap_or(0);
    let (n, unit) = s.split_at(cut);
    let n: i64 = n.parse().map_err(|_| bad())?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(bad()),
    };
    if n <= 0 {
        return Err(bad());
    }
    n.checked_mul(mult).ok_or_else(bad)
}

/// A change window `START/DURATION` or `START/END` (`2026-12-05T22:00Z/72h`).
pub fn parse_window(s: &str) -> Result<(Timestamp, Timestamp), TimeError> {
    let (a, b) = s
        .split_once('/')
        .ok_or_else(|| TimeError(format!("{s:?}: expected START/DURATION or START/END")))?;
    let start = Timestamp::parse(a, false)?;
    let end = match Timestamp::parse(b, false) {
        Ok(t) => t,
        Err(_) => start.plus(parse_duration(b)?),
    };
    if end <= start {
        return Err(TimeError(format!(
            "{s:?}: the window ends before it starts"
        )));
    }
    Ok((start, end))
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_known_values() {
        let t = Timestamp::parse("2026-12-05T22:00:00Z", true).unwrap();
        assert_eq!(t.to_string(), "2026-12-05T22:00:00Z");
        assert_eq!(Timestamp::parse("1970-01-01T00:00:00Z", true).unwrap().0, 0);
        assert_eq!(
            Timestamp::parse("2000-02-29T12:34:56Z", true).unwrap().0,
            951_827_696
        );
        assert!(Timestamp::parse("2026-12-05T22:00Z", true).is_err());
        assert_eq!(Timestamp::parse("2026-12-05T22:00Z", false).unwrap(), t);
        for bad in [
            "2026-02-30T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-12-05 22:00:00Z",
            "2026-12-05T22:00:00+01:00",
            "",
        ] {
            assert!(Timestamp::parse(bad, true).is_err(), "{bad}");
        }
    }

    #[test]
    fn windows_and_durations() {
        let (a, b) = parse_window("2026-12-05T22:00Z/72h").unwrap();
        assert_eq!(b.0 - a.0, 72 * 3600);
        let (_, c) = parse_window("2026-12-05T22:00Z/2026-12-06T02:00Z").unwrap();
        assert_eq!(c.to_string(), "2026-12-06T02:00:00Z");
        assert!(parse_window("2026-12-05T22:00Z/2026-12-01T00:00Z").is_err());
        assert_eq!(parse_duration("30d").unwrap(), 30 * 86400);
        assert!(parse_duration("0h").is_err());
        assert!(parse_duration("h").is_err());
    }

    #[test]
    fn a_year_past_9999_is_refused_when_written_not_written_unreadable() {
        assert_eq!(Timestamp::LAST.to_string(), "9999-12-31T23:59:59Z");
        assert!(serde_json::to_string(&Timestamp::LAST).is_ok());
        let late = Timestamp::LAST.plus(1);
        assert!(!late.writable());
        let e = serde_json::to_string(&late).unwrap_err().to_string();
        assert!(e.contains("10000-01-01T00:00:00Z"), "{e}");
    }

    proptest::proptest! {
        #[test]
        fn display_parse_round_trip(secs in 0i64..253_402_300_799) {
            let t = Timestamp(secs);
            proptest::prop_assert_eq!(Timestamp::parse(&t.to_string(), true).unwrap(), t);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,30}") {
            let _ = Timestamp::parse(&s, false);
            let _ = parse_window(&s);
        }
    }
}
