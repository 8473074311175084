//! The repos and packages steps end to end: a Rocky source MN whose yum
//! repos hold small xCAT RPMs (built here) and whose rpm database says they
//! are installed is exported; xcatimport restores it into a fresh root,
//! installing xCAT with `dnf --installroot` from the stick's repos first.

mod import_support;

use import_support::rpm::*;
use import_support::*;
use std::path::Path;

fn work() -> tempfile::TempDir {
    scratch("xcatport-imp-pkg-")
}

/// `source_mn()` as Rocky 9 with xCAT installed from local repos and a
/// SQLite database holding real xCAT's tables.
fn rocky_source(w: &Path) -> Tree {
    let src = source_mn();
    src.file("etc/os-release", ROCKY);
    add_xcat_repos(src.root(), &build_all(w));
    with_sample_database(&src);
    src
}

#[test]
fn restore_installs_xcat_from_the_stick_then_restores_files_and_database() {
    let w = work();
    let src = rocky_source(w.path());
    let stick = export_with_packages(&src, w.path());

    let new = fresh_root(ROCKY, host_machine());
    let out = import_ok(&stick, new.root(), &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "ok   packages  xCAT {XCAT_VERSION}-{XCAT_RELEASE} from the stick's repos with dnf"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "repos      done: 2 repo(s) copied to /var/lib/xcatport/repos and registered: \
             /etc/yum.repos.d/xcatport-xcat-core.repo, /etc/yum.repos.d/xcatport-xcat-dep.repo"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "packages   done: dnf installed xCAT: xCAT {XCAT_VERSION} ({XCAT_RELEASE}) (rpm xCAT), 5 xCAT packages"
        )),
        "{stdout}"
    );

    // xCAT and what it pulls in, at the snapshot's version
    assert_eq!(
        rpm_q(new.root(), "xCAT"),
        format!("(none):{XCAT_VERSION}-{XCAT_RELEASE}")
    );
    assert_eq!(
        rpm_q(new.root(), "perl-xCAT"),
        format!("4:{XCAT_VERSION}-{XCAT_RELEASE}")
    );
    assert_eq!(
        std::fs::read_to_string(new.path("opt/xcat-test/xcat-dep-stub")).unwrap(),
        "xcat-dep-stub 1.0\n"
    );
    // the repos live on local disk, registered with the source's gpgcheck
    let def = std::fs::read_to_string(new.path("etc/yum.repos.d/xcatport-xcat-core.repo")).unwrap();
    assert!(
        def.contains("\nbaseurl=file:///var/lib/xcatport/repos/xcat-core\nenabled=1\ngpgcheck=0\n"),
        "{def}"
    );
    assert!(new
        .path("var/lib/xcatport/repos/xcat-core/repodata/repomd.xml")
        .is_file());

    // files and database as on the source
    assert_members_restored(&stick, &src, &new, |_| false);

    // rollback unregisters the repos; packages stay, and it says so
    let stdout = rollback_keeping_packages(&stick, &new);
    assert!(
        stdout.contains("repos      rolled back: 7 repo copies and definitions removed"),
        "{stdout}"
    );
    assert!(!new.path("etc/yum.repos.d/xcatport-xcat-core.repo").exists());
    assert!(!new.path("var/lib/xcatport/repos/xcat-core").exists());
    assert!(!new.path("etc/xcat/site.sqlite").exists());
}

/// Runs xcatimport and asserts it stops in preflight: exit 1, one line
/// containing `needle`, the root unchanged.
fn refused(stick: &Path, new: &Tree, extra: &[&str], needle: &str) {
    // librpm rewrites its shared-memory file on every read of the database
    let rpm_shm = |mut l: std::collections::BTreeMap<std::path::PathBuf, Listed>| {
        l.retain(|p, _| !p.to_string_lossy().ends_with("rpmdb.sqlite-shm"));
        l
    };
    let before = rpm_shm(listing(new.root()));
    let out = import(stick, new.root(), extra);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("preflight failed, nothing was changed: "),
        "{err}"
    );
    assert!(err.contains(needle), "{err}");
    assert_eq!(rpm_shm(listing(new.root())), before, "root changed");
}

#[test]
fn packages_that_cannot_install_here_and_other_xcat_versions_are_refused() {
    let w = work();
    let src = rocky_source(w.path());
    let stick = export(&src, w.path(), &[]);

    // an rpm stick on an apt MN (accepted distro): the repos cannot serve it
    let ubuntu = fresh_root(UBUNTU, host_machine());
    refused(
        &stick,
        &ubuntu,
        &["--force-distro"],
        &format!(
            "packages: the stick's repo xcat-core is a RpmMd repository, which a ubuntu MN cannot \
             install from; install xCAT {XCAT_VERSION} from your xCAT repos, then rerun with --skip-packages"
        ),
    );

    // --skip-packages with another xCAT installed: refused, --force overrides
    let older = build_rpm(w.path(), "xCAT", None, "2.16.4", &[]);
    let new = fresh_root(ROCKY, host_machine());
    sh(std::process::Command::new("rpm")
        .arg("--root")
        .arg(new.root())
        .args(["--dbpath", "/var/lib/rpm", "-i", "--justdb", "--nodeps"])
        .arg(&older));
    refused(
        &stick,
        &new,
        &["--skip-packages"],
        &format!(
            "xcat: xCAT 2.16.4 ({XCAT_RELEASE}) is installed (rpm xCAT), the snapshot is from xCAT \
             {XCAT_VERSION} ({XCAT_RELEASE}); --force overrides"
        ),
    );
    // without --skip-packages the installed xCAT is refused as before
    refused(
        &stick,
        &new,
        &[],
        "xcat: xCAT 2.16.4 (snap202301011200) is already installed here (rpm xCAT)",
    );
}

#[test]
fn dry_run_names_the_packages_to_install_and_the_master_check() {
    let w = work();
    let src = rocky_source(w.path());
    let stick = export(&src, w.path(), &[]);
    let new = fresh_root(ROCKY, host_machine());
    let before = listing(new.root());
    let out = import_ok(&stick, new.root(), &["--dry-run"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "3. packages   run: install xCAT {XCAT_VERSION}-{XCAT_RELEASE} with dnf"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "ok   master    site.master 10.0.0.1 not compared: --root is not this machine"
        ),
        "{stdout}"
    );
    assert_eq!(listing(new.root()), before);
}
