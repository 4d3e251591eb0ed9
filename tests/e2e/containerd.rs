//! containerd, the runtime at the sites (`ctr` from Debian's `containerd` package): it
//! pulls through `serve` as a mirror configured with the `hosts.toml` that
//! docs/delivery.md documents, and imports the archives `export` writes.

use std::path::{Path, PathBuf};

use crate::common::scenario::{Scenario, Served};
use crate::common::servers::Containerd;

/// `DIR/<registry>/hosts.toml` with one mirror host block, as docs/delivery.md shows it.
fn hosts_dir(dir: &Path, registry: &str, host_block: &str) -> PathBuf {
    let d = dir.join(registry);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(
        d.join("hosts.toml"),
        format!("server = \"https://{registry}\"\n\n{host_block}"),
    )
    .unwrap();
    dir.to_path_buf()
}

/// The digest `ctr images ls` shows for `reference` in `namespace`.
fn listed_digest(c: &Containerd, namespace: &str, reference: &str) -> String {
    let ls = c.ctr_ok(namespace, &["images", "ls"]);
    ls.lines()
        .find(|l| l.split_whitespace().next() == Some(reference))
        .and_then(|l| l.split_whitespace().find(|w| w.starts_with("sha256:")))
        .unwrap_or_else(|| panic!("{reference} not in `ctr images ls`:\n{ls}"))
        .to_string()
}

fn pull(c: &Containerd, namespace: &str, hosts: &Path, reference: &str) {
    c.ctr_ok(
        namespace,
        &[
            "images",
            "pull",
            "--hosts-dir",
            hosts.to_str().unwrap(),
            "--snapshotter",
            "native",
            "--platform",
            "linux/amd64",
            reference,
        ],
    );
}

fn served_digest(served: &Served, reference: &str) -> String {
    served.start["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == reference)
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn containerd_pulls_through_serve_and_imports_exported_archives() {
    let Some(c) = Containerd::start() else {
        return;
    };
    let (s, bundle) = Scenario::built();
    let spool = s.work.path().to_str().unwrap().to_string();

    // A mirror for registry.k8s.io: containerd resolves and pulls every image from serve.
    let served = s.serve(&bundle, &["--spool", &spool]);
    let block = format!(
        "[host.\"http://{}\"]\n  capabilities = [\"pull\", \"resolve\"]\n",
        served.addr
    );
    let hosts = hosts_dir(&s.path("certs.d"), "registry.k8s.io", &block);
    for reference in [
        "registry.k8s.io/kube-apiserver:v1.30.2",
        "registry.k8s.io/pause:3.9",
        "registry.k8s.io/coredns/coredns:v1.11.1",
    ] {
        pull(&c, "mirror", &hosts, reference);
        assert_eq!(
            listed_digest(&c, "mirror", reference),
            served_digest(&served, reference)
        );
    }
    assert_eq!(
        listed_digest(&c, "mirror", "registry.k8s.io/kube-apiserver:v1.30.2"),
        s.images[0].index_digest
    );

    // Served below --prefix: the documented override_path block.
    let prefixed = s.serve(&bundle, &["--spool", &spool, "--prefix", "mirror/k8s"]);
    let block = format!(
        "[host.\"http://{}/v2/mirror/k8s\"]\n  capabilities = [\"pull\", \"resolve\"]\n  override_path = true\n",
        prefixed.addr
    );
    let hosts = hosts_dir(&s.path("certs.d-prefixed"), "registry.k8s.io", &block);
    pull(
        &c,
        "prefixed",
        &hosts,
        "registry.k8s.io/coredns/coredns:v1.11.1",
    );
    assert_eq!(
        listed_digest(&c, "prefixed", "registry.k8s.io/coredns/coredns:v1.11.1"),
        s.images[2].index_digest
    );

    // `ctr images import` of every exported archive, in both formats.
    let pubkey = format!("{}.pub", s.key.display());
    for (format, namespace) in [
        ("oci-archive", "import-oci"),
        ("docker-archive", "import-docker"),
    ] {
        let out = s.path(format);
        let o = s.run_verify(&[
            "export",
            bundle.to_str().unwrap(),
            "--trust",
            &pubkey,
            "--format",
            format,
            "--out",
            out.to_str().unwrap(),
            "--json",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let list: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        for e in list.as_array().unwrap() {
            let archive = e["archive"].as_str().unwrap();
            c.ctr_ok(
                namespace,
                &[
                    "images",
                    "import",
                    "--snapshotter",
                    "native",
                    "--platform",
                    "linux/amd64",
                    archive,
                ],
            );
            let image = e["image"].as_str().unwrap();
            let digest = listed_digest(&c, namespace, image);
            if format == "oci-archive" {
                // The image keeps the digest the enclave serves.
                assert_eq!(digest, e["digest"].as_str().unwrap(), "{image}");
            }
        }
    }
}
