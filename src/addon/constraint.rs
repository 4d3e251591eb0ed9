//! Helm's version constraints (`kubeVersion: ">= 1.21.0-0 < 1.32.0-0"`), evaluated the way
//! Helm evaluates them: with the rules of Masterminds/semver v3 (3.4), the library Helm
//! calls. The `semver` crate follows npm/Cargo rules instead (different `x`, `~`, `^`,
//! comma and pre-release handling), so a chart's constraint would mean something else
//! there.
//!
//! The grammar: `||` separates alternatives; inside one, constraints are separated by
//! spaces or commas and must all hold. A constraint is an operator (`=`, `!=`, `>`, `<`,
//! `>=`, `=>`, `<=`, `=<`, `~`, `~>`, `^`, or none) and a version that may be partial
//! (`1.2`) or use `x`, `X` or `*` wildcards; `A - B` (spaces around the dash) is
//! `>= A, <= B`. A version with a pre-release (`1.19.0-0`) satisfies an alternative only
//! when one of its constraints names a pre-release, which is why charts write `-0`.

use std::cmp::Ordering;
use std::fmt;

/// Longest constraint text accepted (real ones are a few dozen bytes).
pub const MAX_CONSTRAINT_LEN: usize = 1024;

/// A semantic version as Masterminds' `NewVersion` reads it: an optional `v`, one to three
/// numbers (leading zeros allowed), an optional pre-release and build metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SemVer {
    /// Major.
    pub major: u64,
    /// Minor (0 when absent).
    pub minor: u64,
    /// Patch (0 when absent).
    pub patch: u64,
    /// Pre-release, without the `-` (empty for a release).
    pub pre: String,
    /// Build metadata, without the `+` (ignored in comparisons).
    pub meta: String,
}

fn is_ident_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}

/// Dot-separated identifiers of `[0-9A-Za-z-]`, none empty.
fn valid_idents(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|p| !p.is_empty() && p.bytes().all(is_ident_char))
}

impl SemVer {
    /// Parse a version; errors say why.
    pub fn parse(s: &str) -> Result<SemVer, String> {
        let bad = |why: &str| format!("version {s:?}: {why}");
        let rest = s.strip_prefix('v').unwrap_or(s);
        let (rest, meta) = match rest.split_once('+') {
            Some((r, m)) => (r, m),
            None => (rest, ""),
        };
        if rest.contains('+') || (!meta.is_empty() && !valid_idents(meta)) || s.ends_with('+') {
            return Err(bad("invalid build metadata"));
        }
        let (nums, pre) = match rest.split_once('-') {
            Some((n, p)) => (n, p),
            None => (rest, ""),
        };
        if rest.contains('-') && !valid_idents(pre) {
            return Err(bad("invalid pre-release"));
        }
        for part in pre.split('.').filter(|_| !pre.is_empty()) {
            if part.len() > 1 && part.starts_with('0') && part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("a numeric pre-release part starts with 0"));
            }
        }
        let parts: Vec<&str> = nums.split('.').collect();
        if parts.len() > 3
            || parts
                .iter()
                .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(bad("expected MAJOR[.MINOR[.PATCH]][-PRERELEASE][+BUILD]"));
        }
        let num = |i: usize| -> Result<u64, String> {
            match parts.get(i) {
                Some(p) => p.parse().map_err(|_| bad("a number is too large")),
                None => Ok(0),
            }
        };
        Ok(SemVer {
            major: num(0)?,
            minor: num(1)?,
            patch: num(2)?,
            pre: pre.to_string(),
            meta: meta.to_string(),
        })
    }

    /// Precedence order (build metadata ignored), as Masterminds' `Compare`.
    pub fn compare(&self, o: &SemVer) -> Ordering {
        let by_numbers = (self.major, self.minor, self.patch).cmp(&(o.major, o.minor, o.patch));
        if by_numbers != Ordering::Equal {
            return by_numbers;
        }
        match (self.pre.is_empty(), o.pre.is_empty()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => compare_pre(&self.pre, &o.pre),
        }
    }
}

impl fmt::Display for SemVer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.pre.is_empty() {
            write!(f, "-{}", self.pre)?;
        }
        if !self.meta.is_empty() {
            write!(f, "+{}", self.meta)?;
        }
        Ok(())
    }
}

