//! The database step: a snapshot carrying real xCAT's tabdump of 71 tables
//! is restored natively into the new root's SQLite; dumping it again gives
//! the same CSV bytes. Rollback removes the tables it created.

mod import_support;

use import_support::*;
use std::path::Path;

fn export_with_db(src: &Tree, work: &Path) -> std::path::PathBuf {
    export_with_facts(src, work, |_| {})
}

#[test]
fn the_database_dump_is_restored_and_dumps_back_identically() {
    let w = tempfile::Builder::new().tempdir_in("/var/tmp").unwrap();
    let stick = export_with_db(&source_mn(), w.path());
    let new = fresh_root(UBUNTU, host_machine());
    let before = listing(new.root());
    let out = import_ok(&stick, new.root(), &["--skip-packages"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("database   done: "), "{stdout}");
    assert!(new.path("etc/xcat/site.sqlite").is_file());

    assert_database_is_sample_dump(new.root());

    import_ok(&stick, new.root(), &["--rollback"]);
    assert!(!new.path("etc/xcat/site.sqlite").exists());
    assert_eq!(
        without_journal(listing(new.root())),
        without_journal(before)
    );
}

#[test]
fn a_postgresql_source_stops_in_preflight_naming_pgsqlsetup() {
    let w = tempfile::Builder::new().tempdir_in("/var/tmp").unwrap();
    let stick = export_with_facts(&source_mn(), w.path(), |f| f.database = "postgresql".into());
    let new = fresh_root(UBUNTU, host_machine());
    let before = listing(new.root());
    let out = import(&stick, new.root(), &["--skip-packages"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = stderr(&out);
    assert_eq!(
        err.trim_end(),
        "xcatimport: error: preflight failed, nothing was changed: db-server: the snapshot's xCAT used \
         PostgreSQL: install xCAT, run `pgsqlsetup -i` on this MN to set up that database, then \
         rerun with --skip-packages"
    );
    assert_eq!(listing(new.root()), before);

    // with a PostgreSQL cfgloc in place the check passes
    new.file(
        "etc/xcat/cfgloc",
        "Pg:dbname=xcatdb;host=127.0.0.1|xcatadm|secret\n",
    );
    let out = import_ok(
        &stick,
        new.root(),
        &["--skip-packages", "--force", "--verify"],
    );
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("ok   db-server /etc/xcat/cfgloc names a PostgreSQL database"),
        "{}",
        text(&out)
    );

    // --skip-db (HA standby) restores the files without a database server
    let standby = fresh_root(UBUNTU, host_machine());
    import_ok(&stick, standby.root(), &["--skip-packages", "--skip-db"]);
}
