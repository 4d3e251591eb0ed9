//! An RPM repository (rpm-md), as `pkgs.k8s.io/core:/stable:/v1.NN/rpm/` is one:
//! `repodata/repomd.xml` signed by `repodata/repomd.xml.asc`; the data files it lists by
//! checksum (`primary`, `filelists`, `other`, ...); the `.rpm` files `primary` lists by
//! checksum. A repository without `repomd.xml.asc` is refused: nothing would tie its
//! metadata to the key.

use std::io::BufRead;

use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};

use super::version::Evr;
use super::{
    CORE_PACKAGES, CRI_TOOLS, Ctx, Dep, KUBERNETES_CNI, Listed, MetaFile, Op, RepoIndex,
    VersionKey, open_index,
};
use crate::digest::Sha256Digest;
use crate::error::{Error, Result, ResultExt};
use crate::paths::SafeRelPath;

/// The signed metadata file and its signature, relative to the repository.
pub const REPOMD: &str = "repodata/repomd.xml";
/// See [`REPOMD`].
pub const REPOMD_ASC: &str = "repodata/repomd.xml.asc";

/// One `<data>` entry of repomd.xml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoData {
    /// `primary`, `filelists`, ...
    pub kind: String,
    /// Checksum type (`sha256`).
    pub checksum_type: String,
    /// Checksum (hex).
    pub checksum: String,
    /// `location href`.
    pub href: String,
    /// Size, when given.
    pub size: Option<u64>,
}

/// Read, verify and pin the repository at `url` (ending in `/`).
pub async fn index(ctx: &Ctx<'_>, url: &str) -> Result<RepoIndex> {
    let repomd_url = format!("{url}{REPOMD}");
    let asc_url = format!("{url}{REPOMD_ASC}");
    let (repomd, asc, signed_by) = ctx
        .fetch_detached_signed(
            &repomd_url,
            &asc_url,
            "HTTP 404: not an rpm-md repository",
            &format!(
                "is not signed: {REPOMD_ASC} is missing, so nothing ties this repository to the key"
            ),
        )
        .await?;
    let mut meta = Vec::new();
    for (rel, bytes, u) in [(REPOMD, &repomd, &repomd_url), (REPOMD_ASC, &asc, &asc_url)] {
        let sha256 = Sha256Digest::of(bytes);
        ctx.store.put_bytes(bytes, u, &sha256)?;
        meta.push(MetaFile {
            path: SafeRelPath::new(rel)?,
            sha256,
            size: bytes.len() as u64,
        });
    }
    let data = parse_repomd(&repomd).map_err(|reason| Error::Repository {
        url: repomd_url.clone(),
        reason: format!("malformed repomd.xml: {reason}"),
    })?;
    let primary = fetch_data(ctx, url, &repomd_url, &data, &mut meta).await?;
    let (index_url, sha) = primary.ok_or_else(|| Error::Repository {
        url: repomd_url.clone(),
        reason: "lists no primary data".into(),
    })?;
    let reader = open_index(&ctx.store.path(&sha))?.ok_or_else(|| {
        Error::Unsupported(format!(
            "{index_url}: compressed with xz or bzip2, which airlock does not read"
        ))
    })?;
    let packages = parse_primary(reader).map_err(|reason| Error::Repository {
        url: index_url.clone(),
        reason: format!("malformed primary.xml: {reason}"),
    })?;
    Ok(RepoIndex {
        url: url.to_string(),
        index_url,
        meta,
        packages,
        signed_by,
        notes: Vec::new(),
    })
}

