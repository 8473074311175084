//! File metadata as the restore sets it: owner, mode, xattrs, times — in
//! that order (rustic's order), so a chown cannot clear setuid/setgid bits
//! or file capabilities set before it. Nothing here follows a symlink.

use crate::error::IoContext;
use crate::{Error, Result};
use nix::sys::stat::{utimensat, UtimensatFlags};
use nix::sys::time::TimeSpec;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::ErrorKind;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// A point in time with nanoseconds, as stat and PAX give it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Time {
    pub secs: i64,
    pub nanos: i64,
}

impl Time {
    fn spec(self) -> TimeSpec {
        TimeSpec::new(self.secs as _, self.nanos as _)
    }

    /// Parses a PAX time (`1700000000`, `1700000000.5`, `-12.25`).
    pub fn parse_pax(text: &str) -> Option<Time> {
        let (whole, frac) = match text.split_once('.') {
            Some((w, f)) => (w, f),
            None => (text, ""),
        };
        let secs: i64 = whole.parse().ok()?;
        if !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut digits: String = frac.chars().take(9).collect();
        while digits.len() < 9 {
            digits.push('0');
        }
        let mut nanos: i64 = digits.parse().ok()?;
        let mut secs = secs;
        if text.starts_with('-') && nanos > 0 {
            // -12.25 is 12.25 s before the epoch: -13 s + 0.75 s.
            secs -= 1;
            nanos = 1_000_000_000 - nanos;
        }
        Some(Time { secs, nanos })
    }
}

/// Saved metadata of an existing directory, put back by rollback.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DirMeta {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub atime: Time,
    pub mtime: Time,
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl DirMeta {
    /// Reads the metadata of `path` (not following a symlink).
    pub fn read(path: &Path) -> Result<DirMeta> {
        let m = fs::symlink_metadata(path).at(path)?;
        let mut xattrs = Vec::new();
        if let Ok(names) = xattr::list(path) {
            for name in names {
                if let Some(value) = xattr::get(path, &name).at(path)? {
                    xattrs.push((name.into_vec(), value));
                }
            }
        }
        xattrs.sort();
        Ok(DirMeta {
            mode: m.mode() & 0o7777,
            uid: m.uid(),
            gid: m.gid(),
            atime: Time {
                secs: m.atime(),
                nanos: m.atime_nsec(),
            },
            mtime: Time {
                secs: m.mtime(),
                nanos: m.mtime_nsec(),
            },
            xattrs,
        })
    }

    /// One line of space-separated fields; byte strings in hex.
    pub fn encode(&self) -> String {
        let mut s = format!(
            "{:o} {} {} {} {} {} {} {}",
            self.mode,
            self.uid,
            self.gid,
            self.atime.secs,
            self.atime.nanos,
            self.mtime.secs,
            self.mtime.nanos,
            self.xattrs.len()
        );
        for (k, v) in &self.xattrs {
            s.push(' ');
            s.push_str(&hex::encode(k));
            s.push(' ');
            s.push_str(&hex::encode(v));
            if v.is_empty() {
                // keep the field count fixed: an empty value is "-"
                s.push('-');
            }
        }
        s
    }

    pub fn decode(text: &str) -> Option<DirMeta> {
        let mut f = text.split(' ');
        let mode = u32::from_str_radix(f.next()?, 8).ok()?;
        let mut num = || -> Option<i64> { f.next()?.parse().ok() };
        let uid = u32::try_from(num()?).ok()?;
        let gid = u32::try_from(num()?).ok()?;
        let atime = Time {
            secs: num()?,
            nanos: num()?,
        };
        let mtime = Time {
            secs: num()?,
            nanos: num()?,
        };
        let count = usize::try_from(num()?).ok()?;
        let mut xattrs = Vec::with_capacity(count.min(64));
        for _ in 0..count {
            let k = hex::decode(f.next()?).ok()?;
            let v = hex::decode(f.next()?.trim_end_matches('-')).ok()?;
            xattrs.push((k, v));
        }
        if f.next().is_some() {
            return None;
        }
        Some(DirMeta {
            mode,
            uid,
            gid,
            atime,
            mtime,
            xattrs,
        })
    }
}

/// Puts saved metadata back on a directory, removing xattrs it did not have.
pub fn apply_dir_meta(path: &Path, meta: &DirMeta) -> Result<()> {
    std::os::unix::fs::lchown(path, Some(meta.uid), Some(meta.gid)).at(path)?;
    fs::set_permissions(path, fs::Permissions::from_mode(meta.mode)).at(path)?;
    if let Ok(names) = xattr::list(path) {
        for name in names {
            let known = meta.xattrs.iter().any(|(k, _)| k == name.as_bytes());
            if !known {
                xattr::remove(path, &name).at(path)?;
            }
        }
    }
    for (k, v) in &meta.xattrs {
        xattr::set(path, OsStr::from_bytes(k), v).at(path)?;
    }
    set_times(path, meta.atime, meta.mtime).at(path)
}

