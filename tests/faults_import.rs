//! kill -9 of the real `xcatimport` at every journaled step boundary, at
//! pseudo-random entries inside the extraction (the
//! `XCATPORT_TEST_FAIL_AFTER_ENTRIES` hook) and at pseudo-random moments:
//! `--resume` always ends identical to an uninterrupted restore, and
//! `--rollback` returns the root to its state before the restore.

mod faults_support;

use faults_support::*;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use xcatport::app::import::FAIL_AFTER_ENTRIES;

/// A restored root: its listing (no journal, no SQLite files, which carry
/// change counters) and its database as tabdump text.
#[derive(Debug, PartialEq)]
struct Restored {
    listing: Vec<String>,
    db: BTreeMap<String, String>,
}

fn restored(root: &Path, members: &HashSet<PathBuf>) -> Restored {
    let listing = listing_masked(root, &|p| members.contains(p))
        .into_iter()
        .filter(|l| !l.ends_with(".sqlite") && !l.ends_with(".sqlite-journal"))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let opts = xcatport::db::DumpOptions {
        all: true,
        skip_tables: None,
    };
    xcatport::db::dump_to_dir(root, dir.path(), &opts).unwrap();
    let db = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    Restored { listing, db }
}

/// Lines that differ, for a readable failure.
fn diff(a: &[String], b: &[String]) -> String {
    let only_a: Vec<&String> = a.iter().filter(|l| !b.contains(l)).take(8).collect();
    let only_b: Vec<&String> = b.iter().filter(|l| !a.contains(l)).take(8).collect();
    format!("only in resumed: {only_a:#?}\nonly in uninterrupted: {only_b:#?}")
}

struct Bench {
    _w: tempfile::TempDir,
    dir: PathBuf,
    stick: PathBuf,
    entries: u64,
    members: HashSet<PathBuf>,
    whole: Restored,
    run_time: Duration,
    next: u32,
}

impl Bench {
    fn new() -> Bench {
        let w = work("xcatport-faults-imp-");
        let dir = w.path().to_path_buf();
        let mn = mn(&dir);
        let stub = static_stub(&dir);
        let stick = dir.join("stick");
        let out = run(export_cmd(&mn, &stick, &stub, &[]));
        assert!(out.status.success(), "{}", text(&out));
        std::fs::remove_dir_all(&mn).unwrap();
        let (head, files) = records(&stick);
        let members: HashSet<PathBuf> = files.iter().map(|r| r.rel_path()).collect();

        let root = bare(&dir, "whole");
        let started = Instant::now();
        let out = run(import_cmd(&stick, &root, &["--skip-packages"]));
        let run_time = started.elapsed();
        assert!(out.status.success(), "{}", text(&out));
        let whole = restored(&root, &members);
        Bench {
            members,
            _w: w,
            dir,
            stick,
            entries: head.data.entries,
            whole,
            run_time,
            next: 0,
        }
    }

    /// A new bare root and its listing before any restore.
    fn fresh(&mut self) -> (PathBuf, Vec<String>) {
        self.next += 1;
        let root = bare(&self.dir, &format!("r{}", self.next));
        let before = listing_without_journal(&root);
        (root, before)
    }

    /// After a kill: a plain rerun is refused (an unfinished restore is
    /// recorded), and `--resume` ends identical to the uninterrupted one.
    fn resume_matches(&self, root: &Path, what: &str) {
        let (complete, journaled) = (
            journal_complete(root),
            root.join("var/lib/xcatport/journal.json").exists(),
        );
        let out = run(import_cmd(&self.stick, root, &["--skip-packages"]));
        if complete {
            // killed after the last step was recorded: nothing to resume
            assert_eq!(out.status.code(), Some(1), "{what}: {}", text(&out));
            assert!(stderr(&out).contains("finished"), "{what}: {}", text(&out));
        } else if journaled {
            assert_eq!(out.status.code(), Some(1), "{what}: {}", text(&out));
            assert!(stderr(&out).contains("--resume"), "{what}: {}", text(&out));
            let out = run(import_cmd(
                &self.stick,
                root,
                &["--skip-packages", "--resume"],
            ));
            assert!(out.status.success(), "{what}: resume: {}", text(&out));
        } else {
            // killed before the journal existed: nothing was changed, the rerun is a normal run
            assert!(out.status.success(), "{what}: rerun: {}", text(&out));
        }
        let got = restored(root, &self.members);
        assert!(
            got.listing == self.whole.listing,
            "{what}: resumed tree differs\n{}",
            diff(&got.listing, &self.whole.listing)
        );
        assert_eq!(got.db, self.whole.db, "{what}: database differs");
        std::fs::remove_dir_all(root).unwrap();
    }

