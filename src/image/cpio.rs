//! statelite's `rootimgtree.gz`: the `rootimg/` tree of an image as a
//! gzip'd newc cpio archive (what `find rootimg | cpio -H newc -o | gzip`
//! writes and `zcat | cpio -idum` reads, spec §3.4 and §6.2).
//!
//! Packing walks the tree in name order without following symlinks and
//! writes hard links as GNU cpio does: every name of a multiply linked file
//! shares one inode number and the data travels with the last name.
//!
//! Unpacking never trusts the archive: every name must be `rootimg` or lie
//! under it, with no `..` and no absolute form; parents are created one at
//! a time and an existing parent that is not a real directory is refused;
//! files are created with `O_EXCL | O_NOFOLLOW`, so nothing is written
//! through a symlink the archive planted; device nodes and fifos are
//! accepted only under `rootimg/dev/`. Owners stay numeric: they are the
//! ids of the image's own `/etc/passwd`, not of the MN's. Directory
//! metadata is applied last, deepest first.

use crate::error::IoContext;
use crate::{Error, Result};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// The top directory every member lies in.
pub const TREE: &str = "rootimg";
const TRAILER: &str = "TRAILER!!!";
const HEADER_LEN: usize = 110;

const S_IFMT: u32 = 0o170000;
const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;
const S_IFBLK: u32 = 0o060000;
const S_IFIFO: u32 = 0o010000;

/// One newc header's fields.
#[derive(Debug, Clone, Default)]
struct Header {
    ino: u32,
    mode: u32,
    uid: u32,
    gid: u32,
    nlink: u32,
    mtime: u32,
    size: u32,
    rdev_major: u32,
    rdev_minor: u32,
}

fn pad4(n: usize) -> usize {
    (4 - n % 4) % 4
}

fn write_header(out: &mut dyn Write, h: &Header, name: &[u8]) -> io::Result<()> {
    let namesize = name.len() + 1;
    let fields = [
        h.ino,
        h.mode,
        h.uid,
        h.gid,
        h.nlink,
        h.mtime,
        h.size,
        0,
        0,
        h.rdev_major,
        h.rdev_minor,
        namesize as u32,
        0,
    ];
    let mut text = String::with_capacity(HEADER_LEN);
    text.push_str("070701");
    for f in fields {
        text.push_str(&format!("{f:08X}"));
    }
    out.write_all(text.as_bytes())?;
    out.write_all(name)?;
    out.write_all(&[0u8; 4][..1 + pad4(HEADER_LEN + namesize)])
}

/// What [`pack`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PackStats {
    pub entries: u64,
    pub bytes: u64,
}

/// A file with several names, held until all its names are seen.
struct LinkGroup {
    header: Header,
    names: Vec<(Vec<u8>, PathBuf)>,
    expected: u64,
}