/// Pre-release precedence: part by part; numbers numerically and below words; a missing
/// part sorts first.
fn compare_pre(a: &str, b: &str) -> Ordering {
    let (pa, pb): (Vec<&str>, Vec<&str>) = (a.split('.').collect(), b.split('.').collect());
    for i in 0..pa.len().max(pb.len()) {
        let (x, y) = (
            pa.get(i).copied().unwrap_or(""),
            pb.get(i).copied().unwrap_or(""),
        );
        let d = compare_pre_part(x, y);
        if d != Ordering::Equal {
            return d;
        }
    }
    Ordering::Equal
}

fn compare_pre_part(x: &str, y: &str) -> Ordering {
    if x == y {
        return Ordering::Equal;
    }
    if x.is_empty() {
        return Ordering::Less;
    }
    if y.is_empty() {
        return Ordering::Greater;
    }
    match (x.parse::<u64>(), y.parse::<u64>()) {
        (Ok(a), Ok(b)) => a.cmp(&b),
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
        (Err(_), Err(_)) => x.cmp(y),
    }
}

/// The operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// none or `=`: equal, or `~` when the version has a wildcard.
    TildeOrEqual,
    NotEqual,
    Greater,
    Less,
    GreaterEqual,
    LessEqual,
    Tilde,
    Caret,
}

impl Op {
    /// Two-character operators first, so `>=` is not read as `>` then `=`.
    const TABLE: [(&'static str, Op); 12] = [
        ("!=", Op::NotEqual),
        (">=", Op::GreaterEqual),
        ("=>", Op::GreaterEqual),
        ("<=", Op::LessEqual),
        ("=<", Op::LessEqual),
        ("~>", Op::Tilde),
        ("=", Op::TildeOrEqual),
        (">", Op::Greater),
        ("<", Op::Less),
        ("~", Op::Tilde),
        ("^", Op::Caret),
        ("", Op::TildeOrEqual),
    ];
}

/// One constraint: an operator and a (possibly partial or wildcard) version.
#[derive(Debug, Clone)]
struct Constraint {
    op: Op,
    con: SemVer,
    /// A wildcard or missing part somewhere.
    dirty: bool,
    /// The minor (and so the patch) is a wildcard or missing.
    minor_dirty: bool,
    /// The patch is a wildcard or missing.
    patch_dirty: bool,
}

/// A parsed constraint expression.
#[derive(Debug, Clone)]
pub struct Constraints {
    text: String,
    groups: Vec<Vec<Constraint>>,
    /// Per group: one of its constraints names a pre-release, so pre-releases may match.
    contains_pre: Vec<bool>,
}

impl fmt::Display for Constraints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn is_x(s: &str) -> bool {
    matches!(s, "x" | "X" | "*")
}

/// The parts of a constraint's version text.
struct VersionText<'a> {
    all: &'a str,
    major: &'a str,
    minor: Option<&'a str>,
    patch: Option<&'a str>,
    /// Including its leading `-`.
    pre: &'a str,
}

/// Read a constraint version at the start of `s` (`v?` then 1-3 parts of digits or
/// wildcards, an optional pre-release and build); returns it and the bytes used.
fn read_version(s: &str) -> Option<(VersionText<'_>, usize)> {
    let b = s.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'v'));
    let part = |from: usize| {
        let n = b[from..]
            .iter()
            .take_while(|c| c.is_ascii_digit() || matches!(c, b'x' | b'X' | b'*'))
            .count();
        (n > 0).then_some(from + n)
    };
    let start = i;
    i = part(i)?;
    let major = &s[start..i];
    let mut rest: Vec<&str> = Vec::new();
    while rest.len() < 2 && b.get(i) == Some(&b'.') {
        match part(i + 1) {
            Some(end) => {
                rest.push(&s[i + 1..end]);
                i = end;
            }
            None => break,
        }
    }
    // Dot-separated identifiers after a `-` or `+`, when there is at least one.
    let idents = |from: usize| {
        let mut j = from;
        loop {
            let n = b[j..].iter().take_while(|c| is_ident_char(**c)).count();
            if n == 0 {
                return (j > from).then_some(j - usize::from(b[j - 1] == b'.'));
            }
            j += n;
            if b.get(j) != Some(&b'.') {
                return Some(j);
            }
            j += 1;
        }
    };
    let pre_start = i;
    if b.get(i) == Some(&b'-')
        && let Some(end) = idents(i + 1)
    {
        i = end;
    }
    let pre = &s[pre_start..i];
    if b.get(i) == Some(&b'+')
        && let Some(end) = idents(i + 1)
    {
        i = end;
    }
    Some((
        VersionText {
            all: &s[..i],
            major,
            minor: rest.first().copied(),
            patch: rest.get(1).copied(),
            pre,
        },
        i,
    ))
}

