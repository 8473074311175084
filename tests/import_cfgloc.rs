//! Whose cfgloc wins. A PostgreSQL source needs a PostgreSQL server on the
//! new MN, set up by the admin with `pgsqlsetup -i`, whose cfgloc names
//! this MN's server and password: the restore keeps that cfgloc (the
//! snapshot's names the old server) and restores the database into a real
//! PostgreSQL started here. A cfgloc of another kind stops in preflight.

mod import_support;

use clap::Parser;
use import_support::deb::{add_apt_repos, build_all_debs};
use import_support::*;
use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const DUMP: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/xcat-samples/dump/default/out"
);
const PASSWORD: &str = "n3w|secret";
const SOURCE_CFGLOC: &str = "Pg:dbname=xcatdb;host=10.9.9.9|xcatadm|old-password\n";
const XCAT_DEB: &str = "Package: xcat\nStatus: install ok installed\nPriority: optional\n\
    Architecture: all\nVersion: 2.16.5-snap202301011200\nDescription: test\n\n";

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A throwaway PostgreSQL cluster on loopback with xCAT's role and
/// database (what pgsqlsetup creates); stopped on drop.
struct Pg {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

impl Pg {
    fn start() -> Pg {
        let bin = fs::read_dir("/usr/lib/postgresql")
            .expect("postgresql is not installed (apt-get install postgresql)")
            .map(|e| e.unwrap().path().join("bin"))
            .find(|p| p.join("initdb").exists())
            .unwrap();
        let dir = tempfile::Builder::new()
            .prefix("xcatport-imp-pg")
            .tempdir_in("/var/tmp")
            .unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let pg = |program: &str| {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(bin.join(program));
            c
        };
        let data = dir.path().join("data");
        run(pg("initdb").arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
        ]));
        run(pg("pg_ctl")
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.path().join("log"))
            .arg("-o")
            .arg(format!(
                "-k {} -p {port} -c listen_addresses=127.0.0.1",
                dir.path().display()
            ))
            .args(["-w", "start"]));
        let psql = bin.join("psql");
        let guard = Pg { dir, bin, port };
        for sql in [
            format!("CREATE ROLE xcatadm LOGIN PASSWORD '{PASSWORD}';"),
            "CREATE DATABASE xcatdb OWNER xcatadm;".to_string(),
        ] {
            run(Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&psql)
                .arg("-h")
                .arg(guard.dir.path())
                .args(["-p", &port.to_string(), "-U", "postgres"])
                .args(["-v", "ON_ERROR_STOP=1", "-c", &sql]));
        }
        guard
    }

    /// What pgsqlsetup writes on the new MN.
    fn cfgloc(&self) -> String {
        format!(
            "Pg:dbname=xcatdb;host=127.0.0.1;port={}|xcatadm|{PASSWORD}\n",
            self.port
        )
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

/// `source_mn()` with xCAT 2.16.5 installed from local apt repos and a PostgreSQL cfgloc naming
/// the old server, exported with real xCAT's dump as its database.
fn pg_stick(work: &Path) -> (Tree, PathBuf) {
    let src = source_mn();
    src.file("etc/xcat/cfgloc", SOURCE_CFGLOC)
        .mode("etc/xcat/cfgloc", 0o600);
    add_apt_repos(src.root(), &build_all_debs(work));
    let stick = work.join("stick");
    let stub = static_stub(work);
    let args = xcatport::cli::ExportArgs::parse_from([
        "xcatexport".as_ref(),
        "--root".as_ref(),
        src.root().as_os_str(),
        "--import-binary".as_ref(),
        stub.as_os_str(),
        stick.as_os_str(),
    ]);
    let root = xcatport::mn::Root::open(src.root()).unwrap();
    let facts =
        xcatport::snapshot::SourceFacts::from(&xcatport::mn::MnFacts::probe(&root).unwrap());
    assert_eq!(facts.database, "postgresql");
    let mut db = xcatport::snapshot::DirDump(Path::new(DUMP).to_path_buf());
    xcatport::app::export::run_with(&args, &mut db, facts, &Default::default()).unwrap();
    assert!(members(&stick).contains(&PathBuf::from("etc/xcat/cfgloc")));
    (src, stick)
}

/// A new MN with the snapshot's xCAT installed (the admin installed it to
/// run pgsqlsetup) and `cfgloc` written by the admin.
fn new_mn(cfgloc: &str) -> Tree {
    let new = fresh_root(UBUNTU, host_machine());
    new.file("var/lib/dpkg/status", XCAT_DEB)
        .file("etc/xcat/cfgloc", cfgloc)
        .mode("etc/xcat/cfgloc", 0o600);
    new
}

#[test]
fn the_new_mns_postgresql_cfgloc_is_kept_and_the_database_restored_into_its_server() {
    let w = tempfile::Builder::new().tempdir_in("/var/tmp").unwrap();
    let (_src, stick) = pg_stick(w.path());
    let pg = Pg::start();
    let new = new_mn(&pg.cfgloc());

    let out = import(&stick, new.root(), &["--skip-packages"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "ok   db-server /etc/xcat/cfgloc names a PostgreSQL database, as the snapshot's xCAT \
             used; this MN's cfgloc is kept"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("; kept this MN's own /etc/xcat/cfgloc instead of the snapshot's"),
        "{stdout}"
    );
    // the admin's cfgloc, bytes and mode, not the snapshot's
    assert_eq!(
        fs::read_to_string(new.path("etc/xcat/cfgloc")).unwrap(),
        pg.cfgloc()
    );
    assert_eq!(
        new.path("etc/xcat/cfgloc")
            .metadata()
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o600
    );
    // the journal records it in the files step's result
    let journal = fs::read_to_string(new.path("var/lib/xcatport/journal.json")).unwrap();
    assert!(
        journal.contains("kept this MN's own /etc/xcat/cfgloc instead of the snapshot's"),
        "{journal}"
    );
    // the database went into this MN's server: dumped back through the
    // kept cfgloc, every table equals real xCAT's dump
    let dumped = db_dump(new.root());
    let mut compared = 0;
    for e in fs::read_dir(DUMP).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "csv") {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            assert_eq!(
                dumped.get(&name),
                Some(&fs::read_to_string(&p).unwrap()),
                "{name}"
            );
            compared += 1;
        }
    }
    assert!(compared > 60, "{compared}");

    // rollback leaves the admin's cfgloc where it was
    let out = import(&stick, new.root(), &["--rollback"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        fs::read_to_string(new.path("etc/xcat/cfgloc")).unwrap(),
        pg.cfgloc()
    );
}

#[test]
fn a_cfgloc_of_another_kind_stops_in_preflight_naming_pgsqlsetup() {
    let w = tempfile::Builder::new().tempdir_in("/var/tmp").unwrap();
    let (_src, stick) = pg_stick(w.path());
    let new = new_mn("mysql:dbname=xcatdb;host=127.0.0.1|xcatadm|pw\n");
    let before = listing(new.root());
    let out = import(&stick, new.root(), &["--skip-packages"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(
        stderr(&out).trim_end(),
        "xcatimport: error: preflight failed, nothing was changed: db-server: the snapshot's xCAT used \
         PostgreSQL: install xCAT, run `pgsqlsetup -i` on this MN to set up that database, then \
         rerun with --skip-packages"
    );
    assert_eq!(listing(new.root()), before);
}
