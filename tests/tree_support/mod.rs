//! A directory tree the tests build entry by entry (files, modes, owners,
//! times, links, xattrs, sparse files) under /var/tmp, removed on drop.
//! Included with `#[path]` by the support modules that build MNs.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A directory tree under /var/tmp (xattrs need a real filesystem).
pub struct Tree {
    pub dir: tempfile::TempDir,
}

/// An empty scratch directory under /var/tmp, removed on drop.
pub fn scratch(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in("/var/tmp")
        .unwrap()
}

impl Tree {
    pub fn new(prefix: &str) -> Tree {
        Tree {
            dir: scratch(prefix),
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    pub fn file(&self, rel: &str, content: impl AsRef<[u8]>) -> &Self {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap();
        self
    }

    pub fn dir(&self, rel: &str) -> &Self {
        std::fs::create_dir_all(self.path(rel)).unwrap();
        self
    }

    pub fn mode(&self, rel: &str, mode: u32) -> &Self {
        std::fs::set_permissions(self.path(rel), std::fs::Permissions::from_mode(mode)).unwrap();
        self
    }

    pub fn owner(&self, rel: &str, uid: u32, gid: u32) -> &Self {
        std::os::unix::fs::lchown(self.path(rel), Some(uid), Some(gid)).unwrap();
        self
    }

    pub fn mtime(&self, rel: &str, secs: i64) -> &Self {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs as u64);
        let f = std::fs::File::options()
            .write(!self.path(rel).is_dir())
            .read(true)
            .open(self.path(rel))
            .unwrap();
        f.set_modified(t).unwrap();
        self
    }

    pub fn symlink(&self, rel: &str, target: &str) -> &Self {
        std::os::unix::fs::symlink(target, self.path(rel)).unwrap();
        self
    }

    pub fn hardlink(&self, rel: &str, existing: &str) -> &Self {
        std::fs::hard_link(self.path(existing), self.path(rel)).unwrap();
        self
    }

    pub fn xattr(&self, rel: &str, name: &str, value: &[u8]) -> &Self {
        xattr::set(self.path(rel), name, value).unwrap();
        self
    }

    /// A file of `size` bytes with data only at the start and at 40 MiB.
    pub fn sparse(&self, rel: &str, size: u64) -> &Self {
        use std::io::{Seek, SeekFrom, Write};
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let mut f = std::fs::File::create(&p).unwrap();
        f.write_all(b"head of a sparse file\n").unwrap();
        f.seek(SeekFrom::Start(40 << 20)).unwrap();
        f.write_all(b"data in the middle\n").unwrap();
        f.set_len(size).unwrap();
        self
    }
}
