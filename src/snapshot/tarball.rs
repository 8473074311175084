//! Tar members for the data stream: owner and group names and ids, modes,
//! mtimes, xattrs (PAX `SCHILY.xattr.*`), hardlinks, symlinks, GNU sparse
//! files, GNU long names (non-UTF-8 names kept byte for byte). Each file is
//! hashed as it is read; nothing is read twice.

use super::hash::HashingReader;
use super::manifest::{FileRecord, Kind};
use crate::mn::accounts::Accounts;
use crate::plan::Entry;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use tar::{EntryType, GnuExtSparseHeader, Header};

/// An I/O error while reading a source file (as opposed to writing the stream).
#[derive(Debug)]
pub struct SourceError {
    pub path: PathBuf,
    pub error: io::Error,
}

impl std::fmt::Display for SourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.error)
    }
}

impl std::error::Error for SourceError {}

fn source_err(path: &Path, error: io::Error) -> io::Error {
    io::Error::new(
        error.kind(),
        SourceError {
            path: path.to_path_buf(),
            error,
        },
    )
}

/// Bytes of file content read per call.
const CONTENT_BUFFER: usize = 1 << 20;

/// Writes plan entries and generated members into one tar stream.
pub struct TarWriter<W: Write> {
    builder: tar::Builder<W>,
    names: Accounts,
    /// (dev, ino) → first path and its record, only for files with several links.
    links: HashMap<(u64, u64), (PathBuf, Option<String>)>,
    /// File content passes through here on its way into the stream.
    buffer: Vec<u8>,
    /// Content bytes read from the source.
    pub bytes_in: u64,
    pub entries: u64,
}

impl<W: Write> TarWriter<W> {
    pub fn new(out: W, names: Accounts) -> TarWriter<W> {
        let mut builder = tar::Builder::new(out);
        builder.follow_symlinks(false);
        TarWriter {
            builder,
            names,
            links: HashMap::new(),
            buffer: vec![0; CONTENT_BUFFER],
            bytes_in: 0,
            entries: 0,
        }
    }

    /// Appends one entry of the plan and returns its manifest record.
    /// Errors reading the source carry a [`SourceError`].
    pub fn append_entry(&mut self, entry: &Entry) -> io::Result<FileRecord> {
        let meta = &entry.meta;
        let ft = meta.file_type();
        let mut header = self.base_header(meta);
        self.append_xattrs(&entry.path)?;
        let mut record = self.record(entry);
        if ft.is_dir() {
            header.set_entry_type(EntryType::Directory);
            header.set_size(0);
            record.kind = Kind::Dir;
            // A trailing slash, as GNU tar writes directory names.
            self.builder
                .append_data(&mut header, entry.rel.join(""), io::empty())?;
        } else if ft.is_symlink() {
            let target = std::fs::read_link(&entry.path).map_err(|e| source_err(&entry.path, e))?;
            header.set_entry_type(EntryType::Symlink);
            header.set_size(0);
            record.kind = Kind::Symlink;
            record.link = Some(target.to_string_lossy().into_owned());
            self.builder.append_link(&mut header, &entry.rel, &target)?;
        } else if ft.is_file() {
            let key = (meta.dev(), meta.ino());
            if meta.nlink() > 1 {
                if let Some((first, sha)) = self.links.get(&key) {
                    header.set_entry_type(EntryType::Link);
                    header.set_size(0);
                    record.kind = Kind::Hardlink;
                    record.link = Some(first.to_string_lossy().into_owned());
                    record.sha256 = sha.clone();
                    let first = first.clone();
                    self.builder.append_link(&mut header, &entry.rel, &first)?;
                    self.entries += 1;
                    return Ok(record);
                }
            }
            record.kind = Kind::File;
            let sha = self.append_file(&mut header, entry)?;
            record.sha256 = Some(sha.clone());
            if meta.nlink() > 1 {
                self.links.insert(key, (entry.rel.clone(), Some(sha)));
            }
        } else {
            return Err(source_err(
                &entry.path,
                io::Error::other("special files (sockets, fifos, devices) are not exported"),
            ));
        }
        self.entries += 1;
        Ok(record)
    }

    /// Appends a generated member (the DB dump): root-owned, `mode`, now.
    pub fn append_generated(
        &mut self,
        name: &str,
        mode: u32,
        size: u64,
        data: impl Read,
    ) -> io::Result<()> {
        let mut header = Header::new_gnu();
        header.set_entry_type(if size == 0 && name.ends_with('/') {
            EntryType::Directory
        } else {
            EntryType::Regular
        });
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_username("root")?;
        header.set_groupname("root")?;
        header.set_mtime(now());
        header.set_size(size);
        self.builder.append_data(&mut header, name, data)?;
        self.entries += 1;
        self.bytes_in += size;
        Ok(())
    }

    /// Writes the end-of-archive blocks and returns the inner writer.
    pub fn finish(self) -> io::Result<W> {
        self.builder.into_inner()
    }

