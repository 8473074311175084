//! Extraction: a tree archived the way the snapshot writer stores it comes
//! back identical (owners mapped by name), and hostile archives are refused
//! without a byte written outside the root.

mod restore_support;
mod tmpfs_support;

use restore_support::*;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use tmpfs_support::Mounted;
use xcatport::mn::accounts::Accounts;
use xcatport::progress::Hidden;
use xcatport::restore::extract::{extract, ExtractOptions, ExtractReport};
use xcatport::restore::journal::{Journal, NoJournal};
use xcatport::Error;

fn run(archive: &[u8], root: &Path, opts: ExtractOptions<'_>) -> Result<ExtractReport, Error> {
    let acc = Accounts::load(root).unwrap();
    extract(archive, root, &acc, &mut NoJournal, opts, &Hidden)
}

#[test]
fn tree_comes_back_identical_with_owners_mapped_by_name() {
    let a = tempdir();
    let b = tempdir();
    let acc_a = source_tree(a.path());
    let acc_b = target_root(b.path());
    let archive = archive_of(a.path(), &acc_a, SKIP);
    let report = run(&archive, b.path(), ExtractOptions::default()).unwrap();
    assert_eq!(report.warnings, Vec::<String>::new());
    assert_eq!(report.bytes, 300_000 + 17 + 16 + 8 + 4 + 1 + 4 + 14 + 1);
    let want = tree_listing(a.path(), &acc_a, SKIP);
    let got = tree_listing(b.path(), &acc_b, SKIP);
    assert_eq!(got, want);
    // and the numbers really are the target's, not the source's
    let suid = fs::metadata(b.path().join("install/bin/suid")).unwrap();
    assert_eq!(
        (suid.uid(), suid.gid(), suid.mode() & 0o7777),
        (2001, 2001, 0o4755)
    );
    let sgid = fs::metadata(b.path().join("install/bin/sgid")).unwrap();
    assert_eq!((sgid.gid(), sgid.mode() & 0o7777), (2003, 0o2711));
    let hi = fs::metadata(b.path().join("install/postscripts/hi")).unwrap();
    let hi2 = fs::metadata(b.path().join("install/postscripts/hi2")).unwrap();
    assert_eq!(hi.ino(), hi2.ino());
}

#[test]
fn unknown_owner_names_keep_numeric_ids_with_one_warning_each() {
    let a = tempdir();
    let b = tempdir();
    let acc_a = accounts_root(
        a.path(),
        &[("root", 0), ("ghost", 777)],
        &[("root", 0), ("ghost", 777)],
    );
    write(a.path(), "d/one", b"1", 0o644, (777, 777), 1_700_000_000);
    write(a.path(), "d/two", b"2", 0o644, (777, 0), 1_700_000_000);
    let archive = archive_of(a.path(), &acc_a, SKIP);
    let acc_b = accounts_root(b.path(), &[("root", 0)], &[("root", 0)]);
    let report = run(&archive, b.path(), ExtractOptions::default()).unwrap();
    let passwd = b.path().join("etc/passwd");
    let group = b.path().join("etc/group");
    assert_eq!(
        report.warnings,
        vec![
            format!(
                "user \"ghost\" is not in {}; its files keep the numeric id 777",
                passwd.display()
            ),
            format!(
                "group \"ghost\" is not in {}; its files keep the numeric id 777",
                group.display()
            ),
        ]
    );
    let m = fs::metadata(b.path().join("d/one")).unwrap();
    assert_eq!((m.uid(), m.gid()), (777, 777));
    let _ = acc_b;
}

