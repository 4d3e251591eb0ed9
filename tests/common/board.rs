//! The change board's side (issue 22): a hop bundle built from a real resolve (so it has
//! the checklist), approved by board members with `airlock sign --change`, and the report
//! measured as Chromium lays it out.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::cli::{self, Cli};
use super::scenario::{trust_policy, window_now};
use super::upstream::{Opts, Upstream};

/// A resolved and built hop (`bundle/`, signed by `keys/k`, the builder) in a 72-hour
/// window, channel `site-a`.
pub fn built_hop() -> (Upstream, PathBuf) {
    let u = Upstream::new(Opts::default());
    cli::ok(&u.resolve(&[]));
    u.keygen("k");
    let w = window_now();
    let extra = [
        "--window",
        w.as_str(),
        "--channel",
        "site-a",
        "--sequence",
        "1",
    ];
    u.build("hop.lock", "bundle", &extra).ok();
    let bundle = u.path("bundle");
    (u, bundle)
}

/// `airlock sign BUNDLE --key keys/NAME.key --role change-board --signer NAME --change CHANGE`,
/// with a new key pair for NAME; returns the key prefix.
pub fn sign_as(u: &Upstream, bundle: &Path, name: &str, change: &str) -> PathBuf {
    let key = u.keygen(name);
    u.cli()
        .args(["sign"])
        .arg(bundle)
        .args(["--key", &cli::key_of(&key), "--role", "change-board"])
        .args(["--signer", name, "--change", change])
        .ok();
    key
}

/// policy.json: the builder (`keys/k`) and `board` in the change-board, `need` of them.
pub fn policy(u: &Upstream, board: &[(&str, &Path)], need: usize) -> PathBuf {
    let path = u.path("policy.json");
    let text = trust_policy(1, Some(&u.path("keys/k")), board, need);
    std::fs::write(&path, text).expect("write policy.json");
    path
}

/// `airlock report BUNDLE ARGS`, to run.
pub fn report(u: &Upstream, bundle: &Path, args: &[&str]) -> Cli {
    u.cli().arg("report").arg(bundle).args(args)
}

/// Chromium's `--dump-dom` of `page` at 1280 px wide, with file URLs allowed to read each
/// other (so a page can read the report it frames).
fn dump_dom(page: &Path, profile: &Path) -> String {
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
        ])
        .args([
            "--disable-background-networking",
            "--allow-file-access-from-files",
        ])
        .args([
            "--window-size=1280,1100",
            "--virtual-time-budget=10000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium (scripts/test.sh installs it)");
    cli::ok(&out)
}

/// The page that measures: the report in a 1280x1000 frame (the first page a reader
/// sees); the positions of the decision rows and, per digest, the line boxes its text
/// takes, as Chromium laid them out. The report itself is not changed (its
/// Content-Security-Policy forbids scripts; the frame's parent reads its layout).
const MEASURE: &str = r#"<!DOCTYPE html><html><body style="margin:0">
<iframe id="f" src="REPORT" style="width:1280px;height:1000px;border:0"></iframe><pre id="out">pending</pre>
<script>
document.getElementById('f').addEventListener('load', () => {
  const d = document.getElementById('f').contentDocument, res = {blocks: {}};
  res.viewport = [d.documentElement.clientWidth, d.documentElement.clientHeight];
  for (const id of ['decision', 'd-risk', 'd-duration', 'd-ponr', 'd-approvals']) {
    const e = d.getElementById(id), r = e && e.getBoundingClientRect();
    res.blocks[id] = r ? [r.top, r.bottom] : null;
  }
  res.digests = [...d.querySelectorAll('code.digest')].map(c => {
    const rg = d.createRange(); rg.selectNodeContents(c);
    return [c.textContent, new Set([...rg.getClientRects()].map(r => Math.round(r.top))).size];
  });
  document.getElementById('out').textContent = JSON.stringify(res);
});
</script></body></html>"#;

/// Lay out `html` (a report) in Chromium at 1280x1000 and measure it (see [`MEASURE`]):
/// `{viewport, blocks: {id: [top, bottom]}, digests: [[text, lines]]}`.
pub fn measure(html: &Path, work: &Path) -> serde_json::Value {
    let page = html.with_file_name("measure.html");
    let name = html
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a file name");
    std::fs::write(&page, MEASURE.replace("REPORT", name)).expect("write measure.html");
    let dom = dump_dom(&page, &work.join("chrome-measure"));
    let start = dom
        .find("<pre id=\"out\">")
        .expect("the measuring page rendered")
        + 14;
    let end = start + dom[start..].find("</pre>").expect("end of the measurement");
    let text = dom[start..end]
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("measurement {text:?}: {e}"))
}

