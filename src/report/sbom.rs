//! A CycloneDX 1.5 SBOM (JSON) of a bundle: every image as a `pkg:oci` component with its
//! digest, every file with its sha256, and the catalog and lock the hop was resolved
//! from. Deterministic: the serial number is derived from the payload's digest and there
//! is no timestamp, so the same bundle gives the same bytes.

use std::str::FromStr;

use cyclonedx_bom::models::component::Classification;
use cyclonedx_bom::models::hash::{Hash, HashAlgorithm, HashValue, Hashes};
use cyclonedx_bom::models::metadata::Metadata;
use cyclonedx_bom::models::property::{Properties, Property};
use cyclonedx_bom::models::tool::{Tool, Tools};
use cyclonedx_bom::prelude::*;

use crate::error::{Error, Result};
use crate::manifest::BundleManifest;

fn sha256(hex: &str) -> Hashes {
    Hashes(vec![Hash {
        alg: HashAlgorithm::SHA_256,
        content: HashValue(hex.to_string()),
    }])
}

fn prop(name: &str, value: &str) -> Property {
    Property::new(name, value)
}

/// The `pkg:oci` purl of an image: `pkg:oci/NAME@sha256%3AHEX?repository_url=REGISTRY/PATH&tag=TAG`.
fn oci_purl(img: &crate::manifest::ImageRecord) -> String {
    let name = img
        .name
        .repository
        .rsplit('/')
        .next()
        .unwrap_or(&img.name.repository);
    let mut purl = format!(
        "pkg:oci/{name}@sha256%3A{}?repository_url={}/{}",
        img.served.digest.hex(),
        img.name.registry,
        img.name.repository
    );
    if let Some(t) = &img.name.tag {
        purl.push_str(&format!("&tag={t}"));
    }
    purl
}

/// The SBOM of `m`, as JSON bytes. `lock_sha256` and `catalog` name what it was resolved
/// from.
pub fn sbom(m: &BundleManifest, catalog: Option<(&str, &str)>) -> Result<Vec<u8>> {
    let mut components = Vec::new();
    for img in &m.images {
        let purl = oci_purl(img);
        let version = img
            .name
            .tag
            .clone()
            .unwrap_or_else(|| img.served.digest.to_string());
        // A Helm chart is an OCI artifact, not a container image.
        let class = if img.role == Some(crate::manifest::Role::Chart) {
            Classification::Application
        } else {
            Classification::Container
        };
        let mut c = Component::new(class, &img.name.repository, &version, Some(purl.clone()));
        c.purl = Purl::from_str(&purl).ok();
        c.hashes = Some(sha256(&img.served.digest.hex()));
        let mut props = vec![
            prop("airlock:served-as", &format!("{:?}", img.served_as)),
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
        c.properties = Some(Properties(props));
        components.push(c);
    }
    for f in &m.files {
        let mut c = Component::new(
            Classification::File,
            f.target.as_str(),
            &f.sha256.hex()[..12],
            Some(format!("file:{}", f.target)),
        );
        c.hashes = Some(sha256(&f.sha256.hex()));
        c.properties = Some(Properties(vec![
            prop("airlock:source", &f.source),
            prop("airlock:kind", f.kind.map(|k| k.as_str()).unwrap_or("file")),
            prop("airlock:mode", &f.mode.to_string()),
        ]));
        components.push(c);
    }
    let mut lock = Component::new(
        Classification::Data,
        "airlock lock",
        &m.lock_sha256.hex()[..12],
        Some("airlock:lock".to_string()),
    );
    lock.hashes = Some(sha256(&m.lock_sha256.hex()));
    components.push(lock);
    if let Some((version, sha)) = catalog {
        let mut c = Component::new(
            Classification::Data,
            "airlock Kubernetes catalog",
            version,
            Some("airlock:catalog".to_string()),
        );
        c.hashes = Some(sha256(sha));
        components.push(c);
    }
    let mut meta = Metadata {
        tools: Some(Tools::List(vec![Tool::new(
            "airlock",
            "airlock",
            env!("CARGO_PKG_VERSION"),
        )])),
        ..Metadata::default()
    };
    if let Some(h) = &m.hop {
        meta.component = Some(Component::new(
            Classification::Application,
            "kubernetes-hop",
            &format!("{}->{}", h.from, h.to),
            Some("airlock:bundle".to_string()),
        ));
    }
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
        metadata: Some(meta),
        components: Some(Components(components)),
        spec_version: SpecVersion::V1_5,
        ..Bom::default()
    };
    let mut out = Vec::new();
    bom.output_as_json(&mut out, SpecVersion::V1_5)
        .map_err(|e| Error::invalid("SBOM", "<memory>", format!("{e:?}")))?;
    out.push(b'\n');
    Ok(out)
}
