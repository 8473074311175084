//! Bundles: the real xCAT sample read and extracted, our writer read back by
//! GNU tar and by our reader, and hostile bundles refused before anything is
//! written.

use sha2::{Digest, Sha256};
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use xcatport::image::{BundleReader, BundleWriter, GzOptions, MemberKind, Packing};

const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/xcat-samples");
const IMG: &str = "rhels8.6-x86_64-netboot-compute";

fn sample_bundle() -> PathBuf {
    Path::new(SAMPLES).join(format!("bundles/netboot-p-e/{IMG}.tgz"))
}

fn sha256(p: &Path) -> String {
    hex::encode(Sha256::digest(fs::read(p).unwrap()))
}

fn tmp() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("image-bundle-")
        .tempdir_in("/var/tmp")
        .unwrap()
}

#[test]
fn real_bundle_lists_like_tar_tzf() {
    let reader = BundleReader::open(&sample_bundle(), Packing::Gzip).unwrap();
    let expected =
        fs::read_to_string(Path::new(SAMPLES).join("bundles/netboot-p-e/tar-tzf.txt")).unwrap();
    let expected: Vec<&str> = expected.lines().collect();
    assert_eq!(reader.listing().names(), expected);
    assert_eq!(reader.listing().images, vec![IMG.to_string()]);
    let kernel = reader
        .listing()
        .get(&Path::new(IMG).join("kernel"))
        .unwrap();
    assert_eq!((kernel.size, kernel.mode), (21, 0o644));
}

/// What xCAT's import wrote (install-diff.txt), by basename, must equal
/// what we extract. xCAT wrote the `-e` script as a *file* named
/// `/install/postscripts` because that directory did not exist on the empty
/// MN; its content is the bundle's extra/myscript1.
#[test]
fn real_bundle_extracts_the_files_xcat_imported() {
    let reader = BundleReader::open(&sample_bundle(), Packing::Gzip).unwrap();
    let dir = tmp();
    reader.extract_to(dir.path()).unwrap();
    let diff =
        fs::read_to_string(Path::new(SAMPLES).join("import/01-plain-emptymn/install-diff.txt"))
            .unwrap();
    let mut compared = 0;
    for line in diff.lines().filter(|l| l.starts_with("> f ")) {
        let f: Vec<&str> = line[2..].split(' ').collect();
        let (mode, size, sum, path) = (f[1], f[2], f[3], f[4]);
        let base = Path::new(path).file_name().unwrap().to_str().unwrap();
        let member = if base == "postscripts" {
            dir.path().join(IMG).join("extra/myscript1")
        } else {
            dir.path().join(IMG).join(base)
        };
        assert_eq!(sha256(&member), sum, "{path}");
        let meta = fs::metadata(&member).unwrap();
        assert_eq!(meta.len().to_string(), size, "{path}");
        // xCAT's cross-filesystem File::Copy::move recreated files with
        // 0644, dropping compute.postinstall's x bit; we keep the bundle's.
        let ours = meta.permissions().mode() & 0o7777;
        if base == "compute.postinstall" {
            assert_eq!((mode, ours), ("644", 0o755));
        } else {
            assert_eq!(format!("{ours:o}"), mode, "{path}");
        }
        compared += 1;
    }
    assert_eq!(compared, 9);
    let m = fs::metadata(dir.path().join(IMG)).unwrap();
    assert_eq!(m.permissions().mode() & 0o7777, 0o755);
}

#[test]
fn written_bundle_reads_back_in_gnu_tar_and_in_ours() {
    let src = tmp();
    let s = src.path();
    fs::write(s.join("kernel"), b"kernel bytes").unwrap();
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    fs::write(s.join("rootimg.cpio.gz"), &big).unwrap();
    fs::create_dir_all(s.join("kit/repos")).unwrap();
    fs::write(s.join("kit/repos/a.rpm"), b"rpm").unwrap();
    fs::set_permissions(s.join("kit/repos/a.rpm"), fs::Permissions::from_mode(0o751)).unwrap();
    std::os::unix::fs::symlink("repos/a.rpm", s.join("kit/link")).unwrap();
    let out = tmp();
    let dest = out.path().join("img.tgz");
    let mut w = BundleWriter::create(
        &dest,
        "img",
        GzOptions {
            threads: 2,
            ..Default::default()
        },
    )
    .unwrap();
    w.add_generated("manifest.xml", b"<xcatimage/>\n", 0o644)
        .unwrap();
    w.add_path("kernel", &s.join("kernel")).unwrap();
    w.add_path("rootimg.cpio.gz", &s.join("rootimg.cpio.gz"))
        .unwrap();
    w.add_tree("mykit", &s.join("kit")).unwrap();
    w.finish().unwrap();
    assert!(!out.path().join(".img.tgz.xcatport-partial").exists());

    let listed = std::process::Command::new("tar")
        .arg("tzf")
        .arg(&dest)
        .output()
        .unwrap();
    assert!(listed.status.success());
    assert_eq!(
        String::from_utf8(listed.stdout).unwrap(),
        "./\n./img/\n./img/manifest.xml\n./img/kernel\n./img/rootimg.cpio.gz\n./img/mykit/\n\
         ./img/mykit/link\n./img/mykit/repos/\n./img/mykit/repos/a.rpm\n"
    );

    let reader = BundleReader::open(&dest, Packing::Gzip).unwrap();
    let link = reader.listing().get(Path::new("img/mykit/link")).unwrap();
    assert_eq!(link.kind, MemberKind::Symlink("repos/a.rpm".into()));
    let x = tmp();
    reader.extract_to(x.path()).unwrap();
    assert_eq!(fs::read(x.path().join("img/rootimg.cpio.gz")).unwrap(), big);
    assert_eq!(fs::read(x.path().join("img/mykit/link")).unwrap(), b"rpm");
    let mode = fs::metadata(x.path().join("img/mykit/repos/a.rpm"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o751);
}

#[test]
fn failed_writer_leaves_no_partial_bundle() {
    let out = tmp();
    let dest = out.path().join("img.tgz");
    let mut w = BundleWriter::create(&dest, "img", GzOptions::default()).unwrap();
    assert!(w.add_path("kernel", &out.path().join("missing")).is_err());
    drop(w);
    assert_eq!(fs::read_dir(out.path()).unwrap().count(), 0);
}

// ---------------------------------------------------------------------------
// Hostile bundles, crafted header by header.

enum M<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8]),
    Sym(&'a str, &'a str),
    Hard(&'a str, &'a str),
    Special(&'a str, tar::EntryType),
}

