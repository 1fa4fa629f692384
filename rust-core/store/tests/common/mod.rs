//! A real filesystem of a set size for the storage-fault tests: a tmpfs
//! mounted over a temporary folder (needs `mount`, i.e. root as on CI).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounted over `dir`, or `None` where mounting is not allowed.
    pub fn mount(dir: &Path, size: &str) -> Option<Self> {
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then(|| Self(dir.to_path_buf()))
    }

    /// `mount -o remount,<opts>`: `size=2m`, `ro`, `rw`.
    pub fn remount(&self, opts: &str) {
        let ok =
            Command::new("mount").args(["-o", &format!("remount,{opts}")]).arg(&self.0).status().unwrap();
        assert!(ok.success(), "remount {opts}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}
