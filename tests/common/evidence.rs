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

impl Sbom {
    /// The package URL of the component `bom_ref`.
    pub fn purl(&self, bom_ref: &str) -> &str {
        self.component(bom_ref)["purl"].as_str().expect("a purl")
    }

    /// The NTIA elements of the SBOM itself: when (`timestamp`), by whom, supplied by
    /// whom; and a supplier for every component fetched from upstream (a file from the
    /// builder's disk, the lock and the catalog have none: nothing says who made them).
    pub fn assert_ntia_metadata(&self, timestamp: &str) {
        let meta = &self.doc["metadata"];
        assert_eq!(meta["timestamp"], timestamp);
        let author = meta["authors"][0]["name"].as_str().unwrap_or_default();
        assert!(author.starts_with("airlock "), "{meta}");
        assert_eq!(meta["supplier"]["name"], "The Kubernetes Authors");
        for c in self.doc["components"].as_array().expect("components") {
            let props = c["properties"].as_array().cloned().unwrap_or_default();
            let local = props.iter().any(|p| {
                p["name"] == "airlock:source"
                    && !p["value"]
                        .as_str()
                        .is_some_and(|v| v.starts_with("https://"))
            });
            let fetched = !local && c["type"] != "data";
            assert_eq!(c["supplier"]["name"].is_string(), fetched, "{c}");
        }
    }
}

/// The digests of the platform manifests an upstream index lists.
pub fn listed_manifests(index: &serde_json::Value) -> Vec<String> {
    let listed = super::each(&index["manifests"], "digest");
    listed.into_iter().map(String::from).collect()
}

/// The SBOM refs of the config and layers of `REPO@DIGEST` as upstream serves it.
pub fn upstream_blob_refs(s: &Scenario, repository: &str, digest: &str) -> Vec<String> {
    let (_, m) = upstream_raw(s, &format!("{repository}@{digest}"));
    let layers = m["layers"].as_array().expect("layers");
    std::iter::once(&m["config"])
        .chain(layers)
        .map(|d| format!("blob:{}", d["digest"].as_str().expect("digest")))
        .collect()
}

/// The YAML file `path` as a JSON file beside it (a schema describes the data).
pub fn yaml_as_json(path: &Path) -> PathBuf {
    let text = std::fs::read_to_string(path).expect("read YAML");
    let v: serde_json::Value = serde_saphyr::from_str(&text).expect("YAML");
    write_json(&path.with_extension("json"), &v)
}

/// Install `bundle` into a new registry with the state in a new directory; the receipt.
pub fn install_receipt(s: &Scenario, bundle: &Path) -> PathBuf {
    let (enclave, state) = (super::servers::Registry::start(), s.path("state"));
    let args = ["--state-dir", state.to_str().expect("utf-8")];
    let out = s.install(bundle, &enclave, &s.path("dest"), &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    state.join("receipts/000001.json")
}
