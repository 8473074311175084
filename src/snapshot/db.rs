//! Where the database dump comes from. The writer asks a [`DbDumpSource`] for
//! each table's tabdump CSV and stores it as `.xcatport/db/<table>.csv`.
//!
//! [`LiveDb`] dumps the MN's own database through the db layer's backend
//! (SQLite, PostgreSQL, MySQL/MariaDB, with dumpxCATdb's skip rules);
//! [`DirDump`] reads an existing dump directory (e.g. from `xcatdb dump -p
//! DIR`) and [`NoDatabase`] has none.

use crate::error::IoContext;
use crate::{Error, Result};
use std::io::Write;
use std::path::PathBuf;

/// A consistent dump of the xCAT database, table by table.
pub trait DbDumpSource {
    /// One line for the plan and the manifest, e.g. `sqlite (/etc/xcat)`.
    fn describe(&self) -> String;
    /// Table names, in the order they are written.
    fn tables(&mut self) -> Result<Vec<String>>;
    /// Writes one table's CSV (tabdump format) to `out`.
    fn dump_table(&mut self, table: &str, out: &mut dyn Write) -> Result<()>;
}

/// The MN's database, dumped table by table as `dumpxCATdb` would.
pub struct LiveDb {
    backend: Box<dyn crate::db::Backend>,
    tables: Vec<&'static crate::db::schema::Table>,
}

impl LiveDb {
    /// Opens the database of the MN under `root` (cfgloc or SQLite) and
    /// decides which tables go into the dump.
    pub fn open(root: &std::path::Path, opts: &crate::db::DumpOptions) -> Result<LiveDb> {
        let mut backend = crate::db::open(root)?;
        let (tables, _) = crate::db::dump::dump_plan(backend.as_mut(), opts)?;
        Ok(LiveDb { backend, tables })
    }

    /// `site.installdir` and `site.tftpdir`, xCAT's defaults where unset.
    pub fn site_vars(&mut self) -> Result<crate::plan::Vars> {
        let mut vars = crate::plan::Vars::default();
        let backend = self.backend.as_mut();
        if let Some(v) =
            crate::db::dump::site_value(backend, "installdir")?.filter(|v| !v.is_empty())
        {
            vars.installdir = v;
        }
        if let Some(v) = crate::db::dump::site_value(backend, "tftpdir")?.filter(|v| !v.is_empty())
        {
            vars.tftpdir = v;
        }
        Ok(vars)
    }
}

impl DbDumpSource for LiveDb {
    fn describe(&self) -> String {
        self.backend.describe()
    }

    fn tables(&mut self) -> Result<Vec<String>> {
        Ok(self.tables.iter().map(|t| t.name.clone()).collect())
    }

    fn dump_table(&mut self, table: &str, out: &mut dyn Write) -> Result<()> {
        let schema = crate::db::schema::table(table)
            .ok_or_else(|| Error::Db(format!("{table}: not an xCAT table")))?;
        crate::db::dump::write_table(self.backend.as_mut(), schema, out)?;
        Ok(())
    }
}

/// No database (a plain file tree, or `--skip-db` style exports).
pub struct NoDatabase;

impl DbDumpSource for NoDatabase {
    fn describe(&self) -> String {
        "none".into()
    }
    fn tables(&mut self) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
    fn dump_table(&mut self, table: &str, _: &mut dyn Write) -> Result<()> {
        Err(Error::Db(format!("{table}: no database to dump")))
    }
}

/// A directory of `<table>.csv` files already dumped.
pub struct DirDump(pub PathBuf);

impl DbDumpSource for DirDump {
    fn describe(&self) -> String {
        format!("dump directory {}", self.0.display())
    }

    fn tables(&mut self) -> Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.0).at(&self.0)? {
            let entry = entry.at(&self.0)?;
            let name = entry.file_name();
            if let Some(table) = name.to_str().and_then(|n| n.strip_suffix(".csv")) {
                names.push(table.to_string());
            }
        }
        names.sort();
        Ok(names)
    }

    fn dump_table(&mut self, table: &str, out: &mut dyn Write) -> Result<()> {
        let path = self.0.join(format!("{table}.csv"));
        let mut f = std::fs::File::open(&path).at(&path)?;
        std::io::copy(&mut f, out).at(&path)?;
        Ok(())
    }
}

/// Table names become file names on the restore side: keep them plain.
pub fn check_table_name(table: &str) -> Result<()> {
    if !table.is_empty()
        && table
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        Ok(())
    } else {
        Err(Error::Db(format!(
            "table name {table:?} is not a plain identifier; refusing to store it"
        )))
    }
}
