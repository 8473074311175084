//! imgexport on the synthetic MN, then imgimport into a fresh MN (a bare
//! distro with its own account numbers and an empty database), through the
//! real binaries and the real SQLite database: the image's files come back
//! with the same bytes, modes and owner *names*, and its rows come back.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use xcatport::fixture::{self, Family, Scale, Spec};
use xcatport::image::{BackendDb, BundleReader, ImageDb, Packing, RowChange};
use xcatport::mn::accounts::Accounts;

const NETBOOT: &str = "rhels8.6-x86_64-netboot-compute";
const STATELITE: &str = "rhels8.6-x86_64-statelite-service";
const INSTALL: &str = "rhels8.6-x86_64-install-compute";

fn spec() -> Spec {
    let mut s = Spec::new(Scale::Small, Family::Rhel, 7);
    // The fixture's image rows name x86_64 whatever the host is.
    s.arch = "x86_64".into();
    s
}

fn tmp() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("xcatport-img-rt.")
        .tempdir_in("/var/tmp")
        .unwrap()
}

/// The synthetic MN, files owned as a site admin would leave them.
fn source_mn() -> tempfile::TempDir {
    let d = tmp();
    let root = d.path().join("mn");
    fixture::build(&root, &spec()).unwrap();
    // hpcadmin:hpcgrp is 5123:5124 here and 5130:5131 on the bare target.
    for f in [
        "install/custom/netboot/rh/compute.postinstall",
        "install/netboot/rhels8.6/x86_64/compute/kernel",
        "install/netboot/rhels8.6/x86_64/service/rootimg/etc/hostname",
    ] {
        std::os::unix::fs::chown(root.join(f), Some(5123), Some(5124)).unwrap();
    }
    d
}

/// A freshly installed MN: accounts with other numbers, no database yet.
fn target_mn(parent: &Path, media: bool) -> PathBuf {
    let root = parent.join("new");
    fixture::build_bare(&root, &spec()).unwrap();
    if media {
        fs::create_dir_all(root.join("install/rhels8.6/x86_64")).unwrap();
    }
    root
}

