//! The restore journal under `<root>/var/lib/xcatport/` (mode 0700).
//!
//! Two files live there. `journal.json` is the ordered step list with each
//! step's state; it is replaced atomically (temp file, fsync, rename, fsync
//! of the directory) on every state change, so a crash leaves either the old
//! or the new list. `changes.log` is the files step's undo record: one line
//! per change, written *before* the change is made (intent first), so that
//! whatever a crash interrupts, rollback finds a record for it. Lines are
//! only written, not fsynced: durability comes from `syncfs` at the end of
//! each step (see [`sync_filesystem`]), as the design decides.
//!
//! Records (paths relative to the root, hex-encoded since names may be
//! any bytes):
//! - `C <path>`: created where nothing was; rollback removes it.
//! - `D <path>`: directory created; rollback removes it when empty.
//! - `R <path> <backup>`: an existing entry was moved to `backup/<backup>`;
//!   rollback moves it back. A missing backup means the move never happened.
//! - `M <path> <meta>`: an existing directory was about to change (its
//!   metadata, or an entry inside it); rollback reapplies `<meta>` last.

use crate::error::IoContext;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::meta::{self, DirMeta};

const STATE_FILE: &str = "journal.json";
const CHANGES_FILE: &str = "changes.log";
const BACKUP_DIR: &str = "backup";

/// Where a step is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepState {
    Pending,
    Running,
    Done,
    Skipped,
}

/// One step as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    pub name: String,
    pub state: StepState,
    /// One-line result of the step (what it did, or why it was skipped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    version: u32,
    steps: Vec<StepRecord>,
    #[serde(default)]
    rolled_back: bool,
}

/// What the journal knows about a path from earlier records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prior {
    /// Created by the restore (file or directory).
    Created,
    /// Moved aside to this backup name.
    Replaced(String),
    /// An existing directory whose metadata was saved.
    DirSaved,
}

/// A change about to be made, recorded before making it.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Created(Vec<u8>),
    CreatedDir(Vec<u8>),
    Replaced { path: Vec<u8>, backup: String },
    DirSaved { path: Vec<u8>, meta: DirMeta },
}

impl Change {
    fn path(&self) -> &[u8] {
        match self {
            Change::Created(p) | Change::CreatedDir(p) => p,
            Change::Replaced { path, .. } | Change::DirSaved { path, .. } => path,
        }
    }

    fn prior(&self) -> Prior {
        match self {
            Change::Created(_) | Change::CreatedDir(_) => Prior::Created,
            Change::Replaced { backup, .. } => Prior::Replaced(backup.clone()),
            Change::DirSaved { .. } => Prior::DirSaved,
        }
    }

    fn encode(&self) -> String {
        match self {
            Change::Created(p) => format!("C {}", hex::encode(p)),
            Change::CreatedDir(p) => format!("D {}", hex::encode(p)),
            Change::Replaced { path, backup } => format!("R {} {backup}", hex::encode(path)),
            Change::DirSaved { path, meta } => format!("M {} {}", hex::encode(path), meta.encode()),
        }
    }

    fn decode(line: &str) -> Option<Change> {
        let mut parts = line.splitn(3, ' ');
        let kind = parts.next()?;
        let path = hex::decode(parts.next()?).ok()?;
        let rest = parts.next();
        match (kind, rest) {
            ("C", None) => Some(Change::Created(path)),
            ("D", None) => Some(Change::CreatedDir(path)),
            ("R", Some(b)) if is_backup_name(b) => Some(Change::Replaced {
                path,
                backup: b.to_string(),
            }),
            ("M", Some(m)) => Some(Change::DirSaved {
                path,
                meta: DirMeta::decode(m)?,
            }),
            _ => None,
        }
    }
}

fn is_backup_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit())
}

/// Where extraction records its changes. The journal's change log is one;
/// [`NoJournal`] (plain unpacking, e.g. imgimport) records nothing and keeps
/// no backups.
pub trait ChangeSink {
    /// What earlier records say about `path`.
    fn prior(&self, path: &[u8]) -> Option<Prior>;
    /// Records a change before it is made.
    fn record(&mut self, change: Change) -> Result<()>;
    /// A fresh backup name and its location, or None when no backups are kept.
    fn new_backup(&mut self) -> Option<(String, PathBuf)>;
    /// Location of an existing backup name.
    fn backup_path(&self, name: &str) -> Option<PathBuf>;
}

/// Records nothing: existing entries are simply replaced.
pub struct NoJournal;

