//! `airlock-verify serve`: images straight from a verified bundle over the OCI
//! distribution API, pulled by skopeo; the API's edges (ranges, unknown digests,
//! traversal, writes) with a raw HTTP client; refusal of a bundle that fails
//! verification; bounded connections.

use std::io::Read;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::common::check::{flip_middle_byte, mkdir, names_in};
use crate::common::cli::{self, Cli};
use crate::common::each;
use crate::common::images::{sha256_digest, sha256_hex, skopeo, skopeo_inspect_raw};
use crate::common::scenario::{Scenario, assert_fails};
use crate::common::servers::{HttpResponse, http_request, make_test_ca};

fn manifest_json(bundle: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(bundle.join("manifest.json")).unwrap()).unwrap()
}

fn image<'a>(m: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    m["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in the bundle"))
}

fn error_code(r: &HttpResponse) -> String {
    let v: serde_json::Value = serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("error body is not JSON ({e}): {}", r.text()));
    v["errors"][0]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn skopeo_pulls_every_image_from_serve_with_the_upstream_digests() {
    let (s, bundle) = Scenario::built();
    let m = manifest_json(&bundle);
    let spool = s.path("spool");
    std::fs::create_dir(&spool).unwrap();
    let served = s.serve(&bundle, &["--spool", spool.to_str().unwrap()]);
    let addr = served.addr.clone();
    let listed = served.start["images"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 3, "{}", served.start);

    for img in &listed {
        let reference = img["reference"].as_str().unwrap();
        let digest = img["digest"].as_str().unwrap();
        // The bytes served are the manifest the bundle carries, digest for digest.
        let raw = skopeo_inspect_raw(&format!("{addr}/{reference}"));
        assert_eq!(sha256_digest(&raw), digest, "{reference}");
        // A full pull (every platform carried, every blob): skopeo checks each blob's
        // digest as it copies.
        let layout = s.path(&format!("pulled-{}", reference.replace(['/', ':'], "_")));
        skopeo(&[
            "copy",
            "--all",
            "--preserve-digests",
            "--src-tls-verify=false",
            &format!("docker://{addr}/{reference}"),
            &format!("oci:{}:x", layout.display()),
        ]);
        let index = crate::common::read_json(&layout.join("index.json"));
        assert_eq!(index["manifests"][0]["digest"], digest, "{reference}");
        for blob in std::fs::read_dir(layout.join("blobs/sha256")).unwrap() {
            let blob = blob.unwrap();
            let name = blob.file_name().to_string_lossy().into_owned();
            assert_eq!(sha256_hex(&std::fs::read(blob.path()).unwrap()), name);
        }
    }
    // Every platform carried: the upstream index digests survive.
    let raw = skopeo_inspect_raw(&format!("{addr}/kube-apiserver:v1.30.2"));
    assert_eq!(sha256_digest(&raw), s.images[0].index_digest);
    let raw = skopeo_inspect_raw(&format!("{addr}/coredns/coredns:v1.11.1"));
    assert_eq!(sha256_digest(&raw), s.images[2].index_digest);
    // Platform manifests by their upstream digest.
    let amd64 = s.images[1].manifest_digest("linux/amd64").unwrap();
    let raw = skopeo_inspect_raw(&format!("{addr}/pause@{amd64}"));
    assert_eq!(sha256_digest(&raw), amd64);
    let pause = image(&m, "registry.k8s.io/pause:3.9");
    assert_eq!(pause["served_as"], "subset-index");

    // SIGTERM: the server stops cleanly and removes its spool.
    assert_eq!(names_in(&spool).len(), 1, "one spool while serving");
    let (status, stderr) = served.terminate();
    assert!(status.success(), "{status:?}: {stderr}");
    assert!(
        names_in(&spool).is_empty(),
        "spool left: {:?}",
        names_in(&spool)
    );
}

/// `serve` answers reads exactly as the bundle holds them and refuses writes, traversal
/// and bad ranges: one test per kind of request, each against its own served bundle.
mod serve_answers_reads_exactly_and_refuses_writes_traversal_and_bad_ranges {
    use super::*;
    use crate::common::scenario::Served;

    /// A built bundle, served; with its manifest and the kube-apiserver image in it.
    struct Serving {
        _s: Scenario,
        served: Served,
        api: serde_json::Value,
        m: serde_json::Value,
    }

    fn serving() -> Serving {
        let (s, bundle) = Scenario::built();
        let m = manifest_json(&bundle);
        let served = s.serve(&bundle, &["--spool", s.work.path().to_str().unwrap()]);
        let api = image(&m, "registry.k8s.io/kube-apiserver:v1.30.2").clone();
        Serving {
            _s: s,
            served,
            api,
            m,
        }
    }

