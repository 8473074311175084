//! Distro and arch detection from real-looking files under a root.

use std::os::unix::fs::symlink;
use std::path::Path;

use xcatport::mn::{Arch, Distro, Family, Root};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/mn/testdata/os-release");

/// A root holding `usr/lib/os-release` from a fixture and `etc/os-release`
/// as the relative symlink real distros ship.
fn root_with(fixture: &str) -> (tempfile::TempDir, Root) {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(t.path().join("usr/lib")).unwrap();
    std::fs::create_dir_all(t.path().join("etc")).unwrap();
    std::fs::copy(
        Path::new(FIXTURES).join(fixture),
        t.path().join("usr/lib/os-release"),
    )
    .unwrap();
    symlink("../usr/lib/os-release", t.path().join("etc/os-release")).unwrap();
    let r = Root::open(t.path()).unwrap();
    (t, r)
}

fn check(fixture: &str, family: Family, id: &str, version: &str, major: u32, key: &str) {
    let (_t, r) = root_with(fixture);
    let d = Distro::detect(&r).unwrap();
    assert_eq!(d.family, family, "{fixture}");
    assert_eq!(d.id, id, "{fixture}");
    assert_eq!(d.version, version, "{fixture}");
    assert_eq!(d.major, major, "{fixture}");
    assert_eq!(d.release_key(), key, "{fixture}");
    assert_eq!(d.source, "/etc/os-release");
}

#[test]
fn rocky_8() {
    check("rocky-8", Family::Rhel, "rocky", "8.9", 8, "rhel:8");
    let (_t, r) = root_with("rocky-8");
    let d = Distro::detect(&r).unwrap();
    assert_eq!(d.id_like, ["rhel", "centos", "fedora"]);
    assert_eq!(d.pretty_name, "Rocky Linux 8.9 (Green Obsidian)");
}

#[test]
fn rhel_9() {
    check("rhel-9", Family::Rhel, "rhel", "9.3", 9, "rhel:9");
}

#[test]
fn alma_9() {
    check("alma-9", Family::Rhel, "almalinux", "9.3", 9, "rhel:9");
}

#[test]
fn centos_7() {
    check("centos-7", Family::Rhel, "centos", "7", 7, "rhel:7");
}

#[test]
fn sles_15_sp5() {
    check("sles-15-sp5", Family::Sles, "sles", "15.5", 15, "sles:15");
    let (_t, r) = root_with("sles-15-sp5");
    assert_eq!(
        Distro::detect(&r).unwrap().pretty_name,
        "SUSE Linux Enterprise Server 15 SP5"
    );
}

#[test]
fn opensuse_leap_15_5() {
    check(
        "opensuse-leap-15.5",
        Family::Sles,
        "opensuse-leap",
        "15.5",
        15,
        "sles:15",
    );
}

#[test]
fn ubuntu_22_04() {
    check(
        "ubuntu-22.04",
        Family::Ubuntu,
        "ubuntu",
        "22.04",
        22,
        "ubuntu:22.04",
    );
}

#[test]
fn debian_12() {
    check("debian-12", Family::Ubuntu, "debian", "12", 12, "debian:12");
}

#[test]
fn usr_lib_os_release_alone_is_enough() {
    let (t, r) = root_with("alma-9");
    std::fs::remove_file(t.path().join("etc/os-release")).unwrap();
    let d = Distro::detect(&r).unwrap();
    assert_eq!(
        (d.id.as_str(), d.source.as_str()),
        ("almalinux", "/usr/lib/os-release")
    );
}

#[test]
fn absolute_os_release_link_is_read_inside_the_root() {
    // The host's own /usr/lib/os-release must not be what we read.
    let (t, r) = root_with("sles-15-sp5");
    std::fs::remove_file(t.path().join("etc/os-release")).unwrap();
    symlink("/usr/lib/os-release", t.path().join("etc/os-release")).unwrap();
    assert_eq!(Distro::detect(&r).unwrap().id, "sles");
}

