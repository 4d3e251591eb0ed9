//! A TUF repository made by the test with tough's own editor (an implementation nobody
//! here wrote), holding a Sigstore-shaped `trusted_root.json` from
//! `airlock_provenance::testworld`, served over real HTTP by [`FileServer`]. Keys are
//! ed25519, made with `openssl genpkey`.

use std::collections::HashMap;
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::process::Command;

use tough::editor::RepositoryEditor;
use tough::editor::signed::{PathExists, SignedRole};
use tough::key_source::{KeySource, LocalKeySource};
use tough::schema::{KeyHolder, RoleKeys, RoleType, Root};

use crate::common::servers::FileServer;

/// How the repository is made.
#[derive(Clone, Copy)]
pub struct TufSpec {
    /// Seconds from now until `timestamp.json` expires (negative: already expired).
    pub timestamp_expires_in: i64,
}

impl Default for TufSpec {
    fn default() -> Self {
        TufSpec {
            timestamp_expires_in: 86_400,
        }
    }
}

/// A served TUF repository: metadata at the server's root, targets under `targets/`.
pub struct TufRepo {
    /// Where the served files live (`repo/`), the keys (`keys/`) and `root.json`.
    pub dir: PathBuf,
    /// The served `trusted_root.json` bytes.
    pub target: Vec<u8>,
    /// The `root.json` a user would start from (signed by the repository's keys).
    pub root: PathBuf,
    pub server: FileServer,
}

impl TufRepo {
    /// Makes keys, a version-1 root, signed targets/snapshot/timestamp holding `target`
    /// as `trusted_root.json` (consistent snapshots, as Sigstore's repository), and serves it.
    pub fn serve(dir: &Path, target: &[u8], spec: TufSpec) -> TufRepo {
        let keys = make_key(dir, "repo");
        let root = dir.join("root.json");
        std::fs::write(&root, block_on(signed_root(&keys))).expect("write root.json");
        let input = dir.join("input");
        std::fs::create_dir_all(&input).expect("input folder");
        std::fs::write(input.join("trusted_root.json"), target).expect("write target");
        let repo = dir.join("repo");
        block_on(write_repo(&root, &input, &repo, &keys, spec));
        TufRepo {
            dir: dir.to_owned(),
            target: target.to_vec(),
            root,
            server: FileServer::start(&repo),
        }
    }

    /// A root.json of the same shape signed by, and listing, keys the repository never
    /// used: what a user holding the wrong root (or facing a repository re-signed by an
    /// attacker) has.
    pub fn stranger_root(&self) -> PathBuf {
        let keys = make_key(&self.dir, "stranger");
        let path = self.dir.join("stranger-root.json");
        std::fs::write(&path, block_on(signed_root(&keys))).expect("write stranger root");
        path
    }

    /// The served target file (`targets/<sha256>.trusted_root.json`).
    pub fn served_target(&self) -> PathBuf {
        let dir = self.dir.join("repo/targets");
        let entry = std::fs::read_dir(&dir)
            .expect("targets folder")
            .map(|e| e.expect("entry").path())
            .find(|p| p.to_string_lossy().ends_with(".trusted_root.json"))
            .expect("a served trusted_root.json");
        entry
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(f)
}

/// An ed25519 key (PKCS#8 DER, which tough's key parser reads) made by openssl.
fn make_key(dir: &Path, name: &str) -> Vec<Box<dyn KeySource>> {
    std::fs::create_dir_all(dir.join("keys")).expect("keys folder");
    let path = dir.join(format!("keys/{name}.der"));
    let out = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "ed25519",
            "-outform",
            "DER",
            "-out",
        ])
        .arg(&path)
        .output()
        .expect("run openssl genpkey");
    assert!(out.status.success(), "openssl genpkey: {out:?}");
    vec![Box::new(LocalKeySource { path })]
}

fn in_a_year() -> jiff::Timestamp {
    jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 365)
}

fn one() -> NonZeroU64 {
    NonZeroU64::new(1).expect("1 is not 0")
}

/// Root version 1: one key for all four roles, threshold 1, consistent snapshots.
async fn signed_root(keys: &[Box<dyn KeySource>]) -> Vec<u8> {
    let key = keys[0].as_sign().await.expect("load key").tuf_key();
    let id = key.key_id().expect("key id");
    let role = RoleKeys {
        keyids: vec![id.clone()],
        threshold: one(),
        _extra: HashMap::new(),
    };
    let roles = [
        RoleType::Root,
        RoleType::Snapshot,
        RoleType::Targets,
        RoleType::Timestamp,
    ];
    let root = Root {
        spec_version: "1.0.0".into(),
        consistent_snapshot: true,
        version: one(),
        expires: in_a_year(),
        keys: HashMap::from([(id, key)]),
        roles: roles.into_iter().map(|r| (r, role.clone())).collect(),
        _extra: HashMap::new(),
    };
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let signed = SignedRole::new(root.clone(), &KeyHolder::Root(root), keys, &rng)
        .await
        .expect("sign root");
    signed.buffer().clone()
}

async fn write_repo(
    root: &Path,
    input: &Path,
    repo: &Path,
    keys: &[Box<dyn KeySource>],
    spec: TufSpec,
) {
    let mut editor = RepositoryEditor::new(root).await.expect("editor");
    let timestamp_expires =
        jiff::Timestamp::now() + jiff::SignedDuration::from_secs(spec.timestamp_expires_in);
    editor
        .snapshot_version(one())
        .snapshot_expires(in_a_year())
        .timestamp_version(one())
        .timestamp_expires(timestamp_expires);
    editor
        .targets_version(one())
        .expect("targets version")
        .targets_expires(in_a_year())
        .expect("targets expiry");
    editor
        .add_target_path(input.join("trusted_root.json"))
        .await
        .expect("add target");
    let signed = editor.sign(keys).await.expect("sign repository");
    signed.write(repo).await.expect("write metadata");
    signed
        .copy_targets(input, repo.join("targets"), PathExists::Replace)
        .await
        .expect("copy targets");
}
