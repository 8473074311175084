//! Replays the fuzz inputs that matter through the same property checks the
//! cargo-fuzz targets run (fuzz/checks.rs): the committed seeds
//! (fuzz/seeds/TARGET) and every input that once failed
//! (fuzz/regressions/TARGET/NAME, kept with a note on what it found), so
//! each runs in every `cargo test`, without libFuzzer.

#[path = "../fuzz/checks.rs"]
mod checks;

use std::path::{Path, PathBuf};

const FUZZ: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz");

/// The input files of `target` under fuzz/`kind`, sorted (may be none).
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(FUZZ).join(kind).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().map_or(true, |e| e != "md"))
        .collect();
    v.sort();
    v
}

/// Runs `check` over every seed and regression input of `target`; the
/// failures are reported together, each with its file.
fn replay(target: &str, check: fn(&[u8]), min_seeds: usize) {
    let seeds = inputs("seeds", target);
    assert!(
        seeds.len() >= min_seeds,
        "{target}: {} seeds, expected at least {min_seeds}",
        seeds.len()
    );
    let mut failures = Vec::new();
    for path in seeds.iter().chain(&inputs("regressions", target)) {
        let data = std::fs::read(path).unwrap();
        if std::panic::catch_unwind(|| check(&data)).is_err() {
            failures.push(path.display().to_string());
        }
    }
    assert!(failures.is_empty(), "{target}: failed on {failures:#?}");
}

#[test]
fn tabdump_csv_inputs() {
    replay("tabdump_csv", checks::tabdump_csv, 50);
}

#[test]
fn manifest_xml_inputs() {
    replay("manifest_xml", checks::manifest_xml, 2);
}

#[test]
fn manifest_json_inputs() {
    replay("manifest_json", checks::manifest_json, 2);
}

#[test]
fn archive_inputs() {
    replay("archive", checks::archive, 6);
}

/// Found by the manifest_xml target: a control character in a value was
/// read, then refused when the manifest was written back.
#[test]
fn manifest_xml_control_character_is_refused_on_read() {
    for value in ["a\u{2}b", "a&#2;b"] {
        let xml =
            format!("<xcatimage><osimage><imagename>{value}</imagename></osimage></xcatimage>");
        let e = xcatport::image::Manifest::parse(xml.as_bytes(), Path::new("m.xml"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e, "m.xml:1: character U+0002 is not allowed in XML",
            "{value}"
        );
    }
}
