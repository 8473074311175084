//! Reading stick files back for verification: through the page cache, or
//! from the device itself with `O_DIRECT`.
//!
//! Right after an export the page cache still holds every byte written, so
//! an ordinary re-read shows what the filesystem took, not what the stick
//! keeps. `O_DIRECT` reads skip the cache whatever else maps or pins its
//! pages, which advice such as `POSIX_FADV_DONTNEED` cannot promise.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

/// Where the verifying re-read gets the bytes it checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReRead {
    /// Through the page cache: shows that the filesystem took exactly what
    /// was written, at memory speed; it cannot show what the device keeps.
    #[default]
    PageCache,
    /// From the device, with direct reads after the sync: catches sticks
    /// that do not keep what they were given (fake capacity, failing
    /// flash), at the stick's read speed.
    Media,
}

/// Piece size of cached reads.
const CACHED_PIECE: usize = 1 << 20;
/// Piece size of direct reads: large, since nothing reads ahead of them.
const DIRECT_PIECE: usize = 4 << 20;
/// Alignment of direct reads' buffer, offset and length: the largest
/// logical block size of common devices.
pub const DIRECT_ALIGN: usize = 4096;

/// Reads `path` from `offset` to its end, or `len` bytes if given, handing
/// each piece to `each`; returns how many bytes were read (fewer than `len`
/// when the file is shorter). Direct reads need `offset` aligned to
/// [`DIRECT_ALIGN`].
pub fn read_range(
    path: &Path,
    offset: u64,
    len: Option<u64>,
    via: ReRead,
    each: &mut dyn FnMut(&[u8]),
) -> io::Result<u64> {
    match via {
        ReRead::PageCache => {
            let file = File::open(path)?;
            let mut buf = vec![0u8; CACHED_PIECE];
            read_pieces(&file, &mut buf, offset, len, 1, each)
        }
        ReRead::Media => {
            if offset % DIRECT_ALIGN as u64 != 0 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("direct read at unaligned offset {offset}"),
                ));
            }
            let file = open_direct(path)?;
            let mut raw = vec![0u8; DIRECT_PIECE + DIRECT_ALIGN];
            let start = raw.as_ptr().align_offset(DIRECT_ALIGN);
            let buf = &mut raw[start..start + DIRECT_PIECE];
            read_pieces(&file, buf, offset, len, DIRECT_ALIGN, each)
        }
    }
}

/// Opens `path` for reads that bypass the page cache; a filesystem that
/// does not allow them gives an error saying so.
pub fn open_direct(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::EINVAL) {
                io::Error::new(
                    io::ErrorKind::Unsupported,
                    "the filesystem does not allow direct reads (O_DIRECT)",
                )
            } else {
                e
            }
        })
}

/// Reads pieces of at most `buf.len()` bytes, each request rounded up to
/// `align`. A read that ends off the alignment is the end of the file.
fn read_pieces(
    file: &File,
    buf: &mut [u8],
    offset: u64,
    len: Option<u64>,
    align: usize,
    each: &mut dyn FnMut(&[u8]),
) -> io::Result<u64> {
    let mut left = len.unwrap_or(u64::MAX);
    let mut at = offset;
    let mut total = 0;
    while left > 0 {
        let want = (left.min(buf.len() as u64) as usize).next_multiple_of(align);
        let n = match file.read_at(&mut buf[..want], at) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let take = (n as u64).min(left);
        each(&buf[..take as usize]);
        total += take;
        left -= take;
        at += n as u64;
        if n % align != 0 {
            break;
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(path: &Path, offset: u64, len: Option<u64>, via: ReRead) -> (Vec<u8>, u64) {
        let mut got = Vec::new();
        let n = read_range(path, offset, len, via, &mut |b| got.extend_from_slice(b)).unwrap();
        (got, n)
    }

    #[test]
    fn both_paths_read_the_same_ranges_up_to_the_end_of_the_file() {
        // /var/tmp: tmpfs refuses O_DIRECT on older kernels.
        let dir = tempfile::tempdir_in("/var/tmp").unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..DIRECT_PIECE * 2 + 12_345)
            .map(|i| (i % 251) as u8)
            .collect();
        std::fs::write(&path, &data).unwrap();
        let size = data.len() as u64;
        for via in [ReRead::PageCache, ReRead::Media] {
            assert_eq!(
                collect(&path, 0, None, via),
                (data.clone(), size),
                "{via:?}"
            );
            let (got, n) = collect(&path, 8192, Some(5_000_000), via);
            assert_eq!((&got[..], n), (&data[8192..8192 + 5_000_000], 5_000_000));
            // A length past the end stops at the end.
            let from = DIRECT_PIECE as u64 * 2;
            let (got, n) = collect(&path, from, Some(1 << 20), via);
            assert_eq!((&got[..], n), (&data[from as usize..], 12_345), "{via:?}");
            assert_eq!(collect(&path, size + 4096 - size % 4096, None, via).1, 0);
        }
        let err = read_range(&path, 100, None, ReRead::Media, &mut |_| {}).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
