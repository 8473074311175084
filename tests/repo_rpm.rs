//! Repos with real rpm tools: small xCAT-named RPMs built with rpmbuild,
//! repos made by createrepo_c, an rpm database made by rpm, then
//! find → pack → register → install with `dnf --installroot` and
//! `zypper --root` into fresh roots, checked with `rpm -q`.

use std::path::{Path, PathBuf};
use std::process::Command;

use xcatport::mn::packages::PackageFormat;
use xcatport::mn::{Family, PackageManager, Root};
use xcatport::repo::{self, RepoKind, Sources};

mod import_support;
use import_support::rpm::{
    build_all, build_rpm, make_repo, record_installed, rpm_q, sh, write_file, Rpms, XCAT_RELEASE,
    XCAT_VERSION,
};

fn tmp() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("xcatport-repo-rpm.")
        .tempdir_in("/var/tmp")
        .unwrap()
}

fn os_release(root: &Path, id: &str, version: &str) {
    write_file(
        root,
        "etc/os-release",
        &format!("ID={id}\nVERSION_ID=\"{version}\"\nPRETTY_NAME=\"{id} {version}\"\n"),
    );
}

/// A source MN: xcat-core and xcat-dep repos under /install with yum repo
/// files, an unrelated local OS repo, and the packages in its rpm database.
fn source_mn(work: &Path, rpms: &Rpms, core_in_repo: &[&PathBuf]) -> PathBuf {
    let src = work.join("src");
    os_release(&src, "rocky", "9.4");
    make_repo(&src.join("install/xcat/xcat-core"), core_in_repo);
    make_repo(&src.join("install/xcat/xcat-dep/rh9/noarch"), &[&rpms.dep]);
    let unrelated = build_rpm(work, "bash-test", None, "5.1", &[]);
    make_repo(&src.join("install/rocky9.4/x86_64/BaseOS"), &[&unrelated]);
    write_file(&src, "etc/pki/rpm-gpg/RPM-GPG-KEY-xcat-dep", "dep key\n");
    write_file(
        &src,
        "etc/yum.repos.d/xcat-core.repo",
        "[xcat-core]\nname=xCAT 2 Core packages\nbaseurl=file:///install/xcat/xcat-core\nenabled=1\ngpgcheck=0\n",
    );
    write_file(
        &src,
        "etc/yum.repos.d/xcat-dep.repo",
        "[xcat-dep]\nname=xCAT 2 depedencies\nbaseurl=file:///install/xcat/xcat-dep/rh$releasever/noarch\nenabled=1\ngpgcheck=0\nrepo_gpgcheck=0\ngpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-xcat-dep\n",
    );
    write_file(
        &src,
        "etc/yum.repos.d/rocky-media.repo",
        "[media-baseos]\nbaseurl=file:///install/rocky9.4/x86_64/BaseOS\ngpgcheck=1\n",
    );
    write_file(
        &src,
        "etc/yum.repos.d/epel.repo",
        "[epel]\nmetalink=https://mirrors.fedoraproject.org/x\nbaseurl=https://example.org/epel\n",
    );
    record_installed(&src, rpms);
    src
}

fn export(work: &Path, src: &Path) -> PathBuf {
    let root = Root::open(src).unwrap();
    let repos = repo::find(&root, PackageFormat::Rpm, &Sources::default()).unwrap();
    let names: Vec<&str> = repos.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["xcat-core", "xcat-dep"]);
    let tar = work.join("stick/xcat-rpms.tar");
    std::fs::create_dir_all(tar.parent().unwrap()).unwrap();
    repo::pack(&repos, std::fs::File::create(&tar).unwrap()).unwrap();
    tar
}