/// Every data file repomd.xml lists: fetched by its sha256 into the store and listed
/// as metadata. Returns the URL and sha256 of `primary`, if listed.
async fn fetch_data(
    ctx: &Ctx<'_>,
    url: &str,
    repomd_url: &str,
    data: &[RepoData],
    meta: &mut Vec<MetaFile>,
) -> Result<Option<(String, Sha256Digest)>> {
    let mut primary: Option<(String, Sha256Digest)> = None;
    for d in data {
        let file_url = format!("{url}{}", d.href);
        let bad = |reason: String| Error::Repository {
            url: repomd_url.to_string(),
            reason: format!("{} data: {reason}", crate::escape::Untrusted(&d.kind)),
        };
        if !d.checksum_type.eq_ignore_ascii_case("sha256") {
            return Err(bad(format!(
                "checksum type {} (airlock pins by sha256)",
                crate::escape::Untrusted(&d.checksum_type)
            )));
        }
        let sha =
            Sha256Digest::from_hex(&d.checksum).map_err(|_| bad("malformed sha256".into()))?;
        // The unsafe path keeps its own error (exit 4), with where it was found.
        let path = SafeRelPath::new(&d.href).map_err(|e| {
            Error::from(e).context(format!(
                "{repomd_url}: {} data location",
                crate::escape::Untrusted(&d.kind)
            ))
        })?;
        if !ctx.store.has(&sha, d.size) {
            ctx.http
                .download_to_store(ctx.store, &file_url, &sha, d.size, |_| {})
                .await
                .with_context(|| {
                    format!("{file_url}: does not match the sha256 the signed {repomd_url} lists")
                })?;
        }
        let size = std::fs::metadata(ctx.store.path(&sha))
            .map_err(|e| Error::io("inspect cache entry", ctx.store.path(&sha), e))?
            .len();
        meta.push(MetaFile {
            path,
            sha256: sha,
            size,
        });
        if d.kind == "primary" {
            primary = Some((file_url, sha));
        }
    }
    Ok(primary)
}

fn attr(e: &BytesStart<'_>, name: &str) -> std::result::Result<Option<String>, String> {
    for a in e.attributes() {
        let a = a.map_err(|e| e.to_string())?;
        if a.key.as_ref() == name {
            let v = a
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|e| e.to_string())?;
            return Ok(Some(v.into_owned()));
        }
    }
    Ok(None)
}

/// A `location`: its `href`, refusing `xml:base` (content from elsewhere).
fn location(e: &BytesStart<'_>) -> std::result::Result<String, String> {
    if attr(e, "xml:base")?.is_some() {
        return Err(
            "a location with xml:base (content from another server) is not supported".into(),
        );
    }
    attr(e, "href")?.ok_or_else(|| "a location without href".to_string())
}

