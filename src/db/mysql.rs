//! MySQL / MariaDB, as xCAT's `mysqlsetup` configures it (`mysql:` cfgloc).
//!
//! Rows are read with a plain `SELECT` (InnoDB returns primary-key order,
//! as xCAT's tabdump sees it). A restore first creates missing tables and
//! columns (DDL commits implicitly in MySQL, so it cannot be inside the
//! transaction; it only adds empty structure), then deletes and inserts
//! every table inside one transaction. No TLS, as xCAT sets it up.

use super::backend::{
    for_each_record, insert_values, perl_number, select_list, Backend, TableSource,
};
use super::cfgloc::Server;
use super::csv::Row;
use super::schema::{Dialect, Table};
use crate::{Error, Result};
use mysql::prelude::Queryable;
use mysql::{Conn, OptsBuilder, TxOpts, Value};
use std::time::Duration;

/// A connected MySQL/MariaDB database.
pub struct Mysql {
    conn: Conn,
    server: Server,
}

fn q(name: &str) -> String {
    Table::quote(Dialect::Mysql, name)
}

fn text(value: Value) -> std::result::Result<Option<String>, String> {
    Ok(match value {
        Value::NULL => None,
        Value::Bytes(bytes) => {
            Some(String::from_utf8(bytes).map_err(|_| "a value is not valid UTF-8".to_string())?)
        }
        Value::Int(i) => Some(i.to_string()),
        Value::UInt(u) => Some(u.to_string()),
        Value::Float(f) => Some(perl_number(f64::from(f))),
        Value::Double(d) => Some(perl_number(d)),
        other => Some(other.as_sql(true).trim_matches('\'').to_string()),
    })
}

impl Mysql {
    /// Connects, or fails naming the server (never the password).
    pub fn connect(server: &Server) -> Result<Self> {
        let mut opts = OptsBuilder::new()
            .user(Some(&server.user))
            .pass(Some(&server.password))
            .db_name(Some(&server.dbname))
            .prefer_socket(false)
            .tcp_connect_timeout(Some(Duration::from_secs(10)));
        match &server.socket {
            Some(socket) => opts = opts.socket(Some(socket)),
            None => opts = opts.ip_or_hostname(Some(&server.host)),
        }
        if let Some(port) = server.port {
            opts = opts.tcp_port(port);
        }
        let mut conn = Conn::new(opts)
            .map_err(|e| Error::Db(format!("cannot connect to MySQL/MariaDB {server}: {e}")))?;
        conn.query_drop("SET NAMES utf8mb4")
            .map_err(|e| Error::Db(format!("MySQL/MariaDB {server}: SET NAMES: {e}")))?;
        Ok(Mysql {
            conn,
            server: server.clone(),
        })
    }

    fn fail(&self, what: &str, e: mysql::Error) -> Error {
        Error::Db(format!("MySQL/MariaDB {}: {what}: {e}", self.server))
    }

    fn existing_columns(&mut self, table: &str) -> Result<Vec<String>> {
        let result: std::result::Result<Vec<String>, _> = self.conn.exec(
            "SELECT column_name FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = ? ORDER BY ordinal_position",
            (table,),
        );
        result.map_err(|e| self.fail(table, e))
    }
}

impl Backend for Mysql {
    fn kind(&self) -> &'static str {
        "mysql"
    }

    fn describe(&self) -> String {
        format!("MySQL/MariaDB {}", self.server)
    }

    fn table_names(&mut self) -> Result<Vec<String>> {
        let result: std::result::Result<Vec<String>, _> = self.conn.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY 1",
        );
        result.map_err(|e| self.fail("listing tables", e))
    }

    fn dump_table(&mut self, table: &Table, row: &mut dyn FnMut(Row) -> Result<()>) -> Result<()> {
        let existing = self.existing_columns(&table.name)?;
        if existing.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "SELECT {} FROM {}",
            select_list(table, &existing, Dialect::Mysql, ""),
            q(&table.name)
        );
        let server = self.server.clone();
        let fail = |e: String| Error::Db(format!("MySQL/MariaDB {server}: {}: {e}", table.name));
        let result = self.conn.query_iter(sql).map_err(|e| fail(e.to_string()))?;
        for r in result {
            let r = r.map_err(|e| fail(e.to_string()))?;
            let values: Row = r
                .unwrap()
                .into_iter()
                .map(text)
                .collect::<std::result::Result<_, _>>()
                .map_err(fail)?;
            row(values)?;
        }
        Ok(())
    }

    fn replace_tables(&mut self, sources: &[TableSource]) -> Result<Vec<u64>> {
        for source in sources {
            let table = source.table;
            let existing = self.existing_columns(&table.name)?;
            if existing.is_empty() {
                self.conn
                    .query_drop(table.create_statement(Dialect::Mysql))
                    .map_err(|e| self.fail(&table.name, e))?;
            } else {
                for column in table.columns.iter().filter(|c| !existing.contains(c)) {
                    let ty = table.column_type(Dialect::Mysql, column);
                    let sql = format!("ALTER TABLE {} ADD {} {ty}", q(&table.name), q(column));
                    self.conn
                        .query_drop(sql)
                        .map_err(|e| self.fail(&table.name, e))?;
                }
            }
        }
        let server = self.server.clone();
        let fail =
            |what: &str, e: mysql::Error| Error::Db(format!("MySQL/MariaDB {server}: {what}: {e}"));
        let mut tx = self
            .conn
            .start_transaction(TxOpts::default())
            .map_err(|e| fail("begin", e))?;
        let mut counts = Vec::with_capacity(sources.len());
        for source in sources {
            let table = source.table;
            let name = &table.name;
            tx.query_drop(format!("DELETE FROM {}", q(name)))
                .map_err(|e| fail(name, e))?;
            let columns: Vec<String> = table.columns.iter().map(|c| q(c)).collect();
            let marks = vec!["?"; columns.len()].join(",");
            let sql = format!(
                "INSERT INTO {} ({}) VALUES ({marks})",
                q(name),
                columns.join(",")
            );
            let stmt = tx.prep(sql).map_err(|e| fail(name, e))?;
            let rows = for_each_record(source, &mut |record| {
                let values: Vec<Value> = insert_values(table, record.values)
                    .into_iter()
                    .map(|v| v.map_or(Value::NULL, |s| Value::Bytes(s.into_bytes())))
                    .collect();
                tx.exec_drop(&stmt, values).map_err(|e| {
                    Error::format(
                        &source.file,
                        record.line,
                        format!("row refused by the database: {e}"),
                    )
                })
            })?;
            counts.push(rows);
        }
        tx.commit().map_err(|e| fail("commit", e))?;
        Ok(counts)
    }
}