fn make_constraint(op: Op, v: &VersionText<'_>) -> Result<Constraint, String> {
    let (ver, dirty, minor_dirty, patch_dirty) = if is_x(v.major) {
        (format!("0.0.0{}", v.pre), true, false, false)
    } else if v.minor.is_none_or(is_x) {
        (format!("{}.0.0{}", v.major, v.pre), true, true, false)
    } else if v.patch.is_none_or(is_x) {
        let minor = v.minor.unwrap_or("0");
        (format!("{}.{minor}.0{}", v.major, v.pre), true, false, true)
    } else {
        (v.all.to_string(), false, false, false)
    };
    let con = SemVer::parse(&ver).map_err(|e| format!("{:?} is not a version ({e})", v.all))?;
    Ok(Constraint {
        op,
        con,
        dirty,
        minor_dirty,
        patch_dirty,
    })
}

/// One alternative (between `||`): constraints separated by spaces or commas, with
/// `A - B` ranges.
fn parse_group(seg: &str) -> Result<Vec<Constraint>, String> {
    let improper = || format!("improper constraint {:?}", seg.trim());
    let b = seg.as_bytes();
    let ws = |from: usize| {
        from + b[from..]
            .iter()
            .take_while(|c| c.is_ascii_whitespace())
            .count()
    };
    let mut out: Vec<Constraint> = Vec::new();
    let mut i = ws(0);
    loop {
        let rest = &seg[i..];
        let (op_text, op) = Op::TABLE
            .iter()
            .find(|(t, _)| rest.starts_with(t))
            .copied()
            .ok_or_else(improper)?;
        let j = ws(i + op_text.len());
        let (v, used) = read_version(&seg[j..]).ok_or_else(improper)?;
        out.push(make_constraint(op, &v)?);
        // `A - B` needs an A without operator.
        let last_plain = op_text.is_empty().then_some(v);
        i = j + used;
        let after = ws(i);
        if after == b.len() {
            return Ok(out);
        }
        if b[after] == b',' {
            i = ws(after + 1);
            continue;
        }
        if after == i {
            // Two constraints with nothing between them (`1.2.3~1.2`).
            return Err(improper());
        }
        if b[after] == b'-' && b.get(after + 1).is_some_and(|c| c.is_ascii_whitespace()) {
            // `A - B`: A without operator, B a plain version too.
            let a = last_plain.ok_or_else(improper)?;
            let k = ws(after + 1);
            let (bv, used) = read_version(&seg[k..]).ok_or_else(improper)?;
            out.pop();
            out.push(make_constraint(Op::GreaterEqual, &a)?);
            out.push(make_constraint(Op::LessEqual, &bv)?);
            i = k + used;
            let after = ws(i);
            if after == b.len() {
                return Ok(out);
            }
            if b[after] == b',' {
                i = ws(after + 1);
            } else if after == i {
                return Err(improper());
            } else {
                i = after;
            }
            continue;
        }
        i = after;
    }
}

impl Constraints {
    /// Parse a constraint expression.
    pub fn parse(text: &str) -> Result<Constraints, String> {
        if text.len() > MAX_CONSTRAINT_LEN {
            return Err(format!("longer than {MAX_CONSTRAINT_LEN} bytes"));
        }
        if text.trim().is_empty() {
            return Err("empty constraint".into());
        }
        let mut groups = Vec::new();
        let mut contains_pre = Vec::new();
        for seg in text.split("||") {
            let g = parse_group(seg)?;
            contains_pre.push(g.iter().any(|c| !c.con.pre.is_empty()));
            groups.push(g);
        }
        Ok(Constraints {
            text: text.trim().to_string(),
            groups,
            contains_pre,
        })
    }

    /// True when `v` satisfies some alternative.
    pub fn check(&self, v: &SemVer) -> bool {
        self.groups
            .iter()
            .zip(&self.contains_pre)
            .any(|(g, pre)| g.iter().all(|c| c.check(v, *pre)))
    }
}

