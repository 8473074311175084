//! The image bundle: a gzip'd tar of `./<image>/manifest.xml` and the files
//! it names (spec §3.6).
//!
//! Reading never trusts the archive. [`BundleReader::open`] streams the
//! whole bundle once and validates every member before anything is written:
//! no absolute names, no `..`, no device files or fifos, no symlink or
//! hardlink leading outside its image directory, no member twice, nothing
//! nested under a non-directory, every top-level entry an image directory
//! with a manifest.xml. [`BundleReader::extract_to`] then streams it a
//! second time into an empty staging directory, checking that each member
//! is the one validated, creating files with `O_EXCL` and never following a
//! symlink, and setting directory metadata last (deepest first).
//!
//! Writing keeps xCAT's member layout (`./`, `./<image>/`, `./<image>/…`,
//! GNU tar headers) and compresses with [`ParallelGzWriter`]; the bundle is
//! written under a temporary name and renamed into place when complete.

use super::manifest::MAX_MANIFEST_BYTES;
use super::pgzip::ParallelGzWriter;
use crate::error::IoContext;
use crate::mn::accounts::Accounts;
use crate::{Error, Result};
use flate2::read::MultiGzDecoder;
use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Seek};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// How the bundle is packed: xCAT's default `.tgz`, or a plain tar (`-n`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packing {
    Gzip,
    Plain,
}

/// What a member is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberKind {
    Dir,
    File,
    /// Target as stored (relative, checked to stay inside its image directory).
    Symlink(PathBuf),
    /// Normalised bundle path of the member it links to.
    HardLink(PathBuf),
}

/// One validated member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The name exactly as stored, as `tar tzf` prints it (e.g. `./img/kernel`).
    pub name: String,
    /// Normalised relative path: no `./`, no trailing `/`; empty for `./`.
    pub path: PathBuf,
    pub kind: MemberKind,
    pub size: u64,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Owner names as stored (uname/gname), when the bundle has them.
    pub uname: Option<String>,
    pub gname: Option<String>,
    pub mtime: u64,
}

/// Every member of a bundle, in archive order, and its image directories.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub members: Vec<Member>,
    /// Top-level directories, each holding one image's manifest.xml, in archive order.
    pub images: Vec<String>,
}

impl Listing {
    /// Member names as `tar tzf` lists them.
    pub fn names(&self) -> Vec<&str> {
        self.members.iter().map(|m| m.name.as_str()).collect()
    }

    /// The member at a normalised path.
    pub fn get(&self, path: &Path) -> Option<&Member> {
        self.members.iter().find(|m| m.path == path)
    }
}

/// A bundle whose members have all been validated.
pub struct BundleReader {
    path: PathBuf,
    file: File,
    packing: Packing,
    listing: Listing,
}

fn refuse(bundle: &Path, member: &str, why: impl std::fmt::Display) -> Error {
    Error::format(bundle, 0, format!("member {member:?}: {why}"))
}

/// Splits a stored name into Normal components, refusing absolute names and `..`.
fn normalise(bundle: &Path, name: &str, raw: &[u8]) -> Result<PathBuf> {
    if raw.first() == Some(&b'/') {
        return Err(refuse(bundle, name, "absolute path"));
    }
    if raw.contains(&0) {
        return Err(refuse(bundle, name, "NUL byte in name"));
    }
    let mut out = PathBuf::new();
    for c in Path::new(OsStr::from_bytes(raw)).components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir => return Err(refuse(bundle, name, "`..` in path")),
            Component::RootDir | Component::Prefix(_) => {
                return Err(refuse(bundle, name, "absolute path"))
            }
        }
    }
    Ok(out)
}

