//! What the report is made from, and reading it: the bundle's manifest, its recorded
//! hop facts and signature comments, and cluster dumps. Dumps come from outside airlock
//! and can be large: every file is read through a size bound and parsed as it streams.
//! The CVE feed is read in [`super::cve`]; the policy is loaded and evaluated by
//! `airlock-verify` and handed in as an [`Evaluation`].

use super::{CveFinding, NodeCount};
use crate::cluster::{Dump, RemovedApi};
use crate::lock::HopFacts;
use crate::manifest::BundleManifest;
use crate::trust::policy::Evaluation;

/// Everything the report is made from.
#[derive(Default)]
pub struct Inputs<'a> {
    /// The bundle's signed manifest.
    pub manifest: Option<&'a BundleManifest>,
    /// The manifest's sha256, when known (not inside the bundle it describes).
    pub manifest_sha256: Option<String>,
    /// Facts the resolve recorded about the hop (removed APIs, skew, support dates).
    pub facts: Option<&'a HopFacts>,
    /// A cluster dump, when given.
    pub dump: Option<&'a Dump>,
    /// CVE findings, when a feed was given.
    pub cves: Option<Vec<CveFinding>>,
    /// Earlier bundles this one is compared with (`--since`): (manifest sha256, manifest).
    pub since: Vec<(String, &'a BundleManifest)>,
    /// How the signatures meet a policy, when one was given. Without one the report
    /// lists no signature: what a signature claims is not an approval until a policy
    /// counts it, and the report inside the bundle is written before any exists.
    pub approvals: Option<&'a Evaluation>,
    /// The time the report is read at (`--now`), marked on the window.
    pub now: Option<crate::time::Timestamp>,
    /// The node count (`--nodes`); otherwise counted from the dump.
    pub nodes: Option<NodeCount>,
    /// The change request number (`--change`).
    pub change: Option<String>,
}

/// Read a bundle's manifest (its signature is not checked here: the report says what
/// the manifest says; verification is `airlock-verify`'s job) and its sha256.
pub fn load_manifest(dir: &std::path::Path) -> crate::Result<(BundleManifest, String)> {
    let bytes = crate::fsutil::read_limited(
        &dir.join(crate::layout::MANIFEST_FILE),
        crate::manifest::MAX_MANIFEST_JSON_BYTES,
        "bundle manifest",
    )?;
    let m = BundleManifest::parse_verified(&bytes)?;
    Ok((m, crate::digest::Sha256Digest::of(&bytes).hex()))
}

/// Largest `report/change-report.json` read back: the build writes tens of kilobytes
/// (the largest part lists every image and file); the bound keeps a planted file from
/// being read whole.
pub const MAX_REPORT_JSON_BYTES: u64 = 64 * 1024 * 1024;

/// The hop facts the build recorded in the bundle's own report.
pub fn facts_from_bundle(dir: &std::path::Path) -> crate::Result<Option<HopFacts>> {
    let path = dir.join(crate::layout::DocPath::ReportJson.file_name());
    if !path.exists() {
        return Ok(None);
    }
    let invalid = |e: serde_json::Error| crate::Error::invalid("change report", path.display(), e);
    let bytes = crate::fsutil::read_limited(&path, MAX_REPORT_JSON_BYTES, "change report")?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(invalid)?;
    let removed: Vec<RemovedApi> =
        serde_json::from_value(v["apis"]["removed"].clone()).map_err(invalid)?;
    // Reports of bundles without add-ons have none.
    let addons = match v.get("addons") {
        None => Vec::new(),
        Some(a) => serde_json::from_value(a.clone()).map_err(invalid)?,
    };
    Ok(Some(HopFacts {
        removed_apis: removed,
        kubelet_max_minors_older: v["facts"]["kubelet_max_minors_older"].as_u64().unwrap_or(3)
            as u32,
        kube_proxy_max_minors_older: v["facts"]["kube_proxy_max_minors_older"]
            .as_u64()
            .unwrap_or(3) as u32,
        target_end_of_life: v["summary"]["target_end_of_life"]
            .as_str()
            .map(str::to_string),
        // Kept, so a re-render without new inputs says what the build said.
        uncertain: match v["facts"].get("uncertain") {
            None | Some(serde_json::Value::Null) => Vec::new(),
            Some(u) => serde_json::from_value(u.clone()).map_err(invalid)?,
        },
        addons,
        left_out_steps: match v.get("runbook_left_out") {
            None => Vec::new(),
            Some(l) => serde_json::from_value(l.clone()).map_err(invalid)?,
        },
        // Reports of normal hops have neither.
        two_step: match v["facts"].get("two_step") {
            None | Some(serde_json::Value::Null) => None,
            Some(t) => serde_json::from_value(t.clone()).map_err(invalid)?,
        },
        removed_apis_in_step2: match v["facts"].get("removed_apis_in_step2") {
            None | Some(serde_json::Value::Null) => Vec::new(),
            Some(r) => serde_json::from_value(r.clone()).map_err(invalid)?,
        },
    }))
}

