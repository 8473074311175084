//! Regular files' content written on threads of their own.
//!
//! Writing into the page cache is most of a restore's CPU time: the kernel
//! copies every byte and allocates its blocks. Done on the thread that also
//! reads and decompresses the stream, it left a second core idle. The
//! extraction loop keeps every decision — paths, journal, creation, links,
//! directories — and hands a large file's content, once the file is
//! created, to the least busy of a few writer threads. A writer writes it,
//! applies its metadata through the open file (so a name replaced meanwhile
//! is never touched) and starts its writeback. Blocks are reused and the
//! queues are short, so memory stays at a few MiB whatever the restore.

use super::meta::{self, Time, Unset};
use crate::progress::Progress;
use crate::{Error, Result};
use std::ffi::OsStr;
use std::fs::File;
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Bytes per hand-over: a multiple of [`SPARSE_BLOCK`], so that a sparse
/// file's all-zero blocks are found at the same offsets however it is cut.
const BLOCK: usize = 256 * 1024;
/// Granularity of holes in sparse files.
const SPARSE_BLOCK: usize = 4096;
/// Blocks queued per writer.
const QUEUE: usize = 8;
/// Files smaller than this are written by the caller: handing them over
/// would cost more than their write.
pub const HAND_OVER_FROM: u64 = 64 * 1024;

/// Metadata applied to a file after its content: owner (when restoring
/// owners), mode, xattrs, then times — the order of [`meta`].
#[derive(Debug, Clone)]
pub struct FileMeta {
    pub owner: Option<(u32, u32)>,
    pub mode: u32,
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    pub atime: Time,
    pub mtime: Time,
}

/// A created file being filled.
pub struct OpenFile {
    file: File,
    at: PathBuf,
    sparse: bool,
    written: u64,
    meta: FileMeta,
}

impl OpenFile {
    pub fn new(file: File, at: &Path, sparse: bool, meta: FileMeta) -> OpenFile {
        OpenFile {
            file,
            at: at.to_path_buf(),
            sparse,
            written: 0,
            meta,
        }
    }

    /// Appends `bytes`; a sparse file's all-zero blocks become holes.
    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        let at = &self.at;
        if self.sparse {
            for block in bytes.chunks(SPARSE_BLOCK) {
                if block.iter().all(|b| *b == 0) {
                    self.file
                        .seek(SeekFrom::Current(block.len() as i64))
                        .map_err(|e| Error::io(at, e))?;
                } else {
                    self.file.write_all(block).map_err(|e| Error::io(at, e))?;
                }
            }
        } else {
            self.file.write_all(bytes).map_err(|e| Error::io(at, e))?;
        }
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Sets the length (a trailing hole), the metadata and starts writeback;
    /// metadata that cannot be set is a warning naming the file.
    fn close(self, warnings: &mut Vec<String>) -> Result<()> {
        let at = &self.at;
        if self.sparse {
            self.file
                .set_len(self.written)
                .map_err(|e| Error::io(at, e))?;
        }
        let m = &self.meta;
        if let Some((uid, gid)) = m.owner {
            if let Err(e) = std::os::unix::fs::fchown(&self.file, Some(uid), Some(gid)) {
                warnings.push(Unset::Owner(uid, gid).warning(at, e));
            }
        }
        let mode = std::fs::Permissions::from_mode(m.mode);
        if let Err(e) = self.file.set_permissions(mode) {
            warnings.push(Unset::Mode(m.mode).warning(at, e));
        }
        for (k, v) in &m.xattrs {
            use xattr::FileExt;
            if let Err(e) = self.file.set_xattr(OsStr::from_bytes(k), v) {
                warnings.push(Unset::Xattr(k).warning(at, e));
            }
        }
        if let Err(e) = meta::set_file_times(&self.file, m.atime, m.mtime) {
            warnings.push(Unset::Times.warning(at, e));
        }
        start_writeback(&self.file);
        Ok(())
    }
}

/// Starts the kernel writing `file` out now, without waiting for it: the
/// step's closing syncfs then finds most of the data already on disk rather
/// than flushing the whole tree after the last byte. Advisory only; a failed
/// write is reported by that syncfs.
fn start_writeback(file: &File) {
    // SAFETY: a descriptor we own for the call; SYNC_FILE_RANGE_WRITE only queues I/O.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
    }
}

enum Job {
    Open(Box<OpenFile>),
    Data(Vec<u8>, usize),
    Close,
}

struct Worker {
    queue: SyncSender<Job>,
    /// Bytes handed to this writer and not yet written.
    pending: Arc<AtomicU64>,
    handle: JoinHandle<()>,
}

/// What the writers share with the caller.
#[derive(Default)]
struct Shared {
    /// The first failure; a writer that fails stops.
    failed: Mutex<Option<Error>>,
    warnings: Mutex<Vec<String>>,
}

/// The writer threads; [`Writers::finish`] waits for them.
pub struct Writers {
    workers: Vec<Worker>,
    emptied: Receiver<Vec<u8>>,
    shared: Arc<Shared>,
}

