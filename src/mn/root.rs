//! Paths of the management node, confined under `--root`.
//!
//! The MN may be the running system (`--root /`) or a disk mounted somewhere
//! (`--root /mnt/mn`). Either way every path the tools touch is a [`RelPath`]
//! resolved by a [`Root`], so that nothing outside the root is ever read or
//! written by accident or by a hostile symlink.
//!
//! Symlinks are followed with chroot semantics: an absolute target is taken
//! relative to the root, because that is what the MN itself sees when its
//! disk is mounted at `--root`. A `..` that would climb above the root, in a
//! request or inside a link target, is refused rather than clamped: such a
//! link is either broken or an attack, and both deserve a loud error.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, IoContext, Result};

/// Symlinks followed in one resolution before it is called a loop (Linux's limit).
pub const MAX_SYMLINK_HOPS: usize = 40;

/// A path relative to a root: only normal components, never `..`.
///
/// A leading `/` is stripped (`/etc/hosts` and `etc/hosts` are the same MN
/// path) and `.` components are dropped. The empty path is the root itself.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct RelPath(PathBuf);

impl RelPath {
    /// Checks and normalises `p`; any `..` is refused as an escape.
    pub fn new(p: impl AsRef<Path>) -> Result<RelPath> {
        let p = p.as_ref();
        let mut out = PathBuf::new();
        for c in p.components() {
            match c {
                Component::Normal(name) => out.push(name),
                Component::RootDir | Component::CurDir => {}
                Component::ParentDir => {
                    return Err(Error::Escape {
                        path: p.to_path_buf(),
                        reason: "\"..\" is not allowed in a path under the root".into(),
                    })
                }
                Component::Prefix(_) => {
                    return Err(Error::Escape {
                        path: p.to_path_buf(),
                        reason: "path prefixes are not supported".into(),
                    })
                }
            }
        }
        Ok(RelPath(out))
    }

    /// The root itself.
    pub fn root() -> RelPath {
        RelPath(PathBuf::new())
    }

    /// The relative path, without a leading `/`.
    pub fn as_path(&self) -> &Path {
        &self.0
    }

    /// True for the root itself.
    pub fn is_root(&self) -> bool {
        self.0.as_os_str().is_empty()
    }

    /// `self/more`, with `more` checked like [`RelPath::new`].
    pub fn join(&self, more: impl AsRef<Path>) -> Result<RelPath> {
        let more = RelPath::new(more)?;
        Ok(RelPath(self.0.join(more.0)))
    }

    /// The containing path; `None` for the root itself.
    pub fn parent(&self) -> Option<RelPath> {
        if self.is_root() {
            return None;
        }
        Some(RelPath(
            self.0.parent().map(Path::to_path_buf).unwrap_or_default(),
        ))
    }

    /// The last component; `None` for the root itself.
    pub fn file_name(&self) -> Option<&OsStr> {
        self.0.file_name()
    }

    /// The path as the MN sees it, with a leading `/`.
    pub fn to_absolute(&self) -> PathBuf {
        Path::new("/").join(&self.0)
    }
}

impl fmt::Display for RelPath {
    /// Shown as the MN sees it: `/etc/hosts`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_absolute().display())
    }
}

impl fmt::Debug for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RelPath({:?})", self.0)
    }
}

impl AsRef<Path> for RelPath {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

/// The directory the MN's `/` is found at; every MN path goes through it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Root {
    /// Canonical, absolute, and a directory: set once by [`Root::open`].
    base: PathBuf,
}

impl Root {
    /// Opens `dir` as a root; it must exist and be a directory.
    pub fn open(dir: impl AsRef<Path>) -> Result<Root> {
        let dir = dir.as_ref();
        let base = dir.canonicalize().at(dir)?;
        let meta = std::fs::metadata(&base).at(&base)?;
        if !meta.is_dir() {
            return Err(Error::io(
                dir,
                io::Error::other("not a directory; a root must be one"),
            ));
        }
        Ok(Root { base })
    }

    /// The canonical host directory of the root.
    pub fn path(&self) -> &Path {
        &self.base
    }

    /// True when the root is the running system's `/`.
    pub fn is_host_root(&self) -> bool {
        self.base == Path::new("/")
    }

    /// The host path of `rel`, lexically: follows nothing, checks nothing.
    /// Use it for messages and for paths that are known to be plain.
    pub fn join(&self, rel: &RelPath) -> PathBuf {
        self.base.join(&rel.0)
    }