/// Parse `--nodes control-plane=3,workers=40` (either part may be left out: 0).
pub fn parse_nodes(s: &str) -> crate::Result<NodeCount> {
    let bad = |why: String| crate::Error::invalid("option", "--nodes", why);
    let (mut control_plane, mut workers) = (None, None);
    for part in s.split(',') {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| bad(format!("{part:?}: use control-plane=N,workers=N")))?;
        let n: u64 = v
            .parse()
            .ok()
            .filter(|n| *n <= 100_000)
            .ok_or_else(|| bad(format!("{v:?} in {k}=: a number of nodes up to 100000")))?;
        let slot = match k {
            "control-plane" | "control-planes" => &mut control_plane,
            "workers" | "worker" => &mut workers,
            _ => return Err(bad(format!("{k:?}: use control-plane=N,workers=N"))),
        };
        if slot.replace(n).is_some() {
            return Err(bad(format!("{k} given twice")));
        }
    }
    let control_plane = control_plane.unwrap_or(0);
    if control_plane == 0 {
        return Err(bad(
            "a cluster has at least one control plane: give control-plane=N".into(),
        ));
    }
    Ok(NodeCount {
        control_plane,
        workers: workers.unwrap_or(0),
        source: "nodes-option",
    })
}

/// Every signature file and its trusted comment (not verified: for listing).
pub fn signature_comments(dir: &std::path::Path) -> crate::Result<Vec<(String, String)>> {
    let sigs = airlock_verify::verify::read_signature_dir(dir)?;
    Ok(sigs
        .into_iter()
        .map(|(f, text)| {
            let comment = text
                .lines()
                .find_map(|l| l.strip_prefix("trusted comment: "))
                .unwrap_or("")
                .to_string();
            (f, comment)
        })
        .collect())
}

/// Read cluster dumps: JSON or YAML files (several YAML documents each), or directories
/// of them (manifests, rendered Helm charts), walked in name order; Helm release Secrets
/// among them are decoded. `metrics` are saved `/metrics` scrapes of the API server.
pub fn load_dump(
    paths: &[std::path::PathBuf],
    metrics: &[std::path::PathBuf],
) -> crate::Result<Dump> {
    let mut d = Dump::default();
    for m in metrics {
        d.add_metrics_file(m)?;
    }
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<_> = std::fs::read_dir(p)
                .map_err(|e| crate::Error::io("list", p, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| {
                    f.extension()
                        .is_some_and(|x| x == "json" || x == "yaml" || x == "yml")
                })
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(p.clone());
        }
    }
    for f in files {
        add_dump_file(&mut d, &f)?;
    }
    Ok(d)
}

