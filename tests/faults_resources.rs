//! Resource faults on the real binaries: a full target filesystem, a
//! source file root cannot read, a file vanishing or growing during the
//! export, and the stick's data volume cut short in the middle of a
//! restore. Each gives a non-zero exit and an error naming the path, and
//! never a target that verifies with wrong content.

mod faults_support;

use faults_support::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use xcatport::snapshot;
use xcatport::target::PARTIAL;

/// After a failed export: exit 1, the message names `needle`, and the
/// target holds no snapshot and no staging directory.
fn failed_cleanly(out: &std::process::Output, stick: &Path, needle: &str) {
    assert_eq!(out.status.code(), Some(1), "{}", text(out));
    assert!(
        stderr(out).contains(needle),
        "expected {needle:?} in: {}",
        text(out)
    );
    assert!(snapshot::verify(stick).is_err());
    assert!(!stick.join(snapshot::SUMS).exists());
    assert!(!stick.join(PARTIAL).exists(), "staging left behind");
}

#[test]
fn a_target_too_small_is_refused_before_writing_and_names_the_target() {
    let w = work("xcatport-faults-res-");
    let mn = mn(w.path());
    let stub = static_stub(w.path());
    let mnt = w.path().join("small");
    let _m = Mount::tmpfs(&mnt, "2m");
    let out = run(export_cmd(&mn, &mnt, &stub, &[]));
    failed_cleanly(&out, &mnt, &mnt.display().to_string());
    assert!(stderr(&out).contains("free"), "{}", text(&out));
    assert_eq!(std::fs::read_dir(&mnt).unwrap().count(), 0);
}

#[test]
fn a_target_filesystem_that_fills_up_while_writing_fails_cleanly() {
    let w = work("xcatport-faults-res-");
    let mn = mn(w.path());
    let stub = static_stub(w.path());
    let mnt = w.path().join("full");
    // Room for the bytes but only a handful of inodes: the filesystem is
    // full (ENOSPC) part-way through staging.
    let _m = Mount(mnt.clone());
    std::fs::create_dir_all(&mnt).unwrap();
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=200m,nr_inodes=5", "tmpfs"])
        .arg(&mnt)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let out = run(export_cmd(&mn, &mnt, &stub, &[]));
    failed_cleanly(&out, &mnt, &mnt.join(PARTIAL).display().to_string());
    assert!(
        stderr(&out).contains("No space left on device"),
        "{}",
        text(&out)
    );
}

/// A regular file of size 4096 that even root cannot open for reading: a
/// write-only sysfs attribute.
fn unreadable_sysfs_file() -> PathBuf {
    for cand in [
        "/sys/bus/pci/rescan",
        "/sys/bus/cpu/uevent",
        "/sys/bus/platform/uevent",
    ] {
        let p = PathBuf::from(cand);
        if p.is_file() && std::fs::File::open(&p).is_err() {
            return p;
        }
    }
    panic!("no write-only sysfs file found");
}

#[test]
fn a_source_file_root_cannot_read_fails_the_export_naming_it() {
    let w = work("xcatport-faults-res-");
    let mn = mn(w.path());
    let stub = static_stub(w.path());
    let victim = mn.join("install/postscripts/unreadable");
    std::fs::write(&victim, "placeholder\n").unwrap();
    let _m = Mount::bind(&unreadable_sysfs_file(), &victim);
    let stick = w.path().join("stick");
    let out = run(export_cmd(&mn, &stick, &stub, &[]));
    failed_cleanly(&out, &stick, "install/postscripts/unreadable");
    assert!(stderr(&out).contains("ermission denied"), "{}", text(&out));
}

#[test]
fn files_vanishing_during_the_export_fail_naming_one_or_are_all_or_none_recorded() {
    let w = work("xcatport-faults-res-");
    let mn = mn(w.path());
    let stub = static_stub(w.path());
    // The writer goes in path order: files under a late directory are read
    // well after staging starts, by which time they are gone.
    let late = mn.join("install/postscripts/zz-vanish");
    std::fs::create_dir_all(&late).unwrap();
    for i in 0..50 {
        std::fs::write(late.join(format!("f{i:02}")), vec![b'v'; 4096]).unwrap();
    }
    let stick = w.path().join("stick");
    let mut child = export_cmd(&mn, &stick, &stub, &[])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert!(wait_for(&mut child, || stick.join(PARTIAL).exists()));
    std::fs::remove_dir_all(&late).unwrap();
    let out = child.wait_with_output().unwrap();
    if out.status.success() {
        // The write pass walks again: the directory was either written
        // whole before the removal or was already gone (consistent with
        // the source at write time); never a part of it.
        snapshot::verify(&stick).unwrap();
        let (_, files) = records(&stick);
        let n = files
            .iter()
            .filter(|r| r.path.starts_with("install/postscripts/zz-vanish/"))
            .count();
        assert!(n == 0 || n == 50, "{n} of 50 vanishing files recorded");
    } else {
        failed_cleanly(&out, &stick, "install/postscripts/zz-vanish/f");
    }
}

