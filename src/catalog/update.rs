//! `airlock catalog update`: a minor's facts, read from upstream's own files at the release
//! tags (see [`super::sources`] for which file says what), merged into a base catalog.
//!
//! Per minor 1.N:
//! * the newest patch P from `stable-1.N.txt`;
//! * for every patch p in 0..=P, kubeadm's constants at `v1.N.p`: the CoreDNS and pause
//!   tags, and the etcd tag by kubeadm's own rule ([`constants_go::select_etcd`]);
//! * crictl and CNI plugins from `build/dependencies.yaml` at `v1.N.P`;
//! * the served APIs from the discovery documents at `v1.N.0`, and the removed ones as what
//!   `v1.(N-1).0` serves and `v1.N.0` does not;
//! * the release and end-of-life dates from the website's `schedule.yaml` and `eol.yaml`.
//!
//! Every value names the documents it came from; each document is recorded with the sha256
//! of the bytes read. A file at a release tag never changes, so when the base catalog has
//! recorded one with another sha256, the update stops (exit 5): a mirror or upstream now
//! serves different content. Everything is built in memory and validated before the caller
//! writes anything, so a failed update leaves no partial catalog.

use std::collections::{BTreeMap, BTreeSet};

use futures::StreamExt;

use super::sources::{DiscoveryFile, Doc, constants_go, dependencies, discovery, stable, website};
use super::{
    Catalog, CatalogImage, Date, Document, Loaded, MinorEntry, RemovedApi, ServedApis, TagRow,
    Tool, Version, compare,
};
use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::http::HttpClient;
use crate::manifest::CatalogIdentity;

/// The images kubeadm deploys besides the control plane, and their default repositories.
const IMAGES: [(&str, &str); 3] = [
    ("etcd", "etcd"),
    ("coredns", "coredns/coredns"),
    ("pause", "pause"),
];
/// How far past the base catalog's newest minor an update looks for new minors.
const MAX_NEW_MINORS: u32 = 6;

/// What to update and how to reach upstream.
pub struct UpdateOptions<'a> {
    /// Minors to derive (`36` for 1.36); empty: every minor of the base catalog, and the
    /// newer minors that have a `stable-1.N.txt`.
    pub minors: Vec<u32>,
    /// The day of the update: the new `catalog_version`.
    pub today: Date,
    /// Upstream (mirrors configured).
    pub http: &'a HttpClient,
    /// Parallel requests at most.
    pub jobs: usize,
}

/// The result of an update, not yet written anywhere.
#[derive(Debug)]
pub struct Updated {
    /// The new catalog.
    pub catalog: Catalog,
    /// Its file text (what `--out` gets).
    pub text: String,
    /// Its version and the sha256 of `text`.
    pub identity: CatalogIdentity,
    /// The minors derived from upstream.
    pub minors: Vec<u32>,
    /// Things worth knowing (kubeadm fallbacks, upstream sources that disagree).
    pub warnings: Vec<String>,
    /// Where the new catalog differs from the base, one sentence each.
    pub changes: Vec<String>,
    /// Documents read.
    pub documents_read: usize,
}

/// A document read from upstream.
#[derive(Debug, Clone)]
struct Fetched {
    text: String,
    id: String,
    url: String,
    sha256: Sha256Digest,
    /// The URL and the mirror it came through, for messages.
    label: String,
}

impl Fetched {
    fn error(&self, reason: impl Into<String>) -> Error {
        Error::Document {
            url: self.label.clone(),
            reason: reason.into(),
        }
    }
}

