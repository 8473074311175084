//! xcatexport end to end on a synthetic MN: stick layout, checksums with the
//! real sha256sum, MANIFEST.json against the source, standard tools reading
//! the stream, split volumes, and the refusals that must leave nothing valid.

mod export_support;
mod tmpfs_support;

use export_support::*;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use tmpfs_support::Mounted;
use xcatport::app::export::run_with;
use xcatport::plan::Vars;
use xcatport::progress::Hidden;
use xcatport::snapshot::{self, manifest, NoDatabase};
use xcatport::target::ReRead;

const LAYOUT: [&str; 6] = [
    "MANIFEST.json",
    "README.txt",
    "SHA256SUMS",
    "xcat-data.tar.zst",
    "xcat-rpms.tar",
    "xcatimport",
];

#[test]
fn stick_has_the_layout_checksums_pass_and_manifest_matches_the_source() {
    let mn = sample_mn();
    let out = tempfile::tempdir_in("/var/tmp").unwrap();
    let stick = out.path().join("stick");
    let outcome = export(&mn, &stick, &[]).unwrap();
    assert_eq!(listing(&stick), LAYOUT);

    let (ok, stdout, stderr) = sh(&stick, "sha256sum -c SHA256SUMS");
    assert!(ok, "{stdout}{stderr}");
    assert_eq!(stdout.lines().count(), 5, "{stdout}");

    let mut records = Vec::new();
    let head = manifest::read(&stick.join("MANIFEST.json"), &mut |r| {
        records.push(r);
        Ok(())
    })
    .unwrap();
    assert_eq!(head.source.hostname, "mn01");
    assert_eq!(head.profile, "default");
    assert_eq!(head.data.volumes.len(), 1);
    assert_eq!(
        head.data.volumes[0].sha256,
        sha256(&stick.join("xcat-data.tar.zst"))
    );
    assert_eq!(
        head.database
            .iter()
            .map(|t| t.table.as_str())
            .collect::<Vec<_>>(),
        ["nodelist", "site"]
    );
    assert_eq!(outcome.entries, head.data.entries);

    for r in &records {
        let src = mn.root().join(r.rel_path());
        let meta = std::fs::symlink_metadata(&src).unwrap();
        assert_eq!(
            r.mode,
            format!("{:04o}", meta.mode() & 0o7777),
            "{}",
            r.path
        );
        assert_eq!((r.uid, r.gid), (meta.uid(), meta.gid()), "{}", r.path);
        if meta.is_file() {
            assert_eq!(r.size, meta.len(), "{}", r.path);
            assert_eq!(
                r.sha256.as_deref(),
                Some(sha256(&src).as_str()),
                "{}",
                r.path
            );
        }
    }
    let paths: Vec<&str> = records.iter().map(|r| r.path.as_str()).collect();
    let key = records
        .iter()
        .find(|r| r.path == "etc/xcat/ca/private/ca-key.pem")
        .unwrap();
    assert_eq!(
        (key.user.as_deref(), key.group.as_deref(), key.mode.as_str()),
        (Some("xcatadm"), Some("xcatgrp"), "0600")
    );
    assert_eq!(key.section, xcatport::plan::Section::Secrets);
    for gone in [
        "etc/xcat/site.sqlite",
        "install/autoinst/node01",
        "install/netboot/rhels9/x86_64/compute/kernel",
        "install/netboot/rhels9/x86_64/compute/initrd-stateless.gz",
        "install/netboot/rhels9/x86_64/compute/rootimg.cpio.gz",
        "install/netboot/rhels9/x86_64/compute/rootimg/bin/sh",
        "tftpboot/pxelinux.cfg/01-aa-bb",
        "tftpboot/xcat/xnba/nodes/node01",
        "etc/bind/named.conf",
    ] {
        assert!(!paths.contains(&gone), "{gone} must be excluded");
    }
    for kept in [
        "install/netboot/rhels9/x86_64/compute/statelite.table",
        "install/rocky9.4/x86_64/Packages/a.rpm",
        "install/custom/empty",
        "var/lib/dhcpd/dhcpd.leases",
        "tftpboot/xcat/xnba.kpxe",
    ] {
        assert!(paths.contains(&kept), "{kept} must be included");
    }
    let link = records
        .iter()
        .find(|r| r.path == "install/custom/netboot/rh/compute.pkglist.link")
        .unwrap();
    assert_eq!(link.kind, manifest::Kind::Hardlink);
    assert_eq!(
        link.link.as_deref(),
        Some("install/custom/netboot/rh/compute.pkglist")
    );

    // Standard tools read the stream; the DB dump comes first.
    let (ok, list, err) = sh(&stick, "cat xcat-data.tar.zst* | zstd -dc | tar -t");
    assert!(ok, "{err}");
    let members: Vec<&str> = list.lines().collect();
    assert_eq!(
        &members[..4],
        [
            ".xcatport/",
            ".xcatport/db/",
            ".xcatport/db/nodelist.csv",
            ".xcatport/db/site.csv"
        ]
    );
    assert_eq!(members.len() as u64, head.data.entries);

    // GNU tar restores modes, owners, xattrs, hardlinks, sparse files, odd names.
    let x = tempfile::tempdir_in("/var/tmp").unwrap();
    let (ok, _, err) = sh(
        &stick,
        &format!("zstd -dc xcat-data.tar.zst | tar --xattrs --xattrs-include='*' --numeric-owner -xpf - -C {}", x.path().display()),
    );
    assert!(ok, "{err}");
    let img = x.path().join("install/images/disk.img");
    assert_eq!(std::fs::metadata(&img).unwrap().len(), 64 << 20);
    assert_eq!(sha256(&img), sha256(&mn.path("install/images/disk.img")));
    assert_eq!(
        xattr::get(x.path().join("install/postscripts/syslog"), "user.xcatport")
            .unwrap()
            .as_deref(),
        Some(&b"labelled"[..])
    );
    let a = std::fs::metadata(x.path().join("install/custom/netboot/rh/compute.pkglist")).unwrap();
    let b = std::fs::metadata(
        x.path()
            .join("install/custom/netboot/rh/compute.pkglist.link"),
    )
    .unwrap();
    assert_eq!(a.ino(), b.ino());
    let k = std::fs::metadata(x.path().join("etc/xcat/ca/private/ca-key.pem")).unwrap();
    assert_eq!((k.mode() & 0o7777, k.uid(), k.gid()), (0o600, 1001, 1002));
    assert_eq!(
        std::fs::read_link(x.path().join("install/custom/latest")).unwrap(),
        Path::new("netboot/rh/compute.pkglist")
    );
    use std::os::unix::ffi::OsStrExt;
    let odd = x
        .path()
        .join(std::ffi::OsStr::from_bytes(b"install/custom/caf\xe9.txt"));
    assert_eq!(std::fs::read(odd).unwrap(), b"latin-1 name\n");
    assert_eq!(
        std::fs::read_to_string(x.path().join(".xcatport/db/site.csv")).unwrap(),
        "#key,value,comments,disable\n\"master\",\"10.0.0.1\",,\n"
    );

    // Our own verify and reader agree.
    let v = snapshot::verify(&stick).unwrap();
    let mut ar = tar::Archive::new(snapshot::reader::open_data(&v).unwrap());
    assert_eq!(ar.entries().unwrap().count() as u64, head.data.entries);
}

