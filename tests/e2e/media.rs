//! Sneakernet media: a payload cut into volumes, damaged in every way a disc or a
//! hurried copy damages it, repaired from parity and installed; a delta bundle built
//! against the first hop; an install killed with SIGKILL at many points and run again.

use std::path::{Path, PathBuf};

use crate::common::check::{assert_contains, assert_lacks, flip_byte, names_in, served_digest};
use crate::common::cli::Run;
use crate::common::cli::stderr;
use crate::common::images::{
    ImageSpec, LayerSpec, build_layout, linux, push_image, sha256_hex, skopeo_inspect_raw,
};
use crate::common::scenario::{Scenario, assert_fails, sh};
use crate::common::servers::Registry;

const VOL: &str = "1MiB";

fn vol(bundle: &Path, name: &str) -> PathBuf {
    bundle.join(name)
}

fn assert_verifies(s: &Scenario, bundle: &Path) {
    let out = s.verify(bundle);
    assert!(out.status.success(), "verify failed: {}", stderr(&out));
}

fn assert_repaired(s: &Scenario, bundle: &Path, rebuilt: &[&str]) {
    let out = s.repair(bundle);
    assert!(out.status.success(), "repair failed: {}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let got: Vec<&str> = report["rebuilt"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(got, rebuilt);
    assert_verifies(s, bundle);
}

#[test]
fn volumes_are_the_payload_cut_and_every_damage_is_named_and_repaired() {
    let s = Scenario::new();
    let plain = s.build("plain", &[]);
    let b = s.build("vols", &["--volume-size", VOL, "--parity", "1"]);
    let names = [
        "payload.tar.zst.001",
        "payload.tar.zst.002",
        "payload.parity.001",
    ];
    for n in names {
        assert!(vol(&b, n).is_file(), "{n} missing");
    }
    assert!(!b.join("payload.tar.zst").exists());
    assert_eq!(std::fs::metadata(vol(&b, names[0])).unwrap().len(), 1 << 20);
    // `cat` of the volumes is the payload stream of the same lock without volumes, and
    // the tools of the operating system read it.
    let mut cat = std::fs::read(vol(&b, names[0])).unwrap();
    cat.extend(std::fs::read(vol(&b, names[1])).unwrap());
    assert_eq!(cat, std::fs::read(plain.join("payload.tar.zst")).unwrap());
    let out = sh(
        "sha256sum -c SHA256SUMS && cat payload.tar.zst.0* | zstd -dc | tar -t",
        &b,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let listing = String::from_utf8_lossy(&out.stdout);
    assert_contains(&listing, "payload.parity.001: OK");
    assert_contains(&listing, "index.json");
    assert_verifies(&s, &b);
    // The manifest of a bundle without volumes has no volume fields (byte-identical format).
    let m = std::fs::read_to_string(plain.join("manifest.json")).unwrap();
    assert!(!m.contains("volumes") && !m.contains("parity") && !m.contains("delta"));

    // Lost: named, rebuilt, verified.
    std::fs::remove_file(vol(&b, names[1])).unwrap();
    let out = s.verify(&b);
    assert_fails(&out, 3, "payload.tar.zst.002 is missing");
    assert_fails(
        &out,
        3,
        "the parity volumes can rebuild them: run `airlock-verify repair`",
    );
    assert_repaired(&s, &b, &["payload.tar.zst.002"]);

    // Truncated.
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(vol(&b, names[0]));
    f.unwrap().set_len(700_000).unwrap();
    assert_fails(
        &s.verify(&b),
        3,
        "payload.tar.zst.001 is truncated (700000 bytes)",
    );
    assert_repaired(&s, &b, &["payload.tar.zst.001"]);

    // One byte flipped past the volume's first 64 KiB.
    flip_byte(&vol(&b, names[0]), |_| 500_000, 0x40);
    assert_fails(&s.verify(&b), 3, "payload.tar.zst.001 is corrupt");
    assert_repaired(&s, &b, &["payload.tar.zst.001"]);

    // A volume of another bundle (same lock, another zstd level: other bytes).
    let other = s.build(
        "other",
        &["--volume-size", VOL, "--parity", "1", "--level", "9"],
    );
    std::fs::copy(vol(&other, names[0]), vol(&b, names[0])).unwrap();
    assert_fails(
        &s.verify(&b),
        3,
        "payload.tar.zst.001 is not a volume of this bundle",
    );
    assert_repaired(&s, &b, &["payload.tar.zst.001"]);

    // Out of order: two volumes swapped is two damaged volumes, more than one parity
    // volume rebuilds; repair says so and replaces nothing.
    let swap = || {
        std::fs::rename(vol(&b, names[0]), b.join("tmp")).unwrap();
        std::fs::rename(vol(&b, names[1]), vol(&b, names[0])).unwrap();
        std::fs::rename(b.join("tmp"), vol(&b, names[1])).unwrap();
    };
    swap();
    let out = s.verify(&b);
    let holds = "payload.tar.zst.001 is out of order: the file holds payload.tar.zst.002";
    assert_fails(&out, 3, holds);
    assert_fails(&out, 3, "payload.tar.zst.002 is out of order");
    // More damage than parity: verify does not send the operator to repair.
    assert!(
        !stderr(&out).contains("airlock-verify repair"),
        "{}",
        stderr(&out)
    );
    assert_fails(&s.repair(&b), 3, "cannot repair: 2 volumes are damaged");
    swap();
    assert_verifies(&s, &b);

    // A parity volume that lies, and a lost data volume: nothing rebuilds from a lie.
    std::fs::copy(vol(&other, names[2]), vol(&b, names[2])).unwrap();
    std::fs::remove_file(vol(&b, names[1])).unwrap();
    let out = s.repair(&b);
    assert_fails(&out, 3, "payload.parity.001 is not a volume of this bundle");
    assert!(
        !vol(&b, names[1]).exists(),
        "repair wrote a volume from a lying parity"
    );
    // Parity alone lost: rebuilt too.
    std::fs::copy(vol(&plain_vols(&s), names[1]), vol(&b, names[1])).unwrap();
    std::fs::remove_file(vol(&b, names[2])).unwrap();
    assert_repaired(&s, &b, &["payload.parity.001"]);

    // Volumes of two bundles mixed, repaired, and the result installs.
    let enclave = Registry::start();
    let dest = s.path("dest");
    let out = s.install(&b, &enclave, &dest, &[]);
    assert!(out.status.success(), "install: {}", stderr(&out));
    let apiserver = format!("{}/kube-apiserver:v1.30.2", enclave.host());
    assert_eq!(served_digest(&apiserver, None), s.images[0].index_digest);
}

/// A second copy of the standard volumes, to take good volumes from.
fn plain_vols(s: &Scenario) -> PathBuf {
    let p = s.path("spare");
    if !p.exists() {
        s.build("spare", &["--volume-size", VOL, "--parity", "1"]);
    }
    p
}

#[test]
fn volume_dirs_explain_themselves_and_bad_sizes_are_refused() {
    let s = Scenario::new();
    let b = s.build(
        "dirs",
        &["--volume-size", VOL, "--parity", "1", "--volume-dirs"],
    );
    for (d, f) in [
        ("volume-001", "payload.tar.zst.001"),
        ("volume-002", "payload.tar.zst.002"),
        ("volume-003", "payload.parity.001"),
    ] {
        assert!(b.join(d).join(f).is_file(), "{d}/{f}");
        let readme = std::fs::read_to_string(b.join(d).join("README.txt")).unwrap();
        assert_contains(&readme, "airlock bundle");
        assert_contains(&readme, "signed by key id");
        assert_contains(&readme, f);
        // Nobody signs the label, so it tells nobody what to run (a rewritten one would
        // be followed just the same): it says so, and names no command line.
        assert_contains(&readme, "This label is NOT signed");
        assert_lacks(&readme, "sha256sum");
        assert_lacks(&readme, "BUNDLE --trust");
    }
    // manual-verify.md's step 2 accepts the volume directories' SHA256SUMS.
    let out = sh(&crate::manual_verify::documented_step_two(), &b);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("volume-003/payload.parity.001: OK"));
    // The documented commands (docs/media.md), as written.
    let out = sh(
        "sha256sum -c SHA256SUMS && cat volume-*/payload.tar.zst.* | zstd -dc | tar -t",
        &b,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("index.json"));
    assert_verifies(&s, &b);
    // A disc lost from the drawer comes back into its directory.
    std::fs::remove_dir_all(b.join("volume-002")).unwrap();
    assert_fails(&s.verify(&b), 3, "payload.tar.zst.002 is missing");
    let out = s.repair(&b);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(b.join("payload.tar.zst.002").is_file());
    assert_verifies(&s, &b);

    // Published from volume directories and fetched back (volumes flat), it verifies and
    // exports through the same chained reader.
    let reg = Registry::start();
    let target = format!("{}/airlock/hop:vols", reg.host());
    let publish = s.on_bundle("publish", &b).args(["--registry", &target]);
    publish.args(["--insecure", "--json"]).ok();
    let fetched = s.path("fetched");
    let fetch = s
        .verify_cli()
        .args(["fetch", &target, "--trust", &s.pubkey(), "--out"]);
    fetch
        .arg(&fetched)
        .args(["--insecure", "--json", "--quiet"])
        .ok();
    for f in [
        "payload.tar.zst.001",
        "payload.tar.zst.002",
        "payload.parity.001",
    ] {
        assert!(fetched.join(f).is_file(), "{f} not fetched");
    }
    assert!(sh("sha256sum -c SHA256SUMS", &fetched).status.success());
    assert_verifies(&s, &fetched);
    let images = s.path("images");
    let export = s.on_bundle("export", &fetched).arg("--out").arg(&images);
    export.args(["--format", "oci-archive", "--json"]).ok();
    assert_eq!(std::fs::read_dir(&images).unwrap().count(), s.images.len());

    let bad = |extra: &[&str]| s.build_lock(&s.lock, "bad", extra);
    bad(&["--volume-size", "1000"]).fails(2, "below the minimum of 1048576 bytes");
    bad(&["--volume-size", "60GB"]).fails(2, "larger than the largest medium");
    bad(&["--volume-size", "4.7GB"]).fails(2, "whole number of bytes");
    bad(&["--parity", "1"]).fails(2, "need --volume-size");
    bad(&["--volume-size", VOL, "--parity", "3"]).fails(2, "at most as many as data volumes");
    assert!(!s.path("bad").exists());
    let mut leftovers = names_in(s.work.path());
    leftovers.retain(|n| n.contains("partial"));
    assert!(
        leftovers.is_empty(),
        "a partial bundle was left behind: {leftovers:?}"
    );
}

/// The second hop: the same kube-apiserver and pause, a new kube-proxy sharing the
/// base layer, the same kubeadm and a new file.
fn second_hop(s: &Scenario) -> PathBuf {
    let layout = s.path("layout2");
    let imgs = build_layout(
        &layout,
        &[ImageSpec {
            repository: "kube-proxy".into(),
            tag: "v1.30.3".into(),
            platforms: linux(&["amd64"]),
            layers: vec![
                LayerSpec::shared("base"),
                LayerSpec::Random {
                    seed: 77,
                    size: 150 * 1024,
                    gzip: true,
                },
            ],
        }],
    );
    push_image(&layout, &imgs[0], &s.upstream.host());
    let notes = s.path("notes.txt");
    std::fs::write(&notes, b"hop two release notes\n").unwrap();
    let text = std::fs::read_to_string(&s.lock).unwrap();
    let first_images = text.split("files:").next().unwrap();
    let lock2 = s.path("hop2.lock");
    let files = text.split("files:").nth(1).unwrap();
    let out = format!(
        "{}  - name: registry.k8s.io/kube-proxy:v1.30.3\n    digest: {}\n    platforms: [linux/amd64]\nfiles:{}  - name: notes\n    path: notes.txt\n    sha256: {}\n    target: docs/notes.txt\n    kind: document\n",
        first_images.replace(
            "hop: { from: v1.29.6, to: v1.30.2 }",
            "hop: { from: v1.30.2, to: v1.30.3 }"
        ),
        imgs[0].index_digest,
        files,
        sha256_hex(b"hop two release notes\n"),
    );
    std::fs::write(&lock2, out).unwrap();
    lock2
}

fn build_lock(s: &Scenario, lock: &Path, out: &str, extra: &[&str]) -> Run {
    s.build_lock(lock, out, &["--json"]).args(extra).run()
}

#[test]
fn a_delta_carries_only_what_changed_and_installs_only_on_its_base() {
    let s = Scenario::new();
    let hop1 = s.build("hop1", &[]);
    let lock2 = second_hop(&s);
    let full = build_lock(&s, &lock2, "hop2-full", &[]);
    assert!(full.status.success(), "{}", stderr(&full));
    let hop1_str = hop1.display().to_string();
    let delta = build_lock(&s, &lock2, "hop2-delta", &["--since", &hop1_str]);
    assert!(delta.status.success(), "{}", stderr(&delta));
    let summary: serde_json::Value = serde_json::from_slice(&delta.stdout).unwrap();
    assert!(summary["omitted"].as_u64().unwrap() >= 5, "{summary}");
    let size = |b: &str| {
        std::fs::metadata(s.path(b).join("payload.tar.zst"))
            .unwrap()
            .len()
    };
    let (full_size, delta_size) = (size("hop2-full"), size("hop2-delta"));
    assert!(
        delta_size * 4 < full_size,
        "delta {delta_size} bytes is not a fraction of the full {full_size}"
    );
    let m = crate::common::read_json(&s.path("hop2-delta/manifest.json"));
    let base_sha = sha256_hex(&std::fs::read(hop1.join("manifest.json")).unwrap());
    assert_eq!(m["delta"]["bases"][0]["sha256"], base_sha.as_str());
    assert_verifies(&s, &s.path("hop2-delta"));
    // Serving and exporting read images from the payload: a delta is refused by name.
    let export = s
        .on_bundle("export", &s.path("hop2-delta"))
        .args(["--format", "oci-archive"]);
    let export = export.arg("--out").arg(s.path("exported"));
    export.fails(2, "export needs a full bundle: this is a delta");

    // Never installed base: refused, naming it, and nothing installed.
    let enclave = Registry::start();
    let out = s.install(&s.path("hop2-delta"), &enclave, &s.path("dest-empty"), &[]);
    assert_fails(&out, 1, &base_sha);
    let catalog = enclave.get("/v2/_catalog").text();
    assert!(!catalog.contains("kube-proxy"), "{catalog}");
    assert!(!s.path("dest-empty/docs/notes.txt").exists());

    // On top of its base it installs, and the new image is complete.
    let dest = s.path("dest");
    let out = s.install(&hop1, &enclave, &dest, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = s.install(&s.path("hop2-delta"), &enclave, &dest, &[]);
    assert!(out.status.success(), "delta install: {}", stderr(&out));
    let raw = skopeo_inspect_raw(&format!("docker://{}/kube-proxy:v1.30.3", enclave.host()));
    assert!(!raw.is_empty());
    let from = format!("docker://{}/kube-proxy:v1.30.3", enclave.host());
    let copy = sh(
        &format!("skopeo copy --src-tls-verify=false {from} oci:copied:x"),
        s.work.path(),
    );
    assert!(copy.status.success(), "{}", stderr(&copy));
    let notes = std::fs::read(dest.join("docs/notes.txt")).unwrap();
    assert_eq!(notes, b"hop two release notes\n");
    // The enclave's signed inventory makes the same delta without the old bundle.
    let inv = s.path("inventory.txt");
    let inventory = s
        .verify_cli()
        .args(["inventory", "--registry", &enclave.host(), "--insecure"]);
    inventory
        .arg("--dest")
        .arg(&dest)
        .arg("--out")
        .arg(&inv)
        .ok();
    let text = std::fs::read_to_string(&inv).unwrap();
    assert_lacks(&text, "kube-proxy");
    assert_lacks(&text, "notes");
    let enclave_pub = dest.join(".airlock/enclave.pub");
    let (inv_s, pub_s) = (inv.display().to_string(), enclave_pub.display().to_string());
    let have = build_lock(
        &s,
        &lock2,
        "hop2-have",
        &["--have", &inv_s, "--trust-enclave", &pub_s],
    );
    assert!(have.status.success(), "{}", stderr(&have));
    let summary: serde_json::Value = serde_json::from_slice(&have.stdout).unwrap();
    // Everything hop 2 needs is in the enclave now: only manifests travel.
    assert!(summary["omitted"].as_u64().unwrap() >= 8, "{summary}");
    // Another enclave's key, and an unsigned inventory: refused, no bundle.
    let other_pub = crate::common::cli::pub_of(&s.keygen("other"));
    let out = build_lock(
        &s,
        &lock2,
        "hop2-bad",
        &["--have", &inv_s, "--trust-enclave", &other_pub],
    );
    assert_fails(&out, 3, "is not signed by the trusted enclave key");
    let unsigned = s.path("unsigned.txt");
    std::fs::write(&unsigned, text.lines().next().unwrap()).unwrap();
    let uns = unsigned.display().to_string();
    let out = build_lock(
        &s,
        &lock2,
        "hop2-bad",
        &["--have", &uns, "--trust-enclave", &pub_s],
    );
    assert_fails(&out, 3, "is not signed");
    assert!(!s.path("hop2-bad").exists());
}

/// Blob and manifest files in a registry's storage.
fn stored_blobs(reg: &Registry) -> usize {
    let dir = reg.storage_dir().join("docker/registry/v2/blobs/sha256");
    let Ok(prefixes) = std::fs::read_dir(&dir) else {
        return 0;
    };
    prefixes
        .filter_map(|p| p.ok())
        .filter_map(|p| std::fs::read_dir(p.path()).ok())
        .flatten()
        .filter_map(|d| d.ok())
        .filter(|d| d.path().join("data").is_file())
        .count()
}

/// Every tag the registry serves names a complete image: each manifest it lists and
/// every config and layer of those.
fn assert_no_tag_points_at_an_incomplete_image(reg: &Registry, s: &Scenario) {
    let accept = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";
    let get = |path: &str| {
        crate::common::servers::try_http_get(&reg.host(), path, &[("Accept", accept)]).unwrap()
    };
    for img in &s.images {
        let repo = &img.repository;
        let top = get(&format!("/v2/{repo}/manifests/{}", img.tag));
        if top.status != 200 {
            continue;
        }
        let v: serde_json::Value = serde_json::from_slice(&top.body).unwrap();
        let mut manifests = vec![v.clone()];
        for child in v["manifests"].as_array().into_iter().flatten() {
            let d = child["digest"].as_str().unwrap();
            let r = get(&format!("/v2/{repo}/manifests/{d}"));
            assert_eq!(
                r.status, 200,
                "{repo}:{} is tagged but manifest {d} is missing",
                img.tag
            );
            manifests.push(serde_json::from_slice(&r.body).unwrap());
        }
        for m in &manifests {
            let blobs = m["layers"]
                .as_array()
                .into_iter()
                .flatten()
                .chain(m.get("config"));
            for b in blobs {
                let d = b["digest"].as_str().unwrap();
                let r = get(&format!("/v2/{repo}/blobs/{d}"));
                assert_eq!(
                    r.status, 200,
                    "{repo}:{} is tagged but blob {d} is missing",
                    img.tag
                );
            }
        }
    }
}

fn raw_tags(reg: &Registry) -> Vec<Vec<u8>> {
    [
        "kube-apiserver:v1.30.2",
        "pause:3.9",
        "coredns/coredns:v1.11.1",
    ]
    .iter()
    .map(|r| skopeo_inspect_raw(&format!("docker://{}/{r}", reg.host())))
    .collect()
}

#[test]
fn an_install_killed_anywhere_completes_on_the_next_run() {
    let s = Scenario::new();
    let b = s.build("bundle", &[]);
    let clean = Registry::start();
    let out = s.install(&b, &clean, &s.path("clean-dest"), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let want = raw_tags(&clean);
    let total = stored_blobs(&clean);
    assert!(total > 5);
    let pubkey = format!("{}.pub", s.key.display());
    for kill_after in [0, 1, 3, 6, total - 2, total] {
        let reg = Registry::start();
        let dest = s.path(&format!("dest-{kill_after}"));
        let install = s.verify_cli().arg("install").arg(&b);
        let install = install.args(["--trust", &pubkey, "--registry", &reg.host(), "--insecure"]);
        let install = install
            .arg("--dest")
            .arg(&dest)
            .args(["--quiet", "--uploads", "1"]);
        let mut child = install
            .into_command()
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let start = std::time::Instant::now();
        while stored_blobs(&reg) < kill_after && start.elapsed().as_secs() < 60 {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        assert_no_tag_points_at_an_incomplete_image(&reg, &s);
        let out = s.install(&b, &reg, &dest, &[]);
        assert!(
            out.status.success(),
            "second run after a kill at {kill_after} blobs: {}",
            stderr(&out)
        );
        assert_eq!(raw_tags(&reg), want, "killed after {kill_after} blobs");
        assert_eq!(stored_blobs(&reg), total, "killed after {kill_after} blobs");
        // What the first run left is not pushed again.
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let pushed = report["blobs_pushed"].as_u64().unwrap() as usize;
        assert!(pushed + kill_after.min(total) <= total + 1, "{report}");
    }
}

/// Symbolic links planted at every name an older `repair` used for its temporary files
/// (`volume-NNN/.payload.tar.zst.NNN.repair-PID`, for the next few thousand pids), all
/// pointing at one file outside the bundle.
fn plant_temp_links(vdir: &Path, volume: &str, victim: &Path) -> usize {
    let last: u32 = std::fs::read_to_string("/proc/sys/kernel/ns_last_pid")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1);
    let mut n = 0;
    for pid in last..last + 5000 {
        let link = vdir.join(format!(".{volume}.repair-{pid}"));
        std::os::unix::fs::symlink(victim, link).unwrap();
        n += 1;
    }
    n
}

#[test]
fn repair_writes_through_no_link_planted_on_the_medium() {
    let s = Scenario::new();
    let b = s.build(
        "dirs",
        &["--volume-size", VOL, "--parity", "1", "--volume-dirs"],
    );
    let victim = s.path("outside/victim");
    std::fs::create_dir_all(victim.parent().unwrap()).unwrap();
    std::fs::write(&victim, b"precious").unwrap();
    let vdir = b.join("volume-002");

    // Links at the temporary names: repair rebuilds the lost volume and follows none.
    std::fs::remove_file(vdir.join("payload.tar.zst.002")).unwrap();
    plant_temp_links(&vdir, "payload.tar.zst.002", &victim);
    let before = crate::common::tree(s.work.path());
    assert_repaired(&s, &b, &["volume-002/payload.tar.zst.002"]);
    crate::common::assert_changed_only_under(
        &before,
        &crate::common::tree(s.work.path()),
        &["dirs/volume-002"],
    );
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    let target = std::fs::symlink_metadata(vdir.join("payload.tar.zst.002")).unwrap();
    assert!(target.is_file(), "the rebuilt volume is a link");
    for e in std::fs::read_dir(&vdir).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_symlink() {
            std::fs::remove_file(e.path()).unwrap();
        }
    }

    // A volume directory that is a link to a directory outside the bundle: verify
    // refuses it as it refuses a linked volume file, and repair writes nothing at all.
    let away = s.path("outside/volume-002");
    std::fs::rename(&vdir, &away).unwrap();
    std::os::unix::fs::symlink(&away, &vdir).unwrap();
    assert_fails(
        &s.verify(&b),
        3,
        "payload.tar.zst.002 is in volume-002/, which is a symbolic link",
    );
    std::fs::remove_file(away.join("payload.tar.zst.002")).unwrap();
    let before = crate::common::tree(s.work.path());
    let out = s.repair(&b);
    assert_fails(&out, 4, "unsafe path volume-002: is a symbolic link");
    assert_fails(&out, 4, "replace the link with a copy of the directory");
    crate::common::assert_changed_only_under(&before, &crate::common::tree(s.work.path()), &[]);
    assert!(!away.join("payload.tar.zst.002").exists());

    // With the directory copied back in, the same command completes.
    std::fs::remove_file(&vdir).unwrap();
    std::fs::rename(&away, &vdir).unwrap();
    assert_repaired(&s, &b, &["volume-002/payload.tar.zst.002"]);
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
}