/// Resolves a relative symlink target from the link's directory, lexically;
/// `None` when it climbs above the bundle root or is absolute.
fn resolve_link(link: &Path, target: &Path) -> Option<PathBuf> {
    if target.is_absolute() {
        return None;
    }
    let mut parts: Vec<&OsStr> = link
        .parent()
        .map(|p| p.iter().collect())
        .unwrap_or_default();
    for c in target.components() {
        match c {
            Component::Normal(p) => parts.push(p),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.iter().collect())
}

fn first_component(p: &Path) -> Option<&OsStr> {
    p.iter().next()
}

fn open_stream(file: &File, packing: Packing, path: &Path) -> Result<Box<dyn Read>> {
    let mut f = file.try_clone().at(path)?;
    f.rewind().at(path)?;
    let buffered = BufReader::with_capacity(1 << 20, f);
    Ok(match packing {
        Packing::Gzip => Box::new(BufReader::with_capacity(
            1 << 20,
            MultiGzDecoder::new(buffered),
        )),
        Packing::Plain => Box::new(buffered),
    })
}

impl BundleReader {
    /// Opens and validates a bundle; nothing is written.
    pub fn open(path: &Path, packing: Packing) -> Result<BundleReader> {
        let file = File::open(path).at(path)?;
        let listing = validate(path, &file, packing)?;
        Ok(BundleReader {
            path: path.to_path_buf(),
            file,
            packing,
            listing,
        })
    }

    pub fn listing(&self) -> &Listing {
        &self.listing
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Extracts every member under `staging`, which must be an existing, empty
    /// directory. Nothing is written anywhere else. Owners are kept (by number)
    /// when running as root.
    pub fn extract_to(&self, staging: &Path) -> Result<()> {
        self.extract_owned_by(staging, None)
    }

    /// As [`extract_to`](Self::extract_to), owners mapped by name through
    /// `accounts` (the accounts of the MN being imported into).
    pub fn extract_owned_by(&self, staging: &Path, accounts: Option<&Accounts>) -> Result<()> {
        let meta = fs::symlink_metadata(staging).at(staging)?;
        if !meta.is_dir() {
            return Err(Error::Refused(format!(
                "{}: staging path is not a directory",
                staging.display()
            )));
        }
        if fs::read_dir(staging).at(staging)?.next().is_some() {
            return Err(Error::Refused(format!(
                "{}: staging directory is not empty",
                staging.display()
            )));
        }
        let as_root = nix::unistd::geteuid().is_root();
        let stream = open_stream(&self.file, self.packing, &self.path)?;
        let mut archive = tar::Archive::new(stream);
        let mut index = 0usize;
        let mut dirs: Vec<&Member> = Vec::new();
        let entries = archive.entries().map_err(|e| self.broken(e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| self.broken(e))?;
            if is_meta_entry(entry.header().entry_type()) {
                continue;
            }
            let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let expected = self.listing.members.get(index).ok_or_else(|| {
                refuse(&self.path, &name, "bundle changed since it was validated")
            })?;
            index += 1;
            if expected.name != name || expected.size != entry.header().size().unwrap_or(u64::MAX) {
                return Err(refuse(
                    &self.path,
                    &name,
                    "bundle changed since it was validated",
                ));
            }
            if expected.path.as_os_str().is_empty() {
                dirs.push(expected);
                continue;
            }
            let dst = staging.join(&expected.path);
            ensure_parents(staging, &expected.path, "an extracted member")?;
            match &expected.kind {
                MemberKind::Dir => {
                    match fs::symlink_metadata(&dst) {
                        Ok(m) if m.is_dir() => {}
                        Ok(_) => {
                            return Err(refuse(&self.path, &name, "collides with another member"))
                        }
                        Err(_) => fs::create_dir(&dst).at(&dst)?,
                    }
                    fs::set_permissions(&dst, fs::Permissions::from_mode(0o700)).at(&dst)?;
                    dirs.push(expected);
                }
                MemberKind::File => {
                    let mut out = OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(0o600)
                        .open(&dst)
                        .at(&dst)?;
                    let copied = io::copy(&mut entry, &mut out).map_err(|e| self.broken(e))?;
                    if copied != expected.size {
                        return Err(refuse(&self.path, &name, "truncated member data"));
                    }
                    if as_root {
                        let (uid, gid) = owner_ids(expected, accounts);
                        std::os::unix::fs::fchown(&out, Some(uid), Some(gid)).at(&dst)?;
                    }
                    out.set_permissions(fs::Permissions::from_mode(expected.mode))
                        .at(&dst)?;
                    out.set_modified(mtime(expected.mtime)).at(&dst)?;
                }
                MemberKind::Symlink(target) => {
                    std::os::unix::fs::symlink(target, &dst).at(&dst)?;
                    if as_root {
                        let (uid, gid) = owner_ids(expected, accounts);
                        std::os::unix::fs::lchown(&dst, Some(uid), Some(gid)).at(&dst)?;
                    }
                }
                MemberKind::HardLink(target) => {
                    fs::hard_link(staging.join(target), &dst).at(&dst)?;
                }
            }
        }
        if index != self.listing.members.len() {
            return Err(Error::format(
                &self.path,
                0,
                "bundle changed since it was validated (fewer members)",
            ));
        }
        // Directory metadata last, deepest first, so a read-only directory
        // cannot block its own children and mtimes are not disturbed.
        dirs.sort_by_key(|m| std::cmp::Reverse(m.path.components().count()));
        for m in dirs {
            let dst = staging.join(&m.path);
            if m.path.as_os_str().is_empty() {
                continue;
            }
            if as_root {
                let (uid, gid) = owner_ids(m, accounts);
                std::os::unix::fs::lchown(&dst, Some(uid), Some(gid)).at(&dst)?;
            }
            fs::set_permissions(&dst, fs::Permissions::from_mode(m.mode)).at(&dst)?;
            set_dir_mtime(&dst, m.mtime)?;
        }
        Ok(())
    }

    fn broken(&self, e: io::Error) -> Error {
        Error::format(&self.path, 0, format!("not a readable bundle: {e}"))
    }
}

fn mtime(secs: u64) -> std::time::SystemTime {
    std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs)
}

fn set_dir_mtime(path: &Path, secs: u64) -> Result<()> {
    let t = nix::sys::time::TimeSpec::new(secs as i64, 0);
    nix::sys::stat::utimensat(
        None,
        path,
        &t,
        &t,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .map_err(|e| Error::io(path, io::Error::from(e)))
}

/// Creates missing parents of `rel` under `base` one at a time, refusing any
/// existing component that is not a real directory (a planted symlink);
/// `what` names the member in the error (bundles and rootimg trees share it).
pub(super) fn ensure_parents(base: &Path, rel: &Path, what: &str) -> Result<()> {
    let mut cur = base.to_path_buf();
    let Some(parent) = rel.parent() else {
        return Ok(());
    };
    for c in parent.components() {
        cur.push(c);
        match fs::symlink_metadata(&cur) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(Error::Escape {
                    path: cur,
                    reason: format!("a parent of {what} is not a directory"),
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(&cur).at(&cur)?;
                fs::set_permissions(&cur, fs::Permissions::from_mode(0o755)).at(&cur)?;
            }
            Err(e) => return Err(Error::io(&cur, e)),
        }
    }
    Ok(())
}

fn is_meta_entry(t: tar::EntryType) -> bool {
    matches!(
        t,
        tar::EntryType::XGlobalHeader
            | tar::EntryType::XHeader
            | tar::EntryType::GNULongName
            | tar::EntryType::GNULongLink
    )
}

fn validate(bundle: &Path, file: &File, packing: Packing) -> Result<Listing> {
    let broken = |e: io::Error| Error::format(bundle, 0, format!("not a readable bundle: {e}"));
    let stream = open_stream(file, packing, bundle)?;
    let mut archive = tar::Archive::new(stream);
    let mut listing = Listing::default();
    let mut index: HashMap<PathBuf, usize> = HashMap::new();
    // Every directory implied by a member's path (its ancestors).
    let mut implied: HashSet<PathBuf> = HashSet::new();
    for entry in archive.entries().map_err(broken)? {
        let entry = entry.map_err(broken)?;
        let header = entry.header();
        let etype = header.entry_type();
        if is_meta_entry(etype) {
            continue;
        }
        let raw = entry.path_bytes();
        let name = String::from_utf8_lossy(&raw).into_owned();
        let path = normalise(bundle, &name, &raw)?;
        let size = header.size().map_err(broken)?;
        let kind = match etype {
            tar::EntryType::Directory => MemberKind::Dir,
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                MemberKind::File
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| refuse(bundle, &name, "symlink without a target"))?;
                let target = PathBuf::from(OsStr::from_bytes(&target));
                let inside = resolve_link(&path, &target).filter(|r| {
                    first_component(r).is_some() && first_component(r) == first_component(&path)
                });
                if inside.is_none() {
                    return Err(refuse(
                        bundle,
                        &name,
                        format!(
                            "symlink to {} points outside its image directory",
                            target.display()
                        ),
                    ));
                }
                MemberKind::Symlink(target)
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| refuse(bundle, &name, "hard link without a target"))?;
                let tname = String::from_utf8_lossy(&target).into_owned();
                let tpath = normalise(bundle, &tname, &target)?;
                let ok = index
                    .get(&tpath)
                    .is_some_and(|&i| listing.members[i].kind == MemberKind::File)
                    && first_component(&tpath) == first_component(&path);
                if !ok {
                    return Err(refuse(
                        bundle,
                        &name,
                        format!(
                            "hard link to {tname:?}, which is not an earlier file of its image"
                        ),
                    ));
                }
                MemberKind::HardLink(tpath)
            }
            other => {
                return Err(refuse(
                    bundle,
                    &name,
                    format!("{} members are not accepted", kind_name(other)),
                ))
            }
        };
        if path.as_os_str().is_empty() && kind != MemberKind::Dir {
            return Err(refuse(bundle, &name, "the bundle root must be a directory"));
        }
        if index.contains_key(&path) {
            return Err(refuse(bundle, &name, "appears twice in the bundle"));
        }
        if kind != MemberKind::Dir && implied.contains(&path) {
            return Err(refuse(
                bundle,
                &name,
                "a non-directory has members under it",
            ));
        }
        let depth = path.components().count();
        if depth == 1 {
            let top = path.to_string_lossy();
            if top.starts_with('.') {
                return Err(refuse(bundle, &name, "hidden top-level entry"));
            }
            if kind != MemberKind::Dir {
                return Err(refuse(
                    bundle,
                    &name,
                    "top-level entries must be image directories",
                ));
            }
        }
        let mut ancestor = path.parent();
        while let Some(a) = ancestor {
            if a.as_os_str().is_empty() {
                break;
            }
            if let Some(&i) = index.get(a) {
                if listing.members[i].kind != MemberKind::Dir {
                    return Err(refuse(
                        bundle,
                        &name,
                        format!(
                            "lies under {:?}, which is not a directory",
                            listing.members[i].name
                        ),
                    ));
                }
            }
            if !implied.insert(a.to_path_buf()) {
                break;
            }
            ancestor = a.parent();
        }
        let member = Member {
            name,
            path: path.clone(),
            kind,
            size,
            mode: header.mode().map_err(broken)? & 0o7777,
            uid: header.uid().map_err(broken)?,
            gid: header.gid().map_err(broken)?,
            uname: owner_name(header.username_bytes()),
            gname: owner_name(header.groupname_bytes()),
            mtime: header.mtime().map_err(broken)?,
        };
        index.insert(path, listing.members.len());
        listing.members.push(member);
    }
    // The tar reader stops at the end-of-archive block; reading on to the
    // end checks the gzip trailer, so a bundle cut short is refused here.
    io::copy(&mut archive.into_inner(), &mut io::sink()).map_err(broken)?;
    // Image directories: every top-level directory, which must hold a manifest.
    let mut tops: Vec<String> = Vec::new();
    for m in &listing.members {
        if let Some(top) = first_component(&m.path) {
            let top = top.to_string_lossy().into_owned();
            if !tops.contains(&top) {
                tops.push(top);
            }
        }
    }
    if tops.is_empty() {
        return Err(Error::format(
            bundle,
            0,
            "the bundle holds no image directory",
        ));
    }
    for top in &tops {
        let manifest = Path::new(top).join("manifest.xml");
        let ok = index
            .get(&manifest)
            .is_some_and(|&i| listing.members[i].kind == MemberKind::File);
        if !ok {
            return Err(Error::format(
                bundle,
                0,
                format!("image directory {top:?} has no manifest.xml"),
            ));
        }
        let size = index.get(&manifest).map_or(0, |&i| listing.members[i].size);
        if size > MAX_MANIFEST_BYTES {
            return Err(refuse(
                bundle,
                &manifest.to_string_lossy(),
                format!("{size} bytes, larger than a manifest.xml can be ({MAX_MANIFEST_BYTES})"),
            ));
        }
    }
    listing.images = tops;
    Ok(listing)
}

