//! The connected side is layered one way: a module imports only modules on a lower floor,
//! so no import runs back up and no two modules (or folders) import each other. The
//! formats sit on the ground beside the catalog; each stage reads them and the stages
//! below it, never one above (docs/architecture.md, "The connected side").

/// Floors from the ground up; modules on one floor import nothing of each other.
const FLOORS: &[&[&str]] = &[
    &["error", "yaml", "addon_facts"],
    &["net"],
    &["approve", "upstream_registry", "upstream_store", "etcd"],
    &["http"],
    &["catalog", "timestamp"],
    &["lock"],
    &["hop_manifest", "checklist"],
    // Above the hop manifest: an add-on's `provenance:` entry picks its policy.
    &["provenance"],
    &["packages", "report"],
    &["addon"],
    &["resolve", "upstream_fetch"],
    &["pack"],
    &["pipeline"],
];

fn floor(module: &str) -> Option<usize> {
    FLOORS.iter().position(|f| f.contains(&module))
}

/// Every `crate::NAME` a line names.
fn imports(line: &str) -> impl Iterator<Item = &str> {
    line.match_indices("crate::").map(move |(i, _)| {
        let rest = &line[i + "crate::".len()..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        &rest[..end]
    })
}

/// The `.rs` files under `dir`, with the top-level module each belongs to.
fn sources(dir: &std::path::Path) -> Vec<(String, std::path::PathBuf)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("read src") {
        let p = e.expect("entry").path();
        let name = p.file_stem().expect("name").to_string_lossy().to_string();
        if p.is_dir() {
            let mut stack = vec![p];
            while let Some(d) = stack.pop() {
                for e in std::fs::read_dir(&d).expect("read dir") {
                    let q = e.expect("entry").path();
                    if q.is_dir() {
                        stack.push(q);
                    } else if q.extension().is_some_and(|x| x == "rs") {
                        out.push((name.clone(), q));
                    }
                }
            }
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push((name, p));
        }
    }
    out
}

#[test]
fn connected_side_imports_only_downward() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files = sources(&src);
    let mut checked = 0;
    for (module, path) in &files {
        // The binary sits above everything; lib.rs only declares the modules.
        let Some(own) = floor(module) else {
            assert!(
                module == "bin" || module == "lib",
                "{}: module {module} has no floor in FLOORS",
                path.display()
            );
            continue;
        };
        checked += 1;
        let text = std::fs::read_to_string(path).expect("read source");
        for (n, line) in text.lines().enumerate() {
            // A doc link names a module without importing it.
            if line.trim_start().starts_with("//") {
                continue;
            }
            for target in imports(line) {
                let Some(theirs) = floor(target) else {
                    continue;
                };
                assert!(
                    target == module || theirs < own,
                    "{}:{}: {module} (floor {own}) imports {target} (floor {theirs}), which is not below it: {line}",
                    path.display(),
                    n + 1
                );
            }
        }
    }
    assert!(checked > 40, "checked only {checked} source files");
}
