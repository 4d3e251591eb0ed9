//! Checking evidence with validators nobody here wrote: the CycloneDX project's own
//! validator for SBOMs, and the `jsonschema` package (draft 2020-12) for the JSON Schemas
//! in docs/schemas. Both run in the test virtualenv (`AIRLOCK_TEST_PYTHON`, which
//! scripts/test.sh makes).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::images::{sha256_digest, skopeo_inspect_raw_with_creds};
use super::scenario::Scenario;

/// The Python of the test virtualenv.
pub fn python() -> String {
    std::env::var("AIRLOCK_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// The checked-in schemas.
pub fn schema_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/schemas")
}

/// Every schema is checked against the 2020-12 metaschema, then `doc` against `schema`
/// (a file name in docs/schemas); the shared definitions are found by their `$id`.
const VALIDATE: &str = r#"
import json, sys, pathlib
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
schemas = {p.name: json.loads(p.read_text()) for p in pathlib.Path(sys.argv[1]).glob("*.schema.json")}
for s in schemas.values():
    Draft202012Validator.check_schema(s)
registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas.values())
validator = Draft202012Validator(schemas[sys.argv[2]], registry=registry)
errors = list(validator.iter_errors(json.load(open(sys.argv[3]))))
for e in errors:
    print("/" + "/".join(map(str, e.absolute_path)), e.message)
sys.exit(1 if errors else 0)
"#;

/// Validate the JSON file `doc` against docs/schemas/`schema`; the validator's output.
pub fn validate(schema: &str, doc: &Path) -> Output {
    Command::new(python())
        .args(["-c", VALIDATE])
        .arg(schema_dir())
        .arg(schema)
        .arg(doc)
        .output()
        .expect("run jsonschema (scripts/test.sh installs it)")
}

/// `doc` is valid under `schema`, or the test fails with the validator's findings.
pub fn assert_valid(schema: &str, doc: &Path) {
    let o = validate(schema, doc);
    assert!(
        o.status.success(),
        "{} is not valid under {schema}:\n{}{}",
        doc.display(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// `doc` is refused under `schema`, and the validator names `needle`.
pub fn assert_invalid(schema: &str, doc: &Path, needle: &str) {
    let o = validate(schema, doc);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{}: {out}", doc.display());
    assert!(out.contains(needle), "{needle:?} not in: {out}");
}

/// Write `v` as JSON to `path` and return it.
pub fn write_json(path: &Path, v: &serde_json::Value) -> PathBuf {
    std::fs::write(path, serde_json::to_vec_pretty(v).expect("JSON")).expect("write JSON");
    path.to_path_buf()
}

/// The SBOM at `path` passes the CycloneDX project's strict JSON validator.
pub fn assert_cyclonedx_valid(path: &Path) {
    let script = r#"
import json, sys
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
data = open(sys.argv[1]).read()
err = JsonStrictValidator(SchemaVersion.from_version(json.loads(data)["specVersion"])).validate_str(data)
print("valid" if err is None else repr(err))
sys.exit(0 if err is None else 1)
"#;
    let o = Command::new(python())
        .args(["-c", script])
        .arg(path)
        .output()
        .expect("run the CycloneDX validator (scripts/test.sh installs it)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
}

/// What the scenario's upstream registry serves for `reference` (`REPO:TAG` or
/// `REPO@DIGEST`), by `skopeo inspect --raw`: its digest and parsed JSON.
pub fn upstream_raw(s: &Scenario, reference: &str) -> (String, serde_json::Value) {
    let raw = skopeo_inspect_raw_with_creds(
        &format!("{}/{reference}", s.upstream.host()),
        s.upstream.credentials(),
    );
    let v = serde_json::from_slice(&raw).expect("a manifest or index");
    (sha256_digest(&raw), v)
}

/// The components and dependencies of a CycloneDX SBOM, by `bom-ref`.
pub struct Sbom {
    /// The document.
    pub doc: serde_json::Value,
}

impl Sbom {
    /// Read `path`.
    pub fn read(path: &Path) -> Sbom {
        Sbom {
            doc: super::read_json(path),
        }
    }

    /// The component whose `bom-ref` starts with `prefix`.
    pub fn component(&self, prefix: &str) -> &serde_json::Value {
        self.doc["components"]
            .as_array()
            .expect("components")
            .iter()
            .find(|c| c["bom-ref"].as_str().is_some_and(|r| r.starts_with(prefix)))
            .unwrap_or_else(|| panic!("no component {prefix}"))
    }

    /// What `bom_ref` depends on.
    pub fn depends_on(&self, bom_ref: &str) -> Vec<String> {
        let deps = self.doc["dependencies"].as_array().expect("dependencies");
        let d = deps.iter().find(|d| d["ref"] == bom_ref);
        d.and_then(|d| d["dependsOn"].as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }
}
