//! Everything a snapshot records about its source MN, and a restore checks
//! about its target, gathered in one probe.
//!
//! [`MnFacts`] serializes into `MANIFEST.json`; it never carries a secret:
//! the database password in `cfgloc` is kept in memory for the db backends
//! but left out of every `Debug`, `Display` and serialized form.

use std::fmt;

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use crate::db::cfgloc;
use crate::error::{Error, Result};
use crate::mn::arch::Arch;
use crate::mn::distro::Distro;
use crate::mn::packages::{PackageManager, XcatInstall};
use crate::mn::root::{RelPath, Root};

/// Default `site.installdir`, until the database says otherwise.
pub const DEFAULT_INSTALLDIR: &str = "/install";
/// Default `site.tftpdir`, until the database says otherwise.
pub const DEFAULT_TFTPDIR: &str = "/tftpboot";

/// Facts about an MN, read from under its root.
#[derive(Clone, Debug, Serialize)]
pub struct MnFacts {
    pub distro: Distro,
    pub arch: Arch,
    /// `None` when the root has no `etc/hostname` (and is not the live system).
    pub hostname: Option<String>,
    pub package_manager: PackageManager,
    /// `None` when xCAT is not installed under the root.
    pub xcat: Option<XcatInstall>,
    pub db: DbKind,
    /// `site.installdir`; the default until the db layer fills it in.
    pub installdir: String,
    /// `site.tftpdir`; the default until the db layer fills it in.
    pub tftpdir: String,
}

impl MnFacts {
    /// Probes the MN under `root`: distro, arch, hostname, package manager,
    /// xCAT version and database kind.
    pub fn probe(root: &Root) -> Result<MnFacts> {
        let distro = Distro::detect(root)?;
        let arch = Arch::detect(root)?;
        let package_manager = PackageManager::detect(root, &distro)?;
        let xcat = XcatInstall::detect(root, package_manager.format())?;
        Ok(MnFacts {
            hostname: hostname(root)?,
            db: DbKind::detect(root)?,
            distro,
            arch,
            package_manager,
            xcat,
            installdir: DEFAULT_INSTALLDIR.to_string(),
            tftpdir: DEFAULT_TFTPDIR.to_string(),
        })
    }
}

/// The MN's hostname: the running system's for `--root /`, otherwise the
/// first line of `etc/hostname` (or SUSE's older `etc/HOSTNAME`).
pub fn hostname(root: &Root) -> Result<Option<String>> {
    if root.is_host_root() {
        let h = nix::unistd::gethostname()
            .map_err(|e| Error::io("/proc/sys/kernel/hostname", e.into()))?;
        return Ok(Some(h.to_string_lossy().into_owned()));
    }
    for file in ["etc/hostname", "etc/HOSTNAME"] {
        if let Some(text) = super::distro::read_optional(root, file)? {
            let name = text
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty() && !l.starts_with('#'));
            if let Some(name) = name {
                return Ok(Some(name.to_string()));
            }
        }
    }
    Ok(None)
}

/// Which database xCAT uses on the MN (tabdump-csv.md §5.1).
#[derive(Clone, PartialEq, Eq)]
pub enum DbKind {
    /// One `<table>.sqlite` per table in `dir` (an MN path).
    Sqlite { dir: String },
    /// A database server named by `etc/xcat/cfgloc`.
    Cfgloc(Cfgloc),
}

impl DbKind {
    /// Reads `etc/xcat/cfgloc`; without it, SQLite in `/opt/xcat/cfg` if
    /// that directory exists, else in `/etc/xcat`, as xCAT decides.
    pub fn detect(root: &Root) -> Result<DbKind> {
        if let Some(text) = super::distro::read_optional(root, "etc/xcat/cfgloc")? {
            let first = text.lines().next().unwrap_or_default().trim_end();
            if first.is_empty() {
                return Err(Error::format(
                    root.join(&RelPath::new("etc/xcat/cfgloc")?),
                    1,
                    "cfgloc is empty: cannot tell which database xCAT uses",
                ));
            }
            return Ok(DbKind::from_cfgloc_line(first));
        }
        let opt = root.resolve(&RelPath::new(cfgloc::OPT_XCAT_CFG)?)?;
        Ok(DbKind::Sqlite {
            dir: cfgloc::default_sqlite_dir(opt.is_dir()).to_string(),
        })
    }

