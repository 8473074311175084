//! Native dump/restore on the synthetic MN's SQLite database, and the
//! `xcatdb` binary as a user runs it.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use xcatport::db::{self, DumpOptions, RestoreOptions, TableSink};
use xcatport::fixture;

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

fn dump(root: &Path) -> (tempfile::TempDir, Vec<(String, Vec<u8>)>) {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("dump");
    db::dump_to_dir(root, &dir, &DumpOptions::default()).unwrap();
    let f = files(&dir);
    (out, f)
}

#[test]
fn dump_restore_dump_is_byte_identical_into_a_fresh_and_the_same_root() {
    let src = tempfile::tempdir().unwrap();
    fixture::db::populate(src.path(), 20).unwrap();
    let (first_dir, first) = dump(src.path());
    assert_eq!(
        first.len(),
        71,
        "73 schema tables minus auditlog and eventlog"
    );
    assert!(first.iter().all(|(n, _)| n.ends_with(".csv")));

    let fresh = tempfile::tempdir().unwrap();
    let stats = db::restore_from_dir(
        fresh.path(),
        &first_dir.path().join("dump"),
        &RestoreOptions::default(),
    )
    .unwrap();
    assert_eq!(stats.tables.len(), 71);
    assert_eq!(
        stats
            .tables
            .iter()
            .find(|t| t.table == "nodelist")
            .unwrap()
            .rows,
        20
    );
    assert_eq!(dump(fresh.path()).1, first);

    db::restore_from_dir(
        src.path(),
        &first_dir.path().join("dump"),
        &RestoreOptions::default(),
    )
    .unwrap();
    assert_eq!(dump(src.path()).1, first);
    // No staging leftovers next to the table files.
    let leftovers: Vec<String> = fs::read_dir(src.path().join("etc/xcat"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".sqlite"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

struct Collect(Vec<(String, Vec<u8>)>);

impl TableSink for Collect {
    fn table(
        &mut self,
        file_name: &str,
        size: u64,
        content: &mut dyn FnMut(&mut dyn Write) -> xcatport::Result<()>,
    ) -> xcatport::Result<()> {
        let mut bytes = Vec::new();
        content(&mut bytes)?;
        assert_eq!(bytes.len() as u64, size, "{file_name}");
        self.0.push((file_name.to_string(), bytes));
        Ok(())
    }
}

#[test]
fn streaming_dump_gives_the_same_files_site_first_with_exact_sizes() {
    let src = tempfile::tempdir().unwrap();
    fixture::db::populate(src.path(), 5).unwrap();
    let mut sink = Collect(Vec::new());
    let stats = db::dump_tables(src.path(), &DumpOptions::default(), &mut sink).unwrap();
    assert_eq!(sink.0[0].0, "site.csv");
    assert_eq!(stats.tables.len(), sink.0.len());
    let mut streamed = sink.0;
    streamed.sort();
    assert_eq!(streamed, dump(src.path()).1);
}

#[test]
fn skip_tables_from_site_and_environment_option() {
    let src = tempfile::tempdir().unwrap();
    fixture::db::populate(src.path(), 3).unwrap();
    let seed = tempfile::tempdir().unwrap();
    fs::write(
        seed.path().join("site.csv"),
        "#key,value\n\"skiptables\",\"mac,hosts\"\n\"master\",\"10.0.0.1\"\n",
    )
    .unwrap();
    db::restore_from_dir(src.path(), seed.path(), &RestoreOptions::default()).unwrap();
    let (_d, names) = dump(src.path());
    let names: Vec<&str> = names.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        !names.contains(&"mac.csv")
            && !names.contains(&"hosts.csv")
            && names.contains(&"nodelist.csv")
    );
    let out = tempfile::tempdir().unwrap();
    let opts = DumpOptions {
        all: true,
        skip_tables: Some("nodelist".into()),
    };
    let stats = db::dump_to_dir(src.path(), out.path(), &opts).unwrap();
    assert!(out.path().join("mac.csv").exists() && out.path().join("auditlog.csv").exists());
    assert!(!out.path().join("nodelist.csv").exists());
    assert!(stats.skipped.iter().any(|s| s.name == "nodelist"));
}

#[test]
fn restore_ignores_stray_entries_and_reports_them() {
    let src = tempfile::tempdir().unwrap();
    fixture::db::populate(src.path(), 3).unwrap();
    let (dir, before) = dump(src.path());
    let d = dir.path().join("dump");
    fs::write(d.join("site.csv.orig"), "garbage").unwrap();
    fs::write(d.join("README"), "notes").unwrap();
    fs::write(d.join("myplugin.csv"), "#a,b\n").unwrap();
    fs::create_dir(d.join("site.d")).unwrap();
    fs::write(d.join("x_teal_event.csv"), "#x\n").unwrap();
    let stats = db::restore_from_dir(src.path(), &d, &RestoreOptions::default()).unwrap();
    let ignored: Vec<&str> = stats.ignored.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(
        ignored,
        ["README", "myplugin.csv", "site.csv.orig", "site.d"]
    );
    assert!(stats.skipped.iter().any(|s| s.name == "x_teal_event"));
    assert_eq!(dump(src.path()).1, before);
}

#[test]
fn unreachable_or_unparsable_cfgloc_is_an_error_not_a_fallback() {
    let root = tempfile::tempdir().unwrap();
    fixture::db::populate(root.path(), 2).unwrap();
    let cfgloc = root.path().join("etc/xcat/cfgloc");
    fs::write(&cfgloc, "Oracle:dbname=x|u|topsecret\n").unwrap();
    let out = tempfile::tempdir().unwrap();
    let e = db::dump_to_dir(root.path(), out.path(), &DumpOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cfgloc:1: unknown database driver 'Oracle'") && !e.contains("topsecret"),
        "{e}"
    );
    // A closed port on loopback: nothing listens on port 1.
    fs::write(
        &cfgloc,
        "Pg:dbname=xcatdb;host=127.0.0.1;port=1|xcatadm|topsecret\n",
    )
    .unwrap();
    let e = db::dump_to_dir(root.path(), out.path(), &DumpOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("127.0.0.1") && !e.contains("topsecret"), "{e}");
    assert_eq!(
        fs::read_dir(out.path()).unwrap().count(),
        0,
        "nothing dumped"
    );
}

fn xcatdb(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_xcatdb"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn xcatdb_binary_prints_the_method_and_fails_loudly_on_a_bad_file() {
    let root = tempfile::tempdir().unwrap();
    fixture::db::populate(root.path(), 4).unwrap();
    let r = root.path().to_str().unwrap();
    let dir = root.path().join("out");
    let d = dir.to_str().unwrap();
    let out = xcatdb(&["dump", "-p", d, "--root", r, "-V"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with(&format!("Method: native (SQLite in {r}/etc/xcat)\n")),
        "{stdout}"
    );
    assert!(stdout.contains("Dumped nodelist (4 rows)") && stdout.contains("Skipping auditlog"));
    assert!(stdout.contains("Backup Complete: 71 tables"));

    let json = xcatdb(&["restore", "-p", d, "--root", r, "--json"]);
    assert!(json.status.success());
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["tables"].as_array().unwrap().len(), 71);
    assert_eq!(v["tables"][0]["table"], "site");

    fs::write(
        dir.join("hosts.csv"),
        "#node,ip\n\"n1\",\"10.0.0.1\"\n\"n2\",\"x\",\"y\",,,,,\n",
    )
    .unwrap();
    let bad = xcatdb(&["restore", "-p", d, "--root", r]);
    assert_eq!(bad.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.starts_with(&format!("xcatdb: error: {d}/hosts.csv:3: too many fields")),
        "{stderr}"
    );
}

#[test]
fn a_killed_restores_staged_table_and_its_sqlite_journal_are_cleared_first() {
    let src = tempfile::tempdir().unwrap();
    fixture::db::populate(src.path(), 5).unwrap();
    let (dump_dir, first) = dump(src.path());
    let target = tempfile::tempdir().unwrap();
    fixture::db::populate(target.path(), 2).unwrap();
    let xcat = target.path().join("etc/xcat");
    let leftovers = [
        ".nodelist.sqlite.xcatport-new",
        ".nodelist.sqlite.xcatport-new-journal",
        ".nodelist.sqlite.xcatport-new-wal",
        ".nodelist.sqlite.xcatport-new-shm",
    ];
    for name in leftovers {
        fs::write(xcat.join(name), vec![0x5a; 4096]).unwrap();
    }
    db::restore_from_dir(
        target.path(),
        &dump_dir.path().join("dump"),
        &RestoreOptions::default(),
    )
    .unwrap();
    for name in leftovers {
        assert!(!xcat.join(name).exists(), "{name} left behind");
    }
    assert_eq!(dump(target.path()).1, first);
}
