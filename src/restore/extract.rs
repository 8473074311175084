//! Our own extraction loop over a tar stream, treating the archive as
//! hostile (the tar crate only reads headers and data; `unpack` is never
//! called).
//!
//! - Every path is confined to the root: absolute names and `..` are
//!   refused, parents are created one at a time and each is checked with
//!   lstat not to be a symlink, so a symlink from the archive (or already on
//!   disk) can never redirect a write. Symlinks themselves are stored as-is
//!   (they are meant for the restored system, chroot semantics).
//! - Files are created with `create_new`; whatever was there is first moved
//!   into the journal's backup area (or unlinked when nothing is journaled).
//! - Owners are mapped by NAME through the destination's passwd/group; the
//!   numeric id is the fallback, with a warning.
//! - Metadata order: owner, mode, xattrs, times; directories get mode and
//!   times last, deepest first, so later children do not bump them.
//! - GNU sparse files are written with holes (seek), not zeros.

use super::journal::{Change, ChangeSink, Prior};
use super::meta::{self, DirMeta, Time, Unset};
use super::writers::{self, FileMeta, OpenFile, Writers};
use crate::error::IoContext;
use crate::mn::accounts::Accounts;
use crate::progress::Progress;
use crate::{Error, Result};
use std::collections::{BTreeSet, HashSet};
use std::ffi::OsStr;
use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use tar::EntryType;

/// Why a link on the target is not followed when it leads nowhere usable.
const NOT_A_DIR: &str = "does not lead to a directory";

/// Called before each entry with its index and archive path.
pub type EntryHook<'a> = Box<dyn FnMut(u64, &Path) -> Result<()> + 'a>;

/// How extraction behaves beyond the fixed safety rules.
pub struct ExtractOptions<'a> {
    /// Create device nodes and fifos (snapshots: yes; bundles: refused).
    pub allow_special: bool,
    /// chown to the mapped owner (needs root; off, files belong to the caller).
    pub set_owners: bool,
    /// Entries under `.xcatport/` (the DB dump) go under this relative
    /// directory instead, e.g. `var/lib/xcatport`.
    pub dump_dir: Option<PathBuf>,
    /// Called before each entry with its 0-based index and archive path; an
    /// error stops the extraction (fault injection, cancellation).
    pub before_entry: Option<EntryHook<'a>>,
    /// Relative paths whose file already on disk wins over the archive's
    /// (e.g. the new MN's own cfgloc): the entry is skipped, and reported.
    pub keep_existing: Vec<PathBuf>,
}

impl Default for ExtractOptions<'_> {
    fn default() -> Self {
        ExtractOptions {
            allow_special: false,
            set_owners: nix::unistd::geteuid().is_root(),
            dump_dir: None,
            before_entry: None,
            keep_existing: Vec::new(),
        }
    }
}

/// What an extraction did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ExtractReport {
    pub entries: u64,
    pub bytes: u64,
    /// Entries that replaced something already on disk.
    pub replaced: u64,
    /// Entries not written because the file on disk was kept (relative).
    pub kept: Vec<PathBuf>,
    /// Metadata that could not be set and names that could not be mapped,
    /// one line each, naming the path.
    pub warnings: Vec<String>,
}

/// Extracts the tar stream `reader` under `root`, recording every change in
/// `changes` before making it.
pub fn extract<R: Read>(
    reader: R,
    root: &Path,
    accounts: &Accounts,
    changes: &mut dyn ChangeSink,
    opts: ExtractOptions<'_>,
    progress: &dyn Progress,
) -> Result<ExtractReport> {
    extract_streams(
        std::iter::once(reader),
        root,
        accounts,
        changes,
        opts,
        progress,
    )
}

