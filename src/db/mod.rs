//! The xCAT database: schema, tabdump CSV codec, backends (SQLite, PostgreSQL,
//! MySQL/MariaDB, xCAT's own commands) and dumpxCATdb/restorexCATdb logic.

pub mod backend;
pub mod cfgloc;
pub mod csv;
pub mod dump;
pub mod mysql;
pub mod postgres;
pub mod schema;
pub mod sqlite;

pub use backend::{Backend, TableSource};
pub use dump::{
    dump_tables, dump_to_dir, restore_from_dir, DumpOptions, DumpStats, RestoreOptions,
    RestoreStats, TableSink,
};

use crate::Result;
use cfgloc::Location;
use std::path::Path;

/// Opens the database of the MN under `root` as its cfgloc says; a cfgloc
/// that cannot be parsed or a server that cannot be reached is an error,
/// never a fall-back to SQLite.
pub fn open(root: &Path) -> Result<Box<dyn Backend>> {
    open_location(cfgloc::locate(root)?)
}

/// Opens the database at `location`.
pub fn open_location(location: Location) -> Result<Box<dyn Backend>> {
    match location {
        Location::Sqlite(dir) => Ok(Box::new(sqlite::Sqlite::new(dir))),
        Location::Postgres(server) => Ok(Box::new(postgres::Postgres::connect(&server)?)),
        Location::Mysql(server) => Ok(Box::new(mysql::Mysql::connect(&server)?)),
    }
}
