//! A CycloneDX 1.5 SBOM (JSON) of a bundle, with the NTIA minimum elements: every image
//! as a `pkg:oci` component named by the digest its publisher lists (and signs), each
//! carried platform manifest and each config and layer below it, every file and package
//! with its sha256, the lock and catalog the hop was resolved from; a supplier for each
//! component (from where it was fetched), the SBOM's author and supplier, a timestamp and
//! the dependency graph (bundle -> images -> platform manifests -> layers; bundle -> files
//! and packages). Deterministic: the serial number is derived from the payload's digest
//! and the timestamp is the build's source date, so the same bundle gives the same bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use cyclonedx_bom::external_models::date_time::DateTime;
use cyclonedx_bom::models::component::Classification;
use cyclonedx_bom::models::dependency::{Dependencies, Dependency};
use cyclonedx_bom::models::hash::{Hash, HashAlgorithm, HashValue, Hashes};
use cyclonedx_bom::models::metadata::Metadata;
use cyclonedx_bom::models::organization::{OrganizationalContact, OrganizationalEntity};
use cyclonedx_bom::models::property::{Properties, Property};
use cyclonedx_bom::models::tool::{Tool, Tools};
use cyclonedx_bom::prelude::*;

use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::manifest::{BundleManifest, Carried, ImageRecord, Role, ServedAs};
use crate::time::Timestamp;

/// The children (config, then layers) of each platform manifest, by its digest. The
/// build reads them from the manifests it fetched ([`platform_children`]); without them
/// an image lists its blobs directly.
pub type Children = BTreeMap<Sha256Digest, Vec<Sha256Digest>>;

/// Hosts whose content the Kubernetes project publishes: registry.k8s.io serves its
/// images, dl.k8s.io its binaries, pkgs.k8s.io its packages
/// (https://kubernetes.io/releases/download/). The project's name for itself as an author
/// is "The Kubernetes Authors" (the header of every source file,
/// https://github.com/kubernetes/kubernetes/blob/master/hack/boilerplate/boilerplate.go.txt).
const KUBERNETES_HOSTS: [&str; 3] = ["registry.k8s.io", "dl.k8s.io", "pkgs.k8s.io"];

/// The supplier of content fetched from `host`: the Kubernetes Authors for the project's
/// own hosts, else the host itself (what the bundle can vouch for: where it came from).
fn supplier(host: &str) -> OrganizationalEntity {
    let mut e = if KUBERNETES_HOSTS.contains(&host) {
        let mut e = OrganizationalEntity::new("The Kubernetes Authors");
        e.url = Uri::try_from("https://kubernetes.io".to_string())
            .ok()
            .map(|u| vec![u]);
        e
    } else {
        OrganizationalEntity::new(host)
    };
    if e.url.is_none() {
        e.url = Uri::try_from(format!("https://{host}"))
            .ok()
            .map(|u| vec![u]);
    }
    e
}

/// The host of an `https://` or `http://` source URL.
fn url_host(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let host = rest.split(['/', '?', '#']).next()?;
    let host = host.rsplit('@').next()?;
    Some(host.split(':').next().unwrap_or(host)).filter(|h| !h.is_empty())
}

fn sha256(d: &Sha256Digest) -> Hashes {
    Hashes(vec![Hash {
        alg: HashAlgorithm::SHA_256,
        content: HashValue(d.hex()),
    }])
}

fn prop(name: &str, value: &str) -> Property {
    Property::new(name, value)
}

