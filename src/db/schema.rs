//! xCAT's table schema (perl-xCAT/xCAT/Schema.pm as exported to `schema.json`),
//! embedded at build time so that no runtime file is needed, and the
//! `CREATE TABLE` statements xCAT derives from it for each database dialect.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// One xCAT table: its columns in schema order (= tabdump column order).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Table {
    pub name: String,
    pub columns: Vec<String>,
    pub keys: Vec<String>,
    #[serde(default)]
    pub required: Vec<String>,
    /// Column → SQL type, only for columns that are not plain TEXT.
    #[serde(default)]
    pub types: BTreeMap<String, String>,
}

/// The SQL dialect a statement is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
    Mysql,
}

/// The one column type that makes the database number rows itself.
const AUTO_INCREMENT: &str = "INTEGER AUTO_INCREMENT";

impl Table {
    /// Position of `name` among the columns.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// Whether the column at `index` is part of the primary key.
    pub fn is_key(&self, index: usize) -> bool {
        self.keys.iter().any(|k| *k == self.columns[index])
    }

    /// The `INTEGER AUTO_INCREMENT` column (auditlog/eventlog `recid`), if any.
    pub fn auto_increment_column(&self) -> Option<&str> {
        self.columns
            .iter()
            .find(|c| self.types.get(*c).map(String::as_str) == Some(AUTO_INCREMENT))
            .map(String::as_str)
    }

    /// Column name delimited for `dialect`.
    pub fn quote(dialect: Dialect, name: &str) -> String {
        match dialect {
            Dialect::Sqlite => name.to_string(),
            Dialect::Postgres => format!("\"{}\"", name.replace('"', "\"\"")),
            Dialect::Mysql => format!("`{}`", name.replace('`', "``")),
        }
    }

    /// The SQL type xCAT gives `column` (without NOT NULL).
    pub fn column_type(&self, dialect: Dialect, column: &str) -> String {
        match self.types.get(column).map(String::as_str) {
            Some(AUTO_INCREMENT) => match dialect {
                Dialect::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT".into(),
                Dialect::Postgres => "SERIAL".into(),
                Dialect::Mysql => AUTO_INCREMENT.into(),
            },
            Some(other) => other.to_string(),
            // The trailing space is xCAT's: it shows in `.schema` output.
            None if self.keys.iter().any(|k| k == column) => "VARCHAR(128) ".into(),
            None => "TEXT".into(),
        }
    }

    /// The `CREATE TABLE` statement xCAT's `buildcreatestmt` writes.
    pub fn create_statement(&self, dialect: Dialect) -> String {
        let mut lines: Vec<String> = Vec::with_capacity(self.columns.len() + 1);
        let mut has_primary_key = false;
        for column in &self.columns {
            let ty = self.column_type(dialect, column);
            has_primary_key |= ty.contains("PRIMARY KEY");
            let not_null = if self.required.iter().any(|r| r == column) {
                " NOT NULL"
            } else {
                ""
            };
            lines.push(format!("  {} {ty}{not_null}", Self::quote(dialect, column)));
        }
        if !has_primary_key && !self.keys.is_empty() {
            let keys: Vec<String> = self.keys.iter().map(|k| Self::quote(dialect, k)).collect();
            lines.push(format!("  PRIMARY KEY ({})", keys.join(",")));
        }
        format!(
            "CREATE TABLE {} (\n{}\n)",
            Self::quote(dialect, &self.name),
            lines.join(",\n")
        )
    }
}

#[derive(Deserialize)]
struct SchemaFile {
    tables: Vec<Table>,
}

static SCHEMA: OnceLock<Vec<Table>> = OnceLock::new();

/// Every built-in xCAT table, sorted by name.
pub fn tables() -> &'static [Table] {
    SCHEMA.get_or_init(|| {
        // The file is part of the source tree and checked by the tests below,
        // so a parse failure is a build defect, not a runtime condition.
        let file: SchemaFile = serde_json::from_str(include_str!("schema.json"))
            .expect("embedded src/db/schema.json is valid");
        let mut tables = file.tables;
        tables.sort_by(|a, b| a.name.cmp(&b.name));
        tables
    })
}

/// The built-in table called `name`.
pub fn table(name: &str) -> Option<&'static Table> {
    let all = tables();
    all.binary_search_by(|t| t.name.as_str().cmp(name))
        .ok()
        .map(|i| &all[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_has_all_73_tables_sorted_with_known_columns() {
        assert_eq!(tables().len(), 73);
        assert!(tables().windows(2).all(|w| w[0].name < w[1].name));
        let site = table("site").unwrap();
        assert_eq!(site.columns, ["key", "value", "comments", "disable"]);
        assert_eq!(site.column_index("comments"), Some(2));
        assert_eq!(site.column_index("bogus"), None);
        assert!(table("nosuch").is_none());
        for t in tables() {
            for k in &t.keys {
                assert!(t.column_index(k).is_some(), "{}: key {k}", t.name);
            }
        }
    }

    #[test]
    fn sqlite_ddl_matches_xcat_exactly() {
        assert_eq!(
            table("site").unwrap().create_statement(Dialect::Sqlite),
            "CREATE TABLE site (\n  key VARCHAR(128) ,\n  value TEXT,\n  comments TEXT,\n  \
             disable TEXT,\n  PRIMARY KEY (key)\n)"
        );
        assert_eq!(
            table("litefile").unwrap().create_statement(Dialect::Sqlite),
            "CREATE TABLE litefile (\n  image VARCHAR(128)  NOT NULL,\n  file VARCHAR(128)  NOT NULL,\n  \
             options TEXT,\n  comments TEXT,\n  disable TEXT,\n  PRIMARY KEY (image,file)\n)"
        );
    }

    #[test]
    fn auto_increment_is_the_key_only_on_sqlite() {
        let audit = table("auditlog").unwrap();
        assert_eq!(audit.auto_increment_column(), Some("recid"));
        let sqlite = audit.create_statement(Dialect::Sqlite);
        assert!(sqlite
            .starts_with("CREATE TABLE auditlog (\n  recid INTEGER PRIMARY KEY AUTOINCREMENT,\n"));
        assert!(!sqlite.contains("PRIMARY KEY (recid)"));
        let pg = audit.create_statement(Dialect::Postgres);
        assert!(pg.contains("  \"recid\" SERIAL,\n") && pg.ends_with("PRIMARY KEY (\"recid\")\n)"));
        let my = audit.create_statement(Dialect::Mysql);
        assert!(
            my.contains("`recid` INTEGER AUTO_INCREMENT,")
                && my.ends_with("PRIMARY KEY (`recid`)\n)")
        );
        assert_eq!(
            table("osimage")
                .unwrap()
                .column_type(Dialect::Sqlite, "osupdatename"),
            "VARCHAR(1024)"
        );
    }
}