fn raw_header(name: &str, kind: tar::EntryType, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    // Bypass tar-rs's own path checks: hostile names go in as raw bytes.
    let bytes = name.as_bytes();
    h.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(1_700_000_000);
    h.set_uid(0);
    h.set_gid(0);
    h
}

fn craft(dir: &Path, members: &[M]) -> PathBuf {
    let path = dir.join("evil.tgz");
    let gz = flate2::write::GzEncoder::new(fs::File::create(&path).unwrap(), Default::default());
    let mut b = tar::Builder::new(gz);
    for m in members {
        let (mut h, data): (tar::Header, &[u8]) = match m {
            M::Dir(n) => (raw_header(n, tar::EntryType::Directory, 0), b""),
            M::File(n, d) => (raw_header(n, tar::EntryType::Regular, d.len() as u64), d),
            M::Sym(n, t) | M::Hard(n, t) => {
                let kind = if matches!(m, M::Sym(..)) {
                    tar::EntryType::Symlink
                } else {
                    tar::EntryType::Link
                };
                let mut h = raw_header(n, kind, 0);
                h.as_old_mut().linkname[..t.len()].copy_from_slice(t.as_bytes());
                (h, b"")
            }
            M::Special(n, k) => (raw_header(n, *k, 0), b""),
        };
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap().flush().unwrap();
    path
}

const MANIFEST: M = M::File("./img/manifest.xml", b"<xcatimage/>");

/// Opens a crafted bundle, expects refusal naming the member and reason,
/// and checks nothing was written beside the bundle.
fn refused(members: &[M], expect: &str) {
    let dir = tmp();
    let bundle = craft(dir.path(), members);
    let err = match BundleReader::open(&bundle, Packing::Gzip) {
        Ok(_) => panic!("accepted a hostile bundle; expected {expect:?}"),
        Err(e) => e.to_string(),
    };
    assert!(err.starts_with(&bundle.display().to_string()), "{err}");
    assert!(err.contains(expect), "{err} does not contain {expect:?}");
    let left: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "something besides the bundle was written");
}

#[test]
fn absolute_member_refused() {
    refused(
        &[M::Dir("./img/"), MANIFEST, M::File("/tmp/abs_evil", b"x")],
        "\"/tmp/abs_evil\": absolute path",
    );
}

#[test]
fn dotdot_member_refused() {
    refused(
        &[
            M::Dir("./img/"),
            MANIFEST,
            M::File("./img/../../evil", b"x"),
        ],
        "`..` in path",
    );
}

#[test]
fn absolute_symlink_refused() {
    refused(
        &[M::Dir("./img/"), MANIFEST, M::Sym("./img/l", "/etc")],
        "points outside its image directory",
    );
}

#[test]
fn climbing_symlink_refused() {
    refused(
        &[
            M::Dir("./img/"),
            MANIFEST,
            M::Sym("./img/a/l", "../../../etc/shadow"),
        ],
        "points outside",
    );
    refused(
        &[
            M::Dir("./img/"),
            M::Dir("./other/"),
            MANIFEST,
            M::Sym("./img/l", "../other"),
        ],
        "points outside",
    );
}

#[test]
fn write_through_symlink_refused() {
    refused(
        &[
            M::Dir("./img/"),
            MANIFEST,
            M::Dir("./img/d/"),
            M::Sym("./img/s", "d"),
            M::File("./img/s/x", b"x"),
        ],
        "lies under \"./img/s\", which is not a directory",
    );
}

