#![allow(dead_code)] // shared by several test binaries, each using a part
//! Small xCAT-named debs built with dpkg-deb, flat repos indexed with
//! dpkg-scanpackages, and dpkg status databases, for restores of Ubuntu
//! MNs that install packages and for tests/repo_deb.rs.

use std::path::{Path, PathBuf};
use std::process::Command;

pub use super::tools::{sh, write_file};

/// xCAT's deb version as Ubuntu's xcat-core repos carry it.
pub const XCAT_DEB_VERSION: &str = "2.16.5-snap202301011200";

/// An `Architecture: all` deb with one file `/opt/xcat-test/<name>` and no
/// maintainer scripts.
pub fn build_deb(work: &Path, name: &str, version: &str, depends: &str) -> PathBuf {
    let dir = work.join(format!("build-{name}-{version}"));
    write_file(
        &dir,
        &format!("opt/xcat-test/{name}"),
        &format!("{name} {version}\n"),
    );
    let dep = if depends.is_empty() {
        String::new()
    } else {
        format!("Depends: {depends}\n")
    };
    write_file(
        &dir,
        "DEBIAN/control",
        &format!(
            "Package: {name}\nVersion: {version}\nArchitecture: all\nMaintainer: t <t@example.org>\n{dep}Description: test\n"
        ),
    );
    let out = work.join(format!("{name}_{version}_all.deb"));
    sh(Command::new("dpkg-deb")
        .args(["--root-owner-group", "-Zgzip", "--build"])
        .arg(&dir)
        .arg(&out));
    out
}

/// xcat, xcat-server, xcat-client, perl-xcat (core) and one xcat-dep package.
pub struct Debs {
    pub core: Vec<PathBuf>,
    pub dep: PathBuf,
}

pub fn build_all_debs(work: &Path) -> Debs {
    let v = XCAT_DEB_VERSION;
    Debs {
        core: vec![
            build_deb(work, "xcat", v, "xcat-server, xcat-dep-stub (>= 1.0)"),
            build_deb(work, "xcat-server", v, "perl-xcat"),
            build_deb(work, "xcat-client", v, "perl-xcat"),
            build_deb(work, "perl-xcat", v, ""),
        ],
        dep: build_deb(work, "xcat-dep-stub", "1.0-1", ""),
    }
}

/// A flat repo (`deb file:DIR ./`) holding `debs`.
pub fn flat_repo(dir: &Path, debs: &[&PathBuf]) {
    std::fs::create_dir_all(dir).unwrap();
    for d in debs {
        std::fs::copy(d, dir.join(d.file_name().unwrap())).unwrap();
    }
    let packages = sh(Command::new("dpkg-scanpackages")
        .args(["-m", "."])
        .current_dir(dir));
    std::fs::write(dir.join("Packages"), packages).unwrap();
}

/// One package's paragraph in a dpkg status file, installed.
pub fn status_entry(name: &str, version: &str) -> String {
    format!(
        "Package: {name}\nStatus: install ok installed\nPriority: optional\nArchitecture: all\nVersion: {version}\nDescription: test\n\n"
    )
}

/// Adds flat xcat-core and xcat-dep repos under `/install/xcat` with apt
/// source entries (a one-line list, trusted, and a deb822 file with a
/// keyring) to the MN at `root`, and records every package as installed.
pub fn add_apt_repos(root: &Path, debs: &Debs) {
    let core: Vec<&PathBuf> = debs.core.iter().collect();
    flat_repo(&root.join("install/xcat/xcat-core"), &core);
    flat_repo(&root.join("install/xcat/xcat-dep"), &[&debs.dep]);
    add_apt_sources(root);
    let mut status: String = ["xcat", "xcat-server", "xcat-client", "perl-xcat"]
        .iter()
        .map(|n| status_entry(n, XCAT_DEB_VERSION))
        .collect();
    status.push_str(&status_entry("xcat-dep-stub", "1.0-1"));
    status.push_str(&status_entry("bash", "5.1-6ubuntu1"));
    write_file(root, "var/lib/dpkg/status", &status);
}

/// xcat-dep's keyring and the apt source entries naming the flat repos
/// `install/xcat/xcat-core` (a one-line list, trusted) and
/// `install/xcat/xcat-dep` (a deb822 file with that keyring).
pub fn add_apt_sources(root: &Path) {
    write_file(root, "usr/share/keyrings/xcat-dep.gpg", "keyring bytes\n");
    write_file(
        root,
        "etc/apt/sources.list.d/xcat-core.list",
        "deb [trusted=yes] file:///install/xcat/xcat-core ./\n",
    );
    write_file(
        root,
        "etc/apt/sources.list.d/xcat-dep.sources",
        "Types: deb\nURIs: file:/install/xcat/xcat-dep\nSuites: ./\nSigned-By: /usr/share/keyrings/xcat-dep.gpg\n",
    );
}

/// The dpkg database of a freshly installed Ubuntu (empty of xCAT): dpkg
/// needs its admin directory to exist before it installs into a root.
pub fn fresh_dpkg_db(root: &Path) {
    dpkg_db(root, &status_entry("bash", "5.1-6ubuntu1"));
}

/// A dpkg admin directory under `root` whose status file is `status`.
pub fn dpkg_db(root: &Path, status: &str) {
    write_file(root, "var/lib/dpkg/status", status);
    std::fs::create_dir_all(root.join("var/lib/dpkg/info")).unwrap();
    std::fs::create_dir_all(root.join("var/lib/dpkg/updates")).unwrap();
}

/// `Package Version Status` lines of every package dpkg records under `root`.
pub fn dpkg_query(root: &Path) -> String {
    sh(Command::new("dpkg-query")
        .arg(format!(
            "--admindir={}",
            root.join("var/lib/dpkg").display()
        ))
        .args(["-W", "-f", "${Package} ${Version} ${Status}\n"]))
}