#[test]
fn a_sparse_file_is_not_blown_up_and_xz_and_plain_tar_work() {
    let mn = Mn::empty();
    mn.sparse("install/big.img", 64 << 20)
        .file("install/a", "a\n");
    let out = tempfile::tempdir_in("/var/tmp").unwrap();
    let plain = out.path().join("plain");
    run_with(
        &args(
            &plain,
            mn.root(),
            &import_binary(out.path()),
            &["--compress", "none"],
        ),
        &mut NoDatabase,
        facts(),
        &Vars::default(),
    )
    .unwrap();
    let size = std::fs::metadata(plain.join("xcat-data.tar"))
        .unwrap()
        .len();
    assert!(
        size < 1 << 20,
        "plain tar is {size} bytes for a 64 MiB sparse file"
    );
    let (ok, list, err) = sh(&plain, "tar -tvf xcat-data.tar");
    assert!(ok, "{err}");
    assert!(
        list.contains("67108864") && list.contains("install/big.img"),
        "{list}"
    );

    let xz = out.path().join("xz");
    run_with(
        &args(
            &xz,
            mn.root(),
            &import_binary(out.path()),
            &["--compress", "xz", "--level", "1"],
        ),
        &mut NoDatabase,
        facts(),
        &Vars::default(),
    )
    .unwrap();
    let (ok, list, err) = sh(
        &xz,
        "xz -dc xcat-data.tar.xz | tar -t && sha256sum -c SHA256SUMS >/dev/null",
    );
    assert!(ok, "{err}");
    assert_eq!(list, "install/\ninstall/a\ninstall/big.img\n");
}

