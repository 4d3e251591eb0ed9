//! Policies written by commands (issue 24): `airlock-verify policy init`, `next`,
//! `add-key`, `remove-key`, `set-rule`, `set-update-rule` and `show`, through the real
//! binary, on keys `airlock keygen` made; the schema checked by the `jsonschema`
//! validator; a drafted policy signed with `airlock sign` and accepted by `policy update`.

use std::path::{Path, PathBuf};

use crate::common::cli::{self, Cli, Run, policy};
use crate::common::evidence::assert_valid;
use crate::common::scenario::Scenario;

fn pub_of(prefix: &Path) -> String {
    cli::pub_of(prefix)
}

/// The base64 key (second line) of `PREFIX.pub`.
fn key_b64(prefix: &Path) -> String {
    let text = std::fs::read_to_string(pub_of(prefix)).unwrap();
    text.lines().nth(1).unwrap().to_string()
}

/// The key id of `PREFIX.pub`, as signature files name it.
fn key_id(prefix: &Path) -> String {
    let text = std::fs::read_to_string(pub_of(prefix)).unwrap();
    airlock_verify::trust::PublicKey::from_minisign(&text)
        .unwrap()
        .key_id()
        .to_string()
}

/// The example policy of docs/trust.md ("The enclave's policy"), as JSON.
fn documented_policy() -> serde_json::Value {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/trust.md")).unwrap();
    let block = doc
        .split("## The enclave's policy")
        .nth(1)
        .and_then(|s| s.split("```json\n").nth(1))
        .and_then(|s| s.split("```").next())
        .expect("docs/trust.md has the example policy");
    serde_json::from_str(block).expect("the documented policy is JSON")
}

/// The four keys of the documented example, made by `airlock keygen`, by name.
fn documented_keys(dir: &Path) -> Vec<(&'static str, PathBuf, &'static str)> {
    [
        ("build server", "builder"),
        ("Alice Smith", "change-board"),
        ("Bob Jones", "change-board"),
        ("Carol White", "change-board"),
    ]
    .into_iter()
    .map(|(name, role)| {
        let prefix = dir.join(name.split(' ').next().unwrap().to_lowercase());
        (name, cli::keygen(&prefix), role)
    })
    .collect()
}

/// The commands docs/trust.md shows ("Writing a policy by commands"), run on `file`.
fn write_documented(file: &Path, keys: &[(&str, PathBuf, &str)]) {
    policy(file, &["init"]).ok();
    for (name, prefix, role) in keys {
        policy(
            file,
            &["add-key", name, "--key", &pub_of(prefix), "--role", role],
        )
        .ok();
    }
    policy(file, &["set-rule", "builder", "1"]).ok();
    policy(file, &["set-rule", "change-board", "2"]).ok();
    let last = policy(file, &["set-update-rule", "2", "--role", "change-board"]).ok();
    assert!(
        last.stdout().contains("a valid policy, ready to sign"),
        "{last}"
    );
}

/// Compared as JSON values, not bytes: the documentation aligns its example by hand for
/// reading and elides the keys (`RWQ...`), while the commands write serde's canonical
/// 2-space form; the same members and the same arrays in the same order are the same
/// policy to every reader (`TrustPolicy::parse`, the schema, `jq`).
#[test]
fn a_policy_written_only_by_commands_is_the_documented_one() {
    let work = crate::common::workdir();
    let keys = documented_keys(work.path());
    let file = work.path().join("draft/policy.json");
    write_documented(&file, &keys);

    let mut expected = documented_policy();
    for entry in expected["keys"].as_array_mut().unwrap() {
        let name = entry["name"].as_str().unwrap().to_string();
        let (_, prefix, _) = keys.iter().find(|(n, _, _)| *n == name).unwrap();
        assert!(entry["key"].as_str().unwrap().ends_with("..."), "{entry}");
        entry["key"] = key_b64(prefix).into();
    }
    assert_eq!(crate::common::read_json(&file), expected);
    assert_valid("trust-policy.schema.json", &file);
    // The file is canonical: what show --json prints, byte for byte.
    let shown = policy(&file, &["show", "--json"]).ok();
    assert_eq!(shown.stdout().as_bytes(), std::fs::read(&file).unwrap());
}

