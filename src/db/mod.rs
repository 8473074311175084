//! The xCAT database: schema, tabdump CSV codec, backends (SQLite, PostgreSQL,
//! MySQL/MariaDB, xCAT's own commands) and dumpxCATdb/restorexCATdb logic.

pub mod csv;
pub mod schema;