/// Derive the minors from upstream and merge them into `base`.
pub async fn update(base: &Loaded, opts: &UpdateOptions<'_>) -> Result<Updated> {
    let mut docs: BTreeMap<Doc, Fetched> = BTreeMap::new();
    let mut warnings = Vec::new();
    let minors = choose_minors(base, opts, &mut docs).await?;
    // Versions first (every later URL depends on them), then everything else at once.
    let stables: Vec<Doc> = minors.iter().map(|n| Doc::Stable(*n)).collect();
    fetch_all(base, opts, &stables, &mut docs).await?;
    let mut latest = BTreeMap::new();
    for n in &minors {
        let f = doc(&docs, Doc::Stable(*n))?;
        let v = stable::parse(&f.text, *n).map_err(|e| f.error(e))?;
        latest.insert(*n, v.patch);
    }
    let mut wanted = vec![Doc::Schedule, Doc::Eol];
    for (&n, &p) in &latest {
        wanted.extend((0..=p).map(|q| Doc::Constants(Version::new(n, q))));
        wanted.push(Doc::Dependencies(Version::new(n, p)));
        for m in [n.saturating_sub(1), n] {
            for f in DiscoveryFile::ALL {
                wanted.push(Doc::Discovery(Version::new(m, 0), f));
            }
        }
    }
    fetch_all(base, opts, &wanted, &mut docs).await?;

    let web = Web::parse(&docs)?;
    let mut entries = Vec::new();
    for (&n, &p) in &latest {
        entries.push(build_minor(
            &base.catalog,
            n,
            p,
            &docs,
            &web,
            &mut warnings,
        )?);
    }
    let catalog = merge(&base.catalog, entries, &docs, opts.today)?;
    let text = catalog.to_file_text()?;
    let identity = CatalogIdentity {
        version: catalog.catalog_version.clone(),
        sha256: Sha256Digest::of(text.as_bytes()),
    };
    let changes = compare::disagreements(
        &base.catalog,
        "the base catalog",
        &catalog,
        "upstream",
        &minors,
    );
    Ok(Updated {
        catalog,
        text,
        identity,
        minors,
        warnings,
        changes,
        documents_read: docs.len(),
    })
}

/// The minors asked for, or the base catalog's and the newer ones upstream has.
async fn choose_minors(
    base: &Loaded,
    opts: &UpdateOptions<'_>,
    docs: &mut BTreeMap<Doc, Fetched>,
) -> Result<Vec<u32>> {
    if !opts.minors.is_empty() {
        let set: BTreeSet<u32> = opts.minors.iter().copied().collect();
        return Ok(set.into_iter().collect());
    }
    let mut minors: Vec<u32> = base
        .catalog
        .minors
        .iter()
        .filter_map(|m| super::parse_minor_key(&m.minor))
        .collect();
    let mut next = minors.last().map_or(0, |n| n + 1);
    for _ in 0..MAX_NEW_MINORS {
        let doc = Doc::Stable(next);
        match fetch(base, opts.http, doc).await? {
            Some(f) => {
                docs.insert(doc, f);
                minors.push(next);
                next += 1;
            }
            None => break,
        }
    }
    Ok(minors)
}

/// Fetch every document of `wanted` not yet read, `jobs` at a time; a 404 is an error here.
async fn fetch_all(
    base: &Loaded,
    opts: &UpdateOptions<'_>,
    wanted: &[Doc],
    docs: &mut BTreeMap<Doc, Fetched>,
) -> Result<()> {
    let todo: BTreeSet<Doc> = wanted
        .iter()
        .filter(|d| !docs.contains_key(d))
        .copied()
        .collect();
    let results: Vec<Result<(Doc, Fetched)>> =
        futures::stream::iter(todo.into_iter().map(|d| async move {
            if let Some(f) = fetch(base, opts.http, d).await? {
                return Ok((d, f));
            }
            // Older tags name some documents differently (aggregated_v2beta1.json).
            if let Some(alt) = d.fallback()
                && let Some(f) = fetch(base, opts.http, alt).await?
            {
                return Ok((alt, f));
            }
            Err(Error::Http {
                url: opts.http.label(&d.url()),
                reason: not_found_reason(&d),
            })
        }))
        .buffered(opts.jobs.max(1))
        .collect()
        .await;
    for r in results {
        let (d, f) = r?;
        docs.insert(d, f);
    }
    Ok(())
}