impl Writers {
    /// Starts one writer per core (at least one, at most four).
    pub fn start() -> Result<Writers> {
        let count = std::thread::available_parallelism().map_or(1, |n| n.get().clamp(1, 4));
        let (give_back, emptied) = sync_channel::<Vec<u8>>(count * (QUEUE + 2));
        let shared = Arc::new(Shared::default());
        let mut workers = Vec::with_capacity(count);
        for i in 0..count {
            let (queue, jobs) = sync_channel::<Job>(QUEUE);
            let pending = Arc::new(AtomicU64::new(0));
            let (p, s, g) = (Arc::clone(&pending), Arc::clone(&shared), give_back.clone());
            let handle = std::thread::Builder::new()
                .name(format!("xcatport-files-{i}"))
                .spawn(move || drain(jobs, &p, &s, &g))
                .map_err(|e| Error::io(Path::new("<writer thread>"), e))?;
            workers.push(Worker {
                queue,
                pending,
                handle,
            });
        }
        Ok(Writers {
            workers,
            emptied,
            shared,
        })
    }

    /// Hands `file` to the least busy writer and feeds it up to `size`
    /// bytes of `data`; returns how many bytes `data` gave (fewer than
    /// `size` when the archive ends early: the caller reports that).
    pub fn write<R: Read>(
        &mut self,
        file: OpenFile,
        data: &mut R,
        size: u64,
        progress: &dyn Progress,
    ) -> Result<u64> {
        self.check()?;
        let at = file.at.clone();
        let Some(worker) = self
            .workers
            .iter()
            .min_by_key(|w| w.pending.load(Ordering::Relaxed))
        else {
            return Err(Error::Refused("no writer thread is running".into()));
        };
        let mut total = 0u64;
        let mut sent = worker.queue.send(Job::Open(Box::new(file))).is_ok();
        while sent && total < size {
            let mut block = match self.emptied.try_recv() {
                Ok(b) => b,
                Err(_) => vec![0u8; BLOCK],
            };
            let want = (size - total).min(BLOCK as u64) as usize;
            let n = read_full(data, &mut block[..want], &at)?;
            if n == 0 {
                break;
            }
            total += n as u64;
            progress.inc(n as u64);
            worker.pending.fetch_add(n as u64, Ordering::Relaxed);
            sent = worker.queue.send(Job::Data(block, n)).is_ok();
        }
        // A short file is not closed: the caller fails the extraction, and
        // the journal has the file as created.
        if sent && total == size {
            sent = worker.queue.send(Job::Close).is_ok();
        }
        if !sent {
            self.check()?;
            return Err(Error::io(
                &at,
                std::io::Error::other("its writer thread stopped"),
            ));
        }
        Ok(total)
    }

    /// The first failure of a writer so far (handed out once): the
    /// extraction checks before each entry, so it stops at the first failure
    /// whatever kind of entry comes next.
    pub fn check(&self) -> Result<()> {
        match self.shared.failed.lock() {
            Ok(mut slot) => slot.take().map_or(Ok(()), Err),
            Err(_) => Err(Error::Refused("a writer thread panicked".into())),
        }
    }

    /// Waits for every handed-over file to be written; returns the first
    /// failure and the metadata warnings.
    pub fn finish(&mut self) -> (Result<()>, Vec<String>) {
        let mut panicked = false;
        for w in std::mem::take(&mut self.workers) {
            drop(w.queue);
            panicked |= w.handle.join().is_err();
        }
        let shared = &self.shared;
        let warnings = shared
            .warnings
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default();
        let failed = match shared.failed.lock() {
            Ok(mut slot) => slot.take(),
            Err(_) => None,
        };
        let result = match (failed, panicked) {
            (Some(e), _) => Err(e),
            (None, true) => Err(Error::Refused("a writer thread panicked".into())),
            (None, false) => Ok(()),
        };
        (result, warnings)
    }
}

/// A writer thread: files in the order handed over, each opened, filled and
/// closed. After a failure it records the error and stops taking jobs.
fn drain(
    jobs: Receiver<Job>,
    pending: &AtomicU64,
    shared: &Shared,
    give_back: &SyncSender<Vec<u8>>,
) {
    let mut current: Option<Box<OpenFile>> = None;
    let mut warnings = Vec::new();
    for job in jobs {
        let outcome = match job {
            Job::Open(file) => {
                current = Some(file);
                Ok(())
            }
            Job::Data(block, n) => {
                let r = match current.as_mut() {
                    Some(f) => f.write(&block[..n]),
                    None => Ok(()),
                };
                pending.fetch_sub(n as u64, Ordering::Relaxed);
                let _ = give_back.try_send(block);
                r
            }
            Job::Close => match current.take() {
                Some(f) => f.close(&mut warnings),
                None => Ok(()),
            },
        };
        if let Err(e) = outcome {
            if let Ok(mut slot) = shared.failed.lock() {
                slot.get_or_insert(e);
            }
            break;
        }
    }
    if let Ok(mut all) = shared.warnings.lock() {
        all.append(&mut warnings);
    }
}

