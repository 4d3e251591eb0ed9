//! Version ordering as the package managers define it: dpkg's for `.deb`
//! (`[epoch:]upstream[-revision]`, `~` before everything), rpm's `rpmvercmp` for `.rpm`.
//! Used to pick the newest build of a version (`1.30.2-1.1` over `1.30.2-1.0`) and the
//! newest `cri-tools` that satisfies a dependency; never to guess a version.

use std::cmp::Ordering;

/// A dpkg version split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebVersion<'a> {
    /// Epoch (0 when absent).
    pub epoch: u64,
    /// Upstream version.
    pub upstream: &'a str,
    /// Debian revision ("" when absent).
    pub revision: &'a str,
}

/// Split `[epoch:]upstream[-revision]`; `None` if the epoch is not a number or the
/// upstream part is empty.
pub fn parse_deb(v: &str) -> Option<DebVersion<'_>> {
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) => (e.parse().ok()?, r),
        None => (0, v),
    };
    let (upstream, revision) = match rest.rsplit_once('-') {
        Some((u, r)) => (u, r),
        None => (rest, ""),
    };
    if upstream.is_empty() {
        return None;
    }
    Some(DebVersion {
        epoch,
        upstream,
        revision,
    })
}

fn deb_order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => c as i32,
        Some(c) => c as i32 + 256,
    }
}

/// dpkg's `verrevcmp` on one part.
fn deb_part_cmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let mut first_diff = 0;
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let ac = deb_order(a.get(i).copied().filter(|c| !c.is_ascii_digit()));
            let bc = deb_order(b.get(j).copied().filter(|c| !c.is_ascii_digit()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            if i < a.len() && !a[i].is_ascii_digit() {
                i += 1;
            }
            if j < b.len() && !b[j].is_ascii_digit() {
                j += 1;
            }
        }
        while i < a.len() && a[i] == b'0' {
            i += 1;
        }
        while j < b.len() && b[j] == b'0' {
            j += 1;
        }
        while i < a.len() && a[i].is_ascii_digit() && j < b.len() && b[j].is_ascii_digit() {
            if first_diff == 0 {
                first_diff = a[i] as i32 - b[j] as i32;
            }
            i += 1;
            j += 1;
        }
        if i < a.len() && a[i].is_ascii_digit() {
            return Ordering::Greater;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            return Ordering::Less;
        }
        if first_diff != 0 {
            return first_diff.cmp(&0);
        }
    }
    Ordering::Equal
}

