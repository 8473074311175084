//! Repos with real deb tools: small xCAT-named debs built with dpkg-deb,
//! flat repos indexed by dpkg-scanpackages, then find → pack → register →
//! install with `dpkg --root` into a fresh root, checked with dpkg-query.

use std::path::Path;
use std::process::Command;

use xcatport::mn::packages::PackageFormat;
use xcatport::mn::{Family, PackageManager, Root};
use xcatport::repo::{self, RepoKind, Sources};

mod import_support;
use import_support::deb::{
    add_apt_sources, build_deb, dpkg_db, flat_repo, sh, status_entry, write_file,
};

const V: &str = "2.16.5-snap202304201112";

fn tmp() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("xcatport-repo-deb.")
        .tempdir_in("/var/tmp")
        .unwrap()
}

/// A fresh root dpkg can install into.
fn fresh_dpkg_root(dir: &Path) {
    write_file(dir, "etc/os-release", "ID=ubuntu\nVERSION_ID=\"22.04\"\n");
    dpkg_db(dir, "");
}

#[test]
fn flat_deb_repos_find_pack_register_install_with_dpkg() {
    let work = tmp();
    let w = work.path();
    let core = [
        build_deb(
            w,
            "xcat",
            V,
            "xcat-server, xcat-client, xcat-dep-stub (>= 1.0)",
        ),
        build_deb(w, "xcat-server", V, "perl-xcat"),
        build_deb(w, "xcat-client", V, "perl-xcat"),
        build_deb(w, "perl-xcat", V, ""),
    ];
    let dep = build_deb(w, "xcat-dep-stub", "1.0-1", "");

    let src = w.join("src");
    write_file(&src, "etc/os-release", "ID=ubuntu\nVERSION_ID=\"22.04\"\n");
    flat_repo(
        &src.join("install/xcat/xcat-core"),
        &core.iter().collect::<Vec<_>>(),
    );
    flat_repo(&src.join("install/xcat/xcat-dep"), &[&dep]);
    add_apt_sources(&src);
    write_file(
        &src,
        "etc/apt/sources.list",
        "deb http://archive.ubuntu.com/ubuntu jammy main universe\n",
    );
    let mut status: String = ["xcat", "xcat-server", "xcat-client", "perl-xcat"]
        .iter()
        .map(|n| status_entry(n, V))
        .collect();
    status.push_str(&status_entry("xcat-dep-stub", "1.0-1"));
    status.push_str(&status_entry("bash", "5.1-6ubuntu1"));
    write_file(&src, "var/lib/dpkg/status", &status);

    let root = Root::open(&src).unwrap();
    let repos = repo::find(&root, PackageFormat::Deb, &Sources::default()).unwrap();
    let names: Vec<&str> = repos.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["xcat-core", "xcat-dep"]);
    assert_eq!(repos[0].kind, RepoKind::Deb);
    assert_eq!(repos[0].gpgcheck, Some(false));
    assert_eq!(repos[0].packages.len(), 4);
    assert_eq!(
        repos[1].gpgkeys[0].member.as_deref(),
        Some("keys/xcat-dep/xcat-dep.gpg")
    );

    let tar = w.join("stick/xcat-rpms.tar");
    std::fs::create_dir_all(tar.parent().unwrap()).unwrap();
    repo::pack(&repos, std::fs::File::create(&tar).unwrap()).unwrap();
    // Split into volumes as on a FAT32 stick: register reads them in order.
    let bytes = std::fs::read(&tar).unwrap();
    let half = bytes.len() / 2;
    std::fs::write(w.join("stick/xcat-rpms.tar.000"), &bytes[..half]).unwrap();
    std::fs::write(w.join("stick/xcat-rpms.tar.001"), &bytes[half..]).unwrap();
    std::fs::remove_file(&tar).unwrap();

    let new = w.join("new");
    fresh_dpkg_root(&new);
    let new_root = Root::open(&new).unwrap();
    let reg = repo::register(&new_root, &tar, Family::Ubuntu).unwrap();
    assert_eq!(
        std::fs::read_to_string(new.join("etc/apt/sources.list.d/xcatport-xcat-core.list")).unwrap(),
        "# Written by xcatport: xcat-core from /etc/apt/sources.list.d/xcat-core.list (file:///install/xcat/xcat-core).\n\
         deb [trusted=yes] file:/var/lib/xcatport/repos/xcat-core ./\n"
    );
    assert_eq!(
        std::fs::read_to_string(new.join("etc/apt/sources.list.d/xcatport-xcat-dep.list")).unwrap(),
        "# Written by xcatport: xcat-dep from /etc/apt/sources.list.d/xcat-dep.sources (file:/install/xcat/xcat-dep).\n\
         deb [signed-by=/var/lib/xcatport/repo-keys/xcat-dep/xcat-dep.gpg] file:/var/lib/xcatport/repos/xcat-dep ./\n"
    );
    assert_eq!(reg.repos.len(), 2);

    repo::install(&new_root, PackageManager::Apt, &["xcat".to_string()]).unwrap();
    let q = sh(Command::new("dpkg-query").arg("--root").arg(&new).args([
        "-W",
        "-f",
        "${Package} ${Version} ${Status}\n",
    ]));
    assert_eq!(
        q,
        format!(
            "perl-xcat {V} install ok installed\nxcat {V} install ok installed\n\
             xcat-client {V} install ok installed\nxcat-dep-stub 1.0-1 install ok installed\n\
             xcat-server {V} install ok installed\n"
        )
    );
    assert_eq!(
        std::fs::read_to_string(new.join("opt/xcat-test/xcat")).unwrap(),
        format!("xcat {V}\n")
    );
}

