//! `airlock report`

use std::path::PathBuf;

use airlock::report::render::{Format, render};
use airlock::report::{Inputs, assemble, cve, sbom};

/// Render a bundle's change report again, with more inputs than the build had.
///
/// The report written at build time is inside the bundle and covered by its signatures;
/// this renders it again from the signed manifest with a cluster dump (to find the
/// objects that use APIs the target no longer serves, read from each object, its
/// last-applied annotation, Helm release Secrets and a /metrics scrape; and node
/// version skew), the
/// official Kubernetes CVE feed, earlier bundles (what is new since), and the trust
/// policy (who approved, what is still needed). Formats: md, html, json; and the SBOM.
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
    /// Check the approvals against this trust policy.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Formats, comma-separated: md, html, json.
    #[arg(long, value_delimiter = ',', default_value = "md,html,json")]
    format: Vec<String>,
    /// Directory to write into (created).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
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
            Some(airlock_verify::verify::evaluate_signatures(
                &a.bundle, &policy,
            )?)
        }
        None => None,
    };
    let signatures = airlock::report::signature_comments(&a.bundle)?;
    let report = assemble(&Inputs {
        manifest: Some(&m),
        manifest_sha256: Some(msha),
        facts: facts.as_ref(),
        dump: dump.as_ref(),
        cves,
        since: since.iter().map(|(d, m)| (d.clone(), m)).collect(),
        approvals: evaluation.as_ref(),
        signatures,
    });
    std::fs::create_dir_all(&a.out)
        .map_err(|e| airlock::Error::io("create directory", &a.out, e))?;
    for f in formats {
        let path = a.out.join(f.file_name().trim_start_matches("report/"));
        airlock::fsutil::write_atomic(&path, &render(&report, f)?, 0o644)?;
        println!("wrote {}", path.display());
    }
    let path = a.out.join("sbom.cdx.json");
    airlock::fsutil::write_atomic(&path, &sbom::sbom(&m, None)?, 0o644)?;
    println!("wrote {}", path.display());
    Ok(())
}
