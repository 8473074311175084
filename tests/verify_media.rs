//! `xcatexport --verify-media`: the verifying re-read comes off the device,
//! not the page cache. A loop-mounted ext4 image stands in for the stick:
//! its loop device counts the sectors read, and changing the image behind
//! the mounted filesystem is what a fake-capacity or failing stick does to
//! data it was given.

mod export_support;
mod loopfs_support;
mod tmpfs_support;

use export_support::*;
use loopfs_support::LoopFs;
use tmpfs_support::Mounted;
use xcatport::progress::Hidden;
use xcatport::snapshot;
use xcatport::target::{stage, ReRead, Target};

/// A small MN with one MiB of incompressible data, so that the data volume
/// spans many clusters of the stick.
fn mn_with_noise() -> Mn {
    let mn = sample_mn();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let noise: Vec<u8> = (0..1 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    mn.file("install/noise", &noise);
    mn
}

#[test]
fn a_stick_that_changed_what_it_was_given_is_caught_only_when_read_from_the_media() {
    let stick = LoopFs::ext4("256M");
    let mn = mn_with_noise();
    let plan = default_plan(&mn);
    let target = Target::check(stick.path(), &plan.exported_trees(), false).unwrap();
    let staging = target.stage().unwrap();
    let report = write_staged(staging.path(), &plan).unwrap();
    stage::syncfs(staging.path()).unwrap();

    // Find 4 KiB from the middle of the volume in the image and flip a bit
    // there, behind the page cache's back.
    let volume = staging.path().join("xcat-data.tar.zst");
    let bytes = std::fs::read(&volume).unwrap();
    assert!(bytes.len() > 256 << 10, "{} bytes", bytes.len());
    let at = (bytes.len() / 2) & !4095;
    let piece = &bytes[at..at + 4096];
    let offset = stick
        .find_in_image(piece)
        .expect("the volume's bytes are in the image once");
    stick.change_image(offset + 100, &[piece[100] ^ 0x04]);

    // The re-read through the page cache still sees what was written...
    snapshot::verify_written(staging.path(), &report.readback, ReRead::PageCache, &Hidden)
        .expect("the page cache still holds the bytes as written");
    // ...the re-read from the media sees what the stick kept.
    let err = staging
        .finalize(&report.readback, ReRead::Media, &Hidden)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(".xcatport-partial/xcat-data.tar.zst")
            && err.contains("reads back different from what was written"),
        "{err}"
    );
    assert!(!stick.path().join("SHA256SUMS").exists());
    assert!(!stick.path().join(".xcatport-partial").exists());
    assert_eq!(listing(stick.path()), ["lost+found"]);
}

#[test]
fn an_export_with_verify_media_reads_the_snapshot_off_the_device_and_says_so() {
    let stick = LoopFs::ext4("256M");
    let mn = mn_with_noise();
    let before = stick.sectors_read();
    let outcome = export(&mn, stick.path(), &["--verify-media"]).unwrap();
    let read = (stick.sectors_read() - before) * 512;
    let json = serde_json::to_value(&outcome).unwrap();
    assert_eq!(json["reread"], "media");
    assert_eq!(json["filesystem"]["name"], "ext4");
    let verified = snapshot::verify(stick.path()).unwrap();
    let stick_bytes: u64 = verified
        .data_volumes
        .iter()
        .chain(&verified.rpms_volumes)
        .map(|v| std::fs::metadata(v).unwrap().len())
        .sum();
    assert!(
        read >= stick_bytes,
        "{read} bytes read from the device for {stick_bytes} bytes of volumes"
    );
    // Without the flag the re-read stays in memory: almost nothing is read
    // from the device, and the outcome says where the re-read read from.
    let again = LoopFs::ext4("256M");
    let before = again.sectors_read();
    let outcome = export(&mn, again.path(), &[]).unwrap();
    let read = (again.sectors_read() - before) * 512;
    assert_eq!(
        serde_json::to_value(&outcome).unwrap()["reread"],
        "page-cache"
    );
    assert!(
        read < stick_bytes / 2,
        "{read} bytes read from the device by the cached re-read"
    );
    // A dry run re-reads nothing.
    let empty = tempfile::tempdir().unwrap();
    let dry = export(&mn, empty.path(), &["--dry-run", "--verify-media"]).unwrap();
    assert_eq!(
        serde_json::to_value(&dry).unwrap()["reread"],
        serde_json::Value::Null
    );
}

#[test]
fn verify_media_onto_a_filesystem_without_direct_reads_is_refused_before_writing() {
    let ramfs = Mounted::ramfs();
    let dir = &ramfs.0;
    let mn = mn_with_noise();
    let err = export(&mn, dir.path(), &["--verify-media"])
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!(
            "{}: --verify-media: the ramfs filesystem does not allow direct reads (O_DIRECT)",
            dir.path().display()
        )) && err.contains("xcatimport --verify"),
        "{err}"
    );
    assert_eq!(listing(dir.path()), Vec::<String>::new());
}

#[test]
fn a_probe_file_left_by_a_killed_export_neither_blocks_nor_joins_the_next_snapshot() {
    let target = tempfile::tempdir_in("/var/tmp").unwrap();
    let probe = target.path().join(xcatport::target::DIRECT_PROBE);
    std::fs::write(&probe, [0u8; 4096]).unwrap();
    let mn = sample_mn();
    let outcome = export(&mn, target.path(), &["--verify-media"]).unwrap();
    assert_eq!(serde_json::to_value(&outcome).unwrap()["reread"], "media");
    assert!(!probe.exists());
    snapshot::verify(target.path()).unwrap();
    // Left before an export without the flag: removed all the same.
    let target = tempfile::tempdir_in("/var/tmp").unwrap();
    let probe = target.path().join(xcatport::target::DIRECT_PROBE);
    std::fs::write(&probe, [0u8; 4096]).unwrap();
    export(&mn, target.path(), &[]).unwrap();
    assert!(!probe.exists());
    snapshot::verify(target.path()).unwrap();
}
