//! The cfgloc the new MN's admin set up is kept even when `/etc/xcat` is
//! the admin's link to a directory inside the root (`/etc/xcat ->
//! /data/xcat`): kept-file matching follows the link chroot-style, as the
//! write would, instead of looking at the host's `/data/xcat`.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::PathBuf;
use xcatport::mn::accounts::Accounts;
use xcatport::progress::Hidden;
use xcatport::restore::extract::{extract, ExtractOptions};
use xcatport::restore::journal::NoJournal;

fn archive(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in members {
        let mut h = tar::Header::new_ustar();
        h.set_path(name).unwrap();
        h.set_size(data.len() as u64);
        h.set_mode(0o600);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn a_kept_cfgloc_behind_a_linked_etc_xcat_stays_and_its_neighbours_are_restored() {
    let t = tempfile::Builder::new()
        .prefix("xcatport-imp-keeplink-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let root = t.path();
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/bash\n").unwrap();
    fs::write(root.join("etc/group"), "root:x:0:\n").unwrap();
    fs::create_dir_all(root.join("data/xcat")).unwrap();
    let mine = "Pg:dbname=xcatdb;host=10.9.9.9|xcatadm|newpw\n";
    fs::write(root.join("data/xcat/cfgloc"), mine).unwrap();
    // absolute: chroot-style it is <root>/data/xcat, not the host's /data/xcat
    symlink("/data/xcat", root.join("etc/xcat")).unwrap();

    let tar = archive(&[
        (
            "etc/xcat/cfgloc",
            b"Pg:dbname=xcatdb;host=10.0.0.1|xcatadm|oldpw\n",
        ),
        ("etc/xcat/other.conf", b"restored\n"),
    ]);
    let acc = Accounts::load(root).unwrap();
    let opts = ExtractOptions {
        keep_existing: vec![PathBuf::from("etc/xcat/cfgloc")],
        ..ExtractOptions::default()
    };
    let report = extract(&tar[..], root, &acc, &mut NoJournal, opts, &Hidden).unwrap();
    // reported where it really is
    assert_eq!(report.kept, [PathBuf::from("data/xcat/cfgloc")]);
    assert_eq!(
        fs::read_to_string(root.join("data/xcat/cfgloc")).unwrap(),
        mine
    );
    assert_eq!(
        fs::read_to_string(root.join("data/xcat/other.conf")).unwrap(),
        "restored\n"
    );
    assert_eq!(
        fs::read_link(root.join("etc/xcat")).unwrap(),
        PathBuf::from("/data/xcat")
    );
}
