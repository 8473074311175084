//! The repos and packages steps end to end on an Ubuntu MN: an Ubuntu
//! 22.04 source whose apt sources name flat repos of small xCAT debs
//! (built here with dpkg-deb) and whose dpkg status says they are
//! installed is exported; xcatimport restores it into a fresh Ubuntu root.
//!
//! Into a root other than `/` the packages step resolves the xcat meta
//! package's dependencies from the stick's repos itself and installs them
//! with one real `dpkg --root R -i` (src/repo/install.rs): `apt-get -o
//! Dir=R` would need R to be a full base system (apt's own state, the
//! distro's Packages lists, dpkg's triggers) and also reads the host's
//! configuration. Dependencies outside our repos must then already be
//! installed in R, as on a real new MN; these debs have none.

mod import_support;

use import_support::deb::*;
use import_support::*;
use std::path::Path;

fn work() -> tempfile::TempDir {
    scratch("xcatport-imp-dpkg-")
}

/// `source_mn()` (Ubuntu 22.04) with xCAT installed from local apt repos
/// and a SQLite database holding real xCAT's tables.
fn ubuntu_source(w: &Path) -> Tree {
    let src = source_mn();
    add_apt_repos(src.root(), &build_all_debs(w));
    with_sample_database(&src);
    src
}

#[test]
fn dpkg_installs_xcat_from_the_stick_then_files_and_database_are_restored() {
    let w = work();
    let src = ubuntu_source(w.path());
    let stick = export_with_packages(&src, w.path());

    let new = fresh_root(UBUNTU, host_machine());
    fresh_dpkg_db(new.root());
    let out = import_ok(&stick, new.root(), &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v = XCAT_DEB_VERSION;
    assert!(
        stdout.contains(&format!(
            "ok   packages  xcat {v} from the stick's repos with apt"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "repos      done: 2 repo(s) copied to /var/lib/xcatport/repos and registered: \
             /etc/apt/sources.list.d/xcatport-xcat-core.list, /etc/apt/sources.list.d/xcatport-xcat-dep.list"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "packages   done: apt installed xcat: xCAT 2.16.5 (snap202301011200) (dpkg xcat), \
             5 xCAT packages"
        ),
        "{stdout}"
    );

    // xcat and what it depends on, in the new root's dpkg database, plus
    // the client nothing requires but the source had installed
    assert_eq!(
        dpkg_query(new.root()),
        format!(
            "bash 5.1-6ubuntu1 install ok installed\nperl-xcat {v} install ok installed\n\
             xcat {v} install ok installed\nxcat-client {v} install ok installed\n\
             xcat-dep-stub 1.0-1 install ok installed\n\
             xcat-server {v} install ok installed\n"
        )
    );
    assert_eq!(
        std::fs::read_to_string(new.path("opt/xcat-test/xcat")).unwrap(),
        format!("xcat {v}\n")
    );

    // the repos live on local disk, registered with the source's trust:
    // trusted=yes stays as it was, the signed one keeps its keyring
    assert_eq!(
        std::fs::read_to_string(new.path("etc/apt/sources.list.d/xcatport-xcat-core.list"))
            .unwrap(),
        "# Written by xcatport: xcat-core from /etc/apt/sources.list.d/xcat-core.list (file:///install/xcat/xcat-core).\n\
         deb [trusted=yes] file:/var/lib/xcatport/repos/xcat-core ./\n"
    );
    assert_eq!(
        std::fs::read_to_string(new.path("etc/apt/sources.list.d/xcatport-xcat-dep.list"))
            .unwrap(),
        "# Written by xcatport: xcat-dep from /etc/apt/sources.list.d/xcat-dep.sources (file:/install/xcat/xcat-dep).\n\
         deb [signed-by=/var/lib/xcatport/repo-keys/xcat-dep/xcat-dep.gpg] file:/var/lib/xcatport/repos/xcat-dep ./\n"
    );
    assert_eq!(
        std::fs::read_to_string(new.path("var/lib/xcatport/repo-keys/xcat-dep/xcat-dep.gpg"))
            .unwrap(),
        "keyring bytes\n"
    );
    assert!(new
        .path("var/lib/xcatport/repos/xcat-core/Packages")
        .is_file());

    // files and database as on the source (dpkg's status differs: the
    // source records xcat-client too)
    assert_members_restored(&stick, &src, &new, |m| m.starts_with("var/lib/dpkg"));

    // rollback unregisters the repos; the packages stay, and it says so
    rollback_keeping_packages(&stick, &new);
    assert!(!new
        .path("etc/apt/sources.list.d/xcatport-xcat-core.list")
        .exists());
    assert!(!new.path("var/lib/xcatport/repos/xcat-core").exists());
    assert!(dpkg_query(new.root()).contains(&format!("xcat {v} install ok installed\n")));
}
