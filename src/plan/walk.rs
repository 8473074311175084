//! The walk under the root: include roots in sorted order, no symlinks
//! followed, exclusions applied. It is cheap to run twice (once to plan,
//! once to write), so the plan never holds a list of a million entries.

use super::rules::{Rules, RULE_SPECIAL};
use super::Entry;
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// Files whose presence marks a directory as copycds OS media.
pub const MEDIA_MARKERS: &[&str] = &[".treeinfo", ".discinfo", "media.1", ".disk"];

/// What the walk reports.
#[derive(Debug)]
pub enum Item {
    Included(Box<Entry>),
    /// An excluded entry; `bytes` is a regular file's size. The walk never
    /// descends into an excluded directory: when counting, `tree` is that
    /// directory, for the caller to count what is under it
    /// ([`super::tally`]).
    Excluded {
        rule: usize,
        is_dir: bool,
        bytes: u64,
        tree: Option<PathBuf>,
    },
    /// An include root that does not exist on this MN.
    Missing(PathBuf),
    /// A copycds media directory (reported whether or not it is excluded).
    Media {
        rel: PathBuf,
        excluded: bool,
    },
}

/// Iterator over [`Item`]s.
pub struct Walk<'a> {
    root: &'a Path,
    rules: &'a Rules,
    roots: std::vec::IntoIter<PathBuf>,
    it: Option<walkdir::IntoIter>,
    /// Plan pass: report excluded dirs as trees to count; write pass: just skip them.
    count_excluded: bool,
    pending: Option<Item>,
}

impl<'a> Walk<'a> {
    pub fn new(root: &'a Path, rules: &'a Rules, count_excluded: bool) -> Walk<'a> {
        Walk {
            root,
            rules,
            roots: rules.walk_roots().into_iter(),
            it: None,
            count_excluded,
            pending: None,
        }
    }

    /// Opens the next include root. `Some` carries something to report (a
    /// missing root, an error); `None` means a walker is open or none are left.
    fn next_root(&mut self) -> Option<Result<Item>> {
        let rel = self.roots.next()?;
        let abs = self.root.join(&rel);
        match std::fs::symlink_metadata(&abs) {
            Ok(_) => {
                self.it = Some(
                    walkdir::WalkDir::new(&abs)
                        .follow_links(false)
                        .follow_root_links(false)
                        .sort_by_file_name()
                        .into_iter(),
                );
                None
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(Ok(Item::Missing(rel))),
            Err(e) => Some(Err(Error::io(abs, e))),
        }
    }

    fn is_media(&self, rel: &Path, abs: &Path) -> bool {
        rel.parent().and_then(Path::parent) == Some(self.rules.installdir.as_path())
            && MEDIA_MARKERS
                .iter()
                .any(|m| std::fs::symlink_metadata(abs.join(m)).is_ok())
    }

    fn classify(&mut self, dent: walkdir::DirEntry) -> Result<Option<Item>> {
        let abs = dent.path();
        let rel = abs
            .strip_prefix(self.root)
            .map_err(|_| Error::Escape {
                path: abs.to_path_buf(),
                reason: "walk left the root".into(),
            })?
            .to_path_buf();
        let meta = dent.metadata().map_err(|e| {
            Error::io(
                abs,
                e.into_io_error()
                    .unwrap_or_else(|| std::io::Error::other("metadata")),
            )
        })?;
        let is_dir = meta.is_dir();
        let bytes = if meta.is_file() { meta.len() } else { 0 };
        let ft = meta.file_type();
        let mut rule = if !(ft.is_file() || ft.is_dir() || ft.is_symlink()) {
            Some(RULE_SPECIAL)
        } else {
            self.rules.excluded(&rel)
        };
        if is_dir && rule.is_none() && self.is_media(&rel, abs) {
            let excluded = self.rules.media_rule.is_some();
            rule = self.rules.media_rule;
            self.pending = Some(Item::Media {
                rel: rel.clone(),
                excluded,
            });
        }
        if let Some(rule) = rule {
            if is_dir {
                if let Some(it) = self.it.as_mut() {
                    it.skip_current_dir();
                }
            }
            return Ok(Some(Item::Excluded {
                rule,
                is_dir,
                bytes,
                tree: (is_dir && self.count_excluded).then(|| abs.to_path_buf()),
            }));
        }
        if rel.as_os_str().is_empty() {
            return Ok(None);
        }
        let Some(section) = self.rules.section(&rel, is_dir) else {
            return Ok(None);
        };
        Ok(Some(Item::Included(Box::new(Entry {
            rel,
            path: abs.to_path_buf(),
            section,
            meta,
        }))))
    }
}

impl Iterator for Walk<'_> {
    type Item = Result<Item>;

    fn next(&mut self) -> Option<Result<Item>> {
        loop {
            if let Some(item) = self.pending.take() {
                return Some(Ok(item));
            }
            let Some(it) = self.it.as_mut() else {
                if self.roots.len() == 0 {
                    return None;
                }
                if let Some(item) = self.next_root() {
                    return Some(item);
                }
                continue;
            };
            match it.next() {
                None => self.it = None,
                Some(Err(e)) => {
                    let path = e.path().map(Path::to_path_buf).unwrap_or_default();
                    let io = e
                        .into_io_error()
                        .unwrap_or_else(|| std::io::Error::other("filesystem loop"));
                    return Some(Err(Error::io(path, io)));
                }
                Some(Ok(dent)) => match self.classify(dent) {
                    Ok(None) => continue,
                    Ok(Some(item)) => {
                        // A media item is queued ahead of its exclusion.
                        if let Some(media) = self.pending.take() {
                            self.pending = Some(item);
                            return Some(Ok(media));
                        }
                        return Some(Ok(item));
                    }
                    Err(e) => return Some(Err(e)),
                },
            }
        }
    }
}

/// Only the included entries, for the writer.
pub fn entries<'a>(root: &'a Path, rules: &'a Rules) -> impl Iterator<Item = Result<Entry>> + 'a {
    Walk::new(root, rules, false).filter_map(|item| match item {
        Ok(Item::Included(e)) => Some(Ok(*e)),
        Ok(_) => None,
        Err(e) => Some(Err(e)),
    })
}
