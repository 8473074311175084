//! `xcatexport --verify-media`: the verifying re-read comes off the device,
//! not the page cache. A loop-mounted ext4 image stands in for the stick;
//! changing the image behind the mounted filesystem is what a fake-capacity
//! or failing stick does to data it was given.

mod export_support;
mod loopfs_support;

use export_support::*;
use loopfs_support::LoopFs;
use xcatport::app::export::run_with;
use xcatport::plan::Vars;
use xcatport::progress::Hidden;
use xcatport::snapshot::{self, DirDump};
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
    snapshot::verify_written(staging.path(), &report.readback, &Hidden)
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
fn dropping_the_cache_makes_the_next_read_come_from_the_device() {
    let stick = LoopFs::ext4("32M");
    let dir = stick.path().join("d");
    std::fs::create_dir(&dir).unwrap();
    let mut content = vec![0u8; 64 << 10];
    for (i, b) in content.iter_mut().enumerate() {
        *b = (i * 7 % 251) as u8;
    }
    content[..16].copy_from_slice(b"xcatport-marker!");
    let file = dir.join("f");
    std::fs::write(&file, &content).unwrap();
    stage::syncfs(&dir).unwrap();
    let offset = stick.find_in_image(&content[..4096]).unwrap();
    stick.change_image(offset, b"CHANGED-ON-MEDIA");
    assert_eq!(std::fs::read(&file).unwrap(), content, "still cached");
    stage::drop_cached(&dir).unwrap();
    let read = std::fs::read(&file).unwrap();
    assert_eq!(&read[..16], b"CHANGED-ON-MEDIA");
    assert_eq!(read[16..], content[16..]);
}

#[test]
fn an_export_with_verify_media_verifies_from_the_stick_and_says_so() {
    let stick = LoopFs::ext4("256M");
    let mn = mn_with_noise();
    let bin_dir = tempfile::tempdir().unwrap();
    let bin = import_binary(bin_dir.path());
    let dump = db_dump();
    let outcome = run_with(
        &args(stick.path(), mn.root(), &bin, &["--verify-media"]),
        &mut DirDump(dump.path().to_path_buf()),
        facts(),
        &Vars::default(),
    )
    .unwrap();
    assert_eq!(outcome.reread, ReRead::Media);
    let json = serde_json::to_value(&outcome).unwrap();
    assert_eq!(json["reread"], "media");
    assert_eq!(json["filesystem"]["name"], "ext4");
    snapshot::verify(stick.path()).unwrap();
    // Without the flag the re-read stays in memory, and says so.
    let plain = tempfile::tempdir().unwrap();
    let outcome = run_with(
        &args(plain.path(), mn.root(), &bin, &[]),
        &mut DirDump(dump.path().to_path_buf()),
        facts(),
        &Vars::default(),
    )
    .unwrap();
    assert_eq!(
        serde_json::to_value(&outcome).unwrap()["reread"],
        "page-cache"
    );
}
