//! The staging directory `TARGET/.xcatport-partial/` and the finalize step:
//! sync, verify by re-reading, move files up with SHA256SUMS last.

use super::{DIRECT_PROBE, PARTIAL};
use crate::error::IoContext;
use crate::progress::Progress;
use crate::snapshot::reread::ReRead;
use crate::snapshot::{self, ReadBack, Verified, SUMS};
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// A staging directory; dropped without [`Staging::finalize`] it is removed.
#[derive(Debug)]
pub struct Staging {
    target: PathBuf,
    dir: PathBuf,
    done: bool,
}

impl Staging {
    pub(super) fn create(target: &Path) -> Result<Staging> {
        let dir = target.join(PARTIAL);
        let probe = target.join(DIRECT_PROBE);
        if probe.exists() {
            std::fs::remove_file(&probe).at(&probe)?;
        }
        for name in interrupted_leftovers(target) {
            let path = target.join(&name);
            std::fs::remove_file(&path).at(&path)?;
        }
        if dir.exists() {
            std::fs::remove_dir_all(&dir).at(&dir)?;
        }
        std::fs::create_dir(&dir).at(&dir)?;
        Ok(Staging {
            target: target.to_path_buf(),
            dir,
            done: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Syncs the filesystem, verifies the staged snapshot by re-reading it
    /// (the files in `written` against what was written into them), then
    /// moves every file up, `SHA256SUMS` last.
    pub fn finalize(
        mut self,
        written: &ReadBack,
        reread: ReRead,
        progress: &dyn Progress,
    ) -> Result<Verified> {
        let dir = &self.dir;
        let staged = match reread {
            ReRead::PageCache => {
                // The re-read hashes the very pages the sync writes out, so
                // the two overlap: the device's write time hides the
                // hashing. Both must succeed before anything moves up.
                let (synced, staged) = std::thread::scope(|scope| {
                    let sync = scope.spawn(|| syncfs(dir));
                    let staged =
                        snapshot::verify_written(dir, written, ReRead::PageCache, progress);
                    let synced = sync.join().unwrap_or_else(|_| {
                        Err(Error::Refused(format!(
                            "{}: syncfs thread panicked",
                            dir.display()
                        )))
                    });
                    (synced, staged)
                });
                synced?;
                staged?
            }
            ReRead::Media => {
                // Direct reads would find dirty pages written back on the
                // way; the sync first lets the progress bar mean reading.
                syncfs(dir)?;
                snapshot::verify_written(dir, written, ReRead::Media, progress)?
            }
        };
        let listed = snapshot::sums::read(&self.dir.join(SUMS))?;
        for (name, _) in &listed {
            let (from, to) = (self.dir.join(name), self.target.join(name));
            if to.exists() {
                return Err(Error::Refused(format!(
                    "{}: appeared during the export; not overwriting it",
                    to.display()
                )));
            }
            std::fs::rename(&from, &to).at(&from)?;
        }
        syncfs(&self.target)?;
        let from = self.dir.join(SUMS);
        std::fs::rename(&from, self.target.join(SUMS)).at(&from)?;
        std::fs::remove_dir(&self.dir).at(&self.dir)?;
        syncfs(&self.target)?;
        self.done = true;
        Ok(Verified {
            dir: self.target.clone(),
            data_volumes: staged
                .data_volumes
                .iter()
                .filter_map(|p| p.file_name().map(|n| self.target.join(n)))
                .collect(),
            rpms_volumes: staged
                .rpms_volumes
                .iter()
                .filter_map(|p| p.file_name().map(|n| self.target.join(n)))
                .collect(),
            secrets_volumes: staged
                .secrets_volumes
                .iter()
                .filter_map(|p| p.file_name().map(|n| self.target.join(n)))
                .collect(),
            head: staged.head,
        })
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Files an export killed during [`Staging::finalize`] already moved up:
/// the target has no `SHA256SUMS` (nothing was committed) while the staged
/// one still lists them. They are this tool's own uncommitted output, so a
/// new export removes them instead of taking them for an older snapshot.
pub fn interrupted_leftovers(target: &Path) -> Vec<String> {
    let staged = target.join(PARTIAL).join(SUMS);
    if target.join(SUMS).exists() || !staged.is_file() {
        return Vec::new();
    }
    let Ok(listed) = snapshot::sums::read(&staged) else {
        return Vec::new();
    };
    listed
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| {
            std::fs::symlink_metadata(target.join(name)).is_ok_and(|m| m.file_type().is_file())
        })
        .collect()
}

/// Flushes the filesystem holding `dir` (one syncfs per step, not fsync per file).
pub fn syncfs(dir: &Path) -> Result<()> {
    use std::os::unix::io::AsRawFd;
    let f = std::fs::File::open(dir).at(dir)?;
    // SAFETY: syncfs takes a valid descriptor we own for the duration of the call.
    if unsafe { libc::syncfs(f.as_raw_fd()) } != 0 {
        return Err(Error::io(dir, std::io::Error::last_os_error()));
    }
    Ok(())
}
