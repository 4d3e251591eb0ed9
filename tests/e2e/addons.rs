//! Add-ons that upgrade with the cluster: images found in their manifests and charts, Helm
//! charts pinned by digest from a real registry (pushed as OCI artifacts with Helm's media
//! types) and from a chart repository served by a real file server, compatibility with
//! the target checked at resolve time, and `airlock addon pin`. The enclave's copy of an
//! OCI chart is checked with skopeo against Helm's documented OCI layout.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::charts::{
    HELM_CHART, HELM_CONFIG, chart_config, chart_repo, chart_tgz, push_chart,
};
use crate::common::check::{assert_contains, assert_lacks, names_in};
use crate::common::cli::{self, Cli, ok};
use crate::common::images::{sha256_digest, sha256_hex, skopeo_inspect_raw, write_file_tree};
use crate::common::scenario::{assert_fails, sh};
use crate::common::servers::Registry;
use crate::common::upstream::{Opts, Upstream, lock_images};
use crate::common::{each, read_json};

const PLACEHOLDER: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const CSI_IMAGES: [&str; 5] = [
    "sig-storage/nfsplugin:v4.9.0",
    "sig-storage/csi-provisioner:v5.0.2",
    "sig-storage/csi-snapshotter:v8.0.1",
    "sig-storage/livenessprobe:v2.13.1",
    "sig-storage/csi-node-driver-registrar:v2.11.1",
];

fn fixture(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/addons")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn write(path: &Path, text: impl AsRef<[u8]>) -> PathBuf {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    path.to_path_buf()
}

fn resolve_with(u: &Upstream, manifests: &[&Path], extra: &[&str]) -> Output {
    let mut args: Vec<String> = Vec::new();
    for m in manifests {
        args.push("--with".into());
        args.push(m.display().to_string());
    }
    args.push("--mirror".into());
    args.push(format!(
        "https://charts.example.com={}/charts",
        u.files.url()
    ));
    args.push("--mirror".into());
    args.push(format!(
        "https://raw.githubusercontent.com={}/rawgh",
        u.files.url()
    ));
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    u.resolve(&refs)
}

fn addon<'a>(lock: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    lock["facts"]["addons"]
        .as_array()
        .expect("facts.addons")
        .iter()
        .find(|a| a["name"] == name)
        .unwrap_or_else(|| panic!("add-on {name} missing: {}", lock["facts"]))
}