/// Writes a snapshot split into several 64 KiB volumes of incompressible data.
fn split_stick(out: &Path) -> std::path::PathBuf {
    let mn = Mn::empty();
    let mut noise = Vec::with_capacity(300_000);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..300_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        noise.push(x as u8);
    }
    mn.file("install/noise.bin", &noise)
        .file("etc/hosts", "h\n");
    let stick = out.join("stick");
    run_with(
        &args(&stick, mn.root(), &import_binary(out), &["--split", "64K"]),
        &mut NoDatabase,
        facts(),
        &Vars::default(),
    )
    .unwrap();
    stick
}

#[test]
fn split_volumes_concatenate_for_standard_tools() {
    let out = tempfile::tempdir_in("/var/tmp").unwrap();
    let stick = split_stick(out.path());
    let names = listing(&stick);
    let vols: Vec<_> = names
        .iter()
        .filter(|n| n.starts_with("xcat-data.tar.zst."))
        .collect();
    assert_eq!(vols.len(), 5, "{names:?}");
    assert_eq!(vols[0], "xcat-data.tar.zst.000");
    for v in &vols[..4] {
        assert_eq!(std::fs::metadata(stick.join(v)).unwrap().len(), 65536);
    }
    assert!(
        names.contains(&"xcat-rpms.tar.000".to_string()),
        "{names:?}"
    );
    let (ok, list, err) = sh(
        &stick,
        "sha256sum -c SHA256SUMS >/dev/null && cat xcat-data.tar.zst.* | zstd -dc | tar -t",
    );
    assert!(ok, "{err}");
    assert_eq!(list, "etc/hosts\ninstall/\ninstall/noise.bin\n");
    snapshot::verify(&stick).unwrap();
}

#[test]
fn verify_refuses_missing_extra_truncated_and_swapped_volumes() {
    let out = tempfile::tempdir_in("/var/tmp").unwrap();
    let stick = split_stick(out.path());
    let v1 = stick.join("xcat-data.tar.zst.001");
    let v2 = stick.join("xcat-data.tar.zst.002");
    let copy = tempfile::tempdir_in("/var/tmp").unwrap();
    let keep = |p: &Path| std::fs::copy(p, copy.path().join(p.file_name().unwrap())).unwrap();
    keep(&v1);
    keep(&v2);
    let restore = || {
        std::fs::copy(copy.path().join("xcat-data.tar.zst.001"), &v1).unwrap();
        std::fs::copy(copy.path().join("xcat-data.tar.zst.002"), &v2).unwrap();
    };

    std::fs::remove_file(&v1).unwrap();
    let err = snapshot::verify(&stick).unwrap_err().to_string();
    assert_eq!(
        err,
        format!("{}: missing (listed in SHA256SUMS)", v1.display())
    );
    restore();

    std::fs::write(stick.join("xcat-data.tar.zst.005"), b"stray").unwrap();
    let err = snapshot::verify(&stick).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!(
            "{}: not part of this snapshot",
            stick.join("xcat-data.tar.zst.005").display()
        )),
        "{err}"
    );
    std::fs::remove_file(stick.join("xcat-data.tar.zst.005")).unwrap();

    let f = std::fs::OpenOptions::new().write(true).open(&v2).unwrap();
    f.set_len(1000).unwrap();
    let err = snapshot::verify(&stick).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{}: truncated: 1000 bytes, MANIFEST.json records 65536",
            v2.display()
        )
    );
    restore();

    std::fs::copy(copy.path().join("xcat-data.tar.zst.002"), &v1).unwrap();
    std::fs::copy(copy.path().join("xcat-data.tar.zst.001"), &v2).unwrap();
    let err = snapshot::verify(&stick).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("{}: checksum mismatch", v1.display())),
        "{err}"
    );
    restore();
    snapshot::verify(&stick).unwrap();

    std::fs::remove_file(stick.join("SHA256SUMS")).unwrap();
    let err = snapshot::verify(&stick).unwrap_err().to_string();
    assert!(err.contains("SHA256SUMS is missing"), "{err}");
}

