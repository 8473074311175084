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
use xcatport::snapshot::MANIFEST;

const TABLE: &str = "nodelist";

/// The real export of the fixture, made once per work dir.
fn base_stick(work: &Path) -> PathBuf {
    let stick = work.join("base");
    if !stick.exists() {
        let mn = mn(work);
        let out = run(export_cmd(&mn, &stick, &static_stub(work), &[]));
        assert!(out.status.success(), "{}", text(&out));
        std::fs::remove_dir_all(&mn).unwrap();
    }
    stick
}

/// A copy of the base stick whose `.xcatport/db/<TABLE>.csv` member is
/// replaced by `edit(original)`; every checksum and size is made to match.
fn with_dump(work: &Path, name: &str, edit: impl Fn(&str) -> String) -> PathBuf {
    let base = base_stick(work);
    let stick = work.join(name);
    std::fs::create_dir(&stick).unwrap();
    for e in std::fs::read_dir(&base).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), stick.join(e.file_name())).unwrap();
    }
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
    let data = zstd::encode_all(&out.into_inner().unwrap()[..], 3).unwrap();
    std::fs::write(stick.join(data_name), &data).unwrap();

    let mut m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(stick.join(MANIFEST)).unwrap()).unwrap();
    m["data"]["volumes"] = serde_json::json!([{
        "name": data_name,
        "size": data.len(),
        "sha256": hex::encode(Sha256::digest(&data)),
    }]);
    m["data"]["bytes_out"] = serde_json::json!(data.len());
    for t in m["database"].as_array_mut().unwrap() {
        if t["table"] == TABLE {
            t["size"] = serde_json::json!(new_csv.len());
            t["sha256"] = serde_json::json!(hex::encode(Sha256::digest(&new_csv)));
        }
    }
    std::fs::write(stick.join(MANIFEST), serde_json::to_vec(&m).unwrap()).unwrap();
    resum(&stick);
    stick
}

/// Rewrites SHA256SUMS over every other file of the stick.
fn resum(stick: &Path) {
    let mut names: Vec<String> = std::fs::read_dir(stick)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "SHA256SUMS")
        .collect();
    names.sort();
    let text: String = names
        .iter()
        .map(|n| {
            let sha = hex::encode(Sha256::digest(std::fs::read(stick.join(n)).unwrap()));
            format!("{sha}  {n}\n")
        })
        .collect();
    std::fs::write(stick.join("SHA256SUMS"), text).unwrap();
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
