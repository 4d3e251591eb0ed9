//! Real etcd members on loopback (Debian's `etcd-server` and `etcd-client`), for the
//! runbook's per-member snapshot restore. Each member is killed when dropped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free loopback port (released for etcd to bind).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local address").port()
}

/// One member's identity and ports.
#[derive(Clone)]
pub struct Member {
    /// `--name`.
    pub name: String,
    /// `http://127.0.0.1:PORT` clients use.
    pub client_url: String,
    /// `http://127.0.0.1:PORT` peers use.
    pub peer_url: String,
    /// `--data-dir`.
    pub data_dir: PathBuf,
}

impl Member {
    /// Member `name` with fresh ports and its data under `dir`.
    pub fn new(name: &str, dir: &Path) -> Member {
        Member {
            name: name.into(),
            client_url: format!("http://127.0.0.1:{}", free_port()),
            peer_url: format!("http://127.0.0.1:{}", free_port()),
            data_dir: dir.join(name),
        }
    }
}

/// `name=peer,...` of every member.
pub fn initial_cluster(members: &[Member]) -> String {
    members
        .iter()
        .map(|m| format!("{}={}", m.name, m.peer_url))
        .collect::<Vec<_>>()
        .join(",")
}

/// Running members, killed on drop.
pub struct Cluster {
    children: Vec<Child>,
    /// The client URLs, comma-separated.
    pub endpoints: String,
}

impl Cluster {
    /// Start every member (on existing or new data dirs) and wait until all are healthy.
    pub fn start(members: &[Member], logs: &Path) -> Cluster {
        let all = initial_cluster(members);
        let children = members
            .iter()
            .map(|m| {
                let log = std::fs::File::create(logs.join(format!("{}.log", m.name))).expect("log");
                Command::new("etcd")
                    .args(["--name", &m.name, "--data-dir"])
                    .arg(&m.data_dir)
                    .args([
                        "--listen-client-urls",
                        &m.client_url,
                        "--advertise-client-urls",
                        &m.client_url,
                    ])
                    .args([
                        "--listen-peer-urls",
                        &m.peer_url,
                        "--initial-advertise-peer-urls",
                        &m.peer_url,
                    ])
                    .args(["--initial-cluster", &all, "--initial-cluster-state", "new"])
                    .stdout(Stdio::null())
                    .stderr(log)
                    .spawn()
                    .expect("spawn etcd (Debian package etcd-server)")
            })
            .collect();
        let endpoints = members
            .iter()
            .map(|m| m.client_url.clone())
            .collect::<Vec<_>>()
            .join(",");
        let c = Cluster {
            children,
            endpoints,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !c.ctl(&["endpoint", "health"]).status.success() {
            assert!(
                Instant::now() < deadline,
                "etcd not healthy; logs in {}",
                logs.display()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        c
    }

    /// `etcdctl --endpoints ... ARGS` (v3 API).
    pub fn ctl(&self, args: &[&str]) -> std::process::Output {
        etcdctl()
            .args(["--endpoints", &self.endpoints])
            .args(args)
            .output()
            .expect("run etcdctl")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// etcdctl (Debian's `etcd-client`), speaking the v3 API.
pub fn etcdctl() -> Command {
    let mut c = Command::new("etcdctl");
    c.env("ETCDCTL_API", "3");
    c
}

/// The tool that restores a snapshot: `etcdutl` (etcd 3.5+), else `etcdctl` (3.4, as
/// Debian bookworm ships; same `snapshot restore` flags).
pub fn restore_tool() -> Command {
    let has_etcdutl = Command::new("etcdutl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if has_etcdutl {
        Command::new("etcdutl")
    } else {
        etcdctl()
    }
}

/// Start `members`, put `keys`, save a snapshot from the first to `dir/snapshot.db`, stop
/// them; returns the snapshot.
pub fn snapshot_of(members: &[Member], keys: &[(&str, &str)], dir: &Path) -> PathBuf {
    let c = Cluster::start(members, dir);
    for (k, v) in keys {
        assert!(c.ctl(&["put", k, v]).status.success(), "put {k}");
    }
    let snapshot = dir.join("snapshot.db");
    let out = etcdctl()
        .args(["--endpoints", &members[0].client_url, "snapshot", "save"])
        .arg(&snapshot)
        .output()
        .expect("etcdctl snapshot save");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    snapshot
}

/// Each member's static pod manifest, as kubeadm writes `/etc/kubernetes/manifests/etcd.yaml`.
pub fn write_manifests(members: &[Member], dir: &Path) -> Vec<PathBuf> {
    members
        .iter()
        .map(|m| {
            let p = dir.join(format!("{}-etcd.yaml", m.name));
            let text = format!(
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: etcd\n  namespace: kube-system\nspec:\n  containers:\n  - command:\n    - etcd\n    - --data-dir={}\n    - --initial-advertise-peer-urls={}\n    - --name={}\n    image: registry.k8s.io/etcd:3.5.15-0\n    name: etcd\n",
                m.data_dir.display(),
                m.peer_url,
                m.name
            );
            std::fs::write(&p, text).expect("write manifest");
            p
        })
        .collect()
}

/// Run a runbook restore command: its words after the etcd image's `etcdutl`, with the
/// runbook's snapshot path (`/var/lib/airlock/...`) replaced by `snapshot`.
pub fn run_restore(cmd: &str, snapshot: &Path) {
    let words = shlex::split(cmd).expect("one shell command");
    let at = words
        .iter()
        .position(|w| w == "etcdutl")
        .expect("etcdutl in the command")
        + 1;
    let args: Vec<String> = words[at..]
        .iter()
        .map(|w| match w.starts_with("/var/lib/airlock/") {
            true => snapshot.display().to_string(),
            false => w.clone(),
        })
        .collect();
    let out = restore_tool()
        .args(&args)
        .output()
        .expect("run the restore");
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Cluster {
    /// The value of `key`.
    pub fn get(&self, key: &str) -> String {
        let out = self.ctl(&["get", key, "--print-value-only"]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The member names `member list` shows.
    pub fn member_names(&self) -> Vec<String> {
        let out = self.ctl(&["member", "list"]);
        let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split(", ").nth(2).map(str::to_string))
            .collect();
        names.sort();
        names
    }
}
