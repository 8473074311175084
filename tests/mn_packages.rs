//! Package manager and installed xCAT, from real package databases: a dpkg
//! status file and an rpm database built with the real `rpm`/`rpmbuild`.

use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;

use xcatport::mn::packages::{
    dpkg_installed, installed, is_xcat_related, rpm_installed, InstalledPackage, PackageFormat,
    XcatInstall,
};
use xcatport::mn::{Distro, PackageManager, Root};

fn pkg(name: &str, version: &str, arch: &str) -> InstalledPackage {
    InstalledPackage {
        name: name.into(),
        version: version.into(),
        arch: arch.into(),
    }
}

/// Builds a noarch rpm with no files and no scriptlets; returns its path.
fn build_rpm(
    work: &Path,
    name: &str,
    epoch: Option<u32>,
    version: &str,
    release: &str,
) -> std::path::PathBuf {
    let top = work.join("rpmbuild");
    let spec = work.join(format!("{name}.spec"));
    let epoch = epoch.map(|e| format!("Epoch: {e}\n")).unwrap_or_default();
    std::fs::write(
        &spec,
        format!(
            "Name: {name}\n{epoch}Version: {version}\nRelease: {release}\nSummary: test\n\
             License: EPL\nBuildArch: noarch\n%description\ntest package\n%files\n"
        ),
    )
    .unwrap();
    let st = Command::new("rpmbuild")
        .arg("--define")
        .arg(format!("_topdir {}", top.display()))
        .args(["--quiet", "--nodeps"])
        .arg("-bb")
        .arg(&spec)
        .status()
        .expect("rpmbuild must be installed (apt-get install rpm)");
    assert!(st.success());
    top.join("RPMS/noarch")
        .join(format!("{name}-{version}-{release}.noarch.rpm"))
}