fn owner_name(bytes: Option<&[u8]>) -> Option<String> {
    bytes
        .filter(|b| !b.is_empty())
        .and_then(|b| std::str::from_utf8(b).ok())
        .map(String::from)
}

/// The uid and gid a member gets on the MN under `accounts`: its owner
/// names when that MN knows them (the numbers differ between MNs), else
/// the numbers stored.
pub fn owner_ids(m: &Member, accounts: Option<&Accounts>) -> (u32, u32) {
    let uid = accounts
        .zip(m.uname.as_deref())
        .and_then(|(a, n)| a.uid_by_name(n))
        .unwrap_or(m.uid as u32);
    let gid = accounts
        .zip(m.gname.as_deref())
        .and_then(|(a, n)| a.gid_by_name(n))
        .unwrap_or(m.gid as u32);
    (uid, gid)
}

fn kind_name(t: tar::EntryType) -> &'static str {
    match t {
        tar::EntryType::Char => "character device",
        tar::EntryType::Block => "block device",
        tar::EntryType::Fifo => "fifo",
        _ => "unknown-type",
    }
}

// ---------------------------------------------------------------------------
// Writing.

/// Compression settings for writing a bundle.
#[derive(Debug, Clone, Copy)]
pub struct GzOptions {
    /// gzip level for ordinary members (xCAT's `tar czf` uses 6).
    pub level: u32,
    /// Level for members that are already compressed (by name).
    pub compressed_level: u32,
    /// Worker threads; 0 = every core.
    pub threads: usize,
}

