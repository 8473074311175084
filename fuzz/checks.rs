//! The properties each fuzz target checks, one function per target. Shared
//! (through `#[path]`) by the cargo-fuzz targets in fuzz_targets/ and by
//! tests/fuzz_regressions.rs, which replays the committed seeds and every
//! input that once failed. A violated property panics.

#![allow(dead_code)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use xcatport::db::{csv::Reader, schema};
use xcatport::image::Manifest;
use xcatport::mn::accounts::Accounts;
use xcatport::progress::Hidden;
use xcatport::restore::extract::{extract, ExtractOptions};
use xcatport::restore::journal::NoJournal;
use xcatport::restore::scan::scan;
use xcatport::snapshot::manifest;

/// Input `TABLE\0CSV`; an unknown or missing table name picks a table from
/// the name's bytes, so mutated names still exercise a real schema.
/// Records come in file order with one value slot per schema column.
pub fn tabdump_csv(data: &[u8]) {
    let (name, csv) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (&data[..0], data),
    };
    let tables = schema::tables();
    let table = std::str::from_utf8(name)
        .ok()
        .and_then(schema::table)
        .unwrap_or_else(|| {
            let pick = name.iter().map(|&b| b as usize).sum::<usize>();
            &tables[pick % tables.len()]
        });
    let Ok(mut reader) = Reader::new(csv, Path::new("fuzz.csv"), table) else {
        return;
    };
    let mut last_line = 0;
    while let Ok(Some(record)) = reader.next_record() {
        assert!(record.line > last_line, "record lines go backwards");
        assert!(record.line <= reader.lines_read());
        assert_eq!(record.values.len(), table.columns.len());
        last_line = record.line;
    }
}

/// Any bytes parse or give an error; what parses writes back as XML that
/// parses to the same manifest.
pub fn manifest_xml(data: &[u8]) {
    let file = Path::new("manifest.xml");
    let Ok(m) = Manifest::parse(data, file) else {
        return;
    };
    let xml = m.to_xml().expect("a parsed manifest writes back");
    let again = Manifest::parse(xml.as_bytes(), file).expect("written XML parses");
    assert_eq!(again.osimage, m.osimage);
    assert_eq!(again.linuximage, m.linuximage);
    assert_eq!(again.kits, m.kits);
    assert_eq!(again.kitrepos, m.kitrepos);
    assert_eq!(again.kitcomps, m.kitcomps);
    assert_eq!(again.extras, m.extras);
    assert_eq!(again.kernel, m.kernel);
    assert_eq!(again.ramdisk, m.ramdisk);
    assert_eq!(again.rootimg, m.rootimg);
}

/// A private scratch directory for the whole process.
fn scratch() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        // tmpfs when there is one: the archive target makes a root per input.
        let base = Path::new("/dev/shm");
        let base = if base.is_dir() {
            base.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        tempfile::Builder::new()
            .prefix("xcatport-fuzz-")
            .tempdir_in(base)
            .expect("private scratch dir")
    })
    .path()
}

/// MANIFEST.json (head and streamed file records): the reader takes a path,
/// so the input is written to a private file first. The head alone is
/// accepted exactly when the whole manifest is.
pub fn manifest_json(data: &[u8]) {
    let file = scratch().join(format!("MANIFEST-{:?}.json", std::thread::current().id()));
    std::fs::write(&file, data).expect("scratch file is writable");
    let full = manifest::read(&file, &mut |record| {
        let _ = record.rel_path();
        Ok(())
    });
    let head = manifest::read_head(&file);
    assert_eq!(full.is_ok(), head.is_ok(), "{full:?} vs {head:?}");
}

/// The pre-restore scan, then the extraction into a fresh root inside a
/// private directory: neither panics, the directory holds only `root`
/// afterwards whatever the archive said, and what the scan refuses the
/// extraction does not complete either (except a stream the scan finds cut
/// short inside its last member, which the extraction may not reach, and a
/// malformed DB dump table, which only the scan parses).
pub fn archive(data: &[u8]) {
    let scanned = scan(data, false);
    let outer = tempfile::Builder::new()
        .prefix("tar-")
        .tempdir_in(scratch())
        .expect("private dir");
    let root = outer.path().join("root");
    std::fs::create_dir(&root).expect("root dir");
    let accounts = Accounts::load(&root).expect("empty accounts");
    let opts = ExtractOptions {
        allow_special: false,
        set_owners: false,
        dump_dir: Some(PathBuf::from("var/lib/xcatport")),
        before_entry: None,
        keep_existing: Vec::new(),
    };
    let extracted = extract(data, &root, &accounts, &mut NoJournal, opts, &Hidden);
    let beside: Vec<OsString> = std::fs::read_dir(outer.path())
        .expect("private dir readable")
        .map(|e| e.expect("dir entry").file_name())
        .collect();
    assert_eq!(
        beside,
        vec![OsString::from("root")],
        "written outside the root (scan: {scanned:?}, extract: {extracted:?})"
    );
    if let Err(e) = &scanned {
        let text = e.to_string();
        let cut_short = text.contains("truncated");
        // Only the scan parses the DB dump's tables; the database step
        // parses them again after extraction.
        let bad_dump = text.starts_with(".xcatport/db/");
        assert!(
            extracted.is_err() || cut_short || bad_dump,
            "scan refused ({e}) but extraction succeeded: {extracted:?}"
        );
    }
}
