//! The synthetic MN holds every hard case with the exact property a snapshot
//! must preserve, is the same for the same seed, and stays small at `small`.

use std::collections::HashMap;
use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use xcatport::fixture::{self, accounts, listing, Family, FixtureReport, Scale, Spec};

fn build(family: Family, seed: u64) -> (tempfile::TempDir, FixtureReport) {
    let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
    let dir = tmp.path().join("mn");
    let report = fixture::build(&dir, &Spec::new(Scale::Small, family, seed)).unwrap();
    (tmp, report)
}

/// `name:x:id:…` lines of the fixture's own passwd or group, id → name.
fn names_by_id(root: &Path, file: &str) -> HashMap<u32, String> {
    fs::read_to_string(root.join("etc").join(file))
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f[2].parse().unwrap(), f[0].to_string())
        })
        .collect()
}

fn meta(root: &Path, rel: &Path) -> fs::Metadata {
    fs::symlink_metadata(root.join(rel)).unwrap_or_else(|e| panic!("{}: {e}", rel.display()))
}

#[test]
fn owners_map_to_the_expected_names_through_the_fixtures_passwd() {
    for family in [Family::Rhel, Family::Sles, Family::Ubuntu] {
        let (_tmp, r) = build(family, 1);
        let users = names_by_id(&r.root, "passwd");
        let groups = names_by_id(&r.root, "group");
        let site = &r.hard_cases.site_owned;
        let m = meta(&r.root, &site.path);
        assert_eq!((m.uid(), m.gid()), (5123, 5124));
        assert_eq!(users[&m.uid()], "hpcadmin");
        assert_eq!(groups[&m.gid()], "hpcgrp");
        assert!(r.hard_cases.service_owned.len() >= 4);
        for o in &r.hard_cases.service_owned {
            let m = meta(&r.root, &o.path);
            assert_eq!(users[&m.uid()], o.user, "{family:?} {}", o.path.display());
            assert_eq!(groups[&m.gid()], o.group, "{family:?} {}", o.path.display());
            assert_ne!(m.uid(), 0, "{}", o.path.display());
            // The bare target of the same family knows the name under another number.
            let bare = accounts::bare_accounts(family);
            let there = bare.iter().find(|a| a.user == o.user).unwrap();
            assert_ne!(there.uid, m.uid(), "{family:?} {}", o.user);
        }
    }
}

#[test]
fn web_dns_and_dhcp_files_belong_to_the_familys_service_names() {
    let expect = [
        (
            Family::Rhel,
            "install/custom/www/index.html",
            "apache",
            "var/named/db.cluster.example.com",
            "named",
            "var/lib/dhcpd/dhcpd.leases",
        ),
        (
            Family::Sles,
            "install/custom/www/index.html",
            "wwwrun",
            "var/lib/named/db.cluster.example.com",
            "named",
            "var/lib/dhcp/db/dhcpd.leases",
        ),
        (
            Family::Ubuntu,
            "install/custom/www/index.html",
            "www-data",
            "var/lib/bind/db.cluster.example.com",
            "bind",
            "var/lib/dhcp/dhcpd.leases",
        ),
    ];
    for (family, web_file, web_user, zone, dns_user, leases) in expect {
        let (_tmp, r) = build(family, 1);
        let users = names_by_id(&r.root, "passwd");
        let owner = |rel: &str| users[&meta(&r.root, Path::new(rel)).uid()].clone();
        assert_eq!(owner(web_file), web_user);
        assert_eq!(owner(zone), dns_user);
        assert_eq!(owner(leases), "dhcpd");
        assert_eq!(owner("home/conserver/.xcat/client-key.pem"), "conserver");
    }
}

