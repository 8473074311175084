//! Shared helpers for the restore tests: full tree listings, archives built
//! from a tree the way the snapshot writer stores them (PAX uname/gname,
//! nanosecond mtimes, SCHILY.xattr.*, hardlinks, symlinks), and raw headers
//! for hostile archives the tar crate's Builder would refuse to write.
#![allow(dead_code)]

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use xcatport::mn::accounts::Accounts;

/// A temp dir under /var/tmp (tmpfs may lack user xattrs).
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("xcatport-restore-")
        .tempdir_in("/var/tmp")
        .unwrap()
}

/// One line per entry under `dir` (the dir itself excluded), sorted by
/// path: type, mode, owner and group NAMES (through `accounts`, the
/// numbers when unknown), size, sha256, mtime with nanoseconds, link
/// target, hardlink partner and xattrs. Paths in `exclude` (relative) and
/// everything under them are left out.
pub fn tree_listing(dir: &Path, accounts: &Accounts, exclude: &[&str]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut first_of_inode: HashMap<(u64, u64), String> = HashMap::new();
    for (entry, rel, m) in entries_under(dir, exclude) {
        let ft = m.file_type();
        let kind = if ft.is_dir() {
            "dir"
        } else if ft.is_symlink() {
            "symlink"
        } else if ft.is_file() {
            "file"
        } else {
            "special"
        };
        let user = accounts
            .user_name(m.uid())
            .map(str::to_string)
            .unwrap_or_else(|| m.uid().to_string());
        let group = accounts
            .group_name(m.gid())
            .map(str::to_string)
            .unwrap_or_else(|| m.gid().to_string());
        let mut line = format!(
            "{:?} {kind} {:o} {user}:{group}",
            rel.as_os_str(),
            m.mode() & 0o7777
        );
        if ft.is_file() {
            line += &format!(" size={} sha256={}", m.len(), sha256_file(entry.path()));
            if m.nlink() > 1 {
                let name = format!("{:?}", rel.as_os_str());
                let first = first_of_inode
                    .entry((m.dev(), m.ino()))
                    .or_insert(name)
                    .clone();
                line += &format!(" nlink={} inode-of={first}", m.nlink());
            }
        }
        if ft.is_symlink() {
            line += &format!(" -> {:?}", fs::read_link(entry.path()).unwrap());
        }
        if !ft.is_symlink() && !ft.is_file() && !ft.is_dir() {
            line += &format!(" rdev={}", m.rdev());
        }
        line += &format!(" mtime={}.{:09}", m.mtime(), m.mtime_nsec());
        let mut xattrs: Vec<String> = xattr::list(entry.path())
            .map(|names| {
                names
                    .map(|n| {
                        let v = xattr::get(entry.path(), &n).unwrap().unwrap_or_default();
                        format!("{}={}", n.to_string_lossy(), hex::encode(v))
                    })
                    .collect()
            })
            .unwrap_or_default();
        xattrs.sort();
        if !xattrs.is_empty() {
            line += &format!(" xattrs=[{}]", xattrs.join(","));
        }
        lines.push(line);
    }
    lines
}

/// Every entry under `dir` (the dir itself excluded), sorted by name, not
/// following links, with its path relative to `dir` and its lstat; paths
/// in `exclude` (relative) and everything under them are left out.
fn entries_under<'a>(
    dir: &'a Path,
    exclude: &'a [&str],
) -> impl Iterator<Item = (walkdir::DirEntry, PathBuf, fs::Metadata)> + 'a {
    walkdir::WalkDir::new(dir)
        .min_depth(1)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .map(move |entry| {
            let entry = entry.unwrap();
            let rel = entry.path().strip_prefix(dir).unwrap().to_path_buf();
            let m = fs::symlink_metadata(entry.path()).unwrap();
            (entry, rel, m)
        })
        .filter(|(_, rel, _)| !exclude.iter().any(|e| rel.starts_with(e)))
}

pub fn sha256_file(path: &Path) -> String {
    let mut f = fs::File::open(path).unwrap();
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 65536];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    hex::encode(h.finalize())
}

