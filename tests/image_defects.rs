//! Upstream imgimport defects (spec §9), each with a crafted bundle imported
//! through the real SQLite database of a bare MN.

use clap::Parser;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use xcatport::cli::ImgImportArgs;
use xcatport::fixture::{self, Family, Scale, Spec};
use xcatport::image::{BackendDb, ImageDb, RowChange};

fn bare() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir_in("/var/tmp").unwrap();
    let root = d.path().join("mn");
    fixture::build_bare(&root, &Spec::new(Scale::Small, Family::Rhel, 1)).unwrap();
    (d, root)
}

/// A gzip'd tar of `members` (name, bytes), every one a regular file.
fn bundle(dir: &Path, members: &[(&str, &[u8])]) -> PathBuf {
    let path = dir.join("b.tgz");
    let gz = flate2::write::GzEncoder::new(fs::File::create(&path).unwrap(), Default::default());
    let mut b = tar::Builder::new(gz);
    for (name, data) in members {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap().flush().unwrap();
    path
}

fn manifest(image: &str, method: &str, body: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?>\n<xcatimage>\n{body}  <linuximage>\n    <imagename>{image}</imagename>\n  </linuximage>\n  <osimage>\n    <imagename>{image}</imagename>\n    <osarch>x86_64</osarch>\n    <osvers>rhels8.6</osvers>\n    <profile>compute</profile>\n    <provmethod>{method}</provmethod>\n  </osimage>\n</xcatimage>\n"
    )
}

fn netboot(image: &str, extra_osimage: &str) -> String {
    let dir = format!("/install/netboot/rhels8.6/x86_64/{image}");
    manifest(
        image,
        "netboot",
        &format!(
            "  <kernel>{dir}/kernel</kernel>\n  <ramdisk>{dir}/initrd-stateless.gz</ramdisk>\n  <rootimg>{dir}/rootimg.cpio.gz</rootimg>\n"
        ),
    )
    .replace("  </osimage>", &format!("{extra_osimage}  </osimage>"))
}

const NETBOOT_FILES: [(&str, &[u8]); 3] = [
    ("kernel", b"k"),
    ("initrd-stateless.gz", b"i"),
    ("rootimg.cpio.gz", b"r"),
];

