//! The payload stream is the largest untrusted input: feed arbitrary bytes as
//! `payload.tar.zst` of a bundle whose manifest claims them, and walk it.
#![no_main]

use airlock::bundle::manifest::{BundleManifest, PayloadInfo};
use airlock::bundle::reader::{OpenedBundle, verify};
use airlock::digest::Sha256Digest;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile_dir() else { return };
    if std::fs::write(dir.join("payload.tar.zst"), data).is_err() {
        return;
    }
    let manifest = BundleManifest {
        format: 1,
        kind: "airlock-bundle".into(),
        hop: None,
        lock_sha256: Sha256Digest::of(b""),
        notes: vec![],
        payload: PayloadInfo {
            file: "payload.tar.zst".into(),
            size: data.len() as u64,
            sha256: Sha256Digest::of(data),
            tar_size: 0,
        },
        entries: vec![],
        images: vec![],
        files: vec![],
        checklist: None,
        package_repositories: Vec::new(),
    };
    let bundle = OpenedBundle {
        dir: dir.clone(),
        manifest,
        manifest_sha256: Sha256Digest::of(b""),
        signatures: vec![],
        rejected_signatures: vec![],
    };
    let _ = verify(&bundle, &|_| {});
    let _ = std::fs::remove_dir_all(dir);
});

fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    let d = std::env::temp_dir().join(format!("airlock-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}
