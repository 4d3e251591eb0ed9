//! The catalog's rules that serde cannot express, one checker per rule: each returns the
//! first breach as a message that names the entry.

use std::collections::BTreeSet;

use super::schema::{
    Binary, Catalog, CatalogImage, Compatibility, EarlierRemovedApi, MinorEntry, RemovedApi,
    ServedGroupVersion, Tool, TwoStepOffer, expand_template, is_catalog_version, parse_minor_key,
};

type Check = std::result::Result<(), String>;

impl Catalog {
    /// Structural checks serde cannot express.
    pub fn validate(&self) -> Check {
        check_header(self)?;
        let ids = SourceIds::collect(self)?;
        check_defaults(self, &ids)?;
        ids.check("skew", &self.skew.source)?;
        let mut previous: Option<u32> = None;
        for m in &self.minors {
            let n = check_minor_order(m, previous)?;
            previous = Some(n);
            check_minor(m, &self.defaults.registry, &ids)?;
            check_minor_skew(self, m, &ids)?;
        }
        let first = self
            .minors
            .first()
            .and_then(|m| parse_minor_key(&m.minor))
            .unwrap_or(u32::MAX);
        for r in &self.earlier_removed_apis {
            check_earlier_removed(r, first, &ids)?;
        }
        Ok(())
    }
}

/// The document is a catalog and its data version can be shown as it is.
fn check_header(c: &Catalog) -> Check {
    if c.kind != "airlock-kubernetes-catalog" {
        return Err(format!(
            "kind {:?}: expected airlock-kubernetes-catalog",
            c.kind
        ));
    }
    if !is_catalog_version(&c.catalog_version) {
        return Err(format!(
            "catalog_version {:?}: expected a short label of letters, digits, '.', '-' or '_'",
            c.catalog_version
        ));
    }
    Ok(())
}

/// The ids of `sources` and `documents`: each once, each https; entries cite them.
struct SourceIds<'a>(BTreeSet<&'a str>);

impl<'a> SourceIds<'a> {
    fn collect(c: &'a Catalog) -> std::result::Result<Self, String> {
        let mut ids = BTreeSet::new();
        for s in &c.sources {
            if !ids.insert(s.id.as_str()) {
                return Err(format!("source id {:?} is listed twice", s.id));
            }
            if !s.url.starts_with("https://") {
                return Err(format!("source {}: url {:?} is not https", s.id, s.url));
            }
        }
        for d in &c.documents {
            if !ids.insert(d.id.as_str()) {
                return Err(format!(
                    "document id {:?} is listed twice (or is also a source id)",
                    d.id
                ));
            }
            if !d.url.starts_with("https://") {
                return Err(format!("document {}: url {:?} is not https", d.id, d.url));
            }
        }
        Ok(SourceIds(ids))
    }

    /// Every source `where_` cites is listed.
    fn check(&self, where_: &str, list: &[String]) -> Check {
        for id in list {
            if !self.0.contains(id.as_str()) {
                return Err(format!("{where_}: source {id:?} is not in `sources`"));
            }
        }
        Ok(())
    }
}

/// The default registry is a host, the control-plane images are references in it, and
/// each default binary is a named, sourced, http(s) download.
fn check_defaults(c: &Catalog, ids: &SourceIds<'_>) -> Check {
    let registry = &c.defaults.registry;
    crate::image_ref::ImageRef::parse(&format!("{registry}/x:y"))
        .map_err(|_| format!("defaults.registry {registry:?} is not a registry host"))?;
    for name in &c.defaults.control_plane_images {
        check_image(registry, name, "v1.0.0")
            .map_err(|e| format!("defaults.control_plane_images: {e}"))?;
    }
    let mut names = BTreeSet::new();
    for b in &c.defaults.binaries {
        check_binary(b, &mut names, ids)?;
    }
    Ok(())
}

fn check_binary<'a>(b: &'a Binary, names: &mut BTreeSet<&'a str>, ids: &SourceIds<'_>) -> Check {
    let what = format!("defaults.binaries {}", b.name);
    if !names.insert(b.name.as_str()) {
        return Err(format!("{what}: listed twice"));
    }
    check_file_name(&b.name).map_err(|e| format!("{what}: {e}"))?;
    ids.check(&what, &b.source)?;
    check_url_templates(&b.url, &b.checksum_url, &[("version", "v1.0.0")])
        .map_err(|e| format!("{what}: {e}"))
}

