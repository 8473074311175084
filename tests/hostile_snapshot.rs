//! Hostile snapshots fed to the real `xcatimport`: hand-crafted data tars
//! made consistent with MANIFEST.json and SHA256SUMS (so they pass checksum
//! verification), plus broken manifests, swapped and truncated volumes.
//! Each is refused with a non-zero exit, nothing under the root changes
//! (listing compared, journal aside) and nothing outside it is written.

mod faults_support;

use faults_support::*;
use std::path::{Path, PathBuf};
use tar::{EntryType, Header};

/// A stick exported from the small fixture, its data volume replaced by
/// `tar` (zstd-compressed here), MANIFEST.json and SHA256SUMS updated to
/// match. `edit` may change the manifest JSON further.
fn crafted(
    work: &Path,
    name: &str,
    tar: &[u8],
    edit: impl FnOnce(&mut serde_json::Value),
) -> PathBuf {
    let stick = work.join(name);
    copy_stick(&base_stick(work, &["--split", "64K"]), &stick);
    replace_data(&stick, tar, |m| {
        m["database"] = serde_json::json!([]);
        edit(m);
    });
    stick
}

fn header(kind: EntryType, size: u64, mode: u32) -> Header {
    let mut h = Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h
}

/// Appends a member whose name is written raw into the header (the tar
/// crate's own setters refuse `..` and absolute names).
fn raw(
    b: &mut tar::Builder<Vec<u8>>,
    name: &str,
    kind: EntryType,
    body: &[u8],
    link: Option<&str>,
) {
    let mut h = header(kind, body.len() as u64, 0o644);
    {
        let gnu = h.as_gnu_mut().unwrap();
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(l) = link {
            gnu.linkname[..l.len()].copy_from_slice(l.as_bytes());
        }
    }
    h.set_cksum();
    b.append(&h, body).unwrap();
}

/// A tar with an innocent file first, then the members `evil` adds.
fn tar_with(evil: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    raw(
        &mut b,
        "install/first.txt",
        EntryType::Regular,
        b"harmless\n",
        None,
    );
    evil(&mut b);
    b.into_inner().unwrap()
}

/// Runs the import of `stick` into a fresh root: refused (exit 1), root
/// unchanged apart from the journal, `outside` untouched.
fn refused(work: &Path, stick: &Path, needle: &str, outside: &Path) {
    let root = bare(
        work,
        &format!("root-{}", stick.file_name().unwrap().to_string_lossy()),
    );
    let before = listing_without_journal(&root);
    let out = run(import_cmd(stick, &root, &["--skip-packages"]));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).contains(needle),
        "expected {needle:?}: {}",
        text(&out)
    );
    assert_eq!(listing_without_journal(&root), before, "{}", text(&out));
    assert!(!outside.exists(), "{} was written", outside.display());
    // With a journal, rollback leaves it as it was too.
    if root.join("var/lib/xcatport/journal.json").exists() {
        let out = run(import_cmd(stick, &root, &["--rollback"]));
        assert!(out.status.success(), "{}", text(&out));
        assert_eq!(listing_without_journal(&root), before);
    }
}

#[test]
fn crafted_members_that_escape_or_abuse_the_root_are_refused() {
    let w = work("xcatport-hostile-snap-");
    let outside = w.path().join("OUTSIDE");
    let abs = format!("{}/abs", outside.display());
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "dotdot",
            tar_with(|b| raw(b, "../../OUTSIDE/x", EntryType::Regular, b"evil", None)),
            "..",
        ),
        (
            "absolute",
            tar_with(|b| raw(b, &abs, EntryType::Regular, b"evil", None)),
            "absolute",
        ),
        (
            "symlink-then-file",
            tar_with(|b| {
                raw(
                    b,
                    "etc/evil",
                    EntryType::Symlink,
                    b"",
                    Some(&outside.display().to_string()),
                );
                raw(b, "etc/evil/x", EntryType::Regular, b"evil", None);
            }),
            "symlink",
        ),
        (
            "hardlink-outside",
            tar_with(|b| raw(b, "etc/hl", EntryType::Link, b"", Some("../../etc/passwd"))),
            "etc/hl",
        ),
        (
            "device",
            tar_with(|b| {
                let mut h = header(EntryType::Char, 0, 0o666);
                h.set_device_major(1).unwrap();
                h.set_device_minor(3).unwrap();
                b.append_data(&mut h, "etc/null", &[][..]).unwrap();
            }),
            "etc/null",
        ),
        (
            "huge-size",
            {
                let mut v = tar_with(|b| {
                    let mut h = header(EntryType::Regular, 1 << 40, 0o644);
                    h.set_path("install/huge").unwrap();
                    h.set_cksum();
                    b.append(&h, &b"short"[..]).ok();
                });
                v.truncate(v.len() - 1024);
                v
            },
            "install/huge",
        ),
    ];
    let mut failures = Vec::new();
    for (name, tar, needle) in cases {
        let stick = crafted(w.path(), name, &tar, |_| {});
        let r = std::panic::catch_unwind(|| refused(w.path(), &stick, needle, &outside));
        if r.is_err() {
            failures.push(name);
        }
    }
    assert!(failures.is_empty(), "not refused cleanly: {failures:?}");
}

#[test]
fn broken_manifests_and_volumes_are_refused_in_preflight() {
    let w = work("xcatport-hostile-snap-");
    let outside = w.path().join("OUTSIDE");
    let base = base_stick(w.path(), &["--split", "64K"]);
    let vols: Vec<String> = {
        let mut v: Vec<String> = std::fs::read_dir(&base)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("xcat-data.tar.zst."))
            .collect();
        v.sort();
        v
    };
    assert!(vols.len() >= 3, "{vols:?}");

    // Volumes swapped: SHA256SUMS no longer matches (names swapped, bodies stay).
    let s = w.path().join("swapped");
    copy_stick(&base, &s);
    std::fs::rename(s.join(&vols[0]), s.join("tmp")).unwrap();
    std::fs::rename(s.join(&vols[1]), s.join(&vols[0])).unwrap();
    std::fs::rename(s.join("tmp"), s.join(&vols[1])).unwrap();
    refused(w.path(), &s, &vols[0], &outside);

    // Truncated volume.
    let s = w.path().join("truncated");
    copy_stick(&base, &s);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(s.join(&vols[1]))
        .unwrap();
    f.set_len(100).unwrap();
    refused(w.path(), &s, &vols[1], &outside);

    // MANIFEST.json: bad encoding, deep nesting, wrong shape; SHA256SUMS made to match.
    let bad: Vec<(&str, Vec<u8>)> = vec![
        (
            "latin1",
            b"{\"format\": 1, \"xcatport\": \"caf\xe9\"}".to_vec(),
        ),
        ("nested", {
            let mut v = b"{\"format\":1,\"x\":".to_vec();
            v.extend(std::iter::repeat(b'[').take(100_000));
            v
        }),
        ("shape", b"[1,2,3]".to_vec()),
        ("empty", Vec::new()),
    ];
    for (name, body) in bad {
        let s = w.path().join(format!("manifest-{name}"));
        copy_stick(&base, &s);
        std::fs::write(s.join("MANIFEST.json"), body).unwrap();
        resum(&s);
        refused(w.path(), &s, "MANIFEST.json", &outside);
    }
}
