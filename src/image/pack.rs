//! Packs a [`Collected`] image into a bundle with xCAT's member layout.

use super::bundle::{BundleWriter, GzOptions};
use super::collect::{under_root, Collected, Entry, Source};
use crate::{Error, Result};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Writes `dest` from `c`, resolving MN paths under `root`; `on_entry` is
/// called before each member is packed (imgexport prints its path).
pub fn pack(
    c: &Collected,
    root: &Path,
    dest: &Path,
    gz: GzOptions,
    on_entry: &mut dyn FnMut(&Entry),
) -> Result<PathBuf> {
    let mut w = BundleWriter::create(dest, &c.image_dir(), gz)?;
    let mut dirs: BTreeSet<String> = BTreeSet::new();
    for e in &c.entries {
        on_entry(e);
        // Parent directory members first (e.g. `extra/`), as tar of a tree has them.
        let parts: Vec<&str> = e.member.split('/').collect();
        for i in 1..parts.len() {
            let dir = parts[..i].join("/");
            if dirs.insert(dir.clone()) {
                w.add_dir(&dir, None)?;
            }
        }
        match &e.source {
            Source::Generated(bytes) => w.add_generated(&e.member, bytes, 0o644)?,
            Source::OnDisk(p) => {
                let path = under_root(root, &p.to_string_lossy());
                if path.is_dir() {
                    w.add_tree(&e.member, &path)?;
                } else {
                    w.add_path(&e.member, &path)?;
                }
            }
            Source::RootimgTree(_) => {
                return Err(Error::NotAvailable(
                    "statelite export (packing rootimgtree.gz)".into(),
                ))
            }
        }
    }
    w.finish()
}