/// The minor is `"1.N"` and comes after the one before; returns N.
fn check_minor_order(m: &MinorEntry, previous: Option<u32>) -> std::result::Result<u32, String> {
    let n = parse_minor_key(&m.minor)
        .ok_or_else(|| format!("minor {:?}: expected \"1.N\"", m.minor))?;
    if let Some(p) = previous
        && n <= p
    {
        return Err(format!(
            "minor {}: minors must ascend (after 1.{p})",
            m.minor
        ));
    }
    Ok(n)
}

/// One minor's own facts: sources, dates, images, tools, removed and served APIs.
fn check_minor(m: &MinorEntry, registry: &str, ids: &SourceIds<'_>) -> Check {
    let what = format!("minor {}", m.minor);
    ids.check(&what, &m.source)?;
    if m.end_of_life < m.released {
        return Err(format!(
            "{what}: end_of_life {} is before released {}",
            m.end_of_life, m.released
        ));
    }
    let mut image_names = BTreeSet::new();
    for img in &m.images {
        if !image_names.insert(img.name.as_str()) {
            return Err(format!("{what} image {}: listed twice", img.name));
        }
        check_minor_image(&what, img, registry, ids)?;
    }
    let mut tool_names = BTreeSet::new();
    for t in &m.tools {
        if !tool_names.insert(t.name.as_str()) {
            return Err(format!("{what} tool {}: listed twice", t.name));
        }
        check_tool(&what, t, ids)?;
    }
    for r in &m.removed_apis {
        check_removed(&what, r, ids)?;
    }
    if let Some(served) = &m.served_apis {
        let w = format!("{what} served_apis");
        ids.check(&w, &served.source)?;
        check_served(&served.group_versions).map_err(|e| format!("{w}: {e}"))?;
    }
    if let Some(c) = &m.compatibility {
        check_compatibility(&what, m, c, ids)?;
    }
    Ok(())
}

/// A minor's compatibility-version facts are sourced and agree with each other; an
/// offered two-step hop rests on every fact it needs (`docs/design/two-step.md` §0).
fn check_compatibility(
    what: &str,
    m: &MinorEntry,
    c: &Compatibility,
    ids: &SourceIds<'_>,
) -> Check {
    let w = format!("{what} compatibility");
    ids.check(&w, &c.source)?;
    if c.source.is_empty() {
        return Err(format!("{w}: no source"));
    }
    let n = parse_minor_key(&m.minor).unwrap_or(0);
    if let Some(r) = &c.emulated_version {
        let (Some(lo), Some(hi)) = (parse_minor_key(&r.min), parse_minor_key(&r.max)) else {
            return Err(format!(
                "{w}: emulated_version min and max must be minors (\"1.N\")"
            ));
        };
        if lo > hi || hi != n {
            return Err(format!(
                "{w}: emulated_version {}..{} must end at the minor itself and not be empty",
                r.min, r.max
            ));
        }
        if !c.emulated_version_flag {
            return Err(format!("{w}: an emulated_version range without the flag"));
        }
    }
    let mut seen = BTreeSet::new();
    for comp in &c.components {
        if !super::two_step::EMULATING_COMPONENTS.contains(&comp.as_str()) {
            return Err(format!(
                "{w}: component {comp:?} is not one of {}",
                super::two_step::EMULATING_COMPONENTS.join(", ")
            ));
        }
        if !seen.insert(comp.as_str()) {
            return Err(format!("{w}: component {comp} listed twice"));
        }
    }
    match c.two_step {
        TwoStepOffer::Refused if c.refusal.as_deref().is_none_or(str::is_empty) => {
            Err(format!("{w}: two_step refused without a refusal reason"))
        }
        TwoStepOffer::Offered => check_offered(&w, n, c),
        TwoStepOffer::Refused => Ok(()),
    }
}