fn members<'a>(image: &str, xml: &'a str, files: &[(&str, &'a [u8])]) -> Vec<(String, &'a [u8])> {
    let mut v = vec![(format!("{image}/manifest.xml"), xml.as_bytes())];
    v.extend(files.iter().map(|(n, d)| (format!("{image}/{n}"), *d)));
    v
}

fn import(root: &Path, dir: &Path, args: &[&str]) -> (bool, String, String) {
    let mut argv = vec!["imgimport"];
    argv.extend_from_slice(args);
    let args = ImgImportArgs::parse_from(argv);
    let mut db = BackendDb::open(root).unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let r = xcatport::app::imgimport::import(&mut db, root, dir, &args, &mut out, &mut err);
    if let Err(e) = &r {
        writeln!(err, "{e}").unwrap();
    }
    (
        r.is_ok(),
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

fn rows(root: &Path, table: &str, col: &str, value: &str) -> Vec<xcatport::image::Columns> {
    BackendDb::open(root)
        .unwrap()
        .rows_where(table, col, value)
        .unwrap()
}

#[test]
fn d11_each_image_is_imported_independently() {
    let (d, root) = bare();
    let good = netboot("good", "");
    let bad = manifest("bad", "netboot", "");
    let mut all = members("bad", &bad, &[]);
    all.extend(members("good", &good, &NETBOOT_FILES));
    let refs: Vec<(&str, &[u8])> = all.iter().map(|(n, b)| (n.as_str(), *b)).collect();
    bundle(d.path(), &refs);
    let (ok, out, err) = import(&root, d.path(), &["b.tgz"]);
    assert!(!ok);
    assert!(
        err.contains("The 'ramdisk' field is not defined in manifest.xml."),
        "{err}"
    );
    assert!(
        out.contains("Successfully imported the image good.\n"),
        "{out}"
    );
    assert!(!out.contains("image bad"), "{out}");
    assert_eq!(rows(&root, "osimage", "imagename", "good").len(), 1);
    assert!(rows(&root, "osimage", "imagename", "bad").is_empty());
}

#[test]
fn d12_empty_elements_are_null_not_hash_strings() {
    let (d, root) = bare();
    let xml = netboot("img", "    <comments></comments>\n    <description/>\n");
    let m = members("img", &xml, &NETBOOT_FILES);
    let refs: Vec<(&str, &[u8])> = m.iter().map(|(n, b)| (n.as_str(), *b)).collect();
    bundle(d.path(), &refs);
    let (ok, out, err) = import(&root, d.path(), &["b.tgz"]);
    assert!(ok, "{out}{err}");
    let r = &rows(&root, "osimage", "imagename", "img")[0];
    assert_eq!(r.get("comments"), None);
    assert_eq!(r.get("description"), None);
    assert_eq!(r.get("provmethod").map(String::as_str), Some("netboot"));
}

#[test]
fn d13_install_without_template_names_the_template() {
    let (d, root) = bare();
    fs::create_dir_all(root.join("install/rhels8.6/x86_64")).unwrap();
    let xml = manifest("inst", "install", "  <media>required</media>\n");
    let m = members("inst", &xml, &[]);
    let refs: Vec<(&str, &[u8])> = m.iter().map(|(n, b)| (n.as_str(), *b)).collect();
    bundle(d.path(), &refs);
    let (ok, _, err) = import(&root, d.path(), &["b.tgz"]);
    assert!(!ok);
    assert!(
        err.contains("The 'template' field is not defined in manifest.xml."),
        "{err}"
    );
    assert!(!err.contains("'osarch'"), "{err}");
}

#[test]
fn d14_unknown_nodes_warn_without_failing() {
    let (d, root) = bare();
    BackendDb::open(&root)
        .unwrap()
        .apply(&[RowChange {
            table: "nodelist".into(),
            key: [("node".to_string(), "n1".to_string())].into(),
            values: [("groups".to_string(), "compute".to_string())].into(),
        }])
        .unwrap();
    let xml = netboot("img", "").replace(
        "<xcatimage>\n",
        "<xcatimage>\n  <postbootscripts>otherpkgs</postbootscripts>\n  <postscripts>syslog,myscript</postscripts>\n",
    );
    let m = members("img", &xml, &NETBOOT_FILES);
    let refs: Vec<(&str, &[u8])> = m.iter().map(|(n, b)| (n.as_str(), *b)).collect();
    bundle(d.path(), &refs);
    let (ok, out, err) = import(&root, d.path(), &["b.tgz", "-p", "compute,ghost"]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("The following nodes will be skipped because they are not in the nodelist table.\n  ghost\n"),
        "{out}"
    );
    let r = &rows(&root, "postscripts", "node", "n1")[0];
    assert_eq!(r["postscripts"], "syslog,myscript");
    assert_eq!(r["postbootscripts"], "otherpkgs");
}

#[test]
fn d17_shipped_paths_are_redirected_to_custom() {
    let (d, root) = bare();
    let xml = netboot("img", "").replace(
        "    <imagename>img</imagename>\n  </linuximage>",
        "    <imagename>img</imagename>\n    <pkglist>/opt/xcat/share/xcat/netboot/rh/compute.rhels8.x86_64.pkglist</pkglist>\n  </linuximage>",
    );
    let mut files = NETBOOT_FILES.to_vec();
    files.push(("compute.rhels8.x86_64.pkglist", b"bash\n"));
    let m = members("img", &xml, &files);
    let refs: Vec<(&str, &[u8])> = m.iter().map(|(n, b)| (n.as_str(), *b)).collect();
    bundle(d.path(), &refs);
    let (ok, out, err) = import(&root, d.path(), &["b.tgz"]);
    assert!(ok, "{out}{err}");
    let custom = "/install/custom/netboot/rh/compute.rhels8.x86_64.pkglist";
    assert_eq!(fs::read(root.join(&custom[1..])).unwrap(), b"bash\n");
    assert!(!root.join("opt").exists());
    assert_eq!(
        rows(&root, "linuximage", "imagename", "img")[0]["pkglist"],
        custom
    );
}

#[test]
fn d19_litefile_with_quotes_and_upstream_headerless_form() {
    for (csv, want) in [
        (
            "#image,file,options,comments,disable\n\"x\",\"/etc/a \"\"b\"\"\",\"rw\",,\n",
            "/etc/a \"b\"",
        ),
        ("\"x\",\"/etc/plain\",\"tmpfs\",,\n", "/etc/plain"),
    ] {
        let (d, root) = bare();
        let dir = "/install/netboot/rhels8.6/x86_64/lite";
        let xml = manifest(
            "lite",
            "statelite",
            &format!(
                "  <kernel>{dir}/kernel</kernel>\n  <litefile>{dir}/litefile.csv</litefile>\n  <ramdisk>{dir}/initrd-statelite.gz</ramdisk>\n  <rootimgtree>{dir}/rootimgtree.gz</rootimgtree>\n"
            ),
        );
        let tree = rootimgtree(&[("rootimg/etc/hostname", b"lite\n")]);
        let files: Vec<(&str, &[u8])> = vec![
            ("kernel", b"k"),
            ("initrd-statelite.gz", b"i"),
            ("rootimgtree.gz", &tree),
            ("litefile.csv", csv.as_bytes()),
        ];
        let m = members("lite", &xml, &files);
        let refs: Vec<(&str, &[u8])> = m.iter().map(|(n, b)| (n.as_str(), *b)).collect();
        bundle(d.path(), &refs);
        let (ok, out, err) = import(&root, d.path(), &["b.tgz"]);
        assert!(ok, "{out}{err}");
        let lite = rows(&root, "litefile", "image", "lite");
        assert_eq!(lite.len(), 1);
        assert_eq!(lite[0]["file"], want);
        assert_eq!(
            fs::read(root.join(&dir[1..]).join("rootimg/etc/hostname")).unwrap(),
            b"lite\n"
        );
    }
}

/// A gzip'd newc cpio of regular files (parents implied), as GNU cpio writes.
fn rootimgtree(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut cpio = Vec::new();
    let mut entry = |name: &str, mode: u32, data: &[u8]| {
        let namesize = name.len() + 1;
        cpio.extend_from_slice(b"070701");
        for f in [
            1,
            mode,
            0,
            0,
            1,
            1_700_000_000,
            data.len() as u32,
            0,
            0,
            0,
            0,
            namesize as u32,
            0,
        ] {
            cpio.extend_from_slice(format!("{f:08X}").as_bytes());
        }
        cpio.extend_from_slice(name.as_bytes());
        cpio.push(0);
        while cpio.len() % 4 != 0 {
            cpio.push(0);
        }
        cpio.extend_from_slice(data);
        while cpio.len() % 4 != 0 {
            cpio.push(0);
        }
    };
    entry("rootimg", 0o040755, b"");
    for (n, d) in files {
        entry(n, 0o100644, d);
    }
    entry("TRAILER!!!", 0, b"");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), Default::default());
    gz.write_all(&cpio).unwrap();
    gz.finish().unwrap()
}

#[test]
fn hostile_rootimgtree_is_refused_with_nothing_written() {
    let (d, root) = bare();
    let dir = "/install/netboot/rhels8.6/x86_64/lite";
    let xml = manifest(
        "lite",
        "statelite",
        &format!(
            "  <kernel>{dir}/kernel</kernel>\n  <ramdisk>{dir}/initrd-statelite.gz</ramdisk>\n  <rootimgtree>{dir}/rootimgtree.gz</rootimgtree>\n"
        ),
    );
    let tree = rootimgtree(&[("rootimg/../../../../etc/evil", b"x")]);
    let files: Vec<(&str, &[u8])> = vec![
        ("kernel", b"k"),
        ("initrd-statelite.gz", b"i"),
        ("rootimgtree.gz", &tree),
    ];
    let m = members("lite", &xml, &files);
    let refs: Vec<(&str, &[u8])> = m.iter().map(|(n, b)| (n.as_str(), *b)).collect();
    bundle(d.path(), &refs);
    let (ok, out, err) = import(&root, d.path(), &["b.tgz"]);
    assert!(!ok);
    assert!(err.contains("`..`"), "{err}");
    assert!(!out.contains("Successfully"), "{out}");
    assert!(!root.join("etc/evil").exists());
    assert!(!root.join("install/netboot").exists());
    assert!(rows(&root, "osimage", "imagename", "lite").is_empty());
}
