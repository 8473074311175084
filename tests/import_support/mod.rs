//! A tiny source MN and fresh target roots for the xcatimport tests, the
//! real xcatexport/xcatimport binaries, and full tree listings to compare.
#![allow(dead_code)]

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[path = "../command_support/mod.rs"]
mod command;
pub mod deb;
pub mod rpm;
pub mod tools;
#[path = "../tree_support/mod.rs"]
mod tree;
#[allow(unused_imports)] // each test binary uses a part
pub use command::{stderr, text};
#[allow(unused_imports)] // each test binary uses a part
pub use tree::{scratch, Tree};

pub const EXPORT: &str = env!("CARGO_BIN_EXE_xcatexport");
pub const IMPORT: &str = env!("CARGO_BIN_EXE_xcatimport");

/// ELF e_machine of the machine running the tests, and of another one.
pub fn host_machine() -> u16 {
    match std::env::consts::ARCH {
        "x86_64" => 62,
        "aarch64" => 183,
        "powerpc64" => 21,
        "s390x" => 22,
        "riscv64" => 243,
        other => panic!("no ELF machine for {other}"),
    }
}

pub fn other_machine() -> u16 {
    if host_machine() == 183 {
        62
    } else {
        183
    }
}

/// A 64-bit little-endian ELF header for `machine` (what Arch::detect reads).
pub fn elf(machine: u16) -> Vec<u8> {
    let mut h = b"\x7fELF\x02\x01\x01\x00".to_vec();
    h.extend([0; 8]);
    h.extend([2, 0]);
    h.extend(machine.to_le_bytes());
    h.extend([0; 64]);
    h
}

pub const UBUNTU: &str = "NAME=\"Ubuntu\"\nID=ubuntu\nID_LIKE=debian\nVERSION_ID=\"22.04\"\n";
pub const ROCKY: &str =
    "NAME=\"Rocky Linux\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.4\"\n";

/// Deterministic incompressible bytes.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// The source MN: Ubuntu 22.04, xCAT files with owners, modes, xattrs,
/// links, a secret, and 300 KiB of incompressible data (so --split 64K
/// gives several volumes).
pub fn source_mn() -> Tree {
    let t = Tree::new("xcatport-imp-src-");
    t.file("etc/os-release", UBUNTU)
        .file("usr/bin/bash", elf(host_machine()))
        .symlink("usr/bin/sh", "bash")
        .file("etc/hostname", "mn01\n")
        .file(
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/bash\nxcatadm:x:1001:1002::/home/xcatadm:/bin/bash\n",
        )
        .file("etc/group", "root:x:0:\nxcatgrp:x:1002:\n")
        .file("etc/hosts", "127.0.0.1 localhost\n10.0.0.1 mn01\n")
        .file("etc/xCATMN", "")
        .file(
            "etc/xcat/ca/private/ca-key.pem",
            "-----BEGIN PRIVATE KEY-----\n",
        )
        .mode("etc/xcat/ca/private/ca-key.pem", 0o600)
        .owner("etc/xcat/ca/private/ca-key.pem", 1001, 1002)
        .file("etc/xcat/cert/server-cert.pem", "cert\n")
        .xattr("etc/xcat/cert/server-cert.pem", "user.origin", b"mn01")
        .xattr(
            "etc/xcat/cert/server-cert.pem",
            "user.note=with%odd name",
            b"line one\nline two\n",
        )
        .file("root/.ssh/id_rsa", "PRIVATE\n")
        .mode("root/.ssh/id_rsa", 0o600)
        .mode("root/.ssh", 0o700)
        .file("install/postscripts/syslog", "#!/bin/sh\necho hi\n")
        .mode("install/postscripts/syslog", 0o755)
        .owner("install/postscripts/syslog", 1001, 0)
        .file("install/postscripts/_ssh/authorized_keys", "ssh-rsa AAA\n")
        .file("install/custom/netboot/compute.pkglist", "bash\n")
        .hardlink(
            "install/custom/netboot/compute.pkglist.link",
            "install/custom/netboot/compute.pkglist",
        )
        .symlink("install/custom/latest", "netboot/compute.pkglist")
        .dir("install/custom/empty")
        .mode("install/custom/empty", 0o1777)
        .file("install/custom/big.bin", noise(300 << 10, 7))
        .file("tftpboot/pxelinux.cfg/01-aa-bb", "default\n")
        .mtime("install/postscripts/syslog", 1_600_000_000)
        .mtime("install/custom/empty", 1_500_000_000);
    t
}

