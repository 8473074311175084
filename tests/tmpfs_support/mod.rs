//! A filesystem in memory mounted for one test (needs root), unmounted when
//! dropped: a small tmpfs, or a ramfs, which has neither xattrs, direct
//! reads nor a size.

#![allow(dead_code)]

/// A filesystem mounted on a temporary directory.
pub struct Mounted(pub tempfile::TempDir);

impl Mounted {
    /// A tmpfs of `size` (as mount reads it, e.g. `2m`).
    pub fn tmpfs(size: &str) -> Mounted {
        Mounted::new("tmpfs", &[format!("size={size}")])
    }

    pub fn ramfs() -> Mounted {
        Mounted::new("ramfs", &[])
    }

    fn new(kind: &str, options: &[String]) -> Mounted {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", kind])
            .args(options.iter().flat_map(|o| ["-o", o.as_str()]))
            .arg("xcatport-test")
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "mount {kind} on {}", dir.path().display());
        Mounted(dir)
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.0.path())
            .status();
    }
}