    fn base_header(&self, meta: &std::fs::Metadata) -> Header {
        let mut header = Header::new_gnu();
        header.set_mode(meta.mode() & 0o7777);
        header.set_uid(u64::from(meta.uid()));
        header.set_gid(u64::from(meta.gid()));
        // Names longer than the header field (32 bytes) stay numeric-only in the
        // tar; MANIFEST.json keeps them in full.
        if let Some(user) = self.names.user_name(meta.uid()) {
            let _ = header.set_username(user);
        }
        if let Some(group) = self.names.group_name(meta.gid()) {
            let _ = header.set_groupname(group);
        }
        header.set_mtime(meta.mtime().max(0) as u64);
        header
    }

    fn record(&self, entry: &Entry) -> FileRecord {
        let meta = &entry.meta;
        let bytes = entry.rel.as_os_str().as_bytes();
        let utf8 = std::str::from_utf8(bytes).is_ok();
        FileRecord {
            path: entry.rel.to_string_lossy().into_owned(),
            path_hex: (!utf8).then(|| hex::encode(bytes)),
            kind: Kind::File,
            section: entry.section,
            size: if meta.is_file() { meta.len() } else { 0 },
            sha256: None,
            mode: format!("{:04o}", meta.mode() & 0o7777),
            uid: meta.uid(),
            gid: meta.gid(),
            user: self.names.user_name(meta.uid()).map(str::to_string),
            group: self.names.group_name(meta.gid()).map(str::to_string),
            mtime: meta.mtime(),
            link: None,
        }
    }

    fn append_xattrs(&mut self, path: &Path) -> io::Result<()> {
        let names = match xattr::list(path) {
            Ok(names) => names,
            // Filesystems without xattr support simply have none.
            Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => return Ok(()),
            Err(e) => return Err(source_err(path, e)),
        };
        let mut records: Vec<(String, Vec<u8>)> = Vec::new();
        for name in names {
            let Some(text) = name.to_str() else { continue };
            if let Some(value) = xattr::get(path, &name).map_err(|e| source_err(path, e))? {
                // PAX readers (the tar crate's among them) split records at
                // newlines, so such values travel base64-encoded in
                // libarchive's form, which the restore reads.
                if value.contains(&b'\n') {
                    let key = format!("LIBARCHIVE.xattr.{}", percent_encode(name.as_bytes()));
                    records.push((key, base64_encode(&value).into_bytes()));
                } else {
                    records.push((format!("SCHILY.xattr.{text}"), value));
                }
            }
        }
        if records.is_empty() {
            return Ok(());
        }
        self.builder
            .append_pax_extensions(records.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
    }

    /// Regular file content, sparse-aware; returns the content's SHA-256.
    fn append_file(&mut self, header: &mut Header, entry: &Entry) -> io::Result<String> {
        let path = &entry.path;
        let file = File::options()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
            .map_err(|e| source_err(path, e))?;
        let size = entry.meta.len();
        header.set_entry_type(EntryType::Regular);
        let sparse = if entry.meta.blocks() * 512 < size {
            data_segments(&file, size).map_err(|e| source_err(path, e))?
        } else {
            None
        };
        match sparse {
            None => {
                header.set_size(size);
                // The builder writes the header (and any long-name record);
                // the content is copied here, read straight into one reused
                // buffer and hashed there: the builder's own copy goes
                // through a small stack buffer, a second copy of every byte.
                self.builder.append_data(header, &entry.rel, io::empty())?;
                let sha256 =
                    copy_content(file, size, path, &mut self.buffer, self.builder.get_mut())?;
                self.bytes_in += size;
                Ok(sha256)
            }
            Some(segments) => {
                let on_disk: u64 = segments.iter().map(|s| s.1).sum();
                header.set_entry_type(EntryType::GNUSparse);
                header.set_size(on_disk);
                let ext = sparse_headers(header, &segments, size)?;
                let mut body = SparseBody {
                    file,
                    path,
                    segments: &segments,
                    index: 0,
                    left: 0,
                    pos: 0,
                    hash: HashingReader::new(io::empty()),
                };
                let mut reader = (&ext[..]).chain(&mut body);
                self.builder.append_data(header, &entry.rel, &mut reader)?;
                if body.pos != size || body.index < segments.len() {
                    return Err(changed(path));
                }
                body.hash.feed_zeros(size - body.pos);
                self.bytes_in += size;
                Ok(body.hash.finish())
            }
        }
    }
}

/// Copies exactly `size` bytes of `file` and the zero padding after them
/// into `out`; returns their SHA-256. A file that ends early changed under us.
fn copy_content<W: Write>(
    mut file: File,
    size: u64,
    path: &Path,
    buffer: &mut [u8],
    out: &mut W,
) -> io::Result<String> {
    let mut hash = HashingReader::new(io::empty());
    let mut left = size;
    while left > 0 {
        let want = buffer
            .len()
            .min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = match file.read(&mut buffer[..want]) {
            Ok(0) => return Err(changed(path)),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(source_err(path, e)),
        };
        hash.update(&buffer[..n]);
        out.write_all(&buffer[..n])?;
        left -= n as u64;
    }
    let tail = (512 - size % 512) % 512;
    out.write_all(&[0u8; 512][..tail as usize])?;
    Ok(hash.finish())
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn changed(path: &Path) -> io::Error {
    source_err(
        path,
        io::Error::other("file changed size while being read; stop xCAT services and export again"),
    )
}

/// Data segments `(offset, length)` of a file with holes, or `None` if it has
/// none (or the filesystem cannot tell). Uses SEEK_DATA / SEEK_HOLE.
fn data_segments(file: &File, size: u64) -> io::Result<Option<Vec<(u64, u64)>>> {
    use std::os::unix::io::AsRawFd;
    let fd = file.as_raw_fd();
    let seek = |off: u64, whence| -> io::Result<Option<u64>> {
        // SAFETY: lseek on a valid, owned descriptor has no memory effects.
        let r = unsafe { libc::lseek(fd, off as libc::off_t, whence) };
        if r >= 0 {
            return Ok(Some(r as u64));
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ENXIO) {
            Ok(None)
        } else {
            Err(e)
        }
    };
    let mut segments = Vec::new();
    let mut pos = 0;
    while pos < size {
        let Some(start) = seek(pos, libc::SEEK_DATA)? else {
            break;
        };
        if start >= size {
            break;
        }
        let end = seek(start, libc::SEEK_HOLE)?.unwrap_or(size).min(size);
        if end <= start {
            return Err(io::Error::other(
                "SEEK_HOLE did not advance; file changed while reading",
            ));
        }
        segments.push((start, end - start));
        pos = end;
    }
    if segments.len() == 1 && segments[0] == (0, size) {
        return Ok(None);
    }
    // GNU tar ends the map with a zero-length segment at the real size.
    segments.push((size, 0));
    Ok(Some(segments))
}

/// Fills the sparse map of the main header and returns the extension headers' bytes.
fn sparse_headers(header: &mut Header, segments: &[(u64, u64)], size: u64) -> io::Result<Vec<u8>> {
    let gnu = header
        .as_gnu_mut()
        .ok_or_else(|| io::Error::other("sparse entry needs a GNU header"))?;
    gnu.set_real_size(size);
    for (slot, (off, len)) in gnu.sparse.iter_mut().zip(segments) {
        slot.set_offset(*off);
        slot.set_length(*len);
    }
    let first = gnu.sparse.len();
    gnu.set_is_extended(segments.len() > first);
    let mut bytes = Vec::new();
    let rest: Vec<_> = segments.iter().skip(first).collect();
    let chunks: Vec<_> = rest.chunks(21).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let mut ext = GnuExtSparseHeader::new();
        for (slot, (off, len)) in ext.sparse.iter_mut().zip(chunk.iter()) {
            slot.set_offset(*off);
            slot.set_length(*len);
        }
        ext.set_is_extended(i + 1 < chunks.len());
        bytes.extend_from_slice(ext.as_bytes());
    }
    Ok(bytes)
}

/// Reads the data segments in order and hashes the whole content, holes as zeros.
struct SparseBody<'a> {
    file: File,
    path: &'a Path,
    segments: &'a [(u64, u64)],
    index: usize,
    left: u64,
    /// Logical position in the file (end of what was hashed).
    pos: u64,
    hash: HashingReader<io::Empty>,
}

