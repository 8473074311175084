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
    check: Option<Box<Xxh3>>,
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
            check: Some(Box::new(Xxh3::new())),
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
    /// written (zero-length content when made without [`Self::with_check`]).
    pub fn finish_checked(self) -> (W, String, WrittenCheck) {
        let check = WrittenCheck {
            size: self.count,
            xxh3: self.check.map_or(0, |c| c.digest128()),
        };
        (self.inner, hex::encode(self.hasher.finalize()), check)
    }
}

/// Size and XXH3-128 of the bytes written into a stick file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrittenCheck {
    pub size: u64,
    pub xxh3: u128,
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

/// Size and XXH3-128 of a file, read once in large blocks.
pub fn file_check(path: &std::path::Path) -> crate::Result<WrittenCheck> {
    use crate::error::IoContext;
    let mut file = std::fs::File::open(path).at(path)?;
    let mut check = Xxh3::new();
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
        xxh3: check.digest128(),
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