#[test]
fn old_redhat_release_fallback() {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir(t.path().join("etc")).unwrap();
    std::fs::write(
        t.path().join("etc/redhat-release"),
        "CentOS release 6.10 (Final)\n",
    )
    .unwrap();
    let d = Distro::detect(&Root::open(t.path()).unwrap()).unwrap();
    assert_eq!(
        (d.family, d.id.as_str(), d.major, d.source.as_str()),
        (Family::Rhel, "centos", 6, "/etc/redhat-release")
    );
}

#[test]
fn old_suse_release_fallback() {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir(t.path().join("etc")).unwrap();
    std::fs::write(
        t.path().join("etc/SuSE-release"),
        "SUSE Linux Enterprise Server 11 (x86_64)\nVERSION = 11\nPATCHLEVEL = 4\n",
    )
    .unwrap();
    let d = Distro::detect(&Root::open(t.path()).unwrap()).unwrap();
    assert_eq!(
        (d.family, d.id.as_str(), d.version.as_str()),
        (Family::Sles, "sles", "11.4")
    );
}

#[test]
fn nothing_identifies_the_distro() {
    let t = tempfile::tempdir().unwrap();
    let e = Distro::detect(&Root::open(t.path()).unwrap()).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("etc/os-release"), "{msg}");
    assert!(msg.contains("cannot tell which distro"), "{msg}");
    assert!(
        msg.contains(&t.path().canonicalize().unwrap().display().to_string()),
        "{msg}"
    );
}

#[test]
fn malformed_os_release_names_the_file() {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir(t.path().join("etc")).unwrap();
    std::fs::write(
        t.path().join("etc/os-release"),
        "NAME=\"Gentoo\"\nID=gentoo\nVERSION_ID=2.15\n",
    )
    .unwrap();
    let e = Distro::detect(&Root::open(t.path()).unwrap()).unwrap_err();
    assert!(
        e.to_string().starts_with("/etc/os-release: ID=gentoo"),
        "{e}"
    );
}

/// A fake binary: an ELF header for `machine` padded to look like a file.
fn elf(wide: bool, little: bool, machine: u16) -> Vec<u8> {
    let mut h = b"\x7fELF".to_vec();
    h.extend([if wide { 2 } else { 1 }, if little { 1 } else { 2 }, 1, 0]);
    h.extend([0; 8]);
    h.extend(if little { [2, 0] } else { [0, 2] });
    h.extend(if little {
        machine.to_le_bytes()
    } else {
        machine.to_be_bytes()
    });
    h.extend([0; 100]);
    h
}

#[test]
fn arch_from_usrmerged_shell_symlinks() {
    // bin -> usr/bin, usr/bin/sh -> dash, as on Debian 12.
    for (wide, little, m, want) in [
        (true, true, 21u16, Arch::Ppc64le),
        (true, true, 183, Arch::Aarch64),
        (true, false, 22, Arch::S390x),
        (true, true, 62, Arch::X86_64),
    ] {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("usr/bin")).unwrap();
        std::fs::write(t.path().join("usr/bin/dash"), elf(wide, little, m)).unwrap();
        symlink("dash", t.path().join("usr/bin/sh")).unwrap();
        symlink("usr/bin", t.path().join("bin")).unwrap();
        let a = Arch::detect(&Root::open(t.path()).unwrap()).unwrap();
        assert_eq!(a, want);
    }
}

#[test]
fn arch_falls_through_to_env_when_there_is_no_shell() {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(t.path().join("usr/bin")).unwrap();
    std::fs::write(t.path().join("usr/bin/env"), elf(true, true, 183)).unwrap();
    assert_eq!(
        Arch::detect(&Root::open(t.path()).unwrap()).unwrap(),
        Arch::Aarch64
    );
}

#[test]
fn arch_of_a_script_shell_names_the_file() {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(t.path().join("bin")).unwrap();
    std::fs::write(t.path().join("bin/sh"), "#!/bin/busybox\n").unwrap();
    let e = Arch::detect(&Root::open(t.path()).unwrap()).unwrap_err();
    assert!(e.to_string().ends_with("bin/sh: not an ELF binary"), "{e}");
}

#[test]
fn arch_with_no_binaries_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let e = Arch::detect(&Root::open(t.path()).unwrap()).unwrap_err();
    assert!(
        e.to_string().contains("cannot tell the MN's architecture"),
        "{e}"
    );
}