#[test]
fn find_pack_register_install_with_dnf() {
    let work = tmp();
    let rpms = build_all(work.path());
    let core: Vec<&PathBuf> = rpms.core.iter().collect();
    let src = source_mn(work.path(), &rpms, &core);
    let root = Root::open(&src).unwrap();

    let repos = repo::find(&root, PackageFormat::Rpm, &Sources::default()).unwrap();
    let core_repo = &repos[0];
    assert_eq!(core_repo.kind, RepoKind::RpmMd);
    assert_eq!(core_repo.found_in, "/etc/yum.repos.d/xcat-core.repo");
    assert_eq!(core_repo.baseurl, "file:///install/xcat/xcat-core");
    assert_eq!(core_repo.gpgcheck, Some(false));
    let mut pk: Vec<String> = core_repo
        .packages
        .iter()
        .map(|p| format!("{} {} {}", p.name, p.version, p.arch))
        .collect();
    pk.sort();
    assert_eq!(
        pk,
        [
            format!("perl-xCAT 4:{XCAT_VERSION}-{XCAT_RELEASE} noarch"),
            format!("xCAT {XCAT_VERSION}-{XCAT_RELEASE} noarch"),
            format!("xCAT-client 4:{XCAT_VERSION}-{XCAT_RELEASE} noarch"),
            format!("xCAT-server 4:{XCAT_VERSION}-{XCAT_RELEASE} noarch"),
        ]
    );
    let dep = &repos[1];
    assert_eq!(
        dep.baseurl,
        "file:///install/xcat/xcat-dep/rh$releasever/noarch"
    );
    assert_eq!(dep.gpgkeys.len(), 1);
    assert_eq!(
        dep.gpgkeys[0].member.as_deref(),
        Some("keys/xcat-dep/RPM-GPG-KEY-xcat-dep")
    );

    let tar = export(work.path(), &src);
    let listing = sh(Command::new("tar").arg("-tf").arg(&tar));
    let members: Vec<&str> = listing.lines().collect();
    assert_eq!(members[0], "xcatport-repos.json");
    assert!(members.contains(&"repos/xcat-core/repodata/repomd.xml"));
    assert!(members.contains(&"repos/xcat-core/xCAT-2.16.5-snap202301011200.noarch.rpm"));
    assert!(members.contains(&"repos/xcat-dep/xcat-dep-stub-1.0-snap202301011200.noarch.rpm"));
    assert!(members.contains(&"keys/xcat-dep/RPM-GPG-KEY-xcat-dep"));
    assert!(
        !members.iter().any(|m| m.contains("bash-test")),
        "{members:?}"
    );

    let new = work.path().join("new");
    os_release(&new, "rocky", "9.4");
    let new_root = Root::open(&new).unwrap();
    let reg = repo::register(&new_root, &tar, Family::Rhel).unwrap();
    assert_eq!(reg.repos.len(), 2);
    assert_eq!(
        reg.repos[1].definition.to_string(),
        "/etc/yum.repos.d/xcatport-xcat-dep.repo"
    );
    assert_eq!(
        std::fs::read_to_string(new.join("etc/yum.repos.d/xcatport-xcat-dep.repo")).unwrap(),
        "# Written by xcatport: xcat-dep from /etc/yum.repos.d/xcat-dep.repo (baseurl file:///install/xcat/xcat-dep/rh$releasever/noarch).\n\
         [xcatport-xcat-dep]\nname=xCAT packages: xcat-dep (restored by xcatport)\n\
         baseurl=file:///var/lib/xcatport/repos/xcat-dep\nenabled=1\ngpgcheck=0\nrepo_gpgcheck=0\n\
         gpgkey=file:///var/lib/xcatport/repo-keys/xcat-dep/RPM-GPG-KEY-xcat-dep\n"
    );
    assert_eq!(
        std::fs::read(new.join("var/lib/xcatport/repo-keys/xcat-dep/RPM-GPG-KEY-xcat-dep"))
            .unwrap(),
        b"dep key\n"
    );
    assert_eq!(
        std::fs::read(
            new.join("var/lib/xcatport/repos/xcat-core/xCAT-2.16.5-snap202301011200.noarch.rpm")
        )
        .unwrap(),
        std::fs::read(&rpms.core[0]).unwrap()
    );
    let created: Vec<String> = reg.created.iter().map(|c| c.to_string()).collect();
    assert!(created.contains(&"/var/lib/xcatport/repos/xcat-core".to_string()));
    assert!(created.contains(&"/etc/yum.repos.d/xcatport-xcat-core.repo".to_string()));

    // Registering again (a resumed restore) replaces rather than fails.
    repo::register(&new_root, &tar, Family::Rhel).unwrap();

    let pkgs: Vec<String> = ["xCAT", "xCAT-client"].map(String::from).to_vec();
    repo::install(&new_root, PackageManager::Dnf, &pkgs).unwrap();
    assert_eq!(
        rpm_q(&new, "xCAT"),
        format!("(none):{XCAT_VERSION}-{XCAT_RELEASE}")
    );
    assert_eq!(
        rpm_q(&new, "xCAT-server"),
        format!("4:{XCAT_VERSION}-{XCAT_RELEASE}")
    );
    assert_eq!(
        rpm_q(&new, "xcat-dep-stub"),
        format!("(none):1.0-{XCAT_RELEASE}")
    );
    assert_eq!(
        std::fs::read_to_string(new.join("opt/xcat-test/xCAT")).unwrap(),
        "xCAT 2.16.5\n"
    );

    // A package no repo has: the error names the command and dnf's reason.
    let e = repo::install(
        &new_root,
        PackageManager::Dnf,
        &["xCAT-nonesuch".to_string()],
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("dnf --installroot="), "{e}");
    assert!(e.contains("xCAT-nonesuch"), "{e}");
}

