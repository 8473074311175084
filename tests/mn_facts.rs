//! MnFacts::probe on synthetic MNs and on this machine; MANIFEST-ready JSON
//! without secrets.

use std::path::Path;

use xcatport::mn::{Arch, DbKind, Family, MnFacts, PackageManager, Root};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/mn/testdata/os-release");

fn write(base: &Path, rel: &str, data: impl AsRef<[u8]>) {
    let p = base.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}

/// A 64-bit little-endian ELF header for `machine`.
fn elf(machine: u16) -> Vec<u8> {
    let mut h = b"\x7fELF\x02\x01\x01\x00".to_vec();
    h.extend([0; 8]);
    h.extend([2, 0]);
    h.extend(machine.to_le_bytes());
    h.extend([0; 64]);
    h
}

fn synthetic_mn(os_release: &str, machine: u16) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let b = t.path();
    write(
        b,
        "etc/os-release",
        std::fs::read(Path::new(FIXTURES).join(os_release)).unwrap(),
    );
    write(b, "usr/bin/bash", elf(machine));
    std::os::unix::fs::symlink("bash", b.join("usr/bin/sh")).unwrap();
    write(b, "etc/hostname", "mn01.cluster.example\n");
    t
}

const DPKG_STATUS: &str = "Package: xcat\nStatus: install ok installed\nArchitecture: arm64\n\
Version: 2.16.5-snap202304201112\n\nPackage: perl-xcat\nStatus: install ok installed\n\
Architecture: all\nVersion: 2.16.5-snap202304201112\n";

#[test]
fn ubuntu_aarch64_mn_with_mysql_cfgloc() {
    let t = synthetic_mn("ubuntu-22.04", 183);
    write(t.path(), "var/lib/dpkg/status", DPKG_STATUS);
    write(
        t.path(),
        "etc/xcat/cfgloc",
        "mysql:dbname=xcatdb;host=10.0.0.1|xcatadmin|Sup3rS3cret\n",
    );
    let f = MnFacts::probe(&Root::open(t.path()).unwrap()).unwrap();
    assert_eq!(f.distro.family, Family::Ubuntu);
    assert_eq!(f.arch, Arch::Aarch64);
    assert_eq!(f.package_manager, PackageManager::Apt);
    assert_eq!(f.hostname.as_deref(), Some("mn01.cluster.example"));
    assert_eq!(f.xcat.as_ref().unwrap().version.release(), "2.16.5");
    let DbKind::Cfgloc(c) = &f.db else {
        panic!("{:?}", f.db)
    };
    assert_eq!(c.password(), "Sup3rS3cret");
    assert_eq!(f.installdir, "/install");
    assert_eq!(f.tftpdir, "/tftpboot");

    let json = serde_json::to_value(&f).unwrap();
    assert!(!json.to_string().contains("Sup3rS3cret"), "{json}");
    assert!(!format!("{f:?}").contains("Sup3rS3cret"));
    assert_eq!(
        json["db"],
        serde_json::json!({"engine": "mysql", "dsn": "dbname=xcatdb;host=10.0.0.1", "user": "xcatadmin"})
    );
    assert_eq!(json["arch"], "aarch64");
    assert_eq!(json["distro"]["family"], "ubuntu");
    assert_eq!(json["distro"]["id"], "ubuntu");
    assert_eq!(json["distro"]["version"], "22.04");
    assert_eq!(json["package_manager"], "apt");
    assert_eq!(json["xcat"]["source"], "dpkg xcat");
    assert_eq!(json["xcat"]["packages"][1]["name"], "xcat");
}

#[test]
fn sles_ppc64le_mn_without_xcat_uses_sqlite() {
    let t = synthetic_mn("sles-15-sp5", 21);
    let f = MnFacts::probe(&Root::open(t.path()).unwrap()).unwrap();
    assert_eq!((f.distro.family, f.arch), (Family::Sles, Arch::Ppc64le));
    assert_eq!(f.package_manager, PackageManager::Zypper);
    assert_eq!(f.xcat, None);
    assert_eq!(
        f.db,
        DbKind::Sqlite {
            dir: "/etc/xcat".into()
        }
    );
    let json = serde_json::to_value(&f).unwrap();
    assert_eq!(
        json["db"],
        serde_json::json!({"engine": "sqlite", "dir": "/etc/xcat"})
    );
    assert_eq!(json["xcat"], serde_json::Value::Null);
}

#[test]
fn opt_xcat_cfg_is_the_sqlite_dir_when_present() {
    let t = synthetic_mn("rocky-8", 62);
    std::fs::create_dir_all(t.path().join("opt/xcat/cfg")).unwrap();
    let f = MnFacts::probe(&Root::open(t.path()).unwrap()).unwrap();
    assert_eq!(
        f.db,
        DbKind::Sqlite {
            dir: "/opt/xcat/cfg".into()
        }
    );
    assert_eq!(f.package_manager, PackageManager::Dnf);
}

#[test]
fn empty_cfgloc_is_an_error_naming_it() {
    let t = synthetic_mn("rocky-8", 62);
    write(t.path(), "etc/xcat/cfgloc", "\n");
    let e = MnFacts::probe(&Root::open(t.path()).unwrap()).unwrap_err();
    assert!(
        e.to_string().contains("etc/xcat/cfgloc:1: cfgloc is empty"),
        "{e}"
    );
}

#[test]
fn missing_hostname_is_none_not_the_hosts() {
    let t = synthetic_mn("debian-12", 62);
    std::fs::remove_file(t.path().join("etc/hostname")).unwrap();
    let f = MnFacts::probe(&Root::open(t.path()).unwrap()).unwrap();
    assert_eq!(f.hostname, None);
}

#[test]
fn probing_this_machine_through_root_slash() {
    let f = MnFacts::probe(&Root::open("/").unwrap()).unwrap();
    let host = nix::unistd::gethostname().unwrap();
    assert_eq!(f.hostname.as_deref(), Some(host.to_str().unwrap()));
    // CI runs on Debian 12.
    assert_eq!(f.distro.family, Family::Ubuntu);
    assert_eq!(f.package_manager, PackageManager::Apt);
}