/// Writes `<parent>/rootimg` as a newc cpio stream to `out` (uncompressed;
/// the caller gzips). Sizes over 4 GiB − 1 cannot be stored in newc and are
/// refused, as GNU cpio refuses them.
pub fn pack(parent: &Path, out: &mut dyn Write) -> Result<PackStats> {
    let top = parent.join(TREE);
    let mut stats = PackStats::default();
    let mut next_ino: u32 = 1;
    let mut groups: HashMap<(u64, u64), LinkGroup> = HashMap::new();
    let mut group_order: Vec<(u64, u64)> = Vec::new();
    for entry in walkdir::WalkDir::new(&top)
        .follow_links(false)
        .sort_by_file_name()
    {
        let entry = entry.map_err(|e| {
            let p = e.path().unwrap_or(&top).to_path_buf();
            Error::io(p, e.into())
        })?;
        let path = entry.path();
        let rel = path.strip_prefix(parent).unwrap_or(path);
        let name = rel.as_os_str().as_bytes().to_vec();
        let m = fs::symlink_metadata(path).at(path)?;
        let size = if m.file_type().is_file() || m.file_type().is_symlink() {
            u32::try_from(m.len()).map_err(|_| {
                Error::Refused(format!(
                    "{}: larger than the 4 GiB a newc cpio member can hold",
                    path.display()
                ))
            })?
        } else {
            0
        };
        let rdev = m.rdev();
        let mut h = Header {
            ino: next_ino,
            mode: m.mode(),
            uid: m.uid(),
            gid: m.gid(),
            nlink: m.nlink() as u32,
            mtime: m.mtime().clamp(0, u32::MAX as i64) as u32,
            size,
            rdev_major: nix::sys::stat::major(rdev) as u32,
            rdev_minor: nix::sys::stat::minor(rdev) as u32,
        };
        next_ino = next_ino.wrapping_add(1);
        let kind = m.mode() & S_IFMT;
        if kind == S_IFREG && m.nlink() > 1 {
            let key = (m.dev(), m.ino());
            let group = groups.entry(key).or_insert_with(|| {
                group_order.push(key);
                LinkGroup {
                    header: h.clone(),
                    names: Vec::new(),
                    expected: m.nlink(),
                }
            });
            group.names.push((name, path.to_path_buf()));
            if group.names.len() as u64 == group.expected {
                if let Some(g) = groups.remove(&key) {
                    write_group(out, &g, &mut stats)?;
                }
            }
            continue;
        }
        if kind == S_IFDIR {
            h.nlink = 2;
        }
        write_one(out, &h, &name, path, kind, &mut stats)?;
    }
    // Files whose other names lie outside the tree: written with the names seen.
    for key in group_order {
        if let Some(g) = groups.remove(&key) {
            write_group(out, &g, &mut stats)?;
        }
    }
    let end = Header {
        nlink: 1,
        ..Header::default()
    };
    write_header(out, &end, TRAILER.as_bytes()).at(&top)?;
    Ok(stats)
}

fn write_group(out: &mut dyn Write, g: &LinkGroup, stats: &mut PackStats) -> Result<()> {
    let last = g.names.len() - 1;
    for (i, (name, path)) in g.names.iter().enumerate() {
        let mut h = g.header.clone();
        h.nlink = g.names.len() as u32;
        if i != last {
            h.size = 0;
        }
        write_one(out, &h, name, path, S_IFREG, stats)?;
    }
    Ok(())
}

fn write_one(
    out: &mut dyn Write,
    h: &Header,
    name: &[u8],
    path: &Path,
    kind: u32,
    stats: &mut PackStats,
) -> Result<()> {
    write_header(out, h, name).at(path)?;
    let size = h.size as u64;
    if kind == S_IFLNK {
        let target = fs::read_link(path).at(path)?;
        let bytes = target.as_os_str().as_bytes();
        if bytes.len() as u64 != size {
            return Err(Error::io(
                path,
                io::Error::other("symlink changed while being packed"),
            ));
        }
        out.write_all(bytes).at(path)?;
    } else if kind == S_IFREG && size > 0 {
        let file = File::open(path).at(path)?;
        let copied =
            io::copy(&mut BufReader::with_capacity(1 << 18, file).take(size), out).at(path)?;
        if copied != size {
            return Err(Error::io(
                path,
                io::Error::other(format!(
                    "file shrank while being packed ({copied} of {size} bytes)"
                )),
            ));
        }
    }
    out.write_all(&[0u8; 3][..pad4(size as usize)]).at(path)?;
    stats.entries += 1;
    stats.bytes += size;
    Ok(())
}

// ---------------------------------------------------------------------------
// Unpacking.

fn refuse(archive: &Path, name: &str, why: impl std::fmt::Display) -> Error {
    Error::format(archive, 0, format!("cpio member {name:?}: {why}"))
}

fn hex(archive: &Path, field: &[u8]) -> Result<u32> {
    std::str::from_utf8(field)
        .ok()
        .and_then(|s| u32::from_str_radix(s, 16).ok())
        .ok_or_else(|| Error::format(archive, 0, "corrupt newc cpio header"))
}

/// Reads exactly `n` bytes, or fails naming the archive as truncated.
fn read_exact(input: &mut dyn Read, buf: &mut [u8], archive: &Path) -> Result<()> {
    input
        .read_exact(buf)
        .map_err(|e| Error::format(archive, 0, format!("truncated cpio archive: {e}")))
}

