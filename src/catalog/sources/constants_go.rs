//! kubeadm's `cmd/kubeadm/app/constants/constants.go`: the image versions a kubeadm
//! deploys, and kubeadm's own rule for picking the etcd tag.
//!
//! What is read, in the shapes the file has had from 1.27 to 1.37:
//!
//! ```go
//! DefaultEtcdVersion = "3.5.15-0"            // also `Name string = "..."`, gofmt-aligned
//! CoreDNSVersion = "v1.11.3"
//! PauseVersion = "3.10"
//! SupportedEtcdVersion = map[uint8]string{
//!     // comment lines
//!     29: "3.5.15-0",                         // literal minor keys (1.27-1.34, 1.36 on)
//!     uint8(getSkewedKubernetesVersion(-1).Minor()): "3.5.24-0",   // 1.35 cycle
//! }
//! ```
//!
//! A declaration that is missing, declared twice, of another type, or a map entry of any
//! other form is an error that says what was expected: the values decide which images a
//! cluster runs, so nothing is guessed.

use std::collections::BTreeMap;

use super::snippet;

/// The values read from one tag's constants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeadmConstants {
    /// `DefaultEtcdVersion`.
    pub default_etcd: String,
    /// `SupportedEtcdVersion`, keys evaluated for the tag's minor.
    pub supported_etcd: BTreeMap<u8, String>,
    /// `CoreDNSVersion`.
    pub coredns: String,
    /// `PauseVersion`.
    pub pause: String,
}

/// How kubeadm's rule arrived at the etcd tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EtcdChoice {
    /// `SupportedEtcdVersion[minor]`.
    Exact,
    /// No key for the minor and the minor is outside the keys: the nearest key's value
    /// (kubeadm logs a warning).
    Nearest {
        /// The key used.
        key: u8,
    },
    /// No key for the minor but keys on both sides: kubeadm's lookup yields an empty string
    /// that fails to parse, so it deploys `DefaultEtcdVersion`.
    DefaultForGap,
}

/// The etcd tag a kubeadm deploys for its own minor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdSelection {
    /// The image tag, e.g. `3.5.15-0`.
    pub tag: String,
    /// How it was chosen.
    pub choice: EtcdChoice,
}

const SCALARS: [&str; 3] = ["DefaultEtcdVersion", "CoreDNSVersion", "PauseVersion"];
const MAP: &str = "SupportedEtcdVersion";
const MAP_TYPE: &str = "map[uint8]string{";
const SKEW_PREFIX: &str = "uint8(getSkewedKubernetesVersion(";
const SKEW_SUFFIX: &str = ").Minor())";