/// Each artifact's upstream signature, by (kind, reference or source), as the report's
/// section 11 states it.
type Signatures = BTreeMap<(&'static str, String), super::ProvenanceLine>;

/// The properties that record an artifact's upstream signature (identity, issuer, Rekor
/// log index, log time, where it was found) or the exception that let it in.
fn provenance_props(sigs: &Signatures, kind: &'static str, name: &str) -> Vec<Property> {
    let Some(line) = sigs.get(&(kind, name.to_owned())) else {
        return Vec::new();
    };
    match (&line.signature, &line.exception) {
        (Some(s), _) => {
            let mut out = vec![
                prop("airlock:provenance:identity", &s.identity),
                prop("airlock:provenance:issuer", &s.issuer),
                prop(
                    "airlock:provenance:rekor-log-index",
                    &s.log_index.to_string(),
                ),
                prop("airlock:provenance:integrated-time", &s.integrated_time),
            ];
            if let Some(src) = &s.source {
                out.push(prop("airlock:provenance:source", src));
            }
            out
        }
        (None, Some(e)) => vec![prop("airlock:provenance:exception", e)],
        (None, None) => Vec::new(),
    }
}

/// The `pkg:oci` purl of `img` at `digest` (the purl spec's oci type: the name is the
/// last part of the repository, lowercased; the version the digest; qualifiers sorted:
/// `arch`, `repository_url`, `tag`).
fn oci_purl(img: &ImageRecord, digest: &Sha256Digest, arch: Option<&str>) -> String {
    let repo = &img.name.repository;
    let name = repo.rsplit('/').next().unwrap_or(repo).to_lowercase();
    let mut purl = format!("pkg:oci/{name}@sha256%3A{}?", digest.hex());
    if let Some(a) = arch {
        purl.push_str(&format!("arch={a}&"));
    }
    purl.push_str(&format!("repository_url={}/{repo}", img.name.registry));
    if let Some(t) = &img.name.tag {
        purl.push_str(&format!("&tag={t}"));
    }
    purl
}

/// The build's source date, for the SBOM's timestamp: `SOURCE_DATE_EPOCH` when set
/// (`source_date_epoch`, as reproducible builds define it), else the date of the catalog
/// the lock was resolved with (its version is `YYYY.MM.DD`), else none: nothing dates a
/// hand-written lock reproducibly, and a clock time would make the same lock give other
/// bytes.
pub fn source_date(
    m: &BundleManifest,
    source_date_epoch: Option<&str>,
) -> Result<Option<Timestamp>> {
    if let Some(s) = source_date_epoch {
        let secs: i64 = s.trim().parse().map_err(|_| {
            Error::invalid(
                "option",
                "SOURCE_DATE_EPOCH",
                format!("{s:?} is not a number"),
            )
        })?;
        return Ok(Some(Timestamp(secs)).filter(|t| t.writable()));
    }
    let Some(c) = &m.catalog else { return Ok(None) };
    let parts: Vec<&str> = c.version.split('.').collect();
    let [y, mo, d] = parts[..] else {
        return Ok(None);
    };
    Ok(Timestamp::parse(&format!("{y}-{mo:0>2}-{d:0>2}T00:00:00Z"), true).ok())
}

/// [`source_date`] with `SOURCE_DATE_EPOCH` from the environment.
pub fn source_date_from_env(m: &BundleManifest) -> Result<Option<Timestamp>> {
    source_date(m, std::env::var("SOURCE_DATE_EPOCH").ok().as_deref())
}

/// The config and layer digests of every platform manifest of `m`, read with `read`
/// (the build's store). A manifest that does not parse is named in the error.
pub fn platform_children(
    m: &BundleManifest,
    read: &dyn Fn(&Sha256Digest) -> Result<Vec<u8>>,
) -> Result<Children> {
    #[derive(serde::Deserialize)]
    struct Desc {
        digest: Sha256Digest,
    }
    #[derive(serde::Deserialize)]
    struct ImageManifest {
        config: Desc,
        #[serde(default)]
        layers: Vec<Desc>,
    }
    let mut out = Children::new();
    for c in m.images.iter().flat_map(|i| &i.manifests) {
        if out.contains_key(&c.digest) {
            continue;
        }
        let bytes = read(&c.digest)?;
        let parsed: ImageManifest = serde_json::from_slice(&bytes)
            .map_err(|e| Error::invalid("image manifest", c.digest.to_string(), e))?;
        let children = std::iter::once(parsed.config.digest)
            .chain(parsed.layers.into_iter().map(|l| l.digest))
            .collect();
        out.insert(c.digest, children);
    }
    Ok(out)
}

/// The components and dependency graph as they are built.
#[derive(Default)]
struct Graph {
    components: Vec<Component>,
    refs: BTreeSet<String>,
    deps: BTreeMap<String, Vec<String>>,
}

impl Graph {
    /// Add `c` under `bom_ref` unless a component already has it (a layer shared by two
    /// images is one component); returns the ref.
    fn add(&mut self, bom_ref: String, mut c: Component) -> String {
        if self.refs.insert(bom_ref.clone()) {
            c.bom_ref = Some(bom_ref.clone());
            self.components.push(c);
        }
        bom_ref
    }

    fn depends(&mut self, from: &str, on: Vec<String>) {
        let e = self.deps.entry(from.to_string()).or_default();
        for r in on {
            if !e.contains(&r) {
                e.push(r);
            }
        }
    }
}

const BUNDLE_REF: &str = "bundle";

/// A config or layer.
fn blob(g: &mut Graph, c: &Carried, supplier_of: &OrganizationalEntity) -> String {
    let mut comp = Component::new(Classification::File, &c.digest.to_string(), "", None);
    comp.version = None;
    comp.hashes = Some(sha256(&c.digest));
    comp.supplier = Some(supplier_of.clone());
    comp.properties = Some(Properties(vec![
        prop("airlock:media-type", &c.media_type),
        prop("airlock:size", &c.size.to_string()),
    ]));
    g.add(format!("blob:{}", c.digest), comp)
}

/// One image: the component for its upstream index or manifest, a component per carried
/// platform manifest, and one per config and layer, linked.
fn image(g: &mut Graph, img: &ImageRecord, children: &Children, sigs: &Signatures) -> String {
    let upstream = &img.source.digest;
    let version = img.name.tag.clone().unwrap_or_else(|| upstream.to_string());
    // A Helm chart is an OCI artifact, not a container image.
    let class = if img.role == Some(Role::Chart) {
        Classification::Application
    } else {
        Classification::Container
    };
    let who = supplier(&img.name.registry);
    let purl = oci_purl(img, upstream, None);
    let mut c = Component::new(class.clone(), &img.name.repository, &version, None);
    c.purl = Purl::from_str(&purl).ok();
    c.hashes = Some(sha256(upstream));
    c.supplier = Some(who.clone());
    let mut props = vec![
        prop("airlock:served-as", served_as(img.served_as)),
        prop("airlock:served-digest", &img.served.digest.to_string()),
        prop(
            "airlock:platforms",
            &img.platforms
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(","),
        ),
    ];
    if let Some(r) = img.role {
        props.push(prop("airlock:role", r.as_str()));
    }
    props.extend(provenance_props(sigs, "image", &img.name.to_string()));
    c.properties = Some(Properties(props));
    let me = g.add(format!("image:{}@{upstream}", img.name), c);
    let blobs: BTreeMap<Sha256Digest, &Carried> = img.blobs.iter().map(|b| (b.digest, b)).collect();
    let single = img.served_as == ServedAs::Manifest;
    let mut mine = Vec::new();
    for pm in &img.manifests {
        // A single-platform image is its own platform manifest.
        let pref = if single && pm.digest == *upstream {
            me.clone()
        } else {
            let arch = pm.platform.as_ref().map(|p| p.architecture.clone());
            let mut pc = Component::new(class.clone(), &img.name.repository, &version, None);
            pc.purl = Purl::from_str(&oci_purl(img, &pm.digest, arch.as_deref())).ok();
            pc.hashes = Some(sha256(&pm.digest));
            pc.supplier = Some(who.clone());
            if let Some(p) = &pm.platform {
                pc.properties = Some(Properties(vec![prop("airlock:platform", &p.to_string())]));
            }
            let r = g.add(format!("manifest:{}", pm.digest), pc);
            mine.push(r.clone());
            r
        };
        if let Some(kids) = children.get(&pm.digest) {
            let refs = kids
                .iter()
                .filter_map(|d| blobs.get(d))
                .map(|b| blob(g, b, &who))
                .collect();
            g.depends(&pref, refs);
        }
    }
    g.depends(&me, mine);
    // Without the manifests' bytes, which platform uses which blob is unknown: the image
    // lists them all.
    if !img
        .manifests
        .iter()
        .all(|pm| children.contains_key(&pm.digest))
    {
        let refs = img.blobs.iter().map(|b| blob(g, b, &who)).collect();
        g.depends(&me, refs);
    }
    me
}

fn served_as(s: ServedAs) -> &'static str {
    match s {
        ServedAs::Index => "index",
        ServedAs::SubsetIndex => "subset-index",
        ServedAs::Manifest => "manifest",
    }
}