impl Default for GzOptions {
    fn default() -> Self {
        GzOptions {
            level: 6,
            // Deflating gzip/xz/squashfs data again gains nothing: store it.
            compressed_level: 0,
            threads: 0,
        }
    }
}

/// Names whose content is already compressed: deflating again gains nothing.
fn already_compressed(name: &str) -> bool {
    [
        ".gz", ".xz", ".bz2", ".zst", ".sfs", ".tgz", ".rpm", ".iso", ".img.gz",
    ]
    .iter()
    .any(|s| name.ends_with(s))
}

/// Writes a bundle with xCAT's layout: `./`, `./<image>/`, `./<image>/…`.
pub struct BundleWriter {
    builder: Option<tar::Builder<ParallelGzWriter<BufWriter<File>>>>,
    image: String,
    temp: PathBuf,
    dest: PathBuf,
    opts: GzOptions,
    /// The exporting MN's accounts, for owner names in headers.
    accounts: Option<Accounts>,
}

impl BundleWriter {
    /// Starts `dest` (written as a hidden temporary beside it until [`finish`](Self::finish)).
    pub fn create(dest: &Path, image_dir: &str, opts: GzOptions) -> Result<BundleWriter> {
        if image_dir.is_empty() || image_dir.contains('/') || image_dir.starts_with('.') {
            return Err(Error::Refused(format!(
                "{image_dir:?} cannot be an image directory name in a bundle"
            )));
        }
        let name = dest
            .file_name()
            .ok_or_else(|| Error::Refused(format!("{}: not a file name", dest.display())))?;
        let temp = dest.with_file_name(format!(".{}.xcatport-partial", name.to_string_lossy()));
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(&temp)
            .at(&temp)?;
        let gz = ParallelGzWriter::new(
            BufWriter::with_capacity(1 << 20, file),
            opts.level,
            opts.threads,
        );
        let mut builder = tar::Builder::new(gz);
        builder.mode(tar::HeaderMode::Complete);
        builder.follow_symlinks(false);
        let mut w = BundleWriter {
            builder: Some(builder),
            image: image_dir.to_string(),
            temp,
            dest: dest.to_path_buf(),
            opts,
            accounts: None,
        };
        w.append_dir_entry("./", 0o700, now())?;
        let top = format!("./{image_dir}/");
        w.append_dir_entry(&top, 0o755, now())?;
        Ok(w)
    }

