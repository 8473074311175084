//! PostgreSQL, as xCAT's `pgsqlsetup` configures it (`Pg:` cfgloc).
//!
//! Rows are read in physical order (`ORDER BY ctid`, what a plain
//! `SELECT *` returns) and written with `COPY … FROM STDIN`, every table of a
//! restore inside one transaction, so a failure rolls all of them back.
//! No TLS: the database is on the MN or its LAN, as xCAT sets it up.

use super::backend::{for_each_record, insert_values, select_list, Backend, TableSource};
use super::cfgloc::Server;
use super::csv::Row;
use super::schema::{Dialect, Table};
use crate::{Error, Result};
use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, Config, GenericClient, NoTls};
use std::io::Write;
use std::time::Duration;

/// A connected PostgreSQL database.
pub struct Postgres {
    client: Client,
    server: Server,
}

fn q(name: &str) -> String {
    Table::quote(Dialect::Postgres, name)
}

impl Postgres {
    /// Connects, or fails naming the server (never the password).
    pub fn connect(server: &Server) -> Result<Self> {
        let mut config = Config::new();
        config
            .user(&server.user)
            .password(&server.password)
            .dbname(&server.dbname)
            .connect_timeout(Duration::from_secs(10))
            .application_name("xcatport");
        match &server.socket {
            Some(dir) => config.host_path(dir),
            None => config.host(&server.host),
        };
        if let Some(port) = server.port {
            config.port(port);
        }
        let client = config
            .connect(NoTls)
            .map_err(|e| Error::Db(format!("cannot connect to PostgreSQL {server}: {e}")))?;
        Ok(Postgres {
            client,
            server: server.clone(),
        })
    }

    fn fail(&self, what: &str, e: postgres::Error) -> Error {
        Error::Db(format!("PostgreSQL {}: {what}: {e}", self.server))
    }
}

fn existing_columns(
    client: &mut impl GenericClient,
    table: &str,
) -> std::result::Result<Vec<String>, postgres::Error> {
    let rows = client.query(
        "SELECT column_name::text FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
        &[&table],
    )?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// One value in COPY's text format.
fn copy_field(out: &mut Vec<u8>, value: Option<&str>) {
    let Some(value) = value else {
        out.extend_from_slice(b"\\N");
        return;
    };
    for b in value.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
}

/// The CSV line of the `n`th (1-based) record of `source`, for errors.
fn record_line(source: &TableSource, n: u64) -> u64 {
    let mut seen = 0;
    let mut line = 0;
    let _ = for_each_record(source, &mut |record| {
        seen += 1;
        if seen == n {
            line = record.line;
        }
        Ok(())
    });
    line
}

/// `COPY site, line 3` → 3.
fn copy_line(e: &postgres::Error) -> Option<u64> {
    let context = e.as_db_error()?.where_()?;
    let after = context.split(", line ").nth(1)?;
    after
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

impl Backend for Postgres {
    fn kind(&self) -> &'static str {
        "postgresql"
    }

    fn describe(&self) -> String {
        format!("PostgreSQL {}", self.server)
    }

    fn table_names(&mut self) -> Result<Vec<String>> {
        let rows = self
            .client
            .query(
                "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1",
                &[],
            )
            .map_err(|e| self.fail("listing tables", e))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn dump_table(&mut self, table: &Table, row: &mut dyn FnMut(Row) -> Result<()>) -> Result<()> {
        let existing = existing_columns(&mut self.client, &table.name)
            .map_err(|e| self.fail(&table.name, e))?;
        if existing.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "SELECT {} FROM {} ORDER BY ctid",
            select_list(table, &existing, Dialect::Postgres, "::text"),
            q(&table.name)
        );
        let server = self.server.clone();
        let fail =
            |e: postgres::Error| Error::Db(format!("PostgreSQL {server}: {}: {e}", table.name));
        let mut rows = self
            .client
            .query_raw(&sql, std::iter::empty::<&str>())
            .map_err(fail)?;
        while let Some(r) = rows.next().map_err(fail)? {
            let values: Row = (0..table.columns.len())
                .map(|i| r.get::<_, Option<String>>(i))
                .collect();
            row(values)?;
        }
        Ok(())
    }

    fn replace_tables(&mut self, sources: &[TableSource]) -> Result<Vec<u64>> {
        let server = self.server.clone();
        let fail =
            |what: &str, e: postgres::Error| Error::Db(format!("PostgreSQL {server}: {what}: {e}"));
        // DDL is transactional in PostgreSQL: tables created here vanish on rollback.
        let mut tx = self.client.transaction().map_err(|e| fail("begin", e))?;
        let mut counts = Vec::with_capacity(sources.len());
        for source in sources {
            let table = source.table;
            let name = &table.name;
            let existing = existing_columns(&mut tx, name).map_err(|e| fail(name, e))?;
            if existing.is_empty() {
                tx.batch_execute(&table.create_statement(Dialect::Postgres))
                    .map_err(|e| fail(name, e))?;
            } else {
                for column in table.columns.iter().filter(|c| !existing.contains(c)) {
                    let ty = table.column_type(Dialect::Postgres, column);
                    tx.batch_execute(&format!("ALTER TABLE {} ADD {} {ty}", q(name), q(column)))
                        .map_err(|e| fail(name, e))?;
                }
            }
            tx.batch_execute(&format!("DELETE FROM {}", q(name)))
                .map_err(|e| fail(name, e))?;
            let columns: Vec<String> = table.columns.iter().map(|c| q(c)).collect();
            let copy = format!("COPY {} ({}) FROM STDIN", q(name), columns.join(","));
            let mut writer = tx.copy_in(&copy).map_err(|e| fail(name, e))?;
            let mut buf = Vec::with_capacity(1 << 16);
            let rows = for_each_record(source, &mut |record| {
                let values = insert_values(table, record.values);
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        buf.push(b'\t');
                    }
                    copy_field(&mut buf, v.as_deref());
                }
                buf.push(b'\n');
                if buf.len() >= 1 << 16 {
                    writer
                        .write_all(&buf)
                        .map_err(|e| Error::Db(format!("PostgreSQL COPY into {name}: {e}")))?;
                    buf.clear();
                }
                Ok(())
            })?;
            writer
                .write_all(&buf)
                .map_err(|e| Error::Db(format!("PostgreSQL COPY into {name}: {e}")))?;
            if let Err(e) = writer.finish() {
                return Err(match copy_line(&e) {
                    Some(n) => Error::format(
                        &source.file,
                        record_line(source, n),
                        format!(
                            "row refused by the database: {}",
                            e.as_db_error()
                                .map_or(e.to_string(), |d| d.message().to_string())
                        ),
                    ),
                    None => fail(name, e),
                });
            }
            if let Some(serial) = table.auto_increment_column() {
                // Explicit ids do not advance a SERIAL's sequence.
                let sql = format!(
                    "SELECT setval(pg_get_serial_sequence('{name}', '{serial}'), \
                     COALESCE((SELECT MAX({}) FROM {}), 0) + 1, false)",
                    q(serial),
                    q(name)
                );
                tx.batch_execute(&sql).map_err(|e| fail(name, e))?;
            }
            counts.push(rows);
        }
        tx.commit().map_err(|e| fail("commit", e))?;
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escapes_backslash_and_line_breaks() {
        let mut out = Vec::new();
        copy_field(&mut out, Some("a\\b\tc\nd\re"));
        out.push(b'\t');
        copy_field(&mut out, None);
        assert_eq!(out, b"a\\\\b\\tc\\nd\\re\t\\N");
    }
}