#[test]
fn symlinks_keep_relative_absolute_and_dangling_targets() {
    let (_tmp, r) = build(Family::Rhel, 1);
    let h = &r.hard_cases;
    let rel = &h.relative_symlink;
    assert!(meta(&r.root, &rel.path).file_type().is_symlink());
    assert_eq!(
        fs::read_link(r.root.join(&rel.path)).unwrap(),
        Path::new("compute.pkglist")
    );
    assert!(r
        .root
        .join(rel.path.parent().unwrap())
        .join(&rel.target)
        .is_file());

    let abs = &h.absolute_symlink;
    let target = fs::read_link(r.root.join(&abs.path)).unwrap();
    assert_eq!(target, abs.target);
    assert!(target.is_absolute(), "{}", target.display());
    assert!(target.starts_with("/install/kits/"));
    // Inside the MN's namespace the target exists.
    assert!(r.root.join(target.strip_prefix("/").unwrap()).is_dir());

    let dangling = &h.dangling_symlink;
    let target = fs::read_link(r.root.join(&dangling.path)).unwrap();
    assert_eq!(target, dangling.target);
    assert!(!r.root.join(target.strip_prefix("/").unwrap()).exists());
    assert_eq!(
        r.symlinks, 5,
        "rhel has relative, absolute, dangling, the rootimg tool-link and merged-/usr bin"
    );
}

#[test]
fn hardlink_pair_is_one_inode_with_two_names() {
    let (_tmp, r) = build(Family::Rhel, 1);
    let (a, b) = &r.hard_cases.hardlink_pair;
    let (ma, mb) = (meta(&r.root, a), meta(&r.root, b));
    assert!(ma.is_file());
    assert_eq!((ma.dev(), ma.ino()), (mb.dev(), mb.ino()));
    assert_eq!(ma.nlink(), 2);
    assert_ne!(a, b);
    assert!(fs::read_to_string(r.root.join(a))
        .unwrap()
        .starts_with("-----BEGIN CERTIFICATE-----"));
}

#[test]
fn xattr_file_carries_the_attribute() {
    let (_tmp, r) = build(Family::Sles, 1);
    let x = &r.hard_cases.xattr_file;
    assert_eq!(x.name, "user.xcatport.test");
    let value = xattr::get(r.root.join(&x.path), &x.name).unwrap();
    assert_eq!(value.as_deref(), Some(&b"fixture-xattr-1"[..]));
}

#[test]
fn sparse_file_has_holes_and_its_data_regions() {
    let (_tmp, r) = build(Family::Ubuntu, 1);
    let s = &r.hard_cases.sparse_file;
    let m = meta(&r.root, &s.path);
    assert_eq!(m.len(), 64 * 1024 * 1024);
    assert_eq!(m.len(), s.len);
    assert!(
        m.blocks() * 512 < 1024 * 1024,
        "allocated {} bytes",
        m.blocks() * 512
    );
    let mut f = fs::File::open(r.root.join(&s.path)).unwrap();
    let mut buf = vec![0u8; 4096];
    f.read_exact(&mut buf).unwrap();
    assert!(buf.iter().all(|&b| b == 0x55));
    f.seek(SeekFrom::Start(s.regions[1].0)).unwrap();
    f.read_exact(&mut buf).unwrap();
    assert!(buf.iter().all(|&b| b == 0xAA));
    f.seek(SeekFrom::Start(32 * 1024 * 1024)).unwrap();
    f.read_exact(&mut buf).unwrap();
    assert!(buf.iter().all(|&b| b == 0), "a hole reads as zeros");
}

#[test]
fn odd_names_exist_with_their_exact_bytes() {
    let (_tmp, r) = build(Family::Rhel, 1);
    let h = &r.hard_cases;
    let spaced = h.name_with_spaces.file_name().unwrap();
    assert_eq!(spaced.as_bytes(), b"compute partition (old layout).txt");
    assert!(meta(&r.root, &h.name_with_spaces).is_file());

    let odd = h.non_utf8_name.file_name().unwrap();
    assert_eq!(odd.as_bytes(), b"notes-r\xe9seau-\xe9t\xe9.txt");
    assert!(odd.to_str().is_none(), "must not be valid UTF-8");
    assert!(meta(&r.root, &h.non_utf8_name).is_file());
    // It is found by listing its directory, not only by the name we know.
    let dir = r.root.join(h.non_utf8_name.parent().unwrap());
    assert!(fs::read_dir(dir)
        .unwrap()
        .any(|e| e.unwrap().file_name() == odd));
}