    /// Records owner names from `accounts` (the MN the files come from) in
    /// every following member's uname/gname, as GNU tar does.
    pub fn set_accounts(&mut self, accounts: Accounts) {
        self.accounts = Some(accounts);
    }

    fn builder(&mut self) -> Result<&mut tar::Builder<ParallelGzWriter<BufWriter<File>>>> {
        self.builder
            .as_mut()
            .ok_or_else(|| Error::Refused("bundle writer already finished".into()))
    }

    fn member_name(&self, rel: &str) -> Result<String> {
        let p = Path::new(rel);
        if rel.is_empty()
            || p.is_absolute()
            || p.components().any(|c| !matches!(c, Component::Normal(_)))
        {
            return Err(Error::Refused(format!(
                "{rel:?} is not a relative member path"
            )));
        }
        Ok(format!("./{}/{rel}", self.image))
    }

    fn header(
        &self,
        kind: tar::EntryType,
        mode: u32,
        uid: u64,
        gid: u64,
        mtime: u64,
        size: u64,
    ) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode & 0o7777);
        h.set_uid(uid);
        h.set_gid(gid);
        h.set_mtime(mtime);
        h.set_size(size);
        let user = self.accounts.as_ref().and_then(|a| a.user_name(uid as u32));
        let group = self
            .accounts
            .as_ref()
            .and_then(|a| a.group_name(gid as u32));
        // Names longer than the 32-byte field stay numeric-only.
        match user {
            Some(u) => drop(h.set_username(u)),
            None if uid == 0 => drop(h.set_username("root")),
            None => {}
        }
        match group {
            Some(g) => drop(h.set_groupname(g)),
            None if gid == 0 => drop(h.set_groupname("root")),
            None => {}
        }
        h
    }

    fn append_dir_entry(&mut self, name: &str, mode: u32, mtime: u64) -> Result<()> {
        let h = self.header(tar::EntryType::Directory, mode, 0, 0, mtime, 0);
        let temp = self.temp.clone();
        append_named(self.builder()?, h, name, None, io::empty()).at(&temp)
    }

    /// A member made in memory (manifest.xml, litefile.csv).
    pub fn add_generated(&mut self, rel: &str, bytes: &[u8], mode: u32) -> Result<()> {
        let name = self.member_name(rel)?;
        let h = self.header(
            tar::EntryType::Regular,
            mode,
            0,
            0,
            now(),
            bytes.len() as u64,
        );
        let level = self.opts.level;
        let temp = self.temp.clone();
        let b = self.builder()?;
        b.get_mut().set_level(level).at(&temp)?;
        append_named(b, h, &name, None, bytes).at(&temp)
    }

    /// A directory member with the metadata of `source` (or 0755 root when `None`).
    pub fn add_dir(&mut self, rel: &str, source: Option<&Path>) -> Result<()> {
        let name = format!("{}/", self.member_name(rel)?);
        match source {
            Some(src) => {
                let m = fs::symlink_metadata(src).at(src)?;
                let h = self.header(
                    tar::EntryType::Directory,
                    m.mode(),
                    m.uid().into(),
                    m.gid().into(),
                    m.mtime().max(0) as u64,
                    0,
                );
                let temp = self.temp.clone();
                append_named(self.builder()?, h, &name, None, io::empty()).at(&temp)
            }
            None => self.append_dir_entry(&name, 0o755, now()),
        }
    }

    /// A file, directory or symlink from disk, under member path `rel`
    /// (not followed: a symlink is stored as a symlink). File data is streamed.
    pub fn add_path(&mut self, rel: &str, source: &Path) -> Result<()> {
        let m = fs::symlink_metadata(source).at(source)?;
        let ft = m.file_type();
        if ft.is_dir() {
            return self.add_dir(rel, Some(source));
        }
        let name = self.member_name(rel)?;
        let (uid, gid, mtime) = (m.uid().into(), m.gid().into(), m.mtime().max(0) as u64);
        let temp = self.temp.clone();
        if ft.is_symlink() {
            let target = fs::read_link(source).at(source)?;
            let h = self.header(tar::EntryType::Symlink, m.mode(), uid, gid, mtime, 0);
            let target = target.as_os_str().as_bytes();
            return append_named(self.builder()?, h, &name, Some(target), io::empty()).at(&temp);
        }
        if !ft.is_file() {
            return Err(Error::Refused(format!(
                "{}: only regular files, directories and symlinks go into a bundle",
                source.display()
            )));
        }
        let file = File::open(source).at(source)?;
        let size = file.metadata().at(source)?.len();
        let h = self.header(tar::EntryType::Regular, m.mode(), uid, gid, mtime, size);
        let level = if already_compressed(rel) {
            self.opts.compressed_level
        } else {
            self.opts.level
        };
        let b = self.builder()?;
        b.get_mut().set_level(level).at(&temp)?;
        let mut counted = CountingReader {
            inner: BufReader::with_capacity(1 << 20, file).take(size),
            n: 0,
        };
        append_named(b, h, &name, None, &mut counted).at(&temp)?;
        if counted.n != size {
            return Err(Error::io(
                source,
                io::Error::other(format!(
                    "file shrank while being packed ({} of {size} bytes)",
                    counted.n
                )),
            ));
        }
        Ok(())
    }

    /// A file from disk stored as a root-owned regular member with `mode`
    /// and the current time (a file the exporter made, e.g. rootimgtree.gz).
    pub fn add_path_as(&mut self, rel: &str, source: &Path, mode: u32) -> Result<()> {
        let name = self.member_name(rel)?;
        let file = File::open(source).at(source)?;
        let size = file.metadata().at(source)?.len();
        let h = self.header(tar::EntryType::Regular, mode, 0, 0, now(), size);
        let level = self.opts.compressed_level;
        let temp = self.temp.clone();
        let b = self.builder()?;
        b.get_mut().set_level(level).at(&temp)?;
        let data = BufReader::with_capacity(1 << 20, file).take(size);
        append_named(b, h, &name, None, data).at(&temp)
    }

    /// A whole tree (e.g. a kit directory or an `-e` directory) under `rel`,
    /// in sorted order, symlinks kept as symlinks.
    pub fn add_tree(&mut self, rel: &str, source: &Path) -> Result<()> {
        for entry in walkdir::WalkDir::new(source)
            .follow_links(false)
            .sort_by_file_name()
        {
            let entry = entry.map_err(|e| {
                let p = e.path().unwrap_or(source).to_path_buf();
                Error::io(p, e.into())
            })?;
            let sub = entry.path().strip_prefix(source).unwrap_or(Path::new(""));
            let member = if sub.as_os_str().is_empty() {
                rel.to_string()
            } else {
                format!("{rel}/{}", sub.to_string_lossy())
            };
            self.add_path(&member, entry.path())?;
        }
        Ok(())
    }

    /// Completes the archive, flushes it to disk and renames it into place.
    pub fn finish(mut self) -> Result<PathBuf> {
        let temp = self.temp.clone();
        let builder = self
            .builder
            .take()
            .ok_or_else(|| Error::Refused("bundle writer already finished".into()))?;
        let gz = builder.into_inner().at(&temp)?;
        let buffered = gz.finish().at(&temp)?;
        let file = buffered
            .into_inner()
            .map_err(|e| Error::io(&temp, e.into_error()))?;
        file.sync_all().at(&temp)?;
        drop(file);
        fs::rename(&temp, &self.dest).at(&self.dest)?;
        Ok(self.dest.clone())
    }
}