    impl Serving {
        fn req(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
            http_request(&self.served.addr, method, path, headers, &[]).unwrap()
        }

        fn get(&self, path: &str) -> HttpResponse {
            self.req("GET", path, &[])
        }

        /// (status, OCI error code) of a GET.
        fn refusal(&self, path: &str) -> (u16, String) {
            let r = self.get(path);
            (r.status, error_code(&r))
        }
    }

    /// The digest and size of the image's largest layer.
    fn largest_layer(api: &serde_json::Value) -> (&str, u64) {
        let blobs = api["blobs"].as_array().unwrap();
        let layer = blobs
            .iter()
            .max_by_key(|b| b["size"].as_u64().unwrap())
            .unwrap();
        (
            layer["digest"].as_str().unwrap(),
            layer["size"].as_u64().unwrap(),
        )
    }

    /// The catalog, tags, and manifests by tag and digest, HEAD and GET, with the right
    /// headers.
    #[test]
    fn catalog_tags_and_manifests() {
        let v = serving();
        let (req, get, api) = (
            |m: &str, p: &str, h: &[(&str, &str)]| v.req(m, p, h),
            |p: &str| v.get(p),
            &v.api,
        );
        let r = req("GET", "/v2/", &[]);
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("Docker-Distribution-API-Version"),
            Some("registry/2.0")
        );
        let r = req("GET", "/v2/_catalog", &[]);
        assert_eq!(r.status, 200);
        assert!(r.text().contains("coredns/coredns"), "{}", r.text());
        let r = req("GET", "/v2/kube-apiserver/tags/list", &[]);
        assert_eq!(r.status, 200);
        assert!(r.text().contains("v1.30.2"), "{}", r.text());

