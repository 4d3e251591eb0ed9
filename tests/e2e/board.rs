//! The report a change board approves (issue 22): the first page decides, approvals
//! count, the report is not written into a bundle. A real resolve and build, the real
//! binaries, Chromium's layout and `airlock-verify signers` as the judges.

use crate::common::board::*;
use crate::common::cli::Cli;
use crate::common::read_json;
use crate::common::servers::Registry;

/// At 1280x1000 the decision (risk, duration, point of no return, approvals) is on the
/// first page; digests take at most two lines; JSON and Markdown read in one order.
/// AIRLOCK_BLESS=1 refreshes docs/report-first-page.png from the screenshot.
#[test]
fn the_first_page_decides_and_digests_wrap_cleanly() {
    let (u, bundle) = built_hop();
    let out = u.path("board");
    let now = airlock::time::Timestamp::now().to_string();
    let args = [
        "--nodes",
        "control-plane=3,workers=40",
        "--now",
        &now,
        "--change",
        "CHG-2211",
    ];
    report(&u, &bundle, &args).arg("--out").arg(&out).ok();
    let html = out.join("change-report.html");
    assert_first_page(&measure(&html, u.work.path()), 2);
    let r = read_json(&out.join("change-report.json"));
    assert_eq!(r["decision"]["change"], "CHG-2211");
    assert_eq!(r["decision"]["point_of_no_return"]["id"], "cp1.apply");
    assert_eq!(r["decision"]["disruption"]["node_drains"], 43);
    assert_eq!(r["timing"]["nodes"]["workers"], 40);
    assert!(r["timing"]["total_minutes"].as_u64().unwrap() > 0);
    let text = |f: &str| std::fs::read_to_string(out.join(f)).unwrap();
    assert_reading_order(&text("change-report.json"), &text("change-report.md"));
    let png = u.path("first-page.png");
    screenshot(&html, &png, u.work.path());
    assert_eq!(png_size(&png), (1280, 1000));
    if std::env::var_os("AIRLOCK_BLESS").is_some_and(|v| v == "1") {
        let docs =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report-first-page.png");
        std::fs::copy(&png, docs).unwrap();
    }
}

/// Without extra inputs `airlock report` writes beside the bundle what the build wrote
/// inside it, byte for byte; `--out` inside the bundle is refused and changes nothing.
#[test]
fn a_re_render_is_the_signed_report_and_writing_into_the_bundle_is_refused() {
    let (u, bundle) = built_hop();
    report(&u, &bundle, &[]).ok();
    for f in [
        "change-report.md",
        "change-report.html",
        "change-report.json",
    ] {
        let beside = std::fs::read(u.path("bundle-report").join(f)).unwrap();
        assert!(
            beside == std::fs::read(bundle.join("report").join(f)).unwrap(),
            "{f} differs"
        );
    }
    let before = crate::common::tree(&bundle);
    for inside in ["report", "report/sub", "."] {
        let run = report(&u, &bundle, &["--out"]).arg(bundle.join(inside));
        let err = run.fails(4, "inside the bundle").stderr();
        assert!(
            err.contains("change-report.md") && err.contains("-report"),
            "{err}"
        );
    }
    assert_eq!(crate::common::tree(&bundle), before);
    u.verify(&u.path("keys/k"), &[]).ok();
}

/// `sign --change` reaches the approvals page (the signers `signers --policy` lists, the
/// same counted and not counted) and the enclave's receipt.
#[test]
fn the_approvals_page_lists_the_signers_and_the_receipt_the_change() {
    let (u, bundle) = built_hop();
    let alice = sign_as(&u, &bundle, "alice", "CHG-2211");
    let bob = sign_as(&u, &bundle, "bob", "CHG-2211");
    sign_as(&u, &bundle, "mallory", "CHG-9999");
    let policy = policy(&u, &[("alice", &alice), ("bob", &bob)], 2);
    let (p, out) = (policy.to_str().unwrap(), u.path("board"));
    report(&u, &bundle, &["--policy", p, "--out"])
        .arg(&out)
        .ok();
    let page = read_json(&out.join("approvals.json"));
    let signers = Cli::verify()
        .arg("signers")
        .arg(&bundle)
        .args(["--policy", p, "--json"])
        .ok();
    assert_same_signers(&page, &signers.json());
    assert_eq!(
        (page["change"].as_str(), page["status"]["status"].as_str()),
        (Some("CHG-2211"), Some("met"))
    );
    let md = std::fs::read_to_string(out.join("approvals.md")).unwrap();
    assert!(
        md.contains("| alice | change-board |") && md.contains("CHG-2211"),
        "{md}"
    );
    let enclave = Registry::start();
    let dest = u.path("dest");
    Cli::verify()
        .env("DOCKER_CONFIG", u.path("no-docker-config"))
        .arg("install")
        .arg(&bundle)
        .args([
            "--policy",
            p,
            "--registry",
            &enclave.host(),
            "--insecure",
            "--quiet",
            "--dest",
        ])
        .arg(&dest)
        .ok();
    let receipt = read_json(&dest.join(".airlock/receipts/000001.json"));
    assert_eq!(
        receipt["approvals"]["change"],
        serde_json::json!(["CHG-2211"])
    );
}
