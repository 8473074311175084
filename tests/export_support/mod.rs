//! A small synthetic management node for the export tests, and helpers.
#![allow(dead_code)]

use clap::Parser;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use xcatport::cli::ExportArgs;

#[path = "../tree_support/mod.rs"]
mod tree;
/// A synthetic MN tree under /var/tmp (xattrs need a real filesystem).
pub use tree::Tree as Mn;

impl Mn {
    pub fn empty() -> Mn {
        Mn::new("xcatport-mn-")
    }
}

/// The standard synthetic Rocky 9 MN used by most tests.
pub fn sample_mn() -> Mn {
    let mn = Mn::empty();
    mn.file(
        "etc/os-release",
        "NAME=\"Rocky Linux\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.4\"\n",
    )
    .file("etc/hostname", "mn01\n")
    .file(
        "etc/passwd",
        "root:x:0:0:root:/root:/bin/bash\nxcatadm:x:1001:1002::/home/xcatadm:/bin/bash\n",
    )
    .file("etc/group", "root:x:0:\nxcatgrp:x:1002:\n")
    .file("etc/hosts", "127.0.0.1 localhost\n10.0.0.1 mn01\n")
    .file("etc/xCATMN", "")
    .file("etc/xcat/site.sqlite", "SQLite format 3\0 live")
    .file(
        "etc/xcat/cfgloc",
        "Pg:dbname=xcatdb;host=10.0.0.1|xcatadm|secret\n",
    )
    .mode("etc/xcat/cfgloc", 0o600)
    .file(
        "etc/xcat/ca/private/ca-key.pem",
        "-----BEGIN PRIVATE KEY-----\n",
    )
    .mode("etc/xcat/ca/private/ca-key.pem", 0o600)
    .owner("etc/xcat/ca/private/ca-key.pem", 1001, 1002)
    .file("etc/xcat/cert/server-cert.pem", "cert\n")
    .file("etc/dhcp/dhcpd.conf", "# dhcpd\n")
    .file("etc/bind/named.conf", "# ubuntu only\n")
    .file("var/lib/dhcpd/dhcpd.leases", "lease 10.0.0.5 {}\n")
    .file("root/.ssh/id_rsa", "PRIVATE\n")
    .mode("root/.ssh/id_rsa", 0o600)
    .file("install/postscripts/syslog", "#!/bin/sh\necho hi\n")
    .mode("install/postscripts/syslog", 0o755)
    .file("install/postscripts/_ssh/authorized_keys", "ssh-rsa AAA\n")
    .file("install/custom/netboot/rh/compute.pkglist", "bash\n")
    .hardlink(
        "install/custom/netboot/rh/compute.pkglist.link",
        "install/custom/netboot/rh/compute.pkglist",
    )
    .symlink("install/custom/latest", "netboot/rh/compute.pkglist")
    .dir("install/custom/empty")
    .file("install/autoinst/node01", "kickstart\n")
    .file(
        "install/netboot/rhels9/x86_64/compute/kernel",
        vec![1u8; 3000],
    )
    .file(
        "install/netboot/rhels9/x86_64/compute/initrd-stateless.gz",
        vec![2u8; 2000],
    )
    .file(
        "install/netboot/rhels9/x86_64/compute/rootimg/etc/fstab",
        "x\n",
    )
    .file(
        "install/netboot/rhels9/x86_64/compute/rootimg/bin/sh",
        vec![3u8; 1000],
    )
    .file(
        "install/netboot/rhels9/x86_64/compute/rootimg.cpio.gz",
        vec![4u8; 500],
    )
    .file(
        "install/netboot/rhels9/x86_64/compute/statelite.table",
        "keep me\n",
    )
    .file("install/rocky9.4/x86_64/.treeinfo", "[general]\n")
    .file("install/rocky9.4/x86_64/Packages/a.rpm", vec![5u8; 4000])
    .file("tftpboot/pxelinux.cfg/01-aa-bb", "default\n")
    .file("tftpboot/xcat/xnba/nodes/node01", "#!gpxe\n")
    .file("tftpboot/xcat/xnba.kpxe", vec![6u8; 100])
    .sparse("install/images/disk.img", 64 << 20);
    // A name that is not UTF-8.
    use std::os::unix::ffi::OsStrExt;
    let odd = mn
        .root()
        .join(std::ffi::OsStr::from_bytes(b"install/custom/caf\xe9.txt"));
    std::fs::write(odd, "latin-1 name\n").unwrap();
    xattr::set(
        mn.path("install/postscripts/syslog"),
        "user.xcatport",
        b"labelled",
    )
    .unwrap();
    mn
}