/// Registers rpms in the database at `dbpath` under `root` (no files, no scripts).
fn rpm_install(root: &Path, dbpath: &str, rpms: &[std::path::PathBuf]) {
    let out = Command::new("rpm")
        .arg("--root")
        .arg(root)
        .arg("--dbpath")
        .arg(dbpath)
        .args(["-i", "--justdb", "--nodeps", "--noscripts"])
        .args(rpms)
        .output()
        .expect("rpm must be installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn xcat_rpms(work: &Path) -> Vec<std::path::PathBuf> {
    vec![
        build_rpm(work, "xCAT", None, "2.16.5", "snap202301011200"),
        build_rpm(work, "xCAT-server", Some(4), "2.16.5", "snap202301011200"),
        build_rpm(work, "perl-xCAT", Some(4), "2.16.5", "snap202301011200"),
        build_rpm(work, "goconserver", None, "0.3.3", "snap202108300617"),
        build_rpm(work, "bash", None, "5.1.8", "6.el9"),
    ]
}

#[test]
fn rpm_database_lists_xcat_packages_with_epochs() {
    let work = tempfile::tempdir().unwrap();
    let mn = tempfile::tempdir().unwrap();
    rpm_install(mn.path(), "/var/lib/rpm", &xcat_rpms(work.path()));
    let root = Root::open(mn.path()).unwrap();
    let got = installed(&root, PackageFormat::Rpm, is_xcat_related).unwrap();
    assert_eq!(
        got,
        vec![
            pkg("goconserver", "0.3.3-snap202108300617", "noarch"),
            pkg("perl-xCAT", "4:2.16.5-snap202301011200", "noarch"),
            pkg("xCAT", "2.16.5-snap202301011200", "noarch"),
            pkg("xCAT-server", "4:2.16.5-snap202301011200", "noarch"),
        ]
    );
    let all = rpm_installed(&root, |_| true).unwrap();
    assert!(all.iter().any(|p| p.name == "bash"));

    let x = XcatInstall::detect(&root, PackageFormat::Rpm)
        .unwrap()
        .unwrap();
    assert_eq!(x.version.release(), "2.16.5");
    assert_eq!(x.version.build.as_deref(), Some("snap202301011200"));
    assert_eq!(x.source, "rpm xCAT");
    assert_eq!(x.packages.len(), 4);
}

#[test]
fn rpm_server_package_decides_when_the_meta_package_is_missing() {
    let work = tempfile::tempdir().unwrap();
    let mn = tempfile::tempdir().unwrap();
    let rpms = vec![build_rpm(
        work.path(),
        "xCAT-server",
        Some(4),
        "2.17.0",
        "snap202305100000",
    )];
    rpm_install(mn.path(), "/var/lib/rpm", &rpms);
    let root = Root::open(mn.path()).unwrap();
    let x = XcatInstall::detect(&root, PackageFormat::Rpm)
        .unwrap()
        .unwrap();
    assert_eq!(
        (x.version.release().as_str(), x.source.as_str()),
        ("2.17.0", "rpm xCAT-server")
    );
}

#[test]
fn rpm_database_in_sysimage_reached_through_a_relative_link() {
    // SUSE layout: var/lib/rpm -> ../../usr/lib/sysimage/rpm.
    let work = tempfile::tempdir().unwrap();
    let mn = tempfile::tempdir().unwrap();
    rpm_install(
        mn.path(),
        "/usr/lib/sysimage/rpm",
        &xcat_rpms(work.path())[..1],
    );
    std::fs::create_dir_all(mn.path().join("var/lib")).unwrap();
    symlink("../../usr/lib/sysimage/rpm", mn.path().join("var/lib/rpm")).unwrap();
    let root = Root::open(mn.path()).unwrap();
    let got = installed(&root, PackageFormat::Rpm, is_xcat_related).unwrap();
    assert_eq!(got, vec![pkg("xCAT", "2.16.5-snap202301011200", "noarch")]);
}

#[test]
fn no_package_database_means_no_xcat() {
    let mn = tempfile::tempdir().unwrap();
    let root = Root::open(mn.path()).unwrap();
    assert_eq!(
        XcatInstall::detect(&root, PackageFormat::Rpm).unwrap(),
        None
    );
    assert_eq!(
        XcatInstall::detect(&root, PackageFormat::Deb).unwrap(),
        None
    );
}

const DPKG_STATUS: &str = "\
Package: xcat
Status: install ok installed
Priority: optional
Section: admin
Installed-Size: 123
Maintainer: xCAT <xcat-user@lists.sourceforge.net>
Architecture: amd64
Version: 2.16.5-snap202304201112
Depends: xcat-server, xcat-client, perl-xcat
Description: Server and configuration utilities of the xCAT management project
 xcat-server provides the core server and configuration management
 .
 components of xCAT.

Package: xcat-server
Status: install ok installed
Architecture: all
Version: 2.16.5-snap202304201112
Conffiles:
 /etc/xcat/conf.orig/xcat.conf.apach24 0123456789abcdef0123456789abcdef

Package: xcat-probe
Status: deinstall ok config-files
Architecture: all
Version: 2.16.4-snap202209011000

Package: libc6
Status: install ok installed
Architecture: amd64
Version: 2.36-9+deb12u4
";

#[test]
fn dpkg_status_gives_installed_xcat_packages() {
    let mn = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(mn.path().join("var/lib/dpkg")).unwrap();
    std::fs::write(mn.path().join("var/lib/dpkg/status"), DPKG_STATUS).unwrap();
    let root = Root::open(mn.path()).unwrap();
    let got = dpkg_installed(&root, is_xcat_related).unwrap();
    assert_eq!(
        got,
        vec![
            pkg("xcat", "2.16.5-snap202304201112", "amd64"),
            pkg("xcat-server", "2.16.5-snap202304201112", "all"),
        ]
    );
    let x = XcatInstall::detect(&root, PackageFormat::Deb)
        .unwrap()
        .unwrap();
    assert_eq!(
        (x.version.release().as_str(), x.source.as_str()),
        ("2.16.5", "dpkg xcat")
    );
    assert_eq!(x.version.build.as_deref(), Some("snap202304201112"));
}

#[test]
fn this_hosts_dpkg_status_parses() {
    // The real, large status file of the Debian machine the tests run on.
    let root = Root::open("/").unwrap();
    let all = dpkg_installed(&root, |_| true).unwrap();
    assert!(
        all.iter().any(|p| p.name == "dpkg"),
        "{} packages",
        all.len()
    );
}

fn distro(os_release: &str) -> Distro {
    Distro::from_os_release(os_release, "etc/os-release").unwrap()
}

fn touch(base: &Path, rel: &str) {
    let p = base.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, "").unwrap();
}

#[test]
fn package_manager_per_family_and_files() {
    let rocky8 = distro("ID=rocky\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=8.9\n");
    let centos7 = distro("ID=centos\nVERSION_ID=7\n");
    let sles = distro("ID=sles\nVERSION_ID=15.5\n");
    let debian = distro("ID=debian\nVERSION_ID=12\n");

    let mn = tempfile::tempdir().unwrap();
    let root = Root::open(mn.path()).unwrap();
    // Nothing on disk: the release decides.
    assert_eq!(
        PackageManager::detect(&root, &rocky8).unwrap(),
        PackageManager::Dnf
    );
    assert_eq!(
        PackageManager::detect(&root, &centos7).unwrap(),
        PackageManager::Yum
    );
    assert_eq!(
        PackageManager::detect(&root, &sles).unwrap(),
        PackageManager::Zypper
    );
    assert_eq!(
        PackageManager::detect(&root, &debian).unwrap(),
        PackageManager::Apt
    );

    // A RHEL 8 whose yum is still there as a link to dnf-3.
    touch(mn.path(), "usr/bin/dnf-3");
    symlink("dnf-3", mn.path().join("usr/bin/yum")).unwrap();
    assert_eq!(
        PackageManager::detect(&root, &centos7).unwrap(),
        PackageManager::Dnf
    );

    let old = tempfile::tempdir().unwrap();
    touch(old.path(), "etc/yum.conf");
    let root = Root::open(old.path()).unwrap();
    assert_eq!(
        PackageManager::detect(&root, &rocky8).unwrap(),
        PackageManager::Yum
    );
    assert_eq!(PackageManager::Apt.format(), PackageFormat::Deb);
    assert_eq!(PackageManager::Zypper.format(), PackageFormat::Rpm);
}