/// Extracts several tar streams one after the other as one extraction (an
/// encrypted snapshot's secret stream, then its data stream): hardlinks may
/// point to members of an earlier stream, entry indexes run on, and
/// directory metadata is applied once, after the last stream.
pub fn extract_streams<R: Read>(
    readers: impl IntoIterator<Item = R>,
    root: &Path,
    accounts: &Accounts,
    changes: &mut dyn ChangeSink,
    opts: ExtractOptions<'_>,
    progress: &dyn Progress,
) -> Result<ExtractReport> {
    let mut run = Run {
        root,
        accounts,
        changes,
        opts,
        progress,
        report: ExtractReport::default(),
        extracted: HashSet::new(),
        dirs: Vec::new(),
        unknown_names: BTreeSet::new(),
        next_index: 0,
        writers: Writers::start()?,
    };
    let result = readers.into_iter().try_for_each(|r| run.entries(r));
    let (written, warnings) = run.writers.finish();
    run.report.warnings.extend(warnings);
    // Directory metadata is applied even after a failure, so that a
    // resumed or rolled-back run starts from consistent directories.
    let finished = run.finish_dirs();
    result?;
    written?;
    finished?;
    Ok(run.report)
}

/// Directory metadata held back until every child is written.
struct PendingDir {
    rel: PathBuf,
    mode: u32,
    atime: Time,
    mtime: Time,
}

struct Run<'r, 'o> {
    root: &'r Path,
    accounts: &'r Accounts,
    changes: &'r mut dyn ChangeSink,
    opts: ExtractOptions<'o>,
    progress: &'r dyn Progress,
    report: ExtractReport,
    /// Non-directory paths written by this run: the only valid hardlink targets.
    extracted: HashSet<PathBuf>,
    dirs: Vec<PendingDir>,
    unknown_names: BTreeSet<String>,
    /// Index of the next entry, counted across streams.
    next_index: u64,
    /// Where large files' content is written.
    writers: Writers,
}

/// Everything the loop needs from one entry's headers.
struct Header {
    kind: EntryType,
    rel: PathBuf,
    link: Option<Vec<u8>>,
    mode: u32,
    uid: u32,
    gid: u32,
    uname: Option<String>,
    gname: Option<String>,
    atime: Time,
    mtime: Time,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    size: u64,
    device: (u32, u32),
}

impl Run<'_, '_> {
    fn entries<R: Read>(&mut self, reader: R) -> Result<()> {
        let archive_name = PathBuf::from("<archive>");
        let mut archive = tar::Archive::new(reader);
        let entries = archive.entries().at(&archive_name)?;
        for entry in entries {
            self.writers.check()?;
            let mut entry = entry.at(&archive_name)?;
            let raw = entry.path_bytes().into_owned();
            let index = self.next_index;
            self.next_index += 1;
            if let Some(hook) = self.opts.before_entry.as_mut() {
                hook(index, Path::new(OsStr::from_bytes(&raw)))?;
            }
            let Some(mut header) = self.read_header(&mut entry, &raw)? else {
                continue;
            };
            header.rel = self.physical(&header.rel, header.kind.is_dir())?;
            self.progress.set_message(&header.rel.to_string_lossy());
            self.one(&mut entry, &header)?;
            self.report.entries += 1;
        }
        Ok(())
    }