impl Drop for BundleWriter {
    fn drop(&mut self) {
        if self.builder.is_some() {
            // Not finished: an error happened; leave no partial bundle behind.
            let _ = fs::remove_file(&self.temp);
        }
    }
}

/// Appends a member under exactly `name` (tar-rs would drop the `./`
/// prefix xCAT's members carry), with GNU long-name/long-link records for
/// names or link targets over 100 bytes, as GNU tar writes them.
fn append_named<W: io::Write>(
    b: &mut tar::Builder<W>,
    mut h: tar::Header,
    name: &str,
    link: Option<&[u8]>,
    data: impl Read,
) -> io::Result<()> {
    fn long_record<W: io::Write>(
        b: &mut tar::Builder<W>,
        kind: tar::EntryType,
        value: &[u8],
    ) -> io::Result<()> {
        let mut h = tar::Header::new_gnu();
        let marker = b"././@LongLink";
        h.as_old_mut().name[..marker.len()].copy_from_slice(marker);
        h.set_entry_type(kind);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        let mut data = value.to_vec();
        data.push(0);
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, &data[..])
    }
    let bytes = name.as_bytes();
    if bytes.len() > 100 {
        long_record(b, tar::EntryType::GNULongName, bytes)?;
    }
    let n = bytes.len().min(100);
    h.as_old_mut().name = [0; 100];
    h.as_old_mut().name[..n].copy_from_slice(&bytes[..n]);
    if let Some(target) = link {
        if target.len() > 100 {
            long_record(b, tar::EntryType::GNULongLink, target)?;
        }
        let n = target.len().min(100);
        h.as_old_mut().linkname = [0; 100];
        h.as_old_mut().linkname[..n].copy_from_slice(&target[..n]);
    }
    h.set_cksum();
    b.append(&h, data)
}

struct CountingReader<R> {
    inner: R,
    n: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        Ok(n)
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_resolution_is_lexical_and_bounded() {
        let l = Path::new("img/a/link");
        assert_eq!(
            resolve_link(l, Path::new("../b")),
            Some(PathBuf::from("img/b"))
        );
        assert_eq!(
            resolve_link(l, Path::new("../../x")),
            Some(PathBuf::from("x"))
        );
        assert_eq!(resolve_link(l, Path::new("../../../x")), None);
        assert_eq!(resolve_link(l, Path::new("/etc/passwd")), None);
    }

    #[test]
    fn compressed_names_get_the_fast_level() {
        assert!(already_compressed("img/rootimg.cpio.gz"));
        assert!(already_compressed("img/rootimg.sfs"));
        assert!(!already_compressed("img/compute.pkglist"));
    }
}