impl Constraint {
    fn check(&self, v: &SemVer, include_pre: bool) -> bool {
        if !v.pre.is_empty() && !include_pre {
            return false;
        }
        let c = &self.con;
        match self.op {
            Op::TildeOrEqual if self.dirty => self.tilde(v),
            Op::TildeOrEqual => v.compare(c) == Ordering::Equal,
            Op::NotEqual => self.not_equal(v),
            Op::Greater => self.greater(v),
            Op::Less => v.compare(c) == Ordering::Less,
            Op::GreaterEqual => v.compare(c) != Ordering::Less,
            Op::LessEqual => self.less_equal(v),
            Op::Tilde => self.tilde(v),
            Op::Caret => self.caret(v),
        }
    }

    fn not_equal(&self, v: &SemVer) -> bool {
        let c = &self.con;
        if self.dirty {
            if c.major != v.major {
                return true;
            }
            if c.minor != v.minor && !self.minor_dirty {
                return true;
            } else if self.minor_dirty {
                return false;
            } else if c.patch != v.patch && !self.patch_dirty {
                return true;
            } else if self.patch_dirty {
                if !v.pre.is_empty() || !c.pre.is_empty() {
                    return compare_pre(&v.pre, &c.pre) != Ordering::Equal;
                }
                return false;
            }
        }
        v.compare(c) != Ordering::Equal
    }

    fn greater(&self, v: &SemVer) -> bool {
        let c = &self.con;
        if !self.dirty {
            return v.compare(c) == Ordering::Greater;
        }
        if v.major != c.major {
            return v.major > c.major;
        }
        if self.minor_dirty {
            // `>11` needs 12 or higher.
            return false;
        }
        if self.patch_dirty {
            return v.minor > c.minor;
        }
        v.compare(c) == Ordering::Greater
    }

    fn less_equal(&self, v: &SemVer) -> bool {
        let c = &self.con;
        if !self.dirty {
            return v.compare(c) != Ordering::Greater;
        }
        if v.major > c.major {
            return false;
        }
        !(v.major == c.major && v.minor > c.minor && !self.minor_dirty)
    }

    fn tilde(&self, v: &SemVer) -> bool {
        let c = &self.con;
        if v.compare(c) == Ordering::Less {
            return false;
        }
        // ~0.0.0 (and `*`) accepts everything.
        if c.major == 0 && c.minor == 0 && c.patch == 0 && !self.minor_dirty && !self.patch_dirty {
            return true;
        }
        if v.major != c.major {
            return false;
        }
        v.minor == c.minor || self.minor_dirty
    }

