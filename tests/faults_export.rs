//! kill -9 of the real `xcatexport` at pseudo-random moments and at each
//! phase boundary it shows on disk: the target never holds a snapshot that
//! verifies but differs from the source, and a rerun always succeeds.

mod faults_support;

use faults_support::*;
use std::path::Path;
use std::time::{Duration, Instant};
use xcatport::snapshot::{self, FileRecord, ManifestHead};
use xcatport::target::PARTIAL;

/// What a snapshot of the fixture must hold whenever it verifies.
struct Reference {
    head: ManifestHead,
    files: Vec<FileRecord>,
}

impl Reference {
    /// Asserts that `stick`, which verified, is the snapshot of the source.
    fn same_as(&self, stick: &Path, what: &str) {
        let (head, files) = records(stick);
        assert_eq!(head.source, self.head.source, "{what}");
        assert_eq!(head.plan, self.head.plan, "{what}");
        assert_eq!(head.database, self.head.database, "{what}");
        assert_eq!(head.data.entries, self.head.data.entries, "{what}");
        assert_eq!(head.data.bytes_in, self.head.data.bytes_in, "{what}");
        assert!(files == self.files, "{what}: file records differ");
    }
}

/// Checks the target after a kill: it either does not verify (and holds
/// no SHA256SUMS) or is the full snapshot; then a rerun succeeds and
/// verifies. Leaves the target removed. Returns whether the kill left a
/// verifying snapshot.
fn check_after_kill(
    reference: &Reference,
    mn: &Path,
    stick: &Path,
    stub: &Path,
    what: &str,
) -> bool {
    let complete = match snapshot::verify(stick) {
        Ok(_) => {
            reference.same_as(stick, what);
            true
        }
        Err(e) => {
            assert!(
                !stick.join(snapshot::SUMS).exists(),
                "{what}: SHA256SUMS present but verify fails: {e}"
            );
            false
        }
    };
    if !complete {
        let out = run(export_cmd(mn, stick, stub, &[]));
        let out = if out.status.success() {
            out
        } else {
            // a half-moved target is not empty: --force is the documented way on
            assert_eq!(out.status.code(), Some(1), "{what}: {}", text(&out));
            run(export_cmd(mn, stick, stub, &["--force"]))
        };
        assert!(out.status.success(), "{what}: rerun failed: {}", text(&out));
        snapshot::verify(stick).unwrap_or_else(|e| panic!("{what}: rerun does not verify: {e}"));
        reference.same_as(stick, what);
        assert!(!stick.join(PARTIAL).exists(), "{what}: staging left behind");
    }
    std::fs::remove_dir_all(stick).ok();
    complete
}

#[test]
fn kill_9_at_random_moments_and_phase_boundaries_never_leaves_a_wrong_snapshot() {
    let w = work("xcatport-faults-exp-");
    let mn = mn(w.path());
    let stub = static_stub(w.path());
    let stick = w.path().join("stick");

    // Two warm runs: the shorter one bounds the random kill moments.
    let mut whole = Duration::MAX;
    for _ in 0..2 {
        std::fs::remove_dir_all(&stick).ok();
        let started = Instant::now();
        let out = run(export_cmd(&mn, &stick, &stub, &[]));
        whole = whole.min(started.elapsed());
        assert!(out.status.success(), "{}", text(&out));
    }
    let (head, files) = records(&stick);
    let reference = Reference { head, files };
    // The reference itself against the source tree.
    for r in &reference.files {
        if r.kind == snapshot::manifest::Kind::File {
            let p = mn.join(r.rel_path());
            assert_eq!(
                r.sha256.as_deref(),
                Some(
                    xcatport::fixture::listing::sha256_file(&p)
                        .unwrap()
                        .as_str()
                ),
                "{}",
                r.path
            );
        }
    }
    std::fs::remove_dir_all(&stick).unwrap();

    // Pseudo-random moments over the whole run (seeded: replayable).
    let mut rng = Rng::new(0x5eed_0001);
    let span = whole.as_micros() as u64 * 9 / 10 + 1;
    let (mut landed, mut complete) = (0, 0);
    for i in 0..16 {
        let at = Duration::from_micros(rng.below(span));
        let mut child = spawn_quiet(export_cmd(&mn, &stick, &stub, &[]));
        std::thread::sleep(at);
        landed += kill9(&mut child) as u32;
        let what = format!("random kill {i} after {at:?} of {whole:?}");
        complete += check_after_kill(&reference, &mn, &stick, &stub, &what) as u32;
    }
    assert!(landed >= 12, "only {landed} of 16 random kills landed");

    // Each phase boundary visible on disk, killed as soon as it shows.
    type Probe = fn(&Path) -> bool;
    let phases: [(&str, Probe); 6] = [
        ("staging created", |s| s.join(PARTIAL).is_dir()),
        ("data stream started", |s| {
            s.join(PARTIAL).join("xcat-data.tar.zst").exists()
        }),
        ("import binary copied", |s| {
            s.join(PARTIAL).join("xcatimport").exists()
        }),
        ("SHA256SUMS staged", |s| {
            s.join(PARTIAL).join(snapshot::SUMS).exists()
        }),
        ("first file moved up", |s| {
            s.join("xcat-data.tar.zst").exists()
        }),
        ("committed", |s| s.join(snapshot::SUMS).exists()),
    ];
    let mut seen = 0;
    for (name, probe) in phases {
        let mut child = spawn_quiet(export_cmd(&mn, &stick, &stub, &[]));
        let hit = wait_for(&mut child, || probe(&stick));
        let killed = kill9(&mut child);
        seen += hit as u32;
        let what = format!("kill at phase '{name}' (seen {hit}, killed {killed})");
        let whole_snapshot = check_after_kill(&reference, &mn, &stick, &stub, &what);
        if name == "committed" && hit {
            assert!(whole_snapshot, "{what}");
        }
    }
    assert_eq!(seen, 6, "every phase must be observed");
    eprintln!(
        "export kills: 16 random ({landed} landed, {complete} after commit), 6 phase boundaries"
    );
}
