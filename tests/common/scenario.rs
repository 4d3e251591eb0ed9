//! A small test DSL for the core path: one call sets up a realistic little hop
//! (an "upstream" registry seeded with generated multi-arch images, a file
//! server laid out like dl.k8s.io, a signing key and a lock file that names
//! everything by its canonical upstream name), and short methods run the real
//! `airlock` and `airlock-verify` binaries against it.
//!
//! Canonical names (`registry.k8s.io/...`, `https://dl.k8s.io/...`) are reached
//! through `--mirror`, so the lock and the bundle do not depend on the random
//! ports the servers got: two scenarios give byte-identical bundles.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

use super::cli::Cli;
use super::images::{
    BuiltImage, ImageSpec, LayerSpec, build_layout, linux, push_image_with_creds, sha256_hex,
    write_file_tree,
};
use super::servers::{FileServer, Registry};

/// The kubeadm stand-in binary's content (random, deterministic).
pub fn kubeadm_bytes() -> Vec<u8> {
    super::images::random_bytes(42, 300 * 1024)
}

/// A prepared hop: servers running, images pushed, lock and key written.
pub struct Scenario {
    /// Scratch directory (removed on drop).
    pub work: tempfile::TempDir,
    /// The upstream registry.
    pub upstream: Registry,
    /// The upstream file server.
    pub files: FileServer,
    /// Images as built: [kube-apiserver (amd64+arm64), pause (amd64+arm64), coredns/coredns].
    pub images: Vec<BuiltImage>,
    /// The lock file.
    pub lock: PathBuf,
    /// Key prefix: `key.key`, `key.pub`.
    pub key: PathBuf,
    /// The content cache used by `airlock build`.
    pub cache: PathBuf,
    /// `DOCKER_CONFIG` for every command (an empty folder unless a test sets credentials).
    pub docker_config: PathBuf,
}

impl Scenario {
    /// Set up the standard scenario.
    pub fn new() -> Scenario {
        Self::with_upstream(Registry::start())
    }

    /// The standard scenario against a given upstream registry (e.g. one that demands
    /// basic auth: images are pushed with its credentials).
    pub fn with_upstream(upstream: Registry) -> Scenario {
        Self::build_with(upstream, 64 * 1024)
    }

    /// The standard scenario with kube-apiserver's uncompressed layer `bytes` long (for
    /// installs that must take long enough to be interrupted, and for scale).
    pub fn with_big_layer(bytes: usize) -> Scenario {
        Self::build_with(Registry::start(), bytes)
    }

