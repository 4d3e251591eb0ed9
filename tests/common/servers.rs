//! Real servers on loopback for tests: a container registry and a plain HTTP
//! file server, each a child process that is killed when its handle drops.
//!
//! Both pick a free port by binding `127.0.0.1:0` and releasing it, then start
//! the server on that port. Another test may grab the same port in between; if
//! the server then dies with "address already in use" we try a new port. So
//! that such a neighbour is never mistaken for our server, readiness also
//! checks that the answer came from our process (a unique response header for
//! the registry, our own request log for the file server).
//!
//! Readiness is checked with [`try_http_get`], a tiny HTTP/1.0 client written
//! on top of `std::net::TcpStream`, so these helpers need no HTTP crate and do
//! not depend on airlock's own code.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long a server may take to answer its first request.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How many fresh ports we try when a server loses the race for its port.
const PORT_ATTEMPTS: usize = 5;
/// Response header with which each registry proves that it is ours, and not
/// another test's server that grabbed the same port first.
const INSTANCE_HEADER: &str = "X-Airlock-Test-Instance";

// ---------------------------------------------------------------------------
// Minimal HTTP/1.0 client
// ---------------------------------------------------------------------------

/// A whole HTTP response, read until the server closed the connection.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    /// Header names as sent by the server; look them up with [`Self::header`].
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as (lossy) UTF-8, for messages and JSON.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// `GET path` on `addr` ("127.0.0.1:PORT") with HTTP/1.0 and
/// `Connection: close`, so the body simply runs to end-of-stream (no chunked
/// encoding, no keep-alive). Errors are strings meant for panic messages.
pub fn try_http_get(
    addr: &str,
    path: &str,
    extra_headers: &[(&str, &str)],
) -> Result<HttpResponse, String> {
    http_request(addr, "GET", path, extra_headers, &[])
}

/// Any `method` on `addr`, HTTP/1.0 with `Connection: close`, with `body` (sent with a
/// `Content-Length` when not empty). The path is sent exactly as given, so tests can
/// send paths a real client would normalise away.
pub fn http_request(
    addr: &str,
    method: &str,
    path: &str,
    extra_headers: &[(&str, &str)],
    body: &[u8],
) -> Result<HttpResponse, String> {
    let sock: SocketAddr = addr
        .parse()
        .map_err(|e| format!("bad address {addr:?}: {e}"))?;
    let mut stream = TcpStream::connect_timeout(&sock, Duration::from_secs(2))
        .map_err(|e| format!("connect {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| format!("set read timeout: {e}"))?;
    stream
        .set_write_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| format!("set write timeout: {e}"))?;

    let mut request = format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in extra_headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    stream
        .write_all(request.as_bytes())
        .and_then(|_| stream.write_all(body))
        .map_err(|e| format!("send request to {addr}: {e}"))?;

    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .map_err(|e| format!("read response from {addr}: {e}"))?;
    parse_response(&raw).map_err(|e| format!("response from {addr}{path}: {e}"))
}

/// Like [`try_http_get`] without extra headers, panicking on transport errors.
/// Any HTTP status is returned; check `status` yourself.
pub fn http_get(addr: &str, path: &str) -> HttpResponse {
    try_http_get(addr, path, &[]).unwrap_or_else(|e| panic!("HTTP GET failed: {e}"))
}

fn parse_response(raw: &[u8]) -> Result<HttpResponse, String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no end of headers in {} bytes", raw.len()))?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|e| format!("headers not UTF-8: {e}"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    // "HTTP/1.1 200 OK"
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Ok(HttpResponse {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    })
}

/// `Authorization` header value for HTTP basic auth. Standard base64 written
/// out here to keep the helpers free of extra crates.
pub fn basic_auth_header(user: &str, pass: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{user}:{pass}");
    let mut out = String::new();
    for chunk in input.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    format!("Basic {out}")
}

// ---------------------------------------------------------------------------
// Process plumbing shared by the servers: one free-port starter for all but the registry
// ---------------------------------------------------------------------------

/// Ask the kernel for a free loopback port, then release it for the server.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0 to find a free port");
    listener
        .local_addr()
        .expect("read the local address of the port-finding socket")
        .port()
}

/// Open `log` for the child's stdout and stderr (both into one file).
fn log_stdio(log: &Path) -> (Stdio, Stdio) {
    let out =
        File::create(log).unwrap_or_else(|e| panic!("create log file {}: {e}", log.display()));
    let err = out
        .try_clone()
        .expect("duplicate log file handle for stderr");
    (Stdio::from(out), Stdio::from(err))
}