fn found_in(addon: &serde_json::Value, image: &str) -> Vec<String> {
    addon["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == image)
        .unwrap_or_else(|| panic!("{image} not in {}", addon["images"]))["found_in"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.to_string())
        .collect()
}

#[test]
fn the_calico_example_needs_no_hand_listed_images() {
    let u = Upstream::new(Opts {
        extra: vec![
            "calico/node:v3.28.1",
            "calico/cni:v3.28.1",
            "calico/kube-controllers:v3.28.1",
        ],
        ..Default::default()
    });
    let calico = include_bytes!("../../manifests/examples/addons/calico.yaml");
    let at = "rawgh/projectcalico/calico/v3.28.1/manifests/calico.yaml";
    write_file_tree(&u.www, &[(at, calico)]);
    let example = include_str!("../../manifests/examples/cni-calico.yaml");
    assert!(!example.contains("images:"), "the example lists no image");
    let pinned = example.replace(PLACEHOLDER, &sha256_hex(calico));
    let m = write(&u.path("cni-calico.yaml"), pinned);
    ok(&resolve_with(&u, &[&m], &[]));
    let lock = u.lock();
    let images = lock_images(&lock);
    for n in ["node", "cni", "kube-controllers"] {
        let name = format!("docker.io/calico/{n}:v3.28.1");
        let upstream = u.digest(&format!("calico/{n}:v3.28.1"));
        assert_eq!(images[&name], (upstream, "addon".to_string()), "{name}");
    }
    let a = addon(&lock, "calico");
    let cni = found_in(a, "docker.io/calico/cni:v3.28.1");
    assert_eq!(cni.len(), 2, "{cni:?}");
    assert!(
        cni.iter()
            .any(|f| f.contains("\"DaemonSet kube-system/calico-node\"")
                && f.contains("install-cni (init-container)")
                && f.contains("\"document\":12")),
        "{cni:?}"
    );
    let node = found_in(a, "docker.io/calico/node:v3.28.1");
    assert!(
        node.iter()
            .any(|f| f.contains("mount-bpffs (init-container)")),
        "{node:?}"
    );
    assert!(
        node.iter().any(|f| f.contains("calico-node (container)")),
        "{node:?}"
    );
    let range = crate::common::find(&a["checks"], "check", "support-range");
    assert_eq!(range["verdict"], "compatible");
    assert!(
        range["source"]
            .as_str()
            .unwrap()
            .starts_with("https://docs.tigera.io/")
    );
    let ds = crate::common::find(&a["checks"], "subject", "apps/v1 DaemonSet");
    assert_eq!(
        ds["verdict"], "not-removed",
        "the test catalog has no served APIs: {ds}"
    );
    assert_contains(
        ds["detail"].as_str().unwrap(),
        "does not list what 1.30 serves",
    );

    // Through build, verify and install: the enclave serves calico's images by tag.
    let (key, out) = u.keygen_and_build();
    ok(&out);
    u.verify(&key, &[]).ok();
    let enclave = Registry::start();
    let report = u.install(&key, &enclave, &u.path("dest")).ok().json();
    assert_contains(
        &report["images"].to_string(),
        "docker.io/calico/node:v3.28.1",
    );
    let tags = enclave.get("/v2/calico/node/tags/list").text();
    assert!(tags.contains("v3.28.1"), "{tags}");
    assert!(u.path("dest/addons/calico/v3.28.1/calico.yaml").is_file());
    let md = std::fs::read_to_string(u.path("bundle/report/change-report.md")).unwrap();
    assert!(md.contains("#### Add-on calico"), "{md}");
    assert!(md.contains("install-cni (init-container)"), "{md}");
}

const INGRESS_VALUES: &str = r#"controller:
  name: controller
  image:
    chroot: false
    registry: registry.k8s.io
    image: ingress-nginx/controller
    tag: "v1.11.2"
    digest: ""
    pullPolicy: IfNotPresent
  admissionWebhooks:
    enabled: true
    patch:
      enabled: true
      image:
        registry: registry.k8s.io
        image: ingress-nginx/kube-webhook-certgen
        tag: v1.4.3
        digest: ""
defaultBackend:
  enabled: false
  image:
    registry: registry.k8s.io
    image: defaultbackend-amd64
    tag: ""
"#;

fn ingress_chart(controller_digest: &str, kube_version: &str) -> Vec<u8> {
    let chart_yaml = format!(
        r#"apiVersion: v2
name: ingress-nginx
version: 4.11.2
appVersion: 1.11.2
kubeVersion: "{kube_version}"
description: Ingress controller for Kubernetes using NGINX as a reverse proxy and load balancer
annotations:
  artifacthub.io/images: |
    - name: controller
      image: registry.k8s.io/ingress-nginx/controller:v1.11.2@{controller_digest}
    - name: kube-webhook-certgen
      image: registry.k8s.io/ingress-nginx/kube-webhook-certgen:v1.4.3
"#
    );
    chart_tgz(
        "ingress-nginx",
        &[
            ("Chart.yaml", chart_yaml.as_bytes()),
            ("values.yaml", INGRESS_VALUES.as_bytes()),
            (
                "templates/controller-deployment.yaml",
                b"apiVersion: {{ include \"deploymentVersion\" . }}\nkind: Deployment\n",
            ),
        ],
    )
}

fn csi_chart(kube_version: &str) -> Vec<u8> {
    let chart_yaml = format!(
        "apiVersion: v1\nname: csi-driver-nfs\nversion: v4.9.0\nappVersion: v4.9.0\nkubeVersion: \"{kube_version}\"\ndescription: CSI NFS Driver for Kubernetes\n"
    );
    let values = r#"image:
    baseRepo: registry.k8s.io
    nfs:
        repository: registry.k8s.io/sig-storage/nfsplugin
        tag: v4.9.0
        pullPolicy: IfNotPresent
    csiProvisioner:
        repository: registry.k8s.io/sig-storage/csi-provisioner
        tag: v5.0.2
    csiSnapshotter:
        repository: registry.k8s.io/sig-storage/csi-snapshotter
        tag: v8.0.1
    livenessProbe:
        repository: registry.k8s.io/sig-storage/livenessprobe
        tag: v2.13.1
    nodeDriverRegistrar:
        repository: registry.k8s.io/sig-storage/csi-node-driver-registrar
        tag: v2.11.1
controller:
    replicas: 1
    runOnControlPlane: false
"#;
    chart_tgz(
        "csi-driver-nfs",
        &[
            ("Chart.yaml", chart_yaml.as_bytes()),
            ("values.yaml", values.as_bytes()),
            (
                "templates/csi-nfs-controller.yaml",
                b"kind: Deployment\n{{- if .Values.controller }}\n",
            ),
        ],
    )
}

fn upstream_with_addon_images() -> Upstream {
    let mut extra = vec![
        "ingress-nginx/controller:v1.11.2",
        "ingress-nginx/kube-webhook-certgen:v1.4.3",
    ];
    extra.extend(CSI_IMAGES);
    Upstream::new(Opts {
        extra,
        ..Default::default()
    })
}

#[test]
fn charts_from_an_oci_registry_and_a_chart_repository_go_through_to_install() {
    let u = upstream_with_addon_images();
    let h = u.registry.host();
    let controller = u.digest("ingress-nginx/controller:v1.11.2");
    // The OCI chart, pushed as `helm push` lays it out.
    let ingress = ingress_chart(&controller, ">=1.21.0-0");
    let config = chart_config("ingress-nginx", "4.11.2", "1.11.2", ">=1.21.0-0");
    let (chart_digest, chart_manifest) =
        push_chart(&h, "charts/ingress-nginx", "4.11.2", &config, &ingress);
    let rendered =
        fixture("ingress-nginx-rendered.yaml").replace("sha256:CONTROLLER_DIGEST", &controller);
    write(&u.path("addons/ingress-rendered.yaml"), rendered);
    let ingress_hop = write(
        &u.path("addons/ingress.yaml"),
        format!(
            "format: 1\nkind: airlock-hop-manifest\nname: ingress-nginx\ncharts:\n  - oci: oci://{h}/charts/ingress-nginx:4.11.2\n    digest: {chart_digest}\n    rendered: ingress-rendered.yaml\n"
        ),
    );
    // The repository chart, served with its index.yaml.
    let csi = csi_chart(">=1.20.0-0");
    let sums = chart_repo(
        &u.www.join("charts/csi"),
        &[("csi-driver-nfs", "v4.9.0", &csi)],
    );
    let storageclass = include_str!("../../manifests/examples/csi-nfs-storageclass.yaml");
    write(&u.path("addons/storageclass.yaml"), storageclass);
    let csi_hop = write(
        &u.path("addons/csi.yaml"),
        format!(
            "format: 1\nkind: airlock-hop-manifest\nname: csi-driver-nfs\ncharts:\n  - repo: https://charts.example.com/csi\n    chart: csi-driver-nfs\n    version: v4.9.0\n    sha256: {}\ndocuments:\n  - path: storageclass.yaml\n",
            sums[0]
        ),
    );
    let out = resolve_with(&u, &[&ingress_hop, &csi_hop], &[]);
    ok(&out);
    // The rendered output covers the undetermined entries.
    assert_lacks(&String::from_utf8_lossy(&out.stderr), "defaultBackend");
    let lock = u.lock();
    let chart = crate::common::find(&lock["images"], "role", "chart");
    assert_eq!(chart["name"], format!("{h}/charts/ingress-nginx:4.11.2"));
    assert_eq!(chart["digest"], chart_digest.as_str());
    assert_eq!(chart["platforms"], serde_json::json!([]));
    let by_name = lock_images(&lock);
    let pinned = format!("registry.k8s.io/ingress-nginx/controller:v1.11.2@{controller}");
    assert_eq!(by_name[&pinned], (controller.clone(), "addon".to_string()));
    for img in CSI_IMAGES {
        let name = format!("registry.k8s.io/{img}");
        assert_eq!(by_name[&name].0, u.digest(img), "{name}");
    }
    let file = crate::common::find(&lock["files"], "target", "charts/csi-driver-nfs-v4.9.0.tgz");
    assert_eq!(
        file["url"],
        "https://charts.example.com/csi/csi-driver-nfs-v4.9.0.tgz"
    );
    assert_eq!(file["sha256"], sums[0].as_str());
    assert_eq!(file["kind"], "chart");

    // Where each image came from: annotation, values and the rendered output, merged.
    let ing = addon(&lock, "ingress-nginx");
    let f = found_in(ing, &pinned);
    for source in ["chart-annotation", "chart-values", "rendered"] {
        assert!(f.iter().any(|x| x.contains(source)), "{source}: {f:?}");
    }
    let deployment = "Deployment ingress-nginx/ingress-nginx-controller";
    assert!(f.iter().any(|x| x.contains(deployment)), "{f:?}");
    let c = &ing["charts"][0];
    assert_eq!(c["carried_as"], "oci-artifact");
    assert_eq!(c["kube_version"], ">=1.21.0-0");
    assert_contains(&c["undetermined"].to_string(), "defaultBackend.image");
    let kv = crate::common::find(&ing["checks"], "check", "kube-version");
    assert_eq!(kv["verdict"], "compatible");
    let csi_facts = addon(&lock, "csi-driver-nfs");
    let sources = &csi_facts["charts"][0]["image_sources"];
    assert_eq!(*sources, serde_json::json!(["chart-values"]));
    let cni = crate::common::find(&lock["checklist"], "id", "cni.upgrade");
    let cmds = cni["commands"].to_string();
    assert!(cmds.contains("helm upgrade --install ingress-nginx oci://${AIRLOCK_REGISTRY}/charts/ingress-nginx --version 4.11.2"), "{cmds}");
    assert!(cmds.contains("helm upgrade --install csi-driver-nfs \\\"${AIRLOCK_DEST}\\\"/charts/csi-driver-nfs-v4.9.0.tgz"), "{cmds}");

    let (key, out) = u.keygen_and_build();
    ok(&out);
    u.verify(&key, &[]).ok();
    let enclave = Registry::start();
    let dest = u.path("dest");
    u.install(&key, &enclave, &dest).ok().json();
    // The enclave serves the chart as Helm's OCI format says: the same manifest bytes, an
    // OCI image manifest whose config and one layer have Helm's media types, and the
    // layer is the chart archive. So `helm install oci://ENCLAVE/charts/ingress-nginx
    // --version 4.11.2` finds it.
    let raw = skopeo_inspect_raw(&format!("{}/charts/ingress-nginx:4.11.2", enclave.host()));
    assert_eq!(raw, chart_manifest);
    assert_eq!(sha256_digest(&raw), chart_digest);
    let m: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(m["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    assert_eq!(m["config"]["mediaType"], HELM_CONFIG);
    assert_eq!(m["layers"].as_array().unwrap().len(), 1);
    assert_eq!(m["layers"][0]["mediaType"], HELM_CHART);
    let layer = m["layers"][0]["digest"].as_str().unwrap();
    let blob = enclave.get(&format!("/v2/charts/ingress-nginx/blobs/{layer}"));
    assert_eq!(blob.status, 200);
    assert_eq!(blob.body, ingress);
    let config_digest = m["config"]["digest"].as_str().unwrap();
    let cfg = enclave.get(&format!("/v2/charts/ingress-nginx/blobs/{config_digest}"));
    assert_eq!(cfg.body, config);
    // The repository chart is a file under --dest, byte for byte (checked with sha256sum).
    let sum = sh("sha256sum charts/csi-driver-nfs-v4.9.0.tgz", &dest);
    assert!(String::from_utf8_lossy(&sum.stdout).starts_with(&sums[0]));
    assert!(dest.join("manifests/storageclass.yaml").is_file());
    let report = read_json(&u.path("bundle/report/change-report.json"));
    let names = each(&report["addons"], "name");
    assert_eq!(names, ["ingress-nginx", "csi-driver-nfs"]);
    let inv = report["inventory"]["images"].to_string();
    assert!(inv.contains("\"role\":\"chart\""), "{inv}");
    // One-platform archives for nodes without a registry leave the chart out.
    let export = Cli::verify().arg("export").arg(u.path("bundle"));
    let export = export.args(["--trust", &cli::pub_of(&key), "--format", "docker-archive"]);
    export
        .arg("--out")
        .arg(u.path("archives"))
        .arg("--quiet")
        .ok();
    let names = names_in(&u.path("archives"));
    assert!(
        names.iter().any(|n| n.contains("ingress-nginx+controller")),
        "{names:?}"
    );
    assert!(
        !names.iter().any(|n| n.contains("charts+ingress-nginx")),
        "{names:?}"
    );
}

#[test]
fn incompatible_addons_are_caught_at_resolve_time_unless_allowed() {
    let u = Upstream::new(Opts {
        extra: CSI_IMAGES.to_vec(),
        ..Default::default()
    });
    let lock_path = u.path("hop.lock");
    // 1. A chart whose kubeVersion excludes the target.
    let chart_yaml = b"apiVersion: v2\nname: legacy-csi\nversion: 1.2.0\nkubeVersion: \">=1.19.0-0 <1.30.0-0\"\n";
    let values = b"image:\n  repository: registry.k8s.io/sig-storage/nfsplugin\n  tag: v4.9.0\n";
    let legacy = chart_tgz(
        "legacy-csi",
        &[("Chart.yaml", chart_yaml), ("values.yaml", values)],
    );
    write(&u.path("addons/charts/legacy-csi-1.2.0.tgz"), &legacy);
    let hop = write(
        &u.path("addons/legacy.yaml"),
        "format: 1\nkind: airlock-hop-manifest\nname: legacy-csi\ncharts:\n  - path: charts/legacy-csi-1.2.0.tgz\n",
    );
    let out = resolve_with(&u, &[&hop], &[]);
    for needle in [
        "add-on legacy-csi",
        "kubeVersion >=1.19.0-0 <1.30.0-0",
        "v1.30.2",
    ] {
        assert_fails(&out, 4, needle);
    }
    assert_fails(&out, 4, "--allow-incompatible legacy-csi");
    assert!(!lock_path.exists(), "no lock is written");
    // Allowed: the lock records the exception, and so does the report.
    let out = resolve_with(&u, &[&hop], &["--allow-incompatible", "legacy-csi"]);
    ok(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("carried anyway"));
    let lock = u.lock();
    assert_contains(
        &lock["notes"].to_string(),
        "--allow-incompatible legacy-csi",
    );
    let a = addon(&lock, "legacy-csi");
    assert!(a["exception"].as_str().unwrap().contains("<1.30.0-0"));
    let (_, out) = u.keygen_and_build();
    ok(&out);
    let report = crate::common::read_json(&u.path("bundle/report/change-report.json"));
    let risk = crate::common::find(&report["risks"], "id", "addon.legacy-csi.incompatible");
    assert_eq!(risk["severity"], "high");
    std::fs::remove_file(&lock_path).unwrap();

    // 2. A CSI driver manifest with an API the target removed (the catalog's 1.30 entry).
    let csi = fixture("csi-driver-nfs.yaml");
    let flow = "---\napiVersion: flowcontrol.apiserver.k8s.io/v1beta2\nkind: FlowSchema\nmetadata:\n  name: csi-nfs-controller\nspec:\n  priorityLevelConfiguration: {name: workload-high}\n  matchingPrecedence: 1000\n";
    write(
        &u.path("addons/csi-driver-nfs.yaml"),
        format!("{csi}{flow}"),
    );
    let hop = write(
        &u.path("addons/csi.yaml"),
        "format: 1\nkind: airlock-hop-manifest\nname: csi-driver-nfs\ndocuments:\n  - path: csi-driver-nfs.yaml\n",
    );
    let out = resolve_with(&u, &[&hop], &[]);
    assert_fails(&out, 4, "flowcontrol.apiserver.k8s.io/v1beta2 FlowSchema");
    assert_fails(&out, 4, "was removed in 1.30");
    assert_fails(&out, 4, "csi-driver-nfs.yaml document 8");
    assert!(!lock_path.exists());

    // 3. An API removed before the catalog's first minor (storage.k8s.io/v1beta1 CSIDriver,
    // removed in 1.22), from the catalog's earlier_removed_apis.
    let mut cat = std::fs::read_to_string(&u.catalog).unwrap();
    cat.push_str("earlier_removed_apis:\n  - { removed_in: \"1.22\", group_version: storage.k8s.io/v1beta1, kinds: [CSIDriver, StorageClass], replacement: storage.k8s.io/v1, source: [t] }\n");
    std::fs::write(&u.catalog, cat).unwrap();
    let v1beta1 = csi.replace(
        "storage.k8s.io/v1\nkind: CSIDriver",
        "storage.k8s.io/v1beta1\nkind: CSIDriver",
    );
    write(&u.path("addons/csi-driver-nfs.yaml"), v1beta1);
    let out = resolve_with(&u, &[&hop], &[]);
    assert_fails(&out, 4, "storage.k8s.io/v1beta1 CSIDriver");
    assert_fails(&out, 4, "was removed in 1.22; use storage.k8s.io/v1");

    // 4. A support range from the add-on's documentation that ends before the target.
    write(&u.path("addons/csi-driver-nfs.yaml"), &csi);
    let ranged = write(
        &u.path("addons/csi-ranged.yaml"),
        "format: 1\nkind: airlock-hop-manifest\nname: csi-driver-nfs\ncompat: {min: \"1.26\", max: \"1.29\", source: \"https://github.com/kubernetes-csi/csi-driver-nfs#kubernetes-compatibility\"}\ndocuments:\n  - path: csi-driver-nfs.yaml\n",
    );
    let out = resolve_with(&u, &[&ranged], &[]);
    assert_fails(&out, 4, "1.30 is outside Kubernetes 1.26 to 1.29");
    // 5. --allow-incompatible must name an add-on.
    let out = resolve_with(&u, &[&hop], &["--allow-incompatible", "calico"]);
    assert_fails(&out, 4, "no add-on is named calico");
    // The same manifest without the removed API resolves, images found in it.
    let out = resolve_with(&u, &[&hop], &[]);
    ok(&out);
    let images = lock_images(&u.lock());
    for img in CSI_IMAGES {
        assert!(
            images.contains_key(&format!("registry.k8s.io/{img}")),
            "{img}"
        );
    }
}

/// Add-on input that is wrong, or changed since it was pinned: one test per case, each
/// refused naming the file (and document) and writing no lock.
mod bad_addon_input_is_refused_naming_the_file_and_document {
    use super::*;

    /// Resolve with the hop manifest `addons/NAME.yaml` holding `text`; asserts no lock
    /// was written and returns the run.
    fn resolve_hop(u: &Upstream, name: &str, text: &str) -> Output {
        let hop = write(&u.path(&format!("addons/{name}.yaml")), text);
        let out = resolve_with(u, &[&hop], &[]);
        assert!(!u.path("hop.lock").exists(), "a lock was written");
        out
    }

    /// A hop manifest naming the one document `broken.yaml`, which holds `text`.
    fn resolve_document(text: &str) -> Output {
        let u = Upstream::new(Opts::default());
        write(&u.path("addons/broken.yaml"), text);
        let hop = "format: 1\nkind: airlock-hop-manifest\nname: broken\ndocuments:\n  - path: broken.yaml\n";
        resolve_hop(&u, "hop", hop)
    }

    #[test]
    fn a_document_that_is_not_yaml() {
        let out = resolve_document("apiVersion: v1\nkind: ConfigMap\ndata: [unclosed\n");
        assert_fails(&out, 4, "broken.yaml document 1");
        assert_fails(&out, 4, "not YAML");
    }

    #[test]
    fn a_document_that_is_not_a_kubernetes_object() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\njust: a map\n";
        let out = resolve_document(text);
        assert_fails(&out, 4, "broken.yaml document 2 (line 5)");
        assert_fails(&out, 4, "not a Kubernetes object");
    }

    #[test]
    fn an_image_reference_that_does_not_parse() {
        let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - {name: app, image: \"Registry.Example/UPPER:1\"}\n";
        let out = resolve_document(text);
        assert_fails(&out, 4, "broken.yaml document 1");
        assert_fails(&out, 4, "Pod p: container app: image");
        assert_fails(&out, 4, "does not parse");
    }

    #[test]
    fn a_chart_whose_kube_version_does_not_parse() {
        let u = Upstream::new(Opts::default());
        let chart_yaml =
            b"apiVersion: v2\nname: odd\nversion: 0.1.0\nkubeVersion: \">= one.two\"\n";
        let odd = chart_tgz("odd", &[("Chart.yaml", chart_yaml)]);
        write(&u.path("addons/charts/odd-0.1.0.tgz"), odd);
        let hop =
            "format: 1\nkind: airlock-hop-manifest\ncharts:\n  - path: charts/odd-0.1.0.tgz\n";
        let out = resolve_hop(&u, "odd", hop);
        assert_fails(&out, 4, "charts/odd-0.1.0.tgz");
        assert_fails(&out, 4, "kubeVersion \">= one.two\" does not parse");
    }

    #[test]
    fn an_oci_chart_whose_tag_now_names_another_manifest() {
        let u = Upstream::new(Opts::default());
        let h = u.registry.host();
        let config = chart_config("web", "1.0.0", "1", "");
        let push = |chart_yaml: &[u8]| {
            let tgz = chart_tgz("web", &[("Chart.yaml", chart_yaml)]);
            push_chart(&h, "charts/web", "1.0.0", &config, &tgz).0
        };
        let d1 = push(b"apiVersion: v2\nname: web\nversion: 1.0.0\n");
        let d2 = push(b"apiVersion: v2\nname: web\nversion: 1.0.0\ndescription: rebuilt\n");
        assert_ne!(d1, d2);
        let hop = format!(
            "format: 1\nkind: airlock-hop-manifest\nname: web\ncharts:\n  - oci: oci://{h}/charts/web:1.0.0\n    digest: {d1}\n"
        );
        let out = resolve_hop(&u, "web", &hop);
        assert_fails(&out, 5, "the chart changed since it was pinned");
        assert_fails(&out, 5, &d1);
    }

    #[test]
    fn an_oci_reference_that_is_a_container_image() {
        let u = Upstream::new(Opts::default());
        let (h, pause) = (u.registry.host(), u.digest("pause:3.9"));
        let hop = format!(
            "format: 1\nkind: airlock-hop-manifest\nname: web\ncharts:\n  - oci: oci://{h}/pause:3.9\n    digest: {pause}\n"
        );
        assert_fails(&resolve_hop(&u, "web", &hop), 1, "not a Helm chart");
    }

    /// A hop manifest naming csi-driver-nfs `version` from the chart repository, pinned to
    /// `sha`.
    fn csi_hop(version: &str, sha: &str) -> String {
        format!(
            "format: 1\nkind: airlock-hop-manifest\nname: csi\ncharts:\n  - repo: https://charts.example.com/csi\n    chart: csi-driver-nfs\n    version: {version}\n    sha256: {sha}\n"
        )
    }

    /// An upstream whose chart repository lists csi-driver-nfs v4.9.0; returns its sha256.
    fn with_csi_repo() -> (Upstream, String) {
        let u = Upstream::new(Opts::default());
        let csi = csi_chart(">=1.20.0-0");
        let repo = u.www.join("charts/csi");
        let sums = chart_repo(&repo, &[("csi-driver-nfs", "v4.9.0", &csi)]);
        (u, sums[0].clone())
    }

    #[test]
    fn a_repository_chart_pinned_to_another_sha256_than_the_index_lists() {
        let (u, _) = with_csi_repo();
        let out = resolve_hop(
            &u,
            "csi",
            &csi_hop("v4.9.0", &sha256_hex(b"another archive")),
        );
        let index = "https://charts.example.com/csi/index.yaml";
        assert_fails(
            &out,
            5,
            &format!("chart csi-driver-nfs v4.9.0 as listed in {index}"),
        );
    }

    #[test]
    fn a_repository_chart_whose_archive_changed_under_an_unchanged_index() {
        let (u, sha) = with_csi_repo();
        std::fs::write(
            u.www.join("charts/csi/csi-driver-nfs-v4.9.0.tgz"),
            b"tampered",
        )
        .unwrap();
        let out = resolve_hop(&u, "csi", &csi_hop("v4.9.0", &sha));
        assert_fails(&out, 5, "csi-driver-nfs-v4.9.0.tgz");
        assert_fails(&out, 5, "sha256 mismatch");
    }

    #[test]
    fn a_version_the_index_does_not_list_names_the_versions_it_has() {
        let (u, sha) = with_csi_repo();
        let out = resolve_hop(&u, "csi", &csi_hop("v9.9.9", &sha));
        assert_fails(
            &out,
            1,
            "no csi-driver-nfs v9.9.9 (versions of csi-driver-nfs: v4.9.0)",
        );
    }

    #[test]
    fn a_compat_block_with_an_unquoted_minor() {
        let u = Upstream::new(Opts::default());
        let hop = "format: 1\nkind: airlock-hop-manifest\ncompat: {min: 1.30, source: \"https://x.example\"}\n";
        assert_fails(&resolve_hop(&u, "c", hop), 4, "quote it");
    }
}

#[test]
fn addon_pin_prints_entries_that_resolve() {
    let u = upstream_with_addon_images();
    let h = u.registry.host();
    let files = u.files.url();
    let pin = |args: &[&str]| -> Output {
        let mut all: Vec<String> = vec!["addon".into(), "pin".into()];
        all.extend(args.iter().map(|s| s.to_string()));
        all.extend([
            "--insecure-registry".into(),
            h.clone(),
            "--mirror".into(),
            format!("https://charts.example.com={files}/charts"),
            "--mirror".into(),
            format!("https://raw.example.com={files}/raw"),
        ]);
        u.airlock(&all).output().unwrap()
    };
    // A manifest by URL: the sha256 sha256sum computes, and its size.
    let csi = fixture("csi-driver-nfs.yaml");
    write_file_tree(
        &u.www,
        &[("raw/csi/v4.9.0/csi-driver-nfs.yaml", csi.as_bytes())],
    );
    let out = pin(&["https://raw.example.com/csi/v4.9.0/csi-driver-nfs.yaml"]);
    let file_entry = ok(&out);
    let sum = sh("sha256sum raw/csi/v4.9.0/csi-driver-nfs.yaml", &u.www);
    let hex = String::from_utf8_lossy(&sum.stdout)[..64].to_string();
    assert_contains(&file_entry, &format!("sha256: {hex}"));
    assert!(
        file_entry.contains(&format!("size: {}", csi.len())),
        "{file_entry}"
    );
    assert!(file_entry.contains("kind: manifest"), "{file_entry}");
    // A chart of a repository: its sha256, checked against the index.
    let chart = csi_chart(">=1.20.0-0");
    chart_repo(
        &u.www.join("charts/csi"),
        &[("csi-driver-nfs", "v4.9.0", &chart)],
    );
    let out = pin(&[
        "https://charts.example.com/csi",
        "--chart",
        "csi-driver-nfs",
        "--version",
        "v4.9.0",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(v["type"], "repo-chart");
    assert_eq!(v["sha256"], sha256_hex(&chart));
    // An OCI chart: its manifest digest; an image: the digest its tag names.
    let ingress = ingress_chart(&u.digest("ingress-nginx/controller:v1.11.2"), ">=1.21.0-0");
    let (digest, _) = push_chart(
        &h,
        "charts/ingress-nginx",
        "4.11.2",
        &chart_config("ingress-nginx", "4.11.2", "1.11.2", ">=1.21.0-0"),
        &ingress,
    );
    let oci_entry = ok(&pin(&[&format!("oci://{h}/charts/ingress-nginx:4.11.2")]));
    assert_eq!(
        oci_entry,
        format!("charts:\n  - oci: oci://{h}/charts/ingress-nginx:4.11.2\n    digest: {digest}\n")
    );
    let image_entry = ok(&pin(&[&format!("oci://{h}/pause:3.9")]));
    assert_eq!(
        image_entry,
        format!(
            "images:\n  - name: {h}/pause:3.9@{}\n",
            u.digest("pause:3.9")
        )
    );
    assert_fails(&pin(&["ftp://x/y"]), 4, "expected an http(s) URL");

    // The printed entries, pasted into a hop manifest, resolve.
    let repo_entry = ok(&pin(&[
        "https://charts.example.com/csi",
        "--chart",
        "csi-driver-nfs",
        "--version",
        "v4.9.0",
    ]));
    let body = |e: &str| e.lines().skip(1).collect::<Vec<_>>().join("\n");
    let hop = write(
        &u.path("addons/pinned.yaml"),
        format!(
            "format: 1\nkind: airlock-hop-manifest\nname: pinned\ncharts:\n{}\n{}\nfiles:\n{}\n",
            body(&oci_entry),
            body(&repo_entry),
            body(&file_entry)
        ),
    );
    ok(&resolve_with(&u, &[&hop], &[]));
    let lock = u.lock();
    assert_eq!(
        addon(&lock, "pinned")["charts"].as_array().unwrap().len(),
        2
    );
}