/// Every file; a package file is named as its package.
fn files(g: &mut Graph, m: &BundleManifest, sigs: &Signatures) -> Vec<String> {
    let packages: BTreeMap<&str, &crate::manifest::CarriedPackage> = m
        .package_repositories
        .iter()
        .flat_map(|r| &r.packages)
        .map(|p| (p.target.as_str(), p))
        .collect();
    let mut refs = Vec::new();
    for f in &m.files {
        let package = packages.get(f.target.as_str());
        let (class, name, version) = match package {
            Some(p) => (
                Classification::Application,
                p.name.as_str(),
                p.version.clone(),
            ),
            None => (
                Classification::File,
                f.target.as_str(),
                f.sha256.hex()[..12].to_string(),
            ),
        };
        let mut c = Component::new(class, name, &version, None);
        c.hashes = Some(sha256(&f.sha256));
        c.supplier = url_host(&f.source).map(supplier);
        let mut props = vec![
            prop("airlock:target", f.target.as_str()),
            prop("airlock:source", &f.source),
            prop("airlock:kind", f.kind.map(|k| k.as_str()).unwrap_or("file")),
            prop("airlock:mode", &f.mode.to_string()),
        ];
        if let Some(p) = package {
            props.push(prop("airlock:arch", &p.arch));
        }
        props.extend(provenance_props(sigs, "file", &f.source));
        c.properties = Some(Properties(props));
        refs.push(g.add(format!("file:{}", f.target), c));
    }
    refs
}