#[test]
fn policy_show_json_round_trips_and_the_table_names_everything() {
    let work = crate::common::workdir();
    let keys = documented_keys(work.path());
    // Hand-written, not canonical (one line, another member order): show --json gives
    // the canonical form, and that form read back gives the same bytes again.
    let hand = work.path().join("hand.json");
    let builder = &keys[0].1;
    let board: Vec<(&str, &Path)> = keys[1..]
        .iter()
        .map(|(n, p, _)| (*n, p.as_path()))
        .collect();
    let text = crate::common::scenario::trust_policy(7, Some(builder), &board, 2);
    std::fs::write(&hand, &text).unwrap();
    let first = policy(&hand, &["show", "--json"]).ok();
    let again = work.path().join("again.json");
    std::fs::write(&again, first.stdout()).unwrap();
    let second = policy(&again, &["show", "--json"]).ok();
    assert_eq!(first.stdout(), second.stdout());
    assert_eq!(
        first.json(),
        serde_json::from_str::<serde_json::Value>(&text).unwrap()
    );
    assert_valid("trust-policy.schema.json", &again);

    let table = policy(&hand, &["show"]).ok().stdout();
    for (name, prefix, role) in &keys {
        let id = key_id(prefix);
        let row = table
            .lines()
            .find(|l| l.contains(&id))
            .unwrap_or_else(|| panic!("no row for {id}:\n{table}"));
        assert!(row.contains(name) && row.ends_with(role), "{row}");
    }
    for needle in [
        "version      7",
        "status       valid",
        "builder       1         1",
        "change-board  2         3",
        "at least 2 change-board of the 3 key(s) holding it",
    ] {
        assert!(table.contains(needle), "{needle:?} not in:\n{table}");
    }
    // No Rust debug form anywhere.
    assert!(
        !table.contains("RoleName(") && !table.contains("AllOf"),
        "{table}"
    );
}

/// The file as it is now, to check that a refused edit changed nothing.
struct Before(PathBuf, Vec<u8>);

impl Before {
    fn of(file: &Path) -> Before {
        Before(file.to_path_buf(), std::fs::read(file).unwrap())
    }
    fn unchanged(&self, run: &Run) {
        assert_eq!(std::fs::read(&self.0).unwrap(), self.1, "{run}");
    }
}

#[test]
fn nonsense_is_refused_by_name_with_exit_4_and_changes_nothing() {
    let work = crate::common::workdir();
    let keys = documented_keys(work.path());
    let file = work.path().join("draft/policy.json");
    write_documented(&file, &keys);
    let before = Before::of(&file);
    let alice = pub_of(&keys[1].1);
    let dave = pub_of(&cli::keygen(&work.path().join("dave")));
    let refused: [(&[&str], &str); 9] = [
        (&["set-rule", "auditor", "1"], "no key holds role auditor"),
        (
            &["set-rule", "change-board", "4"],
            "rule change-board x 4 needs more keys than the 3 holding role change-board",
        ),
        (
            &["set-rule", "ops", "0"],
            "there is no rule for role ops to remove",
        ),
        (
            &["add-key", "Alice again", "--key", &alice, "--role", "ops"],
            "is already in the policy as Alice Smith",
        ),
        (
            &["add-key", "Bob Jones", "--key", &dave, "--role", "ops"],
            "a key named Bob Jones is already in the policy",
        ),
        (&["remove-key", "Mallory"], "no key named Mallory"),
        (
            &["set-update-rule", "0"],
            "must require at least 1 approval",
        ),
        (
            &["set-update-rule", "5"],
            "needs 5 approval(s) but only 4 key(s) are in the policy",
        ),
        (
            &["remove-key", "build server"],
            "removing build server would leave rule builder x 1 with 0 key(s)",
        ),
    ];
    for (args, needle) in refused {
        let run = policy(&file, args).fails(4, needle);
        assert!(run.stderr().contains(&file.display().to_string()), "{run}");
        before.unchanged(&run);
    }
    // The update rule still needs a change-board key once the rule is lowered.
    policy(&file, &["set-rule", "change-board", "1"]).ok();
    policy(&file, &["remove-key", "Carol White"]).ok();
    let before = Before::of(&file);
    let run = policy(&file, &["remove-key", "Bob Jones"]).fails(4, "would leave the update rule");
    before.unchanged(&run);
    // Argument mistakes are usage errors (2), a bad key file is invalid input (4).
    let run = policy(&file, &["set-rule", "Change Board", "1"]).fails(2, "lower-case letters");
    before.unchanged(&run);
    policy(&file, &["add-key", "Dave", "--key", &dave]).fails(2, "--role");
    let secret = cli::key_of(&keys[1].1);
    policy(
        &file,
        &["add-key", "Dave", "--key", &secret, "--role", "ops"],
    )
    .fails(4, "this is a secret key");
    // init and next write new files only.
    policy(&file, &["init"]).fails(4, "already exists");
    policy(&file, &["next", "--out", file.to_str().unwrap()]).fails(4, "already exists");
    before.unchanged(&policy(&file, &["show"]).ok());
    // A draft not yet valid is shown, then refused with the reason.
    let fresh = work.path().join("fresh/policy.json");
    policy(&fresh, &["init", "--description", "plant 7"]).ok();
    let run = policy(&fresh, &["show"]).fails(4, "no rules");
    assert!(run.stdout().contains("draft, not yet valid"), "{run}");
    assert!(run.stdout().contains("description  plant 7"), "{run}");
}

