//! A Debian flat repository, as `pkgs.k8s.io/core:/stable:/v1.NN/deb/` is one (the
//! nodes' sources line ends with ` /`): `InRelease` (or `Release` + `Release.gpg`) at
//! the top, signed; the `Packages` indexes it lists by sha256; the `.deb` files that
//! `Packages` lists by sha256.

use super::deb822::{self, Paragraph};
use super::{
    CORE_PACKAGES, CRI_TOOLS, Ctx, Dep, KUBERNETES_CNI, Listed, MAX_SIGNED_BYTES, MetaFile, Op,
    RepoIndex, VersionKey, decompressed_sha256, open_index,
};
use crate::digest::Sha256Digest;
use crate::error::{Error, Result, ResultExt};
use crate::paths::SafeRelPath;

/// Read, verify and pin the repository at `url` (ending in `/`).
pub async fn index(ctx: &Ctx<'_>, url: &str) -> Result<RepoIndex> {
    let mut meta = Vec::new();
    let (signed_url, release_text, signed_by) = signed_release(ctx, url, &mut meta).await?;
    let release = deb822::parse_one(&release_text).map_err(|r| Error::Repository {
        url: signed_url.clone(),
        reason: format!("the signed Release text is malformed: {r}"),
    })?;
    let listed = sha256_entries(&release).map_err(|r| Error::Repository {
        url: signed_url.clone(),
        reason: r,
    })?;
    let by_hash = release
        .get("Acquire-By-Hash")
        .is_some_and(|v| v.eq_ignore_ascii_case("yes"));
    let (index_url, index_sha) =
        fetch_indexes(ctx, url, &signed_url, &listed, by_hash, &mut meta).await?;
    let packages = read_packages(&ctx.store.path(&index_sha), &index_url)?;
    let mut notes = Vec::new();
    if let Some(until) = release.get("Valid-Until") {
        notes.push(format!(
            "{signed_url} is valid until {}: apt on the nodes refuses it after that date unless the sources line says [check-valid-until=no]",
            crate::escape::Untrusted(until)
        ));
    }
    Ok(RepoIndex {
        url: url.to_string(),
        index_url,
        meta,
        packages,
        signed_by,
        notes,
    })
}

/// Every `Packages` index the signed Release lists at the top: fetched by its sha256
/// and size into the store and listed as metadata (with its `by-hash` copy when the
/// repository asks for those). Returns the URL and sha256 of the one to parse.
async fn fetch_indexes(
    ctx: &Ctx<'_>,
    url: &str,
    signed_url: &str,
    listed: &[(Sha256Digest, u64, String)],
    by_hash: bool,
    meta: &mut Vec<MetaFile>,
) -> Result<(String, Sha256Digest)> {
    let indexes: Vec<&(Sha256Digest, u64, String)> = listed
        .iter()
        .filter(|(_, _, n)| n == "Packages" || n.starts_with("Packages."))
        .collect();
    if indexes.is_empty() {
        return Err(Error::Repository {
            url: signed_url.to_string(),
            reason: "lists no Packages index at the repository's top (only flat repositories, as pkgs.k8s.io's, are supported)".into(),
        });
    }
    let mut readable: Option<(String, Sha256Digest)> = None;
    let mut content: Option<(String, Sha256Digest)> = None;
    for (sha, size, name) in indexes {
        let file_url = format!("{url}{name}");
        // The unsafe path keeps its own error (exit 4), with where it was found.
        let path = SafeRelPath::new(name)
            .map_err(|e| Error::from(e).context(format!("{signed_url}: an index path")))?;
        if !ctx.store.has(sha, Some(*size)) {
            ctx.http
                .download_to_store(ctx.store, &file_url, sha, Some(*size), |_| {})
                .await
                .with_context(|| {
                    format!("{file_url}: does not match the sha256 and size the signed {signed_url} lists")
                })?;
        }
        meta.push(MetaFile {
            path,
            sha256: *sha,
            size: *size,
        });
        if by_hash {
            meta.push(MetaFile {
                path: SafeRelPath::new(&format!("by-hash/SHA256/{}", sha.hex()))?,
                sha256: *sha,
                size: *size,
            });
        }
        // Every variant airlock can read must hold the same index, so the one parsed is
        // the one apt reads, whichever it picks.
        if let Some(d) = decompressed_sha256(&ctx.store.path(sha))? {
            match &content {
                Some((first, c)) if *c != d => {
                    return Err(Error::RepositoryMismatch {
                        url: file_url,
                        reason: format!("decompresses to another index than {first}"),
                    });
                }
                Some(_) => {}
                None => content = Some((file_url.clone(), d)),
            }
            readable.get_or_insert((file_url, *sha));
        }
    }
    readable.ok_or_else(|| {
        Error::Unsupported(format!(
            "{signed_url}: every Packages index it lists is compressed with xz or bzip2, which airlock does not read"
        ))
    })
}