/// A piece of metadata the restore could not set. That is a warning, not
/// a failure: NFS squashing root, a filesystem without xattrs or modes.
#[derive(Debug, Clone, Copy)]
pub enum Unset<'a> {
    Owner(u32, u32),
    Mode(u32),
    Xattr(&'a [u8]),
    Times,
}

impl Unset<'_> {
    /// The warning for `at`, one line, naming the file.
    pub fn warning(self, at: &Path, e: impl std::fmt::Display) -> String {
        let at = at.display();
        match self {
            Unset::Owner(uid, gid) => format!("{at}: owner {uid}:{gid} not set: {e}"),
            Unset::Mode(mode) => format!("{at}: mode {mode:o} not set: {e}"),
            Unset::Xattr(name) => {
                format!("{at}: xattr {} not set: {e}", String::from_utf8_lossy(name))
            }
            Unset::Times => format!("{at}: mtime and atime not set: {e}"),
        }
    }
}

/// Sets access and modification times without following a symlink.
pub fn set_times(path: &Path, atime: Time, mtime: Time) -> std::io::Result<()> {
    utimensat(
        None,
        path,
        &atime.spec(),
        &mtime.spec(),
        UtimensatFlags::NoFollowSymlink,
    )
    .map_err(std::io::Error::from)
}

/// Sets the times of an open file.
pub fn set_file_times(file: &fs::File, atime: Time, mtime: Time) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    nix::sys::stat::futimens(file.as_raw_fd(), &atime.spec(), &mtime.spec())
        .map_err(std::io::Error::from)
}

/// Copies a file, symlink or empty directory with its owner, mode, xattrs
/// and times (the backup path when a rename would cross filesystems).
pub fn copy_entry(from: &Path, to: &Path) -> Result<()> {
    let m = fs::symlink_metadata(from).at(from)?;
    let kind = m.file_type();
    if kind.is_symlink() {
        let target = fs::read_link(from).at(from)?;
        std::os::unix::fs::symlink(&target, to).at(to)?;
    } else if kind.is_file() {
        let mut src = fs::File::open(from).at(from)?;
        let mut dst = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(to)
            .at(to)?;
        std::io::copy(&mut src, &mut dst).at(to)?;
    } else if kind.is_dir() {
        fs::create_dir(to).at(to)?;
        if fs::read_dir(from).at(from)?.next().is_some() {
            return Err(Error::Refused(format!(
                "{}: a non-empty directory cannot be moved across filesystems \
                 for backup; put the journal on the root's filesystem",
                from.display()
            )));
        }
    } else {
        return Err(Error::Refused(format!(
            "{}: special files cannot be backed up across filesystems",
            from.display()
        )));
    }
    std::os::unix::fs::lchown(to, Some(m.uid()), Some(m.gid())).at(to)?;
    if !kind.is_symlink() {
        fs::set_permissions(to, fs::Permissions::from_mode(m.mode() & 0o7777)).at(to)?;
    }
    if let Ok(names) = xattr::list(from) {
        for name in names {
            if let Some(v) = xattr::get(from, &name).at(from)? {
                xattr::set(to, &name, &v).at(to)?;
            }
        }
    }
    set_times(
        to,
        Time {
            secs: m.atime(),
            nanos: m.atime_nsec(),
        },
        Time {
            secs: m.mtime(),
            nanos: m.mtime_nsec(),
        },
    )
    .at(to)
}

/// Removes a file, symlink or empty directory; gone already is fine.
pub fn remove_entry(path: &Path) -> Result<()> {
    let result = match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir(path),
        Ok(_) => fs::remove_file(path),
        Err(e) => Err(e),
    };
    match result {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(Error::io(path, e)),
        _ => Ok(()),
    }
}

/// An OS string from raw bytes (names need not be UTF-8).
pub fn os(bytes: &[u8]) -> OsString {
    OsStr::from_bytes(bytes).to_os_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_times_keep_nanoseconds_and_sign() {
        assert_eq!(
            Time::parse_pax("1700000000"),
            Some(Time {
                secs: 1700000000,
                nanos: 0
            })
        );
        assert_eq!(
            Time::parse_pax("1700000000.123456789123"),
            Some(Time {
                secs: 1700000000,
                nanos: 123456789
            })
        );
        assert_eq!(
            Time::parse_pax("-12.25"),
            Some(Time {
                secs: -13,
                nanos: 750000000
            })
        );
        assert_eq!(Time::parse_pax("12.x"), None);
        assert_eq!(Time::parse_pax(""), None);
    }

    #[test]
    fn dir_meta_round_trips_through_its_line() {
        let meta = DirMeta {
            mode: 0o2775,
            uid: 12,
            gid: 34,
            atime: Time { secs: 5, nanos: 6 },
            mtime: Time { secs: -7, nanos: 8 },
            xattrs: vec![
                (b"user.a".to_vec(), b"x y".to_vec()),
                (b"user.empty".to_vec(), Vec::new()),
            ],
        };
        let line = meta.encode();
        assert!(!line.contains('\n'));
        assert_eq!(DirMeta::decode(&line), Some(meta));
        assert_eq!(DirMeta::decode("755 1 2 3"), None);
    }
}