    /// The host path of `rel` with every symlink on the way followed inside
    /// the root, the last component included. Missing components are fine
    /// (the caller's open reports them); escapes and loops are refused.
    pub fn resolve(&self, rel: &RelPath) -> Result<PathBuf> {
        self.walk(rel, true)
    }

    /// Like [`Root::resolve`] but the last component is not followed, so a
    /// symlink is returned as the link itself (for `lstat`/`readlink`).
    pub fn resolve_no_follow(&self, rel: &RelPath) -> Result<PathBuf> {
        self.walk(rel, false)
    }

    /// A host path to create `rel` at. Missing parent directories are created
    /// one by one; a parent that is a symlink (even one pointing inside the
    /// root) or not a directory is refused, so an archive cannot plant a link
    /// and have a later member written through it. The last component is
    /// neither checked nor followed: the caller must create it with
    /// `create_new`/`O_NOFOLLOW` or remove what is there first.
    pub fn for_write(&self, rel: &RelPath) -> Result<PathBuf> {
        let Some(parent) = rel.parent() else {
            return Err(Error::Escape {
                path: self.base.clone(),
                reason: "refusing to write the root directory itself".into(),
            });
        };
        let mut dir = self.base.clone();
        for name in parent.0.iter() {
            dir.push(name);
            match std::fs::symlink_metadata(&dir) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(Error::Escape {
                        path: self.join(rel),
                        reason: format!(
                            "parent {} is a symbolic link; refusing to write through it",
                            dir.display()
                        ),
                    })
                }
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(Error::io(
                        &dir,
                        io::Error::other(format!("not a directory, needed as a parent of {rel}")),
                    ))
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => create_plain_dir(&dir)?,
                Err(e) => return Err(Error::io(&dir, e)),
            }
        }
        dir.push(rel.file_name().unwrap_or_default());
        Ok(dir)
    }

    /// The [`RelPath`] of a host path that lies lexically under the root.
    pub fn relativize(&self, host: &Path) -> Result<RelPath> {
        match host.strip_prefix(&self.base) {
            Ok(rest) => RelPath::new(rest),
            Err(_) => Err(Error::Escape {
                path: host.to_path_buf(),
                reason: format!("not under the root {}", self.base.display()),
            }),
        }
    }

    /// Resolves component by component. `done` only ever holds names of real
    /// directories (no symlinks) under the base, so `..` is a plain pop.
    fn walk(&self, rel: &RelPath, follow_last: bool) -> Result<PathBuf> {
        // Each pending component remembers which link (index into `links`)
        // put it there, so an escape names the offending link.
        let mut todo: VecDeque<(OsString, Option<usize>)> =
            rel.0.iter().map(|n| (n.to_os_string(), None)).collect();
        let mut links: Vec<String> = Vec::new();
        let mut done: Vec<OsString> = Vec::new();
        // Once a component is missing, nothing after it can be a link.
        let mut missing = false;
        while let Some((name, origin)) = todo.pop_front() {
            if name == ".." {
                if done.pop().is_none() {
                    let via =
                        origin.map_or_else(String::new, |i| format!("symbolic link {} ", links[i]));
                    return Err(Error::Escape {
                        path: self.join(rel),
                        reason: format!("{via}climbs above the root {}", self.base.display()),
                    });
                }
                continue;
            }
            let here = self.host_path(&done).join(&name);
            let is_last = todo.is_empty();
            if missing || (is_last && !follow_last) {
                done.push(name);
                continue;
            }
            let meta = match std::fs::symlink_metadata(&here) {
                Ok(m) => m,
                Err(e) if is_missing(&e) => {
                    missing = true;
                    done.push(name);
                    continue;
                }
                Err(e) => return Err(Error::io(here, e)),
            };
            if !meta.file_type().is_symlink() {
                done.push(name);
                continue;
            }
            if links.len() >= MAX_SYMLINK_HOPS {
                return Err(Error::Escape {
                    path: self.join(rel),
                    reason: format!(
                        "more than {MAX_SYMLINK_HOPS} symbolic links followed (a loop?), last at {}",
                        here.display()
                    ),
                });
            }
            let target = std::fs::read_link(&here).at(&here)?;
            links.push(format!("{} -> {}", here.display(), target.display()));
            let me = Some(links.len() - 1);
            let mut parts = Vec::new();
            for c in target.components() {
                match c {
                    Component::RootDir => done.clear(),
                    Component::Normal(n) => parts.push((n.to_os_string(), me)),
                    Component::ParentDir => parts.push((OsString::from(".."), me)),
                    Component::CurDir | Component::Prefix(_) => {}
                }
            }
            for p in parts.into_iter().rev() {
                todo.push_front(p);
            }
        }
        Ok(self.host_path(&done))
    }

    fn host_path(&self, names: &[OsString]) -> PathBuf {
        let mut p = self.base.clone();
        p.extend(names);
        p
    }
}

