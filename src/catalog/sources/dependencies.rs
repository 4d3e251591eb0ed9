//! `build/dependencies.yaml` at a tag: the crictl and CNI plugin versions a release pins.
//!
//! ```yaml
//! dependencies:
//!   - name: "cni"
//!     version: 1.4.0
//!     refPaths: [...]
//!   - name: "crictl"
//!     version: 1.29.0
//! ```
//!
//! Only `name` and `version` of each entry are read (other entries and keys are the
//! file's own business); `cni` and `crictl` must each appear once with an `X.Y.Z` version.

use serde::Deserialize;

/// The pins read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildDependencies {
    /// crictl release, with a `v`: `v1.29.0`.
    pub crictl: String,
    /// CNI plugins release, with a `v`: `v1.4.0`.
    pub cni: String,
}

#[derive(Deserialize)]
struct File {
    dependencies: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    name: String,
    // Kept as written: serde-saphyr gives a plain scalar such as 1.30 as "1.30", not 1.3.
    #[serde(default)]
    version: Option<String>,
}

/// Parse the file.
pub fn parse(text: &str) -> Result<BuildDependencies, String> {
    let file: File = serde_saphyr::from_str(text).map_err(|e| {
        format!(
            "not the expected YAML (a `dependencies:` list of entries with `name` and `version`): {}",
            crate::escape::Untrusted(&e.to_string())
        )
    })?;
    let pick = |name: &str| -> Result<String, String> {
        let found: Vec<&Entry> = file
            .dependencies
            .iter()
            .filter(|e| e.name == name)
            .collect();
        let entry = match found.as_slice() {
            [one] => one,
            [] => return Err(format!("no entry `name: \"{name}\"` in `dependencies`")),
            _ => return Err(format!("entry `{name}` is listed {} times", found.len())),
        };
        let v = entry
            .version
            .as_deref()
            .ok_or_else(|| format!("entry `{name}` has no version"))?;
        release_version(v).ok_or_else(|| {
            format!(
                "entry `{name}`: version {:?} is not X.Y.Z",
                crate::escape::Untrusted(v)
            )
        })
    };
    Ok(BuildDependencies {
        crictl: pick("crictl")?,
        cni: pick("cni")?,
    })
}

/// `1.29.0` or `v1.29.0` -> `v1.29.0`.
fn release_version(v: &str) -> Option<String> {
    let bare = v.strip_prefix('v').unwrap_or(v);
    let parts: Vec<&str> = bare.split('.').collect();
    let ok = parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.len() <= 6
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p.len() == 1 || !p.starts_with('0'))
        });
    ok.then(|| format!("v{bare}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"dependencies:
  # zeitgeist
  - name: "zeitgeist"
    version: "v0.2.0"
    refPaths:
    - path: hack/verify-external-dependencies-version.sh
      match: sigs.k8s.io/zeitgeist@v.*

  # CNI plugins
  - name: "cni"
    version: 1.8.0
    refPaths:
    - path: cluster/gce/config-common.sh
      match: WINDOWS_CNI_VERSION=

  - name: "crictl"
    version: 1.35.0
    refPaths:
    - path: cluster/gce/windows/k8s-node-setup.psm1
      match: CRICTL_VERSION =

  - name: "protoc"
    version: 23.4
    refPaths:
    - path: hack/lib/protoc.sh

  - name: "registry.k8s.io/pause"
    version: 3.10
    refPaths:
    - path: build/pause/Makefile
      mathc: TAG\s*\?=
"#;

    #[test]
    fn reads_crictl_and_cni() {
        let d = parse(SAMPLE).unwrap();
        assert_eq!(d.crictl, "v1.35.0");
        assert_eq!(d.cni, "v1.8.0");
    }

    #[test]
    fn refuses_what_it_does_not_recognise() {
        let cases = [
            (
                SAMPLE.replace("name: \"crictl\"", "name: \"cri-tools\""),
                "no entry `name: \"crictl\"`",
            ),
            (
                SAMPLE.replace("version: 1.8.0", "version: 1.8"),
                "not X.Y.Z",
            ),
            (
                SAMPLE.replace("version: 1.8.0", "version: latest"),
                "not X.Y.Z",
            ),
            (
                format!("{SAMPLE}  - name: cni\n    version: 1.9.0\n"),
                "listed 2 times",
            ),
            ("deps: []\n".to_string(), "not the expected YAML"),
            ("<html>404</html>".to_string(), "not the expected YAML"),
        ];
        for (text, needle) in cases {
            let e = parse(&text).unwrap_err();
            assert!(e.contains(needle), "{needle}: {e}");
        }
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,300}") {
            let _ = parse(&s);
        }

        #[test]
        fn versions_round_trip(a in 0u32..100, b in 0u32..100, c in 0u32..100) {
            let text = format!("dependencies:\n  - name: cni\n    version: {a}.{b}.{c}\n  - name: crictl\n    version: v{a}.{b}.{c}\n");
            let d = parse(&text).unwrap();
            proptest::prop_assert_eq!(&d.cni, &format!("v{a}.{b}.{c}"));
            proptest::prop_assert_eq!(d.crictl, d.cni);
        }
    }
}
