//! Cutting one byte stream into volumes: `NAME` or `NAME.000`, `NAME.001` …
//!
//! Volumes are plain byte slices of the compressed stream, so
//! `cat NAME.* | zstd -dc | tar -t` reads them with standard tools. Each
//! volume is hashed while it is written (SHA-256, and the XXH3 its
//! verifying re-read compares against); the stream is never read back here.

use super::hash::HashingWriter;
use super::manifest::VolumeRecord;
use super::readback::ReadBack;
use super::writeback::Writeback;
use crate::error::IoContext;
use crate::{Error, Result};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Largest file a FAT32 filesystem can hold.
pub const FAT_MAX_FILE: u64 = (4 << 30) - 1;

/// How a stream is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// One file, no suffix.
    None,
    /// Slices of this size, always suffixed (the user asked for `--split`).
    Always(u64),
    /// Slices of this size only if needed (a FAT target); a single slice keeps the plain name.
    IfLarger(u64),
}

/// Path of the volume file that failed to write, shared with the caller so it
/// can name the file even though the error travels through the compressor.
pub type FailedPath = Arc<Mutex<Option<PathBuf>>>;

/// A `Write` that spreads its bytes over volume files in `dir`.
pub struct VolumeWriter {
    dir: PathBuf,
    base: String,
    split: Split,
    current: Option<(PathBuf, HashingWriter<BufWriter<Writeback>>)>,
    done: Vec<VolumeRecord>,
    readback: ReadBack,
    failed: FailedPath,
}

impl VolumeWriter {
    pub fn new(dir: &Path, base: &str, split: Split) -> VolumeWriter {
        VolumeWriter {
            dir: dir.to_path_buf(),
            base: base.to_string(),
            split,
            current: None,
            done: Vec::new(),
            readback: ReadBack::default(),
            failed: Arc::new(Mutex::new(None)),
        }
    }

    /// A handle that names the volume that failed, if a write failed.
    pub fn failed_path(&self) -> FailedPath {
        Arc::clone(&self.failed)
    }

    fn limit(&self) -> Option<u64> {
        match self.split {
            Split::None => None,
            Split::Always(n) | Split::IfLarger(n) => Some(n),
        }
    }

    fn name(&self, index: usize) -> String {
        match self.split {
            Split::None => self.base.clone(),
            _ => format!("{}.{index:03}", self.base),
        }
    }

    fn open_next(&mut self) -> io::Result<()> {
        let index = self.done.len();
        if self.limit().is_some() && index > 999 {
            return Err(io::Error::other(format!(
                "{}: more than 1000 volumes; use a larger --split size",
                self.base
            )));
        }
        let path = self.dir.join(self.name(index));
        // Owner-only: the data stream carries private keys and the DB dump.
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .inspect_err(|_| self.remember(&path))?;
        self.current = Some((
            path,
            HashingWriter::with_check(BufWriter::with_capacity(1 << 20, Writeback::new(file))),
        ));
        Ok(())
    }

    fn close_current(&mut self) -> io::Result<()> {
        if let Some((path, writer)) = self.current.take() {
            let (buf, sha256, check) = writer.finish_checked();
            buf.into_inner()
                .map_err(|e| e.into_error())
                .and_then(Writeback::finish)
                .inspect_err(|_| self.remember(&path))?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let size = check.size;
            self.readback.insert(&name, check);
            self.done.push(VolumeRecord { name, size, sha256 });
        }
        Ok(())
    }

    fn remember(&self, path: &Path) {
        if let Ok(mut slot) = self.failed.lock() {
            slot.get_or_insert_with(|| path.to_path_buf());
        }
    }

    /// Closes the last volume and returns all of them in order, with what
    /// was written into each for the verifying re-read.
    pub fn finish(mut self) -> Result<(Vec<VolumeRecord>, ReadBack)> {
        if self.current.is_none() && self.done.is_empty() {
            self.open_next()
                .map_err(|e| Error::io(self.dir.join(self.name(0)), e))?;
        }
        let last = self.current.as_ref().map(|(p, _)| p.clone());
        self.close_current()
            .map_err(|e| Error::io(last.unwrap_or_else(|| self.dir.clone()), e))?;
        if matches!(self.split, Split::IfLarger(_)) && self.done.len() == 1 {
            let from = self.dir.join(&self.done[0].name);
            let to = self.dir.join(&self.base);
            std::fs::rename(&from, &to).at(&from)?;
            self.readback.rename(&self.done[0].name, &self.base);
            self.done[0].name = self.base.clone();
        }
        Ok((self.done, self.readback))
    }
}

