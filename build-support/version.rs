// Shared by both packages' build scripts (`include!`d): the commit and build date that
// `--version` prints. Reproducible: the date is SOURCE_DATE_EPOCH when set, else the
// commit's own date, never the clock; AIRLOCK_COMMIT overrides the commit for builds from
// a copy without `.git` (scripts/reproducible-verifier.sh sets both).

use std::path::Path;
use std::process::Command;

/// Emit `AIRLOCK_BUILD_COMMIT` and `AIRLOCK_BUILD_DATE` for `env!`, and tell cargo when
/// to run again (a new commit, or a changed override).
fn emit_version() {
    println!("cargo:rerun-if-env-changed=AIRLOCK_COMMIT");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    if let Some(git_dir) = git(&dir, &["rev-parse", "--absolute-git-dir"]) {
        // HEAD moves with a checkout; logs/HEAD grows with every commit.
        for f in ["HEAD", "logs/HEAD"] {
            let p = Path::new(&git_dir).join(f);
            if p.exists() {
                println!("cargo:rerun-if-changed={}", p.display());
            }
        }
    }
    let commit = std::env::var("AIRLOCK_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| git(&dir, &["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".into());
    let epoch = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .or_else(|| git(&dir, &["log", "-1", "--format=%ct"]))
        .and_then(|s| s.trim().parse::<i64>().ok());
    let date = epoch.map(ymd).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=AIRLOCK_BUILD_COMMIT={commit}");
    println!("cargo:rustc-env=AIRLOCK_BUILD_DATE={date}");
}

/// A git command's trimmed output in `dir`, or None (no git, not a repository).
fn git(dir: &str, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !s.is_empty()).then_some(s)
}

/// Seconds since 1970 to a UTC `YYYY-MM-DD` (Howard Hinnant's days-to-civil algorithm).
fn ymd(secs: i64) -> String {
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}