/// A document read earlier; every one a fact needs is read before facts are derived.
fn doc(docs: &BTreeMap<Doc, Fetched>, d: Doc) -> Result<&Fetched> {
    docs.get(&d).ok_or_else(|| {
        Error::invalid(
            "catalog",
            d.url(),
            "internal error: the document was not read before it was needed",
        )
    })
}

fn not_found_reason(d: &Doc) -> String {
    match d {
        Doc::Stable(n) => format!("HTTP 404: no stable-1.{n}.txt, so 1.{n} has no release"),
        Doc::Constants(v) | Doc::Dependencies(v) | Doc::Discovery(v, _) => {
            format!("HTTP 404: the tag {v} or this file at it does not exist")
        }
        Doc::Schedule | Doc::Eol => "HTTP 404".into(),
    }
}

/// Read one document; `None` on 404. A file at a tag must have the sha256 the base catalog
/// recorded for it.
async fn fetch(base: &Loaded, http: &HttpClient, doc: Doc) -> Result<Option<Fetched>> {
    let url = doc.url();
    let Some(bytes) = http.fetch_document(&url, doc.limit()).await? else {
        return Ok(None);
    };
    let label = http.label(&url);
    let sha256 = Sha256Digest::of(&bytes);
    if doc.is_immutable()
        && let Some(rec) = base.catalog.documents.iter().find(|d| d.url == url)
        && rec.sha256 != sha256
    {
        return Err(Error::digest_mismatch(
            format!("upstream document {label}"),
            rec.sha256.hex(),
            sha256.hex(),
        )
        .context(format!(
            "{label} is a file at a release tag, which never changes, but it differs from the one {} recorded (document {}); the mirror or upstream serves different content",
            base.origin, rec.id
        )));
    }
    let text = String::from_utf8(bytes).map_err(|_| Error::Document {
        url: label.clone(),
        reason: "not UTF-8 text".into(),
    })?;
    Ok(Some(Fetched {
        id: doc.id(&sha256),
        text,
        url,
        sha256,
        label,
    }))
}

/// The website's release data.
struct Web {
    schedule: BTreeMap<u32, website::Scheduled>,
    eol: BTreeMap<u32, Vec<website::Ended>>,
    schedule_id: String,
    eol_id: String,
    eol_doc: Fetched,
}

impl Web {
    fn parse(docs: &BTreeMap<Doc, Fetched>) -> Result<Web> {
        let s = doc(docs, Doc::Schedule)?;
        let e = doc(docs, Doc::Eol)?;
        Ok(Web {
            schedule: website::parse_schedule(&s.text).map_err(|x| s.error(x))?,
            eol: website::parse_eol(&e.text).map_err(|x| e.error(x))?,
            schedule_id: s.id.clone(),
            eol_id: e.id.clone(),
            eol_doc: e.clone(),
        })
    }
}

/// The catalog entry of minor 1.`n` with newest patch `latest`, from the documents read.
fn build_minor(
    base: &Catalog,
    n: u32,
    latest: u32,
    docs: &BTreeMap<Doc, Fetched>,
    web: &Web,
    warnings: &mut Vec<String>,
) -> Result<MinorEntry> {
    let key = format!("1.{n}");
    let template = template_minor(base, n);
    let stable_id = doc(docs, Doc::Stable(n))?.id.clone();
    let (released, end_of_life, source) = dates(base, n, latest, &stable_id, web, warnings)?;
    let images = images(n, latest, docs, template, warnings)?;
    let tools = tools(base, n, latest, docs, template)?;
    let (removed_apis, served_apis) = apis(n, docs)?;
    // Hand-entered from the sources they cite (update does not read them yet): the
    // compatibility and skew facts carry over from the base catalog's entry for the minor.
    let same = base.minors.iter().find(|m| m.minor == key);
    let compatibility = same.and_then(|m| m.compatibility.clone());
    Ok(MinorEntry {
        minor: key,
        latest_patch: latest,
        // Read from stable-1.N.txt.
        latest_patch_confidence: None,
        latest_patch_note: None,
        released,
        end_of_life,
        source,
        images,
        tools,
        removed_apis,
        served_apis: Some(served_apis),
        compatibility,
        skew: same.and_then(|m| m.skew.clone()),
        kubeadm: same.and_then(|m| m.kubeadm.clone()),
    })
}