/// A freshly installed new MN: same distro and arch, other uids.
pub fn fresh_root(os_release: &str, machine: u16) -> Tree {
    let t = Tree::new("xcatport-imp-new-");
    t.file("etc/os-release", os_release)
        .file("usr/bin/bash", elf(machine))
        .symlink("usr/bin/sh", "bash")
        .file("etc/hostname", "mn01\n")
        .file(
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/bash\nxcatadm:x:2001:2002::/home/xcatadm:/bin/bash\n",
        )
        .file("etc/group", "root:x:0:\nxcatgrp:x:2002:\n")
        .file("etc/hosts", "127.0.0.1 localhost\n")
        .dir("var/lib")
        .dir("root")
        .mode("root", 0o700);
    t
}

/// A file that passes the static-binary check of xcatexport.
pub fn static_stub(dir: &Path) -> PathBuf {
    let p = dir.join("xcatimport-stub");
    std::fs::write(&p, xcatport::target::binary::tiny_static_elf()).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// The snapshot of `source_mn()` in `<work>/stick`, with extra export args.
pub fn export(src: &Tree, work: &Path, extra: &[&str]) -> PathBuf {
    let stick = work.join("stick");
    let stub = static_stub(work);
    let out = Command::new(EXPORT)
        .arg("--root")
        .arg(src.root())
        .arg("--import-binary")
        .arg(&stub)
        .args(extra)
        .arg(&stick)
        .output()
        .unwrap();
    assert!(out.status.success(), "xcatexport: {}", text(&out));
    stick
}

/// The snapshot of `src` in `<work>/stick`, made in-process with
/// `SAMPLE_DUMP` as its database dump and the probed source facts changed
/// by `adjust` (e.g. another database kind).
pub fn export_with_facts(
    src: &Tree,
    work: &Path,
    adjust: impl FnOnce(&mut xcatport::snapshot::SourceFacts),
) -> PathBuf {
    use clap::Parser;
    let stick = work.join("stick");
    let stub = static_stub(work);
    let args = xcatport::cli::ExportArgs::parse_from([
        "xcatexport".as_ref(),
        "--root".as_ref(),
        src.root().as_os_str(),
        "--import-binary".as_ref(),
        stub.as_os_str(),
        stick.as_os_str(),
    ]);
    let root = xcatport::mn::Root::open(src.root()).unwrap();
    let mut facts =
        xcatport::snapshot::SourceFacts::from(&xcatport::mn::MnFacts::probe(&root).unwrap());
    adjust(&mut facts);
    let mut db = xcatport::snapshot::DirDump(PathBuf::from(SAMPLE_DUMP));
    xcatport::app::export::run_with(&args, &mut db, facts, &Default::default()).unwrap();
    stick
}

/// `export` of a source with packages installed from its repos, asserting
/// the snapshot collected them.
pub fn export_with_packages(src: &Tree, work: &Path) -> PathBuf {
    let stick = export(src, work, &[]);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(stick.join("MANIFEST.json")).unwrap()).unwrap();
    assert_eq!(manifest["packages"]["collected"], true);
    stick
}

pub fn import(stick: &Path, root: &Path, extra: &[&str]) -> Output {
    import_env(stick, root, extra, &[])
}

/// `import`, asserting that xcatimport succeeded.
pub fn import_ok(stick: &Path, root: &Path, extra: &[&str]) -> Output {
    let out = import(stick, root, extra);
    assert!(out.status.success(), "{}", text(&out));
    out
}

pub fn import_env(stick: &Path, root: &Path, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(IMPORT);
    cmd.arg(stick).arg("--root").arg(root).args(extra);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// Everything the restore must reproduce about one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub kind: &'static str,
    pub mode: u32,
    pub owner: String,
    pub group: String,
    pub size: u64,
    pub sha256: Option<String>,
    pub mtime: i64,
    pub link: Option<PathBuf>,
    /// Other paths sharing this inode (hardlinks), relative.
    pub nlink: u64,
    pub xattrs: Vec<(String, Vec<u8>)>,
}

/// Path → listing for every entry under `root` (owners by name, read from
/// that root's own passwd/group).
pub fn listing(root: &Path) -> BTreeMap<PathBuf, Listed> {
    let accounts = xcatport::mn::accounts::Accounts::load(root).unwrap();
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(root).min_depth(1).sort_by_file_name() {
        let e = e.unwrap();
        let m = e.path().symlink_metadata().unwrap();
        let ft = m.file_type();
        let kind = if ft.is_dir() {
            "dir"
        } else if ft.is_symlink() {
            "symlink"
        } else if ft.is_file() {
            "file"
        } else {
            "other"
        };
        let sha256 = ft
            .is_file()
            .then(|| hex::encode(Sha256::digest(std::fs::read(e.path()).unwrap())));
        let mut xattrs: Vec<(String, Vec<u8>)> = xattr::list(e.path())
            .map(|names| {
                names
                    .filter(|n| n.to_string_lossy().starts_with("user."))
                    .map(|n| {
                        let v = xattr::get(e.path(), &n).unwrap().unwrap_or_default();
                        (n.to_string_lossy().into_owned(), v)
                    })
                    .collect()
            })
            .unwrap_or_default();
        xattrs.sort();
        let rel = e.path().strip_prefix(root).unwrap().to_path_buf();
        out.insert(
            rel,
            Listed {
                kind,
                mode: m.mode() & 0o7777,
                owner: accounts
                    .user_name(m.uid())
                    .map_or(format!("#{}", m.uid()), str::to_string),
                group: accounts
                    .group_name(m.gid())
                    .map_or(format!("#{}", m.gid()), str::to_string),
                size: if ft.is_dir() { 0 } else { m.len() },
                sha256,
                mtime: m.mtime(),
                link: ft
                    .is_symlink()
                    .then(|| std::fs::read_link(e.path()).unwrap()),
                nlink: if ft.is_dir() { 0 } else { m.nlink() },
                xattrs,
            },
        );
    }
    out
}