#[test]
fn empty_dirs_and_odd_modes_are_exact() {
    let (_tmp, r) = build(Family::Rhel, 1);
    let h = &r.hard_cases;
    assert!(h
        .empty_dirs
        .iter()
        .any(|d| d == Path::new("var/log/consoles")));
    for d in &h.empty_dirs {
        assert!(meta(&r.root, d).is_dir(), "{}", d.display());
        assert_eq!(
            fs::read_dir(r.root.join(d)).unwrap().count(),
            0,
            "{}",
            d.display()
        );
    }
    let setgid = meta(&r.root, &h.setgid_dir);
    assert_eq!(setgid.permissions().mode() & 0o7777, 0o2775);
    assert_eq!(setgid.gid(), 5124);
    let sticky = meta(&r.root, &h.sticky_dir);
    assert_eq!(sticky.permissions().mode() & 0o7777, 0o1777);
    assert_eq!(h.sticky_dir, PathBuf::from("install/tmp"));
}

#[test]
fn secrets_are_0600_and_their_dirs_closed() {
    let (_tmp, r) = build(Family::Rhel, 1);
    let secrets = &r.hard_cases.secrets;
    for want in [
        "etc/xcat/ca/private/ca-key.pem",
        "etc/xcat/cert/server-key.pem",
        "etc/xcat/cert/server-cred.pem",
        "root/.xcat/client-key.pem",
        "root/.xcat/client-cred.pem",
        "home/conserver/.xcat/client-key.pem",
        "root/.ssh/id_rsa",
        "etc/xcat/hostkeys/ssh_host_rsa_key",
        "etc/xcat/hostkeys/ssh_host_ecdsa_key",
        "etc/xcat/hostkeys/ssh_host_ed25519_key",
    ] {
        assert!(
            secrets.iter().any(|s| s == Path::new(want)),
            "{want} not listed"
        );
    }
    for s in secrets {
        let m = meta(&r.root, s);
        assert_eq!(m.permissions().mode() & 0o7777, 0o600, "{}", s.display());
        let text = fs::read_to_string(r.root.join(s)).unwrap();
        assert!(
            text.starts_with("-----BEGIN ") || text.starts_with("ssh-"),
            "{}",
            s.display()
        );
    }
    for dir in ["etc/xcat/ca/private", "root/.xcat", "root/.ssh"] {
        assert_eq!(
            meta(&r.root, Path::new(dir)).permissions().mode() & 0o7777,
            0o700,
            "{dir}"
        );
    }
    // Public halves stay readable.
    assert_eq!(
        meta(&r.root, Path::new("etc/xcat/cert/ca.pem"))
            .permissions()
            .mode()
            & 0o777,
        0o644
    );
}

#[test]
fn each_family_has_its_own_service_and_repo_paths() {
    let cases: [(Family, &str, &[&str]); 3] = [
        (
            Family::Rhel,
            "ID=\"rhel\"",
            &[
                "etc/dhcp/dhcpd.conf",
                "etc/named.conf",
                "etc/httpd/conf.d/xcat.conf",
                "etc/yum.repos.d/xcat-core.repo",
                "install/xcat/xcat-core/repodata/repomd.xml",
                "install/rhels8.6",
            ],
        ),
        (
            Family::Sles,
            "ID=\"sles\"",
            &[
                "etc/dhcpd.conf",
                "etc/named.conf",
                "etc/apache2/conf.d/xcat.conf",
                "etc/zypp/repos.d/xcat-dep.repo",
                "install/xcat/xcat-core/repodata/repomd.xml",
                "install/sle15.5",
            ],
        ),
        (
            Family::Ubuntu,
            "ID=ubuntu",
            &[
                "etc/dhcp/dhcpd.conf",
                "etc/bind/named.conf",
                "etc/apache2/conf-enabled/xcat.conf",
                "etc/apt/sources.list.d/xcat-core.list",
                "install/xcat/xcat-core/dists/jammy/Release",
                "install/ubuntu22.04.3",
                "var/lib/dpkg/status",
            ],
        ),
    ];
    for (family, id, paths) in cases {
        let (_tmp, r) = build(family, 1);
        let os = fs::read_to_string(r.root.join("etc/os-release")).unwrap();
        assert!(os.lines().any(|l| l == id), "{family:?}: {os}");
        for common in [
            "etc/conserver.cf",
            "etc/exports",
            "etc/hosts",
            "etc/resolv.conf",
            "etc/xCATMN",
            "tftpboot/xcat/xnba.kpxe",
        ] {
            assert!(r.root.join(common).exists(), "{family:?} lacks {common}");
        }
        for p in paths {
            assert!(r.root.join(p).exists(), "{family:?} lacks {p}");
        }
        let hosts = fs::read_to_string(r.root.join("etc/hosts")).unwrap();
        assert!(
            hosts.contains("10.0.1.20    n20.cluster.example.com n20\n"),
            "{hosts}"
        );
        let exports = fs::read_to_string(r.root.join("etc/exports")).unwrap();
        assert!(exports.contains("/install *(rw,no_root_squash"));
    }
}