impl ChangeSink for NoJournal {
    fn prior(&self, _: &[u8]) -> Option<Prior> {
        None
    }
    fn record(&mut self, _: Change) -> Result<()> {
        Ok(())
    }
    fn new_backup(&mut self) -> Option<(String, PathBuf)> {
        None
    }
    fn backup_path(&self, _: &str) -> Option<PathBuf> {
        None
    }
}

/// The append-only change log of one journal.
pub struct ChangeLog {
    file: PathBuf,
    backups: PathBuf,
    writer: File,
    priors: HashMap<Vec<u8>, Prior>,
    next_backup: u64,
}

impl ChangeLog {
    fn open(dir: &Path) -> Result<ChangeLog> {
        let file = dir.join(CHANGES_FILE);
        let backups = dir.join(BACKUP_DIR);
        fs::DirBuilder::new()
            .mode(0o700)
            .recursive(true)
            .create(&backups)
            .at(&backups)?;
        let mut priors = HashMap::new();
        let mut next_backup = 0;
        for change in read_changes(&file)? {
            if let Change::Replaced { backup, .. } = &change {
                if let Ok(n) = backup.parse::<u64>() {
                    next_backup = next_backup.max(n + 1);
                }
            }
            priors
                .entry(change.path().to_vec())
                .or_insert_with(|| change.prior());
        }
        let writer = OpenOptions::new()
            .create(true)
            .append(true)
            .mode_0600()
            .open(&file)
            .at(&file)?;
        Ok(ChangeLog {
            file,
            backups,
            writer,
            priors,
            next_backup,
        })
    }
}

trait Mode0600 {
    fn mode_0600(&mut self) -> &mut Self;
}

impl Mode0600 for OpenOptions {
    fn mode_0600(&mut self) -> &mut Self {
        std::os::unix::fs::OpenOptionsExt::mode(self, 0o600)
    }
}

impl ChangeSink for ChangeLog {
    fn prior(&self, path: &[u8]) -> Option<Prior> {
        self.priors.get(path).cloned()
    }

    fn record(&mut self, change: Change) -> Result<()> {
        let line = change.encode() + "\n";
        // One write(2) per record: the intent reaches the kernel before the
        // change does, so even a killed process leaves a complete record.
        self.writer.write_all(line.as_bytes()).at(&self.file)?;
        self.priors
            .entry(change.path().to_vec())
            .or_insert_with(|| change.prior());
        Ok(())
    }

    fn new_backup(&mut self) -> Option<(String, PathBuf)> {
        let name = self.next_backup.to_string();
        self.next_backup += 1;
        let path = self.backups.join(&name);
        Some((name, path))
    }

    fn backup_path(&self, name: &str) -> Option<PathBuf> {
        Some(self.backups.join(name))
    }
}

fn read_changes(file: &Path) -> Result<Vec<Change>> {
    let handle = match File::open(file) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(file, e)),
    };
    let mut changes = Vec::new();
    let mut reader = BufReader::new(handle);
    let mut line = String::new();
    let mut number = 0u64;
    loop {
        line.clear();
        let n = reader.read_line(&mut line).at(file)?;
        if n == 0 {
            break;
        }
        number += 1;
        if !line.ends_with('\n') {
            // A record cut by a crash: its change was never started.
            break;
        }
        let text = line.trim_end_matches('\n');
        let change = Change::decode(text)
            .ok_or_else(|| Error::format(file, number, "not a journal change record"))?;
        changes.push(change);
    }
    Ok(changes)
}

/// The journal of one restore.
pub struct Journal {
    dir: PathBuf,
    state: State,
    changes: Option<ChangeLog>,
}

/// What a rollback did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RollbackReport {
    pub removed: u64,
    pub restored: u64,
    pub directories: u64,
    /// Things left in place, each with the reason (e.g. a directory that is
    /// no longer empty because someone added a file to it).
    pub warnings: Vec<String>,
    /// The other steps' undo results, `(step, what was done)`, in order.
    pub steps: Vec<(String, String)>,
}

impl Journal {
    /// `<root>/var/lib/xcatport`.
    pub fn default_dir(root: &Path) -> PathBuf {
        root.join("var/lib/xcatport")
    }

