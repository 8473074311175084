//! Applying a change set in one go, journaled like xcatimport's restore
//! (crate::restore::journal) so that `--rollback` undoes it.
//!
//! The journal lives in `<root>/var/lib/xcatport/reconfig/`. Steps:
//! `database` (the changed tables are dumped to `db-before/` first, and on
//! SQLite their files are copied to `db-files/` so rollback is byte-exact;
//! the new tables are written to `db-after/` and replaced all or nothing),
//! `files` and `certificate` (each file moved to the journal's backups with
//! an `R` record before its new content takes its place; parent directories
//! get `M` records so their metadata comes back too), and `regenerate`
//! (the make* commands, only where xCAT is live). Rollback undoes the
//! database first, then the files, whose directory metadata is reset last.

use super::cert::{self, CertPlan};
use super::files::FileChange;
use super::plan::ChangeSet;
use super::tables::rewrite_row;
use crate::db::csv;
use crate::db::schema;
use crate::db::{self, Backend, TableSource};
use crate::error::IoContext;
use crate::mn::{RelPath, Root};
use crate::restore::journal::{sync_filesystem, Change, ChangeSink, Journal, StepState};
use crate::restore::meta::{self, DirMeta};
use crate::{Error, Result};
use std::collections::HashSet;
use std::fs;
use std::io::{BufWriter, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub const STEPS: [&str; 4] = ["database", "files", "certificate", "regenerate"];
const DB_BEFORE: &str = "db-before";
const DB_AFTER: &str = "db-after";
const DB_FILES: &str = "db-files";
const STAGED: &str = "staged";

/// `<root>/var/lib/xcatport/reconfig`.
pub fn journal_dir(root: &Root) -> PathBuf {
    Journal::default_dir(root.path()).join("reconfig")
}

/// Whether xCAT runs here: the root is `/` and xCAT's commands exist.
pub fn is_live(root: &Root) -> bool {
    root.is_host_root() && root.path().join("opt/xcat/sbin").is_dir()
}

/// What an apply did, one line per step.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Applied {
    pub steps: Vec<(String, String)>,
    /// make* commands left for the admin (not live).
    pub to_run: Vec<String>,
}

/// Refuses when an unfinished reconfiguration is recorded; moves a finished
/// or rolled-back journal aside (`reconfig.1`, …) so a new one can start.
pub fn make_room(root: &Root) -> Result<()> {
    let dir = journal_dir(root);
    if !dir.join("journal.json").exists() {
        return Ok(());
    }
    let j = Journal::open(&dir)?;
    if !(j.is_complete() || j.is_rolled_back()) {
        return Err(Error::Refused(format!(
            "{}: an unfinished reconfiguration is recorded here; undo it with xcatreconfig --rollback first",
            dir.display()
        )));
    }
    for n in 1.. {
        let aside = dir.with_file_name(format!("reconfig.{n}"));
        if !aside.exists() {
            return fs::rename(&dir, &aside).at(&aside);
        }
    }
    Ok(())
}

/// Applies `set` to the root; `live` runs the make* commands.
pub fn apply(root: &Root, set: &ChangeSet, live: bool) -> Result<Applied> {
    make_room(root)?;
    let dir = journal_dir(root);
    let mut journal = Journal::create(&dir, &STEPS)?;
    let mut done = Applied::default();

    journal.begin("database")?;
    let detail = if set.tables.is_empty() {
        "no table changes".to_string()
    } else {
        database(root, &mut journal, set)?
    };
    finish(&mut journal, root, "database", &detail, &mut done)?;

    journal.begin("files")?;
    let mut saved_dirs = HashSet::new();
    for f in &set.files {
        replace_file(root, &mut journal, f, &mut saved_dirs)?;
    }
    let detail = format!("{} files rewritten", set.files.len());
    finish(&mut journal, root, "files", &detail, &mut done)?;

    journal.begin("certificate")?;
    let detail = match &set.cert {
        CertPlan::Regenerate { fqdn, short, .. } => {
            let work = dir.join("cert-new");
            fs::create_dir_all(&work).at(&work)?;
            cert::issue(root, &work, fqdn, short)?;
            for (name, rel) in [
                ("server-key.pem", cert::SERVER_KEY),
                ("server-cert.pem", cert::SERVER_CERT),
                ("server-cred.pem", cert::SERVER_CRED),
            ] {
                let rel = RelPath::new(rel)?;
                install(
                    root,
                    &mut journal,
                    &rel,
                    &rel,
                    &work.join(name),
                    &mut saved_dirs,
                )?;
            }
            format!("new server certificate for {fqdn} issued by the kept CA")
        }
        CertPlan::Todo(_) => "left to the admin (see the notes)".to_string(),
        CertPlan::Keep(why) => format!("unchanged: {why}"),
    };
    finish(&mut journal, root, "certificate", &detail, &mut done)?;

    journal.begin("regenerate")?;
    let detail = if set.commands.is_empty() {
        "nothing to regenerate".to_string()
    } else if live {
        for c in &set.commands {
            run_make(c)?;
        }
        format!("ran {}", set.commands.join("; "))
    } else {
        done.to_run = set.commands.clone();
        format!("to run on the live MN: {}", set.commands.join("; "))
    };
    finish(&mut journal, root, "regenerate", &detail, &mut done)?;
    Ok(done)
}