fn skip(input: &mut dyn Read, n: u64, archive: &Path) -> Result<()> {
    let copied = io::copy(&mut input.take(n), &mut io::sink())
        .map_err(|e| Error::format(archive, 0, format!("truncated cpio archive: {e}")))?;
    if copied != n {
        return Err(Error::format(archive, 0, "truncated cpio archive"));
    }
    Ok(())
}

/// Normalised relative path of a member, which must be `rootimg[/...]`.
fn member_path(archive: &Path, name: &str, raw: &[u8]) -> Result<PathBuf> {
    if raw.first() == Some(&b'/') {
        return Err(refuse(archive, name, "absolute path"));
    }
    let mut out = PathBuf::new();
    for c in Path::new(OsStr::from_bytes(raw)).components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            _ => return Err(refuse(archive, name, "`..` or absolute component")),
        }
    }
    if out.iter().next() != Some(OsStr::new(TREE)) {
        return Err(refuse(archive, name, format!("lies outside {TREE}/")));
    }
    Ok(out)
}

fn set_times(path: &Path, mtime: u32) -> Result<()> {
    let t = nix::sys::time::TimeSpec::new(mtime as i64, 0);
    nix::sys::stat::utimensat(
        None,
        path,
        &t,
        &t,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .map_err(|e| Error::io(path, io::Error::from(e)))
}

/// What [`unpack`] created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnpackStats {
    pub entries: u64,
    pub bytes: u64,
}

