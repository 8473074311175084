//! Counting what the exclusions leave out: files, directories and bytes
//! under each excluded directory, for the plan's "excluded" lines.
//!
//! Excluded trees are the bulk of an MN's entries (diskless rootimgs hold
//! hundreds of thousands of files) and need only sums, not order. The walk
//! hands each excluded directory over instead of descending into it; a few
//! threads share a queue of directories and count them meanwhile, so the
//! count costs a share of the cores rather than the walk's time.

use crate::{Error, Result};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

/// What one exclusion left out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Entries that are not directories (files, symlinks, specials).
    pub files: u64,
    pub dirs: u64,
    /// Sizes of the regular files.
    pub bytes: u64,
}

impl Tally {
    fn add(&mut self, other: &Tally) {
        self.files += other.files;
        self.dirs += other.dirs;
        self.bytes += other.bytes;
    }
}

struct State {
    /// Directories to read, with the rule that excluded them.
    queue: Vec<(usize, PathBuf)>,
    /// Directories being read right now.
    busy: usize,
    /// The walk has handed over its last tree.
    closed: bool,
    /// The walk failed: the count is not wanted any more.
    stopped: bool,
    totals: Vec<Tally>,
    error: Option<Error>,
}

/// The shared queue of excluded directories and the running totals.
pub struct Counter {
    state: Mutex<State>,
    changed: Condvar,
}

impl Counter {
    fn new(rules: usize) -> Counter {
        Counter {
            state: Mutex::new(State {
                queue: Vec::new(),
                busy: 0,
                closed: false,
                stopped: false,
                totals: vec![Tally::default(); rules],
                error: None,
            }),
            changed: Condvar::new(),
        }
    }

    /// Counts everything under `dir` (not `dir` itself) for `rule`.
    pub fn add(&self, rule: usize, dir: PathBuf) {
        if let Ok(mut s) = self.state.lock() {
            s.queue.push((rule, dir));
        }
        self.changed.notify_one();
    }

    fn close(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.closed = true;
        }
        self.changed.notify_all();
    }

    /// One counting thread: takes directories until the queue is empty, no
    /// one is reading one (which could add more) and the walk is done.
    fn work(&self) {
        loop {
            let (rule, dir) = {
                let Ok(mut s) = self.state.lock() else { return };
                loop {
                    if s.error.is_some() || s.stopped {
                        self.changed.notify_all();
                        return;
                    }
                    if let Some(next) = s.queue.pop() {
                        s.busy += 1;
                        break next;
                    }
                    if s.closed && s.busy == 0 {
                        self.changed.notify_all();
                        return;
                    }
                    s = match self.changed.wait(s) {
                        Ok(s) => s,
                        Err(_) => return,
                    };
                }
            };
            let mut found = Vec::new();
            let read = count_dir(&dir, &mut found);
            let Ok(mut s) = self.state.lock() else { return };
            s.busy -= 1;
            match read {
                Ok(tally) => {
                    s.totals[rule].add(&tally);
                    s.queue.extend(found.into_iter().map(|d| (rule, d)));
                }
                Err(e) => {
                    s.error.get_or_insert(e);
                }
            }
            drop(s);
            self.changed.notify_all();
        }
    }
}

/// The entries of one directory; its subdirectories go to `subdirs`.
fn count_dir(dir: &Path, subdirs: &mut Vec<PathBuf>) -> Result<Tally> {
    let mut tally = Tally::default();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        // d_type when the filesystem gives it: no stat for most entries
        let kind = entry.file_type().map_err(|e| Error::io(&path, e))?;
        if kind.is_dir() {
            tally.dirs += 1;
            subdirs.push(path);
        } else {
            tally.files += 1;
            if kind.is_file() {
                tally.bytes += entry.metadata().map_err(|e| Error::io(&path, e))?.len();
            }
        }
    }
    Ok(tally)
}

struct CloseOnDrop<'a>(&'a Counter);

impl Drop for CloseOnDrop<'_> {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// Runs `walk`, which hands excluded directories to the [`Counter`], while
/// threads count them; returns its result and the totals per rule (`rules`
/// of them). The first error of either wins, the walk's first.
pub fn while_walking<T>(
    rules: usize,
    walk: impl FnOnce(&Counter) -> Result<T>,
) -> Result<(T, Vec<Tally>)> {
    let counter = Counter::new(rules);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().clamp(1, 8));
    let walked = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| scope.spawn(|| counter.work()))
            .collect();
        // Closed however the walk ends, a panic included: the counting
        // threads wait for it, and the scope waits for them.
        let closing = CloseOnDrop(&counter);
        let walked = walk(&counter);
        if walked.is_err() {
            // the plan fails anyway: stop counting
            if let Ok(mut s) = counter.state.lock() {
                s.stopped = true;
            }
        }
        drop(closing);
        let panicked = workers.into_iter().any(|w| w.join().is_err());
        (walked, panicked)
    });
    let (walked, panicked) = walked;
    let walked = walked?;
    if panicked {
        return Err(Error::Refused(
            "a thread counting the excluded trees panicked".into(),
        ));
    }
    let state = counter
        .state
        .into_inner()
        .map_err(|_| Error::Refused("the excluded trees' count was lost".into()))?;
    match state.error {
        Some(e) => Err(e),
        None => Ok((walked, state.totals)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_files_dirs_and_bytes_under_each_tree_by_rule() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        for i in 0..50 {
            let d = a.join(format!("d{}", i % 7)).join(format!("e{}", i % 3));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join(format!("f{i}")), vec![1u8; i]).unwrap();
        }
        std::fs::create_dir_all(b.join("x")).unwrap();
        std::fs::write(b.join("x/big"), vec![0u8; 10_000]).unwrap();
        std::os::unix::fs::symlink("big", b.join("x/link")).unwrap();
        let ((), totals) = while_walking(3, |c| {
            c.add(0, a.clone());
            c.add(2, b.clone());
            Ok(())
        })
        .unwrap();
        // a: 7 d* dirs, each with the e* dirs its files use
        let e_dirs: u64 = (0..7)
            .map(|d| {
                (0..50)
                    .filter(|i| i % 7 == d)
                    .map(|i| i % 3)
                    .collect::<std::collections::HashSet<_>>()
                    .len() as u64
            })
            .sum();
        assert_eq!(
            totals,
            vec![
                Tally {
                    files: 50,
                    dirs: 7 + e_dirs,
                    bytes: (0..50).sum()
                },
                Tally::default(),
                Tally {
                    files: 2,
                    dirs: 1,
                    bytes: 10_000
                },
            ]
        );
    }

    #[test]
    fn an_unreadable_tree_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("gone");
        let err = while_walking(1, |c| {
            c.add(0, gone.clone());
            Ok(())
        })
        .unwrap_err()
        .to_string();
        assert!(err.starts_with(&format!("{}: ", gone.display())), "{err}");
    }

    #[test]
    fn a_panicking_walk_panics_instead_of_waiting_for_the_counters_forever() {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().to_path_buf();
        let outcome = std::panic::catch_unwind(|| {
            while_walking(1, |c| -> Result<()> {
                c.add(0, tree.clone());
                panic!("walk bug")
            })
        });
        assert!(outcome.is_err());
    }

    #[test]
    fn the_walks_error_comes_first() {
        let err = while_walking(1, |_| -> Result<()> {
            Err(Error::Refused("walk failed".into()))
        })
        .unwrap_err()
        .to_string();
        assert_eq!(err, "walk failed");
    }
}
