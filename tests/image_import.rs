//! imgimport of the real xCAT bundle into an empty synthetic MN, compared
//! with what real xCAT wrote; hostile manifests and `-f` safety.

use clap::Parser;
use sha2::{Digest, Sha256};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use xcatport::cli::ImgImportArgs;
use xcatport::image::{BackendDb, ImageDb, RowChange};

const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/xcat-samples");
const IMG: &str = "rhels8.6-x86_64-netboot-compute";

fn sample_bundle() -> PathBuf {
    Path::new(SAMPLES).join(format!("bundles/netboot-p-e/{IMG}.tgz"))
}

/// An MN with only /install/postscripts and a SQLite database holding
/// site.installdir.
fn empty_mn() -> (tempfile::TempDir, BackendDb) {
    let root = tempfile::Builder::new()
        .prefix("image-import-")
        .tempdir_in("/var/tmp")
        .unwrap();
    fs::create_dir_all(root.path().join("install/postscripts")).unwrap();
    fs::create_dir_all(root.path().join("etc/xcat")).unwrap();
    let mut db = BackendDb::open(root.path()).unwrap();
    let pair = |k: &str, v: &str| [(k.to_string(), v.to_string())].into_iter().collect();
    db.apply(&[RowChange {
        table: "site".into(),
        key: pair("key", "installdir"),
        values: pair("value", "/install"),
    }])
    .unwrap();
    (root, db)
}

fn import(
    db: &mut BackendDb,
    root: &Path,
    argv: &[&str],
) -> (Result<Vec<String>, String>, String, String) {
    let mut full = vec!["imgimport"];
    full.extend_from_slice(argv);
    let args = ImgImportArgs::parse_from(full);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let r = xcatport::app::imgimport::import(db, root, Path::new("/"), &args, &mut out, &mut err)
        .map_err(|e| e.to_string());
    (
        r,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

fn sha(p: &Path) -> String {
    hex::encode(Sha256::digest(fs::read(p).unwrap()))
}

/// Every file in the tree under `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().strip_prefix(dir).unwrap().display().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn real_bundle_imports_like_xcat() {
    let (root, mut db) = empty_mn();
    let bundle = sample_bundle();
    let (r, out, err) = import(&mut db, root.path(), &[bundle.to_str().unwrap()]);
    assert_eq!(r.unwrap(), vec![IMG.to_string()], "{err}");
    assert_eq!(err, "");
    // Files: xCAT's install-diff, with the -e script inside /install/postscripts.
    let diff =
        fs::read_to_string(Path::new(SAMPLES).join("import/01-plain-emptymn/install-diff.txt"))
            .unwrap();
    let mut expected = Vec::new();
    for line in diff.lines().filter(|l| l.starts_with("> f ")) {
        let f: Vec<&str> = line[2..].split(' ').collect();
        let rel = f[4].trim_start_matches("./");
        let rel = if rel == "postscripts" {
            "postscripts/myscript1".to_string()
        } else {
            rel.to_string()
        };
        assert_eq!(sha(&root.path().join("install").join(&rel)), f[3], "{rel}");
        expected.push(rel);
    }
    expected.sort();
    assert_eq!(
        tree(&root.path().join("install")),
        expected,
        "no staging left, nothing extra"
    );
    // Rows: as xCAT's db-after.
    let os = db.row("osimage", "imagename", IMG).unwrap().unwrap();
    assert_eq!(os["provmethod"], "netboot");
    assert_eq!(
        os["synclists"],
        "/install/custom/netboot/rh/compute.synclist"
    );
    assert_eq!(os.len(), 10);
    let li = db.row("linuximage", "imagename", IMG).unwrap().unwrap();
    assert_eq!(li["addkcmdline"], "console=ttyS0,115200");
    assert_eq!(li.len(), 11);
    // Output lines in xCAT's catalogue.
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first(), Some(&"Unbundling image..."));
    assert_eq!(
        lines.last(),
        Some(&format!("Successfully imported the image {IMG}.").as_str())
    );
    assert!(lines.contains(&"/install/postscripts/myscript1"));
}

#[test]
fn reimport_keeps_old_files_as_orig() {
    let (root, mut db) = empty_mn();
    let bundle = sample_bundle();
    import(&mut db, root.path(), &[bundle.to_str().unwrap()])
        .0
        .unwrap();
    let kernel = root
        .path()
        .join("install/netboot/rhels8.6/x86_64/compute/kernel");
    fs::write(&kernel, b"local kernel").unwrap();
    let (r, out, _) = import(&mut db, root.path(), &[bundle.to_str().unwrap()]);
    r.unwrap();
    assert_eq!(
        fs::read(kernel.with_file_name("kernel.ORIG")).unwrap(),
        b"local kernel"
    );
    assert!(out.contains("  Moving old /install/netboot/rhels8.6/x86_64/compute/kernel to /install/netboot/rhels8.6/x86_64/compute/kernel.ORIG."));
}