/// Unpacks the newc cpio stream `input` (named `archive` in errors) into
/// `dest`, an existing empty directory: the tree appears as `dest/rootimg`.
pub fn unpack(input: &mut dyn Read, archive: &Path, dest: &Path) -> Result<UnpackStats> {
    if fs::read_dir(dest).at(dest)?.next().is_some() {
        return Err(Error::Refused(format!(
            "{}: directory to unpack into is not empty",
            dest.display()
        )));
    }
    let as_root = nix::unistd::geteuid().is_root();
    let mut stats = UnpackStats::default();
    let mut dirs: Vec<(PathBuf, Header)> = Vec::new();
    // inode → path of the name that carries the data; names waiting for it.
    let mut data_of: HashMap<u32, PathBuf> = HashMap::new();
    let mut waiting: HashMap<u32, Vec<(PathBuf, Header)>> = HashMap::new();
    let mut raw = [0u8; HEADER_LEN];
    loop {
        read_exact(input, &mut raw, archive)?;
        if &raw[..6] != b"070701" && &raw[..6] != b"070702" {
            return Err(Error::format(
                archive,
                0,
                "not a newc cpio archive (bad magic)",
            ));
        }
        let f = |i: usize| hex(archive, &raw[6 + i * 8..14 + i * 8]);
        let h = Header {
            ino: f(0)?,
            mode: f(1)?,
            uid: f(2)?,
            gid: f(3)?,
            nlink: f(4)?,
            mtime: f(5)?,
            size: f(6)?,
            rdev_major: f(9)?,
            rdev_minor: f(10)?,
        };
        let namesize = f(11)? as usize;
        if namesize == 0 || namesize > 64 * 1024 {
            return Err(Error::format(archive, 0, "corrupt newc cpio name size"));
        }
        let mut name = vec![0u8; namesize + pad4(HEADER_LEN + namesize)];
        read_exact(input, &mut name, archive)?;
        name.truncate(namesize);
        if name.pop() != Some(0) || name.contains(&0) {
            return Err(Error::format(archive, 0, "corrupt newc cpio member name"));
        }
        let shown = String::from_utf8_lossy(&name).into_owned();
        if name == TRAILER.as_bytes() {
            break;
        }
        let rel = member_path(archive, &shown, &name)?;
        let dst = dest.join(&rel);
        super::bundle::ensure_parents(dest, &rel, "a rootimg member")?;
        let size = h.size as u64;
        let kind = h.mode & S_IFMT;
        match kind {
            S_IFDIR => {
                match fs::symlink_metadata(&dst) {
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => return Err(refuse(archive, &shown, "collides with another member")),
                    Err(_) => fs::create_dir(&dst).at(&dst)?,
                }
                fs::set_permissions(&dst, fs::Permissions::from_mode(0o700)).at(&dst)?;
                skip(input, size + pad4(size as usize) as u64, archive)?;
                dirs.push((dst, h));
            }
            S_IFREG if h.nlink > 1 && size == 0 => {
                // Its data comes with another name of the same inode.
                skip(input, 0, archive)?;
                match data_of.get(&h.ino) {
                    Some(first) => fs::hard_link(first, &dst).at(&dst)?,
                    None => waiting.entry(h.ino).or_default().push((dst, h)),
                }
            }
            S_IFREG => {
                let mut out = create_file(&dst)?;
                let copied = io::copy(&mut input.take(size), &mut out).at(&dst)?;
                if copied != size {
                    return Err(refuse(archive, &shown, "truncated member data"));
                }
                skip(input, pad4(size as usize) as u64, archive)?;
                finish_node(&out, &dst, &h, as_root)?;
                drop(out);
                if h.nlink > 1 {
                    for (link, _) in waiting.remove(&h.ino).unwrap_or_default() {
                        fs::hard_link(&dst, &link).at(&link)?;
                    }
                    data_of.insert(h.ino, dst);
                }
                stats.bytes += size;
            }
            S_IFLNK => {
                if size > 64 * 1024 {
                    return Err(refuse(archive, &shown, "symlink target too long"));
                }
                let mut target = vec![0u8; size as usize + pad4(size as usize)];
                read_exact(input, &mut target, archive)?;
                target.truncate(size as usize);
                // The target is the image's business: never followed here.
                std::os::unix::fs::symlink(OsStr::from_bytes(&target), &dst).at(&dst)?;
                if as_root {
                    std::os::unix::fs::lchown(&dst, Some(h.uid), Some(h.gid)).at(&dst)?;
                }
                set_times(&dst, h.mtime)?;
            }
            S_IFCHR | S_IFBLK | S_IFIFO => {
                let in_dev = rel.iter().nth(1) == Some(OsStr::new("dev")) && rel.iter().count() > 2;
                if !in_dev {
                    return Err(refuse(
                        archive,
                        &shown,
                        "device nodes and fifos are accepted only under rootimg/dev/",
                    ));
                }
                skip(input, size + pad4(size as usize) as u64, archive)?;
                let sflag = nix::sys::stat::SFlag::from_bits_truncate(kind);
                let dev = nix::sys::stat::makedev(h.rdev_major.into(), h.rdev_minor.into());
                nix::sys::stat::mknod(
                    &dst,
                    sflag,
                    nix::sys::stat::Mode::from_bits_truncate(0o600),
                    dev,
                )
                .map_err(|e| Error::io(&dst, io::Error::from(e)))?;
                if as_root {
                    std::os::unix::fs::lchown(&dst, Some(h.uid), Some(h.gid)).at(&dst)?;
                }
                fs::set_permissions(&dst, fs::Permissions::from_mode(h.mode & 0o7777)).at(&dst)?;
                set_times(&dst, h.mtime)?;
            }
            _ => {
                return Err(refuse(
                    archive,
                    &shown,
                    format!("unsupported member type {kind:o}"),
                ))
            }
        }
        stats.entries += 1;
    }
    // Names whose data never came: empty files, as GNU cpio leaves them.
    for (_, links) in waiting {
        let mut first: Option<PathBuf> = None;
        for (dst, h) in links {
            match &first {
                Some(f) => fs::hard_link(f, &dst).at(&dst)?,
                None => {
                    let out = create_file(&dst)?;
                    finish_node(&out, &dst, &h, as_root)?;
                    first = Some(dst);
                }
            }
        }
    }
    dirs.sort_by_key(|(p, _)| std::cmp::Reverse(p.components().count()));
    for (dst, h) in dirs {
        if as_root {
            std::os::unix::fs::lchown(&dst, Some(h.uid), Some(h.gid)).at(&dst)?;
        }
        fs::set_permissions(&dst, fs::Permissions::from_mode(h.mode & 0o7777)).at(&dst)?;
        set_times(&dst, h.mtime)?;
    }
    Ok(stats)
}

fn create_file(dst: &Path) -> Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .mode(0o600)
        .open(dst)
        .at(dst)
}