/// `InRelease`, or `Release` with `Release.gpg`: fetched, verified and stored. Returns
/// the URL of the signed file, the signed text and the key's fingerprint.
async fn signed_release(
    ctx: &Ctx<'_>,
    url: &str,
    meta: &mut Vec<MetaFile>,
) -> Result<(String, String, String)> {
    let inrelease = format!("{url}InRelease");
    if let Some(bytes) = ctx
        .http
        .fetch_document(&inrelease, MAX_SIGNED_BYTES)
        .await?
    {
        let text = utf8(&bytes, &inrelease)?;
        let (body, fpr) = ctx.key.verify_cleartext(text, &inrelease)?;
        keep(ctx, meta, "InRelease", &bytes, &inrelease)?;
        return Ok((inrelease, body, fpr));
    }
    let release_url = format!("{url}Release");
    let sig_url = format!("{url}Release.gpg");
    let (release, sig, fpr) = ctx
        .fetch_detached_signed(
            &release_url,
            &sig_url,
            "HTTP 404, and there is no InRelease either: not a flat Debian repository",
            "is not signed: there is no InRelease and no Release.gpg",
        )
        .await?;
    let text = utf8(&release, &release_url)?.to_string();
    keep(ctx, meta, "Release", &release, &release_url)?;
    keep(ctx, meta, "Release.gpg", &sig, &sig_url)?;
    Ok((release_url, text, fpr))
}

fn utf8<'b>(bytes: &'b [u8], url: &str) -> Result<&'b str> {
    std::str::from_utf8(bytes).map_err(|_| Error::Repository {
        url: url.to_string(),
        reason: "is not UTF-8 text".into(),
    })
}

/// Store verified bytes in the cache and list them as metadata.
fn keep(ctx: &Ctx<'_>, meta: &mut Vec<MetaFile>, rel: &str, bytes: &[u8], url: &str) -> Result<()> {
    let sha256 = Sha256Digest::of(bytes);
    ctx.store.put_bytes(bytes, url, &sha256)?;
    meta.push(MetaFile {
        path: SafeRelPath::new(rel)?,
        sha256,
        size: bytes.len() as u64,
    });
    Ok(())
}

/// The `SHA256:` lines of a Release: `(sha256, size, path)`.
pub fn sha256_entries(
    release: &Paragraph,
) -> std::result::Result<Vec<(Sha256Digest, u64, String)>, String> {
    let field = release
        .get("SHA256")
        .ok_or("the signed Release lists no SHA256 hashes (MD5 and SHA1 alone are not trusted)")?;
    let mut out = Vec::new();
    for line in field.lines().filter(|l| !l.trim().is_empty()) {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [hex, size, name] = parts.as_slice() else {
            return Err(format!(
                "malformed SHA256 line {:?}",
                crate::escape::Untrusted(line).to_string()
            ));
        };
        let sha = Sha256Digest::from_hex(hex)
            .map_err(|_| format!("malformed sha256 {}", crate::escape::Untrusted(hex)))?;
        let size: u64 = size
            .parse()
            .map_err(|_| format!("malformed size {}", crate::escape::Untrusted(size)))?;
        out.push((sha, size, name.to_string()));
    }
    Ok(out)
}

/// The packages of interest in a stored `Packages` index.
fn read_packages(path: &std::path::Path, url: &str) -> Result<Vec<Listed>> {
    let reader =
        open_index(path)?.ok_or_else(|| Error::Unsupported(format!("{url}: compression")))?;
    let mut r = deb822::Reader::new(reader);
    let mut out = Vec::new();
    let wanted = |n: &str| CORE_PACKAGES.contains(&n) || n == CRI_TOOLS || n == KUBERNETES_CNI;
    loop {
        let p = r.next_paragraph().map_err(|reason| Error::Repository {
            url: url.to_string(),
            reason: format!("malformed Packages index: {reason}"),
        })?;
        let Some(p) = p else { break };
        if let Some(l) = listed(&p)
            && wanted(&l.name)
        {
            out.push(l);
        }
    }
    Ok(out)
}

