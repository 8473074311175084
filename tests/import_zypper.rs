//! The repos and packages steps end to end on a SLES MN: a SLES 15 source
//! whose zypper repos hold small xCAT RPMs (built here) and whose rpm
//! database says they are installed is exported; xcatimport restores it
//! into a fresh SLES root, installing xCAT with the real `zypper --root`
//! from the stick's repos copied to the new MN's disk.

mod import_support;

use import_support::rpm::*;
use import_support::*;
use std::path::Path;

pub const SLES: &str =
    "NAME=\"SLES\"\nVERSION=\"15-SP5\"\nID=\"sles\"\nID_LIKE=\"suse\"\nVERSION_ID=\"15.5\"\n";

fn work() -> tempfile::TempDir {
    scratch("xcatport-imp-zypper-")
}

/// `source_mn()` as SLES 15 SP5 with xCAT installed from local zypper
/// repos and a SQLite database holding real xCAT's tables.
fn sles_source(w: &Path) -> Tree {
    let src = source_mn();
    src.file("etc/os-release", SLES);
    add_zypper_repos(src.root(), &build_all(w));
    with_sample_database(&src);
    src
}

#[test]
fn zypper_installs_xcat_from_the_stick_then_files_and_database_are_restored() {
    let w = work();
    let src = sles_source(w.path());
    let stick = export_with_packages(&src, w.path());

    let new = fresh_root(SLES, host_machine());
    let out = import_ok(&stick, new.root(), &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "ok   packages  xCAT {XCAT_VERSION}-{XCAT_RELEASE} from the stick's repos with zypper"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "repos      done: 2 repo(s) copied to /var/lib/xcatport/repos and registered: \
             /etc/zypp/repos.d/xcatport-xcat-core.repo, /etc/zypp/repos.d/xcatport-xcat-dep.repo"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "packages   done: zypper installed xCAT: xCAT {XCAT_VERSION} ({XCAT_RELEASE}) (rpm xCAT), 5 xCAT packages"
        )),
        "{stdout}"
    );

    // xCAT and what it pulls in, in the new root's rpm database
    assert_eq!(
        rpm_q(new.root(), "xCAT"),
        format!("(none):{XCAT_VERSION}-{XCAT_RELEASE}")
    );
    // xCAT-client: nothing requires it, but the source had it installed
    for name in ["xCAT-server", "perl-xCAT", "xCAT-client"] {
        assert_eq!(
            rpm_q(new.root(), name),
            format!("4:{XCAT_VERSION}-{XCAT_RELEASE}"),
            "{name}"
        );
    }
    assert_eq!(
        rpm_q(new.root(), "xcat-dep-stub"),
        format!("(none):1.0-{XCAT_RELEASE}")
    );
    assert_eq!(
        std::fs::read_to_string(new.path("opt/xcat-test/xCAT")).unwrap(),
        format!("xCAT {XCAT_VERSION}\n")
    );

    // the repos live on local disk, registered for zypper with the source's gpgcheck
    let core =
        std::fs::read_to_string(new.path("etc/zypp/repos.d/xcatport-xcat-core.repo")).unwrap();
    assert!(
        core.contains("\nbaseurl=dir:///var/lib/xcatport/repos/xcat-core\n"),
        "{core}"
    );
    assert!(
        core.contains("\ntype=rpm-md\n") && core.contains("\ngpgcheck=0\n"),
        "{core}"
    );
    let dep = std::fs::read_to_string(new.path("etc/zypp/repos.d/xcatport-xcat-dep.repo")).unwrap();
    assert!(
        dep.contains(
            "\ngpgcheck=0\ngpgkey=file:///var/lib/xcatport/repo-keys/xcat-dep/RPM-GPG-KEY-xcat-dep\n"
        ),
        "{dep}"
    );
    assert_eq!(
        std::fs::read_to_string(
            new.path("var/lib/xcatport/repo-keys/xcat-dep/RPM-GPG-KEY-xcat-dep")
        )
        .unwrap(),
        "dep key\n"
    );
    assert!(!new.path("etc/yum.repos.d").exists());
    assert!(new
        .path("var/lib/xcatport/repos/xcat-core/repodata/repomd.xml")
        .is_file());
    assert!(
        new.path("var/lib/xcatport/repos/xcat-dep")
            .read_dir()
            .unwrap()
            .count()
            > 0
    );

    // files and database as on the source
    assert_members_restored(&stick, &src, &new, |_| false);

    // rollback unregisters the repos; the packages stay, and it says so
    rollback_keeping_packages(&stick, &new);
    assert!(!new
        .path("etc/zypp/repos.d/xcatport-xcat-core.repo")
        .exists());
    assert!(!new.path("var/lib/xcatport/repos/xcat-core").exists());
    assert_eq!(
        rpm_q(new.root(), "xCAT"),
        format!("(none):{XCAT_VERSION}-{XCAT_RELEASE}")
    );
}