#[test]
fn profile_copy_never_touches_the_original_image() {
    let (root, mut db) = empty_mn();
    let bundle = sample_bundle();
    import(&mut db, root.path(), &[bundle.to_str().unwrap()])
        .0
        .unwrap();
    let before = tree(&root.path().join("install"));
    let kernel = root
        .path()
        .join("install/netboot/rhels8.6/x86_64/compute/kernel");
    let k = fs::read(&kernel).unwrap();
    let (r, _, err) = import(
        &mut db,
        root.path(),
        &[bundle.to_str().unwrap(), "-f", "gpu"],
    );
    assert_eq!(
        r.unwrap(),
        vec!["rhels8.6-x86_64-netboot-gpu".to_string()],
        "{err}"
    );
    assert_eq!(fs::read(&kernel).unwrap(), k);
    let after = tree(&root.path().join("install"));
    assert!(
        before.iter().all(|f| after.contains(f)),
        "original files kept"
    );
    // Only the shared -e extra is replaced (xCAT does not rename extras).
    let origs: Vec<&String> = after.iter().filter(|f| f.ends_with(".ORIG")).collect();
    assert_eq!(origs, vec!["postscripts/myscript1.ORIG"]);
    assert!(after.contains(&"netboot/rhels8.6/x86_64/gpu/kernel".to_string()));
    assert!(after.contains(&"custom/netboot/rh/gpu.pkglist".to_string()));
    let li = db
        .row("linuximage", "imagename", "rhels8.6-x86_64-netboot-gpu")
        .unwrap()
        .unwrap();
    assert_eq!(li["rootimgdir"], "/install/netboot/rhels8.6/x86_64/gpu");
    assert_eq!(li["pkglist"], "/install/custom/netboot/rh/gpu.pkglist");
}

/// A bundle with one image whose manifest is `xml`, plus the given files.
fn bundle_with(dir: &Path, xml: &str, files: &[(&str, &[u8])]) -> PathBuf {
    let path = dir.join("b.tgz");
    let gz = flate2::write::GzEncoder::new(fs::File::create(&path).unwrap(), Default::default());
    let mut b = tar::Builder::new(gz);
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        b.append_data(&mut h, name, data).unwrap();
    };
    add("img/manifest.xml", xml.as_bytes());
    for (n, d) in files {
        add(&format!("img/{n}"), d);
    }
    b.into_inner().unwrap().finish().unwrap().flush().unwrap();
    path
}

fn netboot_manifest(kernel: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?>\n<xcatimage>\n  <kernel>{kernel}</kernel>\n  <linuximage>\n    <imagename>evil</imagename>\n  </linuximage>\n  <osimage>\n    <imagename>evil</imagename>\n    <osarch>x86_64</osarch>\n    <osvers>rhels8.6</osvers>\n    <profile>compute</profile>\n    <provmethod>netboot</provmethod>\n  </osimage>\n  <ramdisk>/install/netboot/e/initrd-stateless.gz</ramdisk>\n  <rootimg>/install/netboot/e/rootimg.cpio.gz</rootimg>\n</xcatimage>\n"
    )
}

