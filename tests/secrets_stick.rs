//! Secrets on the stick and after a restore: the plan's secret files and the
//! DB dump are never group- or world-readable inside the data tar, the
//! stick files holding them are not either, and a restore gives the secrets
//! their owners (by name) and 0600-class modes back.

mod faults_support;

use faults_support::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use xcatport::plan::Section;
use xcatport::snapshot;

/// Private keys and credentials (certificates and `.pub` keys are public).
fn private_key(path: &str) -> bool {
    path.ends_with("_key") || path.ends_with("key.pem") || path.ends_with("cred.pem")
}

#[test]
fn secrets_stay_private_on_the_stick_and_after_restore() {
    let w = work("xcatport-secrets-");
    let mn = mn(w.path());
    let stub = static_stub(w.path());
    let stick = w.path().join("stick");
    let out = run(export_cmd(&mn, &stick, &stub, &[]));
    assert!(out.status.success(), "{}", text(&out));

    let (_, files) = records(&stick);
    let secrets: Vec<_> = files
        .iter()
        .filter(|r| r.section == Section::Secrets && r.kind == snapshot::manifest::Kind::File)
        .collect();
    assert!(secrets.len() >= 5, "{} secret files", secrets.len());
    for must in [
        "etc/xcat/ca/private/ca-key.pem",
        "etc/xcat/cert/server-key.pem",
        "etc/ssh/ssh_host_rsa_key",
    ] {
        assert!(
            secrets.iter().any(|r| r.path == must),
            "{must} not marked secret"
        );
    }

    // Inside the data tar: secret members and the DB dump are 0600-class.
    let v = snapshot::verify(&stick).unwrap();
    let mut tar = tar::Archive::new(snapshot::reader::open_data(&v).unwrap());
    let mut dump_members = 0;
    for e in tar.entries().unwrap() {
        let e = e.unwrap();
        let path = e.path().unwrap().to_string_lossy().into_owned();
        let mode = e.header().mode().unwrap() & 0o7777;
        let is_dump = path.starts_with(".xcatport/db/") && path.ends_with(".csv");
        dump_members += is_dump as u32;
        if let Some(r) = secrets.iter().find(|r| r.path == path) {
            // never widened: the member has the source's mode
            assert_eq!(format!("{mode:04o}"), r.mode, "{path}");
            if private_key(&path) {
                assert_eq!(mode & 0o077, 0, "{path}: mode {mode:04o} in the data tar");
            }
        }
        if is_dump {
            assert_eq!(mode & 0o077, 0, "{path}: mode {mode:04o} in the data tar");
        }
    }
    assert!(dump_members >= 10, "{dump_members} dump members");

    // The stick files that carry secrets (data stream) are owner-only.
    for vol in &v.data_volumes {
        let mode = std::fs::metadata(vol).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            mode & 0o077,
            0,
            "{}: mode {mode:04o} on the stick",
            vol.display()
        );
    }

    // Restored: same owner names and modes as on the source.
    let root = bare(w.path(), "new");
    let out = run(import_cmd(&stick, &root, &["--skip-packages"]));
    assert!(out.status.success(), "{}", text(&out));
    let src = xcatport::mn::accounts::Accounts::load(&mn).unwrap();
    let dst = xcatport::mn::accounts::Accounts::load(&root).unwrap();
    for r in &secrets {
        let a = std::fs::symlink_metadata(mn.join(r.rel_path())).unwrap();
        let b = std::fs::symlink_metadata(root.join(r.rel_path())).unwrap();
        assert_eq!(a.mode() & 0o7777, b.mode() & 0o7777, "{}", r.path);
        if private_key(&r.path) {
            assert_eq!(
                b.mode() & 0o077,
                0,
                "{}: restored group/world-readable",
                r.path
            );
        }
        assert_eq!(src.user_name(a.uid()), dst.user_name(b.uid()), "{}", r.path);
        assert_eq!(
            src.group_name(a.gid()),
            dst.group_name(b.gid()),
            "{}",
            r.path
        );
    }
    let dump = root.join("var/lib/xcatport/db");
    assert_eq!(std::fs::metadata(&dump).unwrap().mode() & 0o777, 0o700);
}