/// A tar of everything under `dir` (sorted, `exclude` left out), stored the
/// way the snapshot writer does: owner names from `accounts` in PAX
/// uname/gname, PAX mtime with nanoseconds, xattrs as SCHILY.xattr.*, a
/// second name of an inode as a hardlink.
pub fn archive_of(dir: &Path, accounts: &Accounts, exclude: &[&str]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut seen: HashMap<(u64, u64), PathBuf> = HashMap::new();
    for (entry, rel, m) in entries_under(dir, exclude) {
        let mut pax: Vec<(String, Vec<u8>)> = Vec::new();
        if let Some(u) = accounts.user_name(m.uid()) {
            pax.push(("uname".into(), u.as_bytes().to_vec()));
        }
        if let Some(g) = accounts.group_name(m.gid()) {
            pax.push(("gname".into(), g.as_bytes().to_vec()));
        }
        pax.push((
            "mtime".into(),
            format!("{}.{:09}", m.mtime(), m.mtime_nsec()).into_bytes(),
        ));
        if let Ok(names) = xattr::list(entry.path()) {
            for n in names {
                let v = xattr::get(entry.path(), &n).unwrap().unwrap_or_default();
                pax.push((format!("SCHILY.xattr.{}", n.to_str().unwrap()), v));
            }
        }
        let ft = m.file_type();
        let mut header = tar::Header::new_ustar();
        header.set_mode(m.mode() & 0o7777);
        header.set_uid(m.uid() as u64);
        header.set_gid(m.gid() as u64);
        header.set_mtime(m.mtime().max(0) as u64);
        header.set_size(0);
        let hardlink_to = if ft.is_file() && m.nlink() > 1 {
            match seen.get(&(m.dev(), m.ino())) {
                Some(first) => Some(first.clone()),
                None => {
                    seen.insert((m.dev(), m.ino()), rel.clone());
                    None
                }
            }
        } else {
            None
        };
        builder
            .append_pax_extensions(pax.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
            .unwrap();
        if ft.is_dir() {
            header.set_entry_type(tar::EntryType::Directory);
            builder
                .append_data(&mut header, &rel, std::io::empty())
                .unwrap();
        } else if ft.is_symlink() {
            header.set_entry_type(tar::EntryType::Symlink);
            let target = fs::read_link(entry.path()).unwrap();
            builder.append_link(&mut header, &rel, &target).unwrap();
        } else if let Some(first) = hardlink_to {
            header.set_entry_type(tar::EntryType::Link);
            builder.append_link(&mut header, &rel, &first).unwrap();
        } else if ft.is_file() {
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(m.len());
            let f = fs::File::open(entry.path()).unwrap();
            builder.append_data(&mut header, &rel, f).unwrap();
        } else {
            panic!("unexpected special file {}", entry.path().display());
        }
    }
    builder.into_inner().unwrap()
}

/// A root holding only etc/passwd and etc/group with these entries.
pub fn accounts_root(dir: &Path, users: &[(&str, u32)], groups: &[(&str, u32)]) -> Accounts {
    fs::create_dir_all(dir.join("etc")).unwrap();
    let passwd: String = users
        .iter()
        .map(|(n, id)| format!("{n}:x:{id}:{id}::/home/{n}:/bin/sh\n"))
        .collect();
    let group: String = groups
        .iter()
        .map(|(n, id)| format!("{n}:x:{id}:\n"))
        .collect();
    fs::write(dir.join("etc/passwd"), passwd).unwrap();
    fs::write(dir.join("etc/group"), group).unwrap();
    Accounts::load(dir).unwrap()
}

pub fn write(dir: &Path, rel: &str, body: &[u8], mode: u32, owner: (u32, u32), mtime: i64) {
    let p = dir.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, body).unwrap();
    std::os::unix::fs::chown(&p, Some(owner.0), Some(owner.1)).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
    set_mtime(&p, mtime, 123_456_789);
}

pub fn mkdir(dir: &Path, rel: &str, mode: u32, owner: (u32, u32)) {
    let p = dir.join(rel);
    fs::create_dir_all(&p).unwrap();
    std::os::unix::fs::chown(&p, Some(owner.0), Some(owner.1)).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
}

pub fn link(dir: &Path, rel: &str, target: &str) {
    symlink(target, dir.join(rel)).unwrap();
}

pub fn set_mtime(p: &Path, secs: i64, nanos: i64) {
    use nix::sys::stat::{utimensat, UtimensatFlags};
    use nix::sys::time::TimeSpec;
    let t = TimeSpec::new(secs, nanos);
    utimensat(None, p, &t, &t, UtimensatFlags::NoFollowSymlink).unwrap();
}

/// Sets directory mtimes of the whole tree (deepest first) so listings do
/// not depend on when the test ran.
pub fn settle_dir_times(dir: &Path, secs: i64) {
    let mut dirs: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .min_depth(1)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_dir())
        .map(|e| e.path().to_path_buf())
        .collect();
    dirs.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for d in dirs {
        set_mtime(&d, secs, 5);
    }
}

