//! The database side of a reconfiguration: which tables are read, how a
//! row is rewritten, and the rows that change.

use super::rewrite::Rewriter;
use crate::db::csv::{self, Row};
use crate::db::dump::skip_reason;
use crate::db::schema::{self, Table};
use crate::db::Backend;
use crate::Result;

/// Tables a reconfiguration reads and may change: all schema tables except
/// the secrets (`passwd`, never touched nor printed) and history (logs).
pub fn tables() -> impl Iterator<Item = &'static Table> {
    schema::tables()
        .iter()
        .filter(|t| t.name != "passwd" && skip_reason(&t.name, false, &[]).is_none())
}

/// One row before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowChange {
    pub before: Row,
    pub after: Row,
}

/// The changed rows of one table.
#[derive(Debug, Clone)]
pub struct TableChange {
    pub table: &'static Table,
    pub rows: Vec<RowChange>,
}

/// `row` of `table` rewritten. A table with `net` and `mask` columns whose
/// row is a moved network gets the new network's mask as well.
pub fn rewrite_row(rw: &Rewriter, table: &Table, row: &Row) -> Row {
    let mut out: Row = row.iter().map(|v| v.as_ref().map(|v| rw.text(v))).collect();
    if let (Some(n), Some(m)) = (table.column_index("net"), table.column_index("mask")) {
        let net = row.get(n).cloned().flatten();
        let mask = row.get(m).cloned().flatten();
        if let (Some(net), Some(mask)) = (net, mask) {
            if let (Some(a), Some(k)) = (super::net::parse_ip(&net), super::net::parse_ip(&mask)) {
                if let Some(old) = super::net::Net::from_mask(a, k) {
                    if let Some((_, new)) = rw.nets.iter().find(|(o, _)| *o == old) {
                        out[m] = Some(new.mask().to_string());
                    }
                }
            }
        }
    }
    out
}

/// Rows of every table that the rewrite changes, tables in schema order.
pub fn changes(backend: &mut dyn Backend, rw: &Rewriter) -> Result<Vec<TableChange>> {
    let mut out = Vec::new();
    for table in tables() {
        let mut rows = Vec::new();
        backend.dump_table(table, &mut |row| {
            let after = rewrite_row(rw, table, &row);
            if after != row {
                rows.push(RowChange { before: row, after });
            }
            Ok(())
        })?;
        if !rows.is_empty() {
            out.push(TableChange { table, rows });
        }
    }
    Ok(out)
}

/// A row as its tabdump CSV line (without the newline).
pub fn csv_line(row: &Row) -> String {
    let mut buf = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = csv::write_record(&mut buf, row);
    String::from_utf8_lossy(&buf)
        .trim_end_matches('\n')
        .to_string()
}

/// `col=value` of the key columns, for messages and the listing.
pub fn key_text(table: &Table, row: &Row) -> String {
    let mut parts = Vec::new();
    for (i, c) in table.columns.iter().enumerate() {
        if table.is_key(i) {
            parts.push(format!(
                "{c}={}",
                row.get(i).cloned().flatten().unwrap_or_default()
            ));
        }
    }
    parts.join(",")
}