/// The base catalog's entry for the minor, else its nearest minor: where repository names
/// and URL templates (which upstream's files do not carry) come from.
fn template_minor(base: &Catalog, n: u32) -> Option<&MinorEntry> {
    base.minors.iter().min_by_key(|m| {
        let k = super::parse_minor_key(&m.minor).unwrap_or(0);
        (k.abs_diff(n), k > n)
    })
}

fn dates(
    base: &Catalog,
    n: u32,
    latest: u32,
    stable_id: &str,
    web: &Web,
    warnings: &mut Vec<String>,
) -> Result<(Date, Date, Vec<String>)> {
    let key = format!("1.{n}");
    let mut source = vec![stable_id.to_string()];
    let scheduled = web.schedule.get(&n);
    let ended = website::ended(&web.eol, n).map_err(|e| web.eol_doc.error(e))?;
    let released = match (scheduled, base.minor(&key)) {
        (Some(s), _) => {
            source.push(web.schedule_id.clone());
            s.released
        }
        // schedule.yaml lists only supported minors; an ended one keeps the base's date.
        (None, Some(m)) => {
            source.extend(m.source.iter().cloned());
            m.released
        }
        (None, None) => {
            return Err(Error::Document {
                url: Doc::Schedule.url(),
                reason: format!(
                    "1.{n} is not listed, and the base catalog has no release date for it"
                ),
            });
        }
    };
    let end_of_life = match (&ended, scheduled) {
        (Some(e), _) => {
            source.push(web.eol_id.clone());
            if let Some(f) = e.final_patch
                && f.patch != latest
            {
                warnings.push(format!(
                    "{key}: eol.yaml names {f} as the final patch, stable-{key}.txt says v{key}.{latest}; the catalog uses v{key}.{latest}"
                ));
            }
            e.end_of_life
        }
        (None, Some(s)) => s.end_of_life,
        (None, None) => {
            return Err(Error::Document {
                url: Doc::Eol.url(),
                reason: format!("1.{n} is listed neither here nor in schedule.yaml"),
            });
        }
    };
    let mut seen = BTreeSet::new();
    source.retain(|s| seen.insert(s.clone()));
    Ok((released, end_of_life, source))
}

/// What one patch's kubeadm deploys.
struct PatchImages {
    etcd: constants_go::EtcdSelection,
    coredns: String,
    pause: String,
    id: String,
}

fn images(
    n: u32,
    latest: u32,
    docs: &BTreeMap<Doc, Fetched>,
    template: Option<&MinorEntry>,
    warnings: &mut Vec<String>,
) -> Result<Vec<CatalogImage>> {
    let mut patches = Vec::new();
    for p in 0..=latest {
        let f = doc(docs, Doc::Constants(Version::new(n, p)))?;
        let c = constants_go::parse(&f.text, n).map_err(|e| f.error(e))?;
        let etcd = constants_go::select_etcd(&c, n).map_err(|e| f.error(e))?;
        patches.push(PatchImages {
            etcd,
            coredns: c.coredns,
            pause: c.pause,
            id: f.id.clone(),
        });
    }
    let mut out = Vec::new();
    for (name, default_repo) in IMAGES {
        let repository = template
            .and_then(|m| m.images.iter().find(|i| i.name == name))
            .map_or(default_repo.to_string(), |i| i.repository.clone());
        let value = |p: &PatchImages| -> (String, Option<String>) {
            match name {
                "etcd" => (p.etcd.tag.clone(), etcd_note(n, p.etcd.choice)),
                "coredns" => (p.coredns.clone(), None),
                _ => (p.pause.clone(), None),
            }
        };
        let tags = rows(&patches, value);
        for r in &tags {
            if let Some(note) = &r.note {
                warnings.push(format!(
                    "1.{n} {name} {} from v1.{n}.{}: {note}",
                    r.tag, r.from_patch
                ));
            }
        }
        out.push(CatalogImage {
            name: name.to_string(),
            repository,
            tags,
        });
    }
    Ok(out)
}