#[test]
fn device_and_fifo_members_refused() {
    refused(
        &[
            M::Dir("./img/"),
            MANIFEST,
            M::Special("./img/sda", tar::EntryType::Block),
        ],
        "block device members are not accepted",
    );
    refused(
        &[
            M::Dir("./img/"),
            MANIFEST,
            M::Special("./img/c", tar::EntryType::Char),
        ],
        "character device",
    );
    refused(
        &[
            M::Dir("./img/"),
            MANIFEST,
            M::Special("./img/f", tar::EntryType::Fifo),
        ],
        "fifo",
    );
}

#[test]
fn hardlink_outside_refused() {
    refused(
        &[
            M::Dir("./img/"),
            MANIFEST,
            M::Hard("./img/h", "/etc/shadow"),
        ],
        "absolute path",
    );
    refused(
        &[
            M::Dir("./img/"),
            MANIFEST,
            M::Hard("./img/h", "img/missing"),
        ],
        "not an earlier file",
    );
}

#[test]
fn collisions_refused() {
    refused(
        &[
            M::Dir("./img/"),
            MANIFEST,
            M::File("./img/k", b"1"),
            M::File("img/k", b"2"),
        ],
        "appears twice",
    );
    refused(
        &[
            M::Dir("./img/"),
            MANIFEST,
            M::File("./img/a/b", b"1"),
            M::File("./img/a", b"2"),
        ],
        "a non-directory has members under it",
    );
}

#[test]
fn layout_violations_refused() {
    refused(
        &[M::Dir("./img/"), MANIFEST, M::File("./stray", b"x")],
        "top-level entries must be image directories",
    );
    refused(
        &[M::Dir("./img/"), M::File("./img/kernel", b"x")],
        "image directory \"img\" has no manifest.xml",
    );
    refused(
        &[
            M::Dir("./.hidden/"),
            M::File("./.hidden/manifest.xml", b"x"),
        ],
        "hidden top-level entry",
    );
    refused(&[], "holds no image directory");
}

#[test]
fn garbage_and_truncated_bundles_refused() {
    let dir = tmp();
    let junk = dir.path().join("junk.tgz");
    fs::write(&junk, b"this is not gzip").unwrap();
    let e = BundleReader::open(&junk, Packing::Gzip)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("not a readable bundle"), "{e}");

    let good = fs::read(sample_bundle()).unwrap();
    let cut = dir.path().join("cut.tgz");
    fs::write(&cut, &good[..good.len() / 2]).unwrap();
    let e = BundleReader::open(&cut, Packing::Gzip)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("cut.tgz: "), "{e}");
}

#[test]
fn extraction_needs_an_empty_staging_directory() {
    let reader = BundleReader::open(&sample_bundle(), Packing::Gzip).unwrap();
    let dir = tmp();
    fs::write(dir.path().join("x"), b"").unwrap();
    let e = reader.extract_to(dir.path()).unwrap_err().to_string();
    assert!(e.contains("staging directory is not empty"), "{e}");
}

#[test]
fn internal_links_are_accepted_and_extracted() {
    let dir = tmp();
    let bundle = craft(
        dir.path(),
        &[
            M::Dir("./img/"),
            MANIFEST,
            M::File("./img/a", b"data"),
            M::Hard("./img/b", "./img/a"),
            M::Sym("./img/c", "a"),
        ],
    );
    let reader = BundleReader::open(&bundle, Packing::Gzip).unwrap();
    let x = tmp();
    reader.extract_to(x.path()).unwrap();
    assert_eq!(fs::read(x.path().join("img/b")).unwrap(), b"data");
    assert_eq!(
        fs::read_link(x.path().join("img/c")).unwrap(),
        Path::new("a")
    );
}

#[test]
fn long_member_names_and_link_targets_survive() {
    let src = tmp();
    let deep = "d".repeat(60);
    let dir = src.path().join(&deep).join(&deep);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("file-with-a-long-name.rpm"), b"long").unwrap();
    let target = format!("{deep}/{deep}/file-with-a-long-name.rpm");
    std::os::unix::fs::symlink(&target, src.path().join("ln")).unwrap();
    let out = tmp();
    let dest = out.path().join("img.tgz");
    let mut w = BundleWriter::create(&dest, "img", GzOptions::default()).unwrap();
    w.add_generated("manifest.xml", b"<xcatimage/>\n", 0o644)
        .unwrap();
    w.add_tree("kit", src.path()).unwrap();
    w.finish().unwrap();
    let listed = std::process::Command::new("tar")
        .arg("tzf")
        .arg(&dest)
        .output()
        .unwrap();
    let listed = String::from_utf8(listed.stdout).unwrap();
    let long = format!("./img/kit/{target}");
    assert!(listed.lines().any(|l| l == long), "{listed}");
    let reader = BundleReader::open(&dest, Packing::Gzip).unwrap();
    let x = tmp();
    reader.extract_to(x.path()).unwrap();
    assert_eq!(fs::read(x.path().join("img/kit/ln")).unwrap(), b"long");
    assert_eq!(
        fs::read_link(x.path().join("img/kit/ln")).unwrap(),
        Path::new(&target)
    );
}
