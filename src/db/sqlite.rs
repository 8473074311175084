//! xCAT's SQLite layout: one database file per table, `<dir>/<table>.sqlite`
//! holding one SQL table of the same name, mode 0600, owner root.
//!
//! A restore builds every new table file beside the old one under a hidden
//! staging name, with the old file's DDL, owner and mode, fills it in one
//! transaction and syncs it; only when all of them are complete are they
//! renamed over the originals. A failure before that point removes the
//! staged files and leaves the database exactly as it was.

use super::backend::{
    for_each_record, insert_values, perl_number, select_list, Backend, TableSource,
};
use super::csv::Row;
use super::schema::{Dialect, Table};
use crate::error::IoContext;
use crate::{Error, Result};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The SQLite database in one directory (normally `<root>/etc/xcat`).
pub struct Sqlite {
    dir: PathBuf,
}

const STAGED_SUFFIX: &str = ".xcatport-new";
/// Files SQLite keeps beside a database: a rollback journal left by a
/// killed writer is played back into whatever file next has the name.
const SIDECARS: [&str; 3] = ["-journal", "-wal", "-shm"];

/// Whether `name` is a table staged by a restore (`.<table>.sqlite.xcatport-new`)
/// or one of SQLite's files beside it.
pub fn is_staged_name(name: &str) -> bool {
    name.starts_with('.')
        && std::iter::once("")
            .chain(SIDECARS)
            .any(|s| name.ends_with(&format!("{STAGED_SUFFIX}{s}")))
}

fn db_error(path: &Path, e: rusqlite::Error) -> Error {
    Error::Db(format!("{}: {e}", path.display()))
}

/// `"name"`: SQLite accepts double-quoted identifiers even for keywords.
fn ident(name: &str) -> String {
    Table::quote(Dialect::Postgres, name)
}

impl Sqlite {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Sqlite { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `<dir>/<table>.sqlite`.
    pub fn table_file(&self, table: &str) -> PathBuf {
        self.dir.join(format!("{table}.sqlite"))
    }

    fn staged_file(&self, table: &str) -> PathBuf {
        self.dir.join(format!(".{table}.sqlite{STAGED_SUFFIX}"))
    }

    /// Removes a staged table and SQLite's files beside it (a killed run's).
    fn remove_staged(&self, table: &str) -> Result<()> {
        let staged = self.staged_file(table);
        let mut first = None;
        for suffix in std::iter::once("").chain(SIDECARS) {
            let mut name = staged.clone().into_os_string();
            name.push(suffix);
            let path = PathBuf::from(name);
            match fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    first.get_or_insert(Error::io(&path, e));
                }
                _ => {}
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Creates `<table>.sqlite` (mode 0600) with xCAT's DDL if it is missing,
    /// and returns an open connection to it.
    pub fn create_table(&self, table: &Table) -> Result<Connection> {
        let path = self.table_file(&table.name);
        let fresh = !path.exists();
        if fresh {
            fs::create_dir_all(&self.dir).at(&self.dir)?;
            create_private_file(&path)?;
        }
        let conn = Connection::open(&path).map_err(|e| db_error(&path, e))?;
        if fresh {
            conn.execute_batch(&table.create_statement(Dialect::Sqlite))
                .map_err(|e| db_error(&path, e))?;
        }
        Ok(conn)
    }

    /// Builds the staged copy of one table and returns its row count.
    fn stage(&self, source: &TableSource) -> Result<u64> {
        let table = source.table;
        let original = self.table_file(&table.name);
        let staged = self.staged_file(&table.name);
        self.remove_staged(&table.name)?;
        create_private_file(&staged)?;
        let mut ddl = vec![table.create_statement(Dialect::Sqlite)];
        if original.exists() {
            ddl = original_schema(&original)?;
            let meta = fs::metadata(&original).at(&original)?;
            std::os::unix::fs::chown(&staged, Some(meta.uid()), Some(meta.gid())).at(&staged)?;
            fs::set_permissions(&staged, fs::Permissions::from_mode(meta.mode() & 0o7777))
                .at(&staged)?;
        }
        let mut conn = Connection::open(&staged).map_err(|e| db_error(&staged, e))?;
        conn.execute_batch("PRAGMA synchronous=OFF")
            .map_err(|e| db_error(&staged, e))?;
        for statement in &ddl {
            conn.execute_batch(statement)
                .map_err(|e| db_error(&staged, e))?;
        }
        add_missing_columns(&conn, table, &staged)?;
        let tx = conn.transaction().map_err(|e| db_error(&staged, e))?;
        let rows = {
            let columns: Vec<String> = table.columns.iter().map(|c| ident(c)).collect();
            let marks = vec!["?"; columns.len()].join(",");
            let sql = format!(
                "INSERT INTO {} ({}) VALUES ({marks})",
                ident(&table.name),
                columns.join(",")
            );
            let mut insert = tx.prepare(&sql).map_err(|e| db_error(&staged, e))?;
            for_each_record(source, &mut |record| {
                let values = insert_values(table, record.values);
                insert
                    .execute(rusqlite::params_from_iter(values.iter()))
                    .map_err(|e| {
                        Error::format(
                            &source.file,
                            record.line,
                            format!("row refused by the database: {e}"),
                        )
                    })?;
                Ok(())
            })?
        };
        tx.commit().map_err(|e| db_error(&staged, e))?;
        drop(conn);
        File::open(&staged).and_then(|f| f.sync_all()).at(&staged)?;
        Ok(rows)
    }
}

/// Creates an empty file readable by its owner only, as xCAT's umask 0077 does.
fn create_private_file(path: &Path) -> Result<()> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .at(path)?;
    Ok(())
}

/// The DDL of every object in an existing table file, tables first, so the
/// staged copy has the same columns (also obsolete ones) and indexes.
fn original_schema(path: &Path) -> Result<Vec<String>> {
    // Opening read-write lets SQLite roll back a hot journal left by a crash.
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(|e| db_error(path, e))?;
    let mut stmt = conn
        .prepare(
            "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' \
             ORDER BY type <> 'table', rowid",
        )
        .map_err(|e| db_error(path, e))?;
    let ddl = stmt
        .query_map([], |row| row.get::<_, String>(0))
        .and_then(|rows| rows.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|e| db_error(path, e))?;
    for suffix in ["-journal", "-wal"] {
        let side = PathBuf::from(format!("{}{suffix}", path.display()));
        if side.exists() {
            return Err(Error::Refused(format!(
                "{} exists: the table is in use (stop xcatd before a native restore)",
                side.display()
            )));
        }
    }
    Ok(ddl)
}

fn existing_columns(conn: &Connection, table: &str, path: &Path) -> Result<Vec<String>> {
    let mut stmt = conn
        .prepare(&format!("PRAGMA table_info({})", ident(table)))
        .map_err(|e| db_error(path, e))?;
    let names = stmt
        .query_map([], |row| row.get::<_, String>(1))
        .and_then(|rows| rows.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|e| db_error(path, e))?;
    Ok(names)
}

/// Adds schema columns an older xCAT did not have, as xCAT's updateschema does.
fn add_missing_columns(conn: &Connection, table: &Table, path: &Path) -> Result<()> {
    let existing = existing_columns(conn, &table.name, path)?;
    if existing.is_empty() {
        return conn
            .execute_batch(&table.create_statement(Dialect::Sqlite))
            .map_err(|e| db_error(path, e));
    }
    for column in table.columns.iter().filter(|c| !existing.contains(c)) {
        let sql = format!(
            "ALTER TABLE {} ADD {} {}",
            ident(&table.name),
            ident(column),
            table.column_type(Dialect::Sqlite, column)
        );
        conn.execute_batch(&sql).map_err(|e| db_error(path, e))?;
    }
    Ok(())
}

/// A stored value as xCAT's tabdump prints it.
pub fn value_text(value: ValueRef<'_>) -> std::result::Result<Option<String>, String> {
    Ok(match value {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(f) => Some(perl_number(f)),
        ValueRef::Text(bytes) | ValueRef::Blob(bytes) => Some(
            String::from_utf8(bytes.to_vec())
                .map_err(|_| "a value is not valid UTF-8".to_string())?,
        ),
    })
}

impl Backend for Sqlite {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    fn describe(&self) -> String {
        format!("SQLite in {}", self.dir.display())
    }

