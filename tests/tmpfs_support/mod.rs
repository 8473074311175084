//! A small tmpfs mounted for one test (needs root), unmounted when dropped;
//! and a ramfs, which has neither xattrs, direct reads nor a size.

#![allow(dead_code)]

pub struct Tmpfs(pub tempfile::TempDir);

impl Tmpfs {
    pub fn new(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "xcatport-test",
            ])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "mount tmpfs on {}", dir.path().display());
        Tmpfs(dir)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.0.path())
            .status();
    }
}

/// A ramfs on a temporary directory, unmounted when dropped.
pub struct Ramfs(pub tempfile::TempDir);

impl Ramfs {
    pub fn new() -> Ramfs {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "ramfs", "xcatport-test"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "mount ramfs on {}", dir.path().display());
        Ramfs(dir)
    }
}

impl Drop for Ramfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.0.path())
            .status();
    }
}