#[test]
fn deb_repo_missing_a_package_stops_the_export() {
    let work = tmp();
    let w = work.path();
    let xcat = build_deb(w, "xcat", V, "");
    let src = w.join("src");
    flat_repo(&src.join("srv/xcat"), &[&xcat]);
    write_file(
        &src,
        "etc/apt/sources.list.d/xcat.list",
        "deb [trusted=yes] file:/srv/xcat ./\n",
    );
    write_file(
        &src,
        "var/lib/dpkg/status",
        &format!(
            "{}{}",
            status_entry("xcat", V),
            status_entry("perl-xcat", V)
        ),
    );
    let root = Root::open(&src).unwrap();
    let e = repo::find(&root, PackageFormat::Deb, &Sources::default())
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        format!(
            "no local package repository holds these installed packages at their installed version: \
             perl-xcat {V} all; pass the directory that holds them with --rpms DIR"
        )
    );
}

/// A tar with the given (name, data) members, written without path checks.
fn raw_tar(path: &Path, members: &[(&str, &[u8])]) {
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    for (name, data) in members {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        // set_path refuses "..": write the name bytes directly, as an attacker would.
        let gnu = h.as_gnu_mut().unwrap();
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.finish().unwrap();
}

#[test]
fn hostile_stick_members_are_refused() {
    let work = tmp();
    let w = work.path();
    let index = br#"{"format":1,"repos":[{"name":"xcat-core","kind":"deb","found_in":"x","baseurl":"file:/x","enabled":true,"gpgcheck":false,"repo_gpgcheck":null,"pkg_gpgcheck":null,"gpgkeys":[],"deb":{"uri":"file:/x","suite":"./","components":[],"options":[],"line":1},"packages":[]}]}"#;
    let new = w.join("new");
    fresh_dpkg_root(&new);
    let root = Root::open(&new).unwrap();
    let cases: [(&str, &[u8], &str); 3] = [
        (
            "repos/xcat-core/../../../../etc/passwd",
            b"x",
            "\"..\" is not allowed",
        ),
        (
            "repos/other/Packages",
            b"x",
            "belongs to no repo in xcatport-repos.json",
        ),
        ("etc/shadow", b"x", "only repos/… and keys/… are accepted"),
    ];
    for (member, data, want) in cases {
        let tar = w.join("evil.tar");
        raw_tar(&tar, &[("xcatport-repos.json", index), (member, data)]);
        let e = repo::register(&root, &tar, Family::Ubuntu)
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{member}: {e}");
    }
    assert!(!w.join("etc/passwd").exists());
    assert!(!new.join("etc/shadow").exists());
    // A refused stick leaves nothing behind.
    assert!(!new.join("var/lib/xcatport/repos/xcat-core").exists());

    let bad_name = String::from_utf8_lossy(index).replace("xcat-core", "../up");
    let tar = w.join("evil.tar");
    raw_tar(&tar, &[("xcatport-repos.json", bad_name.as_bytes())]);
    let e = repo::register(&root, &tar, Family::Ubuntu)
        .unwrap_err()
        .to_string();
    assert!(
        e.ends_with("repo name \"../up\" is not a plain name"),
        "{e}"
    );

    // An rpm family cannot take deb repos.
    raw_tar(&tar, &[("xcatport-repos.json", index)]);
    let e = repo::register(&root, &tar, Family::Rhel)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "repo xcat-core is a Deb repository; a rhel MN cannot use it"
    );
}
