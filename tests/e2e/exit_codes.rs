use crate::common::scenario::Scenario;

#[test]
fn scratch_keep_bundle() {
    let s = Scenario::new();
    let bundle = s.build("bundle", &[]);
    let out = std::path::Path::new("/tmp/trustplay");
    let _ = std::fs::remove_dir_all(out);
    std::fs::create_dir_all(out).unwrap();
    let st = std::process::Command::new("cp").arg("-a").arg(&bundle).arg(s.work.path().join("keys")).arg(&s.lock).arg(out).status().unwrap();
    assert!(st.success());
    eprintln!("key {}", s.key.display());
}