/// Owner (numeric), mode and mtime of a freshly written file, owner first
/// so that a chown cannot clear set-id bits.
fn finish_node(out: &File, dst: &Path, h: &Header, as_root: bool) -> Result<()> {
    if as_root {
        std::os::unix::fs::fchown(out, Some(h.uid), Some(h.gid)).at(dst)?;
    }
    out.set_permissions(fs::Permissions::from_mode(h.mode & 0o7777))
        .at(dst)?;
    out.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(h.mtime as u64))
        .at(dst)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpio_of(entries: &[(&str, u32, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, (name, mode, data)) in entries.iter().enumerate() {
            let h = Header {
                ino: i as u32 + 1,
                mode: *mode,
                nlink: 1,
                size: data.len() as u32,
                ..Header::default()
            };
            write_header(&mut out, &h, name.as_bytes()).unwrap();
            out.extend_from_slice(data);
            out.extend(std::iter::repeat(0).take(pad4(data.len())));
        }
        let end = Header::default();
        write_header(&mut out, &end, TRAILER.as_bytes()).unwrap();
        out
    }

    #[test]
    fn header_and_name_are_padded_to_four_bytes() {
        let mut out = Vec::new();
        write_header(&mut out, &Header::default(), b"rootimg").unwrap();
        assert_eq!(out.len() % 4, 0);
        assert_eq!(&out[..6], b"070701");
        assert_eq!(&out[110..117], b"rootimg");
    }

    #[test]
    fn pack_then_unpack_keeps_files_links_and_modes() {
        let src = tempfile::tempdir().unwrap();
        let t = src.path().join(TREE);
        fs::create_dir_all(t.join("etc")).unwrap();
        fs::write(t.join("etc/hosts"), b"127.0.0.1 localhost\n").unwrap();
        fs::set_permissions(t.join("etc/hosts"), fs::Permissions::from_mode(0o640)).unwrap();
        fs::hard_link(t.join("etc/hosts"), t.join("etc/hosts.hard")).unwrap();
        std::os::unix::fs::symlink("/etc/hosts", t.join("abs-link")).unwrap();
        fs::create_dir(t.join("empty")).unwrap();
        let mut cpio = Vec::new();
        let stats = pack(src.path(), &mut cpio).unwrap();
        assert_eq!(stats.entries, 6);
        let dst = tempfile::tempdir().unwrap();
        unpack(&mut &cpio[..], Path::new("t.cpio"), dst.path()).unwrap();
        let d = dst.path().join(TREE);
        assert_eq!(
            fs::read(d.join("etc/hosts.hard")).unwrap(),
            b"127.0.0.1 localhost\n"
        );
        let m = fs::metadata(d.join("etc/hosts")).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o640);
        assert_eq!(m.nlink(), 2);
        assert_eq!(
            fs::read_link(d.join("abs-link")).unwrap(),
            Path::new("/etc/hosts")
        );
        assert!(d.join("empty").is_dir());
    }

    #[test]
    fn hostile_names_and_devices_are_refused() {
        for (entries, expect) in [
            (vec![("../evil", S_IFREG | 0o644, &b"x"[..])], "`..`"),
            (vec![("/etc/evil", S_IFREG | 0o644, &b"x"[..])], "absolute"),
            (
                vec![("other/file", S_IFREG | 0o644, &b"x"[..])],
                "outside rootimg/",
            ),
            (
                vec![("rootimg/etc/sda", S_IFBLK | 0o600, &b""[..])],
                "only under rootimg/dev/",
            ),
            (
                vec![
                    ("rootimg", S_IFDIR | 0o755, &b""[..]),
                    ("rootimg/etc", S_IFLNK | 0o777, &b"/etc"[..]),
                    ("rootimg/etc/passwd", S_IFREG | 0o644, &b"x"[..]),
                ],
                "not a directory",
            ),
        ] {
            let cpio = cpio_of(&entries);
            let dst = tempfile::tempdir().unwrap();
            let err = unpack(&mut &cpio[..], Path::new("t.cpio"), dst.path())
                .unwrap_err()
                .to_string();
            assert!(err.contains(expect), "{err}");
        }
    }

    #[test]
    fn truncated_archive_is_refused() {
        let cpio = cpio_of(&[("rootimg/a", S_IFREG | 0o644, b"hello world")]);
        let dst = tempfile::tempdir().unwrap();
        let err = unpack(&mut &cpio[..120], Path::new("t.cpio"), dst.path()).unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");
    }
}
