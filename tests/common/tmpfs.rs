//! A small tmpfs mounted for one test: a disk that fills up on cue. Mounting needs root
//! (CI runs as root); [`Tmpfs::mount`] returns `None` elsewhere and the test says it did
//! not run.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A mounted tmpfs, unmounted (lazily, so a still-open file cannot keep it) on drop.
pub struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    /// Mount a tmpfs of `bytes` at `path` (created if needed); `None` without root.
    pub fn mount(path: &Path, bytes: u64) -> Option<Tmpfs> {
        std::fs::create_dir_all(path).expect("create mount point");
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}")])
            .arg("tmpfs")
            .arg(path)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then(|| Tmpfs {
            path: path.to_path_buf(),
        })
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Give it `bytes` in all (space comes back, as when an operator frees the disk).
    pub fn resize(&self, bytes: u64) {
        let st = Command::new("mount")
            .args(["-o", &format!("remount,size={bytes}")])
            .arg(&self.path)
            .status()
            .expect("run mount -o remount");
        assert!(st.success(), "remount {}", self.path.display());
    }

    /// Fill what is left with one file (`dd` until the disk is full); returns its path.
    pub fn fill(&self) -> PathBuf {
        let f = self.path.join("filler");
        // dd stops with "No space left on device"; that is the point.
        let _ = Command::new("dd")
            .args(["if=/dev/zero", "bs=1M"])
            .arg(format!("of={}", f.display()))
            .stderr(std::process::Stdio::null())
            .status();
        f
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Say that a test needing root did not run (not a pass, not a failure).
pub fn notice_not_run(test: &str) {
    eprintln!("NOTICE: cannot mount a tmpfs here (needs root); {test} not run");
}
