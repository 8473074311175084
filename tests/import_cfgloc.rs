//! Whose cfgloc wins. A PostgreSQL source needs a PostgreSQL server on the
//! new MN, set up by the admin with `pgsqlsetup -i`, whose cfgloc names
//! this MN's server and password: the restore keeps that cfgloc (the
//! snapshot's names the old server) and restores the database into a real
//! PostgreSQL started here. A cfgloc of another kind stops in preflight.

mod dbserver_support;
mod import_support;

use dbserver_support::Pg;
use import_support::deb::{add_apt_repos, build_all_debs};
use import_support::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

const PASSWORD: &str = "n3w|secret";
const SOURCE_CFGLOC: &str = "Pg:dbname=xcatdb;host=10.9.9.9|xcatadm|old-password\n";
const XCAT_DEB: &str = "Package: xcat\nStatus: install ok installed\nPriority: optional\n\
    Architecture: all\nVersion: 2.16.5-snap202301011200\nDescription: test\n\n";

/// `source_mn()` with xCAT 2.16.5 installed from local apt repos and a PostgreSQL cfgloc naming
/// the old server, exported with real xCAT's dump as its database.
fn pg_stick(work: &Path) -> (Tree, PathBuf) {
    let src = source_mn();
    src.file("etc/xcat/cfgloc", SOURCE_CFGLOC)
        .mode("etc/xcat/cfgloc", 0o600);
    add_apt_repos(src.root(), &build_all_debs(work));
    let stick = export_with_facts(&src, work, |facts| assert_eq!(facts.database, "postgresql"));
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
    let pg = Pg::start(PASSWORD);
    let new = new_mn(&pg.cfgloc());

    let out = import_ok(&stick, new.root(), &["--skip-packages"]);
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
    assert_database_is_sample_dump(new.root());

    // rollback leaves the admin's cfgloc where it was
    import_ok(&stick, new.root(), &["--rollback"]);
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
