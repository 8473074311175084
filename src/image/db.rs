//! What the image core needs from the xCAT database, as a small trait.
//!
//! [`BackendDb`] is the real implementation on `crate::db` (SQLite,
//! PostgreSQL, MySQL/MariaDB): it reads tables through `dump_table` and
//! writes every change of one import through a single `replace_tables`, so
//! the import's rows land all together or not at all. Rows are
//! column → value maps in which an absent or empty value is NULL, and rows whose `disable` column
//! is set are invisible, as with xCAT's `getAttribs`.

use super::manifest::Columns;
use crate::db::backend::TableSource;
use crate::db::csv::{self, Row};
use crate::db::schema::{self, Table};
use crate::db::Backend;
use crate::error::IoContext;
use crate::{Error, Result};
use std::cell::RefCell;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// Read access for export and the planner, write access for import.
pub trait ImageDb {
    /// Every visible row of `table`.
    fn rows(&self, table: &str) -> Result<Vec<Columns>>;

    /// Upserts rows (keyed by the table's key columns) and deletes nothing;
    /// all of `changes` lands in one transaction or none of it does.
    fn apply(&mut self, changes: &[RowChange]) -> Result<()>;

    /// Rows of `table` whose `column` equals `value`.
    fn rows_where(&self, table: &str, column: &str, value: &str) -> Result<Vec<Columns>> {
        Ok(self
            .rows(table)?
            .into_iter()
            .filter(|r| r.get(column).is_some_and(|v| v == value))
            .collect())
    }

    /// The one row of `table` with `column` = `value`.
    fn row(&self, table: &str, column: &str, value: &str) -> Result<Option<Columns>> {
        Ok(self.rows_where(table, column, value)?.into_iter().next())
    }