/// The lock and the catalog the hop was resolved from.
fn inputs(g: &mut Graph, m: &BundleManifest) -> Vec<String> {
    let mut lock = Component::new(
        Classification::Data,
        "airlock lock",
        &m.lock_sha256.hex()[..12],
        None,
    );
    lock.hashes = Some(sha256(&m.lock_sha256));
    let mut refs = vec![g.add(format!("lock:{}", m.lock_sha256), lock)];
    if let Some(cat) = &m.catalog {
        let mut c = Component::new(
            Classification::Data,
            "airlock Kubernetes catalog",
            &cat.version,
            None,
        );
        c.hashes = Some(sha256(&cat.sha256));
        refs.push(g.add(format!("catalog:{}", cat.sha256), c));
    }
    refs
}

/// The SBOM's own facts: the bundle it describes, who made it, when.
fn metadata(m: &BundleManifest, created: Option<Timestamp>) -> Result<Metadata> {
    let version = env!("CARGO_PKG_VERSION");
    let (name, hop) = match &m.hop {
        Some(h) => ("kubernetes-hop", format!("{}->{}", h.from, h.to)),
        None => ("airlock-bundle", m.payload.sha256.hex()[..12].to_string()),
    };
    let mut bundle = Component::new(
        Classification::Application,
        name,
        &hop,
        Some(BUNDLE_REF.to_string()),
    );
    bundle.hashes = Some(sha256(&m.payload.sha256));
    // The bundle's content is the hop's: its supplier is the Kubernetes project's when
    // it is a Kubernetes hop. The SBOM is written by airlock, which is its author.
    let supplier = m.hop.as_ref().map(|_| supplier(KUBERNETES_HOSTS[0]));
    bundle.supplier = supplier.clone();
    let author = format!("airlock {version}");
    bundle.author = Some(NormalizedString::new(&author));
    let timestamp = match created {
        Some(t) => Some(
            DateTime::try_from(t.to_string())
                .map_err(|e| Error::invalid("SBOM", "timestamp", format!("{e:?}")))?,
        ),
        None => None,
    };
    Ok(Metadata {
        timestamp,
        tools: Some(Tools::List(vec![Tool::new("airlock", "airlock", version)])),
        authors: Some(vec![OrganizationalContact::new(&author, None)]),
        component: Some(bundle),
        supplier,
        ..Metadata::default()
    })
}