    fn caret(&self, v: &SemVer) -> bool {
        let c = &self.con;
        if v.compare(c) == Ordering::Less {
            return false;
        }
        if c.major > 0 || self.minor_dirty {
            return v.major == c.major;
        }
        if v.major > 0 {
            return false;
        }
        if c.minor > 0 || self.patch_dirty {
            return v.minor == c.minor;
        }
        if v.minor > 0 {
            return false;
        }
        c.patch == v.patch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(c: &str, v: &str) -> bool {
        Constraints::parse(c)
            .unwrap_or_else(|e| panic!("{c}: {e}"))
            .check(&SemVer::parse(v).unwrap_or_else(|e| panic!("{v}: {e}")))
    }

    /// Masterminds/semver's own table (constraints_test.go, TestConstraintsCheck and
    /// TestConstraintCheck at v3.4.0), so this evaluator answers as Helm's library does.
    #[test]
    fn masterminds_tables() {
        let cases: &[(&str, &str, bool)] = &[
            ("*", "1.2.3", true),
            ("~0.0.0", "1.2.3", true),
            ("0.x.x", "1.2.3", false),
            ("0.0.x", "1.2.3", false),
            ("0.0.0", "1.2.3", false),
            ("^0.0.0", "1.2.3", false),
            ("= 2.0", "1.2.3", false),
            ("= 2.0", "2.0.0", true),
            ("4.1", "4.1.0", true),
            ("4.1.x", "4.1.3", true),
            ("1.x", "1.4", true),
            ("!=4.1", "4.1.0", false),
            ("!=4.1-alpha", "4.1.0-alpha", false),
            ("!=4.1-alpha", "4.1.1-alpha", false),
            ("!=4.1-alpha", "4.1.0", true),
            ("!=4.1", "5.1.0", true),
            ("!=4.x", "5.1.0", true),
            ("!=4.x", "4.1.0", false),
            ("!=4.1.x", "4.2.0", true),
            ("!=4.2.x", "4.2.3", false),
            (">1.1", "4.1.0", true),
            (">1.1", "1.1.0", false),
            ("<1.1", "0.1.0", true),
            ("<1.1", "1.1.0", false),
            ("<1.1", "1.1.1", false),
            ("<1.x", "1.1.1", false),
            ("<1.x", "0.1.1", true),
            ("<1.x", "2.0.0", false),
            ("<1.1.x", "1.2.1", false),
            ("<1.1.x", "1.1.500", false),
            ("<1.1.x", "1.0.500", true),
            ("<1.2.x", "1.1.1", true),
            (">=1.1", "4.1.0", true),
            (">=1.1", "4.1.0-beta", false),
            (">=1.1", "1.1.0", true),
            (">=1.1", "0.0.9", false),
            ("<=1.1", "0.1.0", true),
            ("<=1.1", "0.1.0-alpha", false),
            ("<=1.1-a", "0.1.0-alpha", true),
            ("<=1.1", "1.1.0", true),
            ("<=1.x", "1.1.0", true),
            ("<=2.x", "3.0.0", false),
            ("<=1.1", "1.1.1", true),
            ("<=1.1.x", "1.2.500", false),
            ("<=4.5", "3.4.0", true),
            ("<=4.5", "3.7.0", true),
            ("<=4.5", "4.6.3", false),
            (">1.1, <2", "1.1.1", false),
            (">1.1, <2", "1.2.1", true),
            (">1.1, <3", "4.3.2", false),
            (">=1.1, <2, !=1.2.3", "1.2.3", false),
            (">1.1 <2", "1.1.1", false),
            (">1.1 <2", "1.2.1", true),
            (">1.1    <3", "4.3.2", false),
            (">=1.1    <2    !=1.2.3", "1.2.3", false),
            (">=1.1, <2, !=1.2.3 || > 3", "4.1.2", true),
            (">=1.1, <2, !=1.2.3 || > 3", "3.1.2", false),
            (">=1.1, <2, !=1.2.3 || >= 3", "3.0.0", true),
            (">=1.1, <2, !=1.2.3 || > 3", "3.0.0", false),
            (">=1.1, <2, !=1.2.3 || > 3", "1.2.3", false),
            (">=1.1 <2 !=1.2.3 || > 3", "4.1.2", true),
            (">=1.1 <2 !=1.2.3 || >= 3", "3.0.0", true),
            ("> 1.1, <     2", "1.1.1", false),
            (">   1.1, <2", "1.2.1", true),
            (">= 1.1, <     2, !=1.2.3", "1.2.3", false),
            ("> 1.1 < 2", "1.1.1", false),
            (">1.1 < 2", "1.2.1", true),
            (">=1.1    < 2    != 1.2.3", "1.2.3", false),
            (">= 1.1, <2, != 1.2.3 || >= 3", "3.0.0", true),
            (">= 1.0.0  <= 2.0.0-beta", "1.0.1-beta", true),
            (">= 1.0.0  <= 2.0.0-beta", "1.0.1", true),
            (">= 1.0.0  <= 2.0.0-beta", "3.0.0", false),
            (">= 1.0.0  <= 2.0.0-beta || > 3", "1.0.1-beta", true),
            (">= 1.0.0  <= 2.0.0-beta || > 3", "3.0.1-beta", false),
            (
                ">= 1.0.0  <= 2.0.0-beta != 1.0.1 || > 3",
                "1.0.1-beta",
                true,
            ),
            (
                ">= 1.0.0  <= 2.0.0-beta != 1.0.1-beta || > 3",
                "1.0.1-beta",
                false,
            ),
            (">= 1.0.0-0  <= 2.0.0", "1.0.1-beta", true),
            ("1.1 - 2", "1.1.1", true),
            ("1.5.0 - 4.5", "3.7.0", true),
            ("1.1-3", "4.3.2", false),
            ("^1.1", "1.1.1", true),
            ("^1.1", "4.3.2", false),
            ("^1.x", "1.1.1", true),
            ("^2.x", "1.1.1", false),
            ("^1.x", "2.1.1", false),
            ("^1.x", "1.1.1-beta1", false),
            ("^1.1.2-alpha", "1.2.1-beta1", true),
            ("^1.2.x-alpha", "1.1.1-beta1", false),
            ("^0.0.1", "0.0.1", true),
            ("^0.0.1", "0.3.1", false),
            ("~*", "2.1.1", true),
            ("~1", "2.1.1", false),
            ("~1", "1.3.5", true),
            ("~1", "1.4", true),
            ("~1.x", "2.1.1", false),
            ("~1.x", "1.3.5", true),
            ("~1.1", "1.1.1", true),
            ("~1.1", "1.1.1-alpha", false),
            ("~1.1-alpha", "1.1.1-beta", true),
            ("~1.1.1-beta", "1.1.1-alpha", false),
            ("~1.1.1-beta", "1.1.1", true),
            ("~1.2.3", "1.2.5", true),
            ("~1.2.3", "1.2.2", false),
            ("~1.2.3", "1.3.2", false),
            ("~1.1", "1.2.3", false),
            ("~1.3", "2.4.5", false),
            ("1.0.0 - 2.0.0 <=2.0.0", "1.5.0", true),
            ("1.0.0 - 2.0.0, <=2.0.0", "1.5.0", true),
            // TestConstraintCheck (single constraints).
            ("=2.0", "2.0.1", true),
            ("!=4.1", "4.1.1", false),
            ("<11", "11.1.0", false),
            ("<=11", "11.2.3", true),
            ("<=11", "12.2.3", false),
            (">0", "0", false),
            (">0", "1", true),
            (">0.0.0-0", "0.0.0-alpha", true),
            (">1.2.3-alpha.1", "1.2.3-alpha.2", true),
            (">11", "11.1.0", false),
            (">11.1", "11.1.1", false),
            (">11.1", "11.2.1", true),
            (">=0-0", "0.0.0-alpha", true),
            ("<0-z", "0.0.0-alpha", true),
            ("*-0", "1.2.3-alpha.1", true),
            ("*", "1.2.3-alpha.1", false),
            ("2.*", "3.4.5", false),
            ("2.1.*", "2.1.1", true),
            ("~1.2.3-beta.2", "1.2.4-beta.2", true),
            ("~1.2.3-beta.2", "1.3.4-beta.2", false),
            ("^1.2.0-alpha.0", "1.2.1-alpha.1", true),
            ("^1.2.0-alpha.2", "1.2.0-alpha.1", false),
            ("^0.2.3", "0.5.6", false),
            ("^0.0", "0.0.3", true),
            ("^0.0", "0.1.4", false),
            ("^0", "0.2.3", true),
            ("^0", "1.1.4", false),
            ("^0.2.3-beta.2", "0.2.4-beta.2", true),
            ("^0.2.3-beta.2", "0.3.4-beta.2", false),
        ];
        for (c, v, want) in cases {
            assert_eq!(check(c, v), *want, "{c:?} with {v}");
        }
    }

    /// The constraints charts actually ship, against Kubernetes versions.
    #[test]
    fn kubernetes_constraints() {
        for (c, v, want) in [
            (">= 1.21.0-0", "v1.30.2", true),
            (">=1.19.0-0 <1.30.0-0", "v1.30.2", false),
            (">=1.19.0-0 <1.30.0-0", "v1.29.15", true),
            (">=1.25.0-0 <1.31.0-0", "v1.30.2", true),
            (">= 1.27.0-0 < 1.31.0-0 || >= 1.32.0-0", "v1.31.4", false),
            ("~1.30.0-0", "v1.30.2", true),
            ("^1.20.0-0", "v1.37.1", true),
            ("1.28.x - 1.30.x", "v1.30.9", true),
            ("1.28.x - 1.30.x", "v1.31.0", false),
            // An EKS-style server version is a pre-release: only `-0` constraints take it.
            (">= 1.21.0", "v1.30.2-eks-1234", false),
            (">= 1.21.0-0", "v1.30.2-eks-1234", true),
        ] {
            assert_eq!(check(c, v), want, "{c:?} with {v}");
        }
    }

    #[test]
    fn refuses_what_masterminds_refuses() {
        for bad in [
            "",
            ">= bar",
            "BAR >= 1.2.3",
            "v1.2.3-beta.01",
            "12.3.4.1234",
            "12.3.34~ 1.2.3",
            ">= 1.0 - 2.0",
            "1.0 -2",
            ">=1.2 ||",
            ">=1x.2",
        ] {
            assert!(Constraints::parse(bad).is_err(), "{bad:?} parsed");
        }
        for good in [
            ">= 1.1",
            ">40.50.60, < 50.70",
            "v2.3.5-20161202202307-sha.e8fc5e5",
            "v1.2.3-0abc",
            ">= 1.2.3 < 2.0 || => 3.0 < 4",
            "3 - 4 || => 3.0, < 4",
            "12.3.34 ~1.2.3",
        ] {
            assert!(Constraints::parse(good).is_ok(), "{good:?} refused");
        }
    }

    fn version() -> impl proptest::strategy::Strategy<Value = SemVer> {
        use proptest::prelude::*;
        (
            0u64..4,
            0u64..4,
            0u64..4,
            prop_oneof![Just(""), Just("0"), Just("alpha"), Just("alpha.1")],
        )
            .prop_map(|(major, minor, patch, pre)| SemVer {
                major,
                minor,
                patch,
                pre: pre.to_string(),
                meta: String::new(),
            })
    }

    fn partial() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let part = prop_oneof![Just("0"), Just("1"), Just("2"), Just("x"), Just("*")];
        (
            part.clone(),
            proptest::option::of(part.clone()),
            proptest::option::of(part),
        )
            .prop_map(|(a, b, c)| {
                let mut s = a.to_string();
                if let Some(b) = b {
                    s.push('.');
                    s.push_str(b);
                    if let Some(c) = c {
                        s.push('.');
                        s.push_str(c);
                    }
                }
                s
            })
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,80}") {
            if let Ok(c) = Constraints::parse(&s) {
                let _ = c.check(&SemVer::parse("1.30.2").unwrap());
            }
            let _ = SemVer::parse(&s);
        }

        #[test]
        fn operator_soup_never_panics(s in "[<>=!~^ ,|.0-9xX*v+a-z-]{0,40}") {
            if let Ok(c) = Constraints::parse(&s) {
                let _ = c.check(&SemVer::parse("1.30.2-0").unwrap());
            }
        }

        /// `A || B` holds exactly when A or B does; `A, B` (and `A B`) when both do.
        #[test]
        fn or_and_and_compose(a in partial(), b in partial(), oa in 0usize..6, ob in 0usize..6, v in version()) {
            let ops = [">=", "<", "<=", ">", "~", "^"];
            let ca = format!("{}{a}", ops[oa]);
            let cb = format!("{}{b}", ops[ob]);
            let one = |c: &str| Constraints::parse(c).unwrap().check(&v);
            let (x, y) = (one(&ca), one(&cb));
            proptest::prop_assert_eq!(one(&format!("{ca} || {cb}")), x || y);
            if v.pre.is_empty() {
                proptest::prop_assert_eq!(one(&format!("{ca}, {cb}")), x && y);
                proptest::prop_assert_eq!(one(&format!("{ca} {cb}")), x && y);
            }
        }

        /// For exact versions: `<` and `>=` split every release, `A - B` is `>= A <= B`,
        /// and `^A`, `~A` hold only above A.
        #[test]
        fn exact_versions_order(a in version(), b in version(), v in version()) {
            let (a, b) = (format!("{}.{}.{}", a.major, a.minor, a.patch), format!("{}.{}.{}", b.major, b.minor, b.patch));
            let one = |c: &str| Constraints::parse(c).unwrap().check(&v);
            if v.pre.is_empty() {
                let below = one(&format!("<{a}"));
                let above = one(&format!(">={a}"));
                proptest::prop_assert!(below != above);
                proptest::prop_assert_eq!(one(&format!("{a} - {b}")), one(&format!(">={a}, <={b}")));
                let at_least = one(&format!(">={a}"));
                if one(&format!("^{a}")) || one(&format!("~{a}")) {
                    proptest::prop_assert!(at_least);
                }
            } else {
                // A pre-release never satisfies a constraint without one.
                let either = one(&format!(">={a}")) || one(&format!("<{a}"));
                proptest::prop_assert!(!either);
            }
        }
    }
}
