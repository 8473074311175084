//! Packs a [`Collected`] image into a bundle with xCAT's member layout,
//! owner names taken from the MN's own accounts.

use super::bundle::{BundleWriter, GzOptions};
use super::collect::{under_root, Collected, Entry, Source};
use super::cpio;
use super::pgzip::ParallelGzWriter;
use crate::error::IoContext;
use crate::mn::accounts::Accounts;
use crate::Result;
use std::collections::BTreeSet;
use std::fs::File;
use std::io::BufWriter;
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
    w.set_accounts(Accounts::load(root)?);
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
            Source::RootimgTree(tree) => {
                let tree = under_root(root, &tree.to_string_lossy());
                let parent = tree.parent().unwrap_or(root);
                // The tar header needs the size first: the archive is built
                // beside the bundle, then streamed in and removed.
                let dir = dest.parent().unwrap_or(Path::new("."));
                let tmp = tempfile::Builder::new()
                    .prefix(".rootimgtree.")
                    .tempfile_in(dir)
                    .at(dir)?;
                let file = tmp.reopen().at(tmp.path())?;
                let mut gzw = ParallelGzWriter::new(
                    BufWriter::with_capacity(1 << 20, file),
                    gz.level,
                    gz.threads,
                );
                cpio::pack(parent, &mut gzw)?;
                let buffered = gzw.finish().at(tmp.path())?;
                let file: File = buffered
                    .into_inner()
                    .map_err(|e| crate::Error::io(tmp.path(), e.into_error()))?;
                drop(file);
                w.add_path_as(&e.member, tmp.path(), 0o644)?;
            }
        }
    }
    w.finish()
}