/// The SBOM of `m`, as JSON bytes. `created` is its timestamp ([`source_date`]);
/// `children` the platform manifests' configs and layers ([`platform_children`]).
pub fn sbom(
    m: &BundleManifest,
    created: Option<Timestamp>,
    children: &Children,
) -> Result<Vec<u8>> {
    let mut g = Graph::default();
    let sigs: Signatures = super::sections::provenance::lines_of(m)
        .into_iter()
        .map(|l| ((l.kind, l.artifact.clone()), l))
        .collect();
    let mut top: Vec<String> = m
        .images
        .iter()
        .map(|i| image(&mut g, i, children, &sigs))
        .collect();
    top.extend(files(&mut g, m, &sigs));
    top.extend(inputs(&mut g, m));
    g.depends(BUNDLE_REF, top);
    let dependencies = g
        .deps
        .into_iter()
        .map(|(dependency_ref, dependencies)| Dependency {
            dependency_ref,
            dependencies,
        })
        .collect();
    // A v4-shaped UUID from the payload digest: the same bundle, the same serial.
    let d = m.payload.sha256.hex();
    let uuid = format!(
        "{}-{}-4{}-8{}-{}",
        &d[0..8],
        &d[8..12],
        &d[13..16],
        &d[17..20],
        &d[20..32]
    );
    let bom = Bom {
        serial_number: UrnUuid::new(format!("urn:uuid:{uuid}")).ok(),
        metadata: Some(metadata(m, created)?),
        components: Some(Components(g.components)),
        dependencies: Some(Dependencies(dependencies)),
        spec_version: SpecVersion::V1_5,
        ..Bom::default()
    };
    let mut out = Vec::new();
    bom.output_as_json(&mut out, SpecVersion::V1_5)
        .map_err(|e| Error::invalid("SBOM", "<memory>", format!("{e:?}")))?;
    out.push(b'\n');
    Ok(out)
}