/// Not found, or a component on the way is a file (`ENOTDIR`).
pub(crate) fn is_missing(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR)
}

/// Creates one directory; losing a race to another creator is fine as long
/// as what now exists is a real directory.
fn create_plain_dir(dir: &Path) -> Result<()> {
    match std::fs::create_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let m = std::fs::symlink_metadata(dir).at(dir)?;
            if m.is_dir() {
                Ok(())
            } else {
                Err(Error::Escape {
                    path: dir.to_path_buf(),
                    reason: "appeared as a non-directory while being created".into(),
                })
            }
        }
        Err(e) => Err(Error::io(dir, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tmp_root() -> (tempfile::TempDir, Root) {
        let t = tempfile::tempdir().unwrap();
        let r = Root::open(t.path()).unwrap();
        (t, r)
    }

    #[test]
    fn relpath_strips_leading_slash_and_dots() {
        let p = RelPath::new("/etc/./xcat/cfgloc").unwrap();
        assert_eq!(p.as_path(), Path::new("etc/xcat/cfgloc"));
        assert_eq!(p.to_string(), "/etc/xcat/cfgloc");
        assert!(RelPath::new("/").unwrap().is_root());
    }

    #[test]
    fn relpath_refuses_any_dotdot() {
        for bad in ["..", "../etc", "etc/../../x", "a/b/.."] {
            let e = RelPath::new(bad).unwrap_err();
            assert!(matches!(e, Error::Escape { .. }), "{bad}: {e}");
            assert!(e.to_string().contains(bad), "{e}");
        }
    }

    #[test]
    fn relpath_join_and_parent() {
        let p = RelPath::new("etc").unwrap().join("xcat/ca").unwrap();
        assert_eq!(p.as_path(), Path::new("etc/xcat/ca"));
        assert_eq!(p.parent().unwrap().as_path(), Path::new("etc/xcat"));
        assert!(RelPath::new("etc").unwrap().parent().unwrap().is_root());
        assert!(RelPath::root().parent().is_none());
        assert!(p.join("../x").is_err());
    }

    #[test]
    fn relativize_accepts_inside_refuses_outside() {
        let (_t, r) = tmp_root();
        let rel = r.relativize(&r.path().join("etc/hosts")).unwrap();
        assert_eq!(rel.as_path(), Path::new("etc/hosts"));
        assert!(r.relativize(Path::new("/etc/hosts")).is_err());
        assert!(r.relativize(&r.path().join("a/../../x")).is_err());
    }

    #[test]
    fn resolve_follows_links_inside_and_keeps_missing_tail() {
        let (_t, r) = tmp_root();
        let b = r.path();
        std::fs::create_dir_all(b.join("usr/lib")).unwrap();
        std::fs::write(b.join("usr/lib/os-release"), "ID=x\n").unwrap();
        std::fs::create_dir(b.join("etc")).unwrap();
        symlink("../usr/lib/os-release", b.join("etc/os-release")).unwrap();
        let got = r.resolve(&RelPath::new("etc/os-release").unwrap()).unwrap();
        assert_eq!(got, b.join("usr/lib/os-release"));
        let nf = r
            .resolve_no_follow(&RelPath::new("etc/os-release").unwrap())
            .unwrap();
        assert_eq!(nf, b.join("etc/os-release"));
        let miss = r
            .resolve(&RelPath::new("etc/none/deeper").unwrap())
            .unwrap();
        assert_eq!(miss, b.join("etc/none/deeper"));
    }

    #[test]
    fn for_write_creates_parents_as_real_dirs() {
        let (_t, r) = tmp_root();
        let p = r
            .for_write(&RelPath::new("install/custom/netboot/x.pkglist").unwrap())
            .unwrap();
        assert_eq!(p, r.path().join("install/custom/netboot/x.pkglist"));
        let m = std::fs::symlink_metadata(r.path().join("install/custom/netboot")).unwrap();
        assert!(m.is_dir());
        assert!(!p.exists());
        assert!(r.for_write(&RelPath::root()).is_err());
    }

    #[test]
    fn for_write_refuses_a_file_as_parent() {
        let (_t, r) = tmp_root();
        std::fs::write(r.path().join("f"), "").unwrap();
        let e = r.for_write(&RelPath::new("f/x").unwrap()).unwrap_err();
        assert!(e.to_string().contains("not a directory"), "{e}");
    }
}