/// Parse the constants of a kubeadm of minor `minor` (needed to evaluate skew keys).
pub fn parse(text: &str, minor: u32) -> Result<KubeadmConstants, String> {
    let mut scalars: BTreeMap<&str, Vec<(usize, String)>> = BTreeMap::new();
    let mut maps: Vec<(usize, BTreeMap<u8, String>)> = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim_start();
        i += 1;
        if line.starts_with("//") {
            continue;
        }
        for name in SCALARS {
            if let Some(rest) = declares(line, name) {
                let value = scalar_value(rest).map_err(|e| {
                    format!("line {i}: {name} is declared as {}; {e}", snippet(line))
                })?;
                scalars.entry(name).or_default().push((i, value));
            }
        }
        if let Some(rest) = declares(line, MAP) {
            let start = i;
            if rest.trim_start_matches('=').trim() != MAP_TYPE || !rest.starts_with('=') {
                return Err(format!(
                    "line {start}: {MAP} is declared as {}; expected `{MAP} = {MAP_TYPE}` (a map from minor to etcd image tag)",
                    snippet(line)
                ));
            }
            let (map, next) = map_entries(&lines, i, minor)?;
            maps.push((start, map));
            i = next;
        }
    }
    let one = |name: &str| -> Result<String, String> {
        match scalars.get(name).map(Vec::as_slice) {
            None | Some([]) => Err(format!(
                "{name} not found: expected a line `{name} = \"...\"` (the declaration moved or was renamed)"
            )),
            Some([(_, v)]) => Ok(v.clone()),
            Some(many) => Err(format!(
                "{name} is declared {} times (lines {}); expected once",
                many.len(),
                many.iter()
                    .map(|(l, _)| l.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    };
    let default_etcd = one("DefaultEtcdVersion")?;
    check_etcd_tag(&default_etcd).map_err(|e| format!("DefaultEtcdVersion: {e}"))?;
    let coredns = one("CoreDNSVersion")?;
    check_image_tag(&coredns).map_err(|e| format!("CoreDNSVersion: {e}"))?;
    let pause = one("PauseVersion")?;
    check_image_tag(&pause).map_err(|e| format!("PauseVersion: {e}"))?;
    let supported_etcd = match maps.as_slice() {
        [] => {
            return Err(format!(
                "{MAP} not found: expected `{MAP} = {MAP_TYPE}` (the declaration moved or was renamed)"
            ));
        }
        [(_, m)] => m.clone(),
        many => {
            return Err(format!(
                "{MAP} is declared {} times (lines {}); expected once",
                many.len(),
                many.iter()
                    .map(|(l, _)| l.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    };
    Ok(KubeadmConstants {
        default_etcd,
        supported_etcd,
        coredns,
        pause,
    })
}

/// kubeadm's `EtcdSupportedVersion` for its own minor, then `GetEtcdImageTag`'s fallback:
/// the exact key; else, outside the keys, the nearest end (with kubeadm's warning); else (a
/// gap between keys) `DefaultEtcdVersion`.
pub fn select_etcd(c: &KubeadmConstants, minor: u32) -> Result<EtcdSelection, String> {
    let desired = u8::try_from(minor).map_err(|_| format!("minor {minor} does not fit uint8"))?;
    if let Some(tag) = c.supported_etcd.get(&desired) {
        return Ok(EtcdSelection {
            tag: tag.clone(),
            choice: EtcdChoice::Exact,
        });
    }
    let (Some((&min, low)), Some((&max, high))) = (
        c.supported_etcd.first_key_value(),
        c.supported_etcd.last_key_value(),
    ) else {
        return Err(format!("{MAP} is empty"));
    };
    let (tag, choice) = if desired < min {
        (low.clone(), EtcdChoice::Nearest { key: min })
    } else if desired > max {
        (high.clone(), EtcdChoice::Nearest { key: max })
    } else {
        (c.default_etcd.clone(), EtcdChoice::DefaultForGap)
    };
    Ok(EtcdSelection { tag, choice })
}

/// If `line` declares `name` (`name = ...`, `name string = ...`, `const name = ...`,
/// `var name = ...`) the text after the name; a use such as `x := name` or `nameSuffix` is not a declaration.
fn declares<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let line = line
        .strip_prefix("const ")
        .or_else(|| line.strip_prefix("var "))
        .map_or(line, str::trim_start);
    let rest = line.strip_prefix(name)?;
    match rest.chars().next() {
        Some(' ' | '\t' | '=') => Some(rest.trim_start()),
        _ => None,
    }
}

/// `= "value"` or `string = "value"`, then nothing but an optional `//` comment.
fn scalar_value(rest: &str) -> Result<String, &'static str> {
    const EXPECTED: &str = "expected `= \"...\"` (an untyped or string constant)";
    let rest = match rest.strip_prefix("string") {
        Some(r) if r.starts_with([' ', '\t', '=']) => r.trim_start(),
        _ => rest,
    };
    let rest = rest.strip_prefix('=').ok_or(EXPECTED)?.trim_start();
    let (value, after) = string_literal(rest).ok_or(EXPECTED)?;
    let after = after.trim();
    if !after.is_empty() && !after.starts_with("//") {
        return Err(EXPECTED);
    }
    Ok(value.to_string())
}

/// A Go interpreted string literal without escapes at the start of `s`, and the rest.
fn string_literal(s: &str) -> Option<(&str, &str)> {
    let inner = s.strip_prefix('"')?;
    let end = inner.find('"')?;
    let value = &inner[..end];
    if value.contains('\\') {
        return None;
    }
    Some((value, &inner[end + 1..]))
}

/// The entries of the map literal starting at `lines[i]`, up to its closing `}`; returns
/// the map and the index of the line after the brace.
fn map_entries(
    lines: &[&str],
    mut i: usize,
    minor: u32,
) -> Result<(BTreeMap<u8, String>, usize), String> {
    let mut map = BTreeMap::new();
    while i < lines.len() {
        let line = lines[i].trim();
        i += 1;
        if line.is_empty() || line.starts_with("//") {
            continue;
        }
        if line == "}" {
            return Ok((map, i));
        }
        let (key, value) = map_entry(line, minor).map_err(|e| {
            format!(
                "line {i}: {MAP} entry {}: {e}; expected `MINOR: \"TAG\",` or `uint8(getSkewedKubernetesVersion(N).Minor()): \"TAG\",`",
                snippet(line)
            )
        })?;
        check_etcd_tag(&value).map_err(|e| format!("line {i}: {MAP}[{key}]: {e}"))?;
        if map.insert(key, value).is_some() {
            return Err(format!("line {i}: {MAP} has key {key} twice"));
        }
    }
    Err(format!("{MAP}: no closing `}}` before the end of the file"))
}

fn map_entry(line: &str, minor: u32) -> Result<(u8, String), String> {
    let (key_text, rest) = line
        .split_once(": ")
        .or_else(|| line.split_once(":\t"))
        .ok_or("no `KEY: VALUE`")?;
    let key = if let Some(inner) = key_text
        .strip_prefix(SKEW_PREFIX)
        .and_then(|k| k.strip_suffix(SKEW_SUFFIX))
    {
        let n: i64 = go_int(inner).ok_or("the skew is not an integer")?;
        let k = i64::from(minor) + n;
        u8::try_from(k).map_err(|_| format!("skew {n} from minor {minor} is outside 0-255"))?
    } else {
        let n = go_int(key_text).ok_or("the key is not a minor number")?;
        u8::try_from(n).map_err(|_| format!("key {n} is outside 0-255"))?
    };
    let (value, after) = string_literal(rest.trim_start()).ok_or("the value is not a string")?;
    let after = after.trim();
    let after = after
        .strip_prefix(',')
        .ok_or("no `,` after the value")?
        .trim();
    if !after.is_empty() && !after.starts_with("//") {
        return Err("text after the entry".into());
    }
    Ok((key, value.to_string()))
}

/// A decimal integer as Go writes it in these files (optional `-`, no leading zeros).
fn go_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty()
        || digits.len() > 3
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || (digits.len() > 1 && digits.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// An etcd image tag as kubeadm parses it (`version.ParseSemantic`): `X.Y.Z` with an
/// optional image revision (`-0`, `-1`) or pre-release (`-rc.0`).
fn check_etcd_tag(tag: &str) -> Result<(), String> {
    let (core, pre) = match tag.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (tag, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    let num = |p: &&str| {
        !p.is_empty()
            && p.len() <= 6
            && p.bytes().all(|b| b.is_ascii_digit())
            && (p.len() == 1 || !p.starts_with('0'))
    };
    let pre_ok = pre.is_none_or(|p| {
        !p.is_empty()
            && p.split('.').all(|id| {
                !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
    });
    if parts.len() != 3 || !parts.iter().all(num) || !pre_ok {
        return Err(format!(
            "{:?} is not an etcd version tag (expected X.Y.Z or X.Y.Z-N)",
            crate::escape::Untrusted(tag)
        ));
    }
    check_image_tag(tag)
}

/// An image tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn check_image_tag(tag: &str) -> Result<(), String> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && !tag.starts_with(['.', '-'])
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{:?} is not an image tag",
            crate::escape::Untrusted(tag)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The const block and map as release-1.31 had them (shape A), with our values.
    fn shape_a(map: &str) -> String {
        format!(
            "package constants\n\nconst (\n\t// ModeNode string\n\tModeNode string = \"Node\"\n\n\t// MinExternalEtcdVersion indicates minimum external etcd version which kubeadm supports\n\tMinExternalEtcdVersion = \"3.5.11-0\"\n\n\t// DefaultEtcdVersion indicates the default etcd version that kubeadm uses\n\tDefaultEtcdVersion = \"3.5.15-0\"\n\n\t// CoreDNSVersion is the version of CoreDNS to be deployed if it is used\n\tCoreDNSVersion = \"v1.11.3\"\n\n\t// PauseVersion indicates the default pause image version for kubeadm\n\tPauseVersion = \"3.10\"\n)\n\nvar (\n\t// SupportedEtcdVersion lists officially supported etcd versions with corresponding Kubernetes releases\n\tSupportedEtcdVersion = map[uint8]string{{\n{map}\t}}\n)\n\nfunc EtcdSupportedVersion(supportedEtcdVersion map[uint8]string, versionString string) {{\n\tetcdStringVersion = supportedEtcdVersion[min]\n\treturn DefaultEtcdVersion\n}}\n"
        )
    }

    fn entries(pairs: &[(u8, &str)]) -> String {
        pairs
            .iter()
            .map(|(k, v)| format!("\t\t{k}: \"{v}\",\n"))
            .collect()
    }

    #[test]
    fn reads_the_release_1_31_shape() {
        let c = parse(
            &shape_a(&entries(&[
                (29, "3.5.15-0"),
                (30, "3.5.15-0"),
                (31, "3.5.15-0"),
            ])),
            31,
        )
        .unwrap();
        assert_eq!(c.default_etcd, "3.5.15-0");
        assert_eq!(c.coredns, "v1.11.3");
        assert_eq!(c.pause, "3.10");
        assert_eq!(c.supported_etcd.len(), 3);
        let s = select_etcd(&c, 31).unwrap();
        assert_eq!((s.tag.as_str(), s.choice), ("3.5.15-0", EtcdChoice::Exact));
    }

    #[test]
    fn the_map_value_wins_over_the_default() {
        // release-1.32 after Nov 2025 (shape B): DefaultEtcdVersion 3.5.16-0, map[32] 3.5.24-0.
        let text = shape_a(&entries(&[
            (29, "3.5.24-0"),
            (30, "3.5.24-0"),
            (31, "3.5.24-0"),
            (32, "3.5.24-0"),
        ]))
        .replace(
            "DefaultEtcdVersion = \"3.5.15-0\"",
            "DefaultEtcdVersion = \"3.5.16-0\"",
        );
        let c = parse(&text, 32).unwrap();
        assert_eq!(c.default_etcd, "3.5.16-0");
        assert_eq!(select_etcd(&c, 32).unwrap().tag, "3.5.24-0");
    }

    #[test]
    fn long_maps_and_the_nearest_key_fallback() {
        // 1.28-1.30 era: keys 22..30 (shape C); v1.27.2 had no key 27 below... here keys
        // above and below, and the v1.27.2 case: no key 27, all keys below.
        let long: Vec<(u8, &str)> = (22..=30).map(|k| (k, "3.5.12-0")).collect();
        let c = parse(&shape_a(&entries(&long)), 30).unwrap();
        assert_eq!(select_etcd(&c, 29).unwrap().choice, EtcdChoice::Exact);
        let c = parse(
            &shape_a(&entries(&[
                (24, "3.5.6-0"),
                (25, "3.5.6-0"),
                (26, "3.5.7-0"),
            ])),
            27,
        )
        .unwrap();
        let s = select_etcd(&c, 27).unwrap();
        assert_eq!(s.tag, "3.5.7-0");
        assert_eq!(s.choice, EtcdChoice::Nearest { key: 26 });
        let s = select_etcd(&c, 20).unwrap();
        assert_eq!(
            (s.tag.as_str(), s.choice),
            ("3.5.6-0", EtcdChoice::Nearest { key: 24 })
        );
    }

    #[test]
    fn a_gap_in_the_keys_deploys_the_default() {
        let c = parse(
            &shape_a(&entries(&[(29, "3.5.15-0"), (31, "3.5.16-0")])),
            30,
        )
        .unwrap();
        let s = select_etcd(&c, 30).unwrap();
        assert_eq!(
            (s.tag.as_str(), s.choice),
            ("3.5.15-0", EtcdChoice::DefaultForGap)
        );
    }

    #[test]
    fn skew_keys_comments_alignment_and_revisions() {
        // Shape E (1.35 cycle): expression keys, gofmt-aligned values, a comment block.
        let map = "\t\t// - DefaultEtcdVersion: with etcd version used for the current k8s release (0).\n\t\t// The maximum length of the map should be 2, as kubeadm supports a maximum skew of -1\n\t\t// with the control plane version.\n\t\tuint8(getSkewedKubernetesVersion(-1).Minor()): \"3.5.24-0\",\n\t\tuint8(getSkewedKubernetesVersion(0).Minor()):  \"3.6.6-0\",\n";
        let c = parse(&shape_a(map), 35).unwrap();
        assert_eq!(
            c.supported_etcd,
            BTreeMap::from([(34, "3.5.24-0".to_string()), (35, "3.6.6-0".to_string())])
        );
        assert_eq!(select_etcd(&c, 35).unwrap().tag, "3.6.6-0");
        // Old gofmt alignment of one-digit keys, an image revision -1, trailing comments.
        let map = "\t\t9:  \"3.1.12\",\n\t\t10: \"3.2.24\", // comment\n\t\t34: \"3.6.1-1\",\n";
        let c = parse(&shape_a(map), 34).unwrap();
        assert_eq!(c.supported_etcd[&9], "3.1.12");
        assert_eq!(select_etcd(&c, 34).unwrap().tag, "3.6.1-1");
        // Typed string constants and a gofmt-aligned `=`.
        let text = shape_a(&entries(&[(31, "3.5.15-0")])).replace(
            "PauseVersion = \"3.10\"",
            "PauseVersion string   = \"3.10\"",
        );
        assert_eq!(parse(&text, 31).unwrap().pause, "3.10");
    }

    #[test]
    fn moved_or_retyped_declarations_are_errors() {
        let good = shape_a(&entries(&[(31, "3.5.15-0")]));
        let cases = [
            (
                good.replace("\tDefaultEtcdVersion = \"3.5.15-0\"\n", ""),
                "DefaultEtcdVersion not found",
            ),
            (
                good.replace("PauseVersion = \"3.10\"", "PauseVersion = pauseVersion()"),
                "PauseVersion is declared as",
            ),
            (
                good.replace("CoreDNSVersion = \"v1.11.3\"", "CoreDNSVersion int = 3"),
                "CoreDNSVersion is declared as",
            ),
            (
                good.replace("map[uint8]string{", "map[string]string{"),
                "SupportedEtcdVersion is declared as",
            ),
            (
                good.replace("SupportedEtcdVersion = map", "supportedEtcd = map"),
                "SupportedEtcdVersion not found",
            ),
            (
                good.replace("31: \"3.5.15-0\",", "31: etcdVersion,"),
                "the value is not a string",
            ),
            (
                good.replace("31: \"3.5.15-0\",", "31: \"latest\","),
                "not an etcd version tag",
            ),
            (
                good.replace(
                    "31: \"3.5.15-0\",",
                    "31: \"3.5.15-0\",\n\t\t31: \"3.5.16-0\",",
                ),
                "key 31 twice",
            ),
            (good.replace("\t}\n)", "\t\n)"), "entry `)`"),
            (
                format!("{good}\nconst (\n\tPauseVersion = \"3.11\"\n)\n"),
                "PauseVersion is declared 2 times",
            ),
        ];
        for (text, needle) in cases {
            assert_ne!(text, good, "case {needle} did not change the text");
            let e = parse(&text, 31).unwrap_err();
            assert!(e.contains(needle), "{needle}: {e}");
        }
        let e = parse("package constants\n", 31).unwrap_err();
        assert!(e.contains("not found"), "{e}");
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,400}", minor in 0u32..300) {
            if let Ok(c) = parse(&s, minor) {
                let _ = select_etcd(&c, minor);
            }
        }

        #[test]
        fn selection_follows_kubeadm(keys in proptest::collection::btree_set(0u8..60, 1..6), minor in 0u32..60) {
            let map: Vec<(u8, String)> = keys.iter().map(|k| (*k, format!("3.{k}.0-0"))).collect();
            let body: String = map.iter().map(|(k, v)| format!("\t\t{k}: \"{v}\",\n")).collect();
            let c = parse(&shape_a(&body), minor).unwrap();
            let s = select_etcd(&c, minor).unwrap();
            let m = minor as u8;
            let (min, max) = (*keys.first().unwrap(), *keys.last().unwrap());
            let expected = if keys.contains(&m) {
                format!("3.{m}.0-0")
            } else if m < min {
                format!("3.{min}.0-0")
            } else if m > max {
                format!("3.{max}.0-0")
            } else {
                "3.5.15-0".to_string()
            };
            proptest::prop_assert_eq!(s.tag, expected);
        }
    }
}
