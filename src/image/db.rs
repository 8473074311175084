//! What the image core needs from the xCAT database, as a small trait.
//!
//! The real implementation sits on `crate::db` (SQLite and the other
//! backends) and is wired in by the application; [`MemoryDb`] keeps tables
//! as rows in memory for tests and dry runs. Rows are column → value maps in
//! which an absent or empty value is NULL, and rows whose `disable` column
//! is set are invisible, as with xCAT's `getAttribs`.

use super::manifest::Columns;
use crate::Result;
use std::collections::BTreeMap;

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

/// Tables held in memory.
#[derive(Debug, Clone, Default)]
pub struct MemoryDb {
    pub tables: BTreeMap<String, Vec<Columns>>,
}

impl MemoryDb {
    /// Adds a row given as `(column, value)` pairs.
    pub fn insert(&mut self, table: &str, pairs: &[(&str, &str)]) {
        let row = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.tables.entry(table.to_string()).or_default().push(row);
    }
}

fn disabled(row: &Columns) -> bool {
    row.get("disable")
        .is_some_and(|d| matches!(d.as_str(), "1" | "yes"))
}

impl ImageDb for MemoryDb {
    fn rows(&self, table: &str) -> Result<Vec<Columns>> {
        Ok(self
            .tables
            .get(table)
            .map(|rows| rows.iter().filter(|r| !disabled(r)).cloned().collect())
            .unwrap_or_default())
    }

    fn apply(&mut self, changes: &[RowChange]) -> Result<()> {
        for c in changes {
            let rows = self.tables.entry(c.table.clone()).or_default();
            let found = rows
                .iter_mut()
                .find(|r| c.key.iter().all(|(k, v)| r.get(k) == Some(v)));
            match found {
                Some(row) => {
                    for (k, v) in &c.values {
                        row.insert(k.clone(), v.clone());
                    }
                }
                None => {
                    let mut row = c.key.clone();
                    row.extend(c.values.clone());
                    rows.push(row);
                }
            }
        }
        Ok(())
    }
}