fn assert_no_snapshot(dir: &Path) {
    assert!(
        !dir.join("SHA256SUMS").exists(),
        "a SHA256SUMS was left in {}",
        dir.display()
    );
    assert!(
        !dir.join(".xcatport-partial").exists(),
        "staging left in {}",
        dir.display()
    );
}

#[test]
fn a_non_empty_target_needs_force_and_an_old_snapshot_is_never_overwritten() {
    let mn = Mn::empty();
    mn.file("etc/hosts", "h\n");
    let out = tempfile::tempdir_in("/var/tmp").unwrap();
    let stick = out.path().join("stick");
    std::fs::create_dir_all(stick.join("lost+found")).unwrap();
    std::fs::write(stick.join("notes.txt"), "mine").unwrap();
    let err = export(&mn, &stick, &[]).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{}: not empty (holds notes.txt); use an empty directory or --force",
            stick.display()
        )
    );
    assert_no_snapshot(&stick);

    export(&mn, &stick, &["--force"]).unwrap();
    assert!(stick.join("SHA256SUMS").exists());
    assert_eq!(std::fs::read(stick.join("notes.txt")).unwrap(), b"mine");

    let before = sha256(&stick.join("MANIFEST.json"));
    let err = export(&mn, &stick, &["--force"]).unwrap_err().to_string();
    assert!(err.contains("holds a snapshot already"), "{err}");
    assert_eq!(sha256(&stick.join("MANIFEST.json")), before);
}

#[test]
fn a_target_inside_an_exported_tree_is_refused() {
    let mn = Mn::empty();
    mn.file("install/postscripts/a", "a\n");
    let stick = mn.path("install/stick");
    let err = export(&mn, &stick, &[]).unwrap_err().to_string();
    assert!(
        err.contains("the target is inside") && err.contains("install"),
        "{err}"
    );
    assert!(!stick.exists());
}

#[test]
fn a_block_device_gets_mount_it_first() {
    let dir = tempfile::tempdir().unwrap();
    let dev = dir.path().join("sdz1");
    nix::sys::stat::mknod(
        &dev,
        nix::sys::stat::SFlag::S_IFBLK,
        nix::sys::stat::Mode::from_bits_truncate(0o600),
        nix::sys::stat::makedev(7, 200),
    )
    .unwrap();
    let mn = Mn::empty();
    mn.file("etc/hosts", "h\n");
    let err = export(&mn, &dev, &[]).unwrap_err().to_string();
    assert!(
        err.contains("is a block device: mount it first")
            && err.contains(&format!("mount {}", dev.display())),
        "{err}"
    );
}

#[test]
fn dry_run_writes_nothing_and_says_whether_it_fits() {
    let mn = sample_mn();
    let out = tempfile::tempdir_in("/var/tmp").unwrap();
    let stick = out.path().join("stick");
    let o = export(&mn, &stick, &["--dry-run"]).unwrap();
    assert!(o.fits);
    assert!(!stick.exists());
    let s = &o.plan;
    assert_eq!(s.exclusion("etc/xcat/*.sqlite").unwrap().files, 1);
    assert_eq!(s.exclusion("install/autoinst/**").unwrap().files, 1);
    assert_eq!(s.exclusion("install/netboot/**/kernel").unwrap().files, 1);
    assert_eq!(s.exclusion("install/netboot/**/rootimg").unwrap().files, 2);
    assert_eq!(s.exclusion("install/netboot/**/rootimg").unwrap().dirs, 3);
    assert_eq!(
        s.exclusion("install/netboot/**/rootimg.*").unwrap().bytes,
        500
    );
    assert_eq!(s.exclusion("tftpboot/pxelinux.cfg/**").unwrap().files, 1);
    assert_eq!(
        s.media,
        vec![xcatport::plan::MediaRecord {
            path: "/install/rocky9.4/x86_64".into(),
            excluded: false
        }]
    );
    let secrets = s.section(xcatport::plan::Section::Secrets);
    // cfgloc, ca-key.pem, server-cert.pem, id_rsa, _ssh/authorized_keys
    assert_eq!(secrets.files, 5);

    let o = export(&mn, &stick, &["--dry-run", "--profile", "no-media"]).unwrap();
    let media = o.plan.exclusion("copycds media").unwrap();
    assert_eq!((media.files, media.bytes), (2, 4000 + 10));
    assert!(o.plan.media[0].excluded);
    assert!(!stick.exists());
}