fn etcd_note(n: u32, choice: constants_go::EtcdChoice) -> Option<String> {
    match choice {
        constants_go::EtcdChoice::Exact => None,
        constants_go::EtcdChoice::Nearest { key } => Some(format!(
            "SupportedEtcdVersion has no key {n} at these tags; kubeadm warns and uses the nearest key, {key}"
        )),
        constants_go::EtcdChoice::DefaultForGap => Some(format!(
            "SupportedEtcdVersion has no key {n} but keys on both sides at these tags; kubeadm deploys DefaultEtcdVersion"
        )),
    }
}

/// Consecutive patches with the same value (and the same way of arriving at it) become one
/// row, sourced to each patch's own document.
fn rows(
    patches: &[PatchImages],
    value: impl Fn(&PatchImages) -> (String, Option<String>),
) -> Vec<TagRow> {
    let mut out: Vec<TagRow> = Vec::new();
    let mut current: Option<(String, Option<String>)> = None;
    for (p, img) in patches.iter().enumerate() {
        let v = value(img);
        match (&current, out.last_mut()) {
            (Some(c), Some(row)) if *c == v => row.source.push(img.id.clone()),
            _ => {
                out.push(TagRow {
                    from_patch: p as u32,
                    tag: v.0.clone(),
                    source: vec![img.id.clone()],
                    confidence: None,
                    note: v.1.clone(),
                });
                current = Some(v);
            }
        }
    }
    out
}

fn tools(
    base: &Catalog,
    n: u32,
    latest: u32,
    docs: &BTreeMap<Doc, Fetched>,
    template: Option<&MinorEntry>,
) -> Result<Vec<Tool>> {
    let v = Version::new(n, latest);
    let f = doc(docs, Doc::Dependencies(v))?;
    let deps = dependencies::parse(&f.text).map_err(|e| f.error(e))?;
    let mut out = Vec::new();
    for (name, version) in [("crictl", deps.crictl), ("cni-plugins", deps.cni)] {
        let t = template
            .and_then(|m| m.tools.iter().find(|t| t.name == name))
            .or_else(|| {
                base.minors
                    .iter()
                    .rev()
                    .find_map(|m| m.tools.iter().find(|t| t.name == name))
            })
            .ok_or_else(|| {
                Error::invalid(
                    "catalog",
                    "base catalog",
                    format!("no {name} entry to take the download URL templates from"),
                )
            })?;
        out.push(Tool {
            name: name.to_string(),
            version,
            url: t.url.clone(),
            checksum_url: t.checksum_url.clone(),
            checksum_format: t.checksum_format,
            mode: t.mode,
            source: vec![f.id.clone()],
            confidence: None,
            note: Some(format!("build/dependencies.yaml at {v}")),
        });
    }
    Ok(out)
}