fn finish(
    journal: &mut Journal,
    root: &Root,
    step: &str,
    detail: &str,
    done: &mut Applied,
) -> Result<()> {
    sync_filesystem(root.path())?;
    journal.finish(step, StepState::Done, detail)?;
    done.steps.push((step.to_string(), detail.to_string()));
    Ok(())
}

fn run_make(command: &str) -> Result<()> {
    let mut words = command.split_whitespace();
    let name = words.next().unwrap_or_default();
    let args: Vec<&str> = words.collect();
    let out = duct::cmd(Path::new("/opt/xcat/sbin").join(name), &args)
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .run()
        .map_err(|e| Error::Command {
            command: command.into(),
            detail: e.to_string(),
        })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(Error::Command {
            command: command.into(),
            detail: format!(
                "{} ({})",
                out.status,
                err.lines().last().unwrap_or("").trim()
            ),
        });
    }
    Ok(())
}

/// The database step: backups, new tables, one all-or-nothing replace.
fn database(root: &Root, journal: &mut Journal, set: &ChangeSet) -> Result<String> {
    let dir = journal.dir().to_path_buf();
    let mut backend = db::open(root.path())?;
    let before = dir.join(DB_BEFORE);
    let after = dir.join(DB_AFTER);
    fs::create_dir_all(&before).at(&before)?;
    fs::create_dir_all(&after).at(&after)?;
    if let Some(sqlite) = sqlite_dir(root)? {
        let copies = dir.join(DB_FILES);
        fs::create_dir_all(&copies).at(&copies)?;
        let rel = root.relativize(&sqlite)?;
        journal.changes()?.record(Change::DirSaved {
            path: rel.as_path().as_os_str().as_bytes().to_vec(),
            meta: DirMeta::read(&sqlite)?,
        })?;
        for t in &set.tables {
            let file = sqlite.join(format!("{}.sqlite", t.table.name));
            if file.exists() {
                meta::copy_entry(&file, &copies.join(format!("{}.sqlite", t.table.name)))?;
            }
        }
    }
    let mut sources = Vec::new();
    let mut rows = 0u64;
    for t in &set.tables {
        let name = format!("{}.csv", t.table.name);
        write_csv(&before.join(&name), backend.as_mut(), t.table, &|r| r)?;
        let rw = &set.rewriter;
        let table = t.table;
        write_csv(&after.join(&name), backend.as_mut(), table, &|r| {
            rewrite_row(rw, table, &r)
        })?;
        sources.push(TableSource {
            table: t.table,
            file: after.join(&name),
        });
        rows += t.rows.len() as u64;
    }
    for s in &sources {
        db::dump::validate(s)?;
    }
    backend.replace_tables(&sources)?;
    Ok(format!(
        "{rows} rows changed in {} tables ({})",
        sources.len(),
        backend.describe()
    ))
}

fn write_csv(
    path: &Path,
    backend: &mut dyn Backend,
    table: &'static schema::Table,
    map: &dyn Fn(csv::Row) -> csv::Row,
) -> Result<()> {
    let file = fs::File::create(path).at(path)?;
    let mut out = BufWriter::new(file);
    csv::write_header(&mut out, &table.columns).at(path)?;
    backend.dump_table(table, &mut |row| {
        csv::write_record(&mut out, &map(row)).at(path)
    })?;
    out.flush().at(path)
}

fn sqlite_dir(root: &Root) -> Result<Option<PathBuf>> {
    Ok(match db::cfgloc::locate(root.path())? {
        db::cfgloc::Location::Sqlite(dir) => Some(dir),
        _ => None,
    })
}

/// Stages a file's new content in the journal and installs it.
fn replace_file(
    root: &Root,
    journal: &mut Journal,
    f: &FileChange,
    saved_dirs: &mut HashSet<PathBuf>,
) -> Result<()> {
    let staged_dir = journal.dir().join(STAGED);
    fs::create_dir_all(&staged_dir).at(&staged_dir)?;
    let staged = staged_dir.join(hex::encode(f.path.as_path().as_os_str().as_bytes()));
    fs::write(&staged, f.after.as_bytes()).at(&staged)?;
    let new = f.new_path.as_ref().unwrap_or(&f.path);
    install(root, journal, &f.path, new, &staged, saved_dirs)
}

fn bytes(rel: &RelPath) -> Vec<u8> {
    rel.as_path().as_os_str().as_bytes().to_vec()
}

