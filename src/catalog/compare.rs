//! Where two catalogs disagree about a minor: what `airlock catalog update` changed, and
//! what resolve reports when it cross-checks a catalog against the release's own files.

use std::collections::BTreeSet;

use super::{Catalog, MinorEntry, RemovedApi};

/// Every disagreement between `old` (named `old_name`) and `new` (named `new_name`) about
/// the given minors, one sentence each, in minor order.
pub fn disagreements(
    old: &Catalog,
    old_name: &str,
    new: &Catalog,
    new_name: &str,
    minors: &[u32],
) -> Vec<String> {
    let mut out = Vec::new();
    for &n in minors {
        let key = format!("1.{n}");
        match (old.minor(&key), new.minor(&key)) {
            (None, None) => {}
            (None, Some(m)) => out.push(format!(
                "{key}: not in {old_name}; {new_name} knows it up to v{key}.{}",
                m.latest_patch
            )),
            (Some(_), None) => out.push(format!("{key}: not in {new_name}")),
            (Some(a), Some(b)) => minor(&mut out, a, old_name, b, new_name),
        }
    }
    out
}

fn minor(out: &mut Vec<String>, a: &MinorEntry, an: &str, b: &MinorEntry, bn: &str) {
    let key = &a.minor;
    let mut field = |what: &str, x: String, y: String| {
        if x != y {
            out.push(format!("{key} {what}: {an} says {x}, {bn} says {y}"));
        }
    };
    field(
        "newest patch",
        format!("v{key}.{}", a.latest_patch),
        format!("v{key}.{}", b.latest_patch),
    );
    field(
        "release date",
        a.released.to_string(),
        b.released.to_string(),
    );
    field(
        "end of life",
        a.end_of_life.to_string(),
        b.end_of_life.to_string(),
    );
    let names: BTreeSet<&str> = a
        .images
        .iter()
        .chain(&b.images)
        .map(|i| i.name.as_str())
        .collect();
    let last = a.latest_patch.max(b.latest_patch);
    for name in names {
        image_tags(out, a, an, b, bn, name, last);
    }
    let tools: BTreeSet<&str> = a
        .tools
        .iter()
        .chain(&b.tools)
        .map(|t| t.name.as_str())
        .collect();
    for t in tools {
        let version = |m: &MinorEntry| {
            m.tools
                .iter()
                .find(|x| x.name == t)
                .map_or("nothing".to_string(), |x| x.version.clone())
        };
        let (x, y) = (version(a), version(b));
        if x != y {
            out.push(format!("{key} {t}: {an} says {x}, {bn} says {y}"));
        }
    }
    removed(out, a, an, b, bn);
}

/// Tag differences, patch by patch, merged into ranges of patches that differ alike.
fn image_tags(
    out: &mut Vec<String>,
    a: &MinorEntry,
    an: &str,
    b: &MinorEntry,
    bn: &str,
    name: &str,
    last: u32,
) {
    let tag = |m: &MinorEntry, p: u32| -> Option<String> {
        if p > m.latest_patch {
            return None;
        }
        let img = m.images.iter().find(|i| i.name == name)?;
        img.tags
            .iter()
            .rev()
            .find(|r| r.from_patch <= p)
            .map(|r| r.tag.clone())
    };
    let mut runs: Vec<(u32, u32, String, String)> = Vec::new();
    for p in 0..=last {
        let (x, y) = (tag(a, p), tag(b, p));
        // A patch only one side knows is already reported as a newest-patch difference.
        let (Some(x), Some(y)) = (x, y) else { continue };
        if x == y {
            continue;
        }
        match runs.last_mut() {
            Some((_, end, rx, ry)) if *end + 1 == p && *rx == x && *ry == y => *end = p,
            _ => runs.push((p, p, x, y)),
        }
    }
    for (s, e, x, y) in runs {
        let range = if s == e {
            format!("v{}.{s}", a.minor)
        } else {
            format!("v{m}.{s} to v{m}.{e}", m = a.minor)
        };
        out.push(format!(
            "{} {name} at {range}: {an} says {x}, {bn} says {y}",
            a.minor
        ));
    }
}

fn removed(out: &mut Vec<String>, a: &MinorEntry, an: &str, b: &MinorEntry, bn: &str) {
    let describe = |r: &RemovedApi| {
        let mut kinds = r.kinds.clone();
        kinds.sort();
        if r.partial {
            format!("{} kinds {}", r.group_version, kinds.join(", "))
        } else {
            r.group_version.clone()
        }
    };
    let x: BTreeSet<String> = a.removed_apis.iter().map(describe).collect();
    let y: BTreeSet<String> = b.removed_apis.iter().map(describe).collect();
    for r in y.difference(&x) {
        out.push(format!(
            "{} removed APIs: {bn} lists {r}, {an} does not",
            a.minor
        ));
    }
    for r in x.difference(&y) {
        out.push(format!(
            "{} removed APIs: {an} lists {r}, {bn} does not",
            a.minor
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_each_difference_once_with_patch_ranges() {
        let a = Catalog::builtin().unwrap();
        let mut b = a.clone();
        let m = b.minors.iter_mut().find(|m| m.minor == "1.30").unwrap();
        m.latest_patch += 1;
        m.images[0].tags[1].tag = "3.5.16-0".into();
        m.tools[0].version = "v1.30.9".into();
        m.removed_apis.clear();
        let d = disagreements(&a, "the catalog", &b, "upstream", &[30, 31, 99]);
        assert_eq!(
            d,
            [
                "1.30 newest patch: the catalog says v1.30.14, upstream says v1.30.15",
                "1.30 etcd at v1.30.5 to v1.30.14: the catalog says 3.5.15-0, upstream says 3.5.16-0",
                "1.30 crictl: the catalog says v1.30.1, upstream says v1.30.9",
            ]
        );
        assert!(disagreements(&a, "x", &a, "y", &[27, 28, 37]).is_empty());
        let mut c = a.clone();
        c.minors.retain(|m| m.minor != "1.37");
        let d = disagreements(&c, "the catalog", &a, "upstream", &[37]);
        assert_eq!(
            d,
            ["1.37: not in the catalog; upstream knows it up to v1.37.1"]
        );
    }
}