    fn build_with(upstream: Registry, big_layer: usize) -> Scenario {
        let work = super::workdir();
        let layout = work.path().join("layout");
        let specs = vec![
            ImageSpec {
                repository: "kube-apiserver".into(),
                tag: "v1.30.2".into(),
                platforms: linux(&["amd64", "arm64"]),
                layers: vec![
                    LayerSpec::shared("base"),
                    LayerSpec::Random {
                        seed: 1,
                        size: 400 * 1024,
                        gzip: true,
                    },
                    LayerSpec::Random {
                        seed: 2,
                        size: big_layer,
                        gzip: false,
                    },
                ],
            },
            ImageSpec {
                repository: "pause".into(),
                tag: "3.9".into(),
                platforms: linux(&["amd64", "arm64"]),
                layers: vec![
                    LayerSpec::shared("base"),
                    LayerSpec::Random {
                        seed: 3,
                        size: 32 * 1024,
                        gzip: true,
                    },
                ],
            },
            ImageSpec {
                repository: "coredns/coredns".into(),
                tag: "v1.11.1".into(),
                platforms: linux(&["amd64", "arm64"]),
                layers: vec![
                    LayerSpec::shared("base"),
                    LayerSpec::Random {
                        seed: 4,
                        size: 100 * 1024,
                        gzip: true,
                    },
                ],
            },
        ];
        let images = build_layout(&layout, &specs);
        for img in &images {
            push_image_with_creds(&layout, img, &upstream.host(), upstream.credentials());
        }
        let www = work.path().join("www");
        let kubeadm = kubeadm_bytes();
        let sums = write_file_tree(
            &www,
            &[("release/v1.30.2/bin/linux/amd64/kubeadm", &kubeadm)],
        );
        let files = FileServer::start(&www);
        let doc = work.path().join("calico.yaml");
        std::fs::write(
            &doc,
            b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: calico}\n",
        )
        .expect("write doc");
        let doc_sha = sha256_hex(&std::fs::read(&doc).expect("read doc"));
        let lock = work.path().join("hop.lock");
        let text = format!(
            r#"format: 1
kind: airlock-lock
hop: {{ from: v1.29.6, to: v1.30.2 }}
images:
  - name: registry.k8s.io/kube-apiserver:v1.30.2
    digest: {apiserver}
    platforms: [linux/amd64, linux/arm64]
    role: target
  - name: registry.k8s.io/pause:3.9
    digest: {pause}
    platforms: [linux/amd64]
    role: target
  - name: registry.k8s.io/coredns/coredns:v1.11.1
    digest: {coredns}
    platforms: [linux/amd64, linux/arm64]
files:
  - name: kubeadm
    url: https://dl.k8s.io/release/v1.30.2/bin/linux/amd64/kubeadm
    sha256: {kubeadm}
    target: bin/v1.30.2/linux/amd64/kubeadm
    mode: "0755"
    kind: binary
  - name: calico.yaml
    path: calico.yaml
    sha256: {doc_sha}
    target: manifests/calico.yaml
    kind: manifest
"#,
            apiserver = images[0].index_digest,
            pause = images[1].index_digest,
            coredns = images[2].index_digest,
            kubeadm = sums[0].1,
        );
        std::fs::write(&lock, text).expect("write lock");
        let key = work.path().join("keys/release");
        let cache = work.path().join("cache");
        let docker_config = work.path().join("no-docker-config");
        let s = Scenario {
            work,
            upstream,
            files,
            images,
            lock,
            key,
            cache,
            docker_config,
        };
        super::cli::keygen(&s.key);
        s
    }

    /// A path inside the scratch directory.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.work.path().join(rel)
    }

    /// `airlock ARGS` with the scenario's cache.
    pub fn airlock(&self, args: &[&str]) -> Command {
        let mut c = Command::cargo_bin("airlock").expect("airlock binary");
        c.env("AIRLOCK_CACHE", &self.cache)
            .env("DOCKER_CONFIG", &self.docker_config);
        c.args(args);
        c
    }

    /// `airlock keygen --no-passphrase` into `keys/NAME`; returns the prefix
    /// (`NAME.key`, `NAME.pub`).
    pub fn keygen(&self, name: &str) -> PathBuf {
        super::cli::keygen(&self.path(&format!("keys/{name}")))
    }

    /// The [`Cli`] driver for `airlock-verify`, with this scenario's `DOCKER_CONFIG`.
    pub fn verify_cli(&self) -> Cli {
        Cli::verify().env("DOCKER_CONFIG", &self.docker_config)
    }

    /// `airlock-verify CMD BUNDLE --trust keys/release.pub`: any enclave subcommand that
    /// takes a bundle, trusting the release key; add arguments, then run.
    pub fn on_bundle(&self, cmd: &str, bundle: &Path) -> Cli {
        let cli = self.verify_cli().arg(cmd).arg(bundle);
        cli.args(["--trust", &self.pubkey()])
    }

    /// `airlock-verify ARGS`, run to the end (not asserted).
    pub fn run_verify(&self, args: &[&str]) -> super::cli::Run {
        self.verify_cli().args(args).run()
    }

    /// `airlock ARGS` with this scenario's cache, run to the end (not asserted).
    pub fn run_airlock(&self, args: &[&str]) -> super::cli::Run {
        self.airlock_cli().args(args).run()
    }

    /// The [`Cli`] driver for `airlock`, with this scenario's cache and `DOCKER_CONFIG`.
    pub fn airlock_cli(&self) -> Cli {
        Cli::airlock()
            .env("AIRLOCK_CACHE", &self.cache)
            .env("DOCKER_CONFIG", &self.docker_config)
    }

    /// `airlock report BUNDLE --cluster-dump DUMPS --cve-feed FEED --out OUT`, to run.
    pub fn report(&self, bundle: &Path, dumps: &Path, feed: &Path, out: &Path) -> Cli {
        let cli = self.airlock_cli().arg("report").arg(bundle);
        let cli = cli
            .arg("--cluster-dump")
            .arg(dumps)
            .arg("--cve-feed")
            .arg(feed);
        cli.arg("--out").arg(out)
    }

    /// `airlock-verify repair BUNDLE --trust keys/release.pub --quiet --json`, run (not
    /// asserted).
    pub fn repair(&self, bundle: &Path) -> super::cli::Run {
        let cli = self.verify_cli().arg("repair").arg(bundle);
        cli.args(["--trust", &self.pubkey(), "--quiet", "--json"])
            .run()
    }

    /// Corrupt one layer of kube-apiserver inside the upstream registry's storage (its
    /// content no longer matches its digest); returns the layer's hex digest.
    pub fn corrupt_upstream_layer(&self) -> String {
        let layer = self.images[0].blobs[1]
            .strip_prefix("sha256:")
            .expect("sha256 digest")
            .to_string();
        let data = self.upstream.storage_dir().join(format!(
            "docker/registry/v2/blobs/sha256/{}/{}/data",
            &layer[..2],
            layer
        ));
        let mut bytes = std::fs::read(&data).expect("read the layer in the registry");
        bytes[10] ^= 1;
        std::fs::write(&data, bytes).expect("write the layer back");
        layer
    }

    /// The release public key, `keys/release.pub`, as an argument.
    pub fn pubkey(&self) -> String {
        super::cli::pub_of(&self.key)
    }

    /// `airlock-verify ARGS`.
    pub fn verify_bin(&self, args: &[&str]) -> Command {
        let mut c = Command::new(super::verify_bin());
        c.env("DOCKER_CONFIG", &self.docker_config);
        c.args(args);
        c
    }

    /// The mirror and insecure flags that reach this scenario's upstream.
    pub fn net_args(&self) -> Vec<String> {
        let h = self.upstream.host();
        vec![
            "--insecure-registry".into(),
            h.clone(),
            "--mirror".into(),
            format!("registry.k8s.io={h}"),
            "--mirror".into(),
            format!("https://dl.k8s.io={}", self.files.url()),
        ]
    }

    /// Run `airlock build LOCK --key KEY --out OUT --quiet EXTRA...` (OUT relative to the
    /// scratch dir) and return its output without asserting anything. `extra` carries the
    /// network options (see [`Scenario::net_args`]) so tests can leave them out or vary them.
    pub fn try_build(&self, out: &str, extra: &[String]) -> Output {
        let mut args: Vec<String> = vec![
            "build".into(),
            self.lock.display().to_string(),
            "--key".into(),
            format!("{}.key", self.key.display()),
            "--out".into(),
            self.path(out).display().to_string(),
            "--quiet".into(),
        ];
        args.extend(extra.iter().cloned());
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        self.airlock(&refs).output().expect("run airlock build")
    }

    /// Build the lock into `out` through this scenario's upstream; assert success and
    /// return the bundle path.
    pub fn build(&self, out: &str, extra: &[&str]) -> PathBuf {
        let mut args = self.net_args();
        args.extend(extra.iter().map(|s| s.to_string()));
        let output = self.try_build(out, &args);
        assert!(
            output.status.success(),
            "airlock build failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        self.path(out)
    }

    /// `airlock build LOCK --key key.key --out OUT --quiet NET EXTRA...` for a lock of the
    /// test's own (OUT relative to the scratch dir), through this scenario's upstream.
    pub fn build_lock(&self, lock: &Path, out: &str, extra: &[&str]) -> Cli {
        self.build_cli(lock, out).args(self.net_args()).args(extra)
    }

    /// `airlock build LOCK --key key.key --out OUT --quiet` with no network options, for
    /// tests that say how (or whether) upstream is reached.
    pub fn build_cli(&self, lock: &Path, out: &str) -> Cli {
        let cli = self.airlock_cli().arg("build").arg(lock);
        let cli = cli.args(["--key", &super::cli::key_of(&self.key), "--out"]);
        cli.arg(self.path(out)).arg("--quiet")
    }

    /// `airlock-verify verify BUNDLE --trust key.pub` (output returned, not asserted).
    pub fn verify(&self, bundle: &Path) -> Output {
        let pubkey = format!("{}.pub", self.key.display());
        self.verify_bin(&[
            "verify",
            bundle.to_str().expect("utf-8"),
            "--trust",
            &pubkey,
            "--quiet",
        ])
        .output()
        .expect("run airlock-verify")
    }

    /// `airlock-verify install BUNDLE --trust key.pub --registry HOST --dest DEST --quiet
    /// EXTRA...` (output returned, not asserted). `extra` says how to reach the registry
    /// (`--insecure`, `--ca-file PEM`) and anything else.
    pub fn install_to(&self, bundle: &Path, host: &str, dest: &Path, extra: &[&str]) -> Output {
        let pubkey = format!("{}.pub", self.key.display());
        let mut args = vec![
            "install",
            bundle.to_str().expect("utf-8"),
            "--trust",
            &pubkey,
            "--registry",
            host,
            "--dest",
            dest.to_str().expect("utf-8"),
            "--quiet",
        ];
        args.extend_from_slice(extra);
        self.verify_bin(&args)
            .output()
            .expect("run airlock-verify install")
    }

    /// `airlock-verify install --insecure --json` into `enclave`, files under `dest`.
    pub fn install(
        &self,
        bundle: &Path,
        enclave: &Registry,
        dest: &Path,
        extra: &[&str],
    ) -> Output {
        let mut args = vec!["--insecure", "--json"];
        args.extend_from_slice(extra);
        self.install_to(bundle, &enclave.host(), dest, &args)
    }
}

