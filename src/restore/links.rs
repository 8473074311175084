//! Preflight's look at the target's own symbolic links: a link that the
//! files step would have to write the snapshot's members through, and that
//! leads out of the root or to no directory, is found before anything
//! changes (the files step refuses it too, but only after earlier steps ran).
//!
//! The links are followed as [`super::extract`] follows them: chroot-style
//! (an absolute target starts at the root), `..` may not climb above the
//! root, and a followed link must end at a directory; a link where the
//! snapshot has a directory of its own is replaced by it, unless it leads
//! out of the root.

use crate::error::IoContext;
use crate::snapshot::manifest::{self, Kind};
use crate::{Error, Result};
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs;
use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};

/// How deep the members' parent directories are checked; links deeper
/// down (rare) are still refused by the files step.
const DEPTH: usize = 3;
/// Symbolic links followed for one path before it counts as a loop.
const MAX_HOPS: u32 = 40;

/// The directories the snapshot's members live under (up to [`DEPTH`]
/// components) and which of them the snapshot itself carries as a directory.
#[derive(Debug, Default)]
pub struct MemberDirs {
    parents: BTreeSet<PathBuf>,
    dirs: BTreeSet<PathBuf>,
}

impl MemberDirs {
    /// Adds one member path (relative to the root).
    pub fn add(&mut self, rel: &Path, is_dir: bool) {
        let parts: Vec<Component> = rel.components().collect();
        let mut prefix = PathBuf::new();
        for (i, c) in parts.iter().enumerate() {
            prefix.push(c);
            if i + 1 == parts.len() {
                if is_dir && i < DEPTH {
                    self.dirs.insert(prefix.clone());
                }
                break;
            }
            if i >= DEPTH {
                break;
            }
            self.parents.insert(prefix.clone());
        }
    }

    /// The member directories of a snapshot, from its MANIFEST.json (file
    /// list streamed) plus where the DB dump is extracted.
    pub fn from_manifest(path: &Path) -> Result<MemberDirs> {
        let mut dirs = MemberDirs::default();
        let head = manifest::read(path, &mut |rec| {
            dirs.add(&rec.rel_path(), rec.kind == Kind::Dir);
            Ok(())
        })?;
        if !head.database.is_empty() {
            dirs.add(Path::new("var/lib/xcatport/db/site.csv"), false);
        }
        Ok(dirs)
    }
}

/// One sentence per target link that members would be written through and
/// that leads out of `root` or to no directory; empty when there is none.
pub fn unusable_links(root: &Path, members: &MemberDirs) -> Result<Vec<String>> {
    let mut found = BTreeSet::new();
    for parent in &members.parents {
        let parts: Vec<OsString> = parent.iter().map(OsString::from).collect();
        let mut hops = 0;
        if let Err(Refusal(why)) = walk(root, members, parts, &mut hops, None)? {
            found.insert(why);
        }
    }
    Ok(found.into_iter().collect())
}

/// Why a path cannot be written through.
struct Refusal(String);

/// Resolves `parts` from the root, following the root's links; the outer
/// error is an I/O failure, the inner one a link to refuse.
fn walk(
    root: &Path,
    members: &MemberDirs,
    parts: Vec<OsString>,
    hops: &mut u32,
    via: Option<&str>,
) -> Result<std::result::Result<PathBuf, Refusal>> {
    let mut done = PathBuf::new();
    let mut missing = false;
    for name in parts {
        if name == ".." {
            if !done.pop() {
                return Ok(Err(Refusal(format!(
                    "the symbolic link {} leads outside the root {}; refusing to write through it",
                    via.unwrap_or("on its way"),
                    root.display()
                ))));
            }
            continue;
        }
        let cand = done.join(&name);
        if missing {
            done = cand;
            continue;
        }
        let at = root.join(&cand);
        let meta = match fs::symlink_metadata(&at) {
            Ok(m) => m,
            Err(e)
                if e.kind() == ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR) =>
            {
                missing = true;
                done = cand;
                continue;
            }
            Err(e) => return Err(Error::io(&at, e)),
        };
        if !meta.file_type().is_symlink() {
            done = cand;
            continue;
        }
        *hops += 1;
        if *hops > MAX_HOPS {
            return Ok(Err(Refusal(format!(
                "more than {MAX_HOPS} symbolic links followed (a loop?), last at {}",
                at.display()
            ))));
        }
        let target = fs::read_link(&at).at(&at)?;
        let link = format!("{} -> {}", at.display(), target.display());
        let mut next: Vec<OsString> = Vec::new();
        if !target.is_absolute() {
            next.extend(done.iter().map(OsString::from));
        }
        next.extend(
            target
                .iter()
                .filter(|c| *c != "/" && *c != ".")
                .map(OsString::from),
        );
        let resolved = match walk(root, members, next, hops, Some(&link))? {
            Ok(r) => r,
            Err(refusal) => return Ok(Err(refusal)),
        };
        if fs::symlink_metadata(root.join(&resolved)).is_ok_and(|m| m.is_dir()) {
            done = resolved;
        } else if members.dirs.contains(&cand) {
            // the snapshot's directory replaces the link (kept for rollback)
            missing = true;
            done = cand;
        } else {
            return Ok(Err(Refusal(format!(
                "the symbolic link {link} does not lead to a directory inside the root {}; refusing to write through it",
                root.display()
            ))));
        }
    }
    Ok(Ok(done))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn members(paths: &[(&str, bool)]) -> MemberDirs {
        let mut m = MemberDirs::default();
        for (p, d) in paths {
            m.add(Path::new(p), *d);
        }
        m
    }

    #[test]
    fn parents_stop_at_the_depth_and_exclude_the_member_itself() {
        let m = members(&[("install/custom/netboot/x/y", false), ("etc", true)]);
        let got: Vec<&str> = m.parents.iter().map(|p| p.to_str().unwrap()).collect();
        assert_eq!(got, ["install", "install/custom", "install/custom/netboot"]);
        assert!(m.dirs.contains(Path::new("etc")));
    }

    #[test]
    fn links_out_of_the_root_or_to_nothing_are_named() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        fs::create_dir_all(r.join("data/install")).unwrap();
        fs::create_dir_all(r.join("etc")).unwrap();
        symlink("/data/install", r.join("install")).unwrap();
        symlink("../../../x", r.join("data/install/custom")).unwrap();
        symlink("nowhere", r.join("tftpboot")).unwrap();
        symlink("nowhere", r.join("opt")).unwrap();
        let m = members(&[
            ("install/custom/a", false),
            ("tftpboot/x", false),
            ("opt", true),
            ("opt/xcat/x", false),
            ("etc/hosts", false),
        ]);
        let got = unusable_links(r, &m).unwrap();
        let root = r.display();
        assert_eq!(
            got,
            [
                format!("the symbolic link {root}/data/install/custom -> ../../../x leads outside the root {root}; refusing to write through it"),
                format!("the symbolic link {root}/tftpboot -> nowhere does not lead to a directory inside the root {root}; refusing to write through it"),
            ]
        );
        // a link inside the root that leads to a directory is fine
        fs::remove_file(r.join("data/install/custom")).unwrap();
        fs::remove_file(r.join("tftpboot")).unwrap();
        assert!(unusable_links(r, &m).unwrap().is_empty());
    }
}
