//! The database step: a snapshot carrying real xCAT's tabdump of 71 tables
//! is restored natively into the new root's SQLite; dumping it again gives
//! the same CSV bytes. Rollback removes the tables it created.

mod import_support;

use clap::Parser;
use import_support::*;
use std::path::Path;

const DUMP: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/xcat-samples/dump/default/out"
);

fn export_with_db(src: &Tree, work: &Path) -> std::path::PathBuf {
    export_with_facts(src, work, |_| {})
}

/// The export with the source facts adjusted (e.g. another database kind).
fn export_with_facts(
    src: &Tree,
    work: &Path,
    adjust: impl FnOnce(&mut xcatport::snapshot::SourceFacts),
) -> std::path::PathBuf {
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
    let mut facts =
        xcatport::snapshot::SourceFacts::from(&xcatport::mn::MnFacts::probe(&root).unwrap());
    adjust(&mut facts);
    let mut db = xcatport::snapshot::DirDump(Path::new(DUMP).to_path_buf());
    xcatport::app::export::run_with(&args, &mut db, facts, &Default::default()).unwrap();
    stick
}

#[test]
fn the_database_dump_is_restored_and_dumps_back_identically() {
    let w = tempfile::Builder::new().tempdir_in("/var/tmp").unwrap();
    let stick = export_with_db(&source_mn(), w.path());
    let new = fresh_root(UBUNTU, host_machine());
    let before = listing(new.root());
    let out = import(&stick, new.root(), &["--skip-packages"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("database   done: "), "{stdout}");
    assert!(new.path("etc/xcat/site.sqlite").is_file());

    let again = w.path().join("again");
    std::fs::create_dir(&again).unwrap();
    let opts = xcatport::db::DumpOptions {
        all: true,
        skip_tables: None,
    };
    xcatport::db::dump_to_dir(new.root(), &again, &opts).unwrap();
    let mut compared = 0;
    for e in std::fs::read_dir(DUMP).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "csv") {
            let name = p.file_name().unwrap();
            assert_eq!(
                std::fs::read_to_string(again.join(name)).unwrap(),
                std::fs::read_to_string(&p).unwrap(),
                "{}",
                name.to_string_lossy()
            );
            compared += 1;
        }
    }
    assert!(compared > 60, "{compared}");

    let out = import(&stick, new.root(), &["--rollback"]);
    assert!(out.status.success(), "{}", text(&out));
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
    let out = import(
        &stick,
        new.root(),
        &["--skip-packages", "--force", "--verify"],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("ok   db-server /etc/xcat/cfgloc names a PostgreSQL database"),
        "{}",
        text(&out)
    );

    // --skip-db (HA standby) restores the files without a database server
    let standby = fresh_root(UBUNTU, host_machine());
    let out = import(&stick, standby.root(), &["--skip-packages", "--skip-db"]);
    assert!(out.status.success(), "{}", text(&out));
}