fn read_log(log: &Path) -> String {
    fs::read_to_string(log).unwrap_or_else(|e| format!("<could not read {}: {e}>", log.display()))
}

/// Why a freshly spawned server did not become ready.
enum StartFailure {
    /// It died complaining about its port: worth retrying on another one.
    PortTaken,
}

/// Poll until `ready(response)` holds. Panics (with the log) on timeout or if
/// the process exits for any reason other than a taken port.
fn wait_ready(
    what: &str,
    child: &mut Child,
    addr: &str,
    path: &str,
    headers: &[(&str, &str)],
    log: &Path,
    ready: impl Fn(&HttpResponse) -> bool,
) -> Result<(), StartFailure> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().expect("poll the server child process") {
            let text = read_log(log);
            // Go says "address already in use", Python "Address already in use".
            if text.to_ascii_lowercase().contains("address already in use") {
                return Err(StartFailure::PortTaken);
            }
            panic!("{what} exited early with {status}; its log:\n{text}");
        }
        let last = match try_http_get(addr, path, headers) {
            Ok(resp) if ready(&resp) => return Ok(()),
            Ok(resp) => format!("HTTP {} {}", resp.status, resp.text()),
            Err(e) => e,
        };
        if Instant::now() > deadline {
            kill_and_wait(child);
            panic!(
                "{what} on {addr} not ready after {READY_TIMEOUT:?} (last: {last}); its log:\n{}",
                read_log(log)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn kill_and_wait(child: &mut Child) {
    // The child may already be gone; either way, reap it so no zombie stays.
    let _ = child.kill();
    let _ = child.wait();
}

/// The one free-port server starter: `command(port)` is the server on that port (its
/// stdout and stderr go to `log`); it has started once `GET path` on it satisfies `ready`.
/// Another process may take the port between [`free_port`] and the server's bind; then
/// it tries a fresh port, [`PORT_ATTEMPTS`] times.
fn start_on_free_port(
    what: &str,
    log: &Path,
    path: &str,
    ready: impl Fn(&HttpResponse) -> bool,
    command: impl Fn(u16) -> Command,
) -> (Child, u16) {
    for _ in 0..PORT_ATTEMPTS {
        let port = free_port();
        let (out, err) = log_stdio(log);
        let mut child = command(port)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {what}: {e}"));
        let addr = format!("127.0.0.1:{port}");
        match wait_ready(what, &mut child, &addr, path, &[], log, &ready) {
            Ok(()) => return (child, port),
            Err(StartFailure::PortTaken) => continue,
        }
    }
    panic!("{what} lost the race for a free port {PORT_ATTEMPTS} times");
}

/// A test server script (`python3 tests/fixtures/SCRIPT PORT ARGS...`) on a free loopback
/// port, started once it answers `GET /v2/` with 200; its log in its own temporary folder.
/// Killed on drop.
struct ScriptServer {
    child: Child,
    port: u16,
    log: PathBuf,
    _log_dir: tempfile::TempDir,
}

impl ScriptServer {
    fn start(what: &str, script: &str, args: &[String]) -> ScriptServer {
        let log_dir = tempfile::Builder::new()
            .prefix("airlock-proxy-")
            .tempdir()
            .expect("create a temporary folder for the server log");
        let log = log_dir.path().join("server.log");
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(script);
        let (child, port) = start_on_free_port(
            what,
            &log,
            "/v2/",
            |r| r.status == 200,
            |port| {
                let mut c = Command::new("python3");
                c.arg(&script).arg(port.to_string()).args(args);
                c
            },
        );
        ScriptServer {
            child,
            port,
            log,
            _log_dir: log_dir,
        }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn log_contents(&self) -> String {
        read_log(&self.log)
    }
}

impl Drop for ScriptServer {
    fn drop(&mut self) {
        kill_and_wait(&mut self.child);
    }
}

// ---------------------------------------------------------------------------
// Registry
// ---------------------------------------------------------------------------

/// A CNCF distribution 2.8 registry (`docker-registry serve`) on
/// `127.0.0.1:PORT`, plain HTTP, with deletes enabled. Killed on drop.
///
/// Clients must treat it as insecure: `skopeo --tls-verify=false`, or
/// airlock's own "plain HTTP" option.
pub struct Registry {
    child: Child,
    port: u16,
    credentials: Option<(String, String)>,
    /// Holds config.yml, the storage folder, htpasswd and registry.log.
    dir: tempfile::TempDir,
    /// A token server this registry depends on (bearer-token auth), killed with it.
    token_server: Option<Child>,
}

impl Registry {
    /// Start an open registry (no authentication).
    pub fn start() -> Registry {
        Self::start_inner(None, None)
    }

    /// Start a registry that serves HTTPS with `cert`/`key` (PEM), e.g. from
    /// [`make_test_ca`]. Clients need the CA to trust it.
    pub fn start_with_tls(cert: &Path, key: &Path) -> Registry {
        Self::start_inner(None, Some((cert.to_path_buf(), key.to_path_buf())))
    }

    /// Start a registry that demands HTTP basic auth for every request.
    ///
    /// Distribution 2.8 accepts htpasswd auth over plain HTTP (it only
    /// refuses `token` auth without TLS), so no certificates are needed. The
    /// htpasswd file is made with `htpasswd -Bbn` (bcrypt, the only hash
    /// distribution accepts) from Debian's `apache2-utils`.
    pub fn start_with_basic_auth(user: &str, pass: &str) -> Registry {
        Self::start_inner(Some((user.to_string(), pass.to_string())), None)
    }

    /// Start an HTTPS registry that demands bearer tokens from a token server
    /// (`tests/fixtures/token_server.py`) which in turn wants basic credentials: the flow
    /// Docker Hub, Harbor, GitLab and most hosted registries use. `ca_dir` is a folder from
    /// [`make_test_ca`]: its CA signs the tokens and the server certificate serves TLS.
    pub fn start_with_token_auth(ca_dir: &Path, user: &str, pass: &str) -> Registry {
        Self::start_with_token_server(ca_dir, user, pass, false)
    }

    /// Like [`Registry::start_with_token_auth`], but each token grants only the first
    /// scope asked for, so a cross-repository mount (push on the target, pull on the
    /// source) gets no pull on the source: the registry answers it `202 Accepted` with an
    /// upload session instead of mounting.
    pub fn start_without_cross_repository_pull(ca_dir: &Path, user: &str, pass: &str) -> Registry {
        Self::start_with_token_server(ca_dir, user, pass, true)
    }

    fn start_with_token_server(
        ca_dir: &Path,
        user: &str,
        pass: &str,
        first_scope_only: bool,
    ) -> Registry {
        let token_port = free_port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/token_server.py");
        let token_log = ca_dir.join(format!("token-server-{token_port}.log"));
        let (out, err) = log_stdio(&token_log);
        let mut token = Command::new("python3")
            .arg(&script)
            .arg(token_port.to_string())
            .arg(ca_dir.join("ca.pem"))
            .arg(ca_dir.join("ca.key"))
            .args([user, pass, "airlock-test-issuer"])
            .args(first_scope_only.then_some("first-scope-only"))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn the token server (python3)");
        let taddr = format!("127.0.0.1:{token_port}");
        if wait_ready(
            "token server",
            &mut token,
            &taddr,
            "/token",
            &[],
            &token_log,
            |r| r.status == 401,
        )
        .is_err()
        {
            panic!("token server lost the race for port {token_port}");
        }
        let auth = format!(
            "auth:\n  token:\n    realm: http://{taddr}/token\n    service: airlock-test-registry\n    \
             issuer: airlock-test-issuer\n    rootcertbundle: {:?}\n",
            path_str(&ca_dir.join("ca.pem"))
        );
        let mut reg = Self::start_configured(
            Some((user.to_string(), pass.to_string())),
            Some((ca_dir.join("server.pem"), ca_dir.join("server.key"))),
            Some(auth),
        );
        reg.token_server = Some(token);
        reg
    }

    fn start_inner(
        credentials: Option<(String, String)>,
        tls: Option<(PathBuf, PathBuf)>,
    ) -> Registry {
        Self::start_configured(credentials, tls, None)
    }

    fn start_configured(
        credentials: Option<(String, String)>,
        tls: Option<(PathBuf, PathBuf)>,
        auth_override: Option<String>,
    ) -> Registry {
        let dir = tempfile::Builder::new()
            .prefix("airlock-registry-")
            .tempdir()
            .expect("create a temporary folder for the registry");
        let storage = dir.path().join("storage");
        fs::create_dir_all(&storage).expect("create registry storage folder");

        let auth_section = match (&auth_override, &credentials) {
            (Some(a), _) => a.clone(),
            (None, None) => String::new(),
            (None, Some((user, pass))) => {
                let htpasswd = dir.path().join("htpasswd");
                write_htpasswd(&htpasswd, user, pass);
                format!(
                    "auth:\n  htpasswd:\n    realm: airlock-test\n    path: {:?}\n",
                    path_str(&htpasswd)
                )
            }
        };

        let tls_section = match &tls {
            None => String::new(),
            Some((cert, key)) => format!(
                "\x20 tls:\n    certificate: {:?}\n    key: {:?}\n",
                path_str(cert),
                path_str(key)
            ),
        };
        let log = dir.path().join("registry.log");
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port();
            let addr = format!("127.0.0.1:{port}");
            let instance = format!(
                "{}-{}-{port}",
                std::process::id(),
                STARTED.fetch_add(1, Ordering::Relaxed)
            );
            // `{:?}` of a plain path gives a valid YAML double-quoted string.
            let config = format!(
                "version: 0.1\n\
                 log:\n  level: warn\n\
                 storage:\n  filesystem:\n    rootdirectory: {storage:?}\n  delete:\n    enabled: true\n\
                 http:\n  addr: {addr}\n  secret: airlock-test-secret\n\
                 \x20 headers:\n    {INSTANCE_HEADER}: [{instance:?}]\n\
                 {tls_section}\
                 {auth_section}",
                storage = path_str(&storage),
            );
            let config_path = dir.path().join("config.yml");
            fs::write(&config_path, config).expect("write registry config.yml");

            let (out, err) = log_stdio(&log);
            let mut child = Command::new("docker-registry")
                .arg("serve")
                .arg(&config_path)
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .spawn()
                .expect("spawn `docker-registry serve` (Debian package docker-registry)");

            // With auth, only a 200 for *our* credentials proves auth works;
            // the instance header proves it is our registry answering.
            let auth_header = credentials.as_ref().map(|(u, p)| basic_auth_header(u, p));
            let headers: Vec<(&str, &str)> = auth_header
                .as_deref()
                .map(|h| vec![("Authorization", h)])
                .unwrap_or_default();
            match wait_ready(
                "docker-registry",
                &mut child,
                &addr,
                "/v2/",
                &headers,
                &log,
                |r| {
                    if tls.is_some() {
                        // Go's TLS server answers a plain-HTTP probe with 400 and says why.
                        r.status == 400 && r.text().contains("HTTPS")
                    } else {
                        r.status == 200 && r.header(INSTANCE_HEADER) == Some(instance.as_str())
                    }
                },
            ) {
                Ok(()) => {
                    return Registry {
                        child,
                        port,
                        credentials,
                        dir,
                        token_server: None,
                    };
                }
                Err(StartFailure::PortTaken) => continue,
            }
        }
        panic!("docker-registry lost the race for a free port {PORT_ATTEMPTS} times");
    }

    /// "127.0.0.1:PORT" — what goes in image references (`HOST/REPO:TAG`).
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// "http://127.0.0.1:PORT".
    pub fn url(&self) -> String {
        format!("http://{}", self.host())
    }

    /// `(user, password)` when started with basic auth.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        self.credentials
            .as_ref()
            .map(|(u, p)| (u.as_str(), p.as_str()))
    }

    /// GET a registry API path ("/v2/_catalog"), with our credentials if any.
    pub fn get(&self, path: &str) -> HttpResponse {
        let auth = self.credentials().map(|(u, p)| basic_auth_header(u, p));
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|h| vec![("Authorization", h)])
            .unwrap_or_default();
        try_http_get(&self.host(), path, &headers)
            .unwrap_or_else(|e| panic!("registry GET {path}: {e}\nlog:\n{}", self.log_contents()))
    }

    /// The registry's combined stdout/stderr (warnings plus the access log,
    /// one line per request): handy in assertion messages.
    pub fn log_contents(&self) -> String {
        read_log(&self.dir.path().join("registry.log"))
    }

    /// What the registry serves: `repo:tag` -> manifest digest, for every repository and
    /// tag, after checking that every manifest an index names and every blob a manifest
    /// names is there (so equal snapshots mean equal, complete contents).
    pub fn snapshot(&self) -> std::collections::BTreeMap<String, String> {
        const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
            application/vnd.oci.image.manifest.v1+json, \
            application/vnd.docker.distribution.manifest.list.v2+json, \
            application/vnd.docker.distribution.manifest.v2+json";
        let json = |r: &HttpResponse| -> serde_json::Value {
            serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.text()))
        };
        let get = |path: &str| {
            let r = try_http_get(&self.host(), path, &[("Accept", ACCEPT)])
                .unwrap_or_else(|e| panic!("GET {path}: {e}"));
            assert_eq!(r.status, 200, "GET {path}: {}", r.text());
            r
        };
        let mut out = std::collections::BTreeMap::new();
        let catalog = json(&get("/v2/_catalog?n=1000"));
        for repo in catalog["repositories"].as_array().into_iter().flatten() {
            let repo = repo.as_str().expect("repository name");
            // A repository that holds only blobs (an interrupted push) has no tags yet.
            let r = try_http_get(&self.host(), &format!("/v2/{repo}/tags/list"), &[])
                .unwrap_or_else(|e| panic!("GET tags of {repo}: {e}"));
            if r.status == 404 {
                continue;
            }
            let tags = json(&r);
            for tag in tags["tags"].as_array().into_iter().flatten() {
                let tag = tag.as_str().expect("tag");
                let body = get(&format!("/v2/{repo}/manifests/{tag}")).body;
                let mut todo = vec![body.clone()];
                while let Some(m) = todo.pop() {
                    let v: serde_json::Value = serde_json::from_slice(&m).expect("manifest JSON");
                    for child in v["manifests"].as_array().into_iter().flatten() {
                        let d = child["digest"].as_str().expect("digest");
                        todo.push(get(&format!("/v2/{repo}/manifests/{d}")).body);
                    }
                    let blobs = v["layers"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .chain(std::iter::once(&v["config"]).filter(|c| c.is_object()));
                    for b in blobs {
                        let d = b["digest"].as_str().expect("digest");
                        let r = http_request(
                            &self.host(),
                            "HEAD",
                            &format!("/v2/{repo}/blobs/{d}"),
                            &[],
                            &[],
                        )
                        .unwrap_or_else(|e| panic!("HEAD blob {d}: {e}"));
                        assert_eq!(r.status, 200, "{repo}: blob {d} is missing");
                    }
                }
                out.insert(
                    format!("{repo}:{tag}"),
                    format!("sha256:{}", super::images::sha256_hex(&body)),
                );
            }
        }
        out
    }

    /// Stop the registry process (kill -9), keeping its port, configuration and storage,
    /// as a registry host that goes away does.
    pub fn stop(&mut self) {
        kill_and_wait(&mut self.child);
    }

    /// Start it again on the same port with the same storage (plain-HTTP registries
    /// without a token server only).
    pub fn restart(&mut self) {
        assert!(
            self.token_server.is_none(),
            "restart is for registries without a token server"
        );
        let config_path = self.dir.path().join("config.yml");
        let log = self.dir.path().join("registry.log");
        let addr = format!("127.0.0.1:{}", self.port);
        let auth_header = self
            .credentials
            .as_ref()
            .map(|(u, p)| basic_auth_header(u, p));
        let headers: Vec<(&str, &str)> = auth_header
            .as_deref()
            .map(|h| vec![("Authorization", h)])
            .unwrap_or_default();
        // The port was ours a moment ago; another process may take it in between.
        for _ in 0..20 {
            let (out, err) = log_stdio(&log);
            let mut child = Command::new("docker-registry")
                .arg("serve")
                .arg(&config_path)
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .spawn()
                .expect("spawn `docker-registry serve`");
            match wait_ready(
                "docker-registry",
                &mut child,
                &addr,
                "/v2/",
                &headers,
                &log,
                |r| r.status == 200,
            ) {
                Ok(()) => {
                    self.child = child;
                    return;
                }
                Err(StartFailure::PortTaken) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
        panic!("could not restart docker-registry on port {}", self.port);
    }

    /// Root of the registry's filesystem storage (for tests that want to
    /// corrupt or count blobs behind its back).
    pub fn storage_dir(&self) -> PathBuf {
        self.dir.path().join("storage")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        kill_and_wait(&mut self.child);
        if let Some(t) = &mut self.token_server {
            kill_and_wait(t);
        }
    }
}

fn write_htpasswd(path: &Path, user: &str, pass: &str) {
    let out = Command::new("htpasswd")
        .args(["-Bbn", user, pass])
        .output()
        .expect("run `htpasswd -Bbn` (apt-get install -y apache2-utils)");
    assert!(
        out.status.success(),
        "htpasswd failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    fs::write(path, &out.stdout).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

fn path_str(path: &Path) -> &str {
    path.to_str()
        .unwrap_or_else(|| panic!("path is not UTF-8: {}", path.display()))
}

// ---------------------------------------------------------------------------
// File server
// ---------------------------------------------------------------------------

/// Python's `http.server` (what `python3 -m http.server` runs) with a listen backlog of
/// 128 instead of socketserver's 5: with 5, a client opening more connections at once
/// (airlock fetches 8 at a time) has the rest of its SYNs dropped and retried by the
/// kernel a second later, which put a 1 s stall into every timed resolve.
const FILE_SERVER: &str = "import functools, http.server, sys
class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 128
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[2])
Server(('127.0.0.1', int(sys.argv[1])), handler).serve_forever()
";

/// Python's `http.server` ([`FILE_SERVER`]) serving one folder on `127.0.0.1:PORT`. It
/// speaks HTTP/1.0, answers 404 for missing files and ignores query strings. Killed on
/// drop; the served folder belongs to the caller and is left alone.
pub struct FileServer {
    child: Child,
    port: u16,
    /// Holds only the server's log (python logs each request to stderr).
    log_dir: tempfile::TempDir,
}

impl FileServer {
    pub fn start(dir: &Path) -> FileServer {
        assert!(
            dir.is_dir(),
            "FileServer root {} is not a folder",
            dir.display()
        );
        let log_dir = tempfile::Builder::new()
            .prefix("airlock-fileserver-")
            .tempdir()
            .expect("create a temporary folder for the file server log");
        let log = log_dir.path().join("http.log");
        // Any HTTP answer to "/" (a directory listing) means it is serving, if our server
        // logged the request (python logs it before it sends the body, so the line is there
        // once we have read the response).
        let ours = |_: &HttpResponse| read_log(&log).contains("\"GET / HTTP/1.0\"");
        let (child, port) = start_on_free_port("python3 http.server", &log, "/", ours, |port| {
            let mut c = Command::new("python3");
            c.args(["-u", "-c", FILE_SERVER, &port.to_string()])
                .arg(dir);
            c
        });
        FileServer {
            child,
            port,
            log_dir,
        }
    }

    /// "http://127.0.0.1:PORT" (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.host())
    }

    /// "127.0.0.1:PORT".
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Raw HTTP/1.0 GET of `path` ("/release/v1.31.0/...").
    pub fn get(&self, path: &str) -> HttpResponse {
        http_get(&self.host(), path)
    }

    /// Python's request log: one line per request, e.g. to assert that a
    /// cached file was not downloaded twice.
    pub fn log_contents(&self) -> String {
        read_log(&self.log_dir.path().join("http.log"))
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        kill_and_wait(&mut self.child);
    }
}

/// Make a throwaway CA and a server certificate for 127.0.0.1 signed by it, with the
/// `openssl` command line. Returns (ca.pem, server cert, server key).
pub fn make_test_ca(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    fs::create_dir_all(dir).expect("create cert folder");
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=airlock test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .expect("write ext.cnf");
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

// ---------------------------------------------------------------------------
// A registry that stores nothing
// ---------------------------------------------------------------------------

/// `tests/fixtures/blackhole_registry.py` on `127.0.0.1:PORT`: accepts every push and
/// stores nothing (every read is 404). Killed on drop.
pub struct Blackhole(ScriptServer);

impl Blackhole {
    pub fn start() -> Blackhole {
        Blackhole(ScriptServer::start(
            "the blackhole registry",
            "blackhole_registry.py",
            &[],
        ))
    }

    /// "127.0.0.1:PORT".
    pub fn host(&self) -> String {
        self.0.host()
    }
}

// ---------------------------------------------------------------------------
// A proxy that makes every mount fail the spec-allowed way
// ---------------------------------------------------------------------------

/// `tests/fixtures/no_mount_proxy.py` in front of `backend`: every cross-repository mount
/// reaches the real registry with a source repository that does not exist, so the
/// registry answers `202 Accepted` with an upload session. Killed on drop.
pub struct NoMountProxy(ScriptServer);

impl NoMountProxy {
    pub fn start(backend: &Registry) -> NoMountProxy {
        let args = [backend.host()];
        NoMountProxy(ScriptServer::start(
            "the no-mount proxy",
            "no_mount_proxy.py",
            &args,
        ))
    }

    /// "127.0.0.1:PORT".
    pub fn host(&self) -> String {
        self.0.host()
    }

    /// What the proxy logged (one line per rewritten mount, with the backend's answer).
    pub fn log_contents(&self) -> String {
        self.0.log_contents()
    }
}

// ---------------------------------------------------------------------------
// containerd
// ---------------------------------------------------------------------------

/// A private containerd daemon (Debian package `containerd`, which ships `ctr`) with its
/// root, state and socket in its own temporary folder and the CRI plugin off. Killed on
/// drop. Needs root; [`Containerd::start`] returns `None` (after saying so) when the
/// tests do not run as root.
pub struct Containerd {
    child: Child,
    dir: tempfile::TempDir,
}

impl Containerd {
    pub fn start() -> Option<Containerd> {
        if !std::process::Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout == b"0\n")
        {
            eprintln!("NOTICE: containerd needs root; the containerd tests are not run");
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("airlock-containerd-")
            .tempdir()
            .expect("create a temporary folder for containerd");
        let d = dir.path();
        let config = format!(
            "version = 2\n\
             root = {root:?}\n\
             state = {state:?}\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\", \"io.containerd.snapshotter.v1.btrfs\", \
             \"io.containerd.snapshotter.v1.zfs\", \"io.containerd.snapshotter.v1.devmapper\", \
             \"io.containerd.snapshotter.v1.aufs\"]\n\
             [grpc]\n  address = {sock:?}\n\
             [ttrpc]\n  address = {ttrpc:?}\n",
            root = path_str(&d.join("root")),
            state = path_str(&d.join("state")),
            sock = path_str(&d.join("c.sock")),
            ttrpc = path_str(&d.join("c.sock.ttrpc")),
        );
        fs::write(d.join("config.toml"), config).expect("write containerd config");
        let log = d.join("containerd.log");
        let (out, err) = log_stdio(&log);
        let child = Command::new("containerd")
            .arg("--config")
            .arg(d.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn containerd (Debian package containerd)");
        let mut c = Containerd { child, dir };
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = c.child.try_wait().expect("poll containerd") {
                panic!("containerd exited early with {status}:\n{}", read_log(&log));
            }
            if c.ctr("default", &["version"]).status.success() {
                return Some(c);
            }
            assert!(
                Instant::now() < deadline,
                "containerd not ready:\n{}",
                read_log(&log)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `ctr --address SOCK -n NAMESPACE ARGS...`, output returned unchecked.
    pub fn ctr(&self, namespace: &str, args: &[&str]) -> std::process::Output {
        Command::new("ctr")
            .arg("--address")
            .arg(self.dir.path().join("c.sock"))
            .args(["-n", namespace])
            .args(args)
            .output()
            .expect("run ctr (Debian package containerd)")
    }

    /// [`Containerd::ctr`], panicking with its output when it fails.
    pub fn ctr_ok(&self, namespace: &str, args: &[&str]) -> String {
        let out = self.ctr(namespace, args);
        assert!(
            out.status.success(),
            "ctr {args:?} failed:\n{}{}\ncontainerd log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log_contents()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The daemon's log.
    pub fn log_contents(&self) -> String {
        read_log(&self.dir.path().join("containerd.log"))
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        kill_and_wait(&mut self.child);
    }
}

// ---------------------------------------------------------------------------
// A proxy that serves blobs slowly
// ---------------------------------------------------------------------------

/// `tests/fixtures/slow_registry_proxy.py` in front of `backend`: manifests pass through,
/// blob bodies come one byte a second (`"drip"`) or stop after the first byte
/// (`"stall"`). Killed on drop.
pub struct SlowProxy(ScriptServer);

impl SlowProxy {
    pub fn start(backend: &Registry, mode: &str) -> SlowProxy {
        let args = [backend.host(), mode.to_string()];
        SlowProxy(ScriptServer::start(
            "the slow proxy",
            "slow_registry_proxy.py",
            &args,
        ))
    }

    /// "127.0.0.1:PORT".
    pub fn host(&self) -> String {
        self.0.host()
    }

    /// What the proxy logged (one line per blob it slowed).
    pub fn log_contents(&self) -> String {
        self.0.log_contents()
    }
}