/// The member paths recorded in the stick's MANIFEST.json.
pub fn members(stick: &Path) -> Vec<PathBuf> {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(stick.join("MANIFEST.json")).unwrap()).unwrap();
    v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| PathBuf::from(f["path"].as_str().unwrap()))
        .collect()
}

/// A listing without the journal (`var/lib/xcatport`) and without the
/// mtime of `var/lib`, which creating the journal bumps.
pub fn without_journal(mut l: BTreeMap<PathBuf, Listed>) -> BTreeMap<PathBuf, Listed> {
    l.retain(|p, _| !p.starts_with("var/lib/xcatport"));
    if let Some(v) = l.get_mut(Path::new("var/lib")) {
        v.mtime = 0;
    }
    l
}

/// Listings of two restored roots made at different times: entries that
/// are not snapshot members keep their own (creation) mtimes.
pub fn comparable(l: BTreeMap<PathBuf, Listed>, members: &[PathBuf]) -> BTreeMap<PathBuf, Listed> {
    let mut l = without_journal(l);
    // SQLite files carry change counters; the databases are compared by dump.
    l.retain(|p, _| p.extension().map_or(true, |x| x != "sqlite"));
    for (p, v) in l.iter_mut() {
        if !members.contains(p) {
            v.mtime = 0;
        }
    }
    l
}

/// Real xCAT's tabdump of its default database (71 tables).
pub const SAMPLE_DUMP: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/xcat-samples/dump/default/out"
);

/// Gives `src` a SQLite database holding `SAMPLE_DUMP`'s tables.
pub fn with_sample_database(src: &Tree) {
    let opts = xcatport::db::RestoreOptions {
        all: true,
        exact: false,
    };
    xcatport::db::restore_from_dir(src.root(), Path::new(SAMPLE_DUMP), &opts).unwrap();
}

/// Asserts that the database under `root` dumps every table of
/// `SAMPLE_DUMP` back to the same bytes.
pub fn assert_database_is_sample_dump(root: &Path) {
    let dumped = db_dump(root);
    let mut compared = 0;
    for e in std::fs::read_dir(SAMPLE_DUMP).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "csv") {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            assert_eq!(
                dumped.get(&name),
                Some(&std::fs::read_to_string(&p).unwrap()),
                "{name}"
            );
            compared += 1;
        }
    }
    assert!(compared > 60, "{compared}");
}

/// Asserts that every snapshot member of `stick` is in `new` as it is in
/// `src` (SQLite files and members `skip` names excepted) and that both
/// databases dump to the same tables.
pub fn assert_members_restored(stick: &Path, src: &Tree, new: &Tree, skip: impl Fn(&Path) -> bool) {
    let before = listing(src.root());
    let after = listing(new.root());
    let members = members(stick);
    assert!(members.len() >= 15);
    for m in &members {
        if m.extension().is_some_and(|x| x == "sqlite") || skip(m) {
            continue; // the databases are compared by dump below
        }
        assert_eq!(after.get(m), before.get(m), "member {}", m.display());
    }
    assert_eq!(db_dump(new.root()), db_dump(src.root()));
}

/// Rolls back the restore of `stick` into `new`, asserts it succeeded and
/// said the installed packages stay; returns its stdout.
pub fn rollback_keeping_packages(stick: &Path, new: &Tree) -> String {
    let out = import_ok(stick, new.root(), &["--rollback"]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        stdout.contains("packages   rolled back: packages left installed"),
        "{stdout}"
    );
    stdout
}

/// The database under `root` as tabdump CSV text, table by table.
pub fn db_dump(root: &Path) -> BTreeMap<String, String> {
    let dir = tempfile::tempdir().unwrap();
    let opts = xcatport::db::DumpOptions {
        all: true,
        skip_tables: None,
    };
    xcatport::db::dump_to_dir(root, dir.path(), &opts).unwrap();
    std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}