    /// Interprets one cfgloc line: `SQLite:<dir>` and a bare directory are
    /// SQLite, everything else names a server (split by [`cfgloc::fields`],
    /// judged later by the db backends).
    pub fn from_cfgloc_line(line: &str) -> DbKind {
        match cfgloc::fields(line) {
            cfgloc::Fields::Sqlite(dir) => DbKind::Sqlite {
                dir: dir.to_string(),
            },
            cfgloc::Fields::Server(_) => DbKind::Cfgloc(Cfgloc {
                raw: line.to_string(),
            }),
        }
    }

    /// `sqlite`, `mysql`, `postgresql`, `db2` or the cfgloc driver in lower case.
    pub fn engine(&self) -> String {
        match self {
            DbKind::Sqlite { .. } => "sqlite".to_string(),
            DbKind::Cfgloc(c) => c.engine(),
        }
    }
}

impl fmt::Debug for DbKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbKind::Sqlite { dir } => write!(f, "Sqlite {{ dir: {dir:?} }}"),
            DbKind::Cfgloc(c) => write!(f, "Cfgloc({c:?})"),
        }
    }
}

/// `{"engine": "sqlite", "dir": …}` or `{"engine": "mysql", "dsn": …, "user": …}`.
impl Serialize for DbKind {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            DbKind::Sqlite { dir } => {
                let mut st = s.serialize_struct("DbKind", 2)?;
                st.serialize_field("engine", "sqlite")?;
                st.serialize_field("dir", dir)?;
                st.end()
            }
            DbKind::Cfgloc(c) => {
                let mut st = s.serialize_struct("DbKind", 3)?;
                st.serialize_field("engine", &c.engine())?;
                st.serialize_field("dsn", c.dsn())?;
                st.serialize_field("user", c.user())?;
                st.end()
            }
        }
    }
}

/// A cfgloc line, `Driver:dsn|user|password`. The password is a secret: it
/// is only reachable through [`Cfgloc::password`] and [`Cfgloc::raw`].
#[derive(Clone, PartialEq, Eq)]
pub struct Cfgloc {
    raw: String,
}

impl Cfgloc {
    /// The whole line, password included: for writing it back, never for showing.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The driver as written: `mysql`, `Pg`, `DB2`.
    pub fn driver(&self) -> &str {
        self.fields().driver
    }

    /// `mysql`, `postgresql`, `db2`, or the driver in lower case.
    pub fn engine(&self) -> String {
        match self.driver().to_ascii_lowercase().as_str() {
            "pg" => "postgresql".to_string(),
            other => other.to_string(),
        }
    }

    /// What follows the driver up to the first `|`: `dbname=xcatdb;host=10.0.0.1`.
    pub fn dsn(&self) -> &str {
        self.fields().dsn
    }

    pub fn user(&self) -> &str {
        self.fields().user
    }

    /// Everything after the second `|` (xCAT itself breaks on a `|` in a password).
    pub fn password(&self) -> &str {
        self.fields().password
    }

    fn fields(&self) -> cfgloc::ServerFields<'_> {
        cfgloc::server_fields(&self.raw)
    }
}

impl fmt::Debug for Cfgloc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.fields(), f)
    }
}

impl fmt::Display for Cfgloc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cfgloc_parts_and_secrecy() {
        let DbKind::Cfgloc(c) =
            DbKind::from_cfgloc_line("mysql:dbname=xcatdb;host=10.0.0.1|xcatadmin|s3cr|et")
        else {
            panic!("not a server cfgloc");
        };
        assert_eq!(c.driver(), "mysql");
        assert_eq!(c.dsn(), "dbname=xcatdb;host=10.0.0.1");
        assert_eq!(c.user(), "xcatadmin");
        assert_eq!(c.password(), "s3cr|et");
        assert_eq!(
            format!("{c:?}"),
            "mysql:dbname=xcatdb;host=10.0.0.1|xcatadmin|<hidden>"
        );
        let k = DbKind::Cfgloc(c);
        assert!(!format!("{k:?}").contains("s3cr"));
        let json = serde_json::to_string(&k).unwrap();
        assert_eq!(
            json,
            r#"{"engine":"mysql","dsn":"dbname=xcatdb;host=10.0.0.1","user":"xcatadmin"}"#
        );
    }

    #[test]
    fn cfgloc_sqlite_forms() {
        assert_eq!(
            DbKind::from_cfgloc_line("SQLite:/etc/xcat"),
            DbKind::Sqlite {
                dir: "/etc/xcat".into()
            }
        );
        assert_eq!(
            DbKind::from_cfgloc_line("/var/xcatdb"),
            DbKind::Sqlite {
                dir: "/var/xcatdb".into()
            }
        );
        assert_eq!(
            DbKind::from_cfgloc_line("Pg:dbname=xcatdb;host=mn|xcatadm|pw").engine(),
            "postgresql"
        );
    }
}