/// What an offered two-step hop into 1.`n` needs: the flag on all three components, a range
/// that holds 1.(n-1), nothing unconfirmed, no refusal.
fn check_offered(w: &str, n: u32, c: &Compatibility) -> Check {
    let holds_previous = c
        .emulated_version
        .as_ref()
        .is_some_and(|r| parse_minor_key(&r.min).is_some_and(|lo| lo < n));
    if !c.emulated_version_flag || !holds_previous {
        return Err(format!(
            "{w}: two_step offered, but the accepted range does not hold 1.{}",
            n.saturating_sub(1)
        ));
    }
    if c.components.len() != super::two_step::EMULATING_COMPONENTS.len() {
        return Err(format!(
            "{w}: two_step offered, but not all of {} take the flag",
            super::two_step::EMULATING_COMPONENTS.join(", ")
        ));
    }
    if !c.unconfirmed.is_empty() || c.refusal.is_some() {
        return Err(format!(
            "{w}: two_step offered with unconfirmed facts or a refusal reason"
        ));
    }
    Ok(())
}

/// A minor's skew facts cite sources, say why when uncertain, and kubeadm is never more
/// lenient than the policy (kubeadm may only add restrictions).
fn check_minor_skew(c: &Catalog, m: &MinorEntry, ids: &SourceIds<'_>) -> Check {
    let what = format!("minor {}", m.minor);
    if let Some(s) = &m.skew {
        let w = format!("{what} skew");
        ids.check(&w, &s.source)?;
        if s.confidence.is_some() && s.note.is_none() {
            return Err(format!("{w}: uncertain without a note saying why"));
        }
        if s.kubelet_max_minors_older == 0 || s.kube_proxy_max_minors_older == 0 {
            return Err(format!(
                "{w}: a limit of 0 minors would stop any upgrade; the policy allows at least 1"
            ));
        }
    }
    if let Some(k) = &m.kubeadm {
        let w = format!("{what} kubeadm");
        ids.check(&w, &k.source)?;
        if k.confidence.is_some() && k.note.is_none() {
            return Err(format!("{w}: uncertain without a note saying why"));
        }
        if k.node_kubeadm_max_minors_newer == 0 {
            return Err(format!(
                "{w}: node_kubeadm_max_minors_newer 0 would stop every node upgrade; kubeadm allows at least 1"
            ));
        }
        let policy = c.skew_of(m).kubelet_max_minors_older;
        if k.kubelet_max_minors_older > policy {
            return Err(format!(
                "{w}: kubelet_max_minors_older {} is more than the skew policy's {policy}",
                k.kubelet_max_minors_older
            ));
        }
    }
    Ok(())
}

/// An image's tag rows start at patch 0, ascend, and each make a valid reference.
fn check_minor_image(what: &str, img: &CatalogImage, registry: &str, ids: &SourceIds<'_>) -> Check {
    let w = format!("{what} image {}", img.name);
    if img.tags.is_empty() {
        return Err(format!("{w}: no tags"));
    }
    for (i, row) in img.tags.iter().enumerate() {
        if i == 0 && row.from_patch != 0 {
            return Err(format!("{w}: the first tag row must have from_patch: 0"));
        }
        if i > 0 && row.from_patch <= img.tags[i - 1].from_patch {
            return Err(format!(
                "{w}: tag rows must ascend by from_patch ({} after {})",
                row.from_patch,
                img.tags[i - 1].from_patch
            ));
        }
        check_image(registry, &img.repository, &row.tag).map_err(|e| format!("{w}: {e}"))?;
        ids.check(&w, &row.source)?;
    }
    Ok(())
}

/// A tool is a named, versioned, sourced http(s) download.
fn check_tool(what: &str, t: &Tool, ids: &SourceIds<'_>) -> Check {
    let w = format!("{what} tool {}", t.name);
    check_file_name(&t.name).map_err(|e| format!("{w}: {e}"))?;
    check_file_name(&t.version).map_err(|e| format!("{w}: version: {e}"))?;
    ids.check(&w, &t.source)?;
    check_url_templates(&t.url, &t.checksum_url, &[("tool_version", &t.version)])
        .map_err(|e| format!("{w}: {e}"))
}