/// The `<data>` entries of repomd.xml.
pub fn parse_repomd(bytes: &[u8]) -> std::result::Result<Vec<RepoData>, String> {
    let mut r = quick_xml::Reader::from_reader(bytes);
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut cur: Option<RepoData> = None;
    let mut text_for: Option<&'static str> = None;
    loop {
        let ev = r.read_event_into(&mut buf).map_err(|e| e.to_string())?;
        match ev {
            Event::Start(e) | Event::Empty(e) => {
                let name = e.local_name().as_ref().to_string();
                match (name.as_str(), cur.as_mut()) {
                    ("data", None) => {
                        cur = Some(RepoData {
                            kind: attr(&e, "type")?.ok_or("a data entry without type")?,
                            checksum_type: String::new(),
                            checksum: String::new(),
                            href: String::new(),
                            size: None,
                        })
                    }
                    ("checksum", Some(d)) => {
                        d.checksum_type = attr(&e, "type")?.unwrap_or_default();
                        text_for = Some("checksum");
                    }
                    ("location", Some(d)) => d.href = location(&e)?,
                    ("size", Some(_)) => text_for = Some("size"),
                    _ => text_for = None,
                }
            }
            Event::Text(t) => {
                if let (Some(field), Some(d)) = (text_for, cur.as_mut()) {
                    let v = t.xml10_content();
                    let v = v.trim();
                    match field {
                        "checksum" => d.checksum = v.to_string(),
                        _ => d.size = Some(v.parse().map_err(|_| format!("size {v:?}"))?),
                    }
                }
            }
            Event::End(e) => {
                text_for = None;
                if e.local_name().as_ref() == "data"
                    && let Some(d) = cur.take()
                {
                    if d.checksum.is_empty() || d.href.is_empty() {
                        return Err(format!(
                            "data {} lacks a checksum or location",
                            crate::escape::Untrusted(&d.kind)
                        ));
                    }
                    out.push(d);
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if cur.is_some() {
        return Err("ends inside a data entry".into());
    }
    Ok(out)
}

fn parse_u64(v: Option<String>) -> Option<u64> {
    v.and_then(|s| s.parse().ok())
}

fn evr(e: &BytesStart<'_>) -> std::result::Result<Evr, String> {
    Ok(Evr {
        epoch: parse_u64(attr(e, "epoch")?).unwrap_or(0),
        ver: attr(e, "ver")?.unwrap_or_default(),
        rel: attr(e, "rel")?.unwrap_or_default(),
    })
}

/// The packages of interest in primary.xml, read as a stream (one `<package>` at a time).
pub fn parse_primary(reader: impl BufRead) -> std::result::Result<Vec<Listed>, String> {
    let wanted = |n: &str| CORE_PACKAGES.contains(&n) || n == CRI_TOOLS || n == KUBERNETES_CNI;
    let mut r = quick_xml::Reader::from_reader(reader);
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut cur: Option<Listed> = None;
    let mut text_for: Option<&'static str> = None;
    let mut in_requires = false;
    let mut text = String::new();
    loop {
        let ev = r.read_event_into(&mut buf).map_err(|e| e.to_string())?;
        match ev {
            Event::Start(e) | Event::Empty(e) => {
                let name = e.local_name().as_ref().to_string();
                text_for = None;
                match (name.as_str(), cur.as_mut()) {
                    ("package", None) => {
                        cur = Some(Listed {
                            name: String::new(),
                            version: VersionKey::Rpm(Evr {
                                epoch: 0,
                                ver: String::new(),
                                rel: String::new(),
                            }),
                            arch: String::new(),
                            path: String::new(),
                            sha256: None,
                            size: None,
                            depends: Vec::new(),
                        })
                    }
                    ("name", Some(_)) if !in_requires => text_for = Some("name"),
                    ("arch", Some(_)) => text_for = Some("arch"),
                    ("version", Some(p)) => p.version = VersionKey::Rpm(evr(&e)?),
                    ("checksum", Some(p)) => {
                        let kind = attr(&e, "type")?.unwrap_or_default();
                        text_for = kind.eq_ignore_ascii_case("sha256").then_some("sha256");
                        p.sha256 = None;
                    }
                    ("size", Some(p)) => p.size = parse_u64(attr(&e, "package")?),
                    ("location", Some(p)) => p.path = location(&e)?,
                    ("requires", Some(_)) => in_requires = true,
                    ("entry", Some(p)) if in_requires => p.depends.push(requirement(&e)?),
                    _ => {}
                }
                text.clear();
            }
            Event::Text(t) if text_for.is_some() => {
                text.push_str(&t.xml10_content());
            }
            Event::GeneralRef(_) if text_for.is_some() => {
                // An entity in a name, arch or checksum: not a plain token, never wanted.
                text.push('&');
            }
            Event::End(e) => {
                let name = e.local_name().as_ref().to_string();
                if let (Some(field), Some(p)) = (text_for.take(), cur.as_mut()) {
                    let v = text.trim().to_string();
                    match field {
                        "name" => p.name = v,
                        "arch" => p.arch = v,
                        _ => p.sha256 = Sha256Digest::from_hex(&v).ok(),
                    }
                }
                match name.as_str() {
                    "requires" => in_requires = false,
                    "package" => {
                        if let Some(p) = cur.take()
                            && wanted(&p.name)
                        {
                            out.push(p);
                        }
                    }
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if cur.is_some() {
        return Err("ends inside a package".into());
    }
    Ok(out)
}

/// One `<rpm:entry>` of `<rpm:requires>`.
fn requirement(e: &BytesStart<'_>) -> std::result::Result<Dep, String> {
    let name = attr(e, "name")?.unwrap_or_default();
    let op = match attr(e, "flags")?.as_deref() {
        Some("LT") => Some(Op::Lt),
        Some("LE") => Some(Op::Le),
        Some("EQ") => Some(Op::Eq),
        Some("GE") => Some(Op::Ge),
        Some("GT") => Some(Op::Gt),
        _ => None,
    };
    let constraint = match op {
        Some(op) => Some((op, VersionKey::Rpm(evr(e)?))),
        None => None,
    };
    Ok(Dep { name, constraint })
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPOMD_XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>1</revision>
  <data type="primary">
    <checksum type="sha256">f70a605152446b57aeba75ffbce59b2c741880aac6fd7b0fb176fa0f91473c98</checksum>
    <open-checksum type="sha256">d3705cc6c9a37757e4e06afcd333040bc40d9501a967f4b9808cfbe573332284</open-checksum>
    <location href="repodata/primary.xml.gz"/>
    <size>647</size>
    <open-size>1510</open-size>
  </data>
</repomd>"#;

    #[test]
    fn repomd_entries() {
        let d = parse_repomd(REPOMD_XML.as_bytes()).unwrap();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].kind, "primary");
        assert_eq!(d[0].href, "repodata/primary.xml.gz");
        assert_eq!(d[0].size, Some(647));
        assert!(d[0].checksum.starts_with("f70a"));
        let base = REPOMD_XML.replace("<location ", "<location xml:base=\"http://elsewhere/\" ");
        assert!(
            parse_repomd(base.as_bytes())
                .unwrap_err()
                .contains("xml:base")
        );
        assert!(parse_repomd(b"<repomd><data type=\"x\"><checksum").is_err());
    }

    #[test]
    fn primary_packages_and_requires() {
        let xml = r#"<?xml version="1.0"?><metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="2">
<package type="rpm"><name>kubeadm</name><arch>x86_64</arch><version epoch="0" ver="1.30.2" rel="150500.1.1"/>
<checksum type="sha256" pkgid="YES">aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa</checksum>
<size package="1234" installed="1" archive="2"/><location href="x86_64/kubeadm-1.30.2-150500.1.1.x86_64.rpm"/>
<format><rpm:license>Apache</rpm:license><rpm:provides><rpm:entry name="kubeadm" flags="EQ" ver="1.30.2"/></rpm:provides>
<rpm:requires><rpm:entry name="cri-tools" flags="GE" epoch="0" ver="1.30.0"/><rpm:entry name="kubelet"/></rpm:requires></format></package>
<package type="rpm"><name>other</name><arch>x86_64</arch><version epoch="0" ver="1" rel="1"/></package>
</metadata>"#;
        let p = parse_primary(xml.as_bytes()).unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].name, "kubeadm");
        assert_eq!(p[0].version.display(), "1.30.2-150500.1.1");
        assert_eq!(p[0].size, Some(1234));
        assert_eq!(p[0].path, "x86_64/kubeadm-1.30.2-150500.1.1.x86_64.rpm");
        assert!(p[0].sha256.is_some());
        assert_eq!(p[0].depends.len(), 2);
        assert_eq!(p[0].depends[0].name, "cri-tools");
        assert!(matches!(p[0].depends[0].constraint, Some((Op::Ge, _))));
        assert!(p[0].depends[1].constraint.is_none());
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(s in "\\PC{0,400}") {
            let _ = parse_repomd(s.as_bytes());
            let _ = parse_primary(s.as_bytes());
        }

        #[test]
        fn primary_never_panics_on_package_soup(parts in proptest::collection::vec(proptest::sample::select(vec![
            "<package type=\"rpm\">", "</package>", "<name>kubeadm</name>", "<arch>x86_64</arch>",
            "<version epoch=\"x\" ver=\"1\" rel=\"2\"/>", "<checksum type=\"sha256\">00</checksum>",
            "<location href=\"a/b.rpm\"/>", "<rpm:requires>", "</rpm:requires>", "<rpm:entry name=\"cri-tools\" flags=\"GE\" ver=\"1\"/>",
            "&amp;", "<size package=\"-1\"/>",
        ]), 0..30)) {
            let xml = format!("<metadata>{}</metadata>", parts.concat());
            let _ = parse_primary(xml.as_bytes());
        }
    }
}
