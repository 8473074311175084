//! SHA-256 on the fly: readers and writers that hash what passes through.
//! A writer can also keep an XXH3-128 of the same bytes, which the export's
//! verifying re-read compares against (see [`super::readback`]).

use sha2::{Digest, Sha256};
use std::io::{self, Read, Write};
use xxhash_rust::xxh3::Xxh3;

/// Hashes and counts bytes read from the inner reader.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// Feeds bytes that are part of the content but not read (holes of a sparse file).
    pub fn feed_zeros(&mut self, mut n: u64) {
        let zeros = [0u8; 8192];
        while n > 0 {
            let k = n.min(zeros.len() as u64) as usize;
            self.hasher.update(&zeros[..k]);
            n -= k as u64;
        }
    }

    /// Feeds content that was read some other way (segments of a sparse file).
    pub fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn finish(self) -> String {
        hex::encode(self.hasher.finalize())
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// Hashes and counts bytes written through to the inner writer.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    check: Option<Box<SegmentCheck>>,
    count: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            check: None,
            count: 0,
        }
    }

    /// Also keeps the XXH3-128 of what is written, for [`Self::finish_checked`].
    pub fn with_check(inner: W) -> Self {
        HashingWriter {
            check: Some(Box::new(SegmentCheck::new())),
            ..HashingWriter::new(inner)
        }
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The inner writer, the hex digest and the byte count.
    pub fn finish(self) -> (W, String, u64) {
        (self.inner, hex::encode(self.hasher.finalize()), self.count)
    }

    /// The inner writer, the hex digest, and the re-read check of what was
    /// written (no segments when made without [`Self::with_check`]).
    pub fn finish_checked(self) -> (W, String, WrittenCheck) {
        let segments = self.check.map_or_else(Vec::new, |c| c.finish());
        let check = WrittenCheck {
            size: self.count,
            segments,
        };
        (self.inner, hex::encode(self.hasher.finalize()), check)
    }
}

/// Bytes per re-read segment: large enough that its check costs nothing,
/// small enough that one large volume is re-read on every core.
pub const CHECK_SEGMENT: u64 = 64 << 20;

/// Size and the XXH3-128 of each [`CHECK_SEGMENT`] of the bytes written
/// into a stick file (the last segment may be shorter; none if empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenCheck {
    pub size: u64,
    pub segments: Vec<u128>,
}

/// XXH3-128 of consecutive [`CHECK_SEGMENT`]s of a byte stream.
pub struct SegmentCheck {
    current: Xxh3,
    in_current: u64,
    done: Vec<u128>,
}

impl SegmentCheck {
    pub fn new() -> Self {
        SegmentCheck {
            current: Xxh3::new(),
            in_current: 0,
            done: Vec::new(),
        }
    }

    pub fn update(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let room = (CHECK_SEGMENT - self.in_current).min(bytes.len() as u64) as usize;
            self.current.update(&bytes[..room]);
            self.in_current += room as u64;
            bytes = &bytes[room..];
            if self.in_current == CHECK_SEGMENT {
                self.done.push(self.current.digest128());
                self.current.reset();
                self.in_current = 0;
            }
        }
    }

    pub fn finish(mut self) -> Vec<u128> {
        if self.in_current > 0 {
            self.done.push(self.current.digest128());
        }
        self.done
    }
}

impl Default for SegmentCheck {
    fn default() -> Self {
        Self::new()
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        if let Some(check) = self.check.as_mut() {
            check.update(&buf[..n]);
        }
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The [`WrittenCheck`] of a file's content as it reads now (the export's
/// re-read checks each segment on its own instead: `verify::check_segment`).
#[cfg(test)]
pub fn file_check(path: &std::path::Path) -> crate::Result<WrittenCheck> {
    use crate::error::IoContext;
    let mut file = std::fs::File::open(path).at(path)?;
    let mut check = SegmentCheck::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(crate::Error::io(path, e)),
        };
        check.update(&buf[..n]);
        size += n as u64;
    }
    Ok(WrittenCheck {
        size,
        segments: check.finish(),
    })
}

/// Hex SHA-256 and size of a file, read once in large blocks.
pub fn file_sha256(path: &std::path::Path) -> crate::Result<(String, u64)> {
    use crate::error::IoContext;
    let file = std::fs::File::open(path).at(path)?;
    let mut reader = HashingReader::new(io::BufReader::with_capacity(1 << 20, file));
    io::copy(&mut reader, &mut io::sink()).at(path)?;
    let n = reader.count();
    Ok((reader.finish(), n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::test_io::write_in_odd_pieces;
    use xxhash_rust::xxh3::xxh3_128;

    #[test]
    fn segments_are_cut_at_fixed_offsets_whatever_the_write_sizes() {
        let seg = CHECK_SEGMENT as usize;
        let data: Vec<u8> = (0..2 * seg + seg / 2)
            .map(|i| (i % 251) as u8 ^ (i >> 20) as u8)
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("volume");
        let mut w = HashingWriter::with_check(std::fs::File::create(&path).unwrap());
        write_in_odd_pieces(&mut w, &data, 7 << 20);
        let (_, _, check) = w.finish_checked();
        let expected: Vec<u128> = data.chunks(seg).map(xxh3_128).collect();
        assert_eq!(check.segments, expected);
        assert_eq!(check.size, data.len() as u64);
        assert_eq!(file_check(&path).unwrap(), check);
    }

    #[test]
    fn an_empty_file_has_no_segments() {
        let (_, _, check) = HashingWriter::with_check(Vec::new()).finish_checked();
        assert_eq!(
            check,
            WrittenCheck {
                size: 0,
                segments: Vec::new()
            }
        );
    }
}