#[test]
fn a_file_growing_while_read_is_recorded_at_one_size_or_fails() {
    let w = work("xcatport-faults-res-");
    let mn = mn(w.path());
    let stub = static_stub(w.path());
    let log = mn.join("install/custom/growing.log");
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    std::fs::write(&log, vec![b'a'; 1 << 20]).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (log, stop) = (log.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                f.write_all(&[b'b'; 4096]).unwrap();
            }
        })
    };
    let stick = w.path().join("stick");
    let out = run(export_cmd(&mn, &stick, &stub, &[]));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    if out.status.success() {
        let v = snapshot::verify(&stick).unwrap();
        let (_, files) = records(&stick);
        let rec = files
            .iter()
            .find(|r| r.path == "install/custom/growing.log")
            .expect("recorded");
        // The tar member holds exactly the recorded size and those bytes.
        let mut tar = tar::Archive::new(snapshot::reader::open_data(&v).unwrap());
        let mut found = false;
        for e in tar.entries().unwrap() {
            let mut e = e.unwrap();
            if e.path().unwrap() == Path::new("install/custom/growing.log") {
                assert_eq!(e.header().size().unwrap(), rec.size);
                let mut body = Vec::new();
                std::io::Read::read_to_end(&mut e, &mut body).unwrap();
                assert_eq!(body.len() as u64, rec.size);
                let full = std::fs::read(&log).unwrap();
                assert_eq!(&full[..body.len()], &body[..], "a prefix of the file");
                use sha2::Digest;
                assert_eq!(
                    rec.sha256.as_deref(),
                    Some(hex::encode(sha2::Sha256::digest(&body)).as_str())
                );
                found = true;
            }
        }
        assert!(found);
    } else {
        failed_cleanly(&out, &stick, "install/custom/growing.log");
    }
}

#[test]
fn a_data_volume_cut_short_mid_restore_fails_naming_it_and_resume_finishes() {
    let w = work("xcatport-faults-res-");
    let mn = mn(w.path());
    // Far more data than the restore reads ahead (a few MiB), so that the
    // last volume is still unread when the stick goes away.
    let mut noise = vec![0u8; 64 << 20];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for chunk in noise.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    std::fs::create_dir_all(mn.join("install/iso")).unwrap();
    std::fs::write(mn.join("install/iso/media.bin"), &noise).unwrap();
    drop(noise);
    let stub = static_stub(w.path());
    let stick = w.path().join("stick");
    let out = run(export_cmd(&mn, &stick, &stub, &["--split", "4M"]));
    assert!(out.status.success(), "{}", text(&out));
    let (head, _) = records(&stick);
    assert!(head.data.volumes.len() >= 16, "{:?}", head.data.volumes);
    let last = stick.join(&head.data.volumes.last().unwrap().name);
    let keep = std::fs::read(&last).unwrap();

    let root = bare(w.path(), "new");
    let before = listing_without_journal(&root);
    let mut child = import_cmd(&stick, &root, &["--skip-packages"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // As soon as the files step runs (preflight has verified every
    // volume), the stick "goes away": the last volume is cut to 10 bytes.
    assert!(wait_for(&mut child, || step_in(&root, "files", "running")));
    std::fs::OpenOptions::new()
        .write(true)
        .open(&last)
        .unwrap()
        .set_len(10)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = stderr(&out);
    assert!(
        err.contains("--resume") && err.contains("--rollback"),
        "{err}"
    );

    // The stick comes back: --resume finishes the restore.
    std::fs::write(&last, &keep).unwrap();
    let out = run(import_cmd(&stick, &root, &["--skip-packages", "--resume"]));
    assert!(out.status.success(), "{}", text(&out));
    let reference = bare(w.path(), "whole");
    let out = run(import_cmd(&stick, &reference, &["--skip-packages"]));
    assert!(out.status.success(), "{}", text(&out));
    // Same files as an uninterrupted restore (contents and modes).
    let strip = |l: Vec<String>| -> Vec<String> {
        l.into_iter()
            .filter(|x| !x.contains(".sqlite"))
            .map(|x| {
                let f: Vec<&str> = x.splitn(6, ' ').collect();
                f[..5].join(" ") + " " + x.rsplit_once(' ').unwrap().1
            })
            .collect()
    };
    assert_eq!(
        strip(listing_without_journal(&root)),
        strip(listing_without_journal(&reference))
    );
    // And rollback after all that returns the root to where it was.
    let out = run(import_cmd(&stick, &root, &["--rollback"]));
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(listing_without_journal(&root), before);
}