/// The SBOM of the bundle in `dir` (manifest `m`): the one the build wrote into it, when
/// the manifest lists it and its bytes match (the build knew each platform's layers;
/// the bundle's payload is not read again to learn them), else one made from `m`.
pub fn of_bundle(dir: &std::path::Path, m: &BundleManifest) -> Result<Vec<u8>> {
    use crate::layout::DocPath;
    if let Some(doc) = m.documents.iter().find(|d| d.path == DocPath::Sbom) {
        let path = dir.join(DocPath::Sbom.file_name());
        if path.is_file() {
            let bytes = crate::fsutil::read_limited(&path, doc.size, "SBOM")?;
            if Sha256Digest::of(&bytes) == doc.sha256 {
                return Ok(bytes);
            }
        }
    }
    sbom(m, source_date_from_env(m)?, &Children::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The manifest of the demo bundle (a real build: tests/e2e/report.rs).
    fn demo() -> BundleManifest {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/report/testdata/demo/bundle");
        crate::report::load_manifest(&dir).expect("demo manifest").0
    }

    #[test]
    fn the_source_date_is_source_date_epoch_then_the_catalogs_date() {
        let mut m = demo();
        let t = source_date(&m, Some("1700000000")).unwrap().unwrap();
        assert_eq!(t.to_string(), "2023-11-14T22:13:20Z");
        let e = source_date(&m, Some("yesterday")).unwrap_err().to_string();
        assert!(
            e.contains("SOURCE_DATE_EPOCH") && e.contains("yesterday"),
            "{e}"
        );
        m.catalog = Some(crate::manifest::CatalogIdentity {
            version: "2026.12.6".into(),
            sha256: m.lock_sha256,
        });
        let t = source_date(&m, None).unwrap().unwrap();
        assert_eq!(t.to_string(), "2026-12-06T00:00:00Z");
        m.catalog.as_mut().unwrap().version = "dev".into();
        assert_eq!(source_date(&m, None).unwrap(), None);
        m.catalog = None;
        assert_eq!(source_date(&m, None).unwrap(), None);
    }

    fn json(m: &BundleManifest, children: &Children) -> serde_json::Value {
        let t = Some(Timestamp(1_700_000_000));
        let bytes = sbom(m, t, children).unwrap();
        assert_eq!(bytes, sbom(m, t, children).unwrap(), "deterministic");
        serde_json::from_slice(&bytes).unwrap()
    }

    fn depends_on<'a>(bom: &'a serde_json::Value, r: &str) -> Vec<&'a str> {
        bom["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["ref"] == r)
            .map(|d| {
                d["dependsOn"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_str().unwrap())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The properties named `airlock:provenance:*` of the component `bom_ref`.
    fn provenance_of(bom: &serde_json::Value, bom_ref: &str) -> BTreeMap<String, String> {
        let c = bom["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["bom-ref"] == bom_ref)
            .unwrap_or_else(|| panic!("no component {bom_ref}"));
        c["properties"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| {
                let name = p["name"].as_str()?.strip_prefix("airlock:provenance:")?;
                Some((name.to_owned(), p["value"].as_str()?.to_owned()))
            })
            .collect()
    }

    #[test]
    fn each_component_records_its_upstream_signature_or_the_exception() {
        use crate::manifest::{
            ArtifactEvidence, ArtifactKind, Evidence, Provenance, ProvenanceSource,
            SignatureEvidence,
        };
        let mut m = demo();
        let image_ref = |i: &ImageRecord| format!("image:{}@{}", i.name, i.source.digest);
        // Not checked: every image and file says so.
        let bom = json(&m, &Children::new());
        let refs: Vec<String> = m
            .images
            .iter()
            .map(image_ref)
            .chain(m.files.iter().map(|f| format!("file:{}", f.target)))
            .collect();
        for r in &refs {
            let p = provenance_of(&bom, r);
            assert_eq!(p.len(), 1, "{r}: {p:?}");
            assert!(p["exception"].contains("without --trusted-root"), "{r}");
        }
        // Checked: a signed image, a file let in by --allow-unsigned; the rest uncovered.
        let evidence = Evidence {
            size: 4,
            sha256: Sha256Digest::of(b"root"),
        };
        let (img, file) = (&m.images[0], &m.files[0]);
        m.provenance = Some(Provenance {
            trusted_root: evidence,
            artifacts: vec![
                ArtifactEvidence {
                    artifact: img.name.to_string(),
                    kind: ArtifactKind::Image,
                    digest: img.source.digest,
                    signature: Some(SignatureEvidence {
                        source: Some(ProvenanceSource::Referrer),
                        identity: "krel-trust@k8s-releng-prod.iam.gserviceaccount.com".into(),
                        issuer: "https://accounts.google.com".into(),
                        log_index: 42,
                        integrated_time: 1_765_000_000,
                        bundle: evidence,
                        payload: None,
                        key: None,
                    }),
                    unsigned_exception: None,
                },
                ArtifactEvidence {
                    artifact: file.source.clone(),
                    kind: ArtifactKind::File,
                    digest: file.sha256,
                    signature: None,
                    unsigned_exception: Some("carried anyway (--allow-unsigned X)".into()),
                },
            ],
        });
        let bom = json(&m, &Children::new());
        let signed = provenance_of(&bom, &image_ref(&m.images[0]));
        let want: BTreeMap<String, String> = [
            (
                "identity",
                "krel-trust@k8s-releng-prod.iam.gserviceaccount.com",
            ),
            ("issuer", "https://accounts.google.com"),
            ("rekor-log-index", "42"),
            ("integrated-time", "2025-12-06T05:46:40Z"),
            ("source", "referrer"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(signed, want);
        let allowed = provenance_of(&bom, &format!("file:{}", m.files[0].target));
        assert_eq!(allowed["exception"], "carried anyway (--allow-unsigned X)");
        let other = provenance_of(&bom, &image_ref(&m.images[1]));
        assert!(other["exception"].contains("no provenance policy covered it"));
    }

    #[test]
    fn images_are_named_by_their_upstream_digest_with_supplier_and_dependencies() {
        let m = demo();
        let bom = json(&m, &Children::new());
        assert_eq!(bom["metadata"]["timestamp"], "2023-11-14T22:13:20Z");
        assert_eq!(
            bom["metadata"]["supplier"]["name"],
            "The Kubernetes Authors"
        );
        assert!(
            bom["metadata"]["authors"][0]["name"]
                .as_str()
                .unwrap()
                .starts_with("airlock ")
        );
        let comps = bom["components"].as_array().unwrap();
        let top = depends_on(&bom, BUNDLE_REF);
        for img in &m.images {
            let r = format!("image:{}@{}", img.name, img.source.digest);
            let c = comps
                .iter()
                .find(|c| c["bom-ref"] == r.as_str())
                .expect("image");
            let purl = c["purl"].as_str().unwrap();
            assert!(
                purl.contains(&format!("@sha256%3A{}?", img.source.digest.hex())),
                "{purl}"
            );
            assert_eq!(c["supplier"]["name"], "The Kubernetes Authors");
            assert!(top.contains(&r.as_str()), "{r} not below the bundle");
            // Each platform manifest below the image, with its own purl and architecture.
            let below = depends_on(&bom, &r);
            for pm in &img.manifests {
                let pr = format!("manifest:{}", pm.digest);
                assert!(below.contains(&pr.as_str()), "{pr} not below {r}");
                let pc = comps.iter().find(|c| c["bom-ref"] == pr.as_str()).unwrap();
                let arch = &pm.platform.as_ref().unwrap().architecture;
                assert!(
                    pc["purl"]
                        .as_str()
                        .unwrap()
                        .contains(&format!("?arch={arch}&"))
                );
            }
            // Without the manifests' bytes the image lists its blobs itself.
            for b in &img.blobs {
                assert!(below.contains(&format!("blob:{}", b.digest).as_str()));
            }
        }
        // The pause image is served as a subset index: the purl still names upstream's.
        let pause = m
            .images
            .iter()
            .find(|i| i.served_as == ServedAs::SubsetIndex)
            .unwrap();
        assert_ne!(pause.served.digest, pause.source.digest);
        for f in &m.files {
            assert!(top.contains(&format!("file:{}", f.target).as_str()));
        }
    }

    #[test]
    fn with_the_manifests_bytes_each_platform_lists_its_own_layers() {
        let m = demo();
        let img = &m.images[0];
        let (pm, blob) = (&img.manifests[0], &img.blobs[0]);
        let children = Children::from([(pm.digest, vec![blob.digest])]);
        let bom = json(&m, &children);
        assert_eq!(
            depends_on(&bom, &format!("manifest:{}", pm.digest)),
            [format!("blob:{}", blob.digest)]
        );
        // Every platform of that image is known: the image lists only its platforms.
        if img.manifests.len() == 1 {
            assert!(
                !depends_on(&bom, &format!("image:{}@{}", img.name, img.source.digest))
                    .iter()
                    .any(|r| r.starts_with("blob:"))
            );
        }
    }

    #[test]
    fn a_package_file_is_named_as_its_package() {
        let mut m = demo();
        let target = m.files[0].target.clone();
        m.package_repositories = vec![crate::manifest::PackageRepository {
            format: crate::manifest::PackageFormat::Deb,
            source: "https://pkgs.k8s.io/core:/stable:/v1.30/deb/".into(),
            dir: crate::paths::SafeRelPath::new("packages/v1.30/deb").unwrap(),
            signed_by: "ABCD".into(),
            packages: vec![crate::manifest::CarriedPackage {
                name: "kubeadm".into(),
                version: "1.30.2-1.1".into(),
                arch: "amd64".into(),
                role: Role::Target,
                target: target.clone(),
            }],
        }];
        let bom = json(&m, &Children::new());
        let r = format!("file:{target}");
        let c = bom["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["bom-ref"] == r.as_str())
            .unwrap();
        assert_eq!(
            (c["name"].as_str(), c["version"].as_str()),
            (Some("kubeadm"), Some("1.30.2-1.1"))
        );
        assert!(depends_on(&bom, BUNDLE_REF).contains(&r.as_str()));
    }

    #[test]
    fn the_report_command_writes_the_sbom_the_build_signed() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = demo();
        let ours = sbom(&m, None, &Children::new()).unwrap();
        // No SBOM file in the bundle: one made from the manifest.
        assert_eq!(of_bundle(dir.path(), &m).unwrap(), ours);
        let signed = b"{\"the build's\": 1}\n".to_vec();
        let path = dir.path().join(crate::layout::DocPath::Sbom.file_name());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &signed).unwrap();
        let doc = m
            .documents
            .iter_mut()
            .find(|d| d.path == crate::layout::DocPath::Sbom)
            .unwrap();
        (doc.size, doc.sha256) = (signed.len() as u64, Sha256Digest::of(&signed));
        assert_eq!(of_bundle(dir.path(), &m).unwrap(), signed);
        // Bytes the manifest does not list are not copied.
        std::fs::write(&path, b"{\"planted\": 1}\n").unwrap();
        assert_eq!(of_bundle(dir.path(), &m).unwrap(), ours);
    }
}
