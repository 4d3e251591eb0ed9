//! The report's bytes stay as they were. `testdata/demo` is the bundle, cluster dumps
//! and CVE feed of the e2e determinism test (tests/e2e/report.rs); `expected*` are what
//! `airlock report` wrote for them before the report was split into model, sections and
//! inputs (issue 28), and `bundle/report` what `airlock build` wrote into the bundle. The
//! inputs are read here as `airlock report` and `airlock build` read them.
//!
//! A change that alters the report on purpose regenerates them with
//! `AIRLOCK_BLESS=1 cargo test -p airlock --lib byte_identity` (then review the diff).

use std::path::{Path, PathBuf};

use super::render::{Format, render};
use super::{Inputs, assemble, cve, facts_from_bundle, load_dump, load_manifest};

/// Relative, as the expected files were written with: the dump's path is in the report.
const DEMO: &str = "src/report/testdata/demo";

/// What `airlock report BUNDLE --cluster-dump DUMPS --cve-feed FEED [--since BUNDLE]`
/// writes, in every format.
fn rendered(since: bool) -> Vec<(Format, Vec<u8>)> {
    let demo = Path::new(DEMO);
    let bundle = demo.join("bundle");
    let (m, _) = load_manifest(&bundle).expect("manifest");
    let dump = load_dump(&[demo.join("dumps")], &[]).expect("dumps");
    let feed_path = demo.join("cve.json");
    let feed = std::fs::read(&feed_path).expect("feed");
    let cves = cve::evaluate(&feed, &feed_path.display().to_string(), (29, 6), (30, 2))
        .expect("feed evaluates");
    let earlier = if since {
        vec![load_manifest(&bundle).expect("since")]
    } else {
        vec![]
    };
    let facts = facts_from_bundle(&bundle).expect("facts");
    let report = assemble(&Inputs {
        manifest: Some(&m),
        // As `airlock report` renders it: the digest is on the approvals page.
        manifest_sha256: None,
        facts: facts.as_ref(),
        dump: Some(&dump),
        cves: Some(cves),
        since: earlier.iter().map(|(m, d)| (d.clone(), m)).collect(),
        ..Default::default()
    });
    [Format::Markdown, Format::Html, Format::Json]
        .into_iter()
        .map(|f| (f, render(&report, f).expect("renders")))
        .collect()
}

/// `AIRLOCK_BLESS=1` in the environment: write the expected files instead of comparing.
fn blessing() -> bool {
    std::env::var_os("AIRLOCK_BLESS").is_some_and(|v| v == "1")
}

/// `got` equals the file at `path`, or (when blessing) becomes it.
fn check(path: &Path, got: &[u8]) {
    if blessing() {
        std::fs::write(path, got).expect("expected file written");
        return;
    }
    let want = std::fs::read(path).expect("expected file");
    assert!(
        got == want.as_slice(),
        "{} differs from the expected output; if the change is intended, regenerate with \
         AIRLOCK_BLESS=1 cargo test -p airlock --lib byte_identity and review the diff",
        path.display()
    );
}

fn assert_same(since: bool, expected: &str) {
    for (format, bytes) in rendered(since) {
        let path: PathBuf = Path::new(DEMO).join(expected).join(format.file_name());
        check(&path, &bytes);
    }
}

#[test]
fn the_demo_report_is_byte_identical_to_the_pre_split_one() {
    assert_same(false, "expected");
}

#[test]
fn the_demo_report_against_an_earlier_bundle_is_byte_identical_to_the_pre_split_one() {
    assert_same(true, "expected-since");
}

#[test]
fn the_report_build_writes_into_the_bundle_is_byte_identical_to_the_pre_split_one() {
    let bundle = Path::new(DEMO).join("bundle");
    let (m, _) = load_manifest(&bundle).expect("manifest");
    // The lock's facts, which the build recorded in this report.
    let facts = facts_from_bundle(&bundle).expect("facts");
    // As `pack::write_documents` assembles it: no manifest digest (the report is inside
    // the bundle it describes), no dump, feed or signatures.
    let report = assemble(&Inputs {
        manifest: Some(&m),
        facts: facts.as_ref(),
        ..Default::default()
    });
    for format in [Format::Markdown, Format::Html, Format::Json] {
        let path = bundle.join("report").join(format.file_name());
        let got = render(&report, format).expect("renders");
        check(&path, &got);
    }
}