/// Writes all of `data` (up to `size` bytes) into `file` on this thread.
pub fn write_here<R: Read>(
    mut file: OpenFile,
    data: &mut R,
    size: u64,
    progress: &dyn Progress,
    warnings: &mut Vec<String>,
) -> Result<u64> {
    let mut buf = vec![
        0u8;
        BLOCK
            .min(size.max(1) as usize)
            .next_multiple_of(SPARSE_BLOCK)
    ];
    let mut total = 0u64;
    while total < size {
        let want = (size - total).min(buf.len() as u64) as usize;
        let n = read_full(data, &mut buf[..want], &file.at)?;
        if n == 0 {
            break;
        }
        file.write(&buf[..n])?;
        total += n as u64;
        progress.inc(n as u64);
    }
    if total == size {
        file.close(warnings)?;
    }
    Ok(total)
}

fn read_full<R: Read>(r: &mut R, buf: &mut [u8], at: &Path) -> Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(at, e)),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn meta(mode: u32, secs: i64) -> FileMeta {
        FileMeta {
            owner: None,
            mode,
            xattrs: vec![(b"user.k".to_vec(), b"v".to_vec())],
            atime: Time { secs, nanos: 7 },
            mtime: Time { secs, nanos: 9 },
        }
    }

    #[test]
    fn metadata_goes_to_the_open_file_not_to_whatever_has_its_name_now() {
        let dir = tempfile::tempdir().unwrap();
        let at = dir.path().join("f");
        let file = File::create_new(&at).unwrap();
        let mut open = OpenFile::new(file, &at, false, meta(0o640, 1_600_000_000));
        open.write(b"first").unwrap();
        // The name is taken over (the same name later in the archive).
        std::fs::remove_file(&at).unwrap();
        std::fs::write(&at, b"second").unwrap();
        let before = std::fs::metadata(&at).unwrap();
        let mut warnings = Vec::new();
        open.close(&mut warnings).unwrap();
        assert_eq!(warnings, Vec::<String>::new());
        let after = std::fs::metadata(&at).unwrap();
        assert_eq!(std::fs::read(&at).unwrap(), b"second");
        assert_eq!(
            (after.mode(), after.mtime(), after.mtime_nsec()),
            (before.mode(), before.mtime(), before.mtime_nsec())
        );
        assert_eq!(xattr::get(&at, "user.k").unwrap(), None);
    }

    #[test]
    fn handed_over_files_are_written_with_their_metadata_and_holes() {
        let dir = tempfile::tempdir().unwrap();
        let mut writers = Writers::start().unwrap();
        let mut expected = Vec::new();
        for i in 0..9u32 {
            let at = dir.path().join(format!("f{i}"));
            let size = 100_000 + i as usize * 70_001;
            let mut body: Vec<u8> = (0..size).map(|j| (j as u32 * 13 + i) as u8).collect();
            let sparse = i % 3 == 0;
            if sparse {
                body[SPARSE_BLOCK..size / 2].fill(0);
            }
            let file = File::create_new(&at).unwrap();
            let open = OpenFile::new(file, &at, sparse, meta(0o600 + i, 1_600_000_000 + i as i64));
            let n = writers
                .write(open, &mut &body[..], size as u64, &crate::progress::Hidden)
                .unwrap();
            assert_eq!(n, size as u64);
            expected.push((at, body, sparse, i));
        }
        let (result, warnings) = writers.finish();
        result.unwrap();
        assert_eq!(warnings, Vec::<String>::new());
        for (at, body, sparse, i) in expected {
            assert_eq!(std::fs::read(&at).unwrap(), body, "{}", at.display());
            let m = std::fs::metadata(&at).unwrap();
            assert_eq!(m.mode() & 0o7777, 0o600 + i);
            assert_eq!((m.mtime(), m.mtime_nsec()), (1_600_000_000 + i as i64, 9));
            assert_eq!(xattr::get(&at, "user.k").unwrap(), Some(b"v".to_vec()));
            if sparse {
                assert!(
                    (m.blocks() as usize * 512) < body.len() / 2 + 2 * BLOCK,
                    "{}: {} blocks for {} bytes",
                    at.display(),
                    m.blocks(),
                    body.len()
                );
            }
        }
    }

    #[test]
    fn a_short_source_leaves_the_file_unclosed_and_reports_the_bytes_given() {
        let dir = tempfile::tempdir().unwrap();
        let at = dir.path().join("short");
        let mut writers = Writers::start().unwrap();
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&at)
            .unwrap();
        let open = OpenFile::new(file, &at, false, meta(0o644, 1_600_000_000));
        let body = vec![5u8; 300_000];
        let n = writers
            .write(open, &mut &body[..], 1 << 20, &crate::progress::Hidden)
            .unwrap();
        assert_eq!(n, 300_000);
        let (result, _) = writers.finish();
        result.unwrap();
        // written, but never given its metadata: the caller fails the run
        let m = std::fs::metadata(&at).unwrap();
        assert_eq!((m.len(), m.mode() & 0o7777), (300_000, 0o600));
    }
}