#[test]
fn gnu_sparse_file_is_written_with_holes() {
    // 8 MiB file: 4 KiB of data at 0 and 4 KiB at 6 MiB, the rest holes.
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::GNUSparse);
    header.set_path("sparse.img").unwrap();
    header.set_mode(0o600);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(1_700_000_000);
    header.set_size(8192);
    {
        let gnu = header.as_gnu_mut().unwrap();
        gnu.set_real_size(8 << 20);
        gnu.sparse[0].set_offset(0);
        gnu.sparse[0].set_length(4096);
        gnu.sparse[1].set_offset(6 << 20);
        gnu.sparse[1].set_length(4096);
        gnu.sparse[2].set_offset(8 << 20);
        gnu.sparse[2].set_length(0);
    }
    header.set_cksum();
    let mut data = vec![b'a'; 4096];
    data.extend(vec![b'b'; 4096]);
    let mut builder = tar::Builder::new(Vec::new());
    builder.append(&header, &data[..]).unwrap();
    let archive = builder.into_inner().unwrap();
    let b = tempdir();
    run(&archive, b.path(), ExtractOptions::default()).unwrap();
    let path = b.path().join("sparse.img");
    let bytes = fs::read(&path).unwrap();
    assert_eq!(bytes.len(), 8 << 20);
    assert!(bytes[..4096].iter().all(|c| *c == b'a'));
    assert!(bytes[4096..6 << 20].iter().all(|c| *c == 0));
    assert!(bytes[6 << 20..(6 << 20) + 4096].iter().all(|c| *c == b'b'));
    assert!(bytes[(6 << 20) + 4096..].iter().all(|c| *c == 0));
    let m = fs::metadata(&path).unwrap();
    // 8 KiB of data: far fewer than the 16384 sectors a dense file takes
    assert!(m.blocks() <= 64, "{} blocks allocated", m.blocks());
}

#[test]
fn fifos_and_devices_need_the_option() {
    let mut builder = tar::Builder::new(Vec::new());
    raw_entry(&mut builder, b"run/fifo", tar::EntryType::Fifo, None, b"");
    let mut dev = tar::Header::new_ustar();
    dev.set_path("dev/null").unwrap();
    dev.set_entry_type(tar::EntryType::Char);
    dev.set_mode(0o666);
    dev.set_device_major(1).unwrap();
    dev.set_device_minor(3).unwrap();
    dev.set_size(0);
    dev.set_uid(0);
    dev.set_gid(0);
    dev.set_mtime(1_600_000_000);
    dev.set_cksum();
    builder.append(&dev, std::io::empty()).unwrap();
    let archive = builder.into_inner().unwrap();

    let refused = tempdir();
    let err = run(&archive, refused.path(), ExtractOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "run/fifo: device nodes and fifos are refused in this archive"
    );
    assert!(!refused.path().join("run/fifo").exists());

    let allowed = tempdir();
    let opts = ExtractOptions {
        allow_special: true,
        ..Default::default()
    };
    run(&archive, allowed.path(), opts).unwrap();
    let fifo = fs::symlink_metadata(allowed.path().join("run/fifo")).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(&fifo.file_type()));
    let null = fs::symlink_metadata(allowed.path().join("dev/null")).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_char_device(
        &null.file_type()
    ));
    assert_eq!(
        (null.rdev(), null.mode() & 0o7777),
        (libc::makedev(1, 3), 0o666)
    );
}

#[test]
fn dump_members_go_to_the_dump_dir() {
    let mut builder = tar::Builder::new(Vec::new());
    raw_entry(
        &mut builder,
        b".xcatport/db/site.csv",
        tar::EntryType::Regular,
        None,
        b"#key,value\n",
    );
    raw_entry(
        &mut builder,
        b"etc/hosts",
        tar::EntryType::Regular,
        None,
        b"127.0.0.1 localhost\n",
    );
    let archive = builder.into_inner().unwrap();
    let b = tempdir();
    let opts = ExtractOptions {
        dump_dir: Some("var/lib/xcatport".into()),
        ..Default::default()
    };
    run(&archive, b.path(), opts).unwrap();
    assert_eq!(
        fs::read(b.path().join("var/lib/xcatport/db/site.csv")).unwrap(),
        b"#key,value\n"
    );
    assert!(!b.path().join(".xcatport").exists());
}

// ---- hostile archives ----

/// A root inside a parent dir with a bystander file next to it: after a
/// hostile extraction the parent must be untouched except for the root.
struct Arena {
    parent: tempfile::TempDir,
}