impl Write for VolumeWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if let (Some(limit), Some((_, w))) = (self.limit(), &self.current) {
            if w.count() >= limit {
                self.close_current()?;
            }
        }
        if self.current.is_none() {
            self.open_next()?;
        }
        let limit = self.limit();
        let Some((path, w)) = self.current.as_mut() else {
            return Err(io::Error::other("volume writer has no open volume"));
        };
        let room = limit.map_or(buf.len() as u64, |l| l - w.count());
        let n = (buf.len() as u64).min(room) as usize;
        match w.write(&buf[..n]) {
            Ok(k) => Ok(k),
            Err(e) => {
                let path = path.clone();
                self.remember(&path);
                Err(e)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.current.as_mut() {
            Some((path, w)) => {
                let r = w.flush();
                if r.is_err() {
                    let path = path.clone();
                    self.remember(&path);
                }
                r
            }
            None => Ok(()),
        }
    }
}

/// Parses `--split` sizes: bytes, or with a K, M, G or T suffix (powers of 1024).
pub fn parse_size(text: &str) -> Result<u64> {
    let t = text.trim();
    let (digits, mult) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let mult: u64 = match c.to_ascii_uppercase() {
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => 0,
            };
            (&t[..i], mult)
        }
        _ => (t, 1),
    };
    let n: u64 = digits.parse().unwrap_or(0);
    match n.checked_mul(mult) {
        Some(size) if size >= 4096 => Ok(size),
        _ => Err(Error::Refused(format!(
            "--split {text}: expected a size of at least 4K, like 4095M or 2G"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_suffixes_and_refuse_nonsense() {
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("64K").unwrap(), 65536);
        assert_eq!(parse_size("2g").unwrap(), 2 << 30);
        assert!(parse_size("12").is_err());
        assert!(parse_size("lots").is_err());
        assert!(parse_size("3Q").is_err());
    }

    #[test]
    fn slices_concatenate_to_the_stream_and_hash_per_volume() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = VolumeWriter::new(dir.path(), "s.bin", Split::Always(5000));
        let data: Vec<u8> = (0..12_345u32).map(|i| (i % 251) as u8).collect();
        for chunk in data.chunks(777) {
            w.write_all(chunk).unwrap();
        }
        let (vols, readback) = w.finish().unwrap();
        let names: Vec<_> = vols.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["s.bin.000", "s.bin.001", "s.bin.002"]);
        assert_eq!(
            vols.iter().map(|v| v.size).collect::<Vec<_>>(),
            [5000, 5000, 2345]
        );
        let mut joined = Vec::new();
        for v in &vols {
            let bytes = std::fs::read(dir.path().join(&v.name)).unwrap();
            assert_eq!(
                super::super::hash::file_sha256(&dir.path().join(&v.name))
                    .unwrap()
                    .0,
                v.sha256
            );
            let check = super::super::hash::file_check(&dir.path().join(&v.name)).unwrap();
            assert_eq!(readback.get(&v.name), Some(&check));
            assert_eq!(check.size, v.size);
            joined.extend(bytes);
        }
        assert_eq!(joined, data);
    }

    #[test]
    fn a_single_automatic_slice_keeps_the_plain_name() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = VolumeWriter::new(dir.path(), "s.bin", Split::IfLarger(1 << 20));
        w.write_all(b"hello").unwrap();
        let (vols, readback) = w.finish().unwrap();
        assert_eq!(vols[0].name, "s.bin");
        assert_eq!(readback.len(), 1);
        assert_eq!(
            readback.get("s.bin"),
            Some(&super::super::hash::file_check(&dir.path().join("s.bin")).unwrap())
        );
        assert_eq!(std::fs::read(dir.path().join("s.bin")).unwrap(), b"hello");
    }
}