/// A DB dump directory with two tables.
pub fn db_dump() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("site.csv"),
        "#key,value,comments,disable\n\"master\",\"10.0.0.1\",,\n",
    )
    .unwrap();
    std::fs::write(d.path().join("nodelist.csv"), "#node,groups,status,statustime,appstatus,appstatustime,primarysn,hidden,updatestatus,updatestatustime,zonename,comments,disable\n\"node01\",\"compute,all\",,,,,,,,,,,\n").unwrap();
    d
}

/// A tiny static ELF standing in for the static xcatimport.
pub fn import_binary(dir: &Path) -> PathBuf {
    let p = dir.join("xcatimport-static");
    std::fs::write(&p, xcatport::target::binary::tiny_static_elf()).unwrap();
    p
}

pub fn args(target: &Path, root: &Path, binary: &Path, extra: &[&str]) -> ExportArgs {
    let mut v: Vec<String> = vec![
        "xcatexport".into(),
        target.display().to_string(),
        "--root".into(),
        root.display().to_string(),
        "--import-binary".into(),
        binary.display().to_string(),
    ];
    v.extend(extra.iter().map(|s| s.to_string()));
    ExportArgs::parse_from(v)
}

pub fn facts() -> xcatport::snapshot::SourceFacts {
    xcatport::snapshot::SourceFacts {
        distro_id: "rocky".into(),
        distro_version: "9.4".into(),
        arch: "x86_64".into(),
        xcat_version: Some("2.17.0".into()),
        hostname: "mn01".into(),
        family: "rhel".into(),
        release_key: "rhel:9".into(),
        package_manager: "dnf".into(),
        database: "sqlite".into(),
        installdir: "/install".into(),
        tftpdir: "/tftpboot".into(),
    }
}

pub fn sha256(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

pub fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Runs a shell pipeline in `dir`, returning (status ok, stdout, stderr).
pub fn sh(dir: &Path, script: &str) -> (bool, String, String) {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The default profile's plan of `mn`.
pub fn default_plan(mn: &Mn) -> xcatport::plan::Plan {
    let rules = xcatport::plan::Rules::compile(
        &xcatport::plan::Profile::load("default").unwrap(),
        &xcatport::plan::Vars::default(),
        "rhel",
        &[],
        &[],
    )
    .unwrap();
    xcatport::plan::Plan::build(mn.root(), rules, &xcatport::progress::Hidden).unwrap()
}

/// Writes the plan's snapshot (no database, zstd, one volume) into `staging`.
pub fn write_staged(
    staging: &Path,
    plan: &xcatport::plan::Plan,
) -> xcatport::Result<xcatport::snapshot::WriteReport> {
    let bin_dir = tempfile::tempdir().unwrap();
    let opts = xcatport::snapshot::WriteOptions {
        codec: xcatport::snapshot::Codec::new(xcatport::cli::Compression::Zstd, None).unwrap(),
        split: xcatport::snapshot::volume::Split::None,
        source: facts(),
        repos: Vec::new(),
        installed: Vec::new(),
    };
    xcatport::snapshot::write_snapshot(
        staging,
        plan,
        &mut xcatport::snapshot::NoDatabase,
        &import_binary(bin_dir.path()),
        &opts,
        &xcatport::progress::Hidden,
    )
}

/// The export of `mn` into `target` with `extra` arguments, through the
/// library as the binary runs it, with the sample DB dump.
pub fn export(
    mn: &Mn,
    target: &Path,
    extra: &[&str],
) -> xcatport::Result<xcatport::app::export::Outcome> {
    let bin_dir = tempfile::tempdir().unwrap();
    let bin = import_binary(bin_dir.path());
    let dump = db_dump();
    xcatport::app::export::run_with(
        &args(target, mn.root(), &bin, extra),
        &mut xcatport::snapshot::DirDump(dump.path().to_path_buf()),
        facts(),
        &xcatport::plan::Vars::default(),
    )
}