    /// Starts a new journal in `dir` with these steps, all pending. Refuses
    /// when a journal is already there: it belongs to an earlier restore
    /// that must be resumed, rolled back or removed first.
    pub fn create(dir: &Path, steps: &[&str]) -> Result<Journal> {
        let state_file = dir.join(STATE_FILE);
        if state_file.exists() {
            return Err(Error::Refused(format!(
                "{}: a journal of an earlier restore exists; run with --resume or \
                 --rollback, or remove {} if that restore is finished",
                state_file.display(),
                dir.display()
            )));
        }
        fs::DirBuilder::new().recursive(true).create(dir).at(dir)?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).at(dir)?;
        let state = State {
            version: 1,
            steps: steps
                .iter()
                .map(|name| StepRecord {
                    name: name.to_string(),
                    state: StepState::Pending,
                    detail: None,
                })
                .collect(),
            rolled_back: false,
        };
        let journal = Journal {
            dir: dir.to_path_buf(),
            state,
            changes: None,
        };
        journal.save()?;
        Ok(journal)
    }

    /// Opens the journal in `dir` (for `--resume` and `--rollback`).
    pub fn open(dir: &Path) -> Result<Journal> {
        let state_file = dir.join(STATE_FILE);
        let text = match fs::read_to_string(&state_file) {
            Ok(t) => t,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(Error::Refused(format!(
                    "{}: no restore journal here; nothing to resume or roll back",
                    state_file.display()
                )))
            }
            Err(e) => return Err(Error::io(&state_file, e)),
        };
        let state: State = serde_json::from_str(&text)
            .map_err(|e| Error::format(&state_file, e.line() as u64, e.to_string()))?;
        Ok(Journal {
            dir: dir.to_path_buf(),
            state,
            changes: None,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn steps(&self) -> &[StepRecord] {
        &self.state.steps
    }

    pub fn state_of(&self, step: &str) -> Option<StepState> {
        self.state
            .steps
            .iter()
            .find(|s| s.name == step)
            .map(|s| s.state)
    }

    /// True when every step is done or skipped.
    pub fn is_complete(&self) -> bool {
        self.state
            .steps
            .iter()
            .all(|s| matches!(s.state, StepState::Done | StepState::Skipped))
    }

    pub fn is_rolled_back(&self) -> bool {
        self.state.rolled_back
    }

    /// Marks `step` running (saved before the step acts).
    pub fn begin(&mut self, step: &str) -> Result<()> {
        self.set(step, StepState::Running, None)
    }

    /// Marks `step` finished with `state` and a one-line detail.
    pub fn finish(&mut self, step: &str, state: StepState, detail: &str) -> Result<()> {
        self.set(step, state, Some(detail.to_string()))
    }

    fn set(&mut self, step: &str, state: StepState, detail: Option<String>) -> Result<()> {
        let file = self.dir.join(STATE_FILE);
        let record = self
            .state
            .steps
            .iter_mut()
            .find(|s| s.name == step)
            .ok_or_else(|| Error::format(&file, 0, format!("the journal has no step {step:?}")))?;
        record.state = state;
        if detail.is_some() {
            record.detail = detail;
        }
        self.save()
    }

    /// The change log, opened on first use.
    pub fn changes(&mut self) -> Result<&mut ChangeLog> {
        if self.changes.is_none() {
            self.changes = Some(ChangeLog::open(&self.dir)?);
        }
        match self.changes.as_mut() {
            Some(c) => Ok(c),
            None => Err(Error::Refused("journal change log unavailable".into())),
        }
    }

    fn save(&self) -> Result<()> {
        let file = self.dir.join(STATE_FILE);
        let tmp = self.dir.join(format!("{STATE_FILE}.tmp"));
        let text = serde_json::to_string_pretty(&self.state)
            .map_err(|e| Error::format(&file, 0, e.to_string()))?;
        {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode_0600()
                .open(&tmp)
                .at(&tmp)?;
            f.write_all(text.as_bytes()).at(&tmp)?;
            f.write_all(b"\n").at(&tmp)?;
            f.sync_all().at(&tmp)?;
        }
        fs::rename(&tmp, &file).at(&file)?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .at(&self.dir)
    }

    /// Puts back every file the restore replaced, removes what it created
    /// and resets the metadata of the directories it touched. Running it
    /// again finds nothing left to do and changes nothing.
    pub fn rollback_files(&mut self, root: &Path) -> Result<RollbackReport> {
        let changes_file = self.dir.join(CHANGES_FILE);
        let changes = read_changes(&changes_file)?;
        let backups = self.dir.join(BACKUP_DIR);
        let mut report = RollbackReport::default();
        let mut saved_dirs = Vec::new();
        // Newest first: a path recorded twice (a directory saved, then moved
        // aside for a file) is unwound in the opposite order it was changed.
        for change in changes.into_iter().rev() {
            // Never act through a symlink: if a parent is not a real
            // directory now, leave the entry and say so.
            if let Some(why) = parent_not_real_dir(root, change.path()) {
                report.warnings.push(why);
                continue;
            }
            match change {
                Change::Created(path) => {
                    let at = root.join(OsStr::from_bytes(&path));
                    if remove_created(&at, &mut report)? {
                        report.removed += 1;
                    }
                }
                Change::CreatedDir(path) => {
                    let at = root.join(OsStr::from_bytes(&path));
                    if remove_created(&at, &mut report)? {
                        report.directories += 1;
                    }
                }
                Change::Replaced { path, backup } => {
                    let at = root.join(OsStr::from_bytes(&path));
                    let from = backups.join(&backup);
                    if put_back(&from, &at)? {
                        report.restored += 1;
                    }
                }
                Change::DirSaved { path, meta } => saved_dirs.push((path, meta)),
            }
        }
        // Directory metadata last, deepest first: nothing removed or moved
        // back after this point can bump their mtimes again.
        saved_dirs.sort_by_key(|(p, _)| std::cmp::Reverse(depth(p)));
        for (path, meta) in saved_dirs {
            let at = root.join(OsStr::from_bytes(&path));
            match fs::symlink_metadata(&at) {
                Ok(m) if m.is_dir() => {
                    if let Err(e) = meta::apply_dir_meta(&at, &meta) {
                        report.warnings.push(e.to_string());
                    }
                }
                Ok(_) => report.warnings.push(format!(
                    "{}: no longer a directory; its metadata was not reset",
                    at.display()
                )),
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(&at, e)),
            }
        }
        self.state.rolled_back = true;
        self.save()?;
        sync_filesystem(root)?;
        Ok(report)
    }
}