/// Arrangements most end-to-end tests start with, so a test body is: arrange in a line,
/// act, assert.
impl Scenario {
    /// The standard scenario with its lock built into `bundle`: `let (s, bundle) =
    /// Scenario::built();`.
    pub fn built() -> (Scenario, PathBuf) {
        let s = Scenario::new();
        let bundle = s.build("bundle", &[]);
        (s, bundle)
    }

    /// `airlock-verify install BUNDLE --trust KEY --registry REG --insecure --dest DEST
    /// --quiet --json EXTRA...` with both streams piped, ready to spawn (for tests that act
    /// while it runs) or to run.
    pub fn install_command(
        &self,
        bundle: &Path,
        reg: &Registry,
        dest: &Path,
        extra: &[&str],
    ) -> std::process::Command {
        let cli = self.on_bundle("install", bundle);
        let cli = cli.args(["--registry", &reg.host(), "--insecure"]);
        let cli = cli.arg("--dest").arg(dest).args(["--quiet", "--json"]);
        let mut c = cli.args(extra).into_command();
        c.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        c
    }

    /// Install `bundle` into `enclave` (files under `dest`), assert it succeeded and
    /// return its JSON report.
    pub fn install_report(
        &self,
        bundle: &Path,
        enclave: &Registry,
        dest: &Path,
        extra: &[&str],
    ) -> serde_json::Value {
        super::cli::json(&self.install(bundle, enclave, dest, extra))
    }

