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

impl Tmpfs {
    /// Bytes free on the mount, as `stat -f` reports them to an unprivileged writer.
    pub fn free(&self) -> u64 {
        let out = Command::new("stat")
            .args(["-f", "-c", "%a %S"])
            .arg(&self.path)
            .output()
            .expect("run stat -f");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut it = text
            .split_whitespace()
            .map(|n| n.parse::<u64>().expect("number"));
        it.next().expect("free blocks") * it.next().expect("block size")
    }

    /// Fill the disk but leave about `bytes` free (so a write that needs more fails part
    /// of the way through); returns the filler's path.
    pub fn fill_leaving(&self, bytes: u64) -> PathBuf {
        let f = self.path.join("filler");
        let take = self.free().saturating_sub(bytes);
        let file = std::fs::File::create(&f).expect("create filler");
        // Written, not just sized: tmpfs only counts pages that hold data.
        let chunk = vec![0u8; 1 << 20];
        let mut left = take;
        let mut w = std::io::BufWriter::new(file);
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            std::io::Write::write_all(&mut w, &chunk[..n]).expect("write filler");
            left -= n as u64;
        }
        std::io::Write::flush(&mut w).expect("flush filler");
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
