//! Forge hostile bundles that still carry a *valid* signature: unpack the payload,
//! change its entries, repack, update the manifest to match, and re-sign with the
//! scenario's own key. This is what a compromised build machine (or a stolen key) could
//! produce; the verifier's entry-by-entry checks must still hold.

use std::io::Read;
use std::path::Path;

/// One tar entry as the forger sees it.
#[derive(Clone)]
pub struct RawEntry {
    /// Raw name bytes (may be hostile: `..`, absolute).
    pub name: Vec<u8>,
    /// Entry type byte (`b'0'` regular, `b'2'` symlink, `b'1'` hard link, ...).
    pub kind: u8,
    /// Link target for links.
    pub link: Vec<u8>,
    /// Content.
    pub data: Vec<u8>,
    /// Permission bits in the header (airlock writes 0644).
    pub mode: u32,
}

/// The payload entries of a bundle.
pub fn read_entries(bundle: &Path) -> Vec<RawEntry> {
    let f = std::fs::File::open(bundle.join("payload.tar.zst")).expect("open payload");
    let dec = zstd::stream::read::Decoder::new(f).expect("zstd");
    let mut ar = tar::Archive::new(dec);
    let mut out = Vec::new();
    for e in ar.entries().expect("entries") {
        let mut e = e.expect("entry");
        let mut data = Vec::new();
        e.read_to_end(&mut data).expect("read entry");
        out.push(RawEntry {
            name: e.path_bytes().to_vec(),
            kind: e.header().entry_type().as_byte(),
            link: e.link_name_bytes().map(|l| l.to_vec()).unwrap_or_default(),
            data,
            mode: 0o644,
        });
    }
    out
}

fn write_name(h: &mut tar::Header, name: &[u8]) {
    let old = h.as_old_mut();
    old.name = [0; 100];
    old.name[..name.len()].copy_from_slice(name);
}

/// Repack `entries`, point the manifest at the new payload (optionally editing it with
/// `edit_manifest`), and re-sign everything with `key` (a PKCS#8 secret key file).
pub fn repack_and_resign(
    bundle: &Path,
    key: &Path,
    entries: &[RawEntry],
    edit_manifest: impl FnOnce(&mut serde_json::Value),
) {
    let mut tar_bytes = Vec::new();
    {
        let mut b = tar::Builder::new(&mut tar_bytes);
        for e in entries {
            // The header airlock documents (docs/bundle-format.md): ustar, mode 0644,
            // uid/gid 0, empty user and group names, mtime 0. A forger who wants past the
            // header check writes exactly that.
            let mut h = tar::Header::new_ustar();
            write_name(&mut h, &e.name);
            h.set_size(e.data.len() as u64);
            h.set_mode(e.mode);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            h.set_username("").expect("username");
            h.set_groupname("").expect("groupname");
            h.set_entry_type(tar::EntryType::new(e.kind));
            if !e.link.is_empty() {
                h.as_old_mut().linkname[..e.link.len()].copy_from_slice(&e.link);
            }
            h.set_cksum();
            b.append(&h, &e.data[..]).expect("append");
        }
        b.finish().expect("finish tar");
    }
    let payload = zstd::encode_all(&tar_bytes[..], 3).expect("zstd");
    std::fs::write(bundle.join("payload.tar.zst"), &payload).expect("write payload");
    let mpath = bundle.join("manifest.json");
    let mut m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&mpath).expect("read manifest")).expect("json");
    point_at_payload(&mut m, &payload);
    // tar_size stays what the (unchanged) entry list makes, as a forger keeping the
    // manifest self-consistent would leave it; edit_manifest may change it.
    edit_manifest(&mut m);
    let mut bytes = serde_json::to_vec_pretty(&m).expect("json");
    bytes.push(b'\n');
    std::fs::write(&mpath, &bytes).expect("write manifest");
    write_sums(bundle, &bytes, &payload);
    let sk = airlock::sign::load_secret_key(key).expect("key");
    // The trusted comment in airlock's form, so the documented manual procedure (which
    // checks its payload_sha256 field) treats the forgery like a real bundle.
    let comment = format!(
        "forged but validly signed manifest_sha256={} payload_sha256={}",
        super::images::sha256_hex(&bytes),
        super::images::sha256_hex(&payload)
    );
    let sig = airlock::sign::sign(&sk, &bytes, &comment).expect("sign");
    let sig_dir = bundle.join("signatures");
    for e in std::fs::read_dir(&sig_dir).expect("sig dir") {
        std::fs::remove_file(e.expect("entry").path()).expect("remove old signature");
    }
    std::fs::write(sig_dir.join(format!("{}.minisig", sk.key_id())), sig).expect("write signature");
}