/// Why the parents of `rel` cannot be trusted, if they cannot.
fn parent_not_real_dir(root: &Path, rel: &[u8]) -> Option<String> {
    let rel = Path::new(OsStr::from_bytes(rel));
    let mut at = root.to_path_buf();
    for part in rel.parent()?.components() {
        at.push(part);
        match fs::symlink_metadata(&at) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Some(format!(
                    "{}: left in place: {} is not a real directory",
                    root.join(rel).display(),
                    at.display()
                ))
            }
            Err(_) => return None, // gone: nothing below it to undo
        }
    }
    None
}

fn depth(path: &[u8]) -> usize {
    if path.is_empty() {
        0
    } else {
        path.iter().filter(|b| **b == b'/').count() + 1
    }
}

/// Removes an entry the restore created; false when it is already gone.
fn remove_created(at: &Path, report: &mut RollbackReport) -> Result<bool> {
    let m = match fs::symlink_metadata(at) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io(at, e)),
    };
    if m.is_dir() {
        match fs::remove_dir(at) {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::ENOTEMPTY) => {
                report.warnings.push(format!(
                    "{}: left in place: not empty (holds files the restore did not create)",
                    at.display()
                ));
                Ok(false)
            }
            Err(e) => Err(Error::io(at, e)),
        }
    } else {
        fs::remove_file(at).at(at)?;
        Ok(true)
    }
}

/// Moves a backup back over whatever the restore put at `at`; false when
/// the backup is gone (never made, or already put back).
fn put_back(backup: &Path, at: &Path) -> Result<bool> {
    if fs::symlink_metadata(backup).is_err() {
        return Ok(false);
    }
    match fs::symlink_metadata(at) {
        Ok(m) if m.is_dir() && !fs::symlink_metadata(backup).at(backup)?.is_dir() => {
            fs::remove_dir(at).at(at)?
        }
        Ok(m) if !m.is_dir() => fs::remove_file(at).at(at)?,
        _ => {}
    }
    match fs::rename(backup, at) {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
            meta::copy_entry(backup, at)?;
            meta::remove_entry(backup)?;
            Ok(true)
        }
        Err(e) => Err(Error::io(at, e)),
    }
}

/// Flushes every filesystem the restore wrote: the root's, and the
/// journal's when it lives elsewhere (syncfs, once per step).
pub fn sync_filesystem(path: &Path) -> Result<()> {
    let dir = File::open(path).at(path)?;
    nix::unistd::syncfs(std::os::fd::AsRawFd::as_raw_fd(&dir))
        .map_err(|e| Error::io(path, std::io::Error::from(e)))
}
