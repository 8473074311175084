//! A real PostgreSQL server for the tests that need one: a throwaway
//! cluster from Debian's `postgresql` package, owned by user postgres,
//! listening on loopback only, with xCAT's role and database (what
//! `pgsqlsetup -i` creates), stopped by a drop guard.
#![allow(dead_code)]

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;

// import_support includes it too where a test binary uses both; two
// copies of these free functions do no harm.
#[allow(clippy::duplicate_mod)]
#[path = "../command_support/mod.rs"]
mod command;
#[allow(unused_imports)] // each test binary uses a part
pub use command::sh;

/// A loopback TCP port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The cluster: data and socket in a temp dir under /var/tmp.
pub struct Pg {
    dir: tempfile::TempDir,
    bin: PathBuf,
    password: String,
    pub port: u16,
}

impl Pg {
    /// Starts a cluster whose role `xcatadm` (password `password`) owns
    /// database `xcatdb`.
    pub fn start(password: &str) -> Pg {
        let bin = fs::read_dir("/usr/lib/postgresql")
            .expect("postgresql is not installed (apt-get install postgresql)")
            .map(|e| e.unwrap().path().join("bin"))
            .find(|p| p.join("initdb").exists())
            .unwrap();
        let dir = tempfile::Builder::new()
            .prefix("xcatport-pg")
            .tempdir_in("/var/tmp")
            .unwrap();
        // user postgres writes the data directory and socket in it
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
        let port = free_port();
        let guard = Pg {
            dir,
            bin,
            password: password.to_string(),
            port,
        };
        sh(guard
            .as_postgres("initdb")
            .arg("-D")
            .arg(guard.data())
            .args([
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
            ]));
        sh(guard
            .as_postgres("pg_ctl")
            .arg("-D")
            .arg(guard.data())
            .arg("-l")
            .arg(guard.dir.path().join("log"))
            .arg("-o")
            .arg(format!(
                "-k {} -p {port} -c listen_addresses=127.0.0.1",
                guard.dir.path().display()
            ))
            .args(["-w", "start"]));
        for sql in [
            format!("CREATE ROLE xcatadm LOGIN PASSWORD '{password}';"),
            "CREATE DATABASE xcatdb OWNER xcatadm;".to_string(),
        ] {
            sh(guard
                .as_postgres("psql")
                .arg("-h")
                .arg(guard.dir.path())
                .args(["-p", &port.to_string(), "-U", "postgres"])
                .args(["-v", "ON_ERROR_STOP=1", "-c", &sql]));
        }
        guard
    }

    /// The cfgloc line pgsqlsetup writes for this server.
    pub fn cfgloc(&self) -> String {
        format!(
            "Pg:dbname=xcatdb;host=127.0.0.1;port={}|xcatadm|{}\n",
            self.port, self.password
        )
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// PostgreSQL's `program` run as user postgres.
    fn as_postgres(&self, program: &str) -> Command {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(self.bin.join(program));
        c
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let _ = self
            .as_postgres("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}