/// One `Packages` paragraph; `None` when it lacks a name, version, architecture or file.
pub fn listed(p: &Paragraph) -> Option<Listed> {
    let mut depends = parse_depends(p.get("Pre-Depends").unwrap_or(""));
    depends.extend(parse_depends(p.get("Depends").unwrap_or("")));
    Some(Listed {
        name: p.get("Package")?.to_string(),
        version: VersionKey::Deb(p.get("Version")?.to_string()),
        arch: p.get("Architecture")?.to_string(),
        path: p.get("Filename")?.to_string(),
        sha256: p.get("SHA256").and_then(|h| Sha256Digest::from_hex(h).ok()),
        size: p.get("Size").and_then(|s| s.parse().ok()),
        depends,
    })
}

/// A `Depends` field: every alternative of every clause, `name [(op version)]`.
pub fn parse_depends(field: &str) -> Vec<Dep> {
    let mut out = Vec::new();
    for alt in field.split([',', '|']) {
        let alt = alt.trim();
        let name_end = alt
            .find(|c: char| c.is_whitespace() || c == '(' || c == '[' || c == '<')
            .unwrap_or(alt.len());
        let name = alt[..name_end].split(':').next().unwrap_or("");
        if name.is_empty() {
            continue;
        }
        let constraint = alt
            .find('(')
            .and_then(|s| alt[s + 1..].find(')').map(|e| &alt[s + 1..s + 1 + e]))
            .and_then(|inner| {
                let inner = inner.trim();
                let (op, rest) = [
                    (">=", Op::Ge),
                    ("<=", Op::Le),
                    (">>", Op::Gt),
                    ("<<", Op::Lt),
                    ("=", Op::Eq),
                    (">", Op::Ge),
                    ("<", Op::Le),
                ]
                .iter()
                .find_map(|(sym, op)| inner.strip_prefix(sym).map(|r| (*op, r)))?;
                let v = rest.trim();
                (!v.is_empty()).then(|| (op, VersionKey::Deb(v.to_string())))
            });
        out.push(Dep {
            name: name.to_string(),
            constraint,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depends_are_read_with_their_constraints() {
        let d = parse_depends(
            "kubelet (>= 1.19.0), kubectl (>= 1.13.0), cri-tools (>= 1.30.0) | other, iproute2, libc6:any (<< 3) [amd64]",
        );
        let names: Vec<&str> = d.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "kubelet",
                "kubectl",
                "cri-tools",
                "other",
                "iproute2",
                "libc6"
            ]
        );
        assert_eq!(
            d[2].constraint,
            Some((Op::Ge, VersionKey::Deb("1.30.0".into())))
        );
        assert_eq!(d[3].constraint, None);
        assert_eq!(d[5].constraint, Some((Op::Lt, VersionKey::Deb("3".into()))));
    }

    #[test]
    fn release_hashes() {
        let p = deb822::parse_one(&format!(
            "Origin: x\nSHA256:\n {} 12 Packages\n {} 7 Packages.gz\n",
            "a".repeat(64),
            "b".repeat(64)
        ))
        .unwrap();
        let e = sha256_entries(&p).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[1].1, 7);
        assert_eq!(e[1].2, "Packages.gz");
        let bad = deb822::parse_one("SHA256:\n zz 1 Packages\n").unwrap();
        assert!(sha256_entries(&bad).is_err());
        let none = deb822::parse_one("MD5Sum:\n aa 1 Packages\n").unwrap();
        assert!(sha256_entries(&none).unwrap_err().contains("SHA256"));
    }

    proptest::proptest! {
        #[test]
        fn depends_never_panics(s in "\\PC{0,200}") {
            let _ = parse_depends(&s);
        }

        #[test]
        fn release_and_packages_never_panic(s in "\\PC{0,400}") {
            if let Ok(p) = deb822::parse_one(&s) {
                let _ = sha256_entries(&p);
                let _ = listed(&p);
            }
        }
    }
}
