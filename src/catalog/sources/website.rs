//! kubernetes/website `data/releases/schedule.yaml` and `eol.yaml`: when each minor was
//! released and when it reaches (or reached) end of life.
//!
//! ```yaml
//! schedules:                      # the minors still supported
//! - release: "1.36"
//!   releaseDate: "2026-04-22"
//!   endOfLifeDate: "2027-06-28"   # planned
//!   ...
//! branches:                       # eol.yaml: the minors that have ended, newest first
//! - release: "1.34"
//!   endOfLifeDate: "2026-10-27"
//!   finalPatchRelease: 1.34.13
//! ```
//!
//! Only these keys are read; others (patch lists, notes, `upcoming_releases`) are ignored.
//! eol.yaml has listed a minor more than once; that is fine unless the entries disagree
//! about a minor that is asked for.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::catalog::{Date, Version, parse_minor_key};
use crate::escape::Untrusted;

/// A minor's row in schedule.yaml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scheduled {
    /// Release date of `x.y.0`.
    pub released: Date,
    /// Planned end of life.
    pub end_of_life: Date,
}

/// A minor's row in eol.yaml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    /// End-of-life date.
    pub end_of_life: Date,
    /// The last patch the site lists, when it names one.
    pub final_patch: Option<Version>,
}

#[derive(Deserialize)]
struct ScheduleFile {
    schedules: Vec<ScheduleRow>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ScheduleRow {
    release: String,
    release_date: String,
    end_of_life_date: String,
}

#[derive(Deserialize)]
struct EolFile {
    branches: Vec<EolRow>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EolRow {
    release: String,
    end_of_life_date: String,
    #[serde(default)]
    final_patch_release: Option<String>,
}

fn minor_of(release: &str) -> Result<u32, String> {
    parse_minor_key(release).ok_or_else(|| {
        format!(
            "release {:?} is not a minor like \"1.36\"",
            Untrusted(release)
        )
    })
}

fn date(field: &str, release: &str, s: &str) -> Result<Date, String> {
    s.parse()
        .map_err(|e: String| format!("release {}: {field}: {e}", Untrusted(release)))
}

/// Parse schedule.yaml: minor -> dates. A minor listed twice is an error.
pub fn parse_schedule(text: &str) -> Result<BTreeMap<u32, Scheduled>, String> {
    let file: ScheduleFile = serde_saphyr::from_str(text).map_err(|e| {
        format!(
            "not the expected YAML (`schedules:` entries with release, releaseDate, endOfLifeDate): {}",
            Untrusted(&e.to_string())
        )
    })?;
    let mut out = BTreeMap::new();
    for row in &file.schedules {
        let minor = minor_of(&row.release)?;
        let s = Scheduled {
            released: date("releaseDate", &row.release, &row.release_date)?,
            end_of_life: date("endOfLifeDate", &row.release, &row.end_of_life_date)?,
        };
        if out.insert(minor, s).is_some() {
            return Err(format!("release 1.{minor} is listed twice"));
        }
    }
    Ok(out)
}

/// Parse eol.yaml: minor -> every row listed for it (usually one).
pub fn parse_eol(text: &str) -> Result<BTreeMap<u32, Vec<Ended>>, String> {
    let file: EolFile = serde_saphyr::from_str(text).map_err(|e| {
        format!(
            "not the expected YAML (`branches:` entries with release, endOfLifeDate, finalPatchRelease): {}",
            Untrusted(&e.to_string())
        )
    })?;
    let mut out: BTreeMap<u32, Vec<Ended>> = BTreeMap::new();
    for row in &file.branches {
        let minor = minor_of(&row.release)?;
        let final_patch = match &row.final_patch_release {
            None => None,
            Some(p) => {
                let v: Version = format!("v{p}").parse().map_err(|_| {
                    format!(
                        "release {}: finalPatchRelease {:?} is not 1.N.P",
                        Untrusted(&row.release),
                        Untrusted(p)
                    )
                })?;
                if v.minor != minor {
                    return Err(format!(
                        "release 1.{minor}: finalPatchRelease {v} is of another minor"
                    ));
                }
                Some(v)
            }
        };
        out.entry(minor).or_default().push(Ended {
            end_of_life: date("endOfLifeDate", &row.release, &row.end_of_life_date)?,
            final_patch,
        });
    }
    Ok(out)
}

/// The one end-of-life row of `minor`, if listed; rows that disagree are an error.
pub fn ended(rows: &BTreeMap<u32, Vec<Ended>>, minor: u32) -> Result<Option<Ended>, String> {
    let Some(list) = rows.get(&minor) else {
        return Ok(None);
    };
    let first = &list[0];
    if list.iter().any(|r| r.end_of_life != first.end_of_life) {
        return Err(format!(
            "release 1.{minor} is listed {} times with different end-of-life dates",
            list.len()
        ));
    }
    let final_patch = list.iter().filter_map(|r| r.final_patch).max();
    Ok(Some(Ended {
        end_of_life: first.end_of_life,
        final_patch,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEDULE: &str = r#"# Use "schedule-builder" to maintain this file:
---
schedules:
- endOfLifeDate: "2027-06-28"
  maintenanceModeStartDate: "2027-04-28"
  next:
    cherryPickDeadline: "2026-12-05"
    release: 1.36.6
    targetDate: "2026-12-09"
  previousPatches:
  - cherryPickDeadline: "2026-11-07"
    release: 1.36.5
    targetDate: "2026-11-11"
  - note: Out of band release
    release: 1.36.1
    targetDate: "2026-05-12"
  release: "1.36"
  releaseDate: "2026-04-22"
- endOfLifeDate: 2027-02-28
  release: 1.35
  releaseDate: 2025-12-17
upcoming_releases:
- cherryPickDeadline: "2026-12-05"
  targetDate: "2026-12-09"
"#;

    const EOL: &str = r#"---
branches:
- endOfLifeDate: "2026-10-27"
  finalPatchRelease: 1.34.13
  release: "1.34"
- endOfLifeDate: "2024-02-28"
  finalPatchRelease: 1.26.15
  note: 1.26.15 was released in March 2024 (after the EOL date) to pick up a new version
    of Go
  release: "1.26"
- endOfLifeDate: "2022-10-28"
  finalPatchRelease: 1.22.17
  release: "1.22"
- endOfLifeDate: "2022-10-28"
  finalPatchRelease: 1.22.16
  release: "1.22"
"#;

    #[test]
    fn reads_both_files() {
        let s = parse_schedule(SCHEDULE).unwrap();
        assert_eq!(s[&36].released.to_string(), "2026-04-22");
        assert_eq!(s[&36].end_of_life.to_string(), "2027-06-28");
        assert_eq!(s[&35].released.to_string(), "2025-12-17");
        let e = parse_eol(EOL).unwrap();
        let e34 = ended(&e, 34).unwrap().unwrap();
        assert_eq!(e34.end_of_life.to_string(), "2026-10-27");
        assert_eq!(e34.final_patch, Some(Version::new(34, 13)));
        assert_eq!(
            ended(&e, 22).unwrap().unwrap().final_patch,
            Some(Version::new(22, 17))
        );
        assert_eq!(ended(&e, 35).unwrap(), None);
    }

    #[test]
    fn refuses_other_shapes() {
        let cases: Vec<(Result<(), String>, &str)> = vec![
            (
                parse_schedule("releases: []\n").map(|_| ()),
                "not the expected YAML",
            ),
            (
                parse_schedule(
                    &SCHEDULE.replace("releaseDate: \"2026-04-22\"", "releaseDate: \"April 22\""),
                )
                .map(|_| ()),
                "releaseDate",
            ),
            (
                parse_schedule(&SCHEDULE.replace("release: \"1.36\"", "release: \"v1.36\""))
                    .map(|_| ()),
                "is not a minor",
            ),
            (
                parse_schedule(&SCHEDULE.replace("release: 1.35", "release: \"1.36\"")).map(|_| ()),
                "listed twice",
            ),
            (
                parse_eol(&EOL.replace("finalPatchRelease: 1.34.13", "finalPatchRelease: 1.33.13"))
                    .map(|_| ()),
                "another minor",
            ),
            (parse_eol("{}").map(|_| ()), "not the expected YAML"),
        ];
        for (r, needle) in cases {
            let e = r.unwrap_err();
            assert!(e.contains(needle), "{needle}: {e}");
        }
        let e = parse_eol(&EOL.replace(
            "endOfLifeDate: \"2022-10-28\"\n  finalPatchRelease: 1.22.16",
            "endOfLifeDate: \"2022-11-28\"\n  finalPatchRelease: 1.22.16",
        ))
        .unwrap();
        assert!(
            ended(&e, 22)
                .unwrap_err()
                .contains("different end-of-life dates")
        );
        assert!(ended(&e, 34).is_ok());
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(s in "\\PC{0,300}") {
            let _ = parse_schedule(&s);
            if let Ok(e) = parse_eol(&s) {
                for m in e.keys() {
                    let _ = ended(&e, *m);
                }
            }
        }
    }
}