#[test]
fn a_plan_that_does_not_fit_is_refused_before_writing() {
    let fs = Mounted::tmpfs("2m");
    let mn = Mn::empty();
    mn.file("install/big", vec![7u8; 3 << 20]);
    let err = export(&mn, fs.0.path(), &[]).unwrap_err().to_string();
    assert!(
        err.contains("the snapshot needs about") && err.contains("tmpfs"),
        "{err}"
    );
    assert_eq!(listing(fs.0.path()), Vec::<String>::new());
}

#[test]
fn running_out_of_space_while_writing_leaves_no_valid_looking_snapshot() {
    let fs = Mounted::tmpfs("2m");
    let mn = Mn::empty();
    let mut noise = vec![0u8; 1 << 20];
    let mut x: u32 = 12345;
    for b in noise.iter_mut() {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        *b = (x >> 16) as u8;
    }
    mn.file("install/noise", &noise);
    let plan = default_plan(&mn);
    let target =
        xcatport::target::Target::check(fs.0.path(), &plan.exported_trees(), false).unwrap();
    target.check_room(plan.summary.totals().2).unwrap();
    let staging = target.stage().unwrap();
    // Something else fills the stick after the check.
    std::fs::write(fs.0.path().join("ballast"), vec![0u8; 1400 << 10]).unwrap();
    let err = write_staged(staging.path(), &plan).unwrap_err().to_string();
    assert!(
        err.contains("No space left on device")
            && err.contains(".xcatport-partial/xcat-data.tar.zst"),
        "{err}"
    );
    drop(staging);
    assert_no_snapshot(fs.0.path());
    assert_eq!(listing(fs.0.path()), ["ballast"]);
}

#[test]
fn the_verifying_reread_catches_a_byte_the_stick_changed_after_writing() {
    let mn = sample_mn();
    let out = tempfile::tempdir().unwrap();
    let plan = default_plan(&mn);
    let target =
        xcatport::target::Target::check(out.path(), &plan.exported_trees(), false).unwrap();
    let staging = target.stage().unwrap();
    let report = write_staged(staging.path(), &plan).unwrap();
    // What the writer kept covers the big files, and matches them as written.
    for name in ["xcatimport", "xcat-rpms.tar", "xcat-data.tar.zst"] {
        let check = report
            .readback
            .get(name)
            .unwrap_or_else(|| panic!("{name}"));
        let path = staging.path().join(name);
        assert_eq!(
            check.size,
            std::fs::metadata(&path).unwrap().len(),
            "{name}"
        );
    }
    snapshot::verify_written(staging.path(), &report.readback, ReRead::PageCache, &Hidden).unwrap();
    // Flash that returns other bytes than it was given: same size, one
    // byte changed, and MANIFEST.json and SHA256SUMS made to agree with it,
    // so that only a comparison with what was written can tell.
    let volume = staging.path().join("xcat-data.tar.zst");
    let mut bytes = std::fs::read(&volume).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    std::fs::write(&volume, &bytes).unwrap();
    let manifest = staging.path().join("MANIFEST.json");
    let old_manifest = sha256(&manifest);
    let old_volume = report.head.data.volumes[0].sha256.clone();
    let new_volume = sha256(&volume);
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace(&old_volume, &new_volume)).unwrap();
    let sums = staging.path().join("SHA256SUMS");
    let text = std::fs::read_to_string(&sums).unwrap();
    let text = text
        .replace(&old_volume, &new_volume)
        .replace(&old_manifest, &sha256(&manifest));
    std::fs::write(&sums, text).unwrap();
    snapshot::verify(staging.path()).expect("the forged stick passes the SHA-256 checks");
    let err = staging
        .finalize(&report.readback, ReRead::PageCache, &Hidden)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(".xcatport-partial/xcat-data.tar.zst")
            && err.contains("reads back different from what was written"),
        "{err}"
    );
    assert_no_snapshot(out.path());
    assert_eq!(listing(out.path()), Vec::<String>::new());
}