    fn table_names(&mut self) -> Result<Vec<String>> {
        let mut names = Vec::new();
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(names),
            Err(e) => return Err(Error::io(&self.dir, e)),
        };
        for entry in entries {
            let entry = entry.at(&self.dir)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(table) = name.strip_suffix(".sqlite") {
                if !table.starts_with('.') && entry.file_type().at(entry.path())?.is_file() {
                    names.push(table.to_string());
                }
            }
        }
        names.sort();
        Ok(names)
    }

    fn dump_table(&mut self, table: &Table, row: &mut dyn FnMut(Row) -> Result<()>) -> Result<()> {
        let path = self.table_file(&table.name);
        if !path.exists() {
            return Ok(());
        }
        let conn = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| db_error(&path, e))?;
        let existing = existing_columns(&conn, &table.name, &path)?;
        if existing.is_empty() {
            return Ok(());
        }
        // Columns a table file lacks (an older xCAT) dump as NULL.
        let sql = format!(
            "SELECT {} FROM {} ORDER BY rowid",
            select_list(table, &existing, Dialect::Postgres, ""),
            ident(&table.name)
        );
        let mut stmt = conn.prepare(&sql).map_err(|e| db_error(&path, e))?;
        let mut rows = stmt.query([]).map_err(|e| db_error(&path, e))?;
        let width = table.columns.len();
        while let Some(r) = rows.next().map_err(|e| db_error(&path, e))? {
            let mut values = Vec::with_capacity(width);
            for i in 0..width {
                let value = r.get_ref(i).map_err(|e| db_error(&path, e))?;
                values.push(
                    value_text(value).map_err(|m| Error::Db(format!("{}: {m}", path.display())))?,
                );
            }
            row(values)?;
        }
        Ok(())
    }

    fn replace_tables(&mut self, sources: &[TableSource]) -> Result<Vec<u64>> {
        fs::create_dir_all(&self.dir).at(&self.dir)?;
        let mut counts = Vec::with_capacity(sources.len());
        for source in sources {
            match self.stage(source) {
                Ok(rows) => counts.push(rows),
                Err(e) => {
                    for s in sources {
                        let _ = self.remove_staged(&s.table.name);
                    }
                    return Err(e);
                }
            }
        }
        for source in sources {
            let name = &source.table.name;
            let staged = self.staged_file(name);
            fs::rename(&staged, self.table_file(name)).at(&staged)?;
        }
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .at(&self.dir)?;
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::is_staged_name;

    #[test]
    fn staged_names_include_sqlites_files_beside_them_and_nothing_else() {
        for name in [
            ".site.sqlite.xcatport-new",
            ".site.sqlite.xcatport-new-journal",
            ".site.sqlite.xcatport-new-wal",
            ".site.sqlite.xcatport-new-shm",
        ] {
            assert!(is_staged_name(name), "{name}");
        }
        for name in [
            "site.sqlite",
            "site.sqlite-journal",
            "site.sqlite.xcatport-new",
            ".site.sqlite.xcatport-new-other",
            ".site.sqlite.xcatport-newer",
        ] {
            assert!(!is_staged_name(name), "{name}");
        }
    }
}