    /// After a kill: `--rollback` returns the root to its prior listing.
    fn rollback_matches(&self, root: &Path, before: &[String], what: &str) {
        if root.join("var/lib/xcatport/journal.json").exists() {
            let out = run(import_cmd(&self.stick, root, &["--rollback"]));
            assert!(out.status.success(), "{what}: rollback: {}", text(&out));
        }
        let got = listing_without_journal(root);
        assert!(
            got == before,
            "{what}: rolled-back tree differs\n{}",
            diff(&got, before)
        );
        std::fs::remove_dir_all(root).unwrap();
    }
}

/// Whether every step of the journal is done or skipped.
fn journal_complete(root: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(root.join("var/lib/xcatport/journal.json")) else {
        return false;
    };
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["state"] == "done" || s["state"] == "skipped")
}

#[test]
fn kill_9_at_every_step_boundary_then_resume_or_rollback() {
    let mut b = Bench::new();
    type Probe = fn(&Path) -> bool;
    let boundaries: [(&str, Probe); 7] = [
        ("journal created", |r| {
            r.join("var/lib/xcatport/journal.json").exists()
        }),
        ("preflight done", |r| step_in(r, "preflight", "done")),
        ("files running", |r| step_in(r, "files", "running")),
        ("files done", |r| step_in(r, "files", "done")),
        ("database running", |r| step_in(r, "database", "running")),
        ("database backup made, tables being written", |r| {
            r.join("var/lib/xcatport/db-backup").is_dir()
        }),
        ("database done", |r| step_in(r, "database", "done")),
    ];
    let mut seen = 0;
    for (name, probe) in boundaries {
        let modes: &[bool] = &[true, false];
        for &then_resume in modes {
            let (root, before) = b.fresh();
            let mut child = spawn_quiet(import_cmd(&b.stick, &root, &["--skip-packages"]));
            let hit = wait_for(&mut child, || probe(&root));
            let killed = kill9(&mut child);
            seen += hit as u32;
            let what = format!("kill at '{name}' (seen {hit}, killed {killed})");
            if then_resume {
                b.resume_matches(&root, &what);
            } else {
                b.rollback_matches(&root, &before, &what);
            }
        }
    }
    assert_eq!(seen, 14, "every boundary must be observed");
}

#[test]
fn kill_9_inside_the_extraction_then_resume_or_rollback() {
    let mut b = Bench::new();
    let mut rng = Rng::new(0x5eed_0002);
    let mut points: Vec<u64> = vec![0, b.entries - 1];
    points.extend((0..4).map(|_| rng.below(b.entries)));
    for (i, at) in points.iter().enumerate() {
        let (root, before) = b.fresh();
        let n = at.to_string();
        let mut cmd = import_cmd(&b.stick, &root, &["--skip-packages"]);
        cmd.env(FAIL_AFTER_ENTRIES, &n);
        let out = run(cmd);
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(out.status.signal(), Some(9), "entry {at}: {}", text(&out));
        let what = format!("kill before entry {at} of {}", b.entries);
        if i % 2 == 0 {
            b.resume_matches(&root, &what);
        } else {
            b.rollback_matches(&root, &before, &what);
        }
    }
}

#[test]
fn kill_9_at_random_moments_then_resume() {
    let mut b = Bench::new();
    let mut rng = Rng::new(0x5eed_0003);
    // The reference run shares the cores with the other tests: the later
    // runs are faster, so the moments cover the first 60 % of it.
    let span = b.run_time.as_micros() as u64 * 6 / 10 + 1;
    let mut landed = 0;
    for i in 0..6 {
        let at = Duration::from_micros(rng.below(span));
        let (root, before) = b.fresh();
        let mut child = spawn_quiet(import_cmd(&b.stick, &root, &["--skip-packages"]));
        std::thread::sleep(at);
        landed += kill9(&mut child) as u32;
        let what = format!("random kill {i} after {at:?} of {:?}", b.run_time);
        if i % 2 == 0 {
            b.resume_matches(&root, &what);
        } else {
            b.rollback_matches(&root, &before, &what);
        }
    }
    assert!(landed >= 4, "only {landed} of 6 random kills landed");
}
