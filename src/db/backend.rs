//! What every database backend provides: list tables, stream a table's rows
//! out, and replace a set of tables from validated CSV files, all or nothing.

use super::csv::{Reader, Record, Row};
use super::schema::{Dialect, Table};
use crate::error::IoContext;
use crate::Result;
use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;

/// A table to be replaced and the tabdump CSV file that holds its new rows.
#[derive(Debug, Clone)]
pub struct TableSource {
    pub table: &'static Table,
    pub file: PathBuf,
}

/// One xCAT database, whichever engine holds it.
pub trait Backend {
    /// Short engine name: `sqlite`, `postgresql`, `mysql`.
    fn kind(&self) -> &'static str;

    /// Where the data lives, for messages; never contains a password.
    fn describe(&self) -> String;

    /// Names of the tables that exist in the database, sorted.
    fn table_names(&mut self) -> Result<Vec<String>>;

    /// Streams the rows of `table`, values in schema column order, in the
    /// database's native order (SQLite: rowid), to `row`. A table that does
    /// not exist yields no rows, as xCAT's tabdump shows it header-only.
    fn dump_table(&mut self, table: &Table, row: &mut dyn FnMut(Row) -> Result<()>) -> Result<()>;

    /// Replaces every listed table with the rows of its file: either all of
    /// them are replaced or, on any error, none is. Returns the row count of
    /// each table, in the order given. The files must have been validated.
    fn replace_tables(&mut self, sources: &[TableSource]) -> Result<Vec<u64>>;
}

/// Reads every record of `source`'s file and hands it to `each`.
pub fn for_each_record(
    source: &TableSource,
    each: &mut dyn FnMut(Record) -> Result<()>,
) -> Result<u64> {
    let file = File::open(&source.file).at(&source.file)?;
    let mut reader = Reader::new(
        BufReader::with_capacity(1 << 16, file),
        &source.file,
        source.table,
    )?;
    let mut rows = 0;
    while let Some(record) = reader.next_record()? {
        each(record)?;
        rows += 1;
    }
    Ok(rows)
}

/// The SELECT list reading `table`'s columns in schema order from a table
/// that has only the `existing` ones: a column it lacks (a table of an older
/// xCAT) reads as NULL. Each expression ends in `cast` (e.g. `::text`), and
/// identifiers are quoted for `dialect`.
pub fn select_list(table: &Table, existing: &[String], dialect: Dialect, cast: &str) -> String {
    let columns: Vec<String> = table
        .columns
        .iter()
        .map(|c| {
            if existing.contains(c) {
                format!("{}{cast}", Table::quote(dialect, c))
            } else {
                format!("NULL{cast}")
            }
        })
        .collect();
    columns.join(",")
}

/// The values xCAT's `setAttribs` stores for a record: a key column left
/// NULL is stored as `''` (except in the log tables, whose key is a number).
pub fn insert_values(table: &Table, mut values: Row) -> Row {
    if table.auto_increment_column().is_none() {
        for (i, value) in values.iter_mut().enumerate() {
            if value.is_none() && table.is_key(i) {
                *value = Some(String::new());
            }
        }
    }
    values
}

/// Text of a floating-point value the way Perl prints it (`%.15g`), which
/// is what xCAT's tabdump writes for REAL values.
pub fn perl_number(value: f64) -> String {
    if value.is_finite() && value == value.trunc() && value.abs() < 1e15 {
        return format!("{}", value as i64);
    }
    let text = format!("{value:.14e}");
    // Rust writes d.ddddde±x; trim the mantissa's zeros, then choose the
    // notation %g would choose.
    let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if (-5..15).contains(&exponent) {
        let decimals = (14 - exponent).max(0) as usize;
        let fixed = format!("{value:.decimals$}");
        let fixed = fixed.trim_end_matches('0').trim_end_matches('.');
        return fixed.to_string();
    }
    let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
    format!(
        "{mantissa}e{}{:02}",
        if exponent < 0 { '-' } else { '+' },
        exponent.abs()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::schema;

    #[test]
    fn key_columns_left_null_become_empty_strings_except_in_logs() {
        let litefile = schema::table("litefile").unwrap();
        let row = insert_values(
            litefile,
            vec![None, Some("/etc/x".into()), None, None, None],
        );
        assert_eq!(
            row,
            [Some(String::new()), Some("/etc/x".into()), None, None, None]
        );
        let audit = schema::table("auditlog").unwrap();
        let mut row: Row = vec![None; audit.columns.len()];
        row[1] = Some("t".into());
        assert_eq!(insert_values(audit, row.clone()), row);
    }

    #[test]
    fn reals_print_like_perl() {
        assert_eq!(perl_number(1.0), "1");
        assert_eq!(perl_number(1.5), "1.5");
        assert_eq!(perl_number(0.1), "0.1");
        assert_eq!(perl_number(-2.25), "-2.25");
        assert_eq!(perl_number(1e20), "1e+20");
        assert_eq!(perl_number(1.25e-7), "1.25e-07");
    }
}