    /// Reads the headers of an entry; None for entries that carry no file
    /// (global PAX headers, the root itself).
    fn read_header<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        raw: &[u8],
    ) -> Result<Option<Header>> {
        let shown = Path::new(OsStr::from_bytes(raw)).to_path_buf();
        let h = entry.header();
        let kind = h.entry_type();
        if kind.is_pax_global_extensions() {
            return Ok(None);
        }
        let mut rel = confine(raw)?;
        if rel.as_os_str().is_empty() {
            return Ok(None); // "./": the root itself keeps its own metadata
        }
        if let (Some(dump), Ok(rest)) = (&self.opts.dump_dir, rel.strip_prefix(".xcatport")) {
            if rest.as_os_str().is_empty() && kind.is_dir() {
                // the dump dir keeps its own 0700 mode, not the archive's
                return Ok(None);
            }
            rel = dump.join(rest);
        }
        let bad = |what: &str| Error::format(&shown, 0, format!("bad {what} in tar header"));
        let mut head = Header {
            kind,
            link: entry.link_name_bytes().map(|l| l.into_owned()),
            mode: h.mode().map_err(|_| bad("mode"))? & 0o7777,
            uid: u32::try_from(h.uid().map_err(|_| bad("uid"))?).map_err(|_| bad("uid"))?,
            gid: u32::try_from(h.gid().map_err(|_| bad("gid"))?).map_err(|_| bad("gid"))?,
            uname: name_field(h.username_bytes()),
            gname: name_field(h.groupname_bytes()),
            atime: Time { secs: 0, nanos: 0 },
            mtime: Time {
                secs: h.mtime().map_err(|_| bad("mtime"))? as i64,
                nanos: 0,
            },
            xattrs: Vec::new(),
            size: entry.size(),
            device: (
                h.device_major().ok().flatten().unwrap_or(0),
                h.device_minor().ok().flatten().unwrap_or(0),
            ),
            rel,
        };
        let mut atime = None;
        if let Some(pax) = entry.pax_extensions().at(&shown)? {
            for record in pax {
                // The tar crate splits PAX data at newlines, so a value
                // holding a newline byte cannot be read back; writers must
                // use LIBARCHIVE.xattr.* (base64) for such xattr values.
                let record = record.map_err(|e| {
                    Error::format(&shown, 0, format!("unreadable PAX record ({e}); a value with a newline byte must be written as LIBARCHIVE.xattr.*"))
                })?;
                let key = record.key_bytes();
                let value = record.value_bytes();
                if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                    head.xattrs.push((name.to_vec(), value.to_vec()));
                    continue;
                }
                if let Some(name) = key.strip_prefix(b"LIBARCHIVE.xattr.") {
                    let decoded = percent_decode(name)
                        .zip(base64_decode(value))
                        .ok_or_else(|| bad("LIBARCHIVE.xattr record"))?;
                    head.xattrs.push(decoded);
                    continue;
                }
                let text = || std::str::from_utf8(value).ok();
                match key {
                    b"uname" => head.uname = name_field(Some(value)),
                    b"gname" => head.gname = name_field(Some(value)),
                    b"mtime" => {
                        head.mtime = text()
                            .and_then(Time::parse_pax)
                            .ok_or_else(|| bad("PAX mtime"))?
                    }
                    b"atime" => atime = text().and_then(Time::parse_pax),
                    k if k.starts_with(b"GNU.sparse.") => {
                        return Err(Error::format(
                            &shown,
                            0,
                            "PAX sparse files are not supported; write GNU sparse headers",
                        ))
                    }
                    _ => {}
                }
            }
        }
        head.atime = atime.unwrap_or(head.mtime);
        Ok(Some(head))
    }

    fn one<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>, h: &Header) -> Result<()> {
        let kind = h.kind;
        if kind.is_dir() {
            return self.directory(h);
        }
        let at = self.root.join(&h.rel);
        if self.keeps(h)? {
            self.report.kept.push(h.rel.clone());
            return Ok(());
        }
        if kind.is_file() || kind.is_contiguous() || kind.is_gnu_sparse() {
            self.make_slot(&h.rel)?;
            self.write_file(entry, h, &at)?;
        } else if kind.is_symlink() {
            let target = h
                .link
                .as_deref()
                .ok_or_else(|| Error::format(&at, 0, "symlink without a target"))?;
            self.make_slot(&h.rel)?;
            std::os::unix::fs::symlink(OsStr::from_bytes(target), &at).at(&at)?;
            self.set_meta(&at, h, false);
        } else if kind.is_hard_link() {
            let target = self.link_target(h)?;
            self.make_slot(&h.rel)?;
            fs::hard_link(&target, &at).at(&at)?;
        } else if kind.is_character_special() || kind.is_block_special() || kind.is_fifo() {
            if !self.opts.allow_special {
                return Err(Error::Refused(format!(
                    "{}: device nodes and fifos are refused in this archive",
                    h.rel.display()
                )));
            }
            self.make_slot(&h.rel)?;
            self.make_special(h, &at)?;
            self.set_meta(&at, h, true);
        } else {
            return Err(Error::format(
                &h.rel,
                0,
                format!("unsupported tar entry type {:?}", kind.as_byte() as char),
            ));
        }
        self.extracted.insert(h.rel.clone());
        Ok(())
    }

    /// Where `rel` really goes: the symlinks on its way that the root had
    /// before this restore (an admin's `/install -> /data/install`) are
    /// followed chroot-style, and must stay inside the root; the last
    /// component only when `follow_last` (a directory entry). A symlink that
    /// this restore wrote (now or in an interrupted run, per the journal) is
    /// never followed: `parents` refuses it, so a snapshot cannot plant a
    /// link and write through it.
    fn physical(&self, rel: &Path, follow_last: bool) -> Result<PathBuf> {
        let mut hops = 0;
        let parent = self.walk(rel, rel.iter().collect(), false, &mut hops, None)?;
        if !follow_last {
            return Ok(parent);
        }
        // A directory entry at a link that leads nowhere usable replaces
        // the link (kept for rollback), as before links were followed.
        // One that climbs out of the root is refused all the same.
        match self.walk(rel, parent.iter().collect(), true, &mut hops, None) {
            Err(Error::Escape { reason, .. }) if reason.contains(NOT_A_DIR) => Ok(parent),
            other => other,
        }
    }

    /// Resolves `parts` from the root; `via` is the link whose target they
    /// are (for messages). A followed link must end at an existing
    /// directory inside the root: dangling ones are not followed into.
    fn walk(
        &self,
        rel: &Path,
        parts: Vec<&OsStr>,
        follow_last: bool,
        hops: &mut u32,
        via: Option<&str>,
    ) -> Result<PathBuf> {
        let refuse = |reason: String| Error::Escape {
            path: self.root.join(rel),
            reason,
        };
        let mut done = PathBuf::new();
        let mut missing = false;
        let count = parts.len();
        for (i, name) in parts.into_iter().enumerate() {
            if name == ".." {
                // only from a link's target: archive names are confined
                if !done.pop() {
                    return Err(refuse(format!(
                        "the symbolic link {} leads outside the root {}; refusing to write through it",
                        via.unwrap_or("on its way"),
                        self.root.display()
                    )));
                }
                continue;
            }
            let cand = done.join(name);
            if missing || (i + 1 == count && !follow_last) {
                done = cand;
                continue;
            }
            let at = self.root.join(&cand);
            let meta = match fs::symlink_metadata(&at) {
                Ok(m) => m,
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    missing = true;
                    done = cand;
                    continue;
                }
                Err(e) => return Err(Error::io(&at, e)),
            };
            let ours = self.extracted.contains(&cand)
                || self.changes.prior(cand.as_os_str().as_bytes()).is_some();
            if !meta.file_type().is_symlink() || ours {
                // a link of ours stays in the path for `parents` to refuse
                done = cand;
                continue;
            }
            *hops += 1;
            if *hops > 40 {
                return Err(refuse(format!(
                    "more than 40 symbolic links followed (a loop?), last at {}",
                    at.display()
                )));
            }
            let target = fs::read_link(&at).at(&at)?;
            let link = format!("{} -> {}", at.display(), target.display());
            // chroot-style: an absolute target starts at the root
            let mut next: Vec<&OsStr> = Vec::new();
            let base: Vec<&OsStr> = done.iter().collect();
            if !target.is_absolute() {
                next.extend(base);
            }
            next.extend(
                target
                    .iter()
                    .filter(|c| *c != OsStr::new("/") && *c != OsStr::new(".")),
            );
            let resolved = self.walk(rel, next, true, hops, Some(&link))?;
            let host = self.root.join(&resolved);
            if !fs::symlink_metadata(&host).is_ok_and(|m| m.is_dir()) {
                return Err(refuse(format!(
                    "the symbolic link {link} {NOT_A_DIR} inside the root {}; refusing to write through it",
                    self.root.display()
                )));
            }
            done = resolved;
        }
        Ok(done)
    }

    /// Whether the entry is one to keep and a regular file that this
    /// restore did not write is there (a resumed run sees it again).
    fn keeps(&self, h: &Header) -> Result<bool> {
        // `h.rel` is already resolved through the admin's links
        // (/etc/xcat -> /data/xcat): resolve the kept names the same way
        let kept = self
            .opts
            .keep_existing
            .iter()
            .any(|k| *k == h.rel || self.physical(k, false).is_ok_and(|p| p == h.rel));
        if !kept {
            return Ok(false);
        }
        if self.changes.prior(h.rel.as_os_str().as_bytes()).is_some() {
            return Ok(false);
        }
        let at = self.root.join(&h.rel);
        match fs::symlink_metadata(&at) {
            Ok(m) => Ok(m.is_file()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io(&at, e)),
        }
    }

    fn directory(&mut self, h: &Header) -> Result<()> {
        let at = self.root.join(&h.rel);
        self.parents(&h.rel)?;
        let key = h.rel.as_os_str().as_bytes();
        match fs::symlink_metadata(&at) {
            Ok(m) if m.is_dir() => {
                if self.changes.prior(key).is_none() {
                    let saved = DirMeta::read(&at)?;
                    self.changes.record(Change::DirSaved {
                        path: key.to_vec(),
                        meta: saved,
                    })?;
                }
            }
            Ok(_) => {
                self.make_slot(&h.rel)?;
                self.mkdir(&at)?;
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                self.changes.record(Change::CreatedDir(key.to_vec()))?;
                self.mkdir(&at)?;
            }
            Err(e) => return Err(Error::io(&at, e)),
        }
        self.set_owner(&at, h);
        self.set_xattrs(&at, h);
        self.dirs.push(PendingDir {
            rel: h.rel.clone(),
            mode: h.mode,
            atime: h.atime,
            mtime: h.mtime,
        });
        Ok(())
    }

    fn mkdir(&mut self, at: &Path) -> Result<()> {
        match fs::DirBuilder::new().mode(0o700).create(at) {
            Ok(()) => Ok(()),
            // resumed run: created before the interruption
            Err(e) if e.kind() == ErrorKind::AlreadyExists && self.is_real_dir(at) => Ok(()),
            Err(e) => Err(Error::io(at, e)),
        }
    }

    fn is_real_dir(&self, at: &Path) -> bool {
        fs::symlink_metadata(at)
            .map(|m| m.is_dir())
            .unwrap_or(false)
    }

    /// Creates the missing parents of `rel` one at a time, refusing any that
    /// is a symlink or not a directory, and saves the metadata of the
    /// existing directory the entry goes into.
    fn parents(&mut self, rel: &Path) -> Result<()> {
        let mut dir = PathBuf::new();
        let Some(parent) = rel.parent() else {
            return Ok(());
        };
        for part in parent.components() {
            let child = dir.join(part);
            let at = self.root.join(&child);
            match fs::symlink_metadata(&at) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(Error::Escape {
                        path: self.root.join(rel),
                        reason: format!("refusing to write through the symlink {}", at.display()),
                    })
                }
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(Error::Escape {
                        path: self.root.join(rel),
                        reason: format!("{} is not a directory", at.display()),
                    })
                }
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    self.touch_dir(&dir)?;
                    let key = child.as_os_str().as_bytes().to_vec();
                    self.changes.record(Change::CreatedDir(key))?;
                    fs::DirBuilder::new().mode(0o755).create(&at).at(&at)?;
                }
                Err(e) => return Err(Error::io(&at, e)),
            }
            dir = child;
        }
        self.touch_dir(&dir)
    }

    /// Before changing anything inside the existing directory `dir`, saves
    /// its metadata once so that rollback can reset its mtime.
    fn touch_dir(&mut self, dir: &Path) -> Result<()> {
        let key = dir.as_os_str().as_bytes();
        if self.changes.prior(key).is_some() {
            return Ok(());
        }
        let at = self.root.join(dir);
        let saved = DirMeta::read(&at)?;
        self.changes.record(Change::DirSaved {
            path: key.to_vec(),
            meta: saved,
        })
    }

    /// Makes `rel` free for a new entry: parents exist, and whatever was
    /// there is moved to a backup (first time) or removed (ours already).
    fn make_slot(&mut self, rel: &Path) -> Result<()> {
        self.parents(rel)?;
        let at = self.root.join(rel);
        let key = rel.as_os_str().as_bytes().to_vec();
        let existing = match fs::symlink_metadata(&at) {
            Ok(m) => Some(m),
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io(&at, e)),
        };
        match self.changes.prior(&key) {
            None | Some(Prior::DirSaved) => match existing {
                None => self.changes.record(Change::Created(key)),
                Some(_) => match self.changes.new_backup() {
                    Some((name, backup)) => {
                        self.changes.record(Change::Replaced {
                            path: key,
                            backup: name,
                        })?;
                        self.report.replaced += 1;
                        move_aside(&at, &backup)
                    }
                    None => {
                        self.report.replaced += 1;
                        remove_ours(&at)
                    }
                },
            },
            Some(Prior::Replaced(name)) => {
                let backup = self.changes.backup_path(&name);
                match backup {
                    // Interrupted between recording and moving: the entry on
                    // disk is still the original.
                    Some(b) if fs::symlink_metadata(&b).is_err() && existing.is_some() => {
                        move_aside(&at, &b)
                    }
                    _ => remove_ours(&at),
                }
            }
            Some(Prior::Created) => remove_ours(&at),
        }
    }

    fn write_file<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        h: &Header,
        at: &Path,
    ) -> Result<()> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(at)
            .at(at)?;
        let owner = self.opts.set_owners.then(|| {
            (
                self.map_id(&h.uname, h.uid, true),
                self.map_id(&h.gname, h.gid, false),
            )
        });
        let meta = FileMeta {
            owner,
            mode: h.mode,
            xattrs: h.xattrs.clone(),
            atime: h.atime,
            mtime: h.mtime,
        };
        let file = OpenFile::new(file, at, h.kind.is_gnu_sparse(), meta);
        let written = if h.size >= writers::HAND_OVER_FROM {
            self.writers.write(file, entry, h.size, self.progress)?
        } else {
            let warnings = &mut self.report.warnings;
            writers::write_here(file, entry, h.size, self.progress, warnings)?
        };
        if written != h.size {
            return Err(Error::format(
                at,
                0,
                format!(
                    "archive truncated: entry {} declares {} bytes but only {written} could be read",
                    h.rel.display(),
                    h.size
                ),
            ));
        }
        self.report.bytes += written;
        Ok(())
    }

    /// A hardlink target: an archive path inside the root, written by this
    /// run, reached through real directories only.
    fn link_target(&mut self, h: &Header) -> Result<PathBuf> {
        let raw = h
            .link
            .as_deref()
            .ok_or_else(|| Error::format(&h.rel, 0, "hardlink without a target"))?;
        let mut rel = confine(raw).map_err(|e| match e {
            Error::Escape { reason, .. } => Error::Escape {
                path: h.rel.clone(),
                reason: format!("hardlink target {reason}"),
            },
            other => other,
        })?;
        if let (Some(dump), Ok(rest)) = (&self.opts.dump_dir, rel.strip_prefix(".xcatport")) {
            rel = dump.join(rest);
        }
        let rel = self.physical(&rel, false)?;
        if !self.extracted.contains(&rel) {
            return Err(Error::Escape {
                path: h.rel.clone(),
                reason: format!(
                    "hardlink target {} was not extracted before it by this archive",
                    rel.display()
                ),
            });
        }
        let mut at = self.root.to_path_buf();
        for part in rel.components() {
            let m = fs::symlink_metadata(&at).at(&at)?;
            if !m.is_dir() {
                return Err(Error::Escape {
                    path: h.rel.clone(),
                    reason: format!("hardlink target leads through {}", at.display()),
                });
            }
            at.push(part);
        }
        Ok(at)
    }

    fn make_special(&mut self, h: &Header, at: &Path) -> Result<()> {
        use nix::sys::stat::{mknod, Mode, SFlag};
        let kind = if h.kind.is_fifo() {
            SFlag::S_IFIFO
        } else if h.kind.is_block_special() {
            SFlag::S_IFBLK
        } else {
            SFlag::S_IFCHR
        };
        let dev = libc::makedev(h.device.0, h.device.1);
        mknod(at, kind, Mode::from_bits_truncate(0o600), dev)
            .map_err(|e| Error::io(at, std::io::Error::from(e)))
    }

    /// Owner, mode, xattrs, times. Failures are warnings in the report: the
    /// data is in place and the admin must see what differs.
    fn set_meta(&mut self, at: &Path, h: &Header, with_mode: bool) {
        self.set_owner(at, h);
        if with_mode {
            if let Err(e) = fs::set_permissions(at, fs::Permissions::from_mode(h.mode)) {
                self.warn(Unset::Mode(h.mode).warning(at, e));
            }
        }
        self.set_xattrs(at, h);
        if let Err(e) = meta::set_times(at, h.atime, h.mtime) {
            self.warn(Unset::Times.warning(at, e));
        }
    }

    fn set_owner(&mut self, at: &Path, h: &Header) {
        if !self.opts.set_owners {
            return;
        }
        let uid = self.map_id(&h.uname, h.uid, true);
        let gid = self.map_id(&h.gname, h.gid, false);
        if let Err(e) = std::os::unix::fs::lchown(at, Some(uid), Some(gid)) {
            self.warn(Unset::Owner(uid, gid).warning(at, e));
        }
    }

    fn map_id(&mut self, name: &Option<String>, id: u32, user: bool) -> u32 {
        let Some(name) = name else { return id };
        let found = if user {
            self.accounts.uid_by_name(name)
        } else {
            self.accounts.gid_by_name(name)
        };
        if let Some(mapped) = found {
            return mapped;
        }
        let (what, file) = if user {
            ("user", "passwd")
        } else {
            ("group", "group")
        };
        let key = format!("{what} {name}");
        if self.unknown_names.insert(key) {
            self.warn(format!(
                "{what} {name:?} is not in {}; its files keep the numeric id {id}",
                self.root.join("etc").join(file).display()
            ));
        }
        id
    }

    fn set_xattrs(&mut self, at: &Path, h: &Header) {
        for (k, v) in &h.xattrs {
            if let Err(e) = xattr::set(at, OsStr::from_bytes(k), v) {
                self.warn(Unset::Xattr(k).warning(at, e));
            }
        }
    }

    fn warn(&mut self, line: String) {
        self.report.warnings.push(line);
    }

    /// Applies held-back directory modes and times, deepest first.
    fn finish_dirs(&mut self) -> Result<()> {
        let mut dirs = std::mem::take(&mut self.dirs);
        dirs.sort_by_key(|d| std::cmp::Reverse(d.rel.components().count()));
        for d in dirs {
            let at = self.root.join(&d.rel);
            if !self.is_real_dir(&at) {
                continue;
            }
            if let Err(e) = fs::set_permissions(&at, fs::Permissions::from_mode(d.mode)) {
                self.warn(Unset::Mode(d.mode).warning(&at, e));
            }
            if let Err(e) = meta::set_times(&at, d.atime, d.mtime) {
                self.warn(Unset::Times.warning(&at, e));
            }
        }
        Ok(())
    }
}

