//! Upstream provenance in the change report (issue 23): a bundle built from a lock whose
//! signatures resolve checked against the test Sigstore world has a provenance section
//! that names, for every carried artifact, the signature the manifest records or the
//! exception; its JSON passes the schema (the `jsonschema` package), its times agree with
//! GNU `date`, the SBOM (checked by the CycloneDX project's validator) records the same
//! per component, and Chromium renders the section with its digests on at most two lines.

use std::process::Command;

use crate::common::board::{assert_first_page, measure};
use crate::common::check::assert_contains;
use crate::common::cli::ok;
use crate::common::evidence::{assert_cyclonedx_valid, assert_valid};
use crate::common::images::sha256_hex;
use crate::common::provenance::Signing;
use crate::common::upstream::{Opts, Upstream};
use crate::provenance::{PAUSE, PAUSE_NAME, resolve, sign_all};

/// GNU `date`'s UTC rendering of Unix seconds `t`, as RFC 3339.
fn gnu_date(t: i64) -> String {
    let out = Command::new("date")
        .args(["-u", "-d", &format!("@{t}"), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .expect("run date");
    ok(&out);
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A checked world: everything signed but pause, let in by `--allow-unsigned`; built.
fn built() -> (Upstream, Signing) {
    let u = Upstream::new(Opts::default());
    let mut s = Signing::new();
    sign_all(&mut s, &u, &[PAUSE]);
    let rekor = s.rekor();
    ok(&resolve(
        &u,
        &s,
        &rekor.url,
        &["--allow-unsigned", PAUSE_NAME],
    ));
    let (_key, out) = u.keygen_and_build();
    ok(&out);
    (u, s)
}

#[test]
fn the_report_names_every_artifacts_signer_or_its_exception() {
    let (u, s) = built();
    let bundle = u.path("bundle");
    let manifest = crate::common::read_json(&bundle.join("manifest.json"));
    let carried = manifest["provenance"]["artifacts"].as_array().unwrap();
    let report_json = bundle.join("report/change-report.json");
    assert_valid("change-report.schema.json", &report_json);
    let report = crate::common::read_json(&report_json);
    let p = &report["provenance"];
    assert_eq!(p["checked"], true);
    let root = std::fs::read(s.trusted_root()).unwrap();
    assert_eq!(
        p["trusted_root_sha256"],
        format!("sha256:{}", sha256_hex(&root))
    );

    // One line per image and file the manifest carries.
    let lines = p["artifacts"].as_array().unwrap();
    let carried_count =
        manifest["images"].as_array().unwrap().len() + manifest["files"].as_array().unwrap().len();
    assert_eq!(lines.len(), carried_count);
    let mut signed = 0;
    for l in lines {
        let name = l["artifact"].as_str().unwrap();
        let Some(c) = carried.iter().find(|c| c["artifact"] == name) else {
            assert_contains(l["exception"].as_str().unwrap(), "provenance not checked");
            continue;
        };
        assert_eq!(
            l["digest"],
            format!("sha256:{}", c["digest"].as_str().unwrap())
        );
        if c["signature"].is_null() {
            assert!(l["signature"].is_null());
            assert_eq!(l["exception"], c["unsigned_exception"]);
            assert_contains(l["exception"].as_str().unwrap(), "--allow-unsigned");
            continue;
        }
        signed += 1;
        let (r, m) = (&l["signature"], &c["signature"]);
        for field in ["identity", "issuer", "log_index"] {
            assert_eq!(r[field], m[field], "{name} {field}");
        }
        assert_eq!(r["source"], m["source"], "{name}");
        assert!(
            ["referrer", "sig-tag", "blob"].contains(&r["source"].as_str().unwrap()),
            "{r}"
        );
        assert_eq!(
            r["integrated_time"],
            gnu_date(m["integrated_time"].as_i64().unwrap()),
            "{name}"
        );
        assert!(l["exception"].is_null());
    }
    assert_eq!(signed, carried.len() - 1, "all but pause are signed");
    let summary = p["summary"].as_str().unwrap();
    assert!(
        summary.starts_with(&format!(
            "{signed} of {carried_count} artifacts signed by Kubernetes; "
        )),
        "{summary}"
    );
    assert_contains(summary, &format!("{PAUSE_NAME} (--allow-unsigned)"));

    sbom_records_each_signature(&bundle, lines);

    // The Markdown says it on the first page and in section 11.
    let md = std::fs::read_to_string(bundle.join("report/change-report.md")).unwrap();
    assert_contains(
        &md,
        &format!("| **Upstream provenance** | {summary} (section 11) |"),
    );
    assert_contains(&md, "## 11. Upstream provenance");
    assert_contains(&md, &sha256_hex(&root));

    // Chromium renders the section; the first page still decides and digests wrap cleanly.
    let html = bundle.join("report/change-report.html");
    let m = measure(&html, u.work.path());
    assert_first_page(&m, lines.len());
    let dom = Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(format!("--user-data-dir={}", u.path("chrome").display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("run chromium (scripts/test.sh installs it)");
    ok(&dom);
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert_contains(&dom, "11. Upstream provenance");
    assert_contains(&dom, summary);
}

/// Every image and file component of the bundle's SBOM, which the CycloneDX validator
/// accepts, records the report's signature facts or exception as `airlock:provenance:*`.
fn sbom_records_each_signature(bundle: &std::path::Path, lines: &[serde_json::Value]) {
    let path = bundle.join("report/sbom.cdx.json");
    assert_cyclonedx_valid(&path);
    let sbom = crate::common::read_json(&path);
    let components = sbom["components"].as_array().unwrap();
    for l in lines {
        let name = l["artifact"].as_str().unwrap();
        let wanted = match l["kind"].as_str().unwrap() {
            "image" => ("airlock:served-digest", None),
            _ => ("airlock:source", Some(name)),
        };
        let prop = |c: &serde_json::Value, key: &str| -> Option<String> {
            c["properties"]
                .as_array()?
                .iter()
                .find(|p| p["name"] == key)
                .map(|p| p["value"].as_str().unwrap().to_owned())
        };
        // Images by their purl's upstream digest and repository, files by source URL.
        let c = components
            .iter()
            .find(|c| match wanted.1 {
                Some(src) => prop(c, wanted.0).as_deref() == Some(src),
                None => {
                    let purl = c["purl"].as_str().unwrap_or_default();
                    let digest = l["digest"].as_str().unwrap().replace(':', "%3A");
                    let repo = name.rsplit_once(':').unwrap().0;
                    prop(c, wanted.0).is_some()
                        && purl.contains(&format!("@{digest}?"))
                        && purl.contains(&format!("repository_url={repo}"))
                }
            })
            .unwrap_or_else(|| panic!("no SBOM component for {name}"));
        match l["signature"].as_object() {
            Some(s) => {
                for (key, field) in [
                    ("identity", "identity"),
                    ("issuer", "issuer"),
                    ("integrated-time", "integrated_time"),
                    ("source", "source"),
                ] {
                    assert_eq!(
                        prop(c, &format!("airlock:provenance:{key}")).as_deref(),
                        s[field].as_str(),
                        "{name} {key}"
                    );
                }
                assert_eq!(
                    prop(c, "airlock:provenance:rekor-log-index"),
                    Some(s["log_index"].to_string()),
                    "{name}"
                );
                assert_eq!(prop(c, "airlock:provenance:exception"), None);
            }
            None => assert_eq!(
                prop(c, "airlock:provenance:exception").as_deref(),
                l["exception"].as_str(),
                "{name}"
            ),
        }
    }
}