/// A screenshot of `html` at 1280x1000 into `png`.
pub fn screenshot(html: &Path, png: &Path, work: &Path) {
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
        ])
        .args([
            "--disable-background-networking",
            "--hide-scrollbars",
            "--window-size=1280,1000",
        ])
        .arg(format!(
            "--user-data-dir={}",
            work.join("chrome-shot").display()
        ))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("run chromium");
    cli::ok(&out);
}

/// Width and height of a PNG, from its IHDR chunk.
pub fn png_size(png: &Path) -> (u32, u32) {
    let b = std::fs::read(png).expect("read the PNG");
    assert_eq!(
        &b[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is not a PNG",
        png.display()
    );
    let be = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    (be(16), be(20))
}

/// The decision rows are inside the first 1280x1000 page, and every digest takes one or
/// two lines (`m` from [`measure`]); `files` digests at least are measured.
pub fn assert_first_page(m: &serde_json::Value, files: usize) {
    assert_eq!(m["viewport"][1], 1000, "{m}");
    for id in ["d-risk", "d-duration", "d-ponr", "d-approvals"] {
        let b = &m["blocks"][id];
        let (top, bottom) = (b[0].as_f64(), b[1].as_f64());
        assert!(
            top.is_some_and(|t| t >= 0.0) && bottom.is_some_and(|b| b <= 1000.0),
            "{id} is not inside the first page: {b}"
        );
    }
    let digests = m["digests"].as_array().expect("digests measured");
    assert!(digests.len() >= files, "{m}");
    for d in digests {
        let lines = d[1].as_u64().unwrap_or(0);
        assert!((1..=2).contains(&lines), "digest on {lines} lines: {d}");
    }
}

/// The JSON's top-level sections and the Markdown's headings come in the same order:
/// decision, risks, runbook, back-out, validation, approvals, inventory.
pub fn assert_reading_order(json: &str, md: &str) {
    let order = |text: &str, marks: &[&str]| -> Vec<usize> {
        marks
            .iter()
            .map(|m| text.find(m).unwrap_or_else(|| panic!("{m:?} missing")))
            .collect()
    };
    let sorted = |v: Vec<usize>| v.windows(2).all(|w| w[0] < w[1]);
    let keys = [
        "decision",
        "risks",
        "runbook",
        "backout",
        "validation",
        "approvals",
        "inventory",
    ];
    let json_marks: Vec<String> = keys.iter().map(|k| format!("\n  \"{k}\": ")).collect();
    let json_marks: Vec<&str> = json_marks.iter().map(String::as_str).collect();
    assert!(
        sorted(order(json, &json_marks)),
        "JSON sections out of order"
    );
    let headings = [
        "## 1. Summary and decision",
        "## 2. Risk assessment",
        "## 5. Implementation runbook",
        "## 7. Back-out plan",
        "## 8. Test and validation plan",
        "## 9. Approvals",
        "## Appendix A. Scope and inventory",
    ];
    assert!(
        sorted(order(md, &headings)),
        "Markdown sections out of order"
    );
}

/// The approvals page (`approvals.json`) lists the signatures `airlock-verify signers
/// --policy --json` lists: the same files counted, under the same names and roles, and
/// the same files not counted.
pub fn assert_same_signers(page: &serde_json::Value, signers: &serde_json::Value) {
    let s = |v: &serde_json::Value| v.as_str().unwrap_or("-").to_string();
    let line = |v: &serde_json::Value| (s(&v["file"]), s(&v["name"]), s(&v["role"]));
    let rows = page["signatures"].as_array().expect("signatures");
    let mut page_counted: Vec<_> = rows
        .iter()
        .filter(|r| r["counted"] == true)
        .map(line)
        .collect();
    let mut page_not: Vec<_> = rows
        .iter()
        .filter(|r| r["counted"] == false)
        .map(|r| s(&r["file"]))
        .collect();
    let ev = &signers["evaluation"];
    let mut counted: Vec<_> = ev["counted"]
        .as_array()
        .expect("counted")
        .iter()
        .map(line)
        .collect();
    let mut not: Vec<_> = ev["not_counted"]
        .as_array()
        .expect("not counted")
        .iter()
        .map(|r| s(&r["file"]))
        .collect();
    for v in [&mut page_not, &mut not] {
        v.sort();
    }
    page_counted.sort();
    counted.sort();
    assert!(!counted.is_empty() && !not.is_empty(), "{signers}");
    assert_eq!(page_counted, counted);
    assert_eq!(page_not, not);
}
