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
use tough::schema::decoded::{Decoded, Hex};
use tough::schema::key::Key;
use tough::schema::{KeyHolder, RoleKeys, RoleType, Root};

use crate::common::servers::FileServer;

/// How the repository is made.
#[derive(Clone, Copy)]
pub struct TufSpec {
    /// Seconds from now until `timestamp.json` expires (negative: already expired).
    pub timestamp_expires_in: i64,
    /// The version of timestamp, snapshot and targets.
    pub version: u64,
}

impl Default for TufSpec {
    fn default() -> Self {
        TufSpec {
            timestamp_expires_in: 86_400,
            version: 1,
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
        let signed = block_on(signed_root(&keys, 1, None));
        std::fs::write(&root, signed).expect("write root.json");
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

    /// Signs timestamp, snapshot and targets again as `spec` says, in place (same keys,
    /// same root), for rollback cases.
    pub fn republish(&self, spec: TufSpec) {
        let keys = key_source(&self.dir, "repo");
        let (input, repo) = (self.dir.join("input"), self.dir.join("repo"));
        block_on(write_repo(&self.root, &input, &repo, &keys, spec));
    }

    /// Publishes `2.root.json`, signed by the repository's root key, that hands the
    /// targets role to a new key nobody signs with: the client follows the rotation and
    /// then meets targets signed by a key the root no longer lists.
    pub fn rotate_targets_key_away(&self) {
        let keys = key_source(&self.dir, "repo");
        let fresh = make_key(&self.dir, "fresh-targets");
        let root = block_on(async {
            let key = fresh[0].as_sign().await.expect("load key").tuf_key();
            signed_root(&keys, 2, Some(key)).await
        });
        std::fs::write(self.dir.join("repo/2.root.json"), root).expect("write 2.root.json");
    }

    /// A root.json of the same shape signed by, and listing, keys the repository never
    /// used: what a user holding the wrong root (or facing a repository re-signed by an
    /// attacker) has.
    pub fn stranger_root(&self) -> PathBuf {
        let keys = make_key(&self.dir, "stranger");
        let path = self.dir.join("stranger-root.json");
        let signed = block_on(signed_root(&keys, 1, None));
        std::fs::write(&path, signed).expect("write stranger root");
        path
    }

    /// The served target file (`targets/<sha256>.trusted_root.json`).
    pub fn served_target(&self) -> PathBuf {
        let dir = self.dir.join("repo/targets");
        std::fs::read_dir(&dir)
            .expect("targets folder")
            .map(|e| e.expect("entry").path())
            .find(|p| p.to_string_lossy().ends_with(".trusted_root.json"))
            .expect("a served trusted_root.json")
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
    key_source(dir, name)
}

fn key_source(dir: &Path, name: &str) -> Vec<Box<dyn KeySource>> {
    let path = dir.join(format!("keys/{name}.der"));
    vec![Box::new(LocalKeySource { path })]
}

fn in_a_year() -> jiff::Timestamp {
    jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 365)
}

fn one() -> NonZeroU64 {
    NonZeroU64::new(1).expect("1 is not 0")
}

/// A root of `version` signed by `keys[0]`: that key for all four roles (threshold 1,
/// consistent snapshots), or `targets_key` for targets when given.
async fn signed_root(
    keys: &[Box<dyn KeySource>],
    version: u64,
    targets_key: Option<Key>,
) -> Vec<u8> {
    let key = keys[0].as_sign().await.expect("load key").tuf_key();
    let id = key.key_id().expect("key id");
    let role_of = |id: &Decoded<Hex>| RoleKeys {
        keyids: vec![id.clone()],
        threshold: one(),
        _extra: HashMap::new(),
    };
    let role = role_of(&id);
    let mut all_keys = HashMap::from([(id, key)]);
    let mut roles: HashMap<RoleType, RoleKeys> = HashMap::new();
    let roles_list = [
        RoleType::Root,
        RoleType::Snapshot,
        RoleType::Targets,
        RoleType::Timestamp,
    ];
    for r in roles_list {
        roles.insert(r, role.clone());
    }
    if let Some(k) = targets_key {
        let tid = k.key_id().expect("key id");
        roles.insert(RoleType::Targets, role_of(&tid));
        all_keys.insert(tid, k);
    }
    let root = Root {
        spec_version: "1.0.0".into(),
        consistent_snapshot: true,
        version: NonZeroU64::new(version).expect("versions start at 1"),
        expires: in_a_year(),
        keys: all_keys,
        roles,
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
    let version = NonZeroU64::new(spec.version).expect("versions start at 1");
    editor
        .snapshot_version(version)
        .snapshot_expires(in_a_year())
        .timestamp_version(version)
        .timestamp_expires(timestamp_expires);
    editor
        .targets_version(version)
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
