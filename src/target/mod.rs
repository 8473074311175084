//! Where a snapshot goes: a directory or mounted stick, its filesystem and
//! free space, staging and the atomic finalize, the standalone xcatimport.
//!
//! Everything is written to `TARGET/.xcatport-partial/`, synced, verified by
//! re-reading, and only then moved up file by file with `SHA256SUMS` last, so
//! an interrupted export never leaves a directory that looks like a snapshot.

pub mod binary;
pub mod fs;
pub mod stage;

pub use crate::snapshot::reread::ReRead;
pub use fs::FsInfo;
pub use stage::Staging;

use crate::error::IoContext;
use crate::snapshot::{FURNITURE, MANIFEST, SUMS};
use crate::{Error, Result};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

/// Name of the staging directory inside the target.
pub const PARTIAL: &str = ".xcatport-partial";
/// The small file [`Target::check_media_reread`] writes and removes; one
/// left by a kill is ignored by the emptiness check and removed by staging.
pub const DIRECT_PROBE: &str = ".xcatport-direct-probe";

/// A checked target directory.
#[derive(Debug, Clone)]
pub struct Target {
    pub dir: PathBuf,
    pub fs: FsInfo,
    /// The directory does not exist yet (created when staging).
    pub create: bool,
}

impl Target {
    /// Checks `path` as a target: not a block device, not inside an exported
    /// tree, empty (or `force`), and never holding an older snapshot.
    pub fn check(path: &Path, exported: &[PathBuf], force: bool) -> Result<Target> {
        let meta = std::fs::metadata(path);
        if let Ok(m) = &meta {
            if m.file_type().is_block_device() {
                return Err(Error::Refused(format!(
                    "{0} is a block device: mount it first, e.g. `mkdir -p /mnt/xcatstick && mount {0} /mnt/xcatstick`, then run `xcatexport /mnt/xcatstick`",
                    path.display()
                )));
            }
            if !m.is_dir() {
                return Err(Error::Refused(format!(
                    "{}: not a directory",
                    path.display()
                )));
            }
        }
        let create = meta.is_err();
        let existing = nearest_existing(path)?;
        let canonical = existing.canonicalize().at(&existing)?;
        for tree in exported {
            let tree_c = tree.canonicalize().unwrap_or_else(|_| tree.clone());
            if canonical.starts_with(&tree_c) {
                return Err(Error::Refused(format!(
                    "{}: the target is inside {}, which is being exported; pick a target outside the exported trees",
                    path.display(),
                    tree.display()
                )));
            }
        }
        if !create {
            check_contents(path, force)?;
        }
        let fs = fs::inspect(&existing)?;
        Ok(Target {
            dir: path.to_path_buf(),
            fs,
            create,
        })
    }

    /// Refuses when `needed` bytes do not fit in the free space.
    pub fn check_room(&self, needed: u64) -> Result<()> {
        if needed > self.fs.free {
            return Err(Error::Refused(format!(
                "{}: the snapshot needs about {} but the {} filesystem has {} free; try --profile no-media or a bigger stick",
                self.dir.display(),
                crate::plan::report::human(needed),
                self.fs.name,
                crate::plan::report::human(self.fs.free)
            )));
        }
        Ok(())
    }

    /// Checks, before anything is written, that the snapshot can be read
    /// back from the device: the filesystem allows direct reads, and its
    /// reads are not served from a cache that direct reads do not bypass.
    /// Probes with a small file that it removes again.
    pub fn check_media_reread(&self) -> Result<()> {
        use crate::snapshot::reread;
        let refuse = |why: &str| {
            Error::Refused(format!(
                "{}: --verify-media: {why}; leave out --verify-media, and check the stick by replugging it and running xcatimport --verify",
                self.dir.display()
            ))
        };
        if self.fs.name == "fuseblk" {
            return Err(refuse("the target is a FUSE filesystem (exfat-fuse, ntfs-3g): its daemon reads the device through a cache that direct reads do not bypass"));
        }
        let dir = if self.create {
            nearest_existing(&self.dir)?
        } else {
            self.dir.clone()
        };
        let probe = dir.join(DIRECT_PROBE);
        std::fs::write(&probe, [0u8; reread::DIRECT_ALIGN]).at(&probe)?;
        let opened = reread::open_direct(&probe);
        std::fs::remove_file(&probe).at(&probe)?;
        match opened {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::Unsupported => Err(refuse(&format!(
                "the {} filesystem does not allow direct reads (O_DIRECT)",
                self.fs.name
            ))),
            Err(e) => Err(Error::io(&probe, e)),
        }
    }

    /// Creates a fresh staging directory (removing one left by an interrupted export).
    pub fn stage(&self) -> Result<Staging> {
        if self.create {
            std::fs::create_dir(&self.dir).at(&self.dir)?;
        }
        Staging::create(&self.dir)
    }
}

fn nearest_existing(path: &Path) -> Result<PathBuf> {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().at(path)?.join(path)
    };
    let mut p = abs.as_path();
    loop {
        if p.exists() {
            return Ok(p.to_path_buf());
        }
        match p.parent() {
            Some(parent) => p = parent,
            None => {
                return Err(Error::Refused(format!(
                    "{}: no existing parent directory",
                    path.display()
                )))
            }
        }
    }
}

/// Names that mean "an older snapshot is here".
fn is_snapshot_file(name: &str) -> bool {
    name == SUMS
        || name == MANIFEST
        || name.starts_with("xcat-data.tar")
        || name.starts_with("xcat-rpms.tar")
}

fn check_contents(dir: &Path, force: bool) -> Result<()> {
    let leftovers = stage::interrupted_leftovers(dir);
    let mut others = Vec::new();
    for entry in std::fs::read_dir(dir).at(dir)? {
        let entry = entry.at(dir)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if FURNITURE.contains(&name.as_str())
            || name == PARTIAL
            || name == DIRECT_PROBE
            || leftovers.contains(&name)
        {
            continue;
        }
        if is_snapshot_file(&name) {
            return Err(Error::Refused(format!(
                "{}: holds a snapshot already ({name}); an older snapshot is never overwritten in place: remove it or pick another directory",
                dir.display()
            )));
        }
        others.push(name);
    }
    if !others.is_empty() && !force {
        others.sort();
        others.truncate(5);
        return Err(Error::Refused(format!(
            "{}: not empty (holds {}); use an empty directory or --force",
            dir.display(),
            others.join(", ")
        )));
    }
    Ok(())
}