fn refused_without_writes(xml: &str, files: &[(&str, &[u8])], expect: &str) {
    let (root, mut db) = empty_mn();
    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
    let bundle = bundle_with(dir.path(), xml, files);
    let before = tree(root.path());
    let (r, out, err) = import(&mut db, root.path(), &[bundle.to_str().unwrap()]);
    let e = r.unwrap_err();
    assert!(err.contains(expect), "{err} / {e}");
    assert!(!out.contains("Successfully"));
    assert_eq!(tree(root.path()), before, "files written");
    assert!(db.rows("osimage").unwrap().is_empty(), "rows written");
    let left: Vec<_> = fs::read_dir(root.path().join("install"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        left,
        vec![std::ffi::OsString::from("postscripts")],
        "staging left behind"
    );
}

const FILES: &[(&str, &[u8])] = &[
    ("kernel", b"k"),
    ("initrd-stateless.gz", b"i"),
    ("rootimg.cpio.gz", b"r"),
    ("shadow", b"x"),
];

#[test]
fn manifest_path_outside_install_refused() {
    refused_without_writes(
        &netboot_manifest("/etc/shadow"),
        FILES,
        "manifest.xml would write \"/etc/shadow\", outside /install/; refusing",
    );
}

#[test]
fn manifest_path_with_dotdot_refused() {
    refused_without_writes(
        &netboot_manifest("/install/../etc/kernel"),
        FILES,
        "contains `..`",
    );
}

#[test]
fn manifest_naming_a_missing_bundle_file_refused() {
    refused_without_writes(
        &netboot_manifest("/install/netboot/e/kernel"),
        &FILES[1..],
        "the bundle has no \"kernel\"",
    );
}

#[test]
fn missing_required_field_refused() {
    refused_without_writes(
        &netboot_manifest("/install/netboot/e/kernel").replace("<profile>compute</profile>", ""),
        FILES,
        "The 'profile' field is not defined in manifest.xml.",
    );
}

#[test]
fn symlinked_parent_refused() {
    let (root, mut db) = empty_mn();
    let outside = tempfile::tempdir_in("/var/tmp").unwrap();
    std::os::unix::fs::symlink(outside.path(), root.path().join("install/netboot")).unwrap();
    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
    let bundle = bundle_with(
        dir.path(),
        &netboot_manifest("/install/netboot/e/kernel"),
        FILES,
    );
    let (r, _, err) = import(&mut db, root.path(), &[bundle.to_str().unwrap()]);
    assert!(r.is_err());
    assert!(
        err.contains("is not a directory; refusing to place"),
        "{err}"
    );
    assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0);
}

#[test]
fn single_kit_bundle_imports_its_kit_row() {
    let (root, mut db) = empty_mn();
    let xml = netboot_manifest("/install/netboot/e/kernel").replace(
        "  <linuximage>",
        "  <kit>\n    <name>k-1</name>\n    <basename>k</basename>\n    <kitdir>/install/kits/k-1</kitdir>\n    <kitname>k-1</kitname>\n  </kit>\n  <linuximage>",
    );
    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
    let mut files = FILES.to_vec();
    files.push(("k-1/kit.conf", b"kit"));
    let bundle = bundle_with(dir.path(), &xml, &files);
    let (r, _, err) = import(&mut db, root.path(), &[bundle.to_str().unwrap()]);
    r.unwrap_or_else(|e| panic!("{e}: {err}"));
    let kit = db.row("kit", "kitname", "k-1").unwrap().unwrap();
    assert_eq!(kit["kitdir"], "/install/kits/k-1");
    assert!(!kit.contains_key("name"));
    assert_eq!(
        fs::read(root.path().join("install/kits/k-1/kit.conf")).unwrap(),
        b"kit"
    );
}

#[test]
fn missing_bundle_is_reported_like_xcat() {
    let (root, mut db) = empty_mn();
    let (r, _, _) = import(&mut db, root.path(), &["/nonexistent.tgz"]);
    assert_eq!(r.unwrap_err(), "Cannot find /nonexistent.tgz");
}

/// A database whose transaction fails: the import must leave no files.
struct FailingDb(BackendDb);

impl ImageDb for FailingDb {
    fn rows(&self, table: &str) -> xcatport::Result<Vec<xcatport::image::Columns>> {
        self.0.rows(table)
    }
    fn apply(&mut self, _: &[xcatport::image::RowChange]) -> xcatport::Result<()> {
        Err(xcatport::Error::Db("disk I/O error".into()))
    }
}

#[test]
fn database_failure_rolls_files_back() {
    let (root, mut db) = empty_mn();
    let bundle = sample_bundle();
    import(&mut db, root.path(), &[bundle.to_str().unwrap()])
        .0
        .unwrap();
    let before: Vec<(String, String)> = tree(&root.path().join("install"))
        .into_iter()
        .map(|f| (sha(&root.path().join("install").join(&f)), f))
        .collect();
    let mut failing = FailingDb(db);
    let args = ImgImportArgs::parse_from(["imgimport", bundle.to_str().unwrap()]);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let r = xcatport::app::imgimport::import(
        &mut failing,
        root.path(),
        Path::new("/"),
        &args,
        &mut out,
        &mut err,
    );
    assert!(r.is_err());
    assert!(String::from_utf8(err).unwrap().contains("disk I/O error"));
    assert!(!String::from_utf8(out).unwrap().contains("Successfully"));
    let after: Vec<(String, String)> = tree(&root.path().join("install"))
        .into_iter()
        .map(|f| (sha(&root.path().join("install").join(&f)), f))
        .collect();
    assert_eq!(after, before, "old files restored, no .ORIG left");
}