#[test]
fn install_tree_has_media_profiles_images_and_repos() {
    let (_tmp, r) = build(Family::Rhel, 1);
    let arch = fixture::host_arch();
    let media = r
        .root
        .join(format!("install/rhels8.6/{arch}/BaseOS/Packages"));
    let pkgs: Vec<_> = fs::read_dir(&media)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(
        pkgs.len(),
        20,
        "half of the 40 small-scale packages in BaseOS"
    );
    // Packages are incompressible, rootimg files compress like text.
    let ratio = |p: &Path| {
        let data = fs::read(p).unwrap();
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&data).unwrap();
        z.finish().unwrap().len() as f64 / data.len() as f64
    };
    assert!(
        ratio(&pkgs[0]) > 0.99,
        "package compressed to {}",
        ratio(&pkgs[0])
    );
    let netboot = r
        .root
        .join(format!("install/netboot/rhels8.6/{arch}/compute"));
    for f in ["kernel", "initrd-stateless.gz", "rootimg.cpio.gz"] {
        assert!(netboot.join(f).is_file(), "{f}");
    }
    let rootimg_files = walkdir::WalkDir::new(netboot.join("rootimg"))
        .into_iter()
        .filter(|e| e.as_ref().unwrap().file_type().is_file())
        .count();
    assert_eq!(rootimg_files, 202, "200 generated plus hostname and fstab");
    assert!(ratio(&netboot.join("rootimg/etc/file8.conf")) < 0.6);
    for p in [
        "install/custom/netboot/rh/compute.pkglist",
        "install/custom/install/rh/compute.rhels8.tmpl",
        "install/postscripts/syslog",
    ] {
        assert!(r.root.join(p).is_file(), "{p}");
    }
    assert_eq!(
        meta(&r.root, Path::new("install/postscripts/syslog"))
            .permissions()
            .mode()
            & 0o777,
        0o755
    );
}

#[test]
fn same_seed_gives_the_same_tree_and_another_seed_differs() {
    let (_a, ra) = build(Family::Rhel, 42);
    let (_b, rb) = build(Family::Rhel, 42);
    let (_c, rc) = build(Family::Rhel, 43);
    let la = listing::listing(&ra.root).unwrap();
    let lb = listing::listing(&rb.root).unwrap();
    assert_eq!(la, lb);
    assert_eq!(la.len() as u64, ra.files + ra.dirs + ra.symlinks);
    assert_ne!(la, listing::listing(&rc.root).unwrap());
    // The listing really covers xattrs, owners and link targets.
    let joined = la.join("\n");
    assert!(
        joined.contains("user.xcatport.test=")
            && joined.contains(" 5123:5124 ")
            && joined.contains("->compute.pkglist")
    );
    assert!(joined.contains("notes-r\\xe9seau-\\xe9t\\xe9.txt"));
}

#[test]
fn small_scale_stays_small() {
    let (_tmp, r) = build(Family::Rhel, 1);
    assert!((300..=1000).contains(&r.files), "{} files", r.files);
    let data = r.bytes - r.hard_cases.sparse_file.len;
    assert!((2_000_000..=12_000_000).contains(&data), "{data} bytes");
    let totals = listing::totals(&r.root).unwrap();
    assert_eq!((totals.files, totals.bytes), (r.files, r.bytes));
}

#[test]
fn bare_target_has_the_names_under_other_numbers() {
    let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
    let spec = Spec::new(Scale::Small, Family::Rhel, 1);
    fixture::build_bare(tmp.path(), &spec).unwrap();
    let users = names_by_id(tmp.path(), "passwd");
    assert_eq!(users[&0], "root");
    assert!(
        !users.contains_key(&48),
        "apache must not be 48 on the bare target"
    );
    assert_eq!(users.values().filter(|n| *n == "apache").count(), 1);
    assert!(fs::read_to_string(tmp.path().join("etc/os-release"))
        .unwrap()
        .contains("VERSION_ID=\"8.6\""));
}