fn name_field(bytes: Option<&[u8]>) -> Option<String> {
    let b = bytes?;
    if b.is_empty() {
        return None;
    }
    std::str::from_utf8(b).ok().map(str::to_string)
}

/// `%XX` escapes of a libarchive xattr name.
fn percent_decode(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i] == b'%' {
            let hex = std::str::from_utf8(text.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Standard base64, padding optional (libarchive writes none).
fn base64_decode(text: &[u8]) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some((c - b'A') as u32),
            b'a'..=b'z' => Some((c - b'a') as u32 + 26),
            b'0'..=b'9' => Some((c - b'0') as u32 + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let text: Vec<u8> = text.iter().copied().filter(|c| *c != b'=').collect();
    if text.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for chunk in text.chunks(4) {
        let mut acc = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            acc |= value(*c)? << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

/// The archive path as a relative path of normal components only; `.` and
/// empty components are dropped, absolute names and `..` are refused.
pub fn confine(raw: &[u8]) -> Result<PathBuf> {
    let shown = Path::new(OsStr::from_bytes(raw));
    if raw.first() == Some(&b'/') {
        return Err(Error::Escape {
            path: shown.to_path_buf(),
            reason: "absolute path in archive".into(),
        });
    }
    let mut rel = PathBuf::new();
    for part in shown.components() {
        match part {
            Component::Normal(p) => rel.push(p),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(Error::Escape {
                    path: shown.to_path_buf(),
                    reason: "`..` in archive path".into(),
                })
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(Error::Escape {
                    path: shown.to_path_buf(),
                    reason: "absolute path in archive".into(),
                })
            }
        }
    }
    Ok(rel)
}

/// Moves an existing entry into the backup area: rename on the same
/// filesystem, copy with metadata (then remove) across filesystems.
fn move_aside(at: &Path, backup: &Path) -> Result<()> {
    match fs::rename(at, backup) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
            meta::copy_entry(at, backup)?;
            meta::remove_entry(at)
        }
        Err(e) => Err(Error::io(at, e)),
    }
}

/// Removes an entry this restore wrote earlier (a resumed run, or the same
/// name twice in one archive). Directories must be empty.
fn remove_ours(at: &Path) -> Result<()> {
    meta::remove_entry(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libarchive_xattr_encodings_decode() {
        assert_eq!(base64_decode(b"AP8K").unwrap(), b"\0\xff\n");
        assert_eq!(base64_decode(b"aGk").unwrap(), b"hi");
        assert_eq!(base64_decode(b"aGk=").unwrap(), b"hi");
        assert_eq!(base64_decode(b"a"), None);
        assert_eq!(base64_decode(b"a*bc"), None);
        assert_eq!(percent_decode(b"user.a%3Db").unwrap(), b"user.a=b");
        assert_eq!(percent_decode(b"x%4"), None);
    }

    #[test]
    fn confine_keeps_normal_components_only() {
        assert_eq!(confine(b"./etc/xcat/").unwrap(), PathBuf::from("etc/xcat"));
        assert_eq!(confine(b"a//b/./c").unwrap(), PathBuf::from("a/b/c"));
        assert_eq!(confine(b"./").unwrap(), PathBuf::new());
        assert!(matches!(confine(b"/etc/passwd"), Err(Error::Escape { .. })));
        assert!(matches!(confine(b"a/../../x"), Err(Error::Escape { .. })));
        assert!(matches!(confine(b".."), Err(Error::Escape { .. })));
        assert_eq!(
            confine(b"caf\xe9/x").unwrap().as_os_str().as_bytes(),
            b"caf\xe9/x"
        );
    }
}