impl Arena {
    fn new() -> Arena {
        let parent = tempdir();
        fs::create_dir(parent.path().join("root")).unwrap();
        fs::write(parent.path().join("bystander"), b"keep").unwrap();
        fs::create_dir(parent.path().join("outside")).unwrap();
        fs::write(parent.path().join("outside/secret"), b"s3cret").unwrap();
        Arena { parent }
    }
    fn root(&self) -> std::path::PathBuf {
        self.parent.path().join("root")
    }
    fn outside(&self) -> Vec<String> {
        snapshot_of(self.parent.path())
            .into_iter()
            .filter(|l| !l.starts_with("\"root"))
            .collect()
    }
}

fn hostile(entries: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    entries(&mut builder);
    builder.into_inner().unwrap()
}

#[test]
fn parent_dir_names_are_refused() {
    let arena = Arena::new();
    let before = arena.outside();
    let archive =
        hostile(|b| raw_entry(b, b"../bystander", tar::EntryType::Regular, None, b"evil"));
    let err = run(&archive, &arena.root(), ExtractOptions::default()).unwrap_err();
    assert_eq!(err.to_string(), "../bystander: `..` in archive path");
    assert_eq!(arena.outside(), before);
    let archive = hostile(|b| {
        raw_entry(
            b,
            b"a/../../outside/secret",
            tar::EntryType::Regular,
            None,
            b"evil",
        )
    });
    assert!(matches!(
        run(&archive, &arena.root(), ExtractOptions::default()),
        Err(Error::Escape { .. })
    ));
    assert_eq!(arena.outside(), before);
}

#[test]
fn absolute_names_are_refused() {
    let arena = Arena::new();
    let before = arena.outside();
    let target = arena.parent.path().join("bystander");
    let name = target.to_str().unwrap().as_bytes().to_vec();
    let archive = hostile(|b| raw_entry(b, &name, tar::EntryType::Regular, None, b"evil"));
    let err = run(&archive, &arena.root(), ExtractOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{}: absolute path in archive", target.display())
    );
    assert_eq!(arena.outside(), before);
    assert_eq!(fs::read_dir(arena.root()).unwrap().count(), 0);
}

#[test]
fn a_symlink_from_the_archive_is_never_written_through() {
    let arena = Arena::new();
    let before = arena.outside();
    let host_passwd = fs::read("/etc/passwd").unwrap();
    let outside = arena.parent.path().join("outside");
    let outside_bytes = outside.to_str().unwrap().as_bytes().to_vec();
    let archive = hostile(|b| {
        raw_entry(b, b"etc", tar::EntryType::Symlink, Some(b"/etc"), b"");
        raw_entry(
            b,
            b"etc/passwd",
            tar::EntryType::Regular,
            None,
            b"evil::0:0::/:/bin/sh\n",
        );
    });
    let err = run(&archive, &arena.root(), ExtractOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: refusing to write through the symlink {}",
            arena.root().join("etc/passwd").display(),
            arena.root().join("etc").display()
        )
    );
    assert_eq!(fs::read("/etc/passwd").unwrap(), host_passwd);
    // the symlink itself is stored as-is (chroot semantics)
    assert_eq!(
        fs::read_link(arena.root().join("etc")).unwrap(),
        Path::new("/etc")
    );

    let archive = hostile(|b| {
        raw_entry(b, b"x", tar::EntryType::Symlink, Some(&outside_bytes), b"");
        raw_entry(b, b"x/secret", tar::EntryType::Regular, None, b"evil");
        raw_entry(b, b"x/new", tar::EntryType::Regular, None, b"evil");
    });
    assert!(matches!(
        run(&archive, &arena.root(), ExtractOptions::default()),
        Err(Error::Escape { .. })
    ));
    assert_eq!(arena.outside(), before);
}

#[test]
fn a_symlink_already_on_disk_is_never_written_through() {
    let arena = Arena::new();
    let before = arena.outside();
    std::os::unix::fs::symlink(
        arena.parent.path().join("outside"),
        arena.root().join("install"),
    )
    .unwrap();
    let archive =
        hostile(|b| raw_entry(b, b"install/secret", tar::EntryType::Regular, None, b"evil"));
    assert!(matches!(
        run(&archive, &arena.root(), ExtractOptions::default()),
        Err(Error::Escape { .. })
    ));
    assert_eq!(arena.outside(), before);
}