/// A tar member with a raw, unchecked name (the Builder refuses `..` and
/// absolute names, which is exactly what hostile archives contain).
pub fn raw_entry(
    builder: &mut tar::Builder<Vec<u8>>,
    name: &[u8],
    kind: tar::EntryType,
    link: Option<&[u8]>,
    body: &[u8],
) {
    let mut header = tar::Header::new_old();
    {
        let old = header.as_old_mut();
        old.name[..name.len()].copy_from_slice(name);
        if let Some(l) = link {
            old.linkname[..l.len()].copy_from_slice(l);
        }
    }
    header.set_entry_type(kind);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(1_600_000_000);
    header.set_size(body.len() as u64);
    header.set_cksum();
    builder.append(&header, body).unwrap();
}

/// Lists a directory tree (names and contents) to prove it untouched.
pub fn snapshot_of(dir: &Path) -> Vec<String> {
    let acc = Accounts::default();
    tree_listing(dir, &acc, &[])
}

pub fn os(b: &[u8]) -> &OsStr {
    OsStr::from_bytes(b)
}

/// The source MN: accounts numbered one way, files of every kind.
pub fn source_tree(a: &Path) -> Accounts {
    let acc = accounts_root(
        a,
        &[("root", 0), ("xcat", 1500), ("apache", 1501)],
        &[
            ("root", 0),
            ("xcat", 1500),
            ("apache", 1501),
            ("wheel", 1502),
        ],
    );
    mkdir(a, "etc/xcat/cert", 0o700, (1500, 1500));
    write(
        a,
        "etc/xcat/cfgloc",
        b"SQLite:/etc/xcat\n",
        0o600,
        (0, 0),
        1_700_000_001,
    );
    write(
        a,
        "etc/xcat/cert/ca.pem",
        b"-----BEGIN-----\n",
        0o600,
        (1500, 1500),
        1_700_000_002,
    );
    mkdir(a, "install/postscripts", 0o755, (0, 1500));
    mkdir(a, "install", 0o2775, (0, 1500));
    xattr::set(a.join("install"), "user.comment", b"hello").unwrap();
    write(
        a,
        "install/postscripts/hi",
        b"echo hi\n",
        0o750,
        (0, 1500),
        1_700_000_003,
    );
    fs::hard_link(
        a.join("install/postscripts/hi"),
        a.join("install/postscripts/hi2"),
    )
    .unwrap();
    write(
        a,
        "install/bin/suid",
        b"\x7fELF",
        0o4755,
        (1501, 1501),
        1_700_000_004,
    );
    write(
        a,
        "install/bin/sgid",
        b"x",
        0o2711,
        (0, 1502),
        1_700_000_005,
    );
    mkdir(a, "tftpboot", 0o1777, (0, 0));
    link(a, "tftpboot/rel", "../install/postscripts/hi");
    link(a, "tftpboot/abs", "/etc/xcat/cfgloc");
    set_mtime(&a.join("tftpboot/rel"), 1_600_000_000, 42);
    set_mtime(&a.join("tftpboot/abs"), 1_600_000_001, 43);
    write(a, "opt/caf\u{e9}", b"utf8", 0o644, (0, 0), 1_700_000_006);
    let latin1 = a.join("opt").join(os(b"latin\xe9"));
    fs::write(&latin1, b"not utf-8 name").unwrap();
    set_mtime(&latin1, 1_700_000_007, 0);
    write(a, "opt/empty", b"", 0o644, (0, 0), 1_700_000_008);
    let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    write(a, "opt/big", &big, 0o644, (1500, 1501), 1_700_000_009);
    write(a, "opt/xattrs", b"x", 0o640, (0, 0), 1_700_000_010);
    xattr::set(a.join("opt/xattrs"), "user.a", b"1").unwrap();
    xattr::set(a.join("opt/xattrs"), "user.bin", b"\0\xff").unwrap();
    settle_dir_times(a, 1_650_000_000);
    acc
}

pub fn target_root(b: &Path) -> Accounts {
    accounts_root(
        b,
        &[("root", 0), ("apache", 2001), ("xcat", 2002)],
        &[
            ("root", 0),
            ("wheel", 2003),
            ("apache", 2001),
            ("xcat", 2004),
        ],
    )
}

/// The accounts files, which belong to the target root, not the archive.
pub const SKIP: &[&str] = &["etc/passwd", "etc/group"];