fn run(bin: &str, cwd: &Path, root: &Path, args: &[&str]) -> Output {
    let exe = match bin {
        "imgexport" => env!("CARGO_BIN_EXE_imgexport"),
        _ => env!("CARGO_BIN_EXE_imgimport"),
    };
    Command::new(exe)
        .current_dir(cwd)
        .arg("--root")
        .arg(root)
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn ok(o: Output) -> String {
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Bytes, mode and owner names of an MN path (a symlink's target for links).
fn fingerprint(root: &Path, path: &str) -> (Vec<u8>, u32, String, String) {
    let p = root.join(path.trim_start_matches('/'));
    let m = fs::symlink_metadata(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let acc = Accounts::load(root).unwrap();
    let bytes = if m.file_type().is_symlink() {
        fs::read_link(&p)
            .unwrap()
            .into_os_string()
            .into_encoded_bytes()
    } else if m.is_dir() {
        Vec::new()
    } else {
        fs::read(&p).unwrap()
    };
    (
        bytes,
        m.mode(),
        acc.user_name(m.uid()).unwrap_or("?").to_string(),
        acc.group_name(m.gid()).unwrap_or("?").to_string(),
    )
}

fn same_file(a: &Path, b: &Path, path: &str) {
    assert_eq!(fingerprint(a, path), fingerprint(b, path), "{path}");
}

fn rows(root: &Path, table: &str, column: &str, value: &str) -> Vec<xcatport::image::Columns> {
    BackendDb::open(root)
        .unwrap()
        .rows_where(table, column, value)
        .unwrap()
}

/// A row change as (table, key pairs, value pairs).
type Change<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [(&'a str, &'a str)]);

fn set_rows(root: &Path, changes: &[Change]) {
    let to_cols = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let changes: Vec<RowChange> = changes
        .iter()
        .map(|(t, k, v)| RowChange {
            table: t.to_string(),
            key: to_cols(k),
            values: to_cols(v),
        })
        .collect();
    BackendDb::open(root).unwrap().apply(&changes).unwrap();
}

/// Every path under `dir` (relative), sorted, with a `/` after directories.
fn tree(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = walkdir::WalkDir::new(dir)
        .min_depth(1)
        .into_iter()
        .map(|e| {
            let e = e.unwrap();
            let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
            if e.file_type().is_dir() {
                rel + "/"
            } else {
                rel
            }
        })
        .collect();
    out.sort();
    out
}

#[test]
fn netboot_round_trip_with_kit_extras_and_postscripts() {
    let src = source_mn();
    let root = src.path().join("mn");
    let kitdir = "/install/kits/mykit-1.0-1-rhels8.6-x86_64";
    set_rows(
        &root,
        &[
            (
                "kit",
                &[("kitname", "mykit-1.0-1-rhels8.6-x86_64")],
                &[
                    ("basename", "mykit"),
                    ("version", "1.0"),
                    ("kitdir", kitdir),
                ],
            ),
            (
                "kitrepo",
                &[("kitreponame", "mykit-1.0-1-rhels-8-x86_64")],
                &[
                    ("kitname", "mykit-1.0-1-rhels8.6-x86_64"),
                    (
                        "kitrepodir",
                        "/install/kits/mykit-1.0-1-rhels8.6-x86_64/repos/mykit",
                    ),
                ],
            ),
            (
                "kitcomponent",
                &[("kitcompname", "mykit_compute-1.0-1-rhels-8-x86_64")],
                &[
                    ("kitname", "mykit-1.0-1-rhels8.6-x86_64"),
                    ("kitreponame", "mykit-1.0-1-rhels-8-x86_64"),
                ],
            ),
            (
                "osimage",
                &[("imagename", NETBOOT)],
                &[("kitcomponents", "mykit_compute-1.0-1-rhels-8-x86_64")],
            ),
        ],
    );
    let out = tmp();
    let stdout = ok(run(
        "imgexport",
        out.path(),
        &root,
        &[
            NETBOOT,
            "-e",
            "/install/postscripts/myscript1",
            "-e",
            "/install/postscripts/mydir:/install/postscripts/mydir",
            "-p",
            "n01",
        ],
    ));
    assert!(stdout.ends_with("Done!\n"), "{stdout}");
    let bundle = out.path().join(format!("{NETBOOT}.tgz"));
    let names = BundleReader::open(&bundle, Packing::Gzip)
        .unwrap()
        .listing()
        .names()
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>();
    for want in [
        "./",
        "./rhels8.6-x86_64-netboot-compute/manifest.xml",
        "./rhels8.6-x86_64-netboot-compute/kernel",
        "./rhels8.6-x86_64-netboot-compute/initrd-stateless.gz",
        "./rhels8.6-x86_64-netboot-compute/rootimg.cpio.gz",
        "./rhels8.6-x86_64-netboot-compute/compute.synclist",
        "./rhels8.6-x86_64-netboot-compute/base.pkglist",
        "./rhels8.6-x86_64-netboot-compute/mykit-1.0-1-rhels8.6-x86_64/other_files/mykit_compute.exlist",
        "./rhels8.6-x86_64-netboot-compute/extra/myscript1",
        "./rhels8.6-x86_64-netboot-compute/extra/install/postscripts/mydir/sub/b.conf",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} not in {names:#?}");
    }

    // Into a fresh MN that knows node n01 (for -p).
    let new = target_mn(src.path(), false);
    set_rows(
        &new,
        &[
            ("nodelist", &[("node", "n01")], &[("groups", "compute,all")]),
            (
                "postscripts",
                &[("node", "xcatdefaults")],
                &[
                    ("postscripts", "syslog,remoteshell,syncfiles"),
                    ("postbootscripts", "otherpkgs"),
                ],
            ),
        ],
    );
    let stdout = ok(run(
        "imgimport",
        out.path(),
        &new,
        &[bundle.to_str().unwrap(), "-p", "n01"],
    ));
    assert!(
        stdout.ends_with(&format!(
            "Adding postscripts.\nSuccessfully imported the image {NETBOOT}.\n"
        )),
        "{stdout}"
    );
    for f in [
        "/install/netboot/rhels8.6/x86_64/compute/kernel",
        "/install/netboot/rhels8.6/x86_64/compute/initrd-stateless.gz",
        "/install/netboot/rhels8.6/x86_64/compute/rootimg.cpio.gz",
        "/install/custom/netboot/rh/compute.pkglist",
        // pulled in by compute.pkglist's #INCLUDE:base.pkglist#
        "/install/custom/netboot/rh/base.pkglist",
        "/install/custom/netboot/rh/compute.otherpkgs.pkglist",
        "/install/custom/netboot/rh/compute.exlist",
        "/install/custom/netboot/rh/compute.postinstall",
        "/install/custom/netboot/rh/compute.synclist",
        "/install/postscripts/myscript1",
        "/install/postscripts/mydir/a.sh",
        "/install/postscripts/mydir/sub/b.conf",
        "/install/kits/mykit-1.0-1-rhels8.6-x86_64/kit.conf",
        "/install/kits/mykit-1.0-1-rhels8.6-x86_64/repos/mykit/repodata/repomd.xml",
    ] {
        same_file(&root, &new, f);
    }
    // Owner by name: hpcadmin is 5130 on the new MN, not the exporter's 5123.
    let m = fs::metadata(new.join("install/custom/netboot/rh/compute.postinstall")).unwrap();
    assert_eq!((m.uid(), m.gid()), (5130, 5131));
    assert_eq!(
        tree(&new.join("install/kits")),
        tree(&root.join("install/kits"))
    );

    for (table, key) in [("osimage", "imagename"), ("linuximage", "imagename")] {
        assert_eq!(
            rows(&new, table, key, NETBOOT),
            rows(&root, table, key, NETBOOT),
            "{table}"
        );
    }
    for (table, key, value) in [
        ("kit", "kitname", "mykit-1.0-1-rhels8.6-x86_64"),
        ("kitrepo", "kitreponame", "mykit-1.0-1-rhels-8-x86_64"),
        (
            "kitcomponent",
            "kitcompname",
            "mykit_compute-1.0-1-rhels-8-x86_64",
        ),
    ] {
        let got = rows(&new, table, key, value);
        assert_eq!(got.len(), 1, "{table}");
        assert_eq!(got, rows(&root, table, key, value), "{table}");
    }
    // -p: n01's lists are xcatdefaults' plus its own on the source; what the
    // new MN's xcatdefaults already runs is dropped.
    let ps = rows(&new, "postscripts", "node", "n01");
    assert_eq!(ps.len(), 1);
    assert_eq!(
        ps[0].get("postscripts").map(String::as_str),
        Some("setupntp")
    );
    assert_eq!(
        ps[0].get("postbootscripts").map(String::as_str),
        Some("mypostboot")
    );
}

#[test]
fn statelite_round_trip_unpacks_the_tree_and_the_litefile_rows() {
    let src = source_mn();
    let root = src.path().join("mn");
    let out = tmp();
    let stdout = ok(run("imgexport", out.path(), &root, &[STATELITE]));
    assert!(
        stdout.contains("Packing root image. It will take a while\n"),
        "{stdout}"
    );
    let bundle = out.path().join(format!("{STATELITE}.tgz"));

    // litefile.csv in the bundle: tabdump, every row under the image name.
    let staging = tmp();
    BundleReader::open(&bundle, Packing::Gzip)
        .unwrap()
        .extract_to(staging.path())
        .unwrap();
    let csv = fs::read_to_string(staging.path().join(STATELITE).join("litefile.csv")).unwrap();
    let i = STATELITE;
    assert_eq!(
        csv,
        format!(
            "#image,file,options,comments,disable\n\
             \"{i}\",\"/etc/adjtime\",\"tmpfs\",,\n\
             \"{i}\",\"/etc/securetty\",\"tmpfs\",,\n\
             \"{i}\",\"/etc/lvm/\",\"tmpfs\",,\n\
             \"{i}\",\"/var/\",\"tmpfs\",,\n\
             \"{i}\",\"/etc/ntp.conf\",\"tmpfs\",,\n\
             \"{i}\",\"/etc/hosts\",\"link,persistent\",,\n\
             \"{i}\",\"/opt/app/\",\"rw\",,\n\
             \"{i}\",\"/var/\",\"tmpfs\",,\n"
        )
    );
    // rootimgtree.gz is a gzip'd newc cpio GNU cpio reads.
    let list = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "zcat '{}' | cpio -it --quiet | sort",
            staging
                .path()
                .join(STATELITE)
                .join("rootimgtree.gz")
                .display()
        ))
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&list.stdout).into_owned();
    assert!(
        listed.starts_with("rootimg\nrootimg/emptydir\n"),
        "{listed}"
    );
    assert!(listed.contains("rootimg/etc/tool-link\n"), "{listed}");

    let new = target_mn(src.path(), false);
    let stdout = ok(run(
        "imgimport",
        out.path(),
        &new,
        &[bundle.to_str().unwrap()],
    ));
    assert!(
        stdout.contains("Extracting rootimgtree.gz. It will take a while.\n"),
        "{stdout}"
    );
    assert!(
        stdout.ends_with(&format!(
            "Updating the litefile table.\nThe litetree and statelite tables are untouched. You can update them if needed.\nSuccessfully imported the image {STATELITE}.\n"
        )),
        "{stdout}"
    );
    let dir = "install/netboot/rhels8.6/x86_64/service";
    assert_eq!(
        tree(&new.join(dir).join("rootimg")),
        tree(&root.join(dir).join("rootimg"))
    );
    for e in walkdir::WalkDir::new(root.join(dir).join("rootimg")) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(&root).unwrap().display().to_string();
        let (a, b) = (fingerprint(&root, &rel), fingerprint(&new, &rel));
        assert_eq!((a.0, a.1), (b.0, b.1), "{rel}");
        let (a, b) = (
            fs::symlink_metadata(e.path()).unwrap(),
            fs::symlink_metadata(new.join(&rel)).unwrap(),
        );
        // Inside the image owners are the image's own ids: kept as numbers.
        assert_eq!(
            (a.uid(), a.gid(), a.mtime()),
            (b.uid(), b.gid(), b.mtime()),
            "{rel}"
        );
    }
    for f in ["kernel", "initrd-statelite.gz"] {
        same_file(&root, &new, &format!("{dir}/{f}"));
    }
    assert!(new.join(dir).join("litefile.csv").is_file());
    assert!(!new.join(dir).join("rootimgtree.gz").exists());
    let mut lite: Vec<(String, String)> = rows(&new, "litefile", "image", STATELITE)
        .into_iter()
        .map(|r| (r["file"].clone(), r["options"].clone()))
        .collect();
    lite.sort();
    let want: Vec<(String, String)> = [
        ("/etc/adjtime", "tmpfs"),
        ("/etc/hosts", "link,persistent"),
        ("/etc/lvm/", "tmpfs"),
        ("/etc/ntp.conf", "tmpfs"),
        ("/etc/securetty", "tmpfs"),
        ("/opt/app/", "rw"),
        ("/var/", "tmpfs"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(lite, want);
    assert_eq!(
        rows(&new, "osimage", "imagename", STATELITE),
        rows(&root, "osimage", "imagename", STATELITE)
    );

    // Back into the source as a copy (-f): the original stays untouched and
    // litefile rows that repeat an ALL row exactly are not added.
    let before = tree(&root.join(dir));
    let stdout = ok(run(
        "imgimport",
        out.path(),
        &root,
        &[bundle.to_str().unwrap(), "-f", "copy"],
    ));
    let copy = "rhels8.6-x86_64-statelite-copy";
    assert!(
        stdout.ends_with(&format!("Successfully imported the image {copy}.\n")),
        "{stdout}"
    );
    assert_eq!(tree(&root.join(dir)), before);
    let copied = "install/netboot/rhels8.6/x86_64/copy";
    assert_eq!(
        tree(&root.join(copied).join("rootimg")),
        tree(&root.join(dir).join("rootimg"))
    );
    let mut lite: Vec<String> = rows(&root, "litefile", "image", copy)
        .into_iter()
        .map(|r| r["file"].clone())
        .collect();
    lite.sort();
    assert_eq!(
        lite,
        ["/etc/hosts", "/etc/ntp.conf", "/etc/securetty", "/opt/app/"]
    );
    let lin = rows(&root, "linuximage", "imagename", copy);
    assert_eq!(
        lin[0].get("rootimgdir").map(String::as_str),
        Some("/install/netboot/rhels8.6/x86_64/copy")
    );
}

#[test]
fn install_round_trip_needs_the_os_media() {
    let src = source_mn();
    let root = src.path().join("mn");
    // A script partition file (`s:` prefix) travels under its path.
    set_rows(
        &root,
        &[(
            "linuximage",
            &[("imagename", INSTALL)],
            &[(
                "partitionfile",
                "s:/install/custom/install/rh/compute.partition",
            )],
        )],
    );
    let out = tmp();
    // Exit 0: the fixture's rows and files agree (no "Couldn't find file").
    let stdout = ok(run("imgexport", out.path(), &root, &[INSTALL, "x.tgz"]));
    assert!(!stdout.contains("Couldn't find"), "{stdout}");
    let names: Vec<String> = BundleReader::open(&out.path().join("x.tgz"), Packing::Gzip)
        .unwrap()
        .listing()
        .names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    for want in [
        "./rhels8.6-x86_64-install-compute/compute.rhels8.tmpl",
        "./rhels8.6-x86_64-install-compute/compute.rhels8.pkglist",
        "./rhels8.6-x86_64-install-compute/compute.partition",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} not in {names:#?}");
    }

    // Without /install/rhels8.6/x86_64: xCAT's message, exit 1, nothing written.
    let bare = tmp();
    let new = target_mn(bare.path(), false);
    let before = tree(&new);
    let o = run("imgimport", out.path(), &new, &["x.tgz"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("This image requires that you first copy media for rhels8.6-x86_64"),
        "{}",
        text(&o)
    );
    assert!(!String::from_utf8_lossy(&o.stdout).contains("Successfully"));
    assert_eq!(tree(&new), before);

    let new = target_mn(src.path(), true);
    ok(run("imgimport", out.path(), &new, &["x.tgz"]));
    for f in [
        "/install/custom/install/rh/compute.rhels8.tmpl",
        "/install/custom/install/rh/compute.rhels8.pkglist",
        "/install/custom/install/rh/compute.partition",
    ] {
        same_file(&root, &new, f);
    }
    for table in ["osimage", "linuximage"] {
        assert_eq!(
            rows(&new, table, "imagename", INSTALL),
            rows(&root, table, "imagename", INSTALL),
            "{table}"
        );
    }
}
