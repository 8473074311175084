//! A snapshot whose database dump member has malformed CSV quoting, made
//! consistent with MANIFEST.json and SHA256SUMS so that it passes checksum
//! verification: the real `xcatimport` refuses it before anything is
//! written under the root (the full listing, journal included, is
//! unchanged), naming the dump file and the line.

mod faults_support;

use faults_support::*;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

const TABLE: &str = "nodelist";

/// A copy of the base stick whose `.xcatport/db/<TABLE>.csv` member is
/// replaced by `edit(original)`; every checksum and size is made to match.
fn with_dump(work: &Path, name: &str, edit: impl Fn(&str) -> String) -> PathBuf {
    let stick = work.join(name);
    copy_stick(&base_stick(work, &[]), &stick);
    let data_name = "xcat-data.tar.zst";
    let tar = zstd::decode_all(&std::fs::read(stick.join(data_name)).unwrap()[..]).unwrap();
    let member = format!(".xcatport/db/{TABLE}.csv");
    let mut new_csv = None;
    let mut out = tar::Builder::new(Vec::new());
    let mut archive = tar::Archive::new(&tar[..]);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut header = entry.header().clone();
        let mut body = Vec::new();
        entry.read_to_end(&mut body).unwrap();
        if entry.path_bytes().as_ref() == member.as_bytes() {
            let edited = edit(std::str::from_utf8(&body).unwrap()).into_bytes();
            header.set_size(edited.len() as u64);
            header.set_cksum();
            body = edited.clone();
            new_csv = Some(edited);
        }
        let path = entry.path().unwrap().into_owned();
        out.append_data(&mut header, path, &body[..]).unwrap();
    }
    let new_csv = new_csv.unwrap_or_else(|| panic!("the export has no {member}"));
    replace_data(&stick, &out.into_inner().unwrap(), |m| {
        m["data"]["bytes_out"] = serde_json::json!(m["data"]["volumes"][0]["size"]);
        for t in m["database"].as_array_mut().unwrap() {
            if t["table"] == TABLE {
                t["size"] = serde_json::json!(new_csv.len());
                t["sha256"] = serde_json::json!(hex::encode(Sha256::digest(&new_csv)));
            }
        }
    });
    stick
}

/// Replaces line `n` (1-based) of `csv` by `line`.
fn replace_line(csv: &str, n: usize, line: &str) -> String {
    let mut lines: Vec<&str> = csv.lines().collect();
    assert!(
        lines.len() >= n,
        "{TABLE}.csv has only {} lines",
        lines.len()
    );
    lines[n - 1] = line;
    lines.join("\n") + "\n"
}

fn refused(work: &Path, stick: &Path, needles: &[&str]) {
    let root = bare(
        work,
        &format!("root-{}", stick.file_name().unwrap().to_string_lossy()),
    );
    let before = xcatport::fixture::listing::listing(&root).unwrap();
    let out = run(import_cmd(stick, &root, &["--skip-packages"]));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    for needle in needles {
        assert!(
            stderr(&out).contains(needle),
            "expected {needle:?}: {}",
            text(&out)
        );
    }
    assert!(
        stderr(&out).contains("nothing was changed"),
        "{}",
        text(&out)
    );
    assert_eq!(
        xcatport::fixture::listing::listing(&root).unwrap(),
        before,
        "the root changed: {}",
        text(&out)
    );
}

#[test]
fn malformed_quoting_in_a_dump_member_is_refused_before_any_write() {
    let w = work("xcatport-hostile-dump-");
    let file = format!(".xcatport/db/{TABLE}.csv");

    // A character after a closing quote, on line 3.
    let stick = with_dump(w.path(), "after-quote", |csv| {
        replace_line(csv, 3, "\"n99\"x,\"compute\",,,,,,,")
    });
    refused(w.path(), &stick, &[&format!("{file}:3")]);

    // A quote opened on line 2 and never closed: the error names line 2.
    let stick = with_dump(w.path(), "unterminated", |csv| {
        replace_line(csv, 2, "\"n98,\"compute\"")
    });
    refused(w.path(), &stick, &[&format!("{file}:2"), "quote"]);

    // A quote inside an unquoted field, on the last line.
    let stick = with_dump(w.path(), "inner-quote", |csv| {
        let last = csv.lines().count();
        replace_line(csv, last, "n97,comp\"ute")
    });
    refused(w.path(), &stick, &[&file, "\""]);
}
