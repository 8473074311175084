//! Where the xCAT database lives: `/etc/xcat/cfgloc` and its forms.
//!
//! `<Driver>:<dsn args>|<user>|<password>`; no file means SQLite in
//! `/opt/xcat/cfg` if that directory exists, else `/etc/xcat`. The password
//! never appears in `Debug`, `Display` or error messages.

use crate::error::IoContext;
use crate::{Error, Result};
use std::fmt;
use std::path::{Path, PathBuf};

/// A parsed cfgloc.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// One `<table>.sqlite` per table in this directory (already under the root).
    Sqlite(PathBuf),
    Postgres(Server),
    Mysql(Server),
}

/// A database server reached over the network or a local socket.
#[derive(Clone, PartialEq, Eq)]
pub struct Server {
    pub dbname: String,
    pub host: String,
    pub port: Option<u16>,
    /// `mysql_socket=` / a host starting with `/` (a socket directory for PostgreSQL).
    pub socket: Option<String>,
    pub user: String,
    pub password: String,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("dbname", &self.dbname)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("socket", &self.socket)
            .field("user", &self.user)
            .field("password", &"<hidden>")
            .finish()
    }
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "database {} on {}",
            self.dbname,
            self.socket.as_deref().unwrap_or(&self.host)
        )?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        write!(f, " as {}", self.user)
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Sqlite(dir) => f.debug_tuple("Sqlite").field(dir).finish(),
            Location::Postgres(s) => f.debug_tuple("Postgres").field(s).finish(),
            Location::Mysql(s) => f.debug_tuple("Mysql").field(s).finish(),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Sqlite(dir) => write!(f, "SQLite in {}", dir.display()),
            Location::Postgres(s) => write!(f, "PostgreSQL {s}"),
            Location::Mysql(s) => write!(f, "MySQL/MariaDB {s}"),
        }
    }
}

/// Joins an absolute MN path under `root` lexically.
fn under(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

/// The SQLite directory xCAT prefers when there is no cfgloc.
pub const OPT_XCAT_CFG: &str = "/opt/xcat/cfg";

/// Where xCAT keeps its SQLite files without a cfgloc: `/opt/xcat/cfg` if
/// that directory exists, else `/etc/xcat`.
pub fn default_sqlite_dir(opt_xcat_cfg_is_dir: bool) -> &'static str {
    if opt_xcat_cfg_is_dir {
        OPT_XCAT_CFG
    } else {
        "/etc/xcat"
    }
}

/// A cfgloc line split into its fields, before they are given meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fields<'a> {
    /// `SQLite:<dir>` or a bare directory.
    Sqlite(&'a str),
    Server(ServerFields<'a>),
}

/// `<driver>:<dsn>|<user>|<password>`. No `Debug`: it holds the password.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ServerFields<'a> {
    /// As written: `Pg`, `mysql`, `DB2`, …
    pub driver: &'a str,
    /// `dbname=xcatdb;host=10.0.0.1`
    pub dsn: &'a str,
    pub user: &'a str,
    /// Everything after the second `|` (xCAT itself breaks on a `|` in a password).
    pub password: &'a str,
}

impl fmt::Debug for ServerFields<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}|{}|<hidden>", self.driver, self.dsn, self.user)
    }
}

/// Splits one cfgloc line (without its line end) into its fields.
pub fn fields(line: &str) -> Fields<'_> {
    match line.split_once(':') {
        None => Fields::Sqlite(line),
        Some(("SQLite", rest)) => Fields::Sqlite(rest.split('|').next().unwrap_or(rest)),
        Some(_) => Fields::Server(server_fields(line)),
    }
}

/// The fields of a server cfgloc line; missing ones are empty.
pub fn server_fields(line: &str) -> ServerFields<'_> {
    let (driver, rest) = line.split_once(':').unwrap_or(("", line));
    let mut parts = rest.splitn(3, '|');
    ServerFields {
        driver,
        dsn: parts.next().unwrap_or_default(),
        user: parts.next().unwrap_or_default(),
        password: parts.next().unwrap_or_default(),
    }
}

/// Finds the database of the MN under `root`, as xCAT's `get_xcatcfg` does
/// (without the `XCATCFG` environment, which belongs to a running xcatd).
pub fn locate(root: &Path) -> Result<Location> {
    let file = under(root, "etc/xcat/cfgloc");
    match std::fs::read(&file) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let first = text.lines().next().unwrap_or("");
            parse(root, first).map_err(|message| Error::format(&file, 1, message))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Location::Sqlite(under(
            root,
            default_sqlite_dir(under(root, OPT_XCAT_CFG).is_dir()),
        ))),
        Err(e) => Err(e).at(&file),
    }
}

/// Parses one cfgloc line; errors never include the password.
pub fn parse(root: &Path, line: &str) -> std::result::Result<Location, String> {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.trim().is_empty() {
        return Err(
            "cfgloc is empty: expected e.g. Pg:dbname=xcatdb;host=HOST|USER|PASSWORD".into(),
        );
    }
    let server_line = match fields(line) {
        Fields::Sqlite(dir) => return Ok(Location::Sqlite(under(root, dir))),
        Fields::Server(f) => f,
    };
    match server_line.driver {
        "Pg" => server(&server_line).map(Location::Postgres),
        "mysql" => server(&server_line).map(Location::Mysql),
        "DB2" => Err(
            "DB2 databases are not supported by xcatport: use xCAT's dumpxCATdb/restorexCATdb \
                      (--db-method xcat)"
                .into(),
        ),
        "CSV" => Err("the CSV (DBD::CSV) database driver is not supported by xcatport".into()),
        other => Err(format!(
            "unknown database driver '{other}': expected SQLite, Pg or mysql"
        )),
    }
}