/// Add one dump file, JSON or YAML by its first character, parsed as it is read (a dump
/// can be hundreds of megabytes; only what the checks read is kept).
fn add_dump_file(d: &mut Dump, f: &std::path::Path) -> crate::Result<()> {
    use std::io::BufRead;
    let origin = f.display().to_string();
    let file = crate::fsutil::open_limited(f, crate::cluster::MAX_DUMP_BYTES, "cluster dump")?;
    let mut r = std::io::BufReader::new(file);
    let first = loop {
        let buf = r.fill_buf().map_err(|e| crate::Error::io("read", f, e))?;
        let Some(&b) = buf.first() else { break None };
        if !b.is_ascii_whitespace() {
            break Some(b);
        }
        r.consume(1);
    };
    if matches!(first, Some(b'{' | b'[')) {
        return Ok(d.add_json_reader(r, &origin)?);
    }
    for doc in serde_saphyr::read::<_, crate::cluster::Shape<crate::cluster::Doc>>(&mut r) {
        let doc = doc.map_err(|e| {
            crate::Error::invalid("cluster dump", &origin, format!("not JSON or YAML: {e}"))
        })?;
        d.add_document(doc, &origin)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The e2e fixture's bundle (tests/e2e/report.rs), kept under testdata.
    fn demo_bundle() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/report/testdata/demo/bundle")
    }

    #[test]
    fn the_manifest_is_read_with_the_sha256_of_its_bytes() {
        let (m, sha) = load_manifest(&demo_bundle()).unwrap();
        let bytes = std::fs::read(demo_bundle().join("manifest.json")).unwrap();
        assert_eq!(sha, crate::digest::Sha256Digest::of(&bytes).hex());
        assert_eq!(m.hop.unwrap().to, "v1.30.2");
    }

    #[test]
    fn facts_come_back_from_the_bundles_own_report() {
        let f = facts_from_bundle(&demo_bundle())
            .unwrap()
            .expect("a report");
        assert_eq!(f.removed_apis.len(), 3);
        assert_eq!(f.removed_apis[0].group_version, "batch/v1beta1");
        assert_eq!(
            (f.kubelet_max_minors_older, f.kube_proxy_max_minors_older),
            (3, 3)
        );
        assert_eq!(f.target_end_of_life.as_deref(), Some("2025-07-15"));
        assert!(f.uncertain.is_empty() && f.addons.is_empty());
    }

    #[test]
    fn node_counts_parse_and_bad_ones_are_named() {
        let n = parse_nodes("control-plane=3,workers=40").unwrap();
        assert_eq!(
            (n.control_plane, n.workers, n.source),
            (3, 40, "nodes-option")
        );
        assert_eq!(parse_nodes("control-plane=1").unwrap().workers, 0);
        for bad in [
            "workers=4",
            "control-plane=x",
            "cp=3",
            "control-plane=1,control-plane=2",
            "3",
        ] {
            let e = parse_nodes(bad).unwrap_err();
            assert_eq!(e.exit_code(), 4, "{bad}");
            assert!(e.to_string().contains("--nodes"), "{e}");
        }
    }

    #[test]
    fn uncertain_catalog_values_come_back_from_the_bundles_own_report() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir
            .path()
            .join(crate::layout::DocPath::ReportJson.file_name());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(
            &path,
            r#"{"apis": {"removed": []}, "facts": {"uncertain": ["1.30 end of life"]}}"#,
        )
        .unwrap();
        let f = facts_from_bundle(dir.path()).unwrap().unwrap();
        assert_eq!(f.uncertain, ["1.30 end of life"]);
    }

    #[test]
    fn a_bundle_without_a_report_has_no_facts_and_a_broken_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        assert!(facts_from_bundle(dir.path()).unwrap().is_none());
        let path = dir
            .path()
            .join(crate::layout::DocPath::ReportJson.file_name());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "{\"apis\": {\"removed\": 7}}").unwrap();
        let e = facts_from_bundle(dir.path()).unwrap_err();
        assert_eq!(e.exit_code(), 4);
        let e = e.to_string();
        assert!(
            e.contains("change report") && e.contains("change-report.json"),
            "{e}"
        );
        // Larger than the bound: refused before it is read (a sparse file costs nothing).
        std::fs::File::create(&path)
            .unwrap()
            .set_len(MAX_REPORT_JSON_BYTES + 1)
            .unwrap();
        let e = facts_from_bundle(dir.path()).unwrap_err().to_string();
        assert!(e.contains("change-report.json"), "{e}");
    }

    #[test]
    fn signature_comments_are_the_trusted_comment_lines() {
        let sigs = signature_comments(&demo_bundle()).unwrap();
        assert_eq!(sigs.len(), 1);
        assert!(sigs[0].0.ends_with(".minisig"), "{}", sigs[0].0);
        assert!(
            sigs[0]
                .1
                .starts_with("airlock-bundle format=1 hop=v1.29.6->v1.30.2")
        );
    }

    #[test]
    fn dumps_are_read_as_json_or_yaml_documents_by_their_first_character() {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("a.json");
        std::fs::write(
            &json,
            "\n  {\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[\
             {\"apiVersion\":\"batch/v1beta1\",\"kind\":\"CronJob\",\"metadata\":{\"name\":\"j\"}}]}",
        )
        .unwrap();
        let yaml = dir.path().join("b.yaml");
        std::fs::write(
            &yaml,
            "---\n---\napiVersion: v1\nkind: Node\nmetadata: {name: n1}\n\
             status: {nodeInfo: {kubeletVersion: v1.29.6}}\n---\n\
             serverVersion: {gitVersion: v1.29.6}\n",
        )
        .unwrap();
        let d = load_dump(&[dir.path().to_path_buf()], &[]).unwrap();
        assert_eq!(d.objects.len(), 2);
        assert_eq!(d.objects[0].kind, "CronJob");
        assert_eq!(d.nodes[0].kubelet, "v1.29.6");
        assert_eq!(d.server_version.as_deref(), Some("v1.29.6"));
        std::fs::write(&yaml, "- 1\n- 2\n").unwrap();
        let e = load_dump(std::slice::from_ref(&yaml), &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("b.yaml") && e.contains("not a Kubernetes object"),
            "{e}"
        );
        std::fs::write(&yaml, "a: [\n").unwrap();
        let e = load_dump(&[yaml], &[]).unwrap_err().to_string();
        assert!(e.contains("not JSON or YAML"), "{e}");
    }
}
