#![allow(dead_code)] // shared by several test binaries, each using a part
//! Small xCAT-named noarch RPMs built with rpmbuild, repos made with
//! createrepo_c, and rpm databases written with `rpm --justdb`, for
//! restores that install packages and for tests/repo_rpm.rs.

use std::path::{Path, PathBuf};
use std::process::Command;

pub use super::tools::{sh, write_file};

pub const XCAT_VERSION: &str = "2.16.5";
pub const XCAT_RELEASE: &str = "snap202301011200";

/// A noarch rpm with one file `/opt/xcat-test/<name>` and no scriptlets.
pub fn build_rpm(
    work: &Path,
    name: &str,
    epoch: Option<u32>,
    version: &str,
    requires: &[&str],
) -> PathBuf {
    let top = work.join("rpmbuild");
    let spec = work.join(format!("{name}-{version}.spec"));
    let epoch_line = epoch.map(|e| format!("Epoch: {e}\n")).unwrap_or_default();
    let req: String = requires
        .iter()
        .map(|r| format!("Requires: {r}\n"))
        .collect();
    std::fs::write(
        &spec,
        format!(
            "Name: {name}\n{epoch_line}Version: {version}\nRelease: {XCAT_RELEASE}\nSummary: test\n\
             License: EPL\nBuildArch: noarch\n{req}%description\ntest package\n\
             %install\nmkdir -p %{{buildroot}}/opt/xcat-test\n\
             echo '{name} {version}' > %{{buildroot}}/opt/xcat-test/{name}\n\
             %files\n/opt/xcat-test/{name}\n"
        ),
    )
    .unwrap();
    sh(Command::new("rpmbuild")
        .arg("--define")
        .arg(format!("_topdir {}", top.display()))
        .args(["--quiet", "-bb"])
        .arg(&spec));
    top.join("RPMS/noarch")
        .join(format!("{name}-{version}-{XCAT_RELEASE}.noarch.rpm"))
}

/// xCAT, xCAT-server, xCAT-client, perl-xCAT (core) and one xcat-dep package.
pub struct Rpms {
    pub core: Vec<PathBuf>,
    pub dep: PathBuf,
}

pub fn build_all(work: &Path) -> Rpms {
    Rpms {
        core: vec![
            build_rpm(
                work,
                "xCAT",
                None,
                XCAT_VERSION,
                &["xCAT-server", "xcat-dep-stub"],
            ),
            build_rpm(work, "xCAT-server", Some(4), XCAT_VERSION, &["perl-xCAT"]),
            build_rpm(work, "xCAT-client", Some(4), XCAT_VERSION, &["perl-xCAT"]),
            build_rpm(work, "perl-xCAT", Some(4), XCAT_VERSION, &[]),
        ],
        dep: build_rpm(work, "xcat-dep-stub", None, "1.0", &[]),
    }
}

pub fn make_repo(dir: &Path, rpms: &[&PathBuf]) {
    std::fs::create_dir_all(dir).unwrap();
    for r in rpms {
        std::fs::copy(r, dir.join(r.file_name().unwrap())).unwrap();
    }
    sh(Command::new("createrepo_c").arg("-q").arg(dir));
}

/// Adds xcat-core and xcat-dep repos under `/install/xcat` with yum repo
/// files to the MN at `root`, and records every package as installed.
pub fn add_xcat_repos(root: &Path, rpms: &Rpms) {
    add_repos(
        root,
        rpms,
        "install/xcat/xcat-dep/rh9/noarch",
        &[
            (
                "etc/yum.repos.d/xcat-core.repo",
                "[xcat-core]\nname=xCAT 2 Core packages\nbaseurl=file:///install/xcat/xcat-core\nenabled=1\ngpgcheck=0\n",
            ),
            (
                "etc/yum.repos.d/xcat-dep.repo",
                "[xcat-dep]\nname=xCAT 2 depedencies\nbaseurl=file:///install/xcat/xcat-dep/rh$releasever/noarch\nenabled=1\ngpgcheck=0\ngpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-xcat-dep\n",
            ),
        ],
    );
}

/// The xcat-core repo at `install/xcat/xcat-core`, the dep repo at
/// `dep_dir`, xcat-dep's gpg key, the repo `definitions` (path, text), and
/// every package recorded as installed.
fn add_repos(root: &Path, rpms: &Rpms, dep_dir: &str, definitions: &[(&str, &str)]) {
    let core: Vec<&PathBuf> = rpms.core.iter().collect();
    make_repo(&root.join("install/xcat/xcat-core"), &core);
    make_repo(&root.join(dep_dir), &[&rpms.dep]);
    write_file(root, "etc/pki/rpm-gpg/RPM-GPG-KEY-xcat-dep", "dep key\n");
    for (rel, text) in definitions {
        write_file(root, rel, text);
    }
    record_installed(root, rpms);
}

/// Records every package of `rpms` in the rpm database under `root`
/// without installing its files.
pub fn record_installed(root: &Path, rpms: &Rpms) {
    sh(Command::new("rpm")
        .arg("--root")
        .arg(root)
        .args([
            "--dbpath",
            "/var/lib/rpm",
            "-i",
            "--justdb",
            "--nodeps",
            "--noscripts",
        ])
        .args(&rpms.core)
        .arg(&rpms.dep));
}

/// `EPOCH:VERSION-RELEASE` of an installed package, or rpm's "not installed".
pub fn rpm_q(root: &Path, name: &str) -> String {
    let out = Command::new("rpm")
        .arg("--root")
        .arg(root)
        .args([
            "--dbpath",
            "/var/lib/rpm",
            "-q",
            "--qf",
            "%{EPOCH}:%{VERSION}-%{RELEASE}",
            name,
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Adds xcat-core and xcat-dep repos under `/install/xcat` with zypper repo
/// files (as a SLES MN has them) to the MN at `root`, the dep repo signed
/// and checked, and records every package as installed.
pub fn add_zypper_repos(root: &Path, rpms: &Rpms) {
    add_repos(
        root,
        rpms,
        "install/xcat/xcat-dep/sles15/noarch",
        &[
            (
                "etc/zypp/repos.d/xcat-core.repo",
                "[xcat-core]\nname=xCAT 2 Core packages\nenabled=1\nautorefresh=0\n\
                 baseurl=file:///install/xcat/xcat-core\ntype=rpm-md\ngpgcheck=0\n",
            ),
            (
                "etc/zypp/repos.d/xcat-dep.repo",
                "[xcat-dep]\nname=xCAT 2 depedencies\nenabled=1\nautorefresh=0\n\
                 baseurl=file:///install/xcat/xcat-dep/sles15/noarch\ntype=rpm-md\ngpgcheck=0\n\
                 gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-xcat-dep\n",
            ),
        ],
    );
}