fn server(fields: &ServerFields) -> std::result::Result<Server, String> {
    let ServerFields {
        driver,
        dsn,
        user,
        password,
    } = *fields;
    if user.is_empty() {
        return Err(format!(
            "{driver} cfgloc has no user: expected {driver}:dbname=DB;host=HOST|USER|PASSWORD"
        ));
    }
    let mut server = Server {
        dbname: String::new(),
        host: String::new(),
        port: None,
        socket: None,
        user: user.to_string(),
        password: password.to_string(),
    };
    for pair in dsn.split(';').filter(|p| !p.trim().is_empty()) {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(format!("{driver} cfgloc: '{pair}' is not key=value"));
        };
        let value = value.trim().to_string();
        match key.trim() {
            "dbname" | "database" | "db" => server.dbname = value,
            "host" | "hostname" => server.host = value,
            "port" => {
                server.port = Some(
                    value
                        .parse()
                        .map_err(|_| format!("{driver} cfgloc: port '{value}' is not a number"))?,
                )
            }
            "mysql_socket" => server.socket = Some(value),
            // Other DBI attributes (e.g. sslmode) change nothing we can honour.
            _ => {}
        }
    }
    if server.dbname.is_empty() {
        return Err(format!("{driver} cfgloc has no dbname="));
    }
    if server.host.starts_with('/') && server.socket.is_none() {
        server.socket = Some(std::mem::take(&mut server.host));
    }
    if server.host.is_empty() && server.socket.is_none() {
        server.host = "localhost".into();
    }
    Ok(server)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> &'static Path {
        Path::new("/r")
    }

    #[test]
    fn parses_every_form_xcat_writes() {
        let pg = parse(root(), "Pg:dbname=xcatdb;host=10.0.0.1|xcatadm|s3cr|t").unwrap();
        let Location::Postgres(s) = &pg else {
            panic!("{pg:?}")
        };
        assert_eq!(
            (s.dbname.as_str(), s.host.as_str(), s.user.as_str()),
            ("xcatdb", "10.0.0.1", "xcatadm")
        );
        assert_eq!(s.password, "s3cr|t");
        let my = parse(
            root(),
            "mysql:dbname=xcatdb;host=mn;port=3307|xcatadmin|pw\n",
        )
        .unwrap();
        let Location::Mysql(s) = &my else {
            panic!("{my:?}")
        };
        assert_eq!((s.port, s.password.as_str()), (Some(3307), "pw"));
        assert_eq!(
            parse(root(), "SQLite:/etc/xcat").unwrap(),
            Location::Sqlite("/r/etc/xcat".into())
        );
        assert_eq!(
            parse(root(), "/opt/xcat/cfg").unwrap(),
            Location::Sqlite("/r/opt/xcat/cfg".into())
        );
        let sock = parse(root(), "Pg:dbname=x;host=/run/postgresql|u|p").unwrap();
        let Location::Postgres(s) = sock else {
            panic!()
        };
        assert_eq!(s.socket.as_deref(), Some("/run/postgresql"));
    }

    #[test]
    fn fields_split_what_both_the_facts_and_the_backends_read() {
        assert_eq!(fields("SQLite:/etc/xcat"), Fields::Sqlite("/etc/xcat"));
        assert_eq!(fields("/var/xcatdb"), Fields::Sqlite("/var/xcatdb"));
        let Fields::Server(f) = fields("Pg:dbname=x;host=h|u|p|w") else {
            panic!("not a server line")
        };
        assert_eq!(
            (f.driver, f.dsn, f.user, f.password),
            ("Pg", "dbname=x;host=h", "u", "p|w")
        );
        assert_eq!(format!("{f:?}"), "Pg:dbname=x;host=h|u|<hidden>");
        // DBI driver names are case-sensitive: this names no SQLite
        assert!(matches!(fields("sqlite:/x"), Fields::Server(_)));
        assert_eq!(server_fields("mysql:dbname=x").user, "");
    }

    #[test]
    fn refuses_unusable_forms_without_showing_the_password() {
        assert!(parse(root(), "DB2:xcatdb|xcatdb|hunter2")
            .unwrap_err()
            .contains("DB2"));
        assert!(parse(root(), "Oracle:x|u|hunter2")
            .unwrap_err()
            .contains("unknown database driver 'Oracle'"));
        assert!(parse(root(), "Pg:dbname=x;host=h")
            .unwrap_err()
            .contains("no user"));
        assert!(parse(root(), "Pg:host=h|u|hunter2")
            .unwrap_err()
            .contains("no dbname"));
        let e = parse(root(), "mysql:dbname=x;port=abc|u|hunter2").unwrap_err();
        assert!(e.contains("port 'abc'") && !e.contains("hunter2"));
        let pg = parse(root(), "Pg:dbname=x;host=h|u|hunter2").unwrap();
        assert!(!format!("{pg:?} {pg}").contains("hunter2"));
    }

    #[test]
    fn locate_defaults_to_sqlite_and_reads_the_first_line() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            locate(dir.path()).unwrap(),
            Location::Sqlite(dir.path().join("etc/xcat"))
        );
        std::fs::create_dir_all(dir.path().join("opt/xcat/cfg")).unwrap();
        assert_eq!(
            locate(dir.path()).unwrap(),
            Location::Sqlite(dir.path().join("opt/xcat/cfg"))
        );
        std::fs::create_dir_all(dir.path().join("etc/xcat")).unwrap();
        std::fs::write(dir.path().join("etc/xcat/cfgloc"), "DB2:a|b|c\nSQLite:/x\n").unwrap();
        let e = locate(dir.path()).unwrap_err().to_string();
        assert!(e.contains("etc/xcat/cfgloc:1: DB2"), "{e}");
    }
}