/// The discovery documents of `v1.m.0`, combined.
fn discovery_at(
    m: u32,
    docs: &BTreeMap<Doc, Fetched>,
) -> Result<(discovery::Discovery, Vec<String>)> {
    let v = Version::new(m, 0);
    let get = |f: DiscoveryFile| doc(docs, Doc::Discovery(v, f));
    let (api, core, apis) = (
        get(DiscoveryFile::Api)?,
        get(DiscoveryFile::CoreV1)?,
        get(DiscoveryFile::Apis)?,
    );
    let (agg, agg_version) = match get(DiscoveryFile::Aggregated) {
        Ok(a) => (a, discovery::AGGREGATED_API_VERSION),
        Err(_) => (
            get(DiscoveryFile::AggregatedV2beta1)?,
            discovery::AGGREGATED_V2BETA1_API_VERSION,
        ),
    };
    let d = discovery::combine(
        &discovery::parse_api_versions(&api.text).map_err(|e| api.error(e))?,
        &discovery::parse_resource_list(&core.text).map_err(|e| core.error(e))?,
        &discovery::parse_group_list(&apis.text).map_err(|e| apis.error(e))?,
        &discovery::parse_aggregated(&agg.text, agg_version).map_err(|e| agg.error(e))?,
    )
    .map_err(|e| Error::Document {
        url: format!("{} and {}", apis.label, agg.label),
        reason: e,
    })?;
    let ids = [api, core, apis, agg]
        .iter()
        .map(|f| f.id.clone())
        .collect();
    Ok((d, ids))
}

/// Removed: served at `v1.(n-1).0` and not at `v1.n.0` (whole group/versions, and
/// resources gone from a group/version that stays). Served: `v1.n.0`'s.
fn apis(n: u32, docs: &BTreeMap<Doc, Fetched>) -> Result<(Vec<RemovedApi>, ServedApis)> {
    let (new, new_ids) = discovery_at(n, docs)?;
    let (old, old_ids) = discovery_at(n.saturating_sub(1), docs)?;
    let source: Vec<String> = old_ids.iter().chain(&new_ids).cloned().collect();
    let mut removed = Vec::new();
    for gv in &old.served {
        let kinds_of = |rs: &mut dyn Iterator<Item = &super::ServedResource>| {
            rs.map(|r| r.kind.clone())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>()
        };
        match new.get(&gv.group_version) {
            None => {
                let kinds = kinds_of(&mut gv.resources.iter());
                removed.push(RemovedApi {
                    replacement: replacement(&new, &gv.group_version, &kinds),
                    group_version: gv.group_version.clone(),
                    kinds,
                    partial: false,
                    source: source.clone(),
                    confidence: None,
                    note: None,
                });
            }
            Some(now) => {
                let still: BTreeSet<&str> =
                    now.resources.iter().map(|r| r.resource.as_str()).collect();
                let kinds = kinds_of(
                    &mut gv
                        .resources
                        .iter()
                        .filter(|r| !still.contains(r.resource.as_str())),
                );
                if !kinds.is_empty() {
                    removed.push(RemovedApi {
                        group_version: gv.group_version.clone(),
                        kinds,
                        replacement: None,
                        partial: true,
                        source: source.clone(),
                        confidence: None,
                        note: Some(format!(
                            "{} is still served in 1.{n}; these kinds are not",
                            gv.group_version
                        )),
                    });
                }
            }
        }
    }
    let served = ServedApis {
        source: new_ids,
        group_versions: new.served,
    };
    Ok((removed, served))
}

/// What to use instead of a removed group/version: a group/version of the same group that
/// still serves every one of its kinds, the preferred one if it does, else the first by
/// Kubernetes' version priority (GA, then beta, then alpha, newest first).
fn replacement(new: &discovery::Discovery, gv: &str, kinds: &[String]) -> Option<String> {
    let (group, _) = gv.split_once('/')?;
    let serves_all = |g: &super::ServedGroupVersion| {
        kinds
            .iter()
            .all(|k| g.resources.iter().any(|r| &r.kind == k))
    };
    let mut candidates: Vec<&super::ServedGroupVersion> = new
        .served
        .iter()
        .filter(|g| g.group_version.split_once('/').map(|(x, _)| x) == Some(group))
        .filter(|g| serves_all(g))
        .collect();
    if let Some(p) = new.preferred.get(group)
        && candidates.iter().any(|g| &g.group_version == p)
    {
        return Some(p.clone());
    }
    candidates.sort_by_key(|g| {
        std::cmp::Reverse(version_priority(
            g.group_version.rsplit('/').next().unwrap_or(""),
        ))
    });
    candidates.first().map(|g| g.group_version.clone())
}