impl Read for SparseBody<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.left == 0 {
            let Some(&(off, len)) = self.segments.get(self.index) else {
                return Ok(0);
            };
            self.index += 1;
            self.hash.feed_zeros(off - self.pos);
            self.pos = off;
            self.left = len;
            self.file
                .seek(SeekFrom::Start(off))
                .map_err(|e| source_err(self.path, e))?;
        }
        let want = buf.len().min(self.left as usize);
        let n = self
            .file
            .read(&mut buf[..want])
            .map_err(|e| source_err(self.path, e))?;
        if n == 0 {
            return Err(changed(self.path));
        }
        self.hash.update(&buf[..n]);
        self.left -= n as u64;
        self.pos += n as u64;
        Ok(n)
    }
}

/// libarchive's xattr name escaping: `%XX` for `%`, `=` and bytes outside
/// printable ASCII.
fn percent_encode(name: &[u8]) -> String {
    let mut out = String::with_capacity(name.len());
    for &b in name {
        if b == b'%' || b == b'=' || !(0x21..=0x7e).contains(&b) {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    out
}

/// Standard base64 without padding, as libarchive writes it.
fn base64_encode(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let mut acc = 0u32;
        for (i, b) in chunk.iter().enumerate() {
            acc |= u32::from(*b) << (16 - 8 * i);
        }
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((acc >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod xattr_encoding_tests {
    use super::*;

    #[test]
    fn base64_and_percent_encoding_match_libarchive() {
        assert_eq!(base64_encode(b""), "");
        assert_eq!(base64_encode(b"f"), "Zg");
        assert_eq!(base64_encode(b"fo"), "Zm8");
        assert_eq!(base64_encode(b"foo"), "Zm9v");
        assert_eq!(base64_encode(b"a\nb\n"), "YQpiCg");
        assert_eq!(percent_encode(b"user.a=b%c d"), "user.a%3Db%25c%20d");
    }
}
