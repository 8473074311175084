//! A file writer that keeps the stick's writeback going while it writes.
//!
//! Left to itself the kernel starts writing dirty pages back only once a
//! tenth of memory is dirty, so a multi-GB stream would sit in the page
//! cache until the final syncfs: the progress bar would reach 100% at
//! memory speed and then hang for the stick's whole write time. Here each
//! few MiB are queued for writeback as soon as they are written, and the
//! writer waits for ranges far behind it, so the data in flight stays
//! bounded, progress follows the stick, and the final syncfs has little left.
//!
//! A write-out error met on the way (EIO from a range waited for) fails the
//! next write: syncfs reports such errors only on Linux 5.8 and later, and
//! the verifying re-read would be served from the page cache.
//!
//! On ext4 and XFS the file is also allocated ahead of the writes, a few
//! dozen MiB at a time, and cut back to what was written at the end. A
//! buffered write into allocated blocks skips the delayed-allocation
//! bookkeeping each page otherwise costs: a third of the kernel time of
//! writing a large volume. Where allocation is emulated by writing zeros
//! (FAT) or defeated by copy-on-write (btrfs), it is not done.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsRawFd;

/// Bytes gathered before they are queued for writeback.
const START_EVERY: u64 = 8 << 20;
/// How far behind the write position the writer waits for writeback to finish.
const WAIT_BEHIND: u64 = 128 << 20;
/// Bytes allocated ahead of the write position at a time.
const ALLOCATE_AHEAD: u64 = 64 << 20;
/// Allocating ahead stops when the filesystem has less free than this, so
/// that space held ahead never makes another file on the stick run short.
const ALLOCATE_WHILE_FREE: u64 = 8 * ALLOCATE_AHEAD;

/// Writes into a file and keeps its writeback close behind.
pub struct Writeback {
    file: File,
    written: u64,
    /// The file is allocated up to here (0: not allocating ahead).
    allocated: u64,
    allocate: bool,
    /// Everything below this offset is queued for writeback.
    started: u64,
    /// Everything below this offset has been waited for.
    waited: u64,
    /// The first write-out error, reported by the next write.
    failed: Option<io::Error>,
}

impl Writeback {
    pub fn new(file: File) -> Writeback {
        let allocate = allocates_cheaply(&file);
        Writeback {
            file,
            written: 0,
            allocated: 0,
            allocate,
            started: 0,
            waited: 0,
            failed: None,
        }
    }

    /// Cuts the file back to what was written (the allocation ahead is
    /// part of its size) and returns it.
    pub fn finish(mut self) -> io::Result<File> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        // By the file's length, not by what was asked for: a fallocate
        // refused part-way (a full target) may have extended it anyway.
        if self.allocated > 0 && self.file.metadata()?.len() != self.written {
            self.file.set_len(self.written)?;
        }
        Ok(self.file)
    }

    /// Allocates the next stretch before a write that would pass the
    /// allocated end. A refusal (a full target) only stops allocating:
    /// the write itself then reports it.
    fn allocate_for(&mut self, len: usize) {
        let end = self.written + len as u64;
        if !self.allocate || end <= self.allocated {
            return;
        }
        if free_space(&self.file) < ALLOCATE_WHILE_FREE {
            self.allocate = false;
            return;
        }
        let upto = end + ALLOCATE_AHEAD;
        let (Ok(from), Ok(size)) = (
            i64::try_from(self.allocated),
            i64::try_from(upto - self.allocated),
        ) else {
            self.allocate = false;
            return;
        };
        // Marks that the length may now differ from what was written.
        self.allocated = self.allocated.max(1);
        // SAFETY: a descriptor this struct owns; fallocate touches no memory of ours.
        let done = unsafe { libc::fallocate(self.file.as_raw_fd(), 0, from, size) };
        if done == 0 {
            self.allocated = upto;
        } else {
            self.allocate = false;
        }
    }

    fn keep_up(&mut self) {
        if self.written - self.started >= START_EVERY {
            self.note(sync_range(
                &self.file,
                self.started,
                self.written - self.started,
                false,
            ));
            self.started = self.written;
        }
        let behind = self.started.saturating_sub(WAIT_BEHIND);
        if behind > self.waited {
            self.note(sync_range(
                &self.file,
                self.waited,
                behind - self.waited,
                true,
            ));
            self.waited = behind;
        }
    }

    /// Keeps the first real write-out error; a filesystem without
    /// sync_file_range (EINVAL, ENOSYS…) is only not kept up with.
    fn note(&mut self, outcome: io::Result<()>) {
        if let Err(e) = outcome {
            let unsupported = matches!(
                e.raw_os_error(),
                Some(libc::EINVAL | libc::ENOSYS | libc::ESPIPE | libc::EOPNOTSUPP)
            );
            if !unsupported && self.failed.is_none() {
                self.failed = Some(e);
            }
        }
    }
}

/// Queues `len` bytes at `offset` for writeback, and with `wait` waits until
/// the bytes before them are written.
fn sync_range(file: &File, offset: u64, len: u64, wait: bool) -> io::Result<()> {
    let flags = if wait {
        libc::SYNC_FILE_RANGE_WAIT_BEFORE | libc::SYNC_FILE_RANGE_WRITE
    } else {
        libc::SYNC_FILE_RANGE_WRITE
    };
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return Ok(());
    };
    // SAFETY: a descriptor this struct owns; sync_file_range only starts or
    // waits for I/O on it and touches no memory of ours.
    let done = unsafe { libc::sync_file_range(file.as_raw_fd(), offset, len, flags) };
    if done == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Bytes free to an unprivileged writer on `file`'s filesystem (0 if unknown).
fn free_space(file: &File) -> u64 {
    match nix::sys::statvfs::fstatvfs(file) {
        #[allow(clippy::unnecessary_cast)]
        Ok(st) => (st.blocks_available() as u64).saturating_mul(st.fragment_size() as u64),
        Err(_) => 0,
    }
}

/// Whether `file` lies on a filesystem where allocating ahead is cheap and
/// pays (see the module comment).
fn allocates_cheaply(file: &File) -> bool {
    matches!(crate::target::fs::name_of_file(file), Some("ext4" | "xfs"))
}

impl Write for Writeback {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        self.allocate_for(buf.len());
        let n = self.file.write(buf)?;
        self.written += n as u64;
        self.keep_up();
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn every_byte_reaches_the_file_whatever_the_write_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("volume");
        let mut w = Writeback::new(File::create(&path).unwrap());
        let mut expected = Vec::new();
        let mut size = 1usize;
        while expected.len() < (2 * WAIT_BEHIND + START_EVERY) as usize {
            let piece: Vec<u8> = (0..size).map(|i| (i * 31 + size) as u8).collect();
            w.write_all(&piece).unwrap();
            expected.extend_from_slice(&piece);
            size = (size * 3 + 7) % (3 << 20);
        }
        w.flush().unwrap();
        assert!(w.waited > 0, "ranges far behind were waited for");
        assert!(w.started >= w.waited && w.started <= w.written);
        let probe = File::open(&path).unwrap();
        if allocates_cheaply(&probe) && free_space(&probe) > 2 * ALLOCATE_WHILE_FREE {
            assert!(w.allocated > w.written, "allocated ahead on ext4/XFS");
        }
        let file = w.finish().unwrap();
        assert_eq!(
            file.metadata().unwrap().len(),
            expected.len() as u64,
            "cut back to what was written"
        );
        drop(file);
        let mut back = Vec::new();
        File::open(&path).unwrap().read_to_end(&mut back).unwrap();
        assert!(
            back == expected,
            "file content differs from what was written"
        );
    }
}
