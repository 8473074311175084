//! 100,000-node database: dump and restore time on SQLite (issue 4 targets:
//! dump under 5 s, restore under 10 s). Prints the timings for scripts/bench;
//! the bounds asserted here are loose enough for a debug build on 2 cores.

use std::time::Instant;
use xcatport::db::{self, DumpOptions, RestoreOptions};

#[test]
fn sqlite_100k_nodes_dump_and_restore_in_seconds() {
    let root = tempfile::tempdir().unwrap();
    let t = Instant::now();
    xcatport::fixture::db::populate(root.path(), 100_000).unwrap();
    let populate = t.elapsed().as_secs_f64();
    let out = tempfile::tempdir().unwrap();
    let dump = db::dump_to_dir(root.path(), out.path(), &DumpOptions::default()).unwrap();
    let nodes = dump
        .tables
        .iter()
        .find(|t| t.table == "nodelist")
        .unwrap()
        .rows;
    assert_eq!(nodes, 100_000);
    let restore =
        db::restore_from_dir(root.path(), out.path(), &RestoreOptions::default()).unwrap();
    let rows: u64 = restore.tables.iter().map(|t| t.rows).sum();
    assert!(rows > 600_000, "{rows}");
    println!(
        "sqlite 100k nodes: populate {populate:.2} s, dump {:.2} s, restore {:.2} s ({rows} rows)",
        dump.seconds, restore.seconds
    );
    assert!(dump.seconds < 15.0 && restore.seconds < 30.0);
}