#[test]
fn hardlinks_to_outside_or_unextracted_paths_are_refused() {
    let arena = Arena::new();
    let before = arena.outside();
    let cases: Vec<(&[u8], &str)> = vec![
        (
            b"../outside/secret",
            "evil: hardlink target `..` in archive path",
        ),
        (
            b"/etc/shadow",
            "evil: hardlink target absolute path in archive",
        ),
        (
            b"later",
            "evil: hardlink target later was not extracted before it by this archive",
        ),
        (
            b"etc/passwd",
            "evil: hardlink target etc/passwd was not extracted before it by this archive",
        ),
    ];
    fs::create_dir(arena.root().join("etc")).unwrap();
    fs::write(arena.root().join("etc/passwd"), b"root:x:0:0::/:/bin/sh\n").unwrap();
    for (target, message) in cases {
        let archive = hostile(|b| {
            raw_entry(b, b"evil", tar::EntryType::Link, Some(target), b"");
            raw_entry(b, b"later", tar::EntryType::Regular, None, b"x");
        });
        let err = run(&archive, &arena.root(), ExtractOptions::default()).unwrap_err();
        assert_eq!(err.to_string(), message);
        assert!(!arena.root().join("evil").exists());
    }
    assert_eq!(arena.outside(), before);
    assert_eq!(
        fs::metadata(arena.root().join("etc/passwd"))
            .unwrap()
            .nlink(),
        1
    );
}

#[test]
fn hardlink_through_a_symlink_swapped_in_later_is_refused() {
    let arena = Arena::new();
    fs::create_dir(arena.root().join("d")).unwrap();
    let outside = arena.parent.path().join("outside");
    let archive = hostile(|b| {
        raw_entry(b, b"d/f", tar::EntryType::Regular, None, b"ok");
        raw_entry(
            b,
            b"d",
            tar::EntryType::Symlink,
            Some(outside.to_str().unwrap().as_bytes()),
            b"",
        );
        raw_entry(b, b"g", tar::EntryType::Link, Some(b"d/f"), b"");
    });
    let before = arena.outside();
    // journaled, so the directory `d` is moved aside for the symlink
    let jdir = tempdir();
    let mut journal = Journal::create(jdir.path(), &["files"]).unwrap();
    let acc = Accounts::load(&arena.root()).unwrap();
    let sink = journal.changes().unwrap();
    let err = extract(
        &archive[..],
        &arena.root(),
        &acc,
        sink,
        ExtractOptions::default(),
        &Hidden,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "g: hardlink target leads through {}",
            arena.root().join("d").display()
        )
    );
    assert!(!arena.root().join("g").exists());
    assert_eq!(arena.outside(), before);
    // rollback puts the real directory back and removes only what was added
    journal.rollback_files(&arena.root()).unwrap();
    let d = fs::symlink_metadata(arena.root().join("d")).unwrap();
    assert!(d.is_dir());
    assert_eq!(fs::read_dir(arena.root().join("d")).unwrap().count(), 0);
    assert_eq!(arena.outside(), before);
}

#[test]
fn xattr_values_with_newlines_travel_as_libarchive_records() {
    let mut builder = tar::Builder::new(Vec::new());
    builder
        .append_pax_extensions([
            ("LIBARCHIVE.xattr.user.cap%3Dx", &b"AP8KAA"[..]),
            ("SCHILY.xattr.user.plain", &b"v"[..]),
        ])
        .unwrap();
    raw_entry(&mut builder, b"f", tar::EntryType::Regular, None, b"data");
    let archive = builder.into_inner().unwrap();
    let b = tempdir();
    run(&archive, b.path(), ExtractOptions::default()).unwrap();
    let f = b.path().join("f");
    assert_eq!(
        xattr::get(&f, "user.cap=x").unwrap().unwrap(),
        b"\0\xff\n\0"
    );
    assert_eq!(xattr::get(&f, "user.plain").unwrap().unwrap(), b"v");

    let mut builder = tar::Builder::new(Vec::new());
    builder
        .append_pax_extensions([("SCHILY.xattr.user.nl", &b"a\nb"[..])])
        .unwrap();
    raw_entry(&mut builder, b"g", tar::EntryType::Regular, None, b"data");
    let archive = builder.into_inner().unwrap();
    let err = run(&archive, b.path(), ExtractOptions::default()).unwrap_err();
    assert!(
        err.to_string().starts_with("g: unreadable PAX record"),
        "{err}"
    );
}