        let served_digest = api["served"]["digest"].as_str().unwrap();
        let r = req("HEAD", "/v2/kube-apiserver/manifests/v1.30.2", &[]);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("Docker-Content-Digest"), Some(served_digest));
        assert_eq!(
            r.header("Content-Type"),
            api["served"]["media_type"].as_str()
        );
        let length = r
            .header("Content-Length")
            .map(|v| v.parse::<u64>().unwrap());
        assert_eq!(length, api["served"]["size"].as_u64());
        assert!(r.body.is_empty());
        let r = get(&format!("/v2/kube-apiserver/manifests/{served_digest}"));
        assert_eq!(r.status, 200);
        assert_eq!(sha256_digest(&r.body), served_digest);
    }

    #[test]
    fn a_layer_whole_by_head_and_by_ranges() {
        let v = serving();
        let (req, api) = (
            |m: &str, p: &str, h: &[(&str, &str)]| v.req(m, p, h),
            &v.api,
        );
        // A layer: whole, HEAD, and single ranges.
        let (ld, size) = largest_layer(api);
        let path = format!("/v2/kube-apiserver/blobs/{ld}");
        let full = req("GET", &path, &[]);
        assert_eq!(full.status, 200);
        assert_eq!(sha256_digest(&full.body), ld);
        assert_eq!(full.header("Accept-Ranges"), Some("bytes"));
        let r = req("HEAD", &path, &[]);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("Content-Length"), Some(size.to_string().as_str()));
        assert!(r.body.is_empty());
        let r = req("GET", &path, &[("Range", "bytes=100-199")]);
        assert_eq!(r.status, 206);
        assert_eq!(
            r.header("Content-Range"),
            Some(format!("bytes 100-199/{size}").as_str())
        );
        assert_eq!(r.body, full.body[100..200]);
        let r = req("GET", &path, &[("Range", &format!("bytes={}-", size - 7))]);
        assert_eq!(r.status, 206);
        assert_eq!(r.body, full.body[size as usize - 7..]);
        let r = req("GET", &path, &[("Range", "bytes=-5")]);
        assert_eq!(r.body, full.body[size as usize - 5..]);
        for bad in [
            format!("bytes={size}-"),
            format!("bytes={}-{}", size + 10, size + 20),
            "bytes=0-1,5-9".to_string(),
            "bytes=9-3".to_string(),
            "bytes=99999999999999999999999-".to_string(),
            "lines=0-1".to_string(),
        ] {
            let r = req("GET", &path, &[("Range", &bad)]);
            assert_eq!(r.status, 416, "{bad}");
            let unsatisfiable = format!("bytes */{size}");
            assert_eq!(
                r.header("Content-Range"),
                Some(unsatisfiable.as_str()),
                "{bad}"
            );
            assert!(r.body.is_empty(), "{bad}");
        }
    }

    /// Unknown digests and repositories: 404 with an OCI error; a blob is served only
    /// under a repository whose image carries it.
    #[test]
    fn unknown_digests_and_repositories() {
        let v = serving();
        let (get, refusal, api, m) = (|p: &str| v.get(p), |p: &str| v.refusal(p), &v.api, &v.m);
        // Unknown digests and repositories: 404 with an OCI error.
        let unknown = sha256_digest(b"not in the bundle");
        let blob_unknown = (404, "BLOB_UNKNOWN".to_string());
        let manifest_unknown = (404, "MANIFEST_UNKNOWN".to_string());
        assert_eq!(
            refusal(&format!("/v2/kube-apiserver/blobs/{unknown}")),
            blob_unknown
        );
        assert_eq!(
            refusal(&format!("/v2/kube-apiserver/manifests/{unknown}")),
            manifest_unknown
        );
        assert_eq!(
            refusal("/v2/kube-apiserver/manifests/v9.9.9"),
            manifest_unknown
        );
        assert_eq!(
            refusal("/v2/nothing-here/manifests/v1"),
            (404, "NAME_UNKNOWN".into())
        );
        // A blob is served only under a repository whose image carries it.
        let coredns = image(m, "registry.k8s.io/coredns/coredns:v1.11.1");
        let api_blobs = each(&api["blobs"], "digest");
        let coredns_blobs = each(&coredns["blobs"], "digest");
        let only_coredns = coredns_blobs
            .into_iter()
            .find(|d| !api_blobs.contains(d))
            .unwrap();
        assert_eq!(
            get(&format!("/v2/kube-apiserver/blobs/{only_coredns}")).status,
            404
        );
        assert_eq!(
            get(&format!("/v2/coredns/coredns/blobs/{only_coredns}")).status,
            200
        );
    }

    #[test]
    fn traversal_and_garbage_never_read_a_file() {
        let v = serving();
        let (get, (ld, _)) = (|p: &str| v.get(p), largest_layer(&v.api));
        // Traversal and garbage never read a file: 404 or 400, with an OCI error body.
        let (api_blob, api_manifest) = ("/v2/kube-apiserver/blobs", "/v2/kube-apiserver/manifests");
        for (path, status) in [
            (format!("/v2/../../../../etc/passwd/blobs/{ld}"), 404),
            (format!("{api_blob}/sha256:../../../../etc/passwd"), 404),
            (format!("{api_blob}/sha256:..%2f..%2fetc%2fpasswd"), 400),
            (format!("/v2/%2e%2e/%2e%2e/etc/blobs/{ld}"), 404),
            (format!("/v2/kube-apiserver/../pause/blobs/{ld}"), 404),
            (format!("{api_manifest}/..%2f..%2fetc%2fpasswd"), 400),
            ("/../../etc/passwd".to_string(), 404),
            (format!("{api_blob}/sha256:"), 400),
            (format!("/v2/{}", "a/".repeat(600)), 404),
        ] {
            let r = get(&path);
            assert_eq!(r.status, status, "{path}: {}", r.text());
            assert!(!r.text().contains("root:"), "{path}");
            assert!(!error_code(&r).is_empty(), "{path}");
        }
    }

    #[test]
    fn every_write_is_refused_and_changes_nothing() {
        let v = serving();
        let (addr, (ld, _)) = (v.served.addr.as_str(), largest_layer(&v.api));
        let served_digest = v.api["served"]["digest"].as_str().unwrap();
        // Every write is refused.
        for (method, path) in [
            ("PUT", "/v2/kube-apiserver/manifests/v1.30.2".to_string()),
            ("POST", "/v2/kube-apiserver/blobs/uploads/".to_string()),
            ("PATCH", "/v2/kube-apiserver/blobs/uploads/abc".to_string()),
            ("DELETE", format!("/v2/kube-apiserver/blobs/{ld}")),
            ("DELETE", "/v2/kube-apiserver/manifests/v1.30.2".to_string()),
            ("GET", "/v2/kube-apiserver/blobs/uploads/".to_string()),
        ] {
            let r = http_request(addr, method, &path, &[], b"{}").unwrap();
            assert_eq!(r.status, 405, "{method} {path}");
            assert_eq!(error_code(&r), "UNSUPPORTED");
            assert_eq!(r.header("Allow"), Some("GET, HEAD"));
        }
        // And nothing changed.
        let raw = skopeo_inspect_raw(&format!("{addr}/kube-apiserver:v1.30.2"));
        assert_eq!(sha256_digest(&raw), served_digest);
    }
}