/// Point the manifest's payload record at `payload` as a forger holding the key would:
/// its size, sha256 and structure digest.
pub fn point_at_payload(m: &mut serde_json::Value, payload: &[u8]) {
    m["payload"]["size"] = payload.len().into();
    m["payload"]["sha256"] = super::images::sha256_hex(payload).into();
    m["payload"]["structure_sha256"] = airlock_verify::structure::of(payload).hex().into();
}

/// Write SHA256SUMS as airlock does: the manifest, the payload, then the signed
/// documents the manifest lists.
pub fn write_sums(bundle: &Path, manifest_bytes: &[u8], payload: &[u8]) {
    let m: serde_json::Value = serde_json::from_slice(manifest_bytes).expect("manifest json");
    let mut text = format!(
        "{}  manifest.json\n{}  payload.tar.zst\n",
        super::images::sha256_hex(manifest_bytes),
        super::images::sha256_hex(payload)
    );
    for d in m["documents"].as_array().into_iter().flatten() {
        text.push_str(&format!(
            "{}  {}\n",
            d["sha256"].as_str().expect("sha256"),
            d["path"].as_str().expect("path")
        ));
    }
    std::fs::write(bundle.join("SHA256SUMS"), text).expect("write sums");
}

/// Build the scenario's bundle into `forged`, change its entries with `mutate` and its
/// manifest with `edit`, and re-sign it with the scenario's key.
pub fn forge(
    s: &super::scenario::Scenario,
    mutate: impl FnOnce(&mut Vec<RawEntry>),
    edit: impl FnOnce(&mut serde_json::Value),
) -> std::path::PathBuf {
    let bundle = s.build("forged", &["--force"]);
    let mut entries = read_entries(&bundle);
    mutate(&mut entries);
    repack_and_resign(&bundle, &s.path("keys/release.key"), &entries, edit);
    bundle
}

/// A raw entry with the documented header (mode 0644).
pub fn entry(name: &[u8], kind: u8, link: &str, data: &[u8]) -> RawEntry {
    RawEntry {
        name: name.to_vec(),
        kind,
        link: link.as_bytes().to_vec(),
        data: data.to_vec(),
        mode: 0o644,
    }
}

/// Edit a bundle's manifest with `edit` and re-sign it with `key` (a PKCS#8 secret key
/// file), the payload untouched: SHA256SUMS is rewritten from the edited manifest, as a
/// builder holding the key would, so only the checks beyond the signature can object.
pub fn resign_manifest(bundle: &Path, key: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mpath = bundle.join("manifest.json");
    let mut m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&mpath).expect("read manifest")).expect("json");
    edit(&mut m);
    let mut bytes = serde_json::to_vec_pretty(&m).expect("json");
    bytes.push(b'\n');
    std::fs::write(&mpath, &bytes).expect("write manifest");
    let parsed: airlock::manifest::BundleManifest =
        serde_json::from_slice(&bytes).expect("the edited manifest parses");
    let sums = parsed.sums_text(&airlock::digest::Sha256Digest::of(&bytes), false);
    std::fs::write(bundle.join("SHA256SUMS"), sums).expect("write sums");
    let sk = airlock::sign::load_secret_key(key).expect("key");
    let comment = format!(
        "re-signed manifest_sha256={}",
        super::images::sha256_hex(&bytes)
    );
    let sig = airlock::sign::sign(&sk, &bytes, &comment).expect("sign");
    let sig_dir = bundle.join("signatures");
    for e in std::fs::read_dir(&sig_dir).expect("sig dir") {
        std::fs::remove_file(e.expect("entry").path()).expect("remove old signature");
    }
    std::fs::write(sig_dir.join(format!("{}.minisig", sk.key_id())), sig).expect("write signature");
}