    /// `airlock sign DIR --key KEY.key --role ROLE` (DIR a bundle or a policy update
    /// folder, KEY a key prefix such as [`Scenario::keygen`] returns): add arguments
    /// (`--passphrase-file`, `--signer`), then run.
    pub fn sign(&self, dir: &Path, key: &Path, role: &str) -> Cli {
        let cli = self.airlock_cli().arg("sign").arg(dir);
        cli.args(["--key", &super::cli::key_of(key), "--role", role])
    }

    /// What a clean install of `bundle` (with `extra`) puts into a fresh registry: the
    /// reference an interrupted or concurrent install is compared with.
    pub fn clean_install_snapshot(
        &self,
        bundle: &Path,
        extra: &[&str],
    ) -> std::collections::BTreeMap<String, String> {
        let reg = Registry::start();
        let dest = tempfile::tempdir().expect("create a temporary destination");
        let mut install = self.install_command(bundle, &reg, dest.path(), extra);
        super::cli::ok(&install.output().expect("run airlock-verify install"));
        reg.snapshot()
    }
}

/// Write a docker config (`DIR/config.json`) holding basic-auth credentials for `hosts`,
/// as `docker login` would; returns DIR for `DOCKER_CONFIG`.
pub fn docker_config(dir: &Path, hosts: &[(&str, &str, &str)]) -> PathBuf {
    use base64::Engine;
    let mut auths = serde_json::Map::new();
    for (host, user, pass) in hosts {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        auths.insert(host.to_string(), serde_json::json!({ "auth": token }));
    }
    std::fs::create_dir_all(dir).expect("create docker config dir");
    std::fs::write(
        dir.join("config.json"),
        serde_json::json!({ "auths": auths }).to_string(),
    )
    .expect("write docker config");
    dir.to_path_buf()
}

/// Every regular file below `dir`, relative path -> bytes, sorted.
pub fn read_tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let e = e.expect("walk");
        if e.file_type().is_file() {
            let rel = e
                .path()
                .strip_prefix(dir)
                .expect("prefix")
                .display()
                .to_string();
            out.push((rel, std::fs::read(e.path()).expect("read")));
        }
    }
    out
}

/// Run a shell command line (for the independent tools), returning its output.
pub fn sh(cmd: &str, dir: &Path) -> Output {
    std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .current_dir(dir)
        .output()
        .expect("run sh")
}

/// `bash -c CMD` (for `PIPESTATUS` and the like), both streams captured.
pub fn bash(cmd: &str) -> Output {
    let out = std::process::Command::new("bash")
        .args(["-c", cmd])
        .output();
    out.expect("run bash")
}