#[test]
fn register_and_install_with_zypper() {
    let work = tmp();
    let rpms = build_all(work.path());
    let core: Vec<&PathBuf> = rpms.core.iter().collect();
    let src = source_mn(work.path(), &rpms, &core);
    let tar = export(work.path(), &src);

    let new = work.path().join("new");
    os_release(&new, "sles", "15.5");
    let new_root = Root::open(&new).unwrap();
    let reg = repo::register(&new_root, &tar, Family::Sles).unwrap();
    assert_eq!(
        reg.repos[0].definition.to_string(),
        "/etc/zypp/repos.d/xcatport-xcat-core.repo"
    );
    let def =
        std::fs::read_to_string(new.join("etc/zypp/repos.d/xcatport-xcat-core.repo")).unwrap();
    assert!(
        def.contains("\nbaseurl=dir:///var/lib/xcatport/repos/xcat-core\n"),
        "{def}"
    );
    assert!(
        def.contains("\ntype=rpm-md\n") && def.contains("\ngpgcheck=0\n"),
        "{def}"
    );

    repo::install(&new_root, PackageManager::Zypper, &["xCAT".to_string()]).unwrap();
    assert_eq!(
        rpm_q(&new, "xCAT"),
        format!("(none):{XCAT_VERSION}-{XCAT_RELEASE}")
    );
    assert_eq!(
        rpm_q(&new, "perl-xCAT"),
        format!("4:{XCAT_VERSION}-{XCAT_RELEASE}")
    );
    assert!(new.join("opt/xcat-test/xcat-dep-stub").is_file());
}

#[test]
fn missing_and_wrong_version_packages_stop_the_export() {
    let work = tmp();
    let rpms = build_all(work.path());
    let newer_client = build_rpm(work.path(), "xCAT-client", Some(4), "2.16.6", &[]);
    // The repo lacks perl-xCAT and has another xCAT-client than installed.
    let in_repo = vec![&rpms.core[0], &rpms.core[1], &newer_client];
    let src = source_mn(work.path(), &rpms, &in_repo);
    let root = Root::open(&src).unwrap();
    let e = repo::find(&root, PackageFormat::Rpm, &Sources::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(&format!(
            "no local package repository holds these installed packages at their installed version: \
             perl-xCAT 4:{XCAT_VERSION}-{XCAT_RELEASE} noarch, xCAT-client 4:{XCAT_VERSION}-{XCAT_RELEASE} noarch; \
             remote repos are not read by this version: epel in /etc/yum.repos.d/epel.repo: https://example.org/epel"
        )),
        "{e}"
    );

    // --rpms with the right packages completes the set.
    let extra = work.path().join("extra");
    make_repo(&extra, &[&rpms.core[2], &rpms.core[3]]);
    let sources = Sources {
        rpms: vec![extra.display().to_string()],
        ..Sources::default()
    };
    let repos = repo::find(&root, PackageFormat::Rpm, &sources).unwrap();
    let names: Vec<&str> = repos.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["rpms-extra", "xcat-core", "xcat-dep"]);

    let url = Sources {
        rpms: vec!["https://xcat.org/files/xcat/repos/yum/latest/xcat-core".into()],
        ..Sources::default()
    };
    let e = repo::find(&root, PackageFormat::Rpm, &url).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().starts_with("--rpms with a URL"), "{e}");
}
