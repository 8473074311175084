//! Real PostgreSQL and MariaDB servers from Debian's packages (`postgresql`,
//! `mariadb-server`), started on loopback in a temp dir and stopped by a
//! drop guard: dump → restore → dump must be byte-identical on each, and a
//! restore that fails must change nothing.

mod dbserver_support;

use dbserver_support::{free_port, sh, Pg};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use xcatport::db::{self, DumpOptions, RestoreOptions};

const PASSWORD: &str = "t0p|secret";

/// A MariaDB server run as root; killed and reaped on drop.
struct Maria {
    _dir: tempfile::TempDir,
    child: Child,
    port: u16,
}

impl Maria {
    fn start() -> Maria {
        let dir = tempfile::Builder::new()
            .prefix("xcatport-maria")
            .tempdir_in("/var/tmp")
            .unwrap();
        let data = dir.path().join("data");
        let sock = dir.path().join("sock");
        sh(Command::new("mariadb-install-db")
            .arg(format!("--datadir={}", data.display()))
            .args([
                "--user=root",
                "--skip-test-db",
                "--auth-root-authentication-method=socket",
            ]));
        let port = free_port();
        let child = Command::new("mariadbd")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", sock.display()))
            .arg(format!("--pid-file={}", dir.path().join("pid").display()))
            .arg(format!("--log-error={}", dir.path().join("log").display()))
            .args([
                &format!("--port={port}"),
                "--bind-address=127.0.0.1",
                "--user=root",
                "--skip-name-resolve",
            ])
            .args([
                "--innodb-buffer-pool-size=32M",
                "--character-set-server=utf8mb4",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mariadb-server is not installed (apt-get install mariadb-server)");
        let guard = Maria {
            _dir: dir,
            child,
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ping = Command::new("mariadb-admin")
                .arg(format!("--socket={}", sock.display()))
                .arg("ping")
                .output();
            if ping.is_ok_and(|o| o.status.success()) {
                break;
            }
            assert!(Instant::now() < deadline, "mariadbd did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        sh(Command::new("mariadb").arg(format!("--socket={}", sock.display())).args([
            "-u",
            "root",
            "-e",
            &format!(
                "CREATE DATABASE xcatdb CHARACTER SET utf8mb4; CREATE USER 'xcatadmin'@'%' IDENTIFIED BY '{PASSWORD}'; \
                 GRANT ALL ON xcatdb.* TO 'xcatadmin'@'%';"
            ),
        ]));
        guard
    }

    fn cfgloc(&self) -> String {
        format!(
            "mysql:dbname=xcatdb;host=127.0.0.1;port={}|xcatadmin|{PASSWORD}\n",
            self.port
        )
    }
}

impl Drop for Maria {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = self.child.wait();
    }
}

fn files(dir: &Path) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read_to_string(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

fn dump(root: &Path, all: bool) -> (tempfile::TempDir, Vec<(String, String)>) {
    let out = tempfile::tempdir().unwrap();
    db::dump_to_dir(
        root,
        out.path(),
        &DumpOptions {
            all,
            skip_tables: None,
        },
    )
    .unwrap();
    let f = files(out.path());
    (out, f)
}

/// An MN root whose cfgloc points at the server.
fn server_root(cfgloc: &str) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    fs::create_dir_all(root.path().join("etc/xcat")).unwrap();
    fs::write(root.path().join("etc/xcat/cfgloc"), cfgloc).unwrap();
    root
}

fn samples() -> PathBuf {
    std::env::var_os("XCATPORT_SAMPLES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/xcat-samples"
            ))
        })
}

/// Files with their lines sorted: the same rows in any order.
fn canonical(files: &[(String, String)]) -> Vec<(String, Vec<String>)> {
    files
        .iter()
        .map(|(n, t)| {
            let mut lines: Vec<String> = t.lines().map(String::from).collect();
            lines.sort();
            (n.clone(), lines)
        })
        .collect()
}