/// [`sh`], asserted: panics with the command line and both streams unless it exits 0.
pub fn sh_ok(cmd: &str, dir: &Path) -> Output {
    let out = sh(cmd, dir);
    assert!(
        out.status.success(),
        "$ {cmd}\nexit {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Assert a command exited with `code`, showing both streams if not.
pub fn assert_code(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "expected exit {code}\n--- stdout\n{}--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Assert a command output failed with `code` and stderr containing `needle`.
pub fn assert_fails(out: &Output, code: i32, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(code),
        "expected exit {code}, got {:?}; stderr:\n{stderr}",
        out.status.code()
    );
    assert!(
        stderr.contains(needle),
        "stderr does not mention {needle:?}:\n{stderr}"
    );
}

/// A running `airlock-verify serve`; killed on drop.
pub struct Served {
    pub child: std::process::Child,
    /// "127.0.0.1:PORT".
    pub addr: String,
    /// The start-up record it printed (`--json`).
    pub start: serde_json::Value,
}

impl Served {
    /// Stop it with SIGTERM, as an operator would, and return its exit status and stderr.
    pub fn terminate(mut self) -> (std::process::ExitStatus, String) {
        let pid = self.child.id().to_string();
        // The shell's builtin kill: no procps needed.
        let st = std::process::Command::new("sh")
            .args(["-c", &format!("kill -TERM {pid}")])
            .status()
            .expect("run kill");
        assert!(st.success(), "kill -TERM {pid}");
        let status = self.child.wait().expect("wait for serve");
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            use std::io::Read;
            let _ = e.read_to_string(&mut err);
        }
        (status, err)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Scenario {
    /// Start `airlock-verify serve BUNDLE --trust key.pub --listen 127.0.0.1:0 --json
    /// --quiet EXTRA...` and wait for its start-up line; `Err` with its output when it
    /// exits instead.
    pub fn try_serve(&self, bundle: &Path, extra: &[&str]) -> Result<Served, Output> {
        use std::io::BufRead;
        let pubkey = format!("{}.pub", self.key.display());
        let mut child = std::process::Command::new(super::verify_bin())
            .env("DOCKER_CONFIG", &self.docker_config)
            .args([
                "serve",
                bundle.to_str().expect("utf-8"),
                "--trust",
                &pubkey,
                "--listen",
                "127.0.0.1:0",
                "--json",
                "--quiet",
            ])
            .args(extra)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn airlock-verify serve");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        let mut reader = std::io::BufReader::new(stdout);
        let n = reader
            .read_line(&mut line)
            .expect("read serve's start-up line");
        if n == 0 {
            return Err(child.wait_with_output().expect("wait for serve"));
        }
        let start: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("start-up line {line:?}: {e}"));
        let addr = start["listen"].as_str().expect("listen").to_string();
        Ok(Served { child, addr, start })
    }

    /// [`Scenario::try_serve`], panicking when it does not start.
    pub fn serve(&self, bundle: &Path, extra: &[&str]) -> Served {
        self.try_serve(bundle, extra).unwrap_or_else(|out| {
            panic!(
                "serve did not start ({:?}):\n{}",
                out.status.code(),
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }
}

/// The base64 public key of a key pair (the second line of `PREFIX.pub`), as trust
/// policies name keys.
pub fn public_key_b64(prefix: &Path) -> String {
    std::fs::read_to_string(format!("{}.pub", prefix.display()))
        .expect("read public key")
        .lines()
        .nth(1)
        .expect("public key line")
        .to_string()
}

/// A trust policy document at `version`: `builder`'s key (when given) as "build server" in
/// the builder role, and each `(name, key prefix)` of `board` in the change-board; a bundle
/// needs one builder signature and `approvals` of the board, a policy update two of them.
pub fn trust_policy(
    version: u64,
    builder: Option<&Path>,
    board: &[(&str, &Path)],
    approvals: usize,
) -> String {
    let member = |name: &str, key: &Path, role: &str| serde_json::json!({"name": name, "key": public_key_b64(key), "roles": [role]});
    let mut keys: Vec<serde_json::Value> = builder
        .map(|b| member("build server", b, "builder"))
        .into_iter()
        .collect();
    keys.extend(board.iter().map(|(n, k)| member(n, k, "change-board")));
    let mut rules: Vec<serde_json::Value> = builder
        .map(|_| serde_json::json!({"role": "builder", "at_least": 1}))
        .into_iter()
        .collect();
    rules.push(serde_json::json!({"role": "change-board", "at_least": approvals}));
    serde_json::json!({
        "format": 1,
        "kind": "airlock-trust-policy",
        "version": version,
        "keys": keys,
        "rules": rules,
        "update": {"at_least": 2, "role": "change-board"},
    })
    .to_string()
}

/// An approval window from an hour ago for three days, in the form the CLI takes.
pub fn window_now() -> String {
    let now = airlock::time::Timestamp::now().plus(-3600).to_string();
    format!("{}Z/72h", &now[..16])
}