/// Compare two dpkg versions; unparseable ones sort first, by text.
pub fn cmp_deb(a: &str, b: &str) -> Ordering {
    match (parse_deb(a), parse_deb(b)) {
        (Some(x), Some(y)) => x
            .epoch
            .cmp(&y.epoch)
            .then_with(|| deb_part_cmp(x.upstream, y.upstream))
            .then_with(|| deb_part_cmp(x.revision, y.revision)),
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

/// rpm's `rpmvercmp` on one part (version or release).
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let sep = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    loop {
        while i < a.len() && sep(a[i]) {
            i += 1;
        }
        while j < b.len() && sep(b[j]) {
            j += 1;
        }
        let (ta, tb) = (a.get(i) == Some(&b'~'), b.get(j) == Some(&b'~'));
        if ta || tb {
            if !ta {
                return Ordering::Greater;
            }
            if !tb {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        let (ca, cb) = (a.get(i) == Some(&b'^'), b.get(j) == Some(&b'^'));
        if ca || cb {
            if i >= a.len() {
                return Ordering::Less;
            }
            if j >= b.len() {
                return Ordering::Greater;
            }
            if !ca {
                return Ordering::Greater;
            }
            if !cb {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if i >= a.len() || j >= b.len() {
            break;
        }
        let numeric = a[i].is_ascii_digit();
        let class = |c: u8| {
            if numeric {
                c.is_ascii_digit()
            } else {
                c.is_ascii_alphabetic()
            }
        };
        let (si, sj) = (i, j);
        while i < a.len() && class(a[i]) {
            i += 1;
        }
        while j < b.len() && class(b[j]) {
            j += 1;
        }
        let (mut sa, mut sb) = (&a[si..i], &b[sj..j]);
        if sb.is_empty() {
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        if numeric {
            while sa.first() == Some(&b'0') {
                sa = &sa[1..];
            }
            while sb.first() == Some(&b'0') {
                sb = &sb[1..];
            }
            let o = sa.len().cmp(&sb.len()).then_with(|| sa.cmp(sb));
            if o != Ordering::Equal {
                return o;
            }
        } else {
            let o = sa.cmp(sb);
            if o != Ordering::Equal {
                return o;
            }
        }
    }
    match (i >= a.len(), j >= b.len()) {
        (true, true) => Ordering::Equal,
        (false, _) => Ordering::Greater,
        _ => Ordering::Less,
    }
}

/// An rpm epoch-version-release.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Evr {
    /// Epoch ("0" when absent).
    pub epoch: u64,
    /// Version.
    pub ver: String,
    /// Release ("" when absent).
    pub rel: String,
}

impl Evr {
    /// The repository's version string: `ver-rel`, with `epoch:` when it is not 0.
    pub fn display(&self) -> String {
        let base = if self.rel.is_empty() {
            self.ver.clone()
        } else {
            format!("{}-{}", self.ver, self.rel)
        };
        if self.epoch == 0 {
            base
        } else {
            format!("{}:{base}", self.epoch)
        }
    }
}

/// Compare two EVRs as rpm does (an empty release on either side is not compared, as in
/// a dependency `>= 1.30.0`).
pub fn cmp_evr(a: &Evr, b: &Evr) -> Ordering {
    a.epoch
        .cmp(&b.epoch)
        .then_with(|| rpmvercmp(&a.ver, &b.ver))
        .then_with(|| {
            if a.rel.is_empty() || b.rel.is_empty() {
                Ordering::Equal
            } else {
                rpmvercmp(&a.rel, &b.rel)
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn dpkg_order() {
        for (a, b, o) in [
            ("1.30.2-1.1", "1.30.2-1.1", Equal),
            ("1.30.10-1.1", "1.30.2-1.1", Greater),
            ("1.30.2-1.1", "1.30.2-2.1", Less),
            ("1.30.2~rc.1-1.1", "1.30.2-1.1", Less),
            ("1:1.0", "2.0", Greater),
            ("1.0", "1.0-0", Equal),
            ("1.0a", "1.0", Greater),
            ("1.0+x", "1.0a", Greater),
            ("1.002", "1.2", Equal),
        ] {
            assert_eq!(cmp_deb(a, b), o, "{a} vs {b}");
            assert_eq!(cmp_deb(b, a), o.reverse(), "{b} vs {a}");
        }
        let v = parse_deb("2:1.30.2-1.1").unwrap();
        assert_eq!((v.epoch, v.upstream, v.revision), (2, "1.30.2", "1.1"));
        assert!(parse_deb("x:1").is_none());
    }

    #[test]
    fn rpm_order() {
        for (a, b, o) in [
            ("1.30.2", "1.30.2", Equal),
            ("1.30.10", "1.30.2", Greater),
            ("150500.1.1", "150500.1.2", Less),
            ("1.0~rc1", "1.0", Less),
            ("1.0^git1", "1.0", Greater),
            ("1.0^git1", "1.0.1", Less),
            ("1.0a", "1.0", Greater),
            ("1.a", "1.1", Less),
            ("001", "1", Equal),
        ] {
            assert_eq!(rpmvercmp(a, b), o, "{a} vs {b}");
            assert_eq!(rpmvercmp(b, a), o.reverse(), "{b} vs {a}");
        }
    }

    proptest::proptest! {
        #[test]
        fn orders_are_antisymmetric(a in "[0-9a-z.~^+:-]{0,12}", b in "[0-9a-z.~^+:-]{0,12}") {
            proptest::prop_assert_eq!(cmp_deb(&a, &b), cmp_deb(&b, &a).reverse());
            proptest::prop_assert_eq!(rpmvercmp(&a, &b), rpmvercmp(&b, &a).reverse());
            proptest::prop_assert_eq!(cmp_deb(&a, &a), Equal);
        }
    }
}