/// The same checks on any backend reached through `root`'s cfgloc.
fn check_backend(root: &Path, kind: &str) {
    // 1. The synthetic MN: SQLite dump → server holds the same rows; then
    //    server dump → restore → dump is byte-identical, twice.
    let src = tempfile::tempdir().unwrap();
    xcatport::fixture::db::populate(src.path(), 20).unwrap();
    let (sqlite_dir, from_sqlite) = dump(src.path(), false);
    let stats = db::restore_from_dir(root, sqlite_dir.path(), &RestoreOptions::default()).unwrap();
    assert!(stats.method.starts_with(kind), "{}", stats.method);
    assert!(!stats.method.contains("secret"));
    let (first_dir, first) = dump(root, false);
    assert_eq!(
        canonical(&first),
        canonical(&from_sqlite),
        "{kind}: rows differ from SQLite's"
    );
    if kind == "PostgreSQL" {
        assert_eq!(
            first, from_sqlite,
            "{kind}: physical order is insertion order"
        );
    }
    db::restore_from_dir(root, first_dir.path(), &RestoreOptions::default()).unwrap();
    let (second_dir, second) = dump(root, false);
    assert_eq!(second, first, "{kind}: restore over existing tables");

    // 2. xCAT's own dump (tricky values, '' keys, log tables with ids).
    let fixture = samples().join("fixture/db");
    db::restore_from_dir(
        root,
        &fixture,
        &RestoreOptions {
            all: true,
            exact: false,
        },
    )
    .unwrap();
    let (_d, all) = dump(root, true);
    for (name, text) in files(&fixture) {
        let got = all.iter().find(|(n, _)| *n == name).unwrap().clone();
        // InnoDB returns rows in key order, as xCAT's tabdump on MySQL does.
        assert_eq!(
            canonical(&[got]),
            canonical(&[(name.clone(), text)]),
            "{kind}: {name}"
        );
    }
    let site = "#key,value,comments,disable\n\"k1\",\"x,\"\"y\"\"\nz,\",\" c \r\",\n\"kclé\",\"a\\b\tc  \",,\"1\"\n";
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("site.csv"), site).unwrap();
    db::restore_from_dir(root, dir.path(), &RestoreOptions::default()).unwrap();
    let (_d, after) = dump(root, false);
    assert_eq!(
        after.iter().find(|(n, _)| n == "site.csv").unwrap().1,
        site,
        "{kind}: escapes"
    );

    // 3. A failing restore (a duplicate key in the last table) changes nothing.
    db::restore_from_dir(root, second_dir.path(), &RestoreOptions::default()).unwrap();
    let bad = tempfile::tempdir().unwrap();
    fs::write(
        bad.path().join("site.csv"),
        "#key,value\n\"only\",\"row\"\n",
    )
    .unwrap();
    fs::write(
        bad.path().join("hosts.csv"),
        "#node,ip\n\"n1\",\"1\"\n\"n2\",\"2\"\n\"n1\",\"3\"\n",
    )
    .unwrap();
    let e = db::restore_from_dir(root, bad.path(), &RestoreOptions::default())
        .unwrap_err()
        .to_string();
    let expected = format!(
        "{}:4: row refused by the database",
        bad.path().join("hosts.csv").display()
    );
    assert!(e.starts_with(&expected), "{kind}: {e}");
    assert_eq!(
        dump(root, false).1,
        first,
        "{kind}: a failed restore changed the database"
    );
}

#[test]
fn postgresql_dump_restore_dump_is_byte_identical() {
    let pg = Pg::start(PASSWORD);
    let root = server_root(&pg.cfgloc());
    check_backend(root.path(), "PostgreSQL");
    // A wrong password is an error naming the server, never showing it.
    fs::write(
        root.path().join("etc/xcat/cfgloc"),
        pg.cfgloc().replace(PASSWORD, "wrong"),
    )
    .unwrap();
    let e = db::dump_to_dir(root.path(), &root.path().join("x"), &DumpOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("cannot connect to PostgreSQL database xcatdb on 127.0.0.1:"),
        "{e}"
    );
    assert!(!e.contains("wrong"), "{e}");
}

#[test]
fn mariadb_dump_restore_dump_is_byte_identical() {
    let maria = Maria::start();
    let root = server_root(&maria.cfgloc());
    check_backend(root.path(), "MySQL/MariaDB");
}