    /// A `site` value.
    fn site(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .row("site", "key", key)?
            .and_then(|r| r.get("value").cloned())
            .filter(|v| !v.is_empty()))
    }

    /// The groups a node belongs to (`nodelist.groups`), or `None` for an unknown node.
    fn node_groups(&self, node: &str) -> Result<Option<Vec<String>>> {
        Ok(self.row("nodelist", "node", node)?.map(|r| {
            r.get("groups")
                .map(|g| {
                    g.split(',')
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default()
        }))
    }

    /// A node's `postscripts` row value for `column`, inherited from its
    /// groups in order when the node's own row has none.
    fn node_attr(&self, table: &str, node: &str, column: &str) -> Result<Option<String>> {
        let Some(groups) = self.node_groups(node)? else {
            return Ok(None);
        };
        for key in std::iter::once(node.to_string()).chain(groups) {
            if let Some(v) = self
                .row(table, "node", &key)?
                .and_then(|r| r.get(column).cloned())
                .filter(|v| !v.is_empty())
            {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }
}

/// One upsert: `table`, its key columns with values, and the other columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowChange {
    pub table: String,
    pub key: Columns,
    pub values: Columns,
}

/// The MN's own database through its backend. Reads take `&self` (the
/// trait's shape) while a backend streams through `&mut`, hence the cell.
pub struct BackendDb {
    backend: RefCell<Box<dyn Backend>>,
}

impl BackendDb {
    /// Opens the database of the MN under `root` (its cfgloc, else SQLite).
    pub fn open(root: &Path) -> Result<BackendDb> {
        Ok(BackendDb::new(crate::db::open(root)?))
    }

    /// Wraps an already opened backend.
    pub fn new(backend: Box<dyn Backend>) -> BackendDb {
        BackendDb {
            backend: RefCell::new(backend),
        }
    }

    /// Streams every row of `table` (disabled rows included), schema-ordered.
    fn each_row(&self, table: &Table, f: &mut dyn FnMut(Row) -> Result<()>) -> Result<()> {
        let mut backend = self
            .backend
            .try_borrow_mut()
            .map_err(|_| Error::Db("nested read of the database".into()))?;
        backend.dump_table(table, f)
    }

    fn read(&self, table: &str, keep: &dyn Fn(&Columns) -> bool) -> Result<Vec<Columns>> {
        let t = schema_table(table)?;
        let mut out = Vec::new();
        self.each_row(t, &mut |row| {
            let cols = to_columns(t, row);
            if !disabled(&cols) && keep(&cols) {
                out.push(cols);
            }
            Ok(())
        })?;
        Ok(out)
    }
}

fn schema_table(name: &str) -> Result<&'static Table> {
    schema::table(name).ok_or_else(|| Error::Db(format!("table {name} is not in xCAT's schema")))
}

/// A schema-ordered row as a column map; NULL and empty values are left out.
fn to_columns(table: &Table, row: Row) -> Columns {
    table
        .columns
        .iter()
        .zip(row)
        .filter_map(|(c, v)| v.filter(|v| !v.is_empty()).map(|v| (c.clone(), v)))
        .collect()
}

impl ImageDb for BackendDb {
    fn rows(&self, table: &str) -> Result<Vec<Columns>> {
        self.read(table, &|_| true)
    }

    /// Filters while streaming, so a 100k-node table is never held whole.
    fn rows_where(&self, table: &str, column: &str, value: &str) -> Result<Vec<Columns>> {
        self.read(table, &|r| r.get(column).is_some_and(|v| v == value))
    }

    fn apply(&mut self, changes: &[RowChange]) -> Result<()> {
        self.apply_all(changes)
    }
}

impl BackendDb {
    /// Upserts `changes`: each touched table is rewritten from its current
    /// rows plus the changes into a tabdump file, and all touched tables
    /// are replaced in one `replace_tables`, which is all or nothing.
    pub fn apply_all(&mut self, changes: &[RowChange]) -> Result<()> {
        // Per table, in first-seen order, changes merged by key.
        let mut tables: Vec<(&'static Table, Vec<(Columns, Columns)>)> = Vec::new();
        for c in changes {
            let t = schema_table(&c.table)?;
            for k in c.key.keys().chain(c.values.keys()) {
                if t.column_index(k).is_none() {
                    return Err(Error::Db(format!("table {} has no column {k}", t.name)));
                }
            }
            let i = match tables.iter().position(|(tt, _)| tt.name == t.name) {
                Some(i) => i,
                None => {
                    tables.push((t, Vec::new()));
                    tables.len() - 1
                }
            };
            let list = &mut tables[i].1;
            match list.iter_mut().find(|(k, _)| *k == c.key) {
                Some((_, v)) => v.extend(c.values.clone()),
                None => list.push((c.key.clone(), c.values.clone())),
            }
        }
        if tables.is_empty() {
            return Ok(());
        }
        let dir = tempfile::Builder::new()
            .prefix("xcatport-imgdb.")
            .tempdir()
            .map_err(|e| Error::io(std::env::temp_dir(), e))?;
        let mut sources = Vec::new();
        for (table, upserts) in &tables {
            let file = dir.path().join(format!("{}.csv", table.name));
            self.rewrite(table, upserts, &file)?;
            let source = TableSource { table, file };
            crate::db::dump::validate(&source)?;
            sources.push(source);
        }
        self.backend.get_mut().replace_tables(&sources)?;
        Ok(())
    }

    /// Writes `table`'s rows with `upserts` applied to `file`.
    fn rewrite(&self, table: &Table, upserts: &[(Columns, Columns)], file: &Path) -> Result<()> {
        let mut out = BufWriter::new(File::create(file).at(file)?);
        csv::write_header(&mut out, &table.columns).at(file)?;
        let mut used = vec![false; upserts.len()];
        let mut failed = None;
        self.each_row(table, &mut |mut row| {
            for (i, (key, values)) in upserts.iter().enumerate() {
                let matches = key.iter().all(|(k, v)| {
                    table
                        .column_index(k)
                        .and_then(|ci| row.get(ci))
                        .is_some_and(|cur| cur.as_deref().unwrap_or("") == v)
                });
                if matches {
                    used[i] = true;
                    set_values(table, &mut row, values);
                }
            }
            if let Err(e) = csv::write_record(&mut out, &row) {
                failed.get_or_insert(e);
            }
            Ok(())
        })?;
        if let Some(e) = failed {
            return Err(Error::io(file, e));
        }
        for (i, (key, values)) in upserts.iter().enumerate() {
            if !used[i] {
                let mut row: Row = vec![None; table.columns.len()];
                set_values(table, &mut row, key);
                set_values(table, &mut row, values);
                csv::write_record(&mut out, &row).at(file)?;
            }
        }
        out.flush().at(file)?;
        Ok(())
    }
}

fn set_values(table: &Table, row: &mut Row, values: &Columns) {
    for (k, v) in values {
        if let Some(ci) = table.column_index(k) {
            if let Some(slot) = row.get_mut(ci) {
                *slot = (!v.is_empty()).then(|| v.clone());
            }
        }
    }
}

fn disabled(row: &Columns) -> bool {
    row.get("disable")
        .is_some_and(|d| matches!(d.trim().to_ascii_lowercase().as_str(), "1" | "yes"))
}
