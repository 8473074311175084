//! imgexport on a synthetic MN rebuilt from real xCAT data: the bundle must
//! carry the same manifest.xml (byte for byte) and the same members as the
//! bundle real xCAT wrote for the same image and options.

use clap::Parser;
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use xcatport::cli::ImgExportArgs;
use xcatport::image::{BackendDb, BundleReader, Columns, ImageDb, Packing, RowChange};

const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/xcat-samples");
const IMG: &str = "rhels8.6-x86_64-netboot-compute";

/// Reads a tabdump CSV (as in the samples: quoted values, empty = NULL)
/// into upserts keyed by the table's key columns.
fn load_csv(changes: &mut Vec<RowChange>, table: &str, path: &Path) {
    let keys = &xcatport::db::schema::table(table).unwrap().keys;
    let text = fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap()[1..]
        .split(',')
        .map(String::from)
        .collect();
    for line in lines {
        let mut fields = Vec::new();
        let (mut cur, mut quoted, mut chars) = (String::new(), false, line.chars().peekable());
        while let Some(c) = chars.next() {
            match (c, quoted) {
                ('"', true) if chars.peek() == Some(&'"') => {
                    cur.push('"');
                    chars.next();
                }
                ('"', _) => quoted = !quoted,
                (',', false) => fields.push(std::mem::take(&mut cur)),
                (c, _) => cur.push(c),
            }
        }
        fields.push(cur);
        let (key, values): (Columns, Columns) = header
            .iter()
            .cloned()
            .zip(fields)
            .filter(|(_, v)| !v.is_empty())
            .partition(|(k, _)| keys.contains(k));
        changes.push(RowChange {
            table: table.to_string(),
            key,
            values,
        });
    }
}

/// The sample MN's tables, written into the SQLite database under `root`.
fn fixture_db(root: &Path) -> BackendDb {
    fs::create_dir_all(root.join("etc/xcat")).unwrap();
    let mut changes = Vec::new();
    for t in [
        "osimage",
        "linuximage",
        "site",
        "postscripts",
        "nodelist",
        "kit",
        "kitrepo",
        "kitcomponent",
        "litefile",
    ] {
        load_csv(
            &mut changes,
            t,
            &Path::new(SAMPLES).join(format!("fixture/db/{t}.csv")),
        );
    }
    let mut db = BackendDb::open(root).unwrap();
    db.apply(&changes).unwrap();
    db
}

