//! `airlock report`

use std::path::{Path, PathBuf};

use airlock::report::approvals_page::ApprovalsPage;
use airlock::report::render::{Format, render};
use airlock::report::{Inputs, assemble, cve, sbom};
use airlock_verify::outln;

/// Render a bundle's change report again, with more inputs than the build had.
///
/// The report written at build time is inside the bundle and covered by its signatures;
/// this renders it again from the signed manifest with a cluster dump (to find the
/// objects that use APIs the target no longer serves, read from each object, its
/// last-applied annotation, Helm release Secrets and a /metrics scrape; and node
/// version skew), the
/// official Kubernetes CVE feed, earlier bundles (what is new since), and the trust
/// policy (who approved, what is still needed). Formats: md, html, json; and the SBOM.
///
/// The first page decides: overall risk, expected duration for the node count
/// (`--nodes`, or counted from the dump) against the window, disruption, the point of no
/// return, approvals under the policy, and what was not evaluated. With `--policy` it
/// also writes the approvals page (approvals.md, .html, .json) from the verified
/// signatures. Everything goes to `--out`, beside the bundle: a directory inside a bundle
/// is refused (exit 4), since the bundle's signatures cover its own report.
///
/// Without extra inputs the output is byte-identical to the report inside the bundle.
#[derive(clap::Args)]
pub struct Args {
    /// The bundle directory.
    bundle: PathBuf,
    /// Output of `kubectl get ... -o json` (or -o yaml), `kubectl version -o json`, or a
    /// directory of manifests / rendered Helm charts. Repeatable.
    #[arg(long = "cluster-dump", value_name = "FILE|DIR")]
    cluster_dump: Vec<PathBuf>,
    /// A saved `kubectl get --raw /metrics` of the API server: removed APIs that clients
    /// still request (apiserver_requested_deprecated_apis). Repeatable.
    #[arg(long, value_name = "FILE")]
    metrics: Vec<PathBuf>,
    /// The official Kubernetes CVE feed (JSON), saved from
    /// https://kubernetes.io/docs/reference/issues-security/official-cve-feed/index.json
    #[arg(long, value_name = "FILE")]
    cve_feed: Option<PathBuf>,
    /// An earlier bundle already delivered to this channel, to show what is new. Repeatable.
    #[arg(long, value_name = "BUNDLE")]
    since: Vec<PathBuf>,
    /// Check the approvals against this trust policy, and write the approvals page.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// The change request number shown on the first page (default: the one the counted
    /// approvals name, `airlock sign --change`).
    #[arg(long, value_name = "ID")]
    change: Option<String>,
    /// Node count for the duration estimate: `control-plane=3,workers=40` (default:
    /// counted from --cluster-dump: nodes labelled node-role.kubernetes.io/control-plane
    /// and the rest).
    #[arg(long, value_name = "control-plane=N,workers=N")]
    nodes: Option<String>,
    /// Mark this time on the change window (`2026-12-01T08:00:00Z`): the report stays a
    /// function of its inputs, so "now" is one.
    #[arg(long, value_name = "TIME")]
    now: Option<String>,
    /// Formats, comma-separated: md, html, json.
    #[arg(long, value_delimiter = ',', default_value = "md,html,json")]
    format: Vec<String>,
    /// Directory to write into (created); not inside a bundle. Default: BUNDLE-report
    /// beside the bundle.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let formats = a
        .format
        .iter()
        .map(|f| {
            Format::parse(f).ok_or_else(|| {
                airlock::Error::invalid(
                    "option",
                    "--format",
                    format!("{f:?}: use md, html or json"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (m, msha) = airlock::report::load_manifest(&a.bundle)?;
    let dump = if a.cluster_dump.is_empty() && a.metrics.is_empty() {
        None
    } else {
        Some(airlock::report::load_dump(&a.cluster_dump, &a.metrics)?)
    };
    let hop = m.hop.as_ref().ok_or_else(|| {
        airlock::Error::invalid(
            "bundle",
            a.bundle.display(),
            "has no hop: nothing to report",
        )
    })?;
    let version = |v: &str| {
        airlock::cluster::parse_version(v)
            .map(|(_, mi, p)| (mi, p))
            .ok_or_else(|| {
                airlock::Error::invalid("bundle", a.bundle.display(), format!("hop version {v:?}"))
            })
    };
    let cves = match &a.cve_feed {
        Some(p) => {
            let bytes = airlock::fsutil::read_limited(p, cve::MAX_FEED_BYTES, "CVE feed")?;
            Some(cve::evaluate(
                &bytes,
                &p.display().to_string(),
                version(&hop.from)?,
                version(&hop.to)?,
            )?)
        }
        None => None,
    };
    let since: Vec<(String, airlock::manifest::BundleManifest)> = a
        .since
        .iter()
        .map(|p| airlock::report::load_manifest(p).map(|(m, d)| (d, m)))
        .collect::<Result<_, _>>()?;
    let facts = airlock::report::facts_from_bundle(&a.bundle)?;
    let evaluation = match &a.policy {
        Some(p) => {
            let policy = airlock_verify::verify::Policy::new(
                airlock_verify::trust::policy::TrustPolicy::load(p)?,
            );
            let bytes = airlock::fsutil::read_limited(
                p,
                airlock::trust::policy::MAX_POLICY_BYTES,
                "trust policy",
            )?;
            let identity = (
                policy.trust().version(),
                airlock::digest::Sha256Digest::of(&bytes).hex(),
            );
            Some((
                airlock_verify::verify::evaluate_signatures(&a.bundle, &policy)?,
                identity,
            ))
        }
        None => None,
    };
    let nodes = a
        .nodes
        .as_deref()
        .map(airlock::report::parse_nodes)
        .transpose()?;
    let now = a
        .now
        .as_deref()
        .map(|t| {
            airlock::time::Timestamp::parse(t, false)
                .map_err(|e| airlock::Error::invalid("option", "--now", e))
        })
        .transpose()?;
    let report = assemble(&Inputs {
        manifest: Some(&m),
        // The bundle's identity is on the approvals page; the report stays what the
        // build wrote when nothing else is given (it cannot hold its own manifest's digest).
        manifest_sha256: None,
        facts: facts.as_ref(),
        dump: dump.as_ref(),
        cves,
        since: since.iter().map(|(d, m)| (d.clone(), m)).collect(),
        approvals: evaluation.as_ref().map(|(e, _)| e),
        now,
        nodes,
        change: a.change.clone(),
    });
    let out = match &a.out {
        Some(o) => o.clone(),
        None => beside(&a.bundle)?,
    };
    outside_bundles(
        &out,
        formats
            .first()
            .map(|f| f.file_name())
            .unwrap_or("sbom.cdx.json"),
    )?;
    std::fs::create_dir_all(&out).map_err(|e| airlock::Error::io("create directory", &out, e))?;
    for f in &formats {
        let path = out.join(f.file_name().trim_start_matches("report/"));
        airlock::fsutil::write_atomic(&path, &render(&report, *f)?, 0o644)?;
        outln!("wrote {}", path.display())?;
    }
    let path = out.join("sbom.cdx.json");
    airlock::fsutil::write_atomic(&path, &sbom::of_bundle(&a.bundle, &m)?, 0o644)?;
    outln!("wrote {}", path.display())?;
    if let Some((_, policy)) = &evaluation {
        let page = ApprovalsPage::new(
            format!("{} -> {}", hop.from, hop.to),
            report.decision.change.clone(),
            (msha, m.payload.sha256.hex()),
            policy.clone(),
            report.decision.approvals.clone(),
            &report.approvals,
        );
        for f in &formats {
            let path = out.join(ApprovalsPage::file_name(*f));
            airlock::fsutil::write_atomic(&path, &page.render(*f)?, 0o644)?;
            outln!("wrote {}", path.display())?;
        }
    }
    Ok(())
}

/// `BUNDLE-report`, beside the bundle.
fn beside(bundle: &Path) -> anyhow::Result<PathBuf> {
    let abs = std::path::absolute(bundle).map_err(|e| airlock::Error::io("resolve", bundle, e))?;
    let name = abs.file_name().ok_or_else(|| {
        airlock::Error::invalid(
            "bundle",
            bundle.display(),
            "has no directory name: give --out",
        )
    })?;
    let mut n = name.to_os_string();
    n.push("-report");
    Ok(abs.with_file_name(n))
}

/// Refuse an output directory inside a bundle (any directory above it, or it, holding
/// `manifest.json`): the bundle's signatures cover what is there, and writing the
/// report over its own breaks it without a word. `first` names the file that would be
/// written first.
fn outside_bundles(out: &Path, first: &str) -> anyhow::Result<()> {
    let abs = std::path::absolute(out).map_err(|e| airlock::Error::io("resolve", out, e))?;
    // Resolve links through the part that exists, so `--out link-to-bundle/x` is seen.
    let mut existing = abs.as_path();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.parent(), existing.file_name()) {
            (Some(p), Some(n)) => {
                rest.push(n.to_os_string());
                existing = p;
            }
            _ => break,
        }
    }
    let mut real = existing
        .canonicalize()
        .map_err(|e| airlock::Error::io("resolve", existing, e))?;
    real.extend(rest.iter().rev());
    for dir in real.ancestors() {
        if dir.join(airlock::layout::MANIFEST_FILE).is_file() {
            return Err(airlock::Error::invalid(
                "output directory",
                real.join(first).display(),
                format!(
                    "is inside the bundle {}, whose signatures cover its files: write the report \
                     beside the bundle (leave out --out for {}-report)",
                    dir.display(),
                    dir.display()
                ),
            )
            .into());
        }
    }
    Ok(())
}