#[test]
fn truncated_archive_with_huge_declared_size_is_an_error() {
    let arena = Arena::new();
    let before = arena.outside();
    let mut header = tar::Header::new_ustar();
    header.set_path("big").unwrap();
    header.set_size(1 << 40);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(1_600_000_000);
    header.set_cksum();
    let mut archive = header.as_bytes().to_vec();
    archive.extend(vec![b'z'; 10_000]);
    let err = run(&archive, &arena.root(), ExtractOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: archive truncated: entry big declares 1099511627776 bytes but only 10000 could be read",
            arena.root().join("big").display()
        )
    );
    assert_eq!(arena.outside(), before);
}

/// Files above the writers' hand-over size, of every mode and owner.
fn large_tree(a: &Path) -> Accounts {
    let acc = accounts_root(
        a,
        &[("root", 0), ("xcat", 1500), ("apache", 1501)],
        &[("root", 0), ("xcat", 1500), ("apache", 1501)],
    );
    let owners = [(0, 0), (1500, 1500), (1501, 1500), (0, 1501)];
    let modes = [0o644, 0o600, 0o4755, 0o2750, 0o640];
    for i in 0..40u32 {
        let size = 64 * 1024 + (i as usize * 17_389) % (700 * 1024);
        let body: Vec<u8> = (0..size as u32)
            .map(|j| (j.wrapping_mul(31).wrapping_add(i * 7) % 253) as u8)
            .collect();
        let rel = format!("install/pkgs/p{i:02}.rpm");
        let owner = owners[i as usize % owners.len()];
        write(
            a,
            &rel,
            &body,
            modes[i as usize % modes.len()],
            owner,
            1_700_000_000 + i as i64,
        );
        if i % 3 == 0 {
            xattr::set(a.join(&rel), "user.origin", format!("p{i}").as_bytes()).unwrap();
        }
    }
    fs::hard_link(
        a.join("install/pkgs/p07.rpm"),
        a.join("install/pkgs/again.rpm"),
    )
    .unwrap();
    settle_dir_times(a, 1_650_000_000);
    acc
}

#[test]
fn large_files_come_back_whole_through_the_writer_threads() {
    let a = tempdir();
    let b = tempdir();
    let acc_a = large_tree(a.path());
    let acc_b = target_root(b.path());
    let archive = archive_of(a.path(), &acc_a, SKIP);
    let report = run(&archive, b.path(), ExtractOptions::default()).unwrap();
    assert_eq!(report.warnings, Vec::<String>::new());
    assert_eq!(
        tree_listing(b.path(), &acc_b, SKIP),
        tree_listing(a.path(), &acc_a, SKIP)
    );
    // setuid survives the owner change made through the open file
    let suid = fs::metadata(b.path().join("install/pkgs/p02.rpm")).unwrap();
    assert_eq!((suid.uid(), suid.mode() & 0o7777), (2001, 0o4755));
    let linked = fs::metadata(b.path().join("install/pkgs/again.rpm")).unwrap();
    let first = fs::metadata(b.path().join("install/pkgs/p07.rpm")).unwrap();
    assert_eq!(linked.ino(), first.ino());
}