/// Kubernetes version priority of `v1`, `v2beta1`, `v1alpha3`: GA > beta > alpha, then the
/// major, then the pre-release number (larger is higher). Unknown forms sort lowest.
fn version_priority(v: &str) -> (u8, u32, u32) {
    let Some(rest) = v.strip_prefix('v') else {
        return (0, 0, 0);
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let Ok(major) = rest[..digits].parse::<u32>() else {
        return (0, 0, 0);
    };
    let tail = &rest[digits..];
    let (level, num) = if tail.is_empty() {
        (3, 0)
    } else if let Some(n) = tail.strip_prefix("beta") {
        (2, n.parse().unwrap_or(0))
    } else if let Some(n) = tail.strip_prefix("alpha") {
        (1, n.parse().unwrap_or(0))
    } else {
        return (0, 0, 0);
    };
    (level, major, num)
}

/// `base` with the new entries in place (or added, in order), the new `catalog_version`,
/// and exactly the documents some value refers to. Validated.
fn merge(
    base: &Catalog,
    entries: Vec<MinorEntry>,
    docs: &BTreeMap<Doc, Fetched>,
    today: Date,
) -> Result<Catalog> {
    let mut c = base.clone();
    c.catalog_version = today.to_string().replace('-', ".");
    for e in entries {
        match c.minors.iter_mut().find(|m| m.minor == e.minor) {
            Some(slot) => *slot = e,
            None => c.minors.push(e),
        }
    }
    c.minors
        .sort_by_key(|m| super::parse_minor_key(&m.minor).unwrap_or(u32::MAX));
    let mut all: BTreeMap<String, Document> = c
        .documents
        .iter()
        .map(|d| (d.id.clone(), d.clone()))
        .collect();
    for f in docs.values() {
        all.insert(
            f.id.clone(),
            Document {
                id: f.id.clone(),
                url: f.url.clone(),
                sha256: f.sha256,
            },
        );
    }
    let used = referenced_ids(&c);
    c.documents = all.into_values().filter(|d| used.contains(&d.id)).collect();
    c.validate()
        .map_err(|e| Error::invalid("catalog", "the updated catalog", e))?;
    Ok(c)
}

/// Every id a value of the catalog refers to.
fn referenced_ids(c: &Catalog) -> BTreeSet<String> {
    let mut ids: BTreeSet<String> = BTreeSet::new();
    let mut add = |l: &[String]| ids.extend(l.iter().cloned());
    for b in &c.defaults.binaries {
        add(&b.source);
    }
    add(&c.skew.source);
    for m in &c.minors {
        add(&m.source);
        if let Some(s) = &m.skew {
            add(&s.source);
        }
        if let Some(k) = &m.kubeadm {
            add(&k.source);
        }
        for i in &m.images {
            for r in &i.tags {
                add(&r.source);
            }
        }
        for t in &m.tools {
            add(&t.source);
        }
        for r in &m.removed_apis {
            add(&r.source);
        }
        if let Some(s) = &m.served_apis {
            add(&s.source);
        }
    }
    for r in &c.earlier_removed_apis {
        add(&r.source);
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patch(tag: &str, choice: constants_go::EtcdChoice, id: &str) -> PatchImages {
        PatchImages {
            etcd: constants_go::EtcdSelection {
                tag: tag.into(),
                choice,
            },
            coredns: "v1.12.4".into(),
            pause: "3.10.1".into(),
            id: id.into(),
        }
    }

    #[test]
    fn rows_group_equal_patches_and_keep_each_source() {
        use constants_go::EtcdChoice::*;
        let p = [
            patch("3.5.7-0", Nearest { key: 26 }, "a0"),
            patch("3.5.7-0", Nearest { key: 26 }, "a1"),
            patch("3.5.7-0", Exact, "a2"),
            patch("3.5.9-0", Exact, "a3"),
            patch("3.5.9-0", Exact, "a4"),
        ];
        let etcd = rows(&p, |x| (x.etcd.tag.clone(), etcd_note(27, x.etcd.choice)));
        let got: Vec<(u32, &str, Vec<&str>, bool)> = etcd
            .iter()
            .map(|r| {
                (
                    r.from_patch,
                    r.tag.as_str(),
                    r.source.iter().map(String::as_str).collect(),
                    r.note.is_some(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (0, "3.5.7-0", vec!["a0", "a1"], true),
                (2, "3.5.7-0", vec!["a2"], false),
                (3, "3.5.9-0", vec!["a3", "a4"], false),
            ]
        );
        let coredns = rows(&p, |x| (x.coredns.clone(), None));
        assert_eq!(coredns.len(), 1);
        assert_eq!(coredns[0].source.len(), 5);
    }

    #[test]
    fn documents_the_skew_blocks_cite_are_kept() {
        // The kubeadm blocks cite kubeadm's CI files pinned in `documents`; an update that
        // dropped them would leave the blocks citing ids no longer listed.
        let c = crate::catalog::Catalog::builtin().unwrap();
        let ids = referenced_ids(&c);
        for d in &c.documents {
            assert!(ids.contains(&d.id), "{} is cited", d.id);
        }
        assert!(ids.contains("kinder-upgrade-action@1ee96035"));
        assert!(ids.contains("version-skew-policy-src"));
    }

    #[test]
    fn replacements_serve_the_removed_kinds() {
        use crate::catalog::{ServedGroupVersion, ServedResource};
        let gv = |name: &str, kinds: &[&str]| ServedGroupVersion {
            group_version: name.into(),
            resources: kinds
                .iter()
                .map(|k| ServedResource {
                    resource: k.to_lowercase() + "s",
                    kind: k.to_string(),
                })
                .collect(),
        };
        let d = discovery::Discovery {
            served: vec![
                gv("scheduling.k8s.io/v1", &["PriorityClass"]),
                gv("scheduling.k8s.io/v1alpha3", &["PodGroup", "Workload"]),
                gv("scheduling.k8s.io/v1beta1", &["PodGroup", "Workload"]),
            ],
            preferred: BTreeMap::from([(
                "scheduling.k8s.io".to_string(),
                "scheduling.k8s.io/v1".to_string(),
            )]),
        };
        let k = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            replacement(
                &d,
                "scheduling.k8s.io/v1alpha2",
                &k(&["PodGroup", "Workload"])
            )
            .as_deref(),
            Some("scheduling.k8s.io/v1beta1")
        );
        assert_eq!(
            replacement(&d, "scheduling.k8s.io/v1beta2", &k(&["PriorityClass"])).as_deref(),
            Some("scheduling.k8s.io/v1")
        );
        assert_eq!(
            replacement(&d, "scheduling.k8s.io/v1alpha1", &k(&["Gone"])),
            None
        );
        assert_eq!(replacement(&d, "v1", &k(&["Pod"])), None);
        let mut order = [
            "v1alpha1", "v2", "v1beta2", "v1", "v1beta10", "vx", "v2alpha1",
        ];
        order.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        assert_eq!(
            order,
            [
                "v2", "v1", "v1beta10", "v1beta2", "v2alpha1", "v1alpha1", "vx"
            ]
        );
    }

    #[test]
    fn templates_come_from_the_same_or_nearest_minor() {
        let c = Catalog::builtin().unwrap();
        assert_eq!(template_minor(&c, 30).unwrap().minor, "1.30");
        assert_eq!(
            template_minor(&c, 45).unwrap().minor,
            c.minors.last().unwrap().minor
        );
        assert_eq!(template_minor(&c, 10).unwrap().minor, "1.27");
    }
}