/// The enclave's policy (version 1, written by commands), then a draft of version 2 made
/// by commands, signed by two change-board members with `airlock sign`, accepted by
/// `policy update`; a bundle then counts under the new policy.
#[test]
fn a_drafted_policy_signed_by_the_board_replaces_the_enclave_policy() {
    let s = Scenario::new();
    let keys_dir = s.path("keys");
    let mut keys = documented_keys(&keys_dir);
    keys[0].1 = s.key.clone(); // the scenario's build key signs its bundles
    let installed = s.path("enclave/policy.json");
    write_documented(&installed, &keys);
    let (alice, bob, carol) = (&keys[1].1, &keys[2].1, &keys[3].1);
    let dave = cli::keygen(&keys_dir.join("dave"));

    let draft = s.path("policy-v2/policy.json");
    let dir = s.path("policy-v2");
    policy(&installed, &["next", "--out", draft.to_str().unwrap()]).ok();
    let edits: [&[&str]; 3] = [
        &[
            "add-key",
            "Dave Brown",
            "--key",
            &pub_of(&dave),
            "--role",
            "change-board",
        ],
        &["remove-key", "Carol White"],
        &["set-rule", "change-board", "1"],
    ];
    for args in edits {
        policy(&draft, args).ok();
    }
    // Signed, then edited again: the signatures are kept but no longer match; the
    // update is refused as untrusted and the enclave policy stays as it was.
    s.sign(&dir, alice, "change-board").ok();
    s.sign(&dir, bob, "change-board").ok();
    let late = policy(&draft, &["set-update-rule", "2"]).ok();
    assert!(late.stderr().contains("no longer match"), "{late}");
    let v1 = std::fs::read(&installed).unwrap();
    let update = || {
        Cli::verify()
            .args(["policy", "update", "--policy"])
            .arg(&installed)
            .arg(&dir)
    };
    update().fails(3, "needs 2 more change-board");
    assert_eq!(std::fs::read(&installed).unwrap(), v1);
    // Signed again over the final draft: accepted.
    std::fs::remove_dir_all(dir.join("signatures")).unwrap();
    s.sign(&dir, alice, "change-board").ok();
    s.sign(&dir, bob, "change-board").ok();
    update().ok();
    assert_eq!(
        std::fs::read(&installed).unwrap(),
        std::fs::read(&draft).unwrap()
    );
    let table = policy(&installed, &["show"]).ok().stdout();
    assert!(
        table.contains("version      2") && table.contains("Dave Brown"),
        "{table}"
    );
    assert!(!table.contains("Carol White"), "{table}");

    // Under version 2, Dave's approval alone is enough; Carol's no longer counts.
    let bundle = s.build("bundle", &[]);
    let verify = || {
        Cli::verify()
            .args(["verify", "--quiet", "--policy"])
            .arg(&installed)
            .arg(&bundle)
    };
    s.sign(&bundle, carol, "change-board").ok();
    let carol_id = key_id(carol);
    verify().fails(3, &format!("not counted: signature from key {carol_id}"));
    s.sign(&bundle, &dave, "change-board").ok();
    verify().ok();
}