#[test]
fn serve_refuses_to_start_on_a_bundle_that_fails_verification() {
    let (s, bundle) = Scenario::built();
    flip_middle_byte(&bundle.join("payload.tar.zst"));
    let spool = mkdir(s.path("spool"));
    let out = s
        .try_serve(&bundle, &["--spool", spool.to_str().unwrap()])
        .err()
        .expect("serve started on a tampered bundle");
    assert_fails(&out, 3, "bundle verification failed");
    assert!(
        out.stdout.is_empty(),
        "announced: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(names_in(&spool).is_empty(), "{:?}", names_in(&spool));

    // An untrusted key: the same refusal, before the payload is read.
    let other = cli::keygen(&s.path("other"));
    let serve = Cli::verify().arg("serve").arg(&bundle);
    let serve = serve.args(["--trust", &cli::pub_of(&other), "--listen", "127.0.0.1:0"]);
    serve.arg("--spool").arg(&spool).fails(3, "");
}

#[test]
fn serve_bounds_silent_slow_and_excess_clients() {
    let (s, bundle) = Scenario::built();
    let served = s.serve(
        &bundle,
        &[
            "--spool",
            s.work.path().to_str().unwrap(),
            "--header-timeout",
            "1",
            "--idle-timeout",
            "1",
            "--max-connections",
            "1",
        ],
    );
    let addr = served.addr.clone();

    // A client that connects and sends nothing is closed within the timeout.
    let t0 = Instant::now();
    let mut silent = TcpStream::connect(&addr).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // While it holds the only slot, another client waits, until the silent one has been
    // idle for half a second and is closed to make room (issue 21: idle connections must
    // not starve real clients).
    let waiting = {
        let addr = addr.clone();
        std::thread::spawn(move || {
            let t = Instant::now();
            let r = http_request(&addr, "GET", "/v2/", &[], &[]).unwrap();
            (r.status, t.elapsed())
        })
    };
    let mut buf = [0u8; 64];
    let n = silent.read(&mut buf).unwrap_or(0);
    let closed_after = t0.elapsed();
    assert_eq!(n, 0, "server sent {:?}", String::from_utf8_lossy(&buf[..n]));
    assert!(
        closed_after < Duration::from_secs(4),
        "closed after {closed_after:?}"
    );
    assert!(
        closed_after >= Duration::from_millis(400),
        "closed after {closed_after:?}"
    );
    let (status, waited) = waiting.join().unwrap();
    assert_eq!(status, 200);
    assert!(
        waited >= Duration::from_millis(300),
        "not held back: {waited:?}"
    );

    // Headers sent a byte at a time, too slowly (slowloris): closed by the header timeout
    // even though bytes keep arriving.
    let t0 = Instant::now();
    let mut slow = TcpStream::connect(&addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut closed = false;
    for b in b"GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaa".iter() {
        use std::io::Write;
        if slow.write_all(&[*b]).is_err() {
            closed = true;
            break;
        }
        match slow.read(&mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => {
                closed = true;
                break;
            }
        }
        if t0.elapsed() > Duration::from_secs(6) {
            break;
        }
    }
    assert!(
        closed,
        "a slowloris client was not closed within {:?}",
        t0.elapsed()
    );
    assert!(t0.elapsed() < Duration::from_secs(4), "{:?}", t0.elapsed());

    // The server still answers.
    let r = http_request(&addr, "GET", "/v2/", &[], &[]).unwrap();
    assert_eq!(r.status, 200);
}

#[test]
fn serve_over_tls_with_a_prefix() {
    let (s, bundle) = Scenario::built();
    let (ca, cert, key) = make_test_ca(&s.path("certs"));
    let certs = s.path("client-certs");
    std::fs::create_dir(&certs).unwrap();
    std::fs::copy(&ca, certs.join("ca.crt")).unwrap();

    // A missing key file is bad input, reported before the bundle is read.
    let serve = Cli::verify().arg("serve").arg(&bundle);
    let serve = serve.args([
        "--trust",
        &s.pubkey(),
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
    ]);
    let serve = serve.arg(&cert).args(["--tls-key", "/nonexistent/key.pem"]);
    serve.fails(4, "/nonexistent/key.pem");

    let served = s.serve(
        &bundle,
        &[
            "--spool",
            s.work.path().to_str().unwrap(),
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
            "--prefix",
            "mirror/k8s",
        ],
    );
    assert!(
        served.start["url"]
            .as_str()
            .unwrap()
            .starts_with("https://")
    );
    let out = skopeo(&[
        "inspect",
        "--raw",
        "--cert-dir",
        certs.to_str().unwrap(),
        &format!("docker://{}/mirror/k8s/kube-apiserver:v1.30.2", served.addr),
    ]);
    assert_eq!(sha256_digest(&out.stdout), s.images[0].index_digest);
    // Plain HTTP on the TLS port gets nothing served.
    let r = http_request(&served.addr, "GET", "/v2/", &[], &[]);
    assert!(r.map(|r| r.status != 200).unwrap_or(true));
}