/// An MN whose /install holds the files of the sample bundle where xCAT's
/// import put them (install-diff.txt), the `-e` script in /install/postscripts.
fn fixture_root() -> tempfile::TempDir {
    let root = tempfile::Builder::new()
        .prefix("image-export-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let bundle = Path::new(SAMPLES).join(format!("bundles/netboot-p-e/{IMG}.tgz"));
    let x = tempfile::tempdir_in("/var/tmp").unwrap();
    BundleReader::open(&bundle, Packing::Gzip)
        .unwrap()
        .extract_to(x.path())
        .unwrap();
    let diff =
        fs::read_to_string(Path::new(SAMPLES).join("import/01-plain-emptymn/install-diff.txt"))
            .unwrap();
    for line in diff.lines().filter(|l| l.starts_with("> f ")) {
        let rel = line.rsplit(' ').next().unwrap().trim_start_matches("./");
        let (src, dst): (PathBuf, PathBuf) = if rel == "postscripts" {
            (
                x.path().join(IMG).join("extra/myscript1"),
                root.path().join("install/postscripts/myscript1"),
            )
        } else {
            let base = Path::new(rel).file_name().unwrap();
            (
                x.path().join(IMG).join(base),
                root.path().join("install").join(rel),
            )
        };
        fs::create_dir_all(dst.parent().unwrap()).unwrap();
        fs::copy(src, dst).unwrap();
    }
    // The file compute.pkglist's `#INCLUDE:base.pkglist#` names: on the real
    // MN, but xCAT did not export it (D9).
    fs::write(
        root.path().join("install/custom/netboot/rh/base.pkglist"),
        "bash\nnfs-utils\n",
    )
    .unwrap();
    root
}

#[test]
fn export_reproduces_real_xcat_bundle() {
    let root = fixture_root();
    let db = fixture_db(root.path());
    let cwd = tempfile::tempdir_in("/var/tmp").unwrap();
    let args = ImgExportArgs::parse_from([
        "imgexport",
        IMG,
        "-p",
        "n01",
        "-e",
        "/install/postscripts/myscript1:/install/postscripts",
    ]);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let bundle =
        xcatport::app::imgexport::export(&db, root.path(), cwd.path(), &args, &mut out, &mut err)
            .unwrap();
    assert_eq!(bundle, cwd.path().join(format!("{IMG}.tgz")));
    assert_eq!(String::from_utf8(err).unwrap(), "");

    let reader = BundleReader::open(&bundle, Packing::Gzip).unwrap();
    let ours: BTreeSet<&str> = reader.listing().names().into_iter().collect();
    let theirs_text =
        fs::read_to_string(Path::new(SAMPLES).join("bundles/netboot-p-e/tar-tzf.txt")).unwrap();
    let mut theirs: BTreeSet<&str> = theirs_text.lines().collect();
    // D9: we also carry the file the pkglist includes.
    let included = format!("./{IMG}/base.pkglist");
    theirs.insert(&included);
    assert_eq!(ours, theirs);

    let x = tempfile::tempdir_in("/var/tmp").unwrap();
    reader.extract_to(x.path()).unwrap();
    let sample_manifest =
        fs::read(Path::new(SAMPLES).join("bundles/netboot-p-e/manifest.xml")).unwrap();
    assert_eq!(
        fs::read(x.path().join(IMG).join("manifest.xml")).unwrap(),
        sample_manifest
    );

    // stdout as xCAT's, minus the staging-directory line we do not have.
    let mut expected: Vec<String> =
        fs::read_to_string(Path::new(SAMPLES).join("bundles/netboot-p-e/stdout"))
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with("Inside "))
            .map(|l| l.replace("/tmp/exp", &cwd.path().display().to_string()))
            .collect();
    let extras_at = expected.iter().position(|l| l.starts_with(' ')).unwrap();
    expected.insert(extras_at, "/install/custom/netboot/rh/base.pkglist".into());
    let got: Vec<String> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn missing_image_and_missing_kernel_fail_without_a_bundle() {
    let root = fixture_root();
    let db = fixture_db(root.path());
    let cwd = tempfile::tempdir_in("/var/tmp").unwrap();
    let run = |image: &str| {
        let args = ImgExportArgs::parse_from(["imgexport", image]);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        xcatport::app::imgexport::export(&db, root.path(), cwd.path(), &args, &mut out, &mut err)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        run("nope"),
        "Cannot find image 'nope' from the osimage table."
    );
    fs::remove_file(
        root.path()
            .join("install/netboot/rhels8.6/x86_64/compute/kernel"),
    )
    .unwrap();
    assert_eq!(
        run(IMG),
        format!("Couldn't find kernel (kernel) for  {IMG}")
    );
    assert_eq!(fs::read_dir(cwd.path()).unwrap().count(), 0);
}

#[test]
fn skipped_file_still_writes_bundle_but_fails_the_run() {
    let root = fixture_root();
    let db = fixture_db(root.path());
    fs::remove_file(
        root.path()
            .join("install/custom/netboot/rh/compute.synclist"),
    )
    .unwrap();
    let cwd = tempfile::tempdir_in("/var/tmp").unwrap();
    let args = ImgExportArgs::parse_from(["imgexport", IMG, "out.tgz"]);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let e =
        xcatport::app::imgexport::export(&db, root.path(), cwd.path(), &args, &mut out, &mut err)
            .unwrap_err();
    assert!(e.to_string().ends_with("1 file(s) were skipped"), "{e}");
    assert_eq!(
        String::from_utf8(err).unwrap(),
        format!(
            "Couldn't find file /install/custom/netboot/rh/compute.synclist for {IMG}. Skip.\n"
        )
    );
    let reader = BundleReader::open(&cwd.path().join("out.tgz"), Packing::Gzip).unwrap();
    assert!(reader
        .listing()
        .get(&Path::new(IMG).join("compute.synclist"))
        .is_none());
    assert!(reader
        .listing()
        .get(&Path::new(IMG).join("compute.pkglist"))
        .is_some());
}