/// Moves `old` aside into the journal's backups and puts `content` at `new`
/// with `old`'s owner, mode and xattrs.
fn install(
    root: &Root,
    journal: &mut Journal,
    old: &RelPath,
    new: &RelPath,
    content: &Path,
    saved_dirs: &mut HashSet<PathBuf>,
) -> Result<()> {
    let old_host = root.resolve_no_follow(old)?;
    for rel in [old, new] {
        if let Some(parent) = rel.parent() {
            let host = root.join(&parent);
            if saved_dirs.insert(host.clone()) {
                journal.changes()?.record(Change::DirSaved {
                    path: bytes(&parent),
                    meta: DirMeta::read(&host)?,
                })?;
            }
        }
    }
    let meta_old = fs::symlink_metadata(&old_host).at(&old_host)?;
    let xattrs: Vec<(std::ffi::OsString, Vec<u8>)> = xattr::list(&old_host)
        .map(|names| {
            names
                .filter_map(|n| xattr::get(&old_host, &n).ok().flatten().map(|v| (n, v)))
                .collect()
        })
        .unwrap_or_default();
    let changes = journal.changes()?;
    let (backup_name, backup_path) = changes
        .new_backup()
        .ok_or_else(|| Error::Refused("the journal keeps no backups".into()))?;
    changes.record(Change::Replaced {
        path: bytes(old),
        backup: backup_name,
    })?;
    move_entry(&old_host, &backup_path)?;
    let new_host = if new == old {
        old_host.clone()
    } else {
        let host = root.for_write(new)?;
        if fs::symlink_metadata(&host).is_ok() {
            return Err(Error::Refused(format!(
                "{}: exists already; cannot rename {old} to it",
                host.display()
            )));
        }
        changes.record(Change::Created(bytes(new)))?;
        host
    };
    let mut src = fs::File::open(content).at(content)?;
    let mut dst = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&new_host)
        .at(&new_host)?;
    std::io::copy(&mut src, &mut dst).at(&new_host)?;
    drop(dst);
    std::os::unix::fs::lchown(&new_host, Some(meta_old.uid()), Some(meta_old.gid()))
        .at(&new_host)?;
    fs::set_permissions(
        &new_host,
        std::os::unix::fs::PermissionsExt::from_mode(meta_old.mode() & 0o7777),
    )
    .at(&new_host)?;
    for (k, v) in xattrs {
        xattr::set(&new_host, &k, &v).at(&new_host)?;
    }
    Ok(())
}

/// Renames, or copies and removes across filesystems.
fn move_entry(from: &Path, to: &Path) -> Result<()> {
    match fs::rename(from, to) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
            meta::copy_entry(from, to)?;
            meta::remove_entry(from)
        }
        Err(e) => Err(Error::io(to, e)),
    }
}

/// What a rollback did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RolledBack {
    pub database: String,
    pub files_restored: u64,
    pub files_removed: u64,
    pub warnings: Vec<String>,
}

/// Undoes the reconfiguration recorded under the root (repeatable).
pub fn rollback(root: &Root) -> Result<RolledBack> {
    let dir = journal_dir(root);
    let mut journal = Journal::open(&dir).map_err(|_| {
        Error::Refused(format!(
            "{}: no reconfiguration is recorded here; nothing to roll back",
            dir.display()
        ))
    })?;
    let database = undo_database(root, &dir)?;
    let r = journal.rollback_files(root.path())?;
    Ok(RolledBack {
        database,
        files_restored: r.restored,
        files_removed: r.removed,
        warnings: r.warnings,
    })
}

fn undo_database(root: &Root, dir: &Path) -> Result<String> {
    let copies = dir.join(DB_FILES);
    if let (Some(sqlite), true) = (sqlite_dir(root)?, copies.is_dir()) {
        let mut n = 0;
        for e in fs::read_dir(&copies).at(&copies)? {
            let e = e.at(&copies)?;
            let target = sqlite.join(e.file_name());
            match fs::symlink_metadata(&target) {
                Ok(_) => fs::remove_file(&target).at(&target)?,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => return Err(Error::io(&target, err)),
            }
            meta::copy_entry(&e.path(), &target)?;
            n += 1;
        }
        return Ok(format!("{n} SQLite table files put back"));
    }
    let before = dir.join(DB_BEFORE);
    if !before.is_dir() {
        return Ok("no database change to undo".into());
    }
    let mut sources = Vec::new();
    for e in fs::read_dir(&before).at(&before)? {
        let e = e.at(&before)?;
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(table) = name.strip_suffix(".csv").and_then(schema::table) {
            sources.push(TableSource {
                table,
                file: e.path(),
            });
        }
    }
    sources.sort_by(|a, b| a.table.name.cmp(&b.table.name));
    let mut backend = db::open(root.path())?;
    backend.replace_tables(&sources)?;
    Ok(format!(
        "{} tables put back from the pre-change dump",
        sources.len()
    ))
}