#[test]
fn a_large_name_given_twice_ends_as_the_second_with_its_own_metadata() {
    let a = tempdir();
    let acc_a = accounts_root(
        a.path(),
        &[("root", 0), ("xcat", 1500)],
        &[("root", 0), ("xcat", 1500)],
    );
    write(
        a.path(),
        "opt/dup",
        &vec![b'a'; 300_000],
        0o600,
        (0, 0),
        1_600_000_000,
    );
    let mut archive = archive_of(a.path(), &acc_a, SKIP);
    archive.truncate(archive.len() - 1024); // the end-of-archive blocks
    fs::remove_file(a.path().join("opt/dup")).unwrap();
    write(
        a.path(),
        "opt/dup",
        &vec![b'b'; 150_000],
        0o644,
        (1500, 1500),
        1_700_000_000,
    );
    archive.extend(archive_of(a.path(), &acc_a, SKIP));
    let b = tempdir();
    let acc_b = target_root(b.path());
    let report = run(&archive, b.path(), ExtractOptions::default()).unwrap();
    assert_eq!(report.warnings, Vec::<String>::new());
    let path = b.path().join("opt/dup");
    assert_eq!(fs::read(&path).unwrap(), vec![b'b'; 150_000]);
    let m = fs::metadata(&path).unwrap();
    assert_eq!(
        (m.mode() & 0o7777, m.uid(), m.mtime(), m.mtime_nsec()),
        (
            0o644,
            acc_b.uid_by_name("xcat").unwrap(),
            1_700_000_000,
            123_456_789
        )
    );
}

#[test]
fn a_full_filesystem_under_a_writer_thread_fails_the_extraction_naming_the_file() {
    let a = tempdir();
    let acc_a = accounts_root(a.path(), &[("root", 0)], &[("root", 0)]);
    // 16 MB onto a 1 MiB filesystem: far more than the writers' queues hold.
    for i in 0..40 {
        write(
            a.path(),
            &format!("big/f{i:02}"),
            &vec![i as u8 + 1; 400_000],
            0o644,
            (0, 0),
            1_700_000_000,
        );
    }
    let archive = archive_of(a.path(), &acc_a, SKIP);
    let fs_b = Mounted::tmpfs("1m");
    let root = fs_b.0.path();
    accounts_root(root, &[("root", 0)], &[("root", 0)]);
    let err = run(&archive, root, ExtractOptions::default())
        .unwrap_err()
        .to_string();
    let named = (0..40).any(|i| {
        err.starts_with(&format!(
            "{}: ",
            root.join(format!("big/f{i:02}")).display()
        ))
    });
    assert!(named && err.contains("No space left on device"), "{err}");
    // it stopped within what the queues held, not at the end of the archive
    let made = fs::read_dir(root.join("big")).unwrap().count();
    assert!(made < 40, "{made} files created after the failure");
}

#[test]
fn an_xattr_the_target_cannot_hold_is_one_warning_naming_the_file_on_every_path() {
    // ramfs has no xattr support: every set fails with EOPNOTSUPP. A
    // directory is set by path, a small file inline, a large one by a
    // writer thread; each reports the same one-line warning.
    let a = tempdir();
    let acc_a = accounts_root(a.path(), &[("root", 0)], &[("root", 0)]);
    let large = vec![7u8; 3 * 64 * 1024];
    for (rel, body) in [("small", &b"tiny"[..]), ("large", &large[..])] {
        write(a.path(), rel, body, 0o640, (0, 0), 1_700_000_000);
        xattr::set(a.path().join(rel), "user.origin", b"mn1").unwrap();
    }
    fs::create_dir(a.path().join("dir")).unwrap();
    xattr::set(a.path().join("dir"), "user.origin", b"mn1").unwrap();
    let archive = archive_of(a.path(), &acc_a, SKIP);
    let ramfs = Mounted::ramfs();
    let b = &ramfs.0;
    accounts_root(b.path(), &[("root", 0)], &[("root", 0)]);
    let report = run(&archive, b.path(), ExtractOptions::default()).unwrap();
    let mut warnings = report.warnings.clone();
    warnings.sort();
    let expected: Vec<String> = ["dir", "large", "small"]
        .iter()
        .map(|rel| {
            format!(
                "{}: xattr user.origin not set: Operation not supported (os error 95)",
                b.path().join(rel).display()
            )
        })
        .collect();
    assert_eq!(warnings, expected);
    // Everything else about the files did arrive.
    for (rel, len) in [("small", 4), ("large", large.len() as u64)] {
        let m = fs::metadata(b.path().join(rel)).unwrap();
        assert_eq!(
            (m.len(), m.mode() & 0o7777, m.mtime()),
            (len, 0o640, 1_700_000_000),
            "{rel}"
        );
    }
}
