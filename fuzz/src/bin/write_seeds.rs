//! Write each target's seeds to `DIR/<target>/seed-N` (the `-i` directories of AFL++).

fn main() -> std::io::Result<()> {
    let out = std::env::args().nth(1).unwrap_or_else(|| "in".to_owned());
    for (name, _) in airlock_fuzz::TARGETS {
        let dir = std::path::Path::new(&out).join(name);
        std::fs::create_dir_all(&dir)?;
        for (i, seed) in airlock_fuzz::seeds(name).iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i}")), seed)?;
        }
    }
    Ok(())
}
