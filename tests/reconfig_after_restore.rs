//! After xcatimport onto a machine with its own hostname, xcatreconfig
//! takes the restored configuration's hostname from the restore record,
//! not from the new machine's /etc/hostname.

use std::process::Command;
use xcatport::cli::Scale;
use xcatport::fixture::{self, Family, Spec};

#[test]
fn reconfig_knows_the_snapshot_hostname_after_a_restore() {
    let work = tempfile::Builder::new()
        .prefix("xcatport-reconfig-restore.")
        .tempdir_in("/var/tmp")
        .unwrap();
    let (src, stick, dst) = (
        work.path().join("mn"),
        work.path().join("stick"),
        work.path().join("new"),
    );
    let spec = Spec::new(Scale::Small, Family::Rhel, 3);
    fixture::build(&src, &spec).unwrap();
    fixture::build_bare(&dst, &spec).unwrap();
    std::fs::write(dst.join("etc/hostname"), "newbox.site.example\n").unwrap();
    let stub = work.path().join("xcatimport-stub");
    std::fs::write(&stub, xcatport::target::binary::tiny_static_elf()).unwrap();
    std::fs::set_permissions(&stub, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let run = |bin: &str, args: &[&std::ffi::OsStr]| {
        let out = Command::new(bin).args(args).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{bin}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    run(
        env!("CARGO_BIN_EXE_xcatexport"),
        &[
            "--root".as_ref(),
            src.as_os_str(),
            "--import-binary".as_ref(),
            stub.as_os_str(),
            stick.as_os_str(),
        ],
    );
    run(
        env!("CARGO_BIN_EXE_xcatimport"),
        &[
            stick.as_os_str(),
            "--root".as_ref(),
            dst.as_os_str(),
            "--skip-packages".as_ref(),
            "--yes".as_ref(),
        ],
    );
    let record = std::fs::read_to_string(dst.join("var/lib/xcatport/source.json")).unwrap();
    assert!(
        record.contains("\"hostname\": \"mn01.cluster.example.com\""),
        "{record}"
    );

    let diff = run(
        env!("CARGO_BIN_EXE_xcatreconfig"),
        &[
            "--root".as_ref(),
            dst.as_os_str(),
            "--dry-run".as_ref(),
            "--hostname".as_ref(),
            "mn02".as_ref(),
        ],
    );
    assert!(
        diff.contains("mn01"),
        "the old name comes from the restore: {diff}"
    );
    assert!(diff.contains("mn02"), "{diff}");
    assert!(
        !diff.contains("-newbox"),
        "the machine's own name is not the restored one: {diff}"
    );
}