/// A removed API names valid group/versions; a partial removal names its kinds.
fn check_removed(what: &str, r: &RemovedApi, ids: &SourceIds<'_>) -> Check {
    let w = format!("{what} removed api {}", r.group_version);
    check_group_version(&r.group_version).map_err(|e| format!("{w}: {e}"))?;
    if let Some(rep) = &r.replacement {
        check_group_version(rep).map_err(|e| format!("{w}: replacement: {e}"))?;
    }
    if r.partial && r.kinds.is_empty() {
        return Err(format!("{w}: partial removal without kinds"));
    }
    ids.check(&w, &r.source)
}

/// An API removed before the catalog's first minor: older than it, valid, with kinds.
fn check_earlier_removed(r: &EarlierRemovedApi, first: u32, ids: &SourceIds<'_>) -> Check {
    let w = format!("earlier_removed_apis {} {}", r.removed_in, r.group_version);
    if parse_minor_key(&r.removed_in).is_none_or(|n| n >= first) {
        return Err(format!(
            "{w}: removed_in must be a minor (\"1.22\") older than the first of `minors`"
        ));
    }
    check_group_version(&r.group_version).map_err(|e| format!("{w}: {e}"))?;
    if let Some(rep) = &r.replacement {
        check_group_version(rep).map_err(|e| format!("{w}: replacement: {e}"))?;
    }
    if r.kinds.is_empty() {
        return Err(format!("{w}: kinds is empty"));
    }
    ids.check(&w, &r.source)
}

/// `group/version` or the core `v1`: lowercase DNS-ish group, lowercase version.
pub fn check_group_version(gv: &str) -> Check {
    let ok_part = |p: &str| {
        !p.is_empty()
            && p.len() <= 253
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    };
    let (group, version) = match gv.split_once('/') {
        Some((g, v)) => (Some(g), v),
        None => (None, gv),
    };
    if group.is_some_and(|g| !ok_part(g)) || !ok_part(version) || version.contains('.') {
        return Err(format!(
            "{:?} is not a group/version",
            crate::escape::Untrusted(gv)
        ));
    }
    Ok(())
}

fn check_served(gvs: &[ServedGroupVersion]) -> Check {
    for (i, gv) in gvs.iter().enumerate() {
        check_group_version(&gv.group_version)?;
        if i > 0 && gv.group_version <= gvs[i - 1].group_version {
            return Err(format!(
                "group/versions must ascend, each once ({} after {})",
                gv.group_version,
                gvs[i - 1].group_version
            ));
        }
        for (j, r) in gv.resources.iter().enumerate() {
            if r.resource.is_empty() || r.kind.is_empty() {
                return Err(format!(
                    "{}: a resource without name or kind",
                    gv.group_version
                ));
            }
            if j > 0 && r.resource <= gv.resources[j - 1].resource {
                return Err(format!(
                    "{}: resources must ascend, each once ({} after {})",
                    gv.group_version,
                    r.resource,
                    gv.resources[j - 1].resource
                ));
            }
        }
    }
    Ok(())
}

fn check_image(registry: &str, repository: &str, tag: &str) -> Check {
    let r = format!("{registry}/{repository}:{tag}");
    crate::image_ref::ImageRef::parse(&r)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn check_file_name(name: &str) -> Check {
    crate::paths::SafeRelPath::new(name)
        .map_err(|e| e.to_string())
        .and_then(|p| {
            if p.as_str().contains('/') {
                Err(format!("{name:?} must be a single path component"))
            } else {
                Ok(())
            }
        })
}

fn check_url_templates(url: &str, checksum_url: &str, vars: &[(&str, &str)]) -> Check {
    let mut all = vars.to_vec();
    all.push(("arch", "amd64"));
    let u = expand_template(url, &all)?;
    if !u.starts_with("https://") && !u.starts_with("http://") {
        return Err(format!("url {url:?} is not http(s)"));
    }
    let c = expand_template(checksum_url, &[("url", &u)])?;
    if !c.starts_with("https://") && !c.starts_with("http://") {
        return Err(format!("checksum_url {checksum_url:?} is not http(s)"));
    }
    Ok(())
}
